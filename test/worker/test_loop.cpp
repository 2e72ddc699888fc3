// Rules of the worker's loop (worker/loop.cpp, its numbered invariants checked after every
// pass by LoopHarness::step()), through a scripted transport: real ring, real cache, no broker.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "proto/large_message.hpp"
#include "test/worker/failing_cache.hpp"
#include "test/worker/loop_harness.hpp"

namespace robustmq::test {

using namespace std::chrono_literals;
using worker::CacheHealth;
using Link = worker::Loop::Link;

TEST_CASE("the loop connects, sends one message at a time by default, oldest first") {
  LoopHarness h;
  h.pump();
  CHECK(h.loop->link() == Link::connected);
  h.publish_numbered(5);
  h.pump();
  REQUIRE(h.transport.sent.size() == 1);  // max_inflight 1
  for (int i = 0; i < 5; ++i) {
    CHECK(h.transport.ack_all() == 1);
    h.pump();
  }
  CHECK(h.transport.payloads() == numbered(0, 5));
  CHECK(h.ring_empty());
  CHECK(h.status().acknowledged.load() == 5);
  CHECK(h.status().sent.load() == 5);
}

TEST_CASE("acknowledgements retire the window only from its front") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.pump();
  h.publish_numbered(4);
  h.pump();
  REQUIRE(h.transport.sent.size() == 4);
  const auto start = h.tail();
  h.transport.ack(2);
  h.transport.ack(1);
  h.pump();
  CHECK(h.tail() == start);  // 0 is not acknowledged: nothing retires
  CHECK(h.loop->window().entries() == 4);
  h.transport.ack(0);
  h.pump();
  CHECK(h.tail() > start);  // 0, 1, 2 retire together
  CHECK(h.loop->window().entries() == 1);
  CHECK(h.status().acknowledged.load() == 3);
  h.transport.ack(3);
  h.pump();
  CHECK(h.ring_empty());
  CHECK(h.loop->window().empty());
}

TEST_CASE("a stale or repeated acknowledgement changes nothing") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 2; });
  h.pump();
  h.publish_numbered(2);
  h.pump();
  h.transport.ack(0);
  h.transport.ack(0);
  h.events.push({worker::Event::Kind::delivered, 999, 0, {}});
  h.pump();
  CHECK(h.status().acknowledged.load() == 1);
  CHECK(h.loop->window().entries() == 1);
}

TEST_CASE("after a lost link with a window of 16, everything unacknowledged is sent again, "
          "oldest first") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 16; });
  h.pump();
  h.publish_numbered(40);
  h.pump();
  REQUIRE(h.transport.sent.size() == 16);
  for (std::size_t i = 0; i < 5; ++i) h.transport.ack(i);
  h.pump();
  REQUIRE(h.transport.sent.size() == 21);  // 5 retired, 5 more sent
  h.transport.drop_link("connection reset");
  h.pump();
  CHECK(h.loop->link() == Link::backoff);
  CHECK(h.loop->window().empty());
  CHECK(h.status().reconnects.load() == 1);
  CHECK(h.last_error().find("connection reset") != std::string::npos);
  const std::size_t before = h.transport.sent.size();
  h.time.advance(h.config.reconnect_max);  // past any backoff
  h.pump();
  CHECK(h.loop->link() == Link::connected);
  CHECK(h.transport.connects == 2);
  REQUIRE(h.transport.sent.size() == before + 16);
  std::vector<std::string> resent;
  for (std::size_t i = before; i < h.transport.sent.size(); ++i)
    resent.push_back(h.transport.sent[i].payload);
  CHECK(resent == numbered(5, 21));
  while (h.transport.ack_all() > 0) h.pump();
  CHECK(h.ring_empty());
}

TEST_CASE("a failed connect attempt, and a transport that cannot start one, lead to backoff "
          "and a later attempt") {
  LoopHarness h([](WorkerConfig& c) { c.reconnect_min = 100ms; c.reconnect_max = 400ms; });
  h.transport.accept_connects = false;
  h.transport.connect_failed("connection refused");
  h.pump();
  CHECK(h.loop->link() == Link::backoff);
  CHECK(h.last_error().find("connection refused") != std::string::npos);
  h.transport.connect_rc = -3;
  h.time.advance(400ms);
  h.pump();
  CHECK(h.transport.connects == 2);
  CHECK(h.loop->link() == Link::backoff);
  CHECK(h.last_error().find("fake transport error -3") != std::string::npos);
  CHECK(h.status().connect_attempts.load() == 2);
  h.transport.connect_rc = 0;
  h.transport.accept_connects = true;
  h.time.advance(400ms);
  h.pump();
  CHECK(h.loop->link() == Link::connected);
}

TEST_CASE("no acknowledgement within cache_timeout: the ring is spooled and the link given up; "
          "the cache is sent first after the reconnect") {
  LoopHarness h([](WorkerConfig& c) { c.cache_timeout = 1000ms; });
  h.pump();
  h.publish_numbered(5);
  h.pump();
  REQUIRE(h.transport.sent.size() == 1);
  h.time.advance(999ms);
  h.pump();
  CHECK(h.loop->link() == Link::connected);
  h.time.advance(2ms);
  h.step();
  CHECK(h.loop->link() == Link::backoff);
  CHECK(h.ring_empty());
  CHECK(h.cached_payloads() == numbered(0, 5));
  CHECK(h.status().cached.load() == 5);
  CHECK(h.transport.disconnects == 1);
  h.publish_numbered(2, 1, 5);  // newer messages while the link is down go behind the cache's
  h.time.advance(h.config.reconnect_max);
  h.pump();
  REQUIRE(h.loop->link() == Link::connected);
  while (h.transport.ack_all() > 0) h.pump();
  const auto all = h.transport.payloads();
  CHECK(std::vector<std::string>(all.begin() + 1, all.end()) == numbered(0, 7));
  CHECK(h.status().cache_backlog.load() == 0);
  CHECK(h.ring_empty());
}

TEST_CASE("a healthy link spools only when the ring is more than half full and more than "
          "queue_cache_threshold messages wait") {
  LoopHarness h([](WorkerConfig& c) { c.queue_cache_threshold = 10; }, 64u << 10);
  h.pump();
  const std::string payload(1000, 'x');
  int n = 0;
  // Below half the ring: nothing is spooled, however many wait.
  while ((h.head() - h.tail()) + 1100 < (32u << 10)) {
    REQUIRE(h.publish(payload));
    ++n;
  }
  h.pump();
  CHECK(h.status().cached.load() == 0);
  // Over half: the message in flight is given a moment to be acknowledged first (sending
  // pauses), then the rest is spooled and sent from the cache.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(h.publish(payload));
    ++n;
  }
  h.step();
  CHECK(h.status().cached.load() == 0);
  REQUIRE(h.transport.sent.size() == 1);
  h.transport.ack_all();
  h.step();
  CHECK(h.status().cached.load() == static_cast<std::uint64_t>(n - 1));
  CHECK(h.ring_empty());
  REQUIRE(h.loop->window().entries() == 1);
  CHECK(h.loop->window().oldest().source == worker::Inflight::Source::cache);
  CHECK(h.transport.sent.size() == 2);
}

TEST_CASE("a backlog spool waits at most the settle time for a stalled window") {
  LoopHarness h([](WorkerConfig& c) { c.queue_cache_threshold = 10; }, 64u << 10);
  h.pump();
  REQUIRE(h.publish("first"));
  h.pump();
  REQUIRE(h.transport.sent.size() == 1);
  const std::string payload(1000, 'x');
  while ((h.head() - h.tail()) < (40u << 10)) REQUIRE(h.publish(payload));
  h.pump();
  CHECK(h.status().cached.load() == 0);
  h.time.advance(1001ms);
  h.step();
  CHECK(h.ring_empty());  // spooled, "first" included: the cache sends it again
  CHECK(h.cached_payloads().front() == "first");
}

TEST_CASE("the backlog rule needs more than queue_cache_threshold waiting messages") {
  LoopHarness h([](WorkerConfig& c) { c.queue_cache_threshold = 100; }, 64u << 10);
  h.pump();
  const std::string payload(4000, 'x');
  while ((h.head() - h.tail()) < (40u << 10)) REQUIRE(h.publish(payload));
  h.pump();
  CHECK(h.status().cached.load() == 0);  // over half full, but only ~10 wait
}

TEST_CASE("QoS 0 messages take no place in the window: up to 32 more, under 64 KiB of payload") {
  SUBCASE("small messages") {
    LoopHarness h;
    h.pump();
    h.publish_numbered(50, 0);
    h.pump();
    CHECK(h.transport.sent.size() == 1 + worker::kQos0Ahead);
    CHECK(h.loop->window().awaiting_ack() == 0);
    while (h.transport.ack_all() > 0) h.pump();  // "delivered" = written
    CHECK(h.transport.payloads() == numbered(0, 50));
  }
  SUBCASE("large messages") {
    LoopHarness h;
    h.pump();
    for (int i = 0; i < 10; ++i) REQUIRE(h.publish(std::string(30'000, 'q'), 0));
    h.pump();
    CHECK(h.transport.sent.size() == 3);  // 90,000 bytes >= 64 KiB waiting: no more
  }
  SUBCASE("QoS 1 and QoS 0 together") {
    LoopHarness h([](WorkerConfig& c) { c.max_inflight = 2; });
    h.pump();
    REQUIRE(h.publish("a", 1));
    h.publish_numbered(5, 0);
    h.pump();
    CHECK(h.transport.sent.size() == 6);
    CHECK(h.loop->window().awaiting_ack() == 1);
  }
}

TEST_CASE("max_cache_bytes with drop_oldest keeps the newest messages and counts the drops") {
  for (CacheBackend type : {CacheBackend::file, CacheBackend::sqlite}) {
    CAPTURE(static_cast<int>(type));
    LoopHarness h([&](WorkerConfig& c) {
      c.cache_type = type;
      c.max_cache_bytes = 1000;
    });
    h.transport.accept_connects = false;  // the broker is away: everything is spooled
    h.pump();
    for (int i = 0; i < 30; ++i) REQUIRE(h.publish(std::string(95, 'a') + (i < 10 ? "0" : "") + std::to_string(i)));
    h.pump();
    const auto cached = h.cached();
    std::uint64_t bytes = 0;
    for (const auto& m : cached) bytes += m.topic.size() + m.payload.size();
    CHECK(bytes <= 1000);
    REQUIRE(!cached.empty());
    CHECK(cached.back().payload.ends_with("29"));
    CHECK(h.status().dropped_overflow.load() == 30 - cached.size());
    CHECK(h.ring_empty());
    // A second round drops the oldest cached ones.
    for (int i = 30; i < 35; ++i) REQUIRE(h.publish(std::string(95, 'b') + std::to_string(i)));
    h.pump();
    CHECK(h.cached().back().payload.ends_with("34"));
    CHECK(h.status().dropped_overflow.load() + h.status().cache_backlog.load() == 35);
  }
}

TEST_CASE("max_cache_bytes with reject_new keeps what is cached; new messages wait in the ring") {
  LoopHarness h([](WorkerConfig& c) {
    c.max_cache_bytes = 1000;
    c.overflow = Overflow::reject_new;
  });
  h.transport.accept_connects = false;
  h.pump();
  for (int i = 0; i < 8; ++i) REQUIRE(h.publish(std::string(100, 'a')));
  h.pump();
  CHECK(h.cached().size() == 8);
  for (int i = 0; i < 5; ++i) REQUIRE(h.publish(std::string(100, 'b')));
  h.pump();
  CHECK(h.loop->cache_health() == CacheHealth::full);
  CHECK(h.cached().size() == 8);
  CHECK(!h.ring_empty());
  CHECK(h.status().dropped_overflow.load() == 0);
  CHECK(h.cache_error().find("max_cache_bytes") != std::string::npos);
  h.time.advance(1001ms);
  h.step();  // tried again: still full
  CHECK(h.loop->cache_health() == CacheHealth::full);
  // The broker comes back: the cache drains, room appears, the ring follows in order.
  h.transport.connected();
  h.pump();
  while (h.transport.ack_all() > 0) {
    h.time.advance(1001ms);
    h.pump();
  }
  CHECK(h.ring_empty());
  CHECK(h.transport.sent.size() == 13);
  CHECK(h.transport.sent[7].payload[0] == 'a');
  CHECK(h.transport.sent[8].payload[0] == 'b');
  CHECK(h.loop->cache_health() == CacheHealth::ok);
}

TEST_CASE("messages older than message_ttl are dropped, from the ring and from the cache") {
  LoopHarness h([](WorkerConfig& c) { c.message_ttl = std::chrono::seconds(60); });
  h.transport.accept_connects = false;
  h.pump();
  const std::int64_t old = h.ns_ago(120s);
  REQUIRE(h.publish("old-cached", 1, old));
  REQUIRE(h.publish("new-cached", 1));
  h.pump();  // spooled: the expired one is dropped on the way
  CHECK(h.status().dropped_expired.load() == 1);
  CHECK(h.cached_payloads() == std::vector<std::string>{"new-cached"});
  h.transport.connected();
  h.pump();
  REQUIRE(h.publish("old-ring", 1, old));
  REQUIRE(h.publish("new-ring", 1));
  while (h.transport.ack_all() > 0) h.pump();
  h.pump();
  CHECK(h.transport.payloads() == std::vector<std::string>{"new-cached", "new-ring"});
  CHECK(h.status().dropped_expired.load() == 2);
  CHECK(h.ring_empty());
}

TEST_CASE("an invalid record is skipped in order and counted") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.pump();
  REQUIRE(h.publish("a"));
  REQUIRE(h.publish("bad", 1, 0, "bad/+/topic"));
  REQUIRE(h.publish("c"));
  h.pump();
  CHECK(h.transport.payloads() == std::vector<std::string>{"a", "c"});
  CHECK(h.status().dropped_invalid.load() == 1);
  h.transport.ack_all();
  h.pump();
  CHECK(h.ring_empty());
}

TEST_CASE("a message the broker refuses retires and is not sent again") {
  LoopHarness h;
  h.pump();
  h.publish_numbered(2);
  h.pump();
  h.transport.ack(0, 0x87);
  h.pump();
  h.transport.ack(1);
  h.pump();
  CHECK(h.transport.payloads() == numbered(0, 2));
  CHECK(h.ring_empty());
  CHECK(h.last_error().find("refused") != std::string::npos);
}

TEST_CASE("a send the transport refuses takes the link down; the message is sent again later") {
  LoopHarness h;
  h.pump();
  h.transport.send_rc = -1;
  h.publish_numbered(1);
  h.pump();
  CHECK(h.loop->link() == Link::backoff);
  CHECK(h.transport.sent.empty());
  h.transport.send_rc = 0;
  h.time.advance(h.config.reconnect_max);
  h.pump();
  CHECK(h.transport.payloads() == numbered(0, 1));
}

TEST_CASE("Event::send_failed for a message in the window takes the link down") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 2; });
  h.pump();
  h.publish_numbered(2);
  h.pump();
  h.transport.fail_send(1, "socket error");
  h.step();
  CHECK(h.loop->link() == Link::backoff);
  CHECK(h.last_error().find("connection lost while publishing") != std::string::npos);
}

TEST_CASE("a failed cache is reopened without losing its place; refused removals apply then") {
  bool failing = false;
  LoopHarness h({}, 1u << 20, [&](std::unique_ptr<cache::Cache> c) {
    return std::make_unique<FailingCache>(std::move(c), failing);
  });
  h.transport.accept_connects = false;
  h.pump();
  h.publish_numbered(10);
  h.pump();
  REQUIRE(h.cached().size() == 10);
  h.transport.connected();
  h.pump();
  for (int i = 0; i < 3; ++i) {  // 0..2 acknowledged and removed
    h.transport.ack_all();
    h.pump();
  }
  REQUIRE(h.transport.sent.size() == 4);
  failing = true;
  h.transport.ack_all();  // 3 acknowledged: its removal fails
  h.pump();
  CHECK(h.loop->cache_health() == CacheHealth::broken);
  CHECK(h.cache_error().find("Input/output error") != std::string::npos);
  REQUIRE(h.transport.sent.size() == 5);  // 4 went out after 3's acknowledgement
  h.transport.accept_connects = true;
  h.transport.drop_link("reset");  // and the link goes: nothing may be lost or reordered
  h.pump();
  h.publish_numbered(2, 1, 10);  // cannot be spooled now: they wait in the ring
  h.pump();
  CHECK(h.status().cached.load() == 10);
  CHECK(!h.ring_empty());
  h.time.advance(1001ms);  // the retry: reopened (a real cache again)
  h.pump();
  CHECK(h.loop->cache_health() == CacheHealth::ok);
  CHECK(h.status().cache_backlog.load() == 8);  // 3's removal applied, the ring spooled behind
  CHECK(h.ring_empty());
  CHECK(h.cache_error().empty());
  CHECK(h.loop->link() == Link::connected);  // the reconnect was due too
  while (h.transport.ack_all() > 0) h.pump();
  const auto all = h.transport.payloads();
  CAPTURE(fmt::format("{}", fmt::join(all, " ")));
  CHECK(std::vector<std::string>(all.begin() + 5, all.end()) == numbered(4, 12));
  CHECK(h.status().cache_backlog.load() == 0);
}

TEST_CASE("a failed append leaves the records in the ring; the next retry writes them") {
  bool failing = true;
  LoopHarness h({}, 1u << 20, [&](std::unique_ptr<cache::Cache> c) {
    return std::make_unique<FailingCache>(std::move(c), failing);
  });
  h.transport.accept_connects = false;
  h.pump();
  h.publish_numbered(3);
  h.pump();
  CHECK(h.loop->cache_health() == CacheHealth::broken);
  CHECK(!h.ring_empty());
  CHECK(h.cache_error().find("No space left") != std::string::npos);
  h.time.advance(500ms);
  h.pump();
  CHECK(h.loop->cache_health() == CacheHealth::broken);  // not before the retry is due
  h.time.advance(501ms);
  h.pump();
  CHECK(h.loop->cache_health() == CacheHealth::ok);
  CHECK(h.ring_empty());
  CHECK(h.cached_payloads() == numbered(0, 3));
}

TEST_CASE("after a lost link the ring is sent again from its tail when the cache cannot take "
          "the records") {
  bool failing = true;  // every append fails: nothing leaves the ring by spooling
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 8; }, 1u << 20,
                [&](std::unique_ptr<cache::Cache> c) {
                  return std::make_unique<FailingCache>(std::move(c), failing);
                });
  h.pump();
  h.publish_numbered(20);
  h.pump();
  REQUIRE(h.transport.sent.size() == 8);
  h.transport.ack(0);
  h.transport.ack(1);
  h.pump();
  const std::size_t before = h.transport.sent.size();
  h.transport.drop_link("reset");
  h.pump();
  CHECK(h.loop->cache_health() == CacheHealth::broken);
  CHECK(!h.ring_empty());
  h.time.advance(500ms);  // reconnected (backoff <= 250 ms), the cache's retry not yet due
  h.pump();
  REQUIRE(h.loop->link() == Link::connected);
  const auto all = h.transport.payloads();
  CHECK(std::vector<std::string>(all.begin() + static_cast<std::ptrdiff_t>(before), all.end()) ==
        numbered(2, 10));
}

// --- large messages: the file is released on every path ------------------------------------

struct LargeFile {
  std::string reference;
  std::filesystem::path path;
};

LargeFile write_large(const LoopHarness& h, std::size_t bytes, char fill = 'L') {
  large::prepare_dir(h.dir());
  std::error_code ec;
  std::string what;
  auto ref = large::write_file(h.dir(), std::string(bytes, fill), h.ns_ago(0s), false, ec, what);
  REQUIRE_MESSAGE(ref, what);
  return {large::encode(*ref), large::dir_of(h.dir()) / ref->name};
}

TEST_CASE("a large message's file is deleted once its message retired acknowledged") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.pump();
  const auto f = write_large(h, 5000);
  REQUIRE(h.publish("small-before"));
  REQUIRE(h.publish(f.reference, 1, 0, "t/large", true));
  REQUIRE(h.publish("small-after"));
  h.pump();
  REQUIRE(h.transport.sent.size() == 3);
  CHECK(h.transport.sent[1].payload == std::string(5000, 'L'));  // the file's bytes, not the reference
  h.transport.ack(1);
  h.pump();
  CHECK(std::filesystem::exists(f.path));  // acknowledged but not retired: 0 is still in flight
  h.transport.ack(0);
  h.pump();
  CHECK(!std::filesystem::exists(f.path));
  h.transport.ack(2);
  h.pump();
  CHECK(h.ring_empty());
}

TEST_CASE("a large message's file is deleted on every drop path") {
  SUBCASE("expired in the ring") {
    LoopHarness h([](WorkerConfig& c) { c.message_ttl = std::chrono::seconds(1); });
    h.pump();
    const auto f = write_large(h, 3000);
    REQUIRE(h.publish(f.reference, 1, h.ns_ago(10s), "t/large", true));
    h.pump();
    CHECK(h.transport.sent.empty());
    CHECK(h.status().dropped_expired.load() == 1);
    CHECK(!std::filesystem::exists(f.path));
  }
  SUBCASE("expired while spooled") {
    LoopHarness h([](WorkerConfig& c) { c.message_ttl = std::chrono::seconds(1); });
    h.transport.accept_connects = false;
    h.pump();
    const auto f = write_large(h, 3000);
    REQUIRE(h.publish(f.reference, 1, h.ns_ago(10s), "t/large", true));
    h.pump();
    CHECK(h.cached().empty());
    CHECK(!std::filesystem::exists(f.path));
  }
  SUBCASE("expired in the cache") {
    LoopHarness h([](WorkerConfig& c) { c.message_ttl = std::chrono::seconds(3600); });
    h.transport.accept_connects = false;
    h.pump();
    const auto f = write_large(h, 3000);
    // Published 59 min 59 s ago: cached now, expired when the broker is back a second later.
    REQUIRE(h.publish(f.reference, 1, h.ns_ago(3599s), "t/large", true));
    h.pump();
    REQUIRE(h.cached().size() == 1);
    h.time.advance(2s);
    h.transport.connected();
    h.pump();
    CHECK(h.transport.sent.empty());
    CHECK(h.status().dropped_expired.load() == 1);
    CHECK(!std::filesystem::exists(f.path));
    CHECK(h.status().cache_backlog.load() == 0);
  }
  SUBCASE("dropped for max_cache_bytes (drop_oldest), from the cache and from the batch") {
    LoopHarness h([](WorkerConfig& c) { c.max_cache_bytes = 10'000; });
    h.transport.accept_connects = false;
    h.pump();
    const auto first = write_large(h, 6000, 'A');
    REQUIRE(h.publish(first.reference, 1, 0, "t/large", true));
    h.pump();
    REQUIRE(h.cached().size() == 1);
    const auto second = write_large(h, 6000, 'B');  // 12,000 bytes of files: the oldest goes
    REQUIRE(h.publish(second.reference, 1, 0, "t/large", true));
    h.pump();
    CHECK(!std::filesystem::exists(first.path));
    CHECK(h.status().dropped_overflow.load() >= 1);
  }
  SUBCASE("damaged: an invalid topic on a large record") {
    LoopHarness h;
    h.pump();
    const auto f = write_large(h, 3000);
    REQUIRE(h.publish(f.reference, 1, 0, "bad/#/topic", true));
    h.pump();
    CHECK(h.status().dropped_invalid.load() == 1);
    CHECK(!std::filesystem::exists(f.path));
    CHECK(h.ring_empty());
  }
  SUBCASE("damaged: a truncated file") {
    LoopHarness h;
    h.pump();
    const auto f = write_large(h, 3000);
    std::filesystem::resize_file(f.path, 1000);
    REQUIRE(h.publish(f.reference, 1, 0, "t/large", true));
    REQUIRE(h.publish("after"));
    h.pump();
    CHECK(h.status().dropped_invalid.load() == 1);
    CHECK(!std::filesystem::exists(f.path));
    CHECK(h.transport.payloads() == std::vector<std::string>{"after"});
  }
  SUBCASE("refused by the broker") {
    LoopHarness h;
    h.pump();
    const auto f = write_large(h, 3000);
    REQUIRE(h.publish(f.reference, 1, 0, "t/large", true));
    h.pump();
    REQUIRE(h.transport.sent.size() == 1);
    h.transport.ack(0, 0x87);
    h.pump();
    CHECK(!std::filesystem::exists(f.path));
    CHECK(h.ring_empty());
  }
}

TEST_CASE("a large message in flight keeps its file across a lost link and is sent again whole") {
  LoopHarness h;
  h.pump();
  const auto f = write_large(h, 4000);
  REQUIRE(h.publish(f.reference, 1, 0, "t/large", true));
  h.pump();
  h.transport.drop_link("reset");
  h.pump();
  CHECK(std::filesystem::exists(f.path));
  h.time.advance(h.config.reconnect_max);
  h.pump();
  REQUIRE(h.transport.sent.size() == 2);
  CHECK(h.transport.sent[1].payload == std::string(4000, 'L'));
  h.transport.ack(1);
  h.pump();
  CHECK(!std::filesystem::exists(f.path));
}

// --- stop, flush, the application's exit ---------------------------------------------------

TEST_CASE("stop: the window drains for a moment, then the rest is spooled and the loop ends") {
  LoopHarness h;
  h.pump();
  h.publish_numbered(5);
  h.pump();
  h.request_stop();
  CHECK(h.step());  // settling: the one in flight may still be acknowledged
  CHECK(h.transport.sent.size() == 1);
  h.transport.ack_all();
  CHECK(!h.step());  // acknowledged: the rest spooled, done
  CHECK(h.cached_payloads() == numbered(1, 5));
  CHECK(h.ring_empty());
  h.loop->finish();
  CHECK(h.status().state.load() == static_cast<std::uint32_t>(ConnectionState::stopped));
}

TEST_CASE("flush: a stalled window is given up after the settle time and everything is spooled") {
  LoopHarness h([](WorkerConfig& c) { c.cache_timeout = 5000ms; });
  h.pump();
  h.publish_numbered(3);
  h.pump();
  h.request_flush();
  h.pump();
  CHECK(h.status().cached.load() == 0);
  h.time.advance(1001ms);
  h.pump();
  CHECK(h.ring_empty());
  CHECK(h.cached_payloads() == numbered(0, 3));
}

TEST_CASE("journal durability: every message is committed before it is sent") {
  LoopHarness h([](WorkerConfig& c) { c.durability = Durability::journal; });
  h.pump();
  h.publish_numbered(4);
  h.step();
  CHECK(h.status().cached.load() == 4);
  CHECK(h.ring_empty());
  while (h.transport.ack_all() > 0 || h.transport.sent.empty()) h.pump();
  CHECK(h.transport.payloads() == numbered(0, 4));
  CHECK(h.status().cache_backlog.load() == 0);
}

TEST_CASE("after the application exits, the ring is drained to the broker, then the loop ends") {
  LoopHarness h;
  h.pump();
  h.publish_numbered(3);
  h.pump();
  h.application_exits();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(h.step());
    h.transport.ack_all();
  }
  CHECK(!h.step());
  CHECK(h.transport.payloads() == numbered(0, 3));
  CHECK(h.status().cached.load() == 0);
}

// An orphan's broker refuses connections; reconnect attempts come every 400 ms at most.
void fast_reconnect(WorkerConfig& c) {
  c.reconnect_min = 100ms;
  c.reconnect_max = 400ms;
}
void broker_away(LoopHarness& h) {
  h.transport.accept_connects = false;
  h.transport.connect_failed("connection refused");
  h.pump();
}
// Passes, acknowledging everything sent, until the loop ends; false if it did not within 100.
bool runs_to_its_end(LoopHarness& h) {
  for (int passes = 0; passes < 100; ++passes) {
    if (!h.step()) return true;
    h.transport.ack_all();
  }
  return false;
}

TEST_CASE("an orphan whose broker is away caches the ring, keeps reconnecting, and delivers "
          "everything once the broker is back") {
  LoopHarness h(fast_reconnect);
  broker_away(h);
  h.publish_numbered(3);
  h.application_exits();
  CHECK(h.cached_payloads() == numbered(0, 3));
  // Not done while anything is undelivered: it goes on with its reconnect attempts.
  for (int i = 0; i < 5; ++i) {
    h.time.advance(400ms);
    REQUIRE(h.step());
    h.transport.connect_failed("connection refused");
    h.pump();
  }
  CHECK(h.transport.connects >= 5);
  h.transport.accept_connects = true;
  h.time.advance(400ms);
  CHECK(runs_to_its_end(h));
  CHECK(h.transport.payloads() == numbered(0, 3));
  CHECK(h.status().cache_backlog.load() == 0);
  CHECK(h.ring_empty());
}

TEST_CASE("an orphan that was connected sends its cache backlog, then the ring, then ends") {
  LoopHarness h(fast_reconnect);
  broker_away(h);
  h.publish_numbered(3);
  h.pump();
  CHECK(h.cached_payloads() == numbered(0, 3));
  h.transport.accept_connects = true;
  h.time.advance(400ms);
  h.pump();
  REQUIRE(h.loop->link() == Link::connected);
  h.publish_numbered(2, 1, 3);
  h.application_exits();
  CHECK(runs_to_its_end(h));
  CHECK(h.transport.payloads() == numbered(0, 5));
  CHECK(h.status().cache_backlog.load() == 0);
}

TEST_CASE("orphan_linger bounds the orphan: then it commits the ring to the cache and ends") {
  LoopHarness h([](WorkerConfig& c) { c.orphan_linger = 5000ms; });
  h.pump();
  REQUIRE(h.loop->link() == Link::connected);
  h.publish_numbered(3);
  h.pump();
  REQUIRE(h.transport.sent.size() == 1);  // one in flight, never acknowledged
  h.application_exits();
  h.time.advance(4000ms);
  CHECK(h.step());  // within the linger, within cache_timeout: still waiting
  h.time.advance(1001ms);
  // The linger ran out: stop as on stop(): the window settles for up to 1 s, then the ring
  // goes to the cache.
  int passes = 0;
  while (h.step() && ++passes < 100) h.time.advance(100ms);
  CHECK(passes < 100);
  CHECK(h.cached_payloads() == numbered(0, 3));
  CHECK(h.ring_empty());
}

TEST_CASE("an orphan waiting for its broker sleeps until its next attempt, past the drain "
          "deadline too") {
  LoopHarness h(fast_reconnect);  // cache_timeout 10 s: the ring is drained, then spooled
  broker_away(h);
  h.publish_numbered(3);
  h.application_exits();
  for (int i = 0; i < 60; ++i) {  // 24 s: well past the drain deadline
    h.time.advance(400ms);
    REQUIRE(h.step());
    h.transport.connect_failed("connection refused");
    h.pump();
    const auto wake = h.loop->next_deadline();
    REQUIRE(wake.has_value());  // the next reconnect attempt
    CHECK(*wake > h.time.now());
  }
}

TEST_CASE("without orphan_linger an orphan never gives up on its own") {
  LoopHarness h(fast_reconnect);
  broker_away(h);
  h.publish_numbered(3);
  h.application_exits();
  for (int i = 0; i < 20; ++i) {
    h.time.advance(std::chrono::hours(1));
    REQUIRE(h.step());
    h.transport.connect_failed("connection refused");
  }
  CHECK(h.cached_payloads() == numbered(0, 3));
}

}  // namespace robustmq::test
