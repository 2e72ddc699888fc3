// delivered_through (RobustClient::delivered_through(), wait_delivered()): the worker's rules for
// the highest sequence number up to which every message was delivered or dropped, through the
// scripted transport. The harness numbers messages from 1, as RobustClient does.
#include <doctest/doctest.h>

#include "test/worker/failing_cache.hpp"
#include "test/worker/loop_harness.hpp"

namespace robustmq::test {

using namespace std::chrono_literals;
using Link = worker::Loop::Link;

TEST_CASE("delivered_through follows acknowledgements in order, never past an unacknowledged "
          "message") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.pump();
  CHECK(h.delivered() == 0);
  h.publish_numbered(4);  // sequence numbers 1..4
  h.pump();
  REQUIRE(h.transport.sent.size() == 4);
  h.transport.ack(1);
  h.transport.ack(2);
  h.pump();
  CHECK(h.delivered() == 0);  // 1 is not acknowledged
  h.transport.ack(0);
  h.pump();
  CHECK(h.delivered() == 3);
  h.transport.ack(3);
  h.pump();
  CHECK(h.delivered() == 4);
}

TEST_CASE("a lost link holds delivered_through back; the messages sent again move it on") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 2; });
  h.pump();
  h.publish_numbered(3);
  h.pump();
  h.transport.ack(0);
  h.pump();
  CHECK(h.delivered() == 1);
  h.transport.drop_link("broker gone");
  h.pump();
  REQUIRE(h.loop->link() != Link::connected);
  CHECK(h.delivered() == 1);
  h.time.advance(h.config.reconnect_max);
  h.pump();
  REQUIRE(h.loop->link() == Link::connected);
  while (h.transport.ack_all() > 0) h.pump();
  CHECK(h.delivered() == 3);
}

TEST_CASE("messages sent from the cache after an outage move delivered_through in order") {
  LoopHarness h;
  h.transport.accept_connects = false;
  h.pump();
  h.publish_numbered(5);
  h.pump();  // the link is not up: spooled
  REQUIRE(h.cached_payloads() == numbered(0, 5));
  CHECK(h.delivered() == 0);
  h.transport.connected();
  h.pump();
  for (std::uint64_t i = 1; i <= 5; ++i) {
    REQUIRE(h.transport.ack_all() == 1);
    h.pump();
    CHECK(h.delivered() == i);
  }
}

TEST_CASE("dropped messages count as done, also those dropped on the way to the cache") {
  LoopHarness h([](WorkerConfig& c) { c.message_ttl = std::chrono::seconds(60); });
  h.transport.accept_connects = false;
  h.pump();
  const std::int64_t old = h.ns_ago(120s);
  REQUIRE(h.publish("old-1", 1, old));
  REQUIRE(h.publish("old-2", 1, old));
  h.pump();  // spooled: both expired on the way; nothing is held anywhere
  CHECK(h.status().dropped_expired.load() == 2);
  CHECK(h.delivered() == 2);
  h.transport.connected();
  h.pump();
  REQUIRE(h.publish("new-3"));
  REQUIRE(h.publish("old-4", 1, old));  // dropped from the ring, behind new-3
  REQUIRE(h.publish("new-5"));
  h.pump();
  CHECK(h.delivered() == 2);
  while (h.transport.ack_all() > 0) h.pump();
  CHECK(h.transport.payloads() == std::vector<std::string>{"new-3", "new-5"});
  CHECK(h.delivered() == 5);
}

TEST_CASE("an invalid record is skipped in its place and counts as done") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.pump();
  REQUIRE(h.publish("a"));
  REQUIRE(h.publish("bad", 1, 0, "bad/+/topic"));
  REQUIRE(h.publish("c"));
  h.pump();
  CHECK(h.delivered() == 0);
  h.transport.ack(0);
  h.pump();
  CHECK(h.delivered() == 2);  // 1 delivered, 2 dropped as invalid
  h.transport.ack(1);
  h.pump();
  CHECK(h.delivered() == 3);
}

TEST_CASE("after a reboot a worker starting on a cache backlog sets delivered_through just "
          "below its oldest message") {
  LoopHarness first;
  first.pump();
  first.publish_numbered(2);
  first.pump();
  while (first.transport.ack_all() > 0) first.pump();
  REQUIRE(first.delivered() == 2);
  first.transport.drop_link("broker gone");
  first.transport.accept_connects = false;
  first.pump();
  first.publish_numbered(3, 1, 2);  // 3..5, spooled: the link is down
  first.pump();
  REQUIRE(first.cached_payloads() == numbered(2, 5));
  first.loop.reset();
  // The reboot: a new segment (delivered_through 0) whose numbering continues at 100
  // (robustmq.seq), and a new worker on the same cache directory.
  auto same_dir = [&](WorkerConfig& c) { c.cache_dir = first.config.cache_dir; };
  LoopHarness second(same_dir, 1u << 20, {}, 100);
  CHECK(second.delivered() == 2);
  second.pump();
  REQUIRE(second.publish("100"));
  second.pump();
  while (second.transport.ack_all() > 0) second.pump();
  CHECK(second.transport.payloads() == std::vector<std::string>{"2", "3", "4", "100"});
  CHECK(second.delivered() == 100);
}

TEST_CASE("after a reboot a worker starting with nothing held sets delivered_through just below "
          "the next number") {
  LoopHarness first;
  first.pump();
  first.publish_numbered(3);
  first.pump();
  while (first.transport.ack_all() > 0) first.pump();
  REQUIRE(first.delivered() == 3);
  first.loop.reset();
  auto same_dir = [&](WorkerConfig& c) { c.cache_dir = first.config.cache_dir; };
  LoopHarness second(same_dir, 1u << 20, {}, 100);
  CHECK(second.delivered() == 99);
}

TEST_CASE("without a bound of the numbers the worker continues them above the disk cache's "
          "before the client publishes") {
  LoopHarness first([](WorkerConfig&) {}, 1u << 20, {}, 500);
  first.transport.accept_connects = false;
  first.pump();
  first.publish_numbered(5);  // 500..504, cached: the link is down
  first.pump();
  REQUIRE(first.cached_payloads() == numbered(0, 5));
  first.loop.reset();
  auto same_dir = [&](WorkerConfig& c) { c.cache_dir = first.config.cache_dir; };
  // robustmq.seq was lost: the client starts at 1 and says it does not know better.
  LoopHarness second(same_dir, 1u << 20, {}, 1, true);
  CHECK(second.next_seq() == 505);
  CHECK(second.delivered() == 499);  // just below the oldest cached
  second.pump();
  REQUIRE(second.publish("new"));
  second.pump();
  while (second.transport.ack_all() > 0) second.pump();
  CHECK(second.delivered() == 505);
  // A client that knows its bound: no raise.
  second.loop.reset();
  LoopHarness third(same_dir, 1u << 20, {}, 2000, false);
  CHECK(third.next_seq() == 2000);
  CHECK(third.delivered() == 1999);
}

TEST_CASE("a number above those given out moves delivered_through at most to the last one given "
          "out") {
  // A cache holding numbers of another numbering (here 1000..1001) while the segment numbers
  // from 1: what a record damaged in its number would look like.
  LoopHarness first([](WorkerConfig&) {}, 1u << 20, {}, 1000);
  first.transport.accept_connects = false;
  first.pump();
  first.publish_numbered(2);
  first.pump();
  REQUIRE(first.cached_payloads() == numbered(0, 2));
  first.loop.reset();
  auto same_dir = [&](WorkerConfig& c) { c.cache_dir = first.config.cache_dir; };
  LoopHarness second(same_dir, 1u << 20, {}, 1, false);
  second.pump();
  while (second.transport.ack_all() > 0) second.pump();
  CHECK(second.transport.payloads() == numbered(0, 2));
  CHECK(second.delivered() == 0);  // nothing was given out yet
  REQUIRE(second.publish("a"));  // number 1
  second.pump();
  while (second.transport.ack_all() > 0) second.pump();
  CHECK(second.delivered() == 1);
}

namespace {

// With the link down, `n` messages are published and spooled; then the worker ends.
void spool_and_end(LoopHarness& h, int n) {
  h.transport.accept_connects = false;
  h.pump();
  h.publish_numbered(n);
  h.pump();
  h.loop.reset();
}

}  // namespace

TEST_CASE("without a bound and with a cache that cannot be read at start, the worker starts; "
          "cached numbers move delivered_through only once the cache is empty") {
  LoopHarness first([](WorkerConfig&) {}, 1u << 20, {}, 500);
  spool_and_end(first, 2);  // 500, 501: cached
  REQUIRE(first.cached_payloads() == numbered(0, 2));
  auto same_dir = [&](WorkerConfig& c) { c.cache_dir = first.config.cache_dir; };
  bool failing = true;
  auto unreadable = [&](std::unique_ptr<cache::Cache> c) {
    return std::make_unique<FailingCache>(std::move(c), failing, /*reads_fail=*/true);
  };
  // The numbering cannot go above the cache's: the worker says so and runs (the ring is safe).
  LoopHarness second(same_dir, 1u << 20, unreadable, 1, true);
  CHECK(second.next_seq() == 1);
  CHECK(second.seq_unknown() == 2);
  failing = false;
  second.time.advance(1001ms);  // the cache's retry
  second.pump();
  REQUIRE(second.publish("new"));  // number 1, below the cached 500 and 501
  second.pump();
  REQUIRE(second.transport.ack_all() == 1);  // cached 500
  second.pump();
  CHECK(second.delivered() == 0);  // not 1: "new" is still waiting
  while (second.transport.ack_all() > 0) second.pump();
  CHECK(second.transport.payloads() == std::vector<std::string>{"0", "1", "new"});
  CHECK(second.delivered() == 1);
  CHECK(second.seq_unknown() == 0);  // the cache is empty: nothing older is left
}


TEST_CASE("without a bound, the numbering goes on above the highest cached number even when the "
          "cache is not in numbering order") {
  LoopHarness first([](WorkerConfig&) {}, 1u << 20, {}, 500);
  spool_and_end(first, 2);  // 500, 501: cached
  auto same_dir = [&](WorkerConfig& c) { c.cache_dir = first.config.cache_dir; };
  bool failing = true;
  auto unreadable = [&](std::unique_ptr<cache::Cache> c) {
    return std::make_unique<FailingCache>(std::move(c), failing, /*reads_fail=*/true);
  };
  {
    // A life that could not read the cache at start numbers from 1, behind 500 and 501.
    LoopHarness second(same_dir, 1u << 20, unreadable, 1, true);
    second.transport.accept_connects = false;
    REQUIRE(second.seq_unknown() == 2);
    failing = false;
    second.time.advance(1001ms);  // the cache's retry
    second.pump();
    REQUIRE(second.publish("new"));  // number 1
    second.pump();
    REQUIRE(second.cached_payloads() == std::vector<std::string>{"0", "1", "new"});
  }
  // The next life has no bound either: its numbers must not repeat 500 or 501.
  LoopHarness third(same_dir, 1u << 20, {}, 1, true);
  CHECK(third.next_seq() == 502);
}

}  // namespace robustmq::test
