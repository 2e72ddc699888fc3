// Delivery receipts against a real mosquitto: sequence numbers (publish(..., sequence)),
// delivered_through() and wait_delivered(), within one life (threads, a broker outage, a worker
// killed with SIGKILL) and across lives (an application killed and restarted, a power cut that
// takes the shared segment).
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <testkit/fault_proxy.hpp>

#include "crash_helpers.hpp"
#include "proto/segment.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

// Publishes payloads first..first+n-1 (sequence_payload) and returns the sequence numbers
// publish() gave them.
std::vector<std::uint64_t> publish_numbered(RobustClient& c, const std::string& topic,
                                            std::uint64_t first, std::uint64_t n) {
  std::vector<std::uint64_t> seqs;
  for (std::uint64_t i = first; i < first + n; ++i) {
    std::uint64_t seq = 0;
    const auto ec = c.publish(topic, testkit::sequence_payload(i), 1, false, seq);
    REQUIRE_MESSAGE(!ec, ec.message());
    seqs.push_back(seq);
  }
  return seqs;
}

// Distinct (topic, payload) pairs the subscriber has seen: re-sent duplicates count once.
std::size_t unique_count(const testkit::Subscriber& sub) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& m : sub.messages()) seen.emplace(m.topic, m.payload);
  return seen.size();
}

}  // namespace

TEST_CASE("sequence numbers start at 1 and increase by one; wait_delivered() returns once the "
          "broker has every message") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "dl/basic/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "dl-basic"));
  CHECK(client.delivered_through() == 0);
  client.connect_async(broker.host(), broker.port());
  CHECK(client.delivered_through() == 0);
  const std::uint64_t n = scaled<std::uint64_t>(2000, 200);
  const auto seqs = publish_numbered(client, "dl/basic/seq", 0, n);
  for (std::uint64_t i = 0; i < n; ++i) REQUIRE(seqs[i] == i + 1);
  // Untouched on an error.
  std::uint64_t untouched = 777;
  CHECK(client.publish("dl/basic/+", "x", 1, false, untouched) == errc::topic_wildcard);
  CHECK(untouched == 777);
  const auto ec = client.wait_delivered(60s);
  REQUIRE_MESSAGE(!ec, ec.message());
  CHECK(client.delivered_through() == n);
  CHECK(client.stats().acknowledged >= n);
  // The broker acknowledged each, so the subscriber gets each.
  const auto problem = wait_in_order(sub, n, 60s);
  CHECK_MESSAGE(problem.empty(), problem);
  // Waiting for a number already delivered returns at once.
  CHECK_FALSE(client.wait_delivered(seqs[n / 2], 0ms));
  client.stop();
}

TEST_CASE("wait_delivered() and delivered_through() are wrong about no message under 8 "
          "publishing threads") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "dl/threads/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "dl-threads");
  o.max_inflight = 8;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  constexpr int kThreads = 8;
  const std::uint64_t per_thread = scaled<std::uint64_t>(1000, 100);
  std::mutex mu;
  std::vector<std::uint64_t> all;
  std::vector<std::string> problems;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::uint64_t> mine;
      std::string problem;
      for (std::uint64_t i = 0; i < per_thread && problem.empty(); ++i) {
        std::uint64_t seq = 0;
        const auto topic = "dl/threads/" + std::to_string(t);
        if (auto ec = client.publish(topic, testkit::sequence_payload(i), 1, false, seq)) {
          problem = "publish: " + ec.message();
          break;
        }
        if (!mine.empty() && seq <= mine.back()) problem = "a thread's numbers went backwards";
        mine.push_back(seq);
        // Every 100 messages: wait for this one, or for everything so far, alternately.
        if (i % 100 == 99) {
          const bool all_so_far = (i / 100) % 2 == 0;
          const auto ec = all_so_far ? client.wait_delivered(60s) : client.wait_delivered(seq, 60s);
          if (ec) problem = "wait_delivered: " + ec.message();
          else if (client.delivered_through() < seq)
            problem = "wait_delivered returned before delivered_through reached the message";
        }
      }
      std::lock_guard lock(mu);
      all.insert(all.end(), mine.begin(), mine.end());
      if (!problem.empty()) problems.push_back(problem);
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE_MESSAGE(problems.empty(), problems.front());
  // Distinct numbers, 1..N without a gap: every accepted message got one.
  std::sort(all.begin(), all.end());
  const std::uint64_t n = kThreads * per_thread;
  REQUIRE(all.size() == n);
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  CHECK(all.front() == 1);
  CHECK(all.back() == n);
  REQUIRE_FALSE(client.wait_delivered(60s));
  CHECK(client.delivered_through() == n);
  // Delivered means the broker has it: the subscriber gets every message.
  CHECK(wait_until([&] { return unique_count(sub) >= n; }, 60s));
  client.stop();
}

TEST_CASE("while the broker is away wait_delivered() times out and the messages are kept; once "
          "it is back they arrive and wait_delivered() returns") {
  for (CacheType type : {CacheType::sqlite, CacheType::file}) {
    CAPTURE(static_cast<int>(type));
    testkit::Mosquitto broker;
    testkit::TempDir dir;
    Options o = client_options(dir / "cache", "dl-outage", type);
    o.cache_timeout = 500ms;
    RobustClient client(o);
    client.connect_async(broker.host(), broker.port());
    const auto before = publish_numbered(client, "dl/outage/seq", 0, 10);
    REQUIRE_FALSE(client.wait_delivered(60s));
    REQUIRE(client.delivered_through() == before.back());
    broker.stop();
    const std::uint64_t n = scaled<std::uint64_t>(500, 100);
    const auto seqs = publish_numbered(client, "dl/outage/seq", 10, n);
    // Nothing can be acknowledged: this wait must run out, whatever the machine's speed.
    CHECK(client.wait_delivered(300ms) == errc::delivery_timeout);
    CHECK(client.wait_delivered(seqs.front(), 0ms) == errc::delivery_timeout);
    CHECK(client.delivered_through() == before.back());
    // flush() is content with the disk; wait_delivered() is not.
    REQUIRE_FALSE(client.flush(60s));
    CHECK(client.delivered_through() == before.back());
    broker.start();
    const auto ec = client.wait_delivered(seqs.back(), 120s);
    REQUIRE_MESSAGE(!ec, ec.message());
    CHECK(client.delivered_through() == seqs.back());
    // (A subscriber could not tell: the worker may send before it subscribes to the restarted
    // broker. The broker's acknowledgements are counted.)
    CHECK(client.stats().acknowledged >= 10 + n);
    client.stop();
  }
}

TEST_CASE("wait_delivered() and delivered_through() refuse what they cannot answer") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "dl-bad"));
  CHECK(client.wait_delivered(10ms) == errc::not_connected);
  CHECK(client.wait_delivered(1, 10ms) == errc::not_connected);
  client.connect_async(broker.host(), broker.port());
  // Nothing published yet: nothing to wait for, and no number 1 yet.
  CHECK_FALSE(client.wait_delivered(0ms));
  CHECK(client.wait_delivered(1, 10ms) == errc::unknown_sequence);
  const auto seqs = publish_numbered(client, "dl/bad/seq", 0, 3);
  CHECK(client.wait_delivered(seqs.back() + 1, 10ms) == errc::unknown_sequence);
  CHECK_FALSE(client.wait_delivered(seqs.back(), 60s));
  client.stop();
  CHECK(client.wait_delivered(10ms) == errc::stopped);
  // The last value stays readable after stop().
  CHECK(client.delivered_through() == seqs.back());
}

TEST_CASE("a worker killed with SIGKILL while messages wait: delivered_through() stays where it "
          "was and wait_delivered() returns once its successor delivered everything") {
  // The client reaches the broker through a proxy that can turn it away; the subscriber stays
  // subscribed throughout.
  testkit::Mosquitto broker;
  testkit::FaultProxy proxy(broker.port());
  testkit::Subscriber sub(broker.host(), broker.port(), "dl/kill/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "dl-kill"));
  client.connect_async(broker.host(), proxy.port());
  const std::uint64_t half = scaled<std::uint64_t>(1500, 150);
  const auto first = publish_numbered(client, "dl/kill/seq", 0, half);
  REQUIRE_FALSE(client.wait_delivered(60s));
  REQUIRE(client.delivered_through() == first.back());
  // The rest cannot be delivered before the kill: the broker is out of reach.
  proxy.refuse_new(true);
  proxy.reset_all();
  const auto rest = publish_numbered(client, "dl/kill/seq", half, half);
  const pid_t worker = worker_of(client);
  REQUIRE(worker > 0);
  kill9(worker);
  REQUIRE(wait_successor(client, worker) > 0);
  CHECK(client.delivered_through() == first.back());
  CHECK(client.wait_delivered(rest.front(), 0ms) == errc::delivery_timeout);
  proxy.refuse_new(false);
  const auto ec = client.wait_delivered(120s);
  REQUIRE_MESSAGE(!ec, ec.message());
  CHECK(client.delivered_through() == rest.back());
  const auto problem = wait_in_order(sub, 2 * half, 60s);
  CHECK_MESSAGE(problem.empty(), problem);
  client.stop();
}

TEST_CASE("a restarted application numbers on above its killed predecessor, and "
          "delivered_through() covers the predecessor's messages") {
  testkit::Mosquitto broker;
  testkit::FaultProxy proxy(broker.port());
  testkit::Subscriber sub(broker.host(), broker.port(), "dl/life/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  proxy.refuse_new(true);  // nothing is delivered while the first life runs
  ProducerRecord rec(dir / "record");
  const std::uint64_t n = scaled<std::uint64_t>(2000, 300);
  const pid_t producer = spawn_producer_at(broker.host(), proxy.port(), cache, "dl-life",
                                           "dl/life/0", rec, "sqlite", n,
                                           {"ROBUSTMQ_TEST_PAUSE=1"});
  REQUIRE(wait_until([&] { return rec.published_all(); }, 120s));
  const std::uint64_t old_last = rec.last_sequence();
  CHECK(old_last == n);  // a new cache directory numbers from 1
  kill9(producer);
  reap(producer);
  // The new life takes over from the orphan (it holds every old message, the broker is away).
  RobustClient client(client_options(cache, "dl-life"));
  client.connect_async(broker.host(), proxy.port());
  CHECK(client.delivered_through() < old_last);
  const auto seqs = publish_numbered(client, "dl/life/1", 0, 10);
  // One number skipped: the killed life could have died between a record and its next number.
  CHECK(seqs.front() == old_last + 2);
  CHECK(client.wait_delivered(old_last, 200ms) == errc::delivery_timeout);
  proxy.refuse_new(false);
  const auto ec = client.wait_delivered(120s);
  REQUIRE_MESSAGE(!ec, ec.message());
  CHECK(client.delivered_through() == seqs.back());
  const auto problem = wait_lifetimes(sub, "dl/life/", {n, 10}, 60s);
  CHECK_MESSAGE(problem.empty(), problem);
  client.stop();
}

TEST_CASE("after a power cut numbering continues above the earlier life's, with robustmq.seq "
          "intact, damaged or deleted, and delivered_through() starts below the oldest message "
          "left in the cache") {
  for (const char* seq_file : {"intact", "damaged", "deleted"}) {
    CAPTURE(seq_file);
    testkit::Mosquitto broker;
    testkit::TempDir dir;
    const auto cache = dir / "cache";
    const std::string id = "dl-power";
    broker.stop();
    ProducerRecord rec(dir / "record");
    const std::uint64_t n = scaled<std::uint64_t>(1000, 200);
    const pid_t producer = spawn_producer_at(broker.host(), broker.port(), cache, id,
                                             "dl/power/0", rec, "file", n,
                                             {"ROBUSTMQ_TEST_FLUSH=1"});
    REQUIRE(wait_until([&] { return rec.flushed() || !process_alive(producer); }, 120s, 5ms));
    REQUIRE(rec.flushed());
    const std::uint64_t old_last = rec.last_sequence();
    REQUIRE(old_last == n);
    // The power cut: both processes die, RAM (the shared segment) is lost.
    kill9(rec.worker_pid());
    kill9(producer);
    reap(producer);
    MappedSegment::unlink(segment_name(std::filesystem::canonical(cache), id));
    if (std::string(seq_file) == "damaged") std::ofstream(cache / "robustmq.seq") << "robust";
    if (std::string(seq_file) == "deleted") std::filesystem::remove(cache / "robustmq.seq");
    broker.start();
    testkit::Subscriber sub(broker.host(), broker.port(), "dl/power/#");
    REQUIRE(sub.wait_subscribed());
    RobustClient client(client_options(cache, id, CacheType::file));
    client.connect_async(broker.host(), broker.port());
    // The cache holds 1..n: the worker started just below 1 (or above, if it sent some since).
    CHECK(client.delivered_through() <= old_last);
    const auto seqs = publish_numbered(client, "dl/power/1", 0, 5);
    CHECK(seqs.front() > old_last);
    if (std::string(seq_file) != "intact") CHECK(seqs.front() == old_last + 1);  // the raise
    const auto ec = client.wait_delivered(120s);
    REQUIRE_MESSAGE(!ec, ec.message());
    CHECK(client.delivered_through() == seqs.back());
    const auto problem = wait_lifetimes(sub, "dl/power/", {n, 5}, 60s);
    CHECK_MESSAGE(problem.empty(), problem);
    client.stop();
  }
}

TEST_CASE("after a clean stop the next life numbers on from the very next number") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  std::uint64_t last = 0;
  {
    RobustClient client(client_options(dir / "cache", "dl-clean"));
    client.connect_async(broker.host(), broker.port());
    last = publish_numbered(client, "dl/clean/seq", 0, 10).back();
    REQUIRE_FALSE(client.wait_delivered(60s));
    client.stop();
  }
  RobustClient client(client_options(dir / "cache", "dl-clean"));
  client.connect_async(broker.host(), broker.port());
  CHECK(client.delivered_through() == last);
  CHECK(publish_numbered(client, "dl/clean/seq", 10, 1).front() == last + 1);
  client.stop();
}

TEST_CASE("a connect_async() that failed without a bound leaves none behind: the retry still "
          "numbers above the cache") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  const std::string id = "dl-retry";
  broker.stop();
  ProducerRecord rec(dir / "record");
  const std::uint64_t n = scaled<std::uint64_t>(500, 100);
  const pid_t producer = spawn_producer_at(broker.host(), broker.port(), cache, id, "dl/retry/0",
                                           rec, "sqlite", n, {"ROBUSTMQ_TEST_FLUSH=1"});
  REQUIRE(wait_until([&] { return rec.flushed() || !process_alive(producer); }, 120s, 5ms));
  REQUIRE(rec.flushed());
  kill9(rec.worker_pid());
  kill9(producer);
  reap(producer);
  MappedSegment::unlink(segment_name(std::filesystem::canonical(cache), id));
  std::filesystem::remove(cache / "robustmq.seq");
  {
    Options o = client_options(cache, id);
    o.worker_path = "/bin/false";  // a worker that exits before it is ready
    RobustClient failed(o);
    CHECK_THROWS(failed.connect_async(broker.host(), broker.port()));
  }
  CHECK_FALSE(std::filesystem::exists(cache / "robustmq.seq"));
  broker.start();
  RobustClient client(client_options(cache, id));
  client.connect_async(broker.host(), broker.port());
  const auto seqs = publish_numbered(client, "dl/retry/1", 0, 3);
  CHECK(seqs.front() > n);
  const auto ec = client.wait_delivered(120s);
  REQUIRE_MESSAGE(!ec, ec.message());
  CHECK(client.delivered_through() == seqs.back());
  client.stop();
}

TEST_CASE("a stop() that cannot write robustmq.seq keeps the earlier bound") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  std::uint64_t last = 0;
  {
    RobustClient client(client_options(cache, "dl-nosave"));
    client.connect_async(broker.host(), broker.port());
    last = publish_numbered(client, "dl/nosave/seq", 0, 10).back();
    REQUIRE_FALSE(client.wait_delivered(60s));
    // Where stop() writes the new file first: a directory makes the write fail.
    std::filesystem::create_directory(cache / "robustmq.seq.tmp");
    client.stop();
  }
  CHECK(std::filesystem::exists(cache / "robustmq.seq"));
  std::filesystem::remove(cache / "robustmq.seq.tmp");
  RobustClient client(client_options(cache, "dl-nosave"));
  client.connect_async(broker.host(), broker.port());
  CHECK(publish_numbered(client, "dl/nosave/seq", 10, 1).front() > last);
  client.stop();
}

TEST_CASE("a damaged robustmq.seq is reported and publishing goes on") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  std::filesystem::create_directory(cache);
  std::filesystem::permissions(cache, std::filesystem::perms::owner_all);
  std::ofstream(cache / "robustmq.seq") << "garbage";
  RobustClient client(client_options(cache, "dl-damaged"));
  client.connect_async(broker.host(), broker.port());
  const std::string error = client.stats().last_error;
  CHECK_MESSAGE(error.find("robustmq.seq is damaged") != std::string::npos, error);
  std::uint64_t seq = 0;
  REQUIRE_FALSE(client.publish("dl/damaged", "x", 1, false, seq));
  CHECK(seq == 1);
  CHECK_FALSE(client.wait_delivered(60s));
  client.stop();
  // The file was rewritten: a later life finds a bound again.
  std::ifstream in(cache / "robustmq.seq");
  std::string text;
  std::getline(in, text);
  CHECK(text.starts_with("robustmq-seq 1 "));
}

TEST_CASE("a timeout of milliseconds::max() has no end: wait_delivered(), flush() and "
          "resend_dead_letters() wait for their condition instead of timing out at once") {
  constexpr auto kForever = std::chrono::milliseconds::max();
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "dl-forever"));
  client.connect_async(broker.host(), broker.port());
  std::uint64_t moved = 99;
  const auto resent = client.resend_dead_letters(kForever, moved);
  CHECK_MESSAGE(!resent, resent.message());
  CHECK(moved == 0);
  broker.stop();
  const auto seqs = publish_numbered(client, "dl/forever/seq", 0, 5);
  const auto flushed = client.flush(kForever);
  CHECK_MESSAGE(!flushed, flushed.message());
  auto all = std::async(std::launch::async, [&] { return client.wait_delivered(kForever); });
  auto up_to = std::async(std::launch::async,
                          [&] { return client.wait_delivered(seqs.back(), kForever); });
  // Nothing can be acknowledged while the broker is away: a wait without end is still waiting
  // (on any machine: only the broker's return ends it).
  CHECK(all.wait_for(1s) == std::future_status::timeout);
  CHECK(up_to.wait_for(0s) == std::future_status::timeout);
  broker.start();
  const auto a = all.get();
  const auto b = up_to.get();
  CHECK_MESSAGE(!a, a.message());
  CHECK_MESSAGE(!b, b.message());
  CHECK(client.delivered_through() >= seqs.back());
}
