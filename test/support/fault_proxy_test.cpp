// Tests of the fault-injecting proxy: each fault must do what the fault tests rely on.
#include <doctest/doctest.h>

#include <string>

#include <testkit/fault_proxy.hpp>
#include <testkit/mosquitto.hpp>
#include <testkit/publisher.hpp>
#include <testkit/sequence.hpp>
#include <testkit/subscriber.hpp>

using namespace std::chrono_literals;
namespace tk = robustmq::testkit;
using Clock = std::chrono::steady_clock;

namespace {

// A broker, a subscriber connected to it directly, and a proxy in front of it.
struct Fixture {
  tk::Mosquitto broker;
  tk::Subscriber sub{broker.host(), broker.port(), "proxy/#"};
  tk::FaultProxy proxy{broker.port()};
  Fixture() { REQUIRE_MESSAGE(sub.wait_subscribed(10s), broker.log()); }
};

tk::PublisherOptions short_timeout() {
  tk::PublisherOptions o;
  o.connect_timeout = 2000ms;
  return o;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

TEST_CASE_FIXTURE(Fixture, "messages pass through the proxy in order") {
  tk::Publisher pub("127.0.0.1", proxy.port());
  for (std::uint64_t i = 0; i < 100; ++i) {
    REQUIRE(pub.publish("proxy/pass", tk::sequence_payload(i, 200)) == 0);
  }
  REQUIRE(sub.wait_for(100, 10s));
  CHECK(tk::check_in_order(tk::sequences(sub.messages()), 100) == "");
  CHECK(proxy.connections() == 1);
  CHECK(proxy.accepted() == 1);
  CHECK(proxy.bytes_forwarded() > 100 * 200);
}

TEST_CASE_FIXTURE(Fixture, "a blackhole drops the bytes but keeps the connection open") {
  tk::Publisher pub("127.0.0.1", proxy.port());
  REQUIRE(pub.publish("proxy/bh", "0") == 0);
  REQUIRE(sub.wait_for(1, 5s));

  proxy.blackhole(true);
  CHECK(pub.publish("proxy/bh", "1", 1, 500ms) != 0);  // no PUBACK comes back
  CHECK_FALSE(sub.wait_for(2, 500ms));
  CHECK(proxy.bytes_dropped() > 0);
  CHECK(proxy.connections() == 1);
  CHECK(pub.connected());
}

TEST_CASE_FIXTURE(Fixture, "reset_all kills the connection and the Paho client sees it lost") {
  tk::Publisher pub("127.0.0.1", proxy.port());
  REQUIRE(pub.publish("proxy/rst", "0") == 0);
  REQUIRE(proxy.connections() == 1);
  proxy.reset_all();
  CHECK(proxy.connections() == 0);
  CHECK(pub.wait_connection_lost(5s));
  CHECK_FALSE(pub.connected());
  CHECK(pub.publish("proxy/rst", "1") != 0);
}

TEST_CASE_FIXTURE(Fixture, "refuse_new resets new connections until it is turned off") {
  proxy.refuse_new(true);
  CHECK_THROWS(tk::Publisher("127.0.0.1", proxy.port(),
                             short_timeout()));
  CHECK(proxy.accepted() >= 1);
  CHECK(proxy.connections() == 0);
  proxy.refuse_new(false);
  tk::Publisher pub("127.0.0.1", proxy.port());
  CHECK(pub.publish("proxy/refuse", "0") == 0);
  CHECK(sub.wait_for(1, 5s));
}

TEST_CASE_FIXTURE(Fixture, "a connection to a stopped broker is reset") {
  broker.stop();
  CHECK_THROWS(tk::Publisher("127.0.0.1", proxy.port(),
                             short_timeout()));
  CHECK(proxy.accepted() >= 1);
  broker.start();
  tk::Publisher pub("127.0.0.1", proxy.port());
  CHECK(pub.publish("proxy/restart", "0") == 0);
}

TEST_CASE_FIXTURE(Fixture, "latency delays each direction") {
  tk::Publisher pub("127.0.0.1", proxy.port());
  auto t0 = Clock::now();
  REQUIRE(pub.publish("proxy/lat", "0") == 0);
  const double fast = seconds_since(t0);

  proxy.set_latency(100ms);
  t0 = Clock::now();
  REQUIRE(pub.publish("proxy/lat", "1") == 0);  // PUBLISH up, PUBACK down: two delays
  const double slow = seconds_since(t0);
  CHECK(slow >= 0.195);
  CHECK(slow < 2.0);
  CHECK(fast < 0.15);  // Paho adds up to ~100 ms of its own now and then

  proxy.set_latency(0ms);
  t0 = Clock::now();
  REQUIRE(pub.publish("proxy/lat", "2") == 0);
  CHECK(seconds_since(t0) < 0.15);
}

TEST_CASE_FIXTURE(Fixture, "bandwidth limits the bytes per second") {
  tk::Publisher pub("127.0.0.1", proxy.port());
  proxy.set_bandwidth(50'000);
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < 5; ++i) {
    REQUIRE(pub.publish("proxy/bw", tk::sequence_payload(i, 10'000)) == 0);
  }
  const double elapsed = seconds_since(t0);  // 50 kB at 50 kB/s
  CHECK(elapsed >= 0.9);
  CHECK(elapsed < 5.0);
  CHECK(sub.wait_for(5, 5s));
}

TEST_CASE_FIXTURE(Fixture, "a stall holds the bytes back and lets them flow when it ends") {
  tk::Publisher pub("127.0.0.1", proxy.port());
  proxy.stall(true);
  CHECK(pub.publish("proxy/stall", "0", 1, 300ms) != 0);  // still in flight
  CHECK(sub.count() == 0);
  proxy.stall(false);
  CHECK(sub.wait_for(1, 5s));
  CHECK(proxy.bytes_dropped() == 0);
}

TEST_CASE_FIXTURE(Fixture, "held replies: the broker has the message, its acknowledgement waits") {
  tk::Publisher pub("127.0.0.1", proxy.port());
  proxy.hold_replies(true);
  CHECK(pub.publish("proxy/hold", "0", 1, 300ms) != 0);  // no PUBACK within the timeout
  CHECK(sub.wait_for(1, 5s));                            // though the broker forwarded it
  proxy.hold_replies(false);
  CHECK(pub.publish("proxy/hold", "1") == 0);  // replies flow again on the same connection
  CHECK(sub.wait_for(2, 5s));
  CHECK(proxy.bytes_dropped() == 0);
}
