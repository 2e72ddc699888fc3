// The connection as deployments meet it: partitions, resets, refusals and slow links through the
// fault proxy, credentials, MQTT 5 properties, and the bad input only the worker can see (TLS:
// test_tls.cpp). In every test all confirmed messages arrive in order.
#include <doctest/doctest.h>

#include <MQTTAsync.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <testkit/fault_proxy.hpp>

#include "helpers.hpp"
#include "tls_pki.hpp"

using namespace robustmq;
using namespace robustmq::test;
using Clock = std::chrono::steady_clock;

namespace {

// Publishes [from, to) at about `per_second`, from a thread the caller joins.
std::thread stream(RobustClient& c, const std::string& topic, std::uint64_t from, std::uint64_t to,
                   int per_second, std::error_code& error, int qos = 1) {
  return std::thread([&c, topic, from, to, per_second, &error, qos] {
    const auto start = Clock::now();
    for (std::uint64_t i = from; i < to && !error; ++i) {
      error = c.publish(topic, testkit::sequence_payload(i), qos);
      std::this_thread::sleep_until(start + std::chrono::microseconds(
                                                (i - from + 1) * 1'000'000 / per_second));
    }
  });
}

// An MQTT 5 subscriber that keeps the properties the testkit's 3.1.1 Subscriber cannot see.
class V5Subscriber {
 public:
  struct Message {
    std::string topic, payload, content_type;
    std::optional<unsigned> expiry;
    std::vector<std::pair<std::string, std::string>> user_properties;
  };

  V5Subscriber(int port, std::string id) {
    const std::string uri = "tcp://127.0.0.1:" + std::to_string(port);
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    REQUIRE(MQTTAsync_createWithOptions(&client_, uri.c_str(), id.c_str(),
                                        MQTTCLIENT_PERSISTENCE_NONE, nullptr, &co) == 0);
    MQTTAsync_setCallbacks(client_, this, nullptr, &V5Subscriber::on_message, nullptr);
  }
  ~V5Subscriber() {
    disconnect();
    MQTTAsync_destroy(&client_);
  }

  // Connects (a session kept for an hour unless clean) and subscribes to filter with QoS 1.
  void connect(const std::string& filter, bool clean) {
    done_ = false;
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
    o.cleanstart = clean ? 1 : 0;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty p{};
    p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
    p.value.integer4 = clean ? 0 : 3600;
    MQTTProperties_add(&props, &p);
    o.connectProperties = &props;
    o.context = this;
    o.onSuccess5 = [](void* ctx, MQTTAsync_successData5*) { static_cast<V5Subscriber*>(ctx)->finish(true); };
    o.onFailure5 = [](void* ctx, MQTTAsync_failureData5*) { static_cast<V5Subscriber*>(ctx)->finish(false); };
    REQUIRE(MQTTAsync_connect(client_, &o) == 0);
    MQTTProperties_free(&props);
    REQUIRE(wait_done());
    done_ = false;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = this;
    ro.onSuccess5 = [](void* ctx, MQTTAsync_successData5*) { static_cast<V5Subscriber*>(ctx)->finish(true); };
    ro.onFailure5 = [](void* ctx, MQTTAsync_failureData5*) { static_cast<V5Subscriber*>(ctx)->finish(false); };
    REQUIRE(MQTTAsync_subscribe(client_, filter.c_str(), 1, &ro) == 0);
    REQUIRE(wait_done());
  }
  void disconnect() {
    if (!MQTTAsync_isConnected(client_)) return;
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    d.timeout = 1000;
    MQTTAsync_disconnect(client_, &d);
    wait_until([&] { return !MQTTAsync_isConnected(client_); }, 2s);
  }
  std::vector<Message> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout) const {
    return wait_until([&] { return messages().size() >= n; }, timeout);
  }

 private:
  void finish(bool ok) {
    std::lock_guard lock(mu_);
    done_ = true;
    ok_ = ok;
    cv_.notify_all();
  }
  bool wait_done() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return done_; }) && ok_;
  }
  static int on_message(void* ctx, char* topic, int, MQTTAsync_message* m) {
    auto* self = static_cast<V5Subscriber*>(ctx);
    Message msg{topic, std::string(static_cast<char*>(m->payload), m->payloadlen), {}, {}, {}};
    for (int i = 0; i < m->properties.count; ++i) {
      const MQTTProperty& p = m->properties.array[i];
      const std::string data(p.value.data.data ? p.value.data.data : "",
                             p.value.data.data ? p.value.data.len : 0);
      if (p.identifier == MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL) msg.expiry = p.value.integer4;
      if (p.identifier == MQTTPROPERTY_CODE_CONTENT_TYPE) msg.content_type = data;
      if (p.identifier == MQTTPROPERTY_CODE_USER_PROPERTY)
        msg.user_properties.emplace_back(data, std::string(p.value.value.data, p.value.value.len));
    }
    {
      std::lock_guard lock(self->mu_);
      self->messages_.push_back(std::move(msg));
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
  }

  MQTTAsync client_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false, ok_ = false;
  std::vector<Message> messages_;
};

}  // namespace

// --- the network misbehaves ------------------------------------------------------------------

TEST_CASE("a 10 s black hole is detected within the keepalive and every message arrives in order") {
  testkit::Mosquitto broker;
  testkit::FaultProxy proxy(broker.port());
  testkit::Subscriber sub(broker.host(), broker.port(), "it/conn/hole/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "conn-hole");
  o.keepalive = 2s;
  o.cache_timeout = 60s;  // so that only the keepalive can notice the dead link
  RobustClient client(o);
  client.connect_async("127.0.0.1", proxy.port());
  REQUIRE(wait_connected(client, 10s));

  std::error_code error;
  std::thread producer = stream(client, "it/conn/hole/seq", 0, 3000, 250, error);  // 12 s
  std::this_thread::sleep_for(1s);  // a second of the stream over the healthy link
  proxy.blackhole(true);
  const auto hole = Clock::now();
  CHECK(wait_until([&] { return client.stats().state != ConnectionState::connected; }, 10s));
  const auto detected = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - hole);
  MESSAGE("half-open connection detected after ", detected.count(), " ms (keepalive 2 s)");
  // Paho sends PINGREQ after one keepalive without traffic from the broker and gives up after
  // a second one without PINGRESP: at most twice the keepalive, plus its polling.
  CHECK(detected < 2 * o.keepalive + 2500ms);
  const std::string reason = client.stats().last_error;
  CHECK_MESSAGE(contains(reason, "connection lost"), reason);
  std::this_thread::sleep_until(hole + 10s);
  const Stats during = client.stats();
  CHECK_MESSAGE(during.cached > 0, describe(during));  // the backlog went to disk meanwhile
  proxy.blackhole(false);
  producer.join();
  REQUIRE_FALSE(error);
  const auto problem = wait_in_order(sub, 3000, 30s);
  CHECK_MESSAGE(problem.empty(), problem, "; ", describe(client.stats()));
  client.stop();
}

TEST_CASE("connections reset every 500 ms during a stream lose nothing and keep the order") {
  // A persistent session resumes after a loss of QoS 1 messages, and starts clean after a loss
  // that cut a QoS 2 handshake (worker/mqtt_options.cpp): both must keep the order.
  struct Run { bool clean; int qos; };
  for (const Run run : {Run{true, 1}, Run{false, 1}, Run{false, 2}}) {
    const bool clean = run.clean;
    CAPTURE(clean);
    CAPTURE(run.qos);
    const std::string topic =
        std::string("it/conn/reset") + (clean ? "c" : "p") + std::to_string(run.qos);
    testkit::Mosquitto broker;
    testkit::FaultProxy proxy(broker.port());
    testkit::Subscriber sub(broker.host(), broker.port(), topic + "/#");
    REQUIRE(sub.wait_subscribed());
    testkit::TempDir dir;
    Options o = client_options(dir / "cache", "conn-reset");
    o.max_inflight = 16;  // a window of unacknowledged messages is cut at every reset
    o.clean_session = clean;
    RobustClient client(o);
    client.connect_async("127.0.0.1", proxy.port());
    REQUIRE(wait_connected(client, 10s));
    std::error_code error;
    std::thread producer = stream(client, topic + "/seq", 0, 4000, 1000, error, run.qos);  // 4 s
    for (int i = 0; i < 8; ++i) {
      std::this_thread::sleep_for(500ms);
      proxy.reset_all();
    }
    producer.join();
    REQUIRE_FALSE(error);
    const auto problem = wait_in_order(sub, 4000, 30s);
    const Stats s = client.stats();
    CHECK_MESSAGE(problem.empty(), problem, "; ", describe(s));
    // The clean-session flag of each of the worker's connects, as the broker logged it
    // ("... as conn-reset (p2, c1, k5)"): a persistent session starts clean once per worker and
    // resumes afterwards, unless a QoS 2 handshake was cut.
    std::string flags;
    const std::string log = broker.log();
    for (std::size_t at = 0; (at = log.find("as conn-reset (p", at)) != std::string::npos; ++at) {
      const auto c = log.find(", c", at);
      if (c != std::string::npos && c + 3 < log.size()) flags += log[c + 3];
    }
    MESSAGE("clean_session ", clean, ", QoS ", run.qos, ": ", s.reconnects, " reconnects, ",
            s.connect_attempts, " connect attempts, clean flags of the connects: ", flags);
    CHECK(s.reconnects >= 4u);
    REQUIRE(flags.size() >= 2);
    CHECK(flags.front() == '1');
    if (clean) CHECK(flags.find('0') == std::string::npos);
    if (!clean && run.qos == 1) CHECK(flags.find('1', 1) == std::string::npos);  // all resumed
    client.stop();
  }
}

TEST_CASE("flush() is heard at once while the window is full and the broker does not answer") {
  testkit::Mosquitto broker;
  testkit::FaultProxy proxy(broker.port());
  testkit::Subscriber sub(broker.host(), broker.port(), "it/conn/flushfull/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "conn-flushfull");
  o.cache_timeout = 60s;  // only flush() may move the messages while the broker is silent
  o.keepalive = 60s;
  RobustClient client(o);
  client.connect_async("127.0.0.1", proxy.port());
  REQUIRE(wait_connected(client, 10s));
  proxy.stall(true);  // nothing is answered; the link looks alive
  REQUIRE_FALSE(publish_range(client, "it/conn/flushfull/seq", 0, 5));
  REQUIRE(wait_until([&] { return client.stats().sent >= 1; }, 10s));  // the window is full
  const auto start = Clock::now();
  const auto ec = client.flush(10s);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  MESSAGE("flush() with a full window and a silent broker returned after ", took.count(), " ms");
  CHECK_MESSAGE(!ec, ec.message(), "; ", describe(client.stats()));
  CHECK(client.stats().cached >= 4);  // the settle time ran out, the ring went to the disk
  proxy.stall(false);
  const auto problem = wait_in_order(sub, 5, 30s);
  CHECK_MESSAGE(problem.empty(), problem, "; ", describe(client.stats()));
  client.stop();
}

TEST_CASE("a broker refusing connections for 5 s costs nothing but disk and retries") {
  testkit::Mosquitto broker;
  testkit::FaultProxy proxy(broker.port());
  testkit::Subscriber sub(broker.host(), broker.port(), "it/conn/refuse/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "conn-refuse"));
  client.connect_async("127.0.0.1", proxy.port());
  REQUIRE(wait_connected(client, 10s));
  std::error_code error;
  std::thread producer = stream(client, "it/conn/refuse/seq", 0, 3500, 500, error);  // 7 s
  std::this_thread::sleep_for(1s);  // a second of the stream over the healthy link
  proxy.refuse_new(true);
  proxy.reset_all();
  const auto attempts_before = client.stats().connect_attempts;
  std::this_thread::sleep_for(5s);  // the 5 s of refusals
  const Stats during = client.stats();
  CHECK(during.state != ConnectionState::connected);
  CHECK_MESSAGE(during.cached > 0, describe(during));
  CHECK(during.connect_attempts >= attempts_before + 3);  // backoff 50..500 ms with jitter
  CHECK_FALSE(during.last_error.empty());
  proxy.refuse_new(false);
  producer.join();
  REQUIRE_FALSE(error);
  const auto problem = wait_in_order(sub, 3500, 30s);
  CHECK_MESSAGE(problem.empty(), problem, "; ", describe(client.stats()));
  client.stop();
}

TEST_CASE("on a link with 50 ms round trip a window of 32 is much faster than 1, both in order") {
  testkit::Mosquitto broker;
  testkit::FaultProxy proxy(broker.port());
  proxy.set_latency(25ms);  // each way
  double rate[2] = {0, 0};
  const std::size_t windows[2] = {1, 32};
  const std::uint64_t counts[2] = {40, 640};
  for (int run = 0; run < 2; ++run) {
    CAPTURE(windows[run]);
    const std::string topic = "it/conn/window" + std::to_string(windows[run]);
    testkit::Subscriber sub(broker.host(), broker.port(), topic + "/#");
    REQUIRE(sub.wait_subscribed());
    testkit::TempDir dir;
    Options o = client_options(dir / "cache", "conn-window-" + std::to_string(windows[run]));
    o.max_inflight = windows[run];
    o.queue_cache_threshold = 100'000;  // measure the link, not the disk cache
    o.cache_timeout = 60s;
    RobustClient client(o);
    client.connect_async("127.0.0.1", proxy.port());
    REQUIRE(wait_connected(client, 10s));
    const auto start = Clock::now();
    REQUIRE_FALSE(publish_range(client, topic + "/seq", 0, counts[run]));
    REQUIRE(wait_acknowledged(client, counts[run], 30s));
    const std::chrono::duration<double> took = Clock::now() - start;
    rate[run] = static_cast<double>(counts[run]) / took.count();
    const auto problem = wait_in_order(sub, counts[run], 10s);
    CHECK_MESSAGE(problem.empty(), problem);
    CHECK(client.stats().cached == 0);
    client.stop();
  }
  MESSAGE("50 ms round trip: window 1 ", rate[0], " msg/s, window 32 ", rate[1],
          " msg/s, ratio ", rate[1] / rate[0]);
  // The issue's 20x is the benchmark's figure; here a margin that a loaded machine still meets.
  CHECK(rate[1] >= 5 * rate[0]);
}

// --- credentials, MQTT 5, bad hosts ----------------------------------------------------------

TEST_CASE("user name and password are accepted, and a wrong password is refused in stats()") {
  testkit::TempDir auth;
  shell("mosquitto_passwd -b -c " + (auth / "passwd").string() + " device-7 'correct horse'");
  // Anonymous clients stay allowed (the test's subscriber); a client that presents a user name
  // must present its password.
  testkit::Mosquitto broker(
      testkit::MosquittoOptions{.extra_config = {"password_file " + (auth / "passwd").string()}});
  testkit::Subscriber sub(broker.host(), broker.port(), "it/conn/auth/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  {
    Options o = client_options(dir / "cache", "conn-auth");
    o.username = "device-7";
    o.password = "wrong";
    RobustClient client(o);
    client.connect_async(broker.host(), broker.port());
    REQUIRE_FALSE(publish_range(client, "it/conn/auth/seq", 0, 100));
    CHECK(wait_until([&] {
      const auto e = client.stats().last_error;
      return contains(e, "bad user name or password") || contains(e, "not authorized");
    }, 10s));
    MESSAGE("wrong password: ", client.stats().last_error);
    client.stop();
    CHECK(client.stats().cache_backlog == 100);
  }
  Options o = client_options(dir / "cache", "conn-auth");
  o.username = "device-7";
  o.password = "correct horse";
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(publish_range(client, "it/conn/auth/seq", 100, 200));
  const auto problem = wait_in_order(sub, 200, 20s);
  CHECK_MESSAGE(problem.empty(), problem, "; ", describe(client.stats()));
  client.stop();
}

TEST_CASE("MQTT 5: a message the broker refuses (reason code >= 0x80) is reported, not resent") {
  testkit::TempDir acl_dir;
  const auto acl = acl_dir / "acl";
  {
    std::ofstream f(acl);
    f << "topic write it/conn/acl/ok/#\ntopic read #\n";
  }
  testkit::MosquittoOptions mo;
  mo.extra_config = {"acl_file " + acl.string()};
  testkit::Mosquitto broker(mo);
  testkit::Subscriber sub(broker.host(), broker.port(), "it/conn/acl/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "conn-acl");
  o.mqtt_version = MqttVersion::v5;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(client.publish("it/conn/acl/ok/seq", testkit::sequence_payload(0), 1));
  REQUIRE_FALSE(client.publish("it/conn/acl/denied", "refused", 1));
  REQUIRE_FALSE(client.publish("it/conn/acl/ok/seq", testkit::sequence_payload(1), 1));
  REQUIRE(wait_distinct(sub, 2, 10s));
  REQUIRE(wait_until([&] { return client.stats().acknowledged == 2; }, 10s));
  REQUIRE(wait_until([&] { return client.stats().refused == 1; }, 10s));
  // The refused message retired like a delivered one: never sent again (mosquitto closes the
  // connection after refusing, with max_queued_messages 0 as the testkit sets it; the worker
  // reconnects and goes on with the next message).
  const auto sent = client.stats().sent;
  CHECK(sent <= 4);  // three, and at most the one in flight when the connection closed again
  std::this_thread::sleep_for(500ms);  // time for a re-send, which must not come
  CHECK(client.stats().sent == sent);
  const auto got = testkit::sequences(sub.messages());
  CHECK(got == std::vector<std::uint64_t>{0, 1});
  client.stop();
}

TEST_CASE("MQTT 5 carries message expiry, content type and user properties; the broker expires") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  V5Subscriber sub(broker.port(), "conn-v5-sub");
  sub.connect("it/conn/v5/#", true);

  Options o = client_options(dir / "cache", "conn-v5");
  o.mqtt_version = MqttVersion::v5;
  o.message_ttl = 60s;
  o.content_type = "text/plain";
  o.user_properties = {{"site", "north"}, {"unit", "celsius"}};
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(publish_range(client, "it/conn/v5/seq", 0, 20));
  REQUIRE(sub.wait_for(20, 10s));
  const auto got = sub.messages();
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].payload == testkit::sequence_payload(i));
    REQUIRE(got[i].expiry.has_value());
    CHECK(*got[i].expiry >= 55);
    CHECK(*got[i].expiry <= 60);
    CHECK(got[i].content_type == "text/plain");
    CHECK(got[i].user_properties ==
          std::vector<std::pair<std::string, std::string>>{{"site", "north"}, {"unit", "celsius"}});
  }
  client.stop();

  // The expiry is honoured: while a persistent subscriber is away, the broker keeps the message
  // without a TTL and drops the one whose second has passed.
  V5Subscriber away(broker.port(), "conn-v5-away");
  away.connect("it/conn/v5x/#", false);
  away.disconnect();
  Options shortlived = client_options(dir / "cache-short", "conn-v5-short");
  shortlived.mqtt_version = MqttVersion::v5;
  shortlived.message_ttl = 1s;
  Options forever = client_options(dir / "cache-forever", "conn-v5-forever");
  forever.mqtt_version = MqttVersion::v5;
  RobustClient a(shortlived), b(forever);
  a.connect_async(broker.host(), broker.port());
  b.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(a.publish("it/conn/v5x/short", "expires", 1));
  REQUIRE_FALSE(b.publish("it/conn/v5x/forever", "stays", 1));
  REQUIRE(wait_until([&] { return a.stats().acknowledged == 1; }, 10s));
  REQUIRE(wait_until([&] { return b.stats().acknowledged == 1; }, 10s));
  std::this_thread::sleep_for(2500ms);  // the short-lived message's 1 s expiry passes
  away.connect("it/conn/v5x/#", false);
  CHECK(away.wait_for(1, 5s));
  std::this_thread::sleep_for(500ms);  // time for the expired message, which must not come
  const auto queued = away.messages();
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].payload == "stays");
  a.stop();
  b.stop();
}

TEST_CASE("an unreachable host name shows in stats() and stop() keeps every message") {
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "conn-nohost"));
  client.connect_async("no-such-host.invalid", 1883);
  REQUIRE_FALSE(publish_range(client, "it/conn/nohost/seq", 0, 100));
  CHECK(wait_until([&] { return contains(client.stats().last_error, "cannot resolve"); }, 10s));
  CHECK(contains(client.stats().last_error, "no-such-host.invalid"));
  MESSAGE("unreachable host: ", client.stats().last_error);
  client.stop();
  const Stats s = client.stats();
  CHECK(s.cache_backlog == 100);
  CHECK(s.connect_attempts >= 1);
}
