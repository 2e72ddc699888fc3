// Staging (worker/loop_stage.cpp): with one message in flight the ring's next record is staged
// with the transport, which sends it from the acknowledgement itself. The scripted transport
// does what Mqtt does (fake_transport.hpp): an acknowledgement (not a refusal) of the message
// a staged one waits for sends the staged one first, from the loop's views into the ring.
#include <doctest/doctest.h>


#include <chrono>
#include <set>

#include "test/worker/loop_harness.hpp"

namespace robustmq::test {
namespace {

using namespace std::chrono_literals;
using Link = worker::Loop::Link;

// No payload went twice on one connection.
bool nothing_twice_per_connection(const FakeTransport& t) {
  std::set<std::pair<int, std::string>> seen;
  for (const auto& s : t.sent)
    if (!seen.emplace(s.connection, s.payload).second) return false;
  return true;
}

// The payloads sent after the last connect, in order.
std::vector<std::string> sent_on_last_connection(const FakeTransport& t) {
  std::vector<std::string> out;
  for (const auto& s : t.sent)
    if (s.connection == t.connects) out.push_back(s.payload);
  return out;
}

// Sends and acknowledges everything, passes in between, until nothing is left (at most 100).
void deliver_the_rest(LoopHarness& h) {
  for (int i = 0; i < 100 && (h.transport.ack_all() > 0 || !h.ring_empty()); ++i) h.pump();
}

TEST_CASE("the staged message goes on the acknowledgement, once, and joins the window in order") {
  LoopHarness h;
  h.pump();
  h.publish_numbered(5);
  h.pump();
  REQUIRE(h.transport.sent.size() == 1);
  CHECK(h.transport.staged_payloads() == numbered(1, 5));
  for (std::size_t i = 0; i < 4; ++i) {
    h.transport.ack(i);
    // Sent by the transport before the loop took a single pass.
    REQUIRE(h.transport.sent.size() == i + 2);
    CHECK(h.transport.sent[i + 1].staged);
    h.pump();
    // The loop sent nothing itself: the staged message is the one in flight.
    CHECK(h.transport.sent.size() == i + 2);
    CHECK(h.loop->window().entries() == 1);
    CHECK(h.loop->window().oldest().send_id == h.transport.sent[i + 1].id);
    CHECK(h.status().sent.load() == i + 2);
    CHECK(h.transport.staged_payloads() == numbered(static_cast<int>(i) + 2, 5));
  }
  CHECK(h.transport.staged_payloads().empty());  // nothing left to stage
  h.transport.ack(4);
  h.pump();
  CHECK(h.transport.payloads() == numbered(0, 5));
  CHECK(h.ring_empty());
  CHECK(h.status().acknowledged.load() == 5);
  CHECK(h.delivered() == 5);
}

TEST_CASE("a chain: each staged message goes on the acknowledgement of the one before") {
  LoopHarness h;
  h.pump();
  h.publish_numbered(20);
  h.pump();
  REQUIRE(h.transport.sent.size() == 1);
  CHECK(h.transport.staged_payloads() == numbered(1, 9));  // at most 8 ahead
  for (std::size_t i = 0; i < 3; ++i) h.transport.ack(i);  // no pass in between
  REQUIRE(h.transport.payloads() == numbered(0, 4));
  CHECK(h.transport.sent[3].staged);
  h.pump();
  CHECK(h.transport.sent.size() == 4);
  CHECK(h.loop->window().entries() == 1);
  CHECK(h.loop->window().oldest().send_id == h.transport.sent[3].id);
  CHECK(h.status().sent.load() == 4);
  CHECK(h.status().acknowledged.load() == 3);
  CHECK(h.delivered() == 3);
  CHECK(h.transport.staged_payloads() == numbered(4, 12));
  SUBCASE("a send failing mid-chain takes the link down; the rest goes after the reconnect") {
    h.transport.ack(3);
    h.transport.send_rc = -1;
    h.transport.ack(4);
    CHECK(h.transport.sent.size() == 5);
    h.pump();
    CHECK(h.loop->link() == Link::backoff);
    CHECK(h.status().acknowledged.load() == 5);
    h.transport.send_rc = 0;
    h.time.advance(h.config.reconnect_max);
    h.pump();
  }
  SUBCASE("a loss mid-chain") {
    h.transport.ack(3);
    h.transport.ack(4);
    h.transport.drop_link("reset");
    h.pump();
    CHECK(h.loop->link() == Link::backoff);
    h.time.advance(h.config.reconnect_max);
    h.pump();
  }
  deliver_the_rest(h);
  CHECK(nothing_twice_per_connection(h.transport));
  std::vector<std::string> once;
  for (const auto& p : h.transport.payloads())
    if (once.empty() || std::stoi(p) > std::stoi(once.back())) once.push_back(p);
  CHECK(once == numbered(0, 20));  // in order, nothing lost
  CHECK(h.ring_empty());
  CHECK(h.delivered() == 20);
}

TEST_CASE("without staging in the transport the loop sends the same, in the same order") {
  LoopHarness h;
  h.transport.staging = false;
  h.pump();
  h.publish_numbered(5);
  h.pump();
  deliver_the_rest(h);
  CHECK(h.transport.payloads() == numbered(0, 5));
  CHECK(h.transport.stages == 0);
  CHECK(h.ring_empty());
}

TEST_CASE("a record published after the pass is not staged; the loop sends it after the ack") {
  LoopHarness h;
  h.pump();
  h.publish_numbered(1);
  h.pump();
  CHECK(h.transport.staged_payloads().empty());
  h.publish_numbered(1, 1, 1);
  h.transport.ack(0);
  CHECK(h.transport.sent.size() == 1);
  h.pump();
  REQUIRE(h.transport.sent.size() == 2);
  CHECK(!h.transport.sent[1].staged);
  CHECK(h.transport.payloads() == numbered(0, 2));
}

TEST_CASE("a refusal does not send the staged message; the order holds") {
  SUBCASE("for good: the loop itself sends the next one") {
    LoopHarness h;
    h.pump();
    h.publish_numbered(3);
    h.pump();
    REQUIRE(h.transport.staged_payloads() == numbered(1, 3));
    h.transport.ack(0, 0x87);
    CHECK(h.transport.sent.size() == 1);
    h.pump();
    REQUIRE(h.transport.sent.size() == 2);
    CHECK(!h.transport.sent[1].staged);
    deliver_the_rest(h);
    CHECK(h.transport.payloads() == numbered(0, 3));
    CHECK(h.status().refused.load() == 1);
  }
  SUBCASE("for now: the refused message goes again first, after the backoff") {
    LoopHarness h;
    h.pump();
    h.publish_numbered(3);
    h.pump();
    REQUIRE(h.transport.staged_payloads() == numbered(1, 3));
    h.transport.ack(0, 0x97);  // quota exceeded
    CHECK(h.transport.sent.size() == 1);
    h.pump();
    CHECK(h.transport.sent.size() == 1);
    h.time.advance(h.config.reconnect_max);
    h.pump();
    deliver_the_rest(h);
    CHECK(h.transport.payloads() == std::vector<std::string>{"0", "0", "1", "2"});
  }
}

TEST_CASE("a loss with a message staged sends nothing twice on a connection and loses nothing") {
  LoopHarness h;
  h.pump();
  h.publish_numbered(4);
  h.pump();
  REQUIRE(h.transport.staged_payloads() == numbered(1, 4));
  std::vector<std::string> resent = numbered(0, 4);  // after the reconnect
  SUBCASE("the loss comes before the acknowledgement: the staged message is not sent") {
    h.transport.drop_link("reset");
    h.pump();
    CHECK(h.transport.sent.size() == 1);
  }
  SUBCASE("the acknowledgement sent it, then the loss") {
    h.transport.ack(0);
    h.transport.drop_link("reset");
    h.pump();
    CHECK(h.transport.sent.size() == 2);
    resent = numbered(1, 4);
  }
  SUBCASE("a late acknowledgement after the loss (a transport out of turn)") {
    h.transport.drop_link("reset");
    h.transport.ack(0);
    REQUIRE(h.transport.sent.size() == 2);
    h.pump();
    // The staged message never joined the window, but it was handed to the broker.
    CHECK(h.status().sent.load() == 2);
  }
  CHECK(h.loop->link() != Link::connected);
  h.time.advance(h.config.reconnect_max);
  h.pump();
  REQUIRE(h.loop->link() == Link::connected);
  deliver_the_rest(h);
  CHECK(nothing_twice_per_connection(h.transport));
  // After the last connect: everything not acknowledged before it, once, oldest first.
  CHECK(sent_on_last_connection(h.transport) == resent);
  CHECK(h.ring_empty());
  CHECK(h.delivered() == 4);
}

TEST_CASE("the staged message's send failing takes the link down; it is sent again later") {
  LoopHarness h;
  h.pump();
  h.publish_numbered(3);
  h.pump();
  REQUIRE(h.transport.staged_payloads() == numbered(1, 3));
  h.transport.send_rc = -1;
  h.transport.ack(0);
  CHECK(h.transport.sent.size() == 1);
  h.pump();
  CHECK(h.loop->link() == Link::backoff);
  CHECK(h.last_error().find("publish failed") != std::string::npos);
  CHECK(h.status().acknowledged.load() == 1);
  h.transport.send_rc = 0;
  h.time.advance(h.config.reconnect_max);
  h.pump();
  deliver_the_rest(h);
  CHECK(h.transport.payloads() == numbered(0, 3));
}

TEST_CASE("a staged message's failure queued before the acknowledgement that sent it") {
  // Paho's threads may queue the failure of the message an acknowledgement callback sent before
  // that callback queues the acknowledgement: the link goes down at that pass, not after
  // cache_timeout.
  LoopHarness h([](WorkerConfig& c) { c.cache_timeout = 60000ms; });
  h.pump();
  h.publish_numbered(3);
  h.pump();
  REQUIRE(h.transport.staged_payloads() == numbered(1, 3));
  h.transport.on_send = [&](std::size_t k) { h.transport.fail_send(k, "broken pipe"); };
  h.transport.ack(0);
  h.transport.on_send = nullptr;
  REQUIRE(h.transport.sent.size() == 2);
  h.pump();
  CHECK(h.loop->link() == Link::backoff);
  CHECK(h.last_error().find("broken pipe") != std::string::npos);
  CHECK(h.status().acknowledged.load() == 1);
  h.time.advance(h.config.reconnect_max);
  h.pump();
  REQUIRE(h.loop->link() == Link::connected);
  deliver_the_rest(h);
  CHECK(sent_on_last_connection(h.transport) == numbered(1, 3));
  CHECK(nothing_twice_per_connection(h.transport));
  CHECK(h.delivered() == 3);
}

TEST_CASE("a staged message's acknowledgement timeout counts from its send, not its adoption") {
  LoopHarness h([](WorkerConfig& c) { c.cache_timeout = 1000ms; });
  h.pump();
  h.publish_numbered(3);
  h.pump();
  h.transport.ack(0);  // "1" goes now, from the transport's thread
  REQUIRE(h.transport.sent.size() == 2);
  h.time.advance(600ms);  // the loop's thread is slow to take its next pass
  h.pump();
  REQUIRE(h.loop->window().oldest().send_id == h.transport.sent[1].id);
  CHECK(h.loop->link() == Link::connected);
  h.time.advance(401ms);  // 1001 ms since "1" went
  h.step();
  CHECK(h.loop->link() == Link::backoff);
  CHECK(h.last_error().find("no acknowledgement within 1000 ms") != std::string::npos);
  h.time.advance(h.config.reconnect_max);
  h.pump();
  deliver_the_rest(h);
  CHECK(h.delivered() == 3);
}

TEST_CASE("an acknowledgement timeout with a message staged: spooled, never sent from the ring") {
  LoopHarness h([](WorkerConfig& c) { c.cache_timeout = 1000ms; });
  h.pump();
  h.publish_numbered(3);
  h.pump();
  REQUIRE(h.transport.staged_payloads() == numbered(1, 3));
  h.time.advance(1001ms);
  h.step();
  CHECK(h.loop->link() == Link::backoff);
  CHECK(h.cached_payloads() == numbered(0, 3));
  CHECK(h.transport.staged_payloads().empty());
  h.transport.ack(0);  // late: the staged record is gone from the ring, nothing may go
  CHECK(h.transport.sent.size() == 1);
  h.time.advance(h.config.reconnect_max);
  h.pump();
  deliver_the_rest(h);
  CHECK(h.transport.payloads() == std::vector<std::string>{"0", "0", "1", "2"});
  CHECK(nothing_twice_per_connection(h.transport));
  CHECK(h.status().cache_backlog.load() == 0);
}

TEST_CASE("stop with a message staged: what went joins the window, the rest is spooled") {
  LoopHarness h;
  h.pump();
  h.publish_numbered(4);
  h.pump();
  REQUIRE(h.transport.staged_payloads() == numbered(1, 4));
  h.request_stop();
  h.transport.ack(0);  // before the loop saw the stop: the staged one goes
  REQUIRE(h.transport.sent.size() == 2);
  CHECK(h.step());  // settling: "1" is in flight
  CHECK(h.loop->window().entries() == 1);
  CHECK(h.transport.staged_payloads().empty());
  h.transport.ack(1);
  CHECK(!h.step());
  CHECK(h.transport.payloads() == numbered(0, 2));
  CHECK(h.cached_payloads() == numbered(2, 4));
  CHECK(h.ring_empty());
  h.loop->finish();
}

TEST_CASE("flush with a message staged: nothing twice, nothing lost") {
  LoopHarness h([](WorkerConfig& c) { c.cache_timeout = 5000ms; });
  h.pump();
  h.publish_numbered(4);
  h.pump();
  REQUIRE(h.transport.staged_payloads() == numbered(1, 4));
  h.request_flush();
  SUBCASE("acknowledged before the loop saw the flush") {
    h.transport.ack(0);
    h.pump();
    h.transport.ack(1);
    h.pump();
    CHECK(h.cached_payloads() == numbered(2, 4));
  }
  SUBCASE("acknowledged after it: the settle time holds the staged one back") {
    h.pump();
    h.transport.ack(0);
    CHECK(h.transport.sent.size() == 1);
    h.pump();
    CHECK(h.cached_payloads() == numbered(1, 4));
  }
  CHECK(h.ring_empty());
  deliver_the_rest(h);
  CHECK(h.transport.payloads() == numbered(0, 4));
  CHECK(h.status().cache_backlog.load() == 0);
}

TEST_CASE("a staged message that expired before its turn is not sent; the loop drops it") {
  LoopHarness h([](WorkerConfig& c) { c.message_ttl = std::chrono::seconds(10); });
  h.transport.message_ttl = h.config.message_ttl;
  h.pump();
  h.publish_numbered(2);     // "0" and "1" at t = 0
  h.time.advance(6000ms);
  h.publish_numbered(1, 1, 2);  // "2" at t = 6 s
  h.pump();
  REQUIRE(h.transport.payloads() == numbered(0, 1));
  REQUIRE(h.transport.staged_payloads() == numbered(1, 3));
  h.time.advance(5000ms);  // t = 11 s: "0" and "1" are older than message_ttl, "2" is not
  h.transport.ack(0);      // "0" was sent in time; "1" is not sent, nor "2" behind it
  CHECK(h.transport.sent.size() == 1);
  h.pump();
  deliver_the_rest(h);
  CHECK(h.transport.payloads() == std::vector<std::string>{"0", "2"});
  CHECK(h.status().dropped_expired.load() == 1);
  CHECK(h.status().acknowledged.load() == 2);
  CHECK(h.delivered() == 3);  // every fate settled through "2": "1"'s is its drop
  CHECK(h.ring_empty());
}

TEST_CASE("a chain ends before a QoS 0 record; QoS 2 staged and lost re-opens a clean session") {
  SUBCASE("QoS 0 in the middle") {
    LoopHarness h;
    h.pump();
    h.publish_numbered(3);
    h.publish_numbered(1, 0, 3);
    h.publish_numbered(2, 1, 4);
    h.pump();
    CHECK(h.transport.staged_payloads() == numbered(1, 3));
    deliver_the_rest(h);
    CHECK(h.transport.payloads() == numbered(0, 6));
    CHECK(h.ring_empty());
  }
  SUBCASE("QoS 2 sent by the transport, its acknowledgement handled after a loss") {
    LoopHarness h;
    h.pump();
    h.publish_numbered(1, 1);     // "0" in flight is QoS 1: the loss cuts no handshake of its own
    h.publish_numbered(2, 2, 1);  // "1" and "2" QoS 2, staged
    h.pump();
    REQUIRE(h.transport.staged_payloads() == numbered(1, 3));
    h.transport.drop_link("reset");
    h.transport.ack(0);  // out of turn: "1" goes, its handshake is then cut by the loss
    REQUIRE(h.transport.sent.size() == 2);
    h.pump();
    h.time.advance(h.config.reconnect_max);
    h.pump();
    REQUIRE(h.loop->link() == Link::connected);
    CHECK(h.transport.last_start_clean);
    deliver_the_rest(h);
    CHECK(h.delivered() == 3);
  }
}

TEST_CASE("nothing is staged behind the cache's backlog, in journal mode, or for QoS 0") {
  SUBCASE("journal") {
    LoopHarness h([](WorkerConfig& c) { c.durability = Durability::journal; });
    h.pump();
    h.publish_numbered(3);
    h.pump();
    deliver_the_rest(h);
    CHECK(h.transport.payloads() == numbered(0, 3));
    CHECK(h.transport.stages == 0);
  }
  SUBCASE("QoS 0") {
    LoopHarness h;
    h.pump();
    h.publish_numbered(3, 0);
    h.pump();
    CHECK(h.transport.stages == 0);
  }
  SUBCASE("the cache's backlog goes first; the ring's records are staged behind it") {
    LoopHarness h;
    h.transport.accept_connects = false;
    h.pump();
    h.transport.connect_failed("refused");
    h.pump();
    h.publish_numbered(3);
    h.pump();
    REQUIRE(h.cached_payloads() == numbered(0, 3));
    h.transport.accept_connects = true;
    h.time.advance(h.config.reconnect_max);
    h.pump();
    REQUIRE(h.loop->link() == Link::connected);
    h.publish_numbered(2, 1, 3);
    h.pump();
    CHECK(h.transport.stages == 0);
    deliver_the_rest(h);
    CHECK(h.transport.payloads() == numbered(0, 5));
    CHECK(h.transport.stages >= 1);  // the last cached message in flight, "3" staged behind it
  }
}

}  // namespace
}  // namespace robustmq::test
