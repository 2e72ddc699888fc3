// Every bad input gets its own error; nothing already queued is affected.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <tuple>

#include "helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;

TEST_CASE("each invalid publish() gets its own error code and queued messages still arrive") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "it/bad/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "bad");
  o.ring_bytes = 64 << 10;
  RobustClient client(o);
  CHECK(client.publish("it/bad/x", "before connect", 1) == errc::not_connected);
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(client.publish("it/bad/seq", testkit::sequence_payload(0), 1));

  struct Row { std::string topic; std::size_t payload; int qos; errc expected; };
  const Row rows[] = {
      {"", 1, 1, errc::topic_empty},
      {"it/bad/+", 1, 1, errc::topic_wildcard},
      {"it/bad/#", 1, 1, errc::topic_wildcard},
      {std::string(65536, 'a'), 1, 1, errc::topic_too_long},
      {"it/bad/\xC3", 1, 1, errc::topic_invalid_utf8},
      {"it/bad/\xC0\xAF", 1, 1, errc::topic_invalid_utf8},
      {std::string("it/bad/\0x", 9), 1, 1, errc::topic_contains_nul},
      {"it/bad/q", 1, 3, errc::invalid_qos},
      {"it/bad/q", 1, -1, errc::invalid_qos},
      // A payload too large for the ring goes to a file (test_large.cpp); a topic too long for
      // even the file's reference record in a 64 KiB ring is refused.
      {"it/bad/" + std::string(40000, 't'), 1, 1, errc::payload_too_large},
  };
  for (const Row& r : rows) {
    CAPTURE(r.topic.substr(0, 20));
    const auto ec = client.publish(r.topic, std::string(r.payload, 'x'), r.qos);
    CHECK(ec == r.expected);
    CHECK_FALSE(ec.message().empty());
  }
  REQUIRE_FALSE(client.publish("it/bad/seq", testkit::sequence_payload(1), 1));
  CHECK(wait_distinct(sub, 2, 10s));
  CHECK(testkit::check_in_order(testkit::sequences(sub.messages()), 2).empty());
  CHECK(client.stats().published == 2);
  client.stop();
  CHECK(client.publish("it/bad/seq", "after stop", 1) == errc::stopped);
  CHECK(client.flush(10ms) == errc::stopped);
}

TEST_CASE("connect_async() with a cache path that cannot be created names the path") {
  testkit::TempDir dir;
  const auto file = dir / "not-a-dir";
  { FILE* f = std::fopen(file.c_str(), "w"); REQUIRE(f); std::fclose(f); }
  RobustClient client(client_options(file / "cache", "badpath"));
  try {
    client.connect_async("127.0.0.1", 1883);
    FAIL("connect_async() did not throw");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find(file.string()) != std::string::npos);
  }
}

TEST_CASE("connect_async() without a worker executable names the path it looked at") {
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "noworker");
  o.worker_path = dir / "no-such-worker";
  RobustClient client(o);
  try {
    client.connect_async("127.0.0.1", 1883);
    FAIL("connect_async() did not throw");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("no-such-worker") != std::string::npos);
  }
  CHECK(client.publish("it/x", "y", 1) == errc::not_connected);
}

TEST_CASE("a second live client on the same cache path is refused with the owner's pid") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  RobustClient first(client_options(dir / "cache", "owner"));
  first.connect_async(broker.host(), broker.port());
  RobustClient second(client_options(dir / "cache", "intruder"));
  try {
    second.connect_async(broker.host(), broker.port());
    FAIL("the second client was allowed in");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find(std::to_string(::getpid())) != std::string::npos);
  }
  first.stop();
}

TEST_CASE("invalid options are refused by connect_async() naming the option") {
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "opts");
  o.max_inflight = 70000;
  RobustClient a(o);
  CHECK_THROWS_WITH_AS(a.connect_async("127.0.0.1", 1883), doctest::Contains("max_inflight"),
                       std::system_error);
  RobustClient b(client_options(dir / "cache", "opts"));
  CHECK_THROWS_WITH_AS(b.connect_async("127.0.0.1", 0), doctest::Contains("mqtt_port"),
                       std::system_error);
  Options e = client_options(dir / "cache", "");
  RobustClient c(e);
  CHECK_THROWS_WITH_AS(c.connect_async("127.0.0.1", 1883), doctest::Contains("client_id"),
                       std::system_error);
  // Not UTF-8 after a '+' (a character a topic may not hold, a client id may).
  Options plus = client_options(dir / "cache", "id+\xff");
  RobustClient p(plus);
  CHECK_THROWS_WITH_AS(p.connect_async("127.0.0.1", 1883), doctest::Contains("client_id"),
                       std::system_error);
  // The value and the accepted range too.
  Options k = client_options(dir / "cache", "opts");
  k.keepalive = std::chrono::seconds(70000);
  RobustClient d(k);
  CHECK_THROWS_WITH_AS(d.connect_async("127.0.0.1", 1883),
                       doctest::Contains("Options::keepalive 70000 s is outside 0..65535 s"),
                       std::system_error);
  // A NUL would split a user property in two on its way to the worker.
  Options u = client_options(dir / "cache", "opts");
  u.mqtt_version = MqttVersion::v5;
  u.user_properties = {{"site", std::string("no\0rth", 6)}};
  RobustClient f(u);
  CHECK_THROWS_WITH_AS(f.connect_async("127.0.0.1", 1883),
                       doctest::Contains("Options::user_properties: a name or value contains NUL"),
                       std::system_error);
}

TEST_CASE("Options::session_expiry: MQTT 5 only, 0..4294967295 s") {
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "opts");
  o.session_expiry = std::chrono::seconds(60);  // MQTT 3.1.1
  auto [err, what] = connect_failure(o);
  CHECK(err == EINVAL);
  CHECK_MESSAGE(contains(what, "Options::session_expiry needs Options::mqtt_version = "
                               "MqttVersion::v5"), what);
  o.mqtt_version = MqttVersion::v5;
  for (const auto bad : {std::chrono::seconds(-1), kSessionNeverExpires + std::chrono::seconds(1)}) {
    o.session_expiry = bad;
    std::tie(err, what) = connect_failure(o);
    CHECK(err == EINVAL);
    CHECK_MESSAGE(contains(what, "Options::session_expiry " + std::to_string(bad.count()) +
                                     " s is outside 0..4294967295 s"), what);
  }
}

TEST_CASE("a payload larger than max_cache_bytes is refused even when it fits in the ring, and "
          "the cache keeps what it holds") {
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "bad-overcache");
  o.max_cache_bytes = 20000;
  RobustClient client(o);
  client.connect_async("127.0.0.1", testkit::free_port());  // no broker: everything is cached
  for (int i = 0; i < 100; ++i) REQUIRE_FALSE(client.publish("it/bad/c", std::string(100, 'x'), 1));
  REQUIRE_FALSE(client.flush(10s));
  REQUIRE(client.stats().cache_backlog == 100);
  CHECK(client.publish("it/bad/c", std::string(30000, 'y'), 1) == errc::payload_over_cache_limit);
  REQUIRE_FALSE(client.flush(10s));
  const Stats s = client.stats();
  CHECK(s.cache_backlog == 100);
  CHECK(s.dropped_overflow == 0);
  client.stop();
}

TEST_CASE("large_message_bytes above what a cache backend stores in one record is refused") {
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "bad-largebytes");
  o.ring_bytes = 1u << 30;
  o.large_message_bytes = 300u << 20;  // the file log stores records up to 256 MiB
  RobustClient client(o);
  try {
    client.connect_async("127.0.0.1", testkit::free_port());
    FAIL("connect_async() did not throw");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK_MESSAGE(std::string(e.what()).find("large_message_bytes") != std::string::npos, e.what());
  }
}
