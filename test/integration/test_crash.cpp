// Crash-proof transport: real processes, real SIGKILLs, a real mosquitto.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "crash_helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

// Lifetimes of one producer (same client id and cache path), each killed with SIGKILL after a
// random moment; the worker too when kill_worker. Every fifth lifetime runs while the broker is
// down. Afterwards a client with the same id drains what is left, and every confirmed message
// of every lifetime must have arrived, in order.
void run_lifetimes(const char* cache_type, int lifetimes, bool kill_worker, unsigned seed) {
  testkit::Mosquitto broker;
  const std::string prefix = std::string("crash/") + cache_type + "/";
  testkit::Subscriber sub(broker.host(), broker.port(), "crash/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  const std::string id = std::string("crash-") + cache_type;
  std::mt19937 rng(seed);
  std::vector<std::uint64_t> confirmed;
  for (int life = 0; life < lifetimes; ++life) {
    const bool outage = life % 5 == 4;
    if (outage) broker.stop();
    ProducerRecord rec(dir / ("record-" + std::to_string(life)));
    const pid_t producer = spawn_producer(broker, cache, id, prefix + std::to_string(life), rec,
                                          cache_type);
    // Wait until it is connected (it may wait for the previous worker to drain), then let it
    // publish for a random while, and kill it wherever it is.
    wait_until([&] { return rec.connected() || !process_alive(producer); }, 30s, 2ms);
    REQUIRE(rec.connected());
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 250));
    const pid_t worker = rec.worker_pid();
    kill9(producer);
    if (kill_worker) kill9(worker);
    reap(producer);
    confirmed.push_back(rec.confirmed());
    if (outage) broker.start();
  }
  // A last lifetime in this process drains the cache and whatever ring was left.
  RobustClient client(client_options(cache, id, std::string(cache_type) == "file"
                                                    ? CacheType::file
                                                    : CacheType::sqlite));
  REQUIRE_NOTHROW(client.connect_async(broker.host(), broker.port()));
  const std::uint64_t want = total(confirmed);
  std::string problem;
  wait_until(
      [&] {
        problem = check_lifetimes(sub.messages(), prefix, confirmed);
        return problem.empty();
      },
      120s, 100ms);
  const Stats s = client.stats();
  CHECK_MESSAGE(problem.empty(), problem, " (", want, " confirmed in ", lifetimes,
                " lifetimes; cache backlog ", s.cache_backlog, ", ring backlog ", s.ring_backlog,
                ")");
  CHECK(want > 0);
  client.stop();
}

}  // namespace

TEST_CASE("a producer killed at any moment loses no confirmed message (sqlite cache)") {
  run_lifetimes("sqlite", scaled(25, 5), false, 1);
}

TEST_CASE("a producer killed at any moment loses no confirmed message (file cache)") {
  run_lifetimes("file", scaled(25, 5), false, 2);
}

TEST_CASE("producer and worker killed together lose no confirmed message (sqlite cache)") {
  run_lifetimes("sqlite", scaled(25, 5), true, 3);
}

TEST_CASE("producer and worker killed together lose no confirmed message (file cache)") {
  run_lifetimes("file", scaled(25, 5), true, 4);
}

TEST_CASE("a worker killed 50 times during a stream is restarted and every message arrives in order") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "wk/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "worker-kill"));
  client.connect_async(broker.host(), broker.port());
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> published{0};
  std::error_code producer_error;
  std::thread producer([&] {
    for (std::uint64_t i = 0; !done.load(); ++i) {
      producer_error = client.publish("wk/seq", testkit::sequence_payload(i, 32), 1);
      if (producer_error) return;
      published.store(i + 1);
      if (i % 10 == 9) std::this_thread::sleep_for(1ms);  // at most ~10,000 messages/s
    }
  });
  std::mt19937 rng(5);
  const int want_kills = scaled(50, 10);
  int kills = 0;
  const auto started = std::chrono::steady_clock::now();
  for (; kills < want_kills && std::chrono::steady_clock::now() - started < 120s; ++kills) {
    std::this_thread::sleep_for(std::chrono::milliseconds(40 + rng() % 120));  // a random moment
    const pid_t pid = worker_of(client);
    if (pid <= 0) {
      FAIL_CHECK("no worker runs");
      break;
    }
    kill9(pid);
    // The client notices and starts a successor (within its start timeout, however loaded the
    // machine).
    if (wait_successor(client, pid, 30s) < 0) {
      FAIL_CHECK("no new worker within 30 s of the kill");
      break;
    }
  }
  if (broker.running()) {
    // Scenario 4: the broker goes away during the kills, too.
    broker.stop();
    kill9(worker_of(client));
    std::this_thread::sleep_for(300ms);  // the broker stays away for 300 ms
    broker.start();
  }
  done.store(true);
  producer.join();
  REQUIRE_FALSE(producer_error);
  CHECK(kills == want_kills);
  const auto problem = wait_in_order(sub, published.load(), 120s);
  CHECK_MESSAGE(problem.empty(), problem);
  CHECK(client.stats().worker_restarts >= static_cast<std::uint64_t>(want_kills));
  client.stop();
}

TEST_CASE("eight producer threads keep each thread's order") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "threads");
  o.max_inflight = 16;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  std::vector<std::unique_ptr<testkit::Subscriber>> subs;
  for (int t = 0; t < 8; ++t) {
    subs.push_back(std::make_unique<testkit::Subscriber>(broker.host(), broker.port(),
                                                         "mt/" + std::to_string(t)));
    REQUIRE(subs.back()->wait_subscribed());
  }
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < 10'000; ++i)
        if (client.publish("mt/" + std::to_string(t), testkit::sequence_payload(i), 1))
          errors.fetch_add(1);
    });
  for (auto& th : threads) th.join();
  CHECK(errors.load() == 0);
  for (int t = 0; t < 8; ++t) {
    CAPTURE(t);
    const auto problem = wait_in_order(*subs[static_cast<std::size_t>(t)], 10'000, 120s);
    CHECK_MESSAGE(problem.empty(), problem);
  }
  client.stop();
}

TEST_CASE("a worker that reports ready too late is not used, and never runs beside its successor") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "crash/late/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  // A worker that, once, starts late: the wrapper sleeps past the start timeout before it
  // executes the real worker (as a slow device or a slow disk would).
  const auto late_marker = dir / "start-late";
  const auto awake_marker = dir / "late-one-awake";
  const auto wrapper = dir / "slow-worker.sh";
  {
    std::ofstream w(wrapper);
    // NOLINTNEXTLINE(concurrency-mt-unsafe)
    w << "#!/bin/sh\nif [ -e '" << late_marker.string() << "' ]; then rm -f '"
      << late_marker.string() << "'; sleep 2; echo $$ > '" << awake_marker.string() << "'; fi\nexec '"
      << std::getenv("ROBUSTMQ_WORKER") << "' \"$@\"\n";
  }
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  Options o = client_options(cache, "crash-late");
  o.worker_path = wrapper;
  o.worker_start_timeout = 1s;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  REQUIRE(wait_connected(client, 10s));
  REQUIRE_FALSE(publish_range(client, "crash/late/seq", 0, 1000));
  { std::ofstream touch(late_marker); }
  const pid_t first = static_cast<pid_t>(client.stats().worker_pid);
  kill9(first);
  // The restart times out on the late one, and the next attempt starts at once.
  REQUIRE(wait_until([&] {
    const Stats s = client.stats();
    return s.worker_restarts >= 1 && s.worker_pid != first &&
           s.state == ConnectionState::connected;
  }, 20s));
  pid_t late = 0;
  REQUIRE(wait_until([&] {
    std::ifstream in(awake_marker);
    return static_cast<bool>(in >> late) && late > 0;
  }, 20s));
  // The late one now executes the real worker (same pid): it must leave without working beside
  // the accepted one.
  CHECK_MESSAGE(wait_until([&] { return !process_alive(late); }, 10s),
                "the late worker ", late, " still runs beside ", client.stats().worker_pid);
  CHECK(runs_worker(client.stats().worker_pid));
  REQUIRE_FALSE(publish_range(client, "crash/late/seq", 1000, 2000));
  const auto problem = wait_in_order(sub, 2000, 60s);
  CHECK_MESSAGE(problem.empty(), problem);
  CHECK(!process_alive(late));
  const auto seqs = testkit::sequences(sub.messages());
  const std::size_t twice = seqs.size() - 2000;
  MESSAGE(twice, " messages arrived twice (a kill sends the window again)");
  client.stop();
}
