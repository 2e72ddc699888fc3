// The link's rules (worker/loop_link.cpp): a refusal that retrying does not cure, the backoff
// after it, the state a new worker starts in, and the broker's Receive Maximum.
#include <doctest/doctest.h>

#include "test/worker/loop_harness.hpp"

namespace robustmq::test {

using namespace std::chrono_literals;
using Link = worker::Loop::Link;

namespace {

ConnectionState state_of(LoopHarness& h) {
  return static_cast<ConnectionState>(h.status().state.load());
}

}  // namespace

TEST_CASE("a refused connect makes the state `refused` with the reason, the backoff jumps to "
          "reconnect_max, and nothing is dropped") {
  LoopHarness h([](WorkerConfig& c) {
    c.reconnect_min = 100ms;
    c.reconnect_max = 10'000ms;
  });
  h.transport.accept_connects = false;
  h.publish_numbered(5);
  h.transport.refuse_connect("connection refused: bad user name or password");
  h.pump();
  CHECK(h.loop->link() == Link::backoff);
  CHECK(state_of(h) == ConnectionState::refused);
  CHECK(h.last_error().find("bad user name or password") != std::string::npos);
  CHECK(h.status().cache_backlog.load() == 5);  // spooled, as for any outage
  // The next attempt comes after reconnect_max / 2 .. reconnect_max (jitter), not reconnect_min.
  const auto next_attempt_after_reconnect_max = [&h](int attempts) {
    h.time.advance(4'999ms);
    h.pump();
    CHECK(h.transport.connects == attempts);
    h.time.advance(5'001ms);
    h.pump();
    REQUIRE(h.transport.connects == attempts + 1);
  };
  next_attempt_after_reconnect_max(1);
  // The state stays `refused` through the attempt, and the next refusal waits as long again.
  CHECK(state_of(h) == ConnectionState::refused);
  h.transport.refuse_connect("connection refused: bad user name or password");
  h.pump();
  next_attempt_after_reconnect_max(2);

  SUBCASE("a connect that succeeds resets the backoff; the cache drains") {
    h.transport.connected();
    h.pump();
    CHECK(h.loop->link() == Link::connected);
    CHECK(state_of(h) == ConnectionState::connected);
    while (h.transport.ack_all() > 0) h.pump();
    CHECK(h.transport.payloads() == numbered(0, 5));
    h.transport.drop_link("reset");
    h.pump();
    h.time.advance(100ms);  // reconnect_min again
    h.pump();
    CHECK(h.transport.connects == 4);
  }
  SUBCASE("a failure of another kind (the broker away) makes it `disconnected`") {
    h.transport.connect_failed("connection refused");
    h.pump();
    CHECK(state_of(h) == ConnectionState::disconnected);
    h.time.advance(10'000ms);
    h.pump();
    CHECK(h.transport.connects == 4);
    CHECK(state_of(h) == ConnectionState::connecting);
  }
}

TEST_CASE("a new worker starts in `connecting`: the state of its predecessor is not read as its "
          "own") {
  LoopHarness h;
  h.transport.accept_connects = false;
  h.transport.refuse_connect("connection refused: not authorized");
  h.pump();
  REQUIRE(state_of(h) == ConnectionState::refused);
  h.restart_worker();  // as after the worker was killed: the segment keeps `refused`
  CHECK(state_of(h) == ConnectionState::connecting);
}

TEST_CASE("MQTT 5: the broker's Receive Maximum bounds the window below max_inflight, per "
          "connection") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 10; });
  h.transport.receive_maximum = 3;
  h.pump();
  REQUIRE(h.loop->link() == Link::connected);
  h.publish_numbered(20);
  h.pump();
  CHECK(h.transport.sent.size() == 3);
  h.transport.ack(0);
  h.pump();
  CHECK(h.transport.sent.size() == 4);
  // A broker that names none (or more than max_inflight): max_inflight.
  h.transport.drop_link("reset");
  h.pump();
  h.transport.receive_maximum = 0;
  const std::size_t before = h.transport.sent.size();
  h.time.advance(h.config.reconnect_max);
  h.pump();
  REQUIRE(h.loop->link() == Link::connected);
  CHECK(h.transport.sent.size() - before == 10);
}

}  // namespace robustmq::test

namespace robustmq::test {

TEST_CASE("with several servers a refusal by one moves on to the next with the usual backoff; "
          "`refused` comes once every server refused in a row") {
  LoopHarness h([](WorkerConfig& c) {
    c.reconnect_min = 100ms;
    c.reconnect_max = 10'000ms;
    c.servers = {"tcp://a:1883", "tcp://b:1883"};
  });
  h.transport.accept_connects = false;
  h.publish_numbered(3);
  h.transport.refuse_connect("connection refused: not authorized");
  h.pump();
  CHECK(state_of(h) == ConnectionState::disconnected);  // the next server may let it in
  h.time.advance(100ms);  // reconnect_min, not reconnect_max
  h.pump();
  REQUIRE(h.transport.connects == 2);
  h.transport.refuse_connect("connection refused: not authorized");
  h.pump();
  CHECK(state_of(h) == ConnectionState::refused);  // both refused
  h.time.advance(4'999ms);
  h.pump();
  CHECK(h.transport.connects == 2);  // now every reconnect_max / 2 .. reconnect_max
  h.time.advance(5'001ms);
  h.pump();
  CHECK(h.transport.connects == 3);
  // A server that lets the client in ends it.
  h.transport.connected();
  h.pump();
  CHECK(state_of(h) == ConnectionState::connected);
  while (h.transport.ack_all() > 0) h.pump();
  CHECK(h.transport.payloads() == numbered(0, 3));
}

TEST_CASE("a paced drain: the cache goes at drain_rate messages per second, a burst of 50 ms "
          "after a pause, and the ring waits behind it") {
  LoopHarness h([](WorkerConfig& c) {
    c.max_inflight = 100;
    c.drain_rate_messages = 100;  // one per 10 ms; the burst: 50 ms of it, 5 more at once
  });
  h.transport.accept_connects = false;
  h.pump();
  h.publish_numbered(30);
  h.pump();
  REQUIRE(h.status().cache_backlog.load() == 30);  // spooled: the broker is away
  h.transport.connected();  // the broker answers the attempt at last
  h.pump();
  REQUIRE(h.loop->link() == Link::connected);
  CHECK(h.transport.sent.size() == 6);
  // The loop wakes when the next one may go, not before.
  REQUIRE(h.loop->next_deadline().has_value());
  CHECK(*h.loop->next_deadline() - h.time.now() == 10ms);
  h.publish_numbered(5, 1, 30);  // live messages: behind the backlog
  h.transport.ack_all();
  h.time.advance(9ms);
  h.pump();
  CHECK(h.transport.sent.size() == 6);
  h.time.advance(1ms);
  h.pump();
  CHECK(h.transport.sent.size() == 7);
  for (int i = 0; i < 23; ++i) {
    h.transport.ack_all();
    h.time.advance(10ms);
    h.pump();
  }
  // 30 cached in 6 + 24 steps of 10 ms; the ring's 5 follow at once: they are not paced.
  CHECK(h.transport.sent.size() == 35);
  CHECK(h.transport.payloads() == numbered(0, 35));
  h.transport.ack_all();
  h.pump();
  CHECK(h.ring_empty());
}

TEST_CASE("a paced drain with live messages waiting in the ring: the worker sleeps until the "
          "next cached message may go, instead of spinning") {
  LoopHarness h([](WorkerConfig& c) {
    c.max_inflight = 100;
    c.drain_rate_messages = 100;
  });
  h.transport.accept_connects = false;
  h.pump();
  h.publish_numbered(30);
  h.pump();
  REQUIRE(h.status().cache_backlog.load() == 30);
  h.transport.connected();
  h.pump();
  REQUIRE(h.transport.sent.size() == 6);  // the burst; the rest waits for the bucket
  h.publish_numbered(5, 1, 30);           // live: the ring holds records the loop could read
  h.pump();
  REQUIRE(h.transport.sent.size() == 6);
  // Nothing may go before the bucket refills: wait_for_work() must reach its poll() (which
  // counts a wake-up), not return at once because the ring holds records.
  const auto wakeups = h.status().worker_wakeups.load();
  h.loop->wait_for_work(std::chrono::milliseconds(0));
  CHECK(h.status().worker_wakeups.load() == wakeups + 1);
}

TEST_CASE("a paced drain in bytes per second: a message larger than the burst goes when the "
          "bucket is full, and the next waits for the debt") {
  LoopHarness h([](WorkerConfig& c) {
    c.max_inflight = 100;
    c.drain_rate_bytes = 1000;  // the burst: 50 bytes
  });
  h.transport.accept_connects = false;
  h.pump();
  const std::string big(494, 'x');  // + the topic "t/loop": 500 bytes, half a second
  REQUIRE(h.publish(big));
  REQUIRE(h.publish(big));
  h.pump();
  REQUIRE(h.status().cache_backlog.load() == 2);
  h.transport.connected();
  h.pump();
  CHECK(h.transport.sent.size() == 1);
  h.time.advance(449ms);
  h.pump();
  CHECK(h.transport.sent.size() == 1);
  h.time.advance(1ms);  // 500 ms of debt less the 50 ms burst
  h.pump();
  CHECK(h.transport.sent.size() == 2);
}

TEST_CASE("no drain_rate: the cache goes as fast as the window allows") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 100; });
  h.transport.accept_connects = false;
  h.pump();
  h.publish_numbered(30);
  h.pump();
  REQUIRE(h.status().cache_backlog.load() == 30);
  h.transport.connected();
  h.pump();
  CHECK(h.transport.sent.size() == 30);
}

}  // namespace robustmq::test
