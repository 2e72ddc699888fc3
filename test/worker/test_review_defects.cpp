// Defects found in review of the worker loop (issue "Defects found in review"), each checked
// at the lowest level that shows it: the loop with a scripted transport.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "test/worker/failing_cache.hpp"
#include "test/worker/loop_harness.hpp"

namespace robustmq::test {

using namespace std::chrono_literals;
using Link = worker::Loop::Link;

TEST_CASE("a QoS 2 handshake cut after a spool took its message out of the window makes the "
          "next connect start clean") {
  LoopHarness h([](WorkerConfig& c) {
    c.clean_session = false;
    c.cache_timeout = 1000ms;
  });
  h.pump();
  CHECK(!h.transport.last_start_clean);
  h.publish_numbered(3, 2);
  h.pump();
  REQUIRE(h.transport.sent.size() == 1);
  SUBCASE("no acknowledgement within cache_timeout: spooled, then the link is given up") {
    h.time.advance(1001ms);
    h.step();
    REQUIRE(h.loop->link() == Link::backoff);
  }
  SUBCASE("flush() spools the ring while the handshake runs, then the link is lost") {
    h.request_flush();
    h.pump();
    h.time.advance(1001ms);  // the settle time of the flush runs out: spooled
    h.pump();
    REQUIRE(h.ring_empty());
    h.transport.drop_link("reset");
    h.pump();
    REQUIRE(h.loop->link() == Link::backoff);
  }
  h.time.advance(h.config.reconnect_max);
  h.pump();
  CHECK(h.transport.connects == 2);
  CHECK(h.transport.last_start_clean);
}

TEST_CASE("a failed read of the cache is not an empty cache: nothing from the ring goes first, "
          "and the read is retried without a new publish()") {
  bool failing = false;
  LoopHarness h({}, 1u << 20, [&](std::unique_ptr<cache::Cache> c) {
    return std::make_unique<FailingCache>(std::move(c), failing, /*reads_fail=*/true);
  });
  h.transport.accept_connects = false;
  h.pump();
  h.publish_numbered(5);
  h.pump();
  REQUIRE(h.status().cache_backlog.load() == 5);
  failing = true;
  h.transport.accept_connects = true;
  h.transport.connected();
  h.publish_numbered(2, 1, 5);
  h.pump();
  CHECK(h.transport.sent.empty());  // neither the unreadable cache nor the newer ring records
  CHECK(h.last_error().find("cannot read the disk cache") != std::string::npos);
  failing = false;
  h.time.advance(1001ms);
  h.pump();
  while (h.transport.ack_all() > 0) h.pump();
  CHECK(h.transport.payloads() == numbered(0, 7));
}

std::size_t duplicates(const std::vector<std::string>& payloads) {
  std::set<std::string> seen(payloads.begin(), payloads.end());
  return payloads.size() - seen.size();
}

TEST_CASE("journal mode sends no message twice without a failure") {
  LoopHarness h([](WorkerConfig& c) {
    c.durability = Durability::journal;
    c.max_inflight = 8;
  });
  h.pump();
  // The application publishes while the loop is filling its window from the cache.
  h.transport.on_send = [&](std::size_t i) {
    if (i == 0) h.publish_numbered(3, 1, 10);
  };
  h.publish_numbered(2);
  for (int i = 0; i < 10; ++i) {
    h.pump();
    h.transport.ack_all();
  }
  h.pump();
  CHECK(duplicates(h.transport.payloads()) == 0);
  CHECK(h.transport.payloads() ==
        std::vector<std::string>{"0", "1", "10", "11", "12"});
  CHECK(h.ring_empty());
}

TEST_CASE("the backlog spool lets the window drain first instead of sending its messages again") {
  LoopHarness h([](WorkerConfig& c) {
    c.queue_cache_threshold = 10;
    c.max_inflight = 4;
  }, 64u << 10);
  h.pump();
  const std::string payload(1000, 'x');
  int n = 0;
  for (; n < 4; ++n) REQUIRE(h.publish(std::to_string(n) + payload));
  h.pump();
  REQUIRE(h.transport.sent.size() == 4);  // in flight, not yet acknowledged
  while ((h.head() - h.tail()) < (40u << 10)) REQUIRE(h.publish(std::to_string(n++) + payload));
  h.pump();
  for (int i = 0; i < 200 && !(h.ring_empty() && h.status().cache_backlog.load() == 0); ++i) {
    h.transport.ack_all();
    h.pump();
  }
  CHECK(h.status().cached.load() > 0);  // the backlog rule did spool
  CHECK(duplicates(h.transport.payloads()) == 0);
  CHECK(h.transport.payloads().size() == static_cast<std::size_t>(n));
}

}  // namespace robustmq::test
