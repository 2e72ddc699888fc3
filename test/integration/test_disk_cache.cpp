// The disk cache end to end: backlogs across restarts, journal mode, power cuts after flush(),
// size limits, message TTL and a full disk.
#include <doctest/doctest.h>

#include <sys/mount.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>

#include "crash_helpers.hpp"
#include "proto/segment.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

const char* name_of(CacheType t) { return t == CacheType::file ? "file" : "sqlite"; }

// Sequence numbers of first arrivals must increase (nothing overtakes), whatever was dropped.
bool increasing(const std::vector<std::uint64_t>& seqs) {
  std::uint64_t next = 0;
  for (auto s : seqs) {
    if (s + 1 < next) continue;  // a re-send of something already seen
    if (s < next) continue;
    next = s + 1;
  }
  std::vector<std::uint64_t> firsts;
  std::set<std::uint64_t> seen;
  for (auto s : seqs)
    if (seen.insert(s).second) firsts.push_back(s);
  return std::is_sorted(firsts.begin(), firsts.end());
}

std::size_t unique_count(const std::vector<std::uint64_t>& seqs) {
  return std::set<std::uint64_t>(seqs.begin(), seqs.end()).size();
}

}  // namespace

TEST_CASE("100,000 messages cached while the broker is down arrive in order after a restart") {
  const std::uint64_t n = scaled<std::uint64_t>(100'000, 10'000);
  for (CacheType type : {CacheType::sqlite, CacheType::file}) {
    const std::string backend = name_of(type);
    CAPTURE(backend);
    testkit::Mosquitto broker;
    testkit::TempDir dir;
    broker.stop();
    {
      RobustClient client(client_options(dir / "cache", "backlog", type));
      client.connect_async(broker.host(), broker.port());
      REQUIRE_FALSE(publish_range(client, "dc/backlog/seq", 0, n, 1, 64));
      client.stop();
      CHECK(client.stats().cache_backlog == n);
    }
    broker.start();
    testkit::Subscriber sub(broker.host(), broker.port(), "dc/backlog/#");
    REQUIRE(sub.wait_subscribed());
    RobustClient client(client_options(dir / "cache", "backlog", type));
    client.connect_async(broker.host(), broker.port());
    const auto problem = wait_in_order(sub, n, 240s);
    CHECK_MESSAGE(problem.empty(), problem);
    client.stop();
    CHECK(client.stats().cache_backlog == 0);
  }
}

TEST_CASE("journal mode commits every message to the cache before it is sent") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "dc/journal/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "journal", CacheType::file);
  o.durability = Durability::journal;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(publish_range(client, "dc/journal/seq", 0, 5000));
  const auto problem = wait_in_order(sub, 5000, 60s);
  CHECK_MESSAGE(problem.empty(), problem);
  const Stats s = client.stats();
  CHECK(s.cached == 5000);
  client.stop();
}

TEST_CASE("journal mode with a healthy broker sends no message twice") {
  const std::uint64_t n = scaled<std::uint64_t>(100'000, 5'000);
  for (CacheType type : {CacheType::sqlite, CacheType::file}) {
    const std::string backend = name_of(type);
    CAPTURE(backend);
    testkit::Mosquitto broker;
    testkit::Subscriber sub(broker.host(), broker.port(), "dc/jdup/#");
    REQUIRE(sub.wait_subscribed());
    testkit::TempDir dir;
    Options o = client_options(dir / "cache", "jdup", type);
    o.durability = Durability::journal;
    o.max_inflight = 16;
    RobustClient client(o);
    client.connect_async(broker.host(), broker.port());
    REQUIRE_FALSE(publish_range(client, "dc/jdup/seq", 0, n));
    const auto problem = wait_in_order(sub, n, 240s);
    CHECK_MESSAGE(problem.empty(), problem);
    client.stop();
    const auto seqs = testkit::sequences(sub.messages());
    CHECK(seqs.size() - unique_count(seqs) == 0);  // duplicates
    CHECK(client.stats().reconnects == 0);         // no failure that would excuse one
  }
}

TEST_CASE("a worker killed after its messages were acknowledged sends none of them again once "
          "100 ms have passed") {
  for (CacheType type : {CacheType::sqlite, CacheType::file}) {
    const std::string backend = name_of(type);
    CAPTURE(backend);
    testkit::Mosquitto broker;
    testkit::Subscriber sub(broker.host(), broker.port(), "dc/killack/#");
    REQUIRE(sub.wait_subscribed());
    testkit::TempDir dir;
    Options o = client_options(dir / "cache", "killack", type);
    o.durability = Durability::journal;  // every message goes through the cache
    RobustClient client(o);
    client.connect_async(broker.host(), broker.port());
    const std::uint64_t n = 2000;
    REQUIRE_FALSE(publish_range(client, "dc/killack/seq", 0, n));
    REQUIRE(wait_in_order(sub, n, 60s).empty());
    REQUIRE(wait_until([&] { return client.stats().cache_backlog == 0; }, 10s));
    // The bound under test: an acknowledged message's removal is committed within 100 ms. Time
    // must pass here, there is nothing else to wait for.
    std::this_thread::sleep_for(300ms);
    const pid_t worker = static_cast<pid_t>(client.stats().worker_pid);
    REQUIRE(worker > 0);
    kill9(worker);
    REQUIRE(wait_until([&] {
      const Stats s = client.stats();
      return s.worker_restarts >= 1 && s.state == ConnectionState::connected &&
             s.worker_pid != worker;
    }, 20s));
    // A marker after the restart: anything sent again arrives before it (order holds).
    REQUIRE_FALSE(publish_range(client, "dc/killack/seq", n, n + 1));
    REQUIRE(wait_until([&] {
      const auto seqs = testkit::sequences(sub.messages());
      return std::find(seqs.begin(), seqs.end(), n) != seqs.end();
    }, 30s));
    const auto seqs = testkit::sequences(sub.messages());
    const std::uint64_t again = seqs.size() - (n + 1);
    CHECK_MESSAGE(again == 0, again, " acknowledged messages sent again");
    client.stop();
  }
}

TEST_CASE("after flush() returned, a power cut (both processes and the shared memory gone) loses nothing") {
  struct Mode { const char* type; const char* durability; };
  for (Mode m : {Mode{"sqlite", "on_trouble"}, Mode{"file", "on_trouble"},
                 Mode{"sqlite", "journal"}, Mode{"file", "journal"}}) {
    const std::string mode = std::string(m.type) + "/" + m.durability;
    CAPTURE(mode);
    testkit::Mosquitto broker;
    testkit::TempDir dir;
    const auto cache = dir / "cache";
    const std::string id = std::string("power-") + m.type;
    broker.stop();  // nothing can be acknowledged: everything must be on disk
    ::setenv("ROBUSTMQ_TEST_FLUSH", "1", 1);
    ::setenv("ROBUSTMQ_TEST_DURABILITY", m.durability, 1);
    ProducerRecord rec(dir / "record");
    const pid_t producer = spawn_producer(broker, cache, id, "dc/power/seq", rec, m.type, 3000);
    ::unsetenv("ROBUSTMQ_TEST_FLUSH");
    ::unsetenv("ROBUSTMQ_TEST_DURABILITY");
    wait_until([&] { return rec.flushed() || !process_alive(producer); }, 60s, 5ms);
    REQUIRE(rec.flushed());
    // The power cut: both processes die at once and RAM (the shared segment) is lost.
    kill9(rec.worker_pid());
    kill9(producer);
    reap(producer);
    MappedSegment::unlink(segment_name(std::filesystem::canonical(cache), id));
    broker.start();
    testkit::Subscriber sub(broker.host(), broker.port(), "dc/power/#");
    REQUIRE(sub.wait_subscribed());
    RobustClient client(client_options(cache, id, std::string(m.type) == "file" ? CacheType::file
                                                                                 : CacheType::sqlite));
    REQUIRE_NOTHROW(client.connect_async(broker.host(), broker.port()));
    const auto problem = wait_in_order(sub, 3000, 60s);
    CHECK_MESSAGE(problem.empty(), problem);
    client.stop();
  }
}

TEST_CASE("max_cache_bytes with drop_oldest keeps the newest messages and counts the drops") {
  for (CacheType type : {CacheType::sqlite, CacheType::file}) {
    const std::string backend = name_of(type);
    CAPTURE(backend);
    testkit::Mosquitto broker;
    testkit::TempDir dir;
    broker.stop();
    Options o = client_options(dir / "cache", "drop", type);
    o.max_cache_bytes = 100'000;
    std::uint64_t dropped = 0;
    {
      RobustClient client(o);
      client.connect_async(broker.host(), broker.port());
      REQUIRE_FALSE(publish_range(client, "dc/drop/seq", 0, 1000, 1, 1000));
      client.stop();
      const Stats s = client.stats();
      dropped = s.dropped_overflow;
      CHECK(s.cache_backlog_bytes <= 100'000);
      CHECK(dropped >= 880);
      CHECK(s.cache_backlog + dropped == 1000);
    }
    broker.start();
    testkit::Subscriber sub(broker.host(), broker.port(), "dc/drop/#");
    REQUIRE(sub.wait_subscribed());
    RobustClient client(o);
    client.connect_async(broker.host(), broker.port());
    const std::uint64_t kept = 1000 - dropped;
    REQUIRE(wait_distinct(sub, kept, 30s));
    std::this_thread::sleep_for(200ms);  // time for a dropped message, which must not come
    const auto seqs = testkit::sequences(sub.messages());
    CHECK(unique_count(seqs) == kept);
    CHECK(increasing(seqs));
    CHECK(*std::min_element(seqs.begin(), seqs.end()) == dropped);  // the oldest went first
    client.stop();
  }
}

TEST_CASE("max_cache_bytes with reject_new keeps what is cached and holds new messages back") {
  testkit::Mosquitto broker;
  // Subscribed before the outage: its persistent session queues what arrives before it is back.
  testkit::Subscriber sub(broker.host(), broker.port(), "dc/reject/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  broker.stop();
  Options o = client_options(dir / "cache", "reject", CacheType::sqlite);
  o.max_cache_bytes = 50'000;
  o.overflow = OverflowPolicy::reject_new;
  o.ring_bytes = 64 << 10;
  o.publish_wait = 100ms;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  // queue_full also comes from a worker that was merely slow to make room (a loaded machine):
  // publishing goes on until the cache says it is at its limit.
  std::uint64_t accepted = 0;
  std::error_code ec;
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (accepted < 10'000) {
    ec = client.publish("dc/reject/seq", testkit::sequence_payload(accepted, 1000), 1);
    if (!ec) {
      ++accepted;
    } else if (ec != errc::queue_full ||
               client.stats().cache_error.find("max_cache_bytes") != std::string::npos ||
               std::chrono::steady_clock::now() >= give_up) {
      break;
    }
  }
  CHECK(ec == errc::queue_full);
  const Stats s = client.stats();
  CHECK(s.cache_backlog_bytes <= 50'000);
  CHECK(s.dropped_overflow == 0);
  CHECK(s.cache_error.find("max_cache_bytes") != std::string::npos);
  broker.start();
  // Everything accepted arrives, in order, as the cache drains and makes room.
  const auto problem = wait_in_order(sub, accepted, 60s);
  CHECK_MESSAGE(problem.empty(), problem);
  client.stop();
}

TEST_CASE("messages older than message_ttl are dropped before sending and counted") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "dc/ttl/#");
  REQUIRE(sub.wait_subscribed());  // a persistent session: the broker keeps it across restarts
  testkit::TempDir dir;
  broker.stop();
  Options o = client_options(dir / "cache", "ttl", CacheType::file);
  o.message_ttl = 1s;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(publish_range(client, "dc/ttl/seq", 0, 100));
  REQUIRE_FALSE(client.flush(10s));
  std::this_thread::sleep_for(1500ms);  // the first 100 outlive their 1 s TTL
  // The next 10 are published once the link is up, so that they go out well within their own
  // second however long the broker's start and the reconnect take.
  broker.start();
  REQUIRE(wait_connected(client, 30s));
  REQUIRE_FALSE(publish_range(client, "dc/ttl/seq", 100, 110));
  REQUIRE(wait_distinct(sub, 10, 30s));
  std::this_thread::sleep_for(300ms);  // time for an expired message, which must not come
  const auto seqs = testkit::sequences(sub.messages());
  CHECK(unique_count(seqs) == 10);
  CHECK(*std::min_element(seqs.begin(), seqs.end()) == 100);
  CHECK(client.stats().dropped_expired == 100);
  client.stop();
}

TEST_CASE("a full disk is reported, publish() goes on while the ring has room, nothing cached is corrupted") {
  testkit::TempDir dir;
  const auto mnt = dir / "small";
  std::filesystem::create_directories(mnt);
  if (::mount("robustmq-test", mnt.c_str(), "tmpfs", 0, "size=16m") != 0) {
    MESSAGE("skipped: cannot mount a tmpfs here (", std::strerror(errno), "); needs root");
    return;
  }
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  struct Case { CacheType type; std::uint64_t max_cache_bytes; };
  for (Case c : {Case{CacheType::sqlite, 0}, Case{CacheType::file, 0},
                 Case{CacheType::sqlite, 3'000'000}, Case{CacheType::file, 3'000'000}}) {
    const std::string backend = name_of(c.type);
    CAPTURE(backend);
    CAPTURE(c.max_cache_bytes);
    std::filesystem::remove_all(mnt / "cache");
    testkit::Mosquitto broker;
    testkit::Subscriber sub(broker.host(), broker.port(), "dc/full/#");
    REQUIRE(sub.wait_subscribed());
    broker.stop();
    Options o = client_options(mnt / "cache", std::string("full-") + name_of(c.type), c.type);
    o.ring_bytes = 512 << 10;
    o.publish_wait = 300ms;
    o.max_cache_bytes = c.max_cache_bytes;
    RobustClient client(o);
    client.connect_async(broker.host(), broker.port());
    std::uint64_t accepted = 0;
    std::error_code ec;
    const std::uint64_t limit = c.max_cache_bytes == 0 ? 40'000 : 6000;
    // queue_full also comes from a worker that was merely slow to make room (a loaded
    // machine): publishing goes on until the cache reports the full disk.
    auto disk_full = [](const std::string& cache_error) {
      return cache_error.find("No space left") != std::string::npos ||
             cache_error.find("disk is full") != std::string::npos;
    };
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while (accepted < limit) {
      ec = client.publish("dc/full/seq", testkit::sequence_payload(accepted, 1000), 1);
      if (!ec) {
        ++accepted;
      } else if (ec != errc::queue_full || disk_full(client.stats().cache_error) ||
                 std::chrono::steady_clock::now() >= give_up) {
        break;
      }
    }
    const auto flushed = client.flush(c.max_cache_bytes == 0 ? 1s : 10s);
    if (c.max_cache_bytes != 0) REQUIRE_FALSE(flushed);
    const Stats s = client.stats();
    CAPTURE(s.last_error);
    CAPTURE(accepted);
    if (c.max_cache_bytes == 0) {
      // The disk filled up: back-pressure, reported; publish() worked while the ring had room.
      CHECK(ec == errc::queue_full);
      CHECK(accepted > 500);
      CAPTURE(s.cache_error);
      CHECK(disk_full(s.cache_error));
      CHECK(s.dropped_overflow == 0);
    } else {
      // max_cache_bytes below the free space: drop_oldest acts before the disk is full.
      CHECK(accepted == limit);
      CHECK(s.dropped_overflow > 0);
      CHECK(s.cache_error.empty());
    }
    broker.start();
    // Everything accepted arrives in order, except what drop_oldest dropped (counted).
    const std::uint64_t dropped = s.dropped_overflow;
    auto arrived = [&] { return unique_count(testkit::sequences(sub.messages())); };
    wait_until([&] { return arrived() + dropped >= accepted; }, 60s, 100ms);
    std::this_thread::sleep_for(200ms);  // time for a message too many, which must not come
    const auto seqs = testkit::sequences(sub.messages());
    CHECK(unique_count(seqs) + dropped == accepted);
    CHECK(increasing(seqs));
    if (!seqs.empty()) CHECK(*std::max_element(seqs.begin(), seqs.end()) == accepted - 1);
    client.stop();
  }
}
