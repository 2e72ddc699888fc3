// Credentials that outlive an outage (README "Token refresh"): the broker's password file changes
// while the broker is away, as when a short-lived token expires during an outage. The
// credentials handler (in another case the password file, read by a worker whose application
// has handed off) supplies the new password; the backlog drains, in order. Real mosquitto with a
// password file, real worker processes.
#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <fstream>
#include <stdexcept>
#include <mutex>
#include <string>
#include <tuple>

#include "helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kBefore = 300;  // published and delivered before the outage
constexpr std::uint64_t kDuring = 700;  // published during it: cached

// A new password file in `auth` letting device-7 in with `password`; its path.
std::string device_passwd(const testkit::TempDir& auth, const std::string& password) {
  const std::string path = (auth / "passwd").string();
  set_broker_password(path, "device-7", password, true);
  return path;
}

// A broker that lets device-7 in with a password (anonymous clients too: the subscriber).
struct Broker {
  testkit::TempDir auth;
  std::string passwd;
  testkit::Mosquitto mosquitto;
  testkit::Subscriber sub;

  explicit Broker(const std::string& password)
      : passwd(device_passwd(auth, password)),
        mosquitto(testkit::MosquittoOptions{.extra_config = {"password_file " + passwd}}),
        sub(mosquitto.host(), mosquitto.port(), "it/token/#") {
    REQUIRE(sub.wait_subscribed());
  }

  // The broker goes away; `rotate` changes the token meanwhile (the broker's file and the
  // client's source); the outage lasts 10 s and at least three connection attempts of
  // `client`, which all fail; then the broker returns with the new password.
  template <typename Rotate>
  void outage(const RobustClient& client, Rotate rotate) {
    const auto subscribes = sub.subscribe_count();
    mosquitto.stop();
    const auto attempts = client.stats().connect_attempts;
    const auto start = Clock::now();
    rotate();
    REQUIRE(wait_until([&] {
      return client.stats().connect_attempts >= attempts + 3 && Clock::now() - start >= 10s;
    }, 60s));
    mosquitto.start();
    REQUIRE(sub.wait_subscribed(20s, subscribes + 1));
  }
};

Options device_options(const std::filesystem::path& cache, const char* id) {
  Options o = client_options(cache, id);
  o.username = "device-7";
  o.reconnect_min = 50ms;
  o.reconnect_max = 1s;
  return o;
}

}  // namespace

TEST_CASE("a token rotated during a 10 s outage: the credentials handler supplies the new one "
          "before each attempt and the backlog drains") {
  MqttVersion version = MqttVersion::v3_1_1;
  SUBCASE("MQTT 3.1.1") {}
  SUBCASE("MQTT 5") { version = MqttVersion::v5; }
  Broker broker("token-1");

  std::mutex mu;
  std::string token = "token-1";  // what the application's token source says now
  std::atomic<int> calls{0};
  testkit::TempDir dir;
  Options o = device_options(dir / "cache", "token-device");
  o.mqtt_version = version;
  RobustClient client(o);
  client.set_credentials_handler([&]() -> std::optional<Credentials> {
    calls.fetch_add(1);
    std::lock_guard lock(mu);
    return Credentials{"device-7", token};
  });
  client.connect_async(broker.mosquitto.host(), broker.mosquitto.port());
  REQUIRE_FALSE(publish_range(client, "it/token/seq", 0, kBefore));
  REQUIRE(wait_acknowledged(client, kBefore, 30s));
  CHECK(calls.load() >= 1);  // asked before the first attempt

  const int calls_before = calls.load();
  broker.outage(client, [&] {
    REQUIRE_FALSE(publish_range(client, "it/token/seq", kBefore, kBefore + kDuring));
    set_broker_password(broker.passwd, "device-7", "token-2", false);
    std::lock_guard lock(mu);
    token = "token-2";
  });
  // Asked again before every attempt of the outage.
  CHECK(calls.load() >= calls_before + 3);
  const auto problem = wait_in_order(broker.sub, kBefore + kDuring, 60s);
  const Stats s = client.stats();
  CHECK_MESSAGE(problem.empty(), problem, "; state ", to_string(s.state), ", last error: ",
                s.last_error);
  CHECK(s.cached > 0);  // the outage went through the disk cache
  CHECK(s.state == ConnectionState::connected);
  client.stop();
}

TEST_CASE("a worker restarted after SIGKILL, or after a broker restart, connects with the "
          "handler's last good answer while the handler keeps it, throws or returns bad values") {
  Broker broker("token-2");
  std::atomic<int> calls{0};
  testkit::TempDir dir;
  Options o = device_options(dir / "cache", "token-restart");
  o.password = "expired";  // what connect_async() had: never valid here
  RobustClient client(o);
  client.set_credentials_handler([&]() -> std::optional<Credentials> {
    switch (calls.fetch_add(1)) {
      case 0: return Credentials{"device-7", "token-2"};
      case 1: return std::nullopt;  // keep the last
      case 2: throw std::runtime_error("the token service is down");
      default: return Credentials{std::string("device-7#\0x", 11), "bad"};  // NUL: refused
    }
  });
  client.connect_async(broker.mosquitto.host(), broker.mosquitto.port());
  REQUIRE_FALSE(publish_range(client, "it/token/seq", 0, 100));
  REQUIRE(wait_acknowledged(client, 100, 30s));
  // Each restart asks again; every answer after the first keeps "token-2".
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    const int asked = calls.load();
    if (round == 1) {
      const auto subscribes = broker.sub.subscribe_count();
      broker.mosquitto.stop();
      broker.mosquitto.start();
      REQUIRE(broker.sub.wait_subscribed(20s, subscribes + 1));
    } else {
      const pid_t worker = worker_of(client);
      REQUIRE(worker > 0);
      REQUIRE(::kill(worker, SIGKILL) == 0);
      REQUIRE(wait_successor(client, worker) > 0);
    }
    const auto from = 100 + 100 * static_cast<std::uint64_t>(round);
    REQUIRE_FALSE(publish_range(client, "it/token/seq", from, from + 100));
    const auto problem = wait_in_order(broker.sub, from + 100, 60s);
    const Stats s = client.stats();
    CHECK_MESSAGE(problem.empty(), problem, "; ", describe(s));
    CHECK(calls.load() > asked);
  }
  client.stop();
}

TEST_CASE("a token rotated in Options::password_file during a 10 s outage reaches a worker whose "
          "application has handed off; the backlog drains") {
  Broker broker("token-1");
  testkit::TempDir dir;
  const auto token_file = dir / "token";
  std::ofstream(token_file) << "token-1\n";
  Options o = device_options(dir / "cache", "token-file-device");
  o.password_file = token_file;
  RobustClient client(o);
  client.connect_async(broker.mosquitto.host(), broker.mosquitto.port());
  REQUIRE_FALSE(publish_range(client, "it/token/seq", 0, kBefore));
  REQUIRE(wait_acknowledged(client, kBefore, 30s));
  const pid_t worker = worker_of(client);
  REQUIRE(worker > 0);

  broker.outage(client, [&] {
    REQUIRE_FALSE(publish_range(client, "it/token/seq", kBefore, kBefore + kDuring));
    // The application leaves; its worker delivers on without it (and without a handler).
    client.stop(StopMode::hand_off);
    set_broker_password(broker.passwd, "device-7", "token-2", false);
    // As a secrets manager rotates a file: a new one renamed over the old.
    std::ofstream(dir / "token.new") << "token-2\n";
    std::filesystem::rename(dir / "token.new", token_file);
  });
  const auto problem = wait_in_order(broker.sub, kBefore + kDuring, 60s);
  CHECK_MESSAGE(problem.empty(), problem);
  // Everything delivered, the orphan exits by itself.
  CHECK(wait_until([&] { return !runs_worker(worker); }, 60s));
}

TEST_CASE("Options::password_file: unreadable, or set with Options::password, is refused by "
          "connect_async() with a message naming it") {
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "token-bad");
  o.password_file = dir / "missing";
  auto [err, what] = connect_failure(o);
  CHECK(err == ENOENT);
  CHECK(what.find("Options::password_file") != std::string::npos);
  std::ofstream(dir / "token") << "t";
  o.password_file = dir / "token";
  o.password = "also";
  std::tie(err, what) = connect_failure(o);
  CHECK(err == EINVAL);
  CHECK(what.find("Options::password and Options::password_file") != std::string::npos);
}
