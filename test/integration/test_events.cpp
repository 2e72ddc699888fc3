// Events against a real mosquitto: the delivered, dropped and connection handlers
// (RobustClient::set_*_handler()) across a worker killed with SIGKILL and a broker outage, and
// drop_journal() in a later life.
#include <doctest/doctest.h>

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <testkit/fault_proxy.hpp>

#include "crash_helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

// Everything the handlers of one client saw, from the event thread.
struct Seen {
  mutable std::mutex mu;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> delivered;
  std::vector<DroppedRange> dropped;
  std::vector<std::pair<ConnectionState, std::string>> states;
  std::vector<std::thread::id> threads;  // one per call
  std::vector<std::string> state_thread_names;  // the connection handler's thread, per call

  void attach(RobustClient& c) {
    c.set_delivered_handler([this](std::uint64_t first, std::uint64_t last) {
      std::lock_guard lock(mu);
      delivered.emplace_back(first, last);
      threads.push_back(std::this_thread::get_id());
    });
    c.set_dropped_handler([this](const DroppedRange& r) {
      std::lock_guard lock(mu);
      dropped.push_back(r);
      threads.push_back(std::this_thread::get_id());
    });
    c.set_connection_handler([this](ConnectionState s, std::string_view reason) {
      std::lock_guard lock(mu);
      states.emplace_back(s, std::string(reason));
      threads.push_back(std::this_thread::get_id());
      std::array<char, 16> name{};
      ::pthread_getname_np(::pthread_self(), name.data(), name.size());
      state_thread_names.emplace_back(name.data());
    });
  }

  // Each number's fate ("delivered" or the drop reason); "" if all is well, else the problem:
  // a number reported twice, or out of order.
  std::string fates(std::map<std::uint64_t, std::string>& out) const {
    std::lock_guard lock(mu);
    auto put = [&](std::uint64_t first, std::uint64_t last, const std::string& fate) {
      for (std::uint64_t n = first; n <= last; ++n)
        if (!out.emplace(n, fate).second) return "number " + std::to_string(n) + " reported twice";
      return std::string();
    };
    std::uint64_t previous = 0;
    for (const auto& [first, last] : delivered) {
      if (first <= previous) return "delivered ranges out of order";
      previous = last;
      if (auto p = put(first, last, "delivered"); !p.empty()) return p;
    }
    for (const auto& r : dropped)
      if (auto p = put(r.first, r.last, std::string(to_string(r.reason))); !p.empty()) return p;
    return "";
  }

  bool saw_state(ConnectionState s, std::size_t from = 0) const {
    std::lock_guard lock(mu);
    for (std::size_t i = from; i < states.size(); ++i)
      if (states[i].first == s) return true;
    return false;
  }
  std::size_t state_count() const {
    std::lock_guard lock(mu);
    return states.size();
  }
};

}  // namespace

TEST_CASE("4 publishing threads and a worker killed with SIGKILL: every sequence number is "
          "reported delivered exactly once, on one library thread") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "ev-kill");
  o.max_inflight = 8;
  RobustClient client(o);
  Seen seen;
  seen.attach(client);  // before connect_async(): from its first number on
  client.connect_async(broker.host(), broker.port());
  REQUIRE(wait_connected(client, 60s));
  constexpr int kThreads = 4;
  const std::uint64_t per_thread = scaled<std::uint64_t>(500, 50);
  std::atomic<std::uint64_t> published{0};
  std::mutex mu;
  std::vector<std::string> problems;
  std::vector<std::thread::id> publishers;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      {
        std::lock_guard lock(mu);
        publishers.push_back(std::this_thread::get_id());
      }
      const auto topic = "ev/kill/" + std::to_string(t);
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        std::error_code ec;
        // The ring is large: queue_full only while the worker is away for long; retry then.
        while ((ec = client.publish(topic, testkit::sequence_payload(i), 1)) == errc::queue_full) {
        }
        if (ec) {
          std::lock_guard lock(mu);
          problems.push_back("publish: " + ec.message());
          return;
        }
        published.fetch_add(1);
      }
    });
  }
  const std::uint64_t total = kThreads * per_thread;
  REQUIRE(wait_until([&] { return published.load() >= total / 2; }, 120s, 1ms));
  const pid_t worker = worker_of(client);
  REQUIRE(worker > 0);
  kill9(worker);
  REQUIRE(wait_successor(client, worker) > 0);
  REQUIRE(wait_connected(client, 60s));
  for (auto& th : threads) th.join();
  REQUIRE_MESSAGE(problems.empty(), problems.front());
  const auto ec = client.wait_delivered(120s);
  REQUIRE_MESSAGE(!ec, ec.message());
  REQUIRE(client.delivered_through() == total);
  client.stop();

  std::map<std::uint64_t, std::string> fates;
  const auto problem = seen.fates(fates);
  REQUIRE_MESSAGE(problem.empty(), problem);
  CHECK(fates.size() == total);
  CHECK(fates.begin()->first == 1);
  CHECK(fates.rbegin()->first == total);
  CHECK(std::all_of(fates.begin(), fates.end(),
                    [](const auto& f) { return f.second == "delivered"; }));
  std::lock_guard lock(seen.mu);
  REQUIRE_FALSE(seen.threads.empty());
  const auto handler_thread = seen.threads.front();
  CHECK(std::all_of(seen.threads.begin(), seen.threads.end(),
                    [&](std::thread::id id) { return id == handler_thread; }));
  CHECK(handler_thread != std::this_thread::get_id());
  CHECK(std::find(publishers.begin(), publishers.end(), handler_thread) == publishers.end());
  CHECK(std::any_of(seen.states.begin(), seen.states.end(),
                    [](const auto& s) { return s.first == ConnectionState::connected; }));
  REQUIRE_FALSE(seen.states.empty());
  CHECK(seen.states.back().first == ConnectionState::stopped);
}

TEST_CASE("an application killed while its worker drains, restarted: the new life takes over and "
          "reports every number above its start exactly once, the earlier life's among them") {
  testkit::Mosquitto broker;
  testkit::FaultProxy proxy(broker.port());
  testkit::Subscriber sub(broker.host(), broker.port(), "ev/life/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  const std::uint64_t backlog = scaled<std::uint64_t>(30'000, 5'000);
  // Life 0 publishes its backlog while the broker refuses it: everything goes to the cache.
  proxy.refuse_new(true);
  ProducerRecord rec(dir / "record-0");
  const pid_t producer =
      spawn_producer_at("127.0.0.1", proxy.port(), cache, "ev-life", "ev/life/0", rec, "sqlite",
                        backlog, {"ROBUSTMQ_TEST_UNTHROTTLED=1", "ROBUSTMQ_TEST_PAUSE=1"});
  REQUIRE(wait_until([&] { return rec.published_all(); }, 300s));
  REQUIRE(rec.confirmed() == backlog);
  REQUIRE(rec.last_sequence() == backlog);
  // The broker comes back; once the worker is into its drain the application dies.
  proxy.refuse_new(false);
  REQUIRE(wait_distinct(sub, 100, 60s));
  kill9(producer);
  reap(producer);

  RobustClient client(client_options(cache, "ev-life"));
  Seen seen;
  seen.attach(client);
  client.connect_async(broker.host(), broker.port());
  const std::uint64_t carried = client.stats().carried_over;
  // This life numbers on above the earlier one's, after a gap (robustmq.seq's bound: the
  // earlier life was killed); numbers in the gap were never given out.
  std::uint64_t last = 0;
  for (std::uint64_t i = 0; i < 500; ++i)
    REQUIRE_FALSE(client.publish("ev/life/1", testkit::sequence_payload(i), 1, false, last));
  REQUIRE(last > backlog + 499);
  const auto ec = client.wait_delivered(300s);
  REQUIRE_MESSAGE(!ec, ec.message());
  CHECK(client.delivered_through() == last);
  client.stop();

  std::map<std::uint64_t, std::string> fates;
  const auto problem = seen.fates(fates);
  REQUIRE_MESSAGE(problem.empty(), problem);
  REQUIRE_FALSE(fates.empty());
  // Every number from the first reported up to the last published, each once, all delivered:
  // no gap, nothing of this life missing.
  const std::uint64_t first = fates.begin()->first;
  CHECK(fates.rbegin()->first == last);
  CHECK(fates.size() == last - first + 1);
  CHECK(std::all_of(fates.begin(), fates.end(),
                    [](const auto& f) { return f.second == "delivered"; }));
  // What the earlier life left undelivered at the takeover is reported in this one.
  MESSAGE("carried over ", carried, "; the first number reported was ", first);
  if (carried > 0) CHECK(first <= backlog);
  CHECK(first <= backlog + 1);
}

TEST_CASE("a connection handler set after connect_async() sees a broker outage: disconnected "
          "with the reason, then connected") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "ev-outage"));
  client.connect_async(broker.host(), broker.port());
  REQUIRE(wait_connected(client, 60s));
  Seen seen;
  seen.attach(client);
  // The first pass reports the state it finds.
  REQUIRE(wait_until([&] { return seen.saw_state(ConnectionState::connected); }, 60s));
  const std::size_t before = seen.state_count();
  broker.stop();
  REQUIRE(wait_until([&] { return seen.saw_state(ConnectionState::disconnected, before); }, 60s));
  {
    std::lock_guard lock(seen.mu);
    const auto it = std::find_if(seen.states.begin() + static_cast<std::ptrdiff_t>(before),
                                 seen.states.end(), [](const auto& s) {
                                   return s.first == ConnectionState::disconnected;
                                 });
    REQUIRE(it != seen.states.end());
    CHECK_FALSE(it->second.empty());
    MESSAGE("disconnected: ", it->second);
  }
  const std::size_t down = seen.state_count();
  broker.start();
  CHECK(wait_until([&] { return seen.saw_state(ConnectionState::connected, down); }, 60s));
  // The events reached the handler while it stayed set; stop() ends with `stopped`.
  client.stop();
  std::lock_guard lock(seen.mu);
  CHECK(seen.states.back().first == ConnectionState::stopped);
  // On the library's thread, named for top -H.
  for (const std::string& name : seen.state_thread_names) CHECK(name == "robustmq-events");
}

TEST_CASE("stop(StopMode::hand_off) ends the events with stopped, and a handler set after "
          "stop() starts nothing") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "ev-handoff"));
  Seen seen;
  seen.attach(client);
  client.connect_async(broker.host(), broker.port());
  std::uint64_t seq = 0;
  REQUIRE_FALSE(client.publish("ev/handoff", "x", 1, false, seq));
  REQUIRE_FALSE(client.wait_delivered(60s));
  REQUIRE(wait_until([&] {
    std::map<std::uint64_t, std::string> fates;
    return seen.fates(fates).empty() && fates.count(seq) == 1;
  }, 60s));
  client.stop(StopMode::hand_off);
  const std::size_t after = seen.state_count();
  {
    std::lock_guard lock(seen.mu);
    REQUIRE_FALSE(seen.states.empty());
    CHECK(seen.states.back().first == ConnectionState::stopped);
    CHECK_FALSE(seen.states.back().second.empty());  // says that it was a hand-off
  }
  seen.attach(client);
  CHECK(seen.state_count() == after);
  // The orphan exits once it has delivered everything (there is nothing left).
}

TEST_CASE("a handler may replace handlers and call into the client from the event thread") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "ev-replace"));
  std::atomic<int> first_calls{0};
  std::atomic<std::uint64_t> second_through{0};
  client.set_delivered_handler([&](std::uint64_t, std::uint64_t) {
    first_calls.fetch_add(1);
    (void)client.stats();
    client.set_delivered_handler([&](std::uint64_t, std::uint64_t last) {
      second_through.store(last);
    });
  });
  client.connect_async(broker.host(), broker.port());
  std::uint64_t seq = 0;
  REQUIRE_FALSE(client.publish("ev/replace", "x", 1, false, seq));
  REQUIRE(wait_until([&] { return first_calls.load() == 1; }, 60s));
  // From now on the second handler hears of everything.
  for (int i = 0; i < 20; ++i) REQUIRE_FALSE(client.publish("ev/replace", "x", 1, false, seq));
  REQUIRE_FALSE(client.wait_delivered(seq, 60s));
  client.stop();
  CHECK(first_calls.load() == 1);
  CHECK(second_through.load() == seq);
}

TEST_CASE("drop_journal() before connect_async() on a new cache directory is empty") {
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "ev-empty"));
  CHECK(client.drop_journal().empty());
  std::filesystem::create_directories(dir / "cache" / "robustmq.drops");  // not a file
  CHECK_THROWS_AS(client.drop_journal(), std::system_error);
}

TEST_CASE("expired messages are reported dropped, with their reason, and drop_journal() of a "
          "later life lists them") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  broker.stop();
  Options o = client_options(dir / "cache", "ev-ttl", CacheType::file);
  o.message_ttl = 1s;
  std::vector<std::uint64_t> seqs;
  {
    RobustClient client(o);
    Seen seen;
    seen.attach(client);
    client.connect_async(broker.host(), broker.port());
    for (int i = 0; i < 50; ++i) {
      std::uint64_t seq = 0;
      REQUIRE_FALSE(client.publish("ev/ttl", testkit::sequence_payload(i), 1, false, seq));
      seqs.push_back(seq);
    }
    REQUIRE_FALSE(client.flush(60s));
    // Their second passes with the broker away (a wait for the clock, not for the worker).
    std::this_thread::sleep_until(std::chrono::steady_clock::now() + 1500ms);
    broker.start();
    REQUIRE(wait_until([&] { return client.stats().dropped_expired == 50; }, 120s));
    const auto ec = client.wait_delivered(120s);
    REQUIRE_MESSAGE(!ec, ec.message());
    client.stop();
    std::map<std::uint64_t, std::string> fates;
    const auto problem = seen.fates(fates);
    REQUIRE_MESSAGE(problem.empty(), problem);
    for (const auto seq : seqs) CHECK(fates[seq] == "expired");
    std::lock_guard lock(seen.mu);
    for (const auto& r : seen.dropped) {
      CHECK(r.reason == DropReason::expired);
      CHECK(r.reason_code == 0);
      CHECK(r.time > std::chrono::system_clock::now() - 10min);
    }
  }
  RobustClient later(o);
  const auto journal = later.drop_journal();
  std::map<std::uint64_t, DropReason> listed;
  for (const auto& r : journal)
    for (std::uint64_t n = r.first; n <= r.last; ++n) listed.emplace(n, r.reason);
  for (const auto seq : seqs) {
    CAPTURE(seq);
    REQUIRE(listed.count(seq) == 1);
    CHECK(listed[seq] == DropReason::expired);
  }
  CHECK(listed.size() == seqs.size());
}

TEST_CASE("messages dropped to keep max_cache_bytes are reported as overflow, the rest as "
          "delivered, each number once") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  broker.stop();
  Options o = client_options(dir / "cache", "ev-overflow", CacheType::file);
  o.max_cache_bytes = 100'000;
  o.overflow = OverflowPolicy::drop_oldest;
  RobustClient client(o);
  Seen seen;
  seen.attach(client);
  client.connect_async(broker.host(), broker.port());
  const std::uint64_t n = 1000;
  REQUIRE_FALSE(publish_range(client, "ev/overflow/seq", 0, n, 1, 1000));
  REQUIRE_FALSE(client.flush(60s));
  REQUIRE(wait_until([&] {
    const Stats s = client.stats();
    return s.dropped_overflow > 0 && s.dropped_overflow + s.cache_backlog == n;
  }, 60s));
  broker.start();
  const auto ec = client.wait_delivered(120s);
  REQUIRE_MESSAGE(!ec, ec.message());
  const std::uint64_t dropped = client.stats().dropped_overflow;
  client.stop();
  std::map<std::uint64_t, std::string> fates;
  const auto problem = seen.fates(fates);
  REQUIRE_MESSAGE(problem.empty(), problem);
  CHECK(fates.size() == n);
  std::uint64_t overflow = 0;
  for (const auto& [seq, fate] : fates) {
    if (fate == "overflow") ++overflow;
    else CHECK(fate == "delivered");
  }
  CHECK(overflow == dropped);
  CHECK(fates[1] == "overflow");  // the oldest went first
  CHECK(fates[n] == "delivered");
}
