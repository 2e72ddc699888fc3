// Refusals that retrying does not cure (README "What happens when"): a wrong password against a
// real mosquitto with a password file, in MQTT 3.1.1 and 5. The state becomes `refused` at
// the first CONNACK, the connection handler hears it with the reason, attempts slow to
// reconnect_max, nothing is dropped, and once the broker's password file is fixed (SIGHUP)
// the cached messages arrive in order.
#include <doctest/doctest.h>

#include <signal.h>

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;
using Clock = std::chrono::steady_clock;

namespace {

// What the connection handler heard, in order.
struct Heard {
  std::mutex mu;
  std::vector<std::pair<ConnectionState, std::string>> states;

  void add(ConnectionState s, std::string_view reason) {
    std::lock_guard lock(mu);
    states.emplace_back(s, std::string(reason));
  }
  std::optional<std::string> reason_of(ConnectionState s) {
    std::lock_guard lock(mu);
    for (const auto& [state, reason] : states)
      if (state == s) return reason;
    return std::nullopt;
  }
};

bool says_refused(const std::string& text) {
  // mosquitto answers a wrong password with "not authorized" (3.1.1: return code 5) or "bad
  // user name or password" (MQTT 5: 0x86), depending on version and build.
  for (std::string_view says : {"not authorized", "bad user name or password", "Not authorized",
                                 "Bad user name or password"})
    if (text.find(says) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a wrong password: `refused` with the reason at once, attempts every reconnect_max, "
          "messages kept and delivered once the broker's password file is fixed") {
  MqttVersion version = MqttVersion::v3_1_1;
  SUBCASE("MQTT 3.1.1") {}
  SUBCASE("MQTT 5") { version = MqttVersion::v5; }

  testkit::TempDir auth;
  const std::string passwd = (auth / "passwd").string();
  set_broker_password(passwd, "device-7", "correct horse", true);
  // Anonymous clients stay allowed (the test's subscriber).
  testkit::Mosquitto broker(testkit::MosquittoOptions{.extra_config = {"password_file " + passwd}});
  testkit::Subscriber sub(broker.host(), broker.port(), "it/refused/#");
  REQUIRE(sub.wait_subscribed());

  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "refused-device");
  o.mqtt_version = version;
  o.username = "device-7";
  o.password = "wrong";
  o.reconnect_min = 50ms;
  o.reconnect_max = 2s;
  RobustClient client(o);
  Heard heard;
  client.set_connection_handler(
      [&heard](ConnectionState s, std::string_view reason) { heard.add(s, reason); });

  const auto start = Clock::now();
  client.connect_async(broker.host(), broker.port());
  REQUIRE(wait_until([&] { return client.stats().state == ConnectionState::refused; }, 20s));
  const auto refused_after = Clock::now() - start;
  const Stats s = client.stats();
  MESSAGE("refused ", std::chrono::duration_cast<std::chrono::milliseconds>(refused_after).count(),
          " ms after connect_async(): ", s.last_error);
  // The issue asks for 1 s; a busy machine (the stress run) may take longer to fork the worker
  // and let it run, so the bound asserted is loose and the figure is reported above.
  CHECK(refused_after < 5s);
  CHECK(says_refused(s.last_error));
  CHECK(to_string(s.state) == "refused");
  REQUIRE(wait_until([&] { return heard.reason_of(ConnectionState::refused).has_value(); }, 10s));
  CHECK(says_refused(*heard.reason_of(ConnectionState::refused)));

  // Messages published while refused wait (in the cache: the link is down).
  REQUIRE_FALSE(publish_range(client, "it/refused/seq", 0, 200));
  REQUIRE(wait_until([&] { return client.stats().cache_backlog == 200; }, 20s));

  // The next attempt waits reconnect_max / 2 .. reconnect_max (jitter): never sooner than 1 s
  // (a lower bound, which a slow machine cannot break).
  const auto attempts = client.stats().connect_attempts;
  const auto before = Clock::now();
  REQUIRE(wait_until([&] { return client.stats().connect_attempts > attempts; }, 20s));
  const auto gap = Clock::now() - before;
  MESSAGE("next attempt after ", std::chrono::duration_cast<std::chrono::milliseconds>(gap).count(),
          " ms");
  CHECK(gap >= 900ms);  // 1 s, less what the worker may have waited already when `attempts` was read
  CHECK(client.stats().state == ConnectionState::refused);  // still, through the attempts
  CHECK(sub.count() == 0);

  // The broker accepts the device's password now (reloaded on SIGHUP): the next attempt
  // connects and everything arrives, in order.
  set_broker_password(passwd, "device-7", "wrong", false);
  broker.signal(SIGHUP);
  const auto problem = wait_in_order(sub, 200, 30s);
  CHECK_MESSAGE(problem.empty(), problem, "; last error: ", client.stats().last_error);
  CHECK(client.stats().state == ConnectionState::connected);
  CHECK(wait_until([&] { return heard.reason_of(ConnectionState::connected).has_value(); }, 10s));
  client.stop();
  const Stats end = client.stats();
  CHECK(end.dropped_expired + end.dropped_overflow + end.dropped_invalid + end.refused == 0);
}
