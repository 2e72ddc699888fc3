// End to end through a real mosquitto: the foundation's promises.
#include <doctest/doctest.h>

#include <thread>

#include "helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;

TEST_CASE("10,000 QoS-1 messages arrive complete and in order") {
  for (CacheType type : {CacheType::sqlite, CacheType::file}) {
    CAPTURE(static_cast<int>(type));
    testkit::Mosquitto broker;
    testkit::Subscriber sub(broker.host(), broker.port(), "it/e2e/#");
    REQUIRE(sub.wait_subscribed());
    testkit::TempDir dir;
    RobustClient client(client_options(dir / "cache", "e2e", type));
    client.connect_async(broker.host(), broker.port());
    REQUIRE_FALSE(publish_range(client, "it/e2e/seq", 0, 10'000));
    const auto problem = wait_in_order(sub, 10'000, 60s);
    CHECK_MESSAGE(problem.empty(), problem);
    REQUIRE_FALSE(client.flush(10s));
    const Stats s = client.stats();
    CHECK(s.published == 10'000);
    CHECK(s.acknowledged >= 10'000);
    client.stop();
    CHECK(client.stats().state == ConnectionState::stopped);
  }
}

TEST_CASE("a broker stopped for 3 s mid-stream loses nothing and keeps the order") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "it/outage/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "outage"));
  client.connect_async(broker.host(), broker.port());
  constexpr std::uint64_t kTotal = 6000;
  std::error_code producer_error;
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < kTotal && !producer_error; ++i) {
      producer_error = client.publish("it/outage/seq", testkit::sequence_payload(i), 1);
      if (i % 100 == 0) std::this_thread::sleep_for(50ms);  // a steady stream of ~3 s
    }
  });
  std::this_thread::sleep_for(1s);  // the first third of the stream goes out with the broker up
  const auto subscribes = sub.subscribe_count();
  broker.stop();
  std::this_thread::sleep_for(3s);  // the outage
  broker.start();
  producer.join();
  REQUIRE_FALSE(producer_error);
  REQUIRE(sub.wait_subscribed(10s, subscribes + 1));
  const auto problem = wait_in_order(sub, kTotal, 60s);
  const Stats s = client.stats();
  CHECK_MESSAGE(problem.empty(), problem, " published ", s.published, " sent ", s.sent, " acked ",
                s.acknowledged, " cached ", s.cached, " ring ", s.ring_backlog, " cache ",
                s.cache_backlog);
  CHECK(s.cached > 0);  // the outage went through the disk cache
  CHECK(s.reconnects >= 1);
  client.stop();
}

TEST_CASE("stop() while the broker is down keeps the messages in the cache for the next client") {
  for (CacheType type : {CacheType::sqlite, CacheType::file}) {
    CAPTURE(static_cast<int>(type));
    testkit::Mosquitto broker;
    testkit::TempDir dir;
    broker.stop();
    {
      RobustClient client(client_options(dir / "cache", "handover", type));
      client.connect_async(broker.host(), broker.port());
      REQUIRE_FALSE(publish_range(client, "it/handover/seq", 0, 2000));
      client.stop();
      const Stats s = client.stats();
      CHECK(s.cached == 2000);
      CHECK(s.acknowledged == 0);
    }
    broker.start();
    testkit::Subscriber sub(broker.host(), broker.port(), "it/handover/#");
    REQUIRE(sub.wait_subscribed());
    RobustClient client(client_options(dir / "cache", "handover", type));
    client.connect_async(broker.host(), broker.port());
    REQUIRE_FALSE(publish_range(client, "it/handover/seq", 2000, 2100));
    const auto problem = wait_in_order(sub, 2100, 30s);
    CHECK_MESSAGE(problem.empty(), problem);
    client.stop();
  }
}

TEST_CASE("flush() returns once every earlier message is acknowledged or on disk") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  broker.stop();
  RobustClient client(client_options(dir / "cache", "flush"));
  CHECK(client.flush(100ms) == errc::not_connected);
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(publish_range(client, "it/flush/seq", 0, 500));
  CHECK_FALSE(client.flush(10s));
  const Stats s = client.stats();
  CHECK(s.ring_backlog == 0);
  CHECK(s.cache_backlog == 500);
  client.stop();
}
