// MQTT 5 refusals (README "MQTT 5 refusals") against a real mosquitto, through a real socket.
// Mosquitto refuses only what its ACL denies, and never with "not now": the fault proxy gives
// chosen PUBACKs another reason code (FaultProxy::rewrite_pubacks()) while the broker itself
// accepted the message. So the subscriber sees every message the worker sent, also the refused
// ones, and a message sent again arrives again.
//
// The connection stays up through a refusal: neither Paho nor the worker closes it, so every
// count here is exact. (After a refusal of its own, mosquitto 2.0.16 and later, and Debian's
// 2.0.11, close the connection when max_queued_messages is 0, as the testkit sets it: the ACL
// test in test_connection.cpp sees that. The proxy's refusals leave the broker out of it.)
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <testkit/fault_proxy.hpp>

#include "helpers.hpp"
#include "proto/drop_journal.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

// The records of the cache directory's drop journal; none if the worker never created it.
std::vector<journal::Record> drop_records(const std::filesystem::path& cache) {
  std::error_code ec;
  auto reader = journal::Reader::open(cache, ec);
  if (!reader) {
    REQUIRE_MESSAGE(ec == std::errc::no_such_file_or_directory, ec.message());
    return {};
  }
  return reader->all();
}

// How often the subscriber received the message numbered `seq`.
std::size_t arrivals(const testkit::Subscriber& sub, std::uint64_t seq) {
  const auto got = testkit::sequences(sub.messages());
  return static_cast<std::size_t>(std::count(got.begin(), got.end(), seq));
}

// A broker, a subscriber on it directly, and the proxy an MQTT 5 client connects through.
struct Setup {
  testkit::Mosquitto broker;
  testkit::Subscriber sub{broker.host(), broker.port(), "it/refuse/#"};
  testkit::FaultProxy proxy{broker.port()};
  testkit::TempDir dir;
  Setup() { REQUIRE_MESSAGE(sub.wait_subscribed(), broker.log()); }

  Options options(const std::string& id, std::size_t max_inflight) const {
    Options o = client_options(dir / "cache", id);
    o.mqtt_version = MqttVersion::v5;
    o.max_inflight = max_inflight;
    o.reconnect_min = 50ms;
    return o;
  }

  // Publishes messages 0..n-1 on `topic` through the proxy, waits until the client has
  // delivered them all and the subscriber has them in order; returns their sequence numbers.
  // Published at once, they mostly wait in the disk cache while the worker connects; published
  // once it is connected, they are mostly sent from the ring.
  std::vector<std::uint64_t> deliver(RobustClient& client, const std::string& topic,
                                     std::uint64_t n, bool once_connected = false) {
    client.connect_async("127.0.0.1", proxy.port());
    if (once_connected) REQUIRE(wait_connected(client, 30s));
    std::vector<std::uint64_t> seqs;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint64_t seq = 0;
      REQUIRE_FALSE(client.publish(topic, testkit::sequence_payload(i), 1, false, seq));
      seqs.push_back(seq);
    }
    const auto ec = client.wait_delivered(60s);
    REQUIRE_MESSAGE(!ec, ec.message(), "; ", describe(client.stats()));
    CHECK(client.delivered_through() == seqs.back());
    const auto problem = wait_in_order(sub, n, 30s);
    CHECK_MESSAGE(problem.empty(), problem, "; ", describe(client.stats()));
    return seqs;
  }
};

}  // namespace

TEST_CASE("MQTT 5: a refusal that means 'not now' (0x97) is sent again, in order, and drops "
          "nothing") {
  Setup s;
  // From the first PUBACK on: the first message is refused while up to seven after it are in
  // flight. Their PUBACKs follow, and the next two are rewritten too, but the hold abandoned
  // those sends: the refusal of an abandoned send is stale and not counted. How many of the
  // three rewrites meet a live send depends on how many sends were in flight at each, so
  // refused_for_now is 1 to 3; the first is certain.
  s.proxy.rewrite_pubacks(3, 0x97);
  RobustClient client(s.options("refuse-now", 8));
  const std::uint64_t n = 200;
  bool once_connected = false;
  SUBCASE("published at once") {}
  SUBCASE("published once connected") { once_connected = true; }
  s.deliver(client, "it/refuse/now", n, once_connected);
  CHECK(s.proxy.pubacks_rewritten() == 3);
  const Stats st = client.stats();
  REQUIRE_MESSAGE(st.reconnects == 0, describe(st));
  CHECK_MESSAGE(st.refused_for_now >= 1, describe(st));
  CHECK_MESSAGE(st.refused_for_now <= 3, describe(st));
  CHECK_MESSAGE(st.refused == 0, describe(st));
  CHECK_MESSAGE(st.acknowledged == n, describe(st));  // once each: stale answers do not count
  CHECK_MESSAGE(st.sent > n, describe(st));
  // The broker had it; it was sent again all the same.
  CHECK(wait_until([&] { return arrivals(s.sub, 0) >= 2; }, 10s));
  CHECK(drop_records(s.dir / "cache").empty());
  client.stop();
}

TEST_CASE("MQTT 5: each 'not now' of a message alone in flight is counted, and it is sent "
          "again each time") {
  Setup s;
  std::uint8_t code = 0x97;  // quota exceeded
  SUBCASE("0x89 server busy") { code = 0x89; }
  SUBCASE("0x91 packet identifier in use") { code = 0x91; }
  SUBCASE("0x97 quota exceeded") {}
  CAPTURE(static_cast<int>(code));
  // With one message in flight every PUBACK answers the live send, so each rewrite is a
  // refusal the worker sees: the first message is refused three times (backoff 50, 100, 200 ms)
  // and goes a fourth time.
  s.proxy.rewrite_pubacks(3, code);
  RobustClient client(s.options("refuse-now-alone", 1));
  const std::uint64_t n = 20;
  s.deliver(client, "it/refuse/alone", n);
  CHECK(s.proxy.pubacks_rewritten() == 3);
  const Stats st = client.stats();
  REQUIRE_MESSAGE(st.reconnects == 0, describe(st));
  CHECK_MESSAGE(st.refused_for_now == 3, describe(st));
  CHECK_MESSAGE(st.refused == 0, describe(st));
  CHECK_MESSAGE(st.acknowledged == n, describe(st));
  CHECK_MESSAGE(st.sent == n + 3, describe(st));  // the first message four times, no other again
  CHECK(wait_until([&] { return arrivals(s.sub, 0) >= 4; }, 10s));
  CHECK(drop_records(s.dir / "cache").empty());
  client.stop();
}

TEST_CASE("MQTT 5: a refusal for good (0x87, 0x80) retires the message, records it and goes on") {
  Setup s;
  std::uint8_t code = 0x87;  // not authorized
  SUBCASE("0x87 not authorized") {}
  SUBCASE("0x80 unspecified error, the lowest refusal") { code = 0x80; }
  CAPTURE(static_cast<int>(code));
  s.proxy.rewrite_pubacks(1, code);  // the first PUBACK: the first message's
  RobustClient client(s.options("refuse-good", 8));
  const std::uint64_t n = 50;
  // Delivered in order, the refused message too: the broker had every message (the refusal
  // was the proxy's). delivered_through() passes the retired one.
  const auto seqs = s.deliver(client, "it/refuse/good", n);
  CHECK(s.proxy.pubacks_rewritten() == 1);
  const Stats st = client.stats();
  REQUIRE_MESSAGE(st.reconnects == 0, describe(st));
  CHECK_MESSAGE(st.refused == 1, describe(st));
  CHECK_MESSAGE(st.acknowledged == n - 1, describe(st));
  CHECK_MESSAGE(st.refused_for_now == 0, describe(st));
  const auto records = drop_records(s.dir / "cache");
  REQUIRE(records.size() == 1);
  CHECK(records[0].first == seqs[0]);
  CHECK(records[0].last == seqs[0]);
  CHECK(records[0].reason == journal::Reason::refused);
  CHECK(records[0].code == code);
  CHECK_MESSAGE(st.sent == n, describe(st));  // none sent again, the refused one neither
  client.stop();
}
