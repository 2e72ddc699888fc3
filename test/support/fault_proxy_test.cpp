// Tests of the fault-injecting proxy: each fault must do what the fault tests rely on.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <testkit/fault_proxy.hpp>
#include <testkit/mosquitto.hpp>
#include <testkit/mqtt_framing.hpp>
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

// --- PUBACK rewrite ---------------------------------------------------------------------------

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

// A broker→client MQTT 5 stream with every layout the rewrite meets, and bytes that look like a
// PUBACK's first byte (0x40) inside other packets.
struct Stream {
  std::string in;        // as the broker sends it
  std::string rewritten;  // with the first three PUBACKs given 0x97
};

Stream sample_stream() {
  const std::string connack = bytes({0x20, 0x03, 0x00, 0x00, 0x00});
  // A PUBLISH of 20,000 bytes (three bytes of remaining length), full of 0x40.
  std::string publish = bytes({0x32, 0xa0, 0x9c, 0x01, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07,
                               0x00});
  publish.append(20'000 - 8, '\x40');
  REQUIRE(publish.size() == 4 + 20'000);
  const std::string bare = bytes({0x40, 0x02, 0x00, 0x01});          // success, reason omitted
  const std::string with_reason = bytes({0x40, 0x03, 0x00, 0x02, 0x10});  // no matching subscribers
  const std::string with_props =
      bytes({0x40, 0x0a, 0x00, 0x03, 0x00, 0x06, 0x1f, 0x00, 0x03, 'o', 'k', '!'});
  const std::string pingresp = bytes({0xd0, 0x00});
  const std::string last = bytes({0x40, 0x02, 0x01, 0x00});

  Stream s;
  s.in = connack + publish + bare + pingresp + with_reason + with_props + publish + last;
  s.rewritten = connack + publish + bytes({0x40, 0x04, 0x00, 0x01, 0x97, 0x00}) + pingresp +
                bytes({0x40, 0x03, 0x00, 0x02, 0x97}) +
                bytes({0x40, 0x0a, 0x00, 0x03, 0x97, 0x06, 0x1f, 0x00, 0x03, 'o', 'k', '!'}) +
                publish + last;
  return s;
}

// Feeds `in` in pieces of the given sizes (the last one repeated); returns what came out.
std::string feed_split(tk::PubackRewriter& r, const std::string& in,
                       const std::vector<std::size_t>& sizes, bool armed,
                       const tk::PubackRewriter::Take& take) {
  std::string out;
  std::size_t at = 0;
  for (std::size_t k = 0; at < in.size(); ++k) {
    const std::size_t n = std::min(sizes[std::min(k, sizes.size() - 1)], in.size() - at);
    r.feed(std::string_view(in).substr(at, n), out, armed, take);
    at += n;
  }
  return out;
}

// A Take that rewrites `count` PUBACKs to `code`.
tk::PubackRewriter::Take rewrite(std::size_t& count, std::uint8_t code) {
  return [&count, code]() -> std::optional<std::uint8_t> {
    if (count == 0) return std::nullopt;
    --count;
    return code;
  };
}

}  // namespace

TEST_CASE("puback_with_reason keeps a reason's layout and adds one where it is omitted") {
  CHECK(tk::puback_with_reason(bytes({0x40, 0x02, 0x12, 0x34}), 0x97) ==
        bytes({0x40, 0x04, 0x12, 0x34, 0x97, 0x00}));
  CHECK(tk::puback_with_reason(bytes({0x40, 0x03, 0x12, 0x34, 0x00}), 0x87) ==
        bytes({0x40, 0x03, 0x12, 0x34, 0x87}));
  CHECK(tk::puback_with_reason(bytes({0x40, 0x04, 0x12, 0x34, 0x10, 0x00}), 0x91) ==
        bytes({0x40, 0x04, 0x12, 0x34, 0x91, 0x00}));
  // A remaining length written in two bytes (allowed, if wasteful) is read as such.
  CHECK(tk::puback_with_reason(bytes({0x40, 0x82, 0x00, 0x12, 0x34}), 0x97) ==
        bytes({0x40, 0x04, 0x12, 0x34, 0x97, 0x00}));
  CHECK_FALSE(tk::puback_with_reason(bytes({0x40, 0x01, 0x12}), 0x97));        // no identifier
  CHECK_FALSE(tk::puback_with_reason(bytes({0x40, 0x03, 0x12, 0x34}), 0x97));  // not whole
  CHECK_FALSE(tk::puback_with_reason(bytes({0x50, 0x02, 0x12, 0x34}), 0x97));  // a PUBREC
}

TEST_CASE("the PUBACK rewrite finds packets in a stream split anywhere") {
  const Stream s = sample_stream();
  const auto take_none = []() -> std::optional<std::uint8_t> { return std::nullopt; };

  SUBCASE("unarmed, every byte passes at once and unchanged") {
    for (std::size_t piece : {1, 2, 3, 5, 7, 4096, 65536}) {
      CAPTURE(piece);
      tk::PubackRewriter r;
      std::string out;
      for (std::size_t at = 0; at < s.in.size(); at += piece) {
        r.feed(std::string_view(s.in).substr(at, piece), out, false, take_none);
        REQUIRE(out == s.in.substr(0, std::min(s.in.size(), at + piece)));
      }
      CHECK(r.packets() == 8);
      CHECK_FALSE(r.lost());
    }
  }

  SUBCASE("armed, the first three PUBACKs get the code, split at every offset") {
    for (std::size_t cut = 1; cut < s.in.size(); cut += (cut < 20'100 && cut > 60) ? 997 : 1) {
      CAPTURE(cut);
      tk::PubackRewriter r;
      std::size_t count = 3;
      std::string out;
      r.feed(std::string_view(s.in).substr(0, cut), out, true, rewrite(count, 0x97));
      r.feed(std::string_view(s.in).substr(cut), out, true, rewrite(count, 0x97));
      REQUIRE(out == s.rewritten);
      CHECK(count == 0);
    }
  }

  SUBCASE("armed, in random pieces") {
    std::mt19937 rng(7);
    for (int round = 0; round < 200; ++round) {
      std::vector<std::size_t> sizes;
      for (int k = 0; k < 64; ++k) sizes.push_back(1 + rng() % (k % 2 ? 9 : 3000));
      tk::PubackRewriter r;
      std::size_t count = 3;
      REQUIRE(feed_split(r, s.in, sizes, true, rewrite(count, 0x97)) == s.rewritten);
      CHECK(r.packets() == 8);
    }
  }

  SUBCASE("armed with nothing left to rewrite, PUBACKs pass unchanged once whole") {
    tk::PubackRewriter r;
    CHECK(feed_split(r, s.in, {1}, true, take_none) == s.in);
  }

  SUBCASE("a count ends in the middle of the stream") {
    tk::PubackRewriter r;
    std::size_t count = 1;
    const std::string out = feed_split(r, s.in, {3}, true, rewrite(count, 0x97));
    const std::string first = bytes({0x40, 0x04, 0x00, 0x01, 0x97, 0x00});
    CHECK(out.size() == s.in.size() + 2);
    CHECK(out.find(first) != std::string::npos);
    CHECK(out.substr(out.find(first) + first.size()) ==
          s.in.substr(s.in.find(bytes({0x40, 0x02, 0x00, 0x01})) + 4));
  }

  SUBCASE("after lost bytes, everything passes unchanged") {
    tk::PubackRewriter r;
    std::string out;
    std::size_t count = 10;
    r.feed(bytes({0x20, 0x03, 0x00, 0x00, 0x00, 0x40, 0x02}), out, true, rewrite(count, 0x97));
    CHECK(out.size() == 5);                // the PUBACK's beginning is held
    CHECK(r.lose() == 2);                  // and dropped with the lost bytes
    CHECK(r.lost());
    out.clear();
    r.feed(s.in, out, true, rewrite(count, 0x97));
    CHECK(out == s.in);
    CHECK(count == 10);
  }

  SUBCASE("a remaining length of five bytes is not MQTT: the stream passes unchanged") {
    tk::PubackRewriter r;
    std::string out;
    std::size_t count = 10;
    const std::string junk = bytes({0x40, 0xff, 0xff, 0xff, 0xff, 0x01}) + s.in;
    for (char c : junk) r.feed(std::string_view(&c, 1), out, true, rewrite(count, 0x97));
    CHECK(out == junk);
    CHECK(r.lost());
  }
}

TEST_CASE_FIXTURE(Fixture, "rewrite_pubacks: an MQTT 5 client sees the broker refuse") {
  tk::PublisherOptions o;
  o.mqtt5 = true;
  tk::Publisher pub("127.0.0.1", proxy.port(), o);
  REQUIRE(pub.publish("proxy/puback", "0") == 0);

  proxy.rewrite_pubacks(2, 0x97);
  CHECK(pub.publish("proxy/puback", "1") == 0x97);
  CHECK(pub.publish("proxy/puback", "2") == 0x97);
  CHECK(proxy.pubacks_rewritten() == 2);
  CHECK(pub.publish("proxy/puback", "3") == 0);  // the count is spent

  proxy.rewrite_pubacks(1, 0x87);
  CHECK(pub.publish("proxy/puback", "4") == 0x87);
  CHECK(pub.publish("proxy/puback", "5") == 0);
  CHECK(proxy.pubacks_rewritten() == 3);

  // The broker accepted every one of them: the refusals were the proxy's.
  REQUIRE(sub.wait_for(6, 10s));
  CHECK(tk::check_in_order(tk::sequences(sub.messages()), 6) == "");
  CHECK(pub.connection_losses() == 0);
  CHECK(proxy.accepted() == 1);
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
