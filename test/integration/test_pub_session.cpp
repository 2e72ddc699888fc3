// robustmq-pub -V mqttv5 -x (Options::session_expiry) and -c: whether the broker kept the
// session after robustmq-pub ended, as the CONNACK of a later connect with the same client id
// says (session present).
#include <doctest/doctest.h>

#include <MQTTAsync.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "pub_tool.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

// Connects to the broker as `client_id` with MQTT 5 and clean start off, and returns the
// CONNACK's session present flag; disconnects (session expiry 0: the session ends with it).
bool session_present(const testkit::Mosquitto& broker, const std::string& client_id) {
  struct Result {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false, ok = false, present = false;
  } result;
  MQTTAsync client = nullptr;
  MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
  REQUIRE(MQTTAsync_createWithOptions(&client, broker.uri().c_str(), client_id.c_str(),
                                      MQTTCLIENT_PERSISTENCE_NONE, nullptr, &co) == 0);
  MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
  o.cleanstart = 0;
  o.context = &result;
  o.onSuccess5 = [](void* ctx, MQTTAsync_successData5* data) {
    auto* r = static_cast<Result*>(ctx);
    std::lock_guard lock(r->mu);
    r->done = r->ok = true;
    r->present = data->alt.connect.sessionPresent != 0;
    r->cv.notify_all();
  };
  o.onFailure5 = [](void* ctx, MQTTAsync_failureData5*) {
    auto* r = static_cast<Result*>(ctx);
    std::lock_guard lock(r->mu);
    r->done = true;
    r->cv.notify_all();
  };
  REQUIRE(MQTTAsync_connect(client, &o) == 0);
  {
    std::unique_lock lock(result.mu);
    REQUIRE(result.cv.wait_for(lock, 30s, [&] { return result.done; }));
    REQUIRE(result.ok);
  }
  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
  d.timeout = 1000;
  MQTTAsync_disconnect(client, &d);
  wait_until([&] { return !MQTTAsync_isConnected(client); }, 5s);
  MQTTAsync_destroy(&client);
  return result.present;
}

}  // namespace

TEST_CASE("robustmq-pub -V mqttv5: -x sets how long the broker keeps the session; without -x, "
          "-c keeps it for ever and no -c not at all (mosquitto_pub's defaults)") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  struct Row {
    std::vector<std::string> options;
    bool kept;
  };
  const Row rows[] = {
      {{"-c", "-x", "60"}, true},
      {{"-c", "-x", "0"}, false},
      {{"-c"}, true},
      {{"-c", "-x", "-1"}, true},
      {{}, false},
      {{"-x", "60"}, true},  // kept, though the next connect of robustmq-pub starts clean
  };
  int n = 0;
  for (const Row& row : rows) {
    const std::string id = "pub-session-" + std::to_string(n++);
    std::string line;
    for (const auto& o : row.options) line += o + " ";
    CAPTURE(line);
    auto args = base_args(broker, (dir / id).string(), "pub/session");
    args[7] = id;  // -i
    CHECK(run(plus(plus(args, {"-V", "mqttv5", "-m", "x"}), row.options)) == 0);
    CHECK(session_present(broker, id) == row.kept);
  }
}

TEST_CASE("robustmq-pub -x: MQTT 5 only, and a number of seconds or never") {
  testkit::TempDir dir;
  const std::vector<std::string> base = {"-i", "x", "-t", "y", "-m", "a", "--cache-dir",
                                         (dir / "cache").string()};
  for (const auto& extra : std::vector<std::vector<std::string>>{
           {"-x", "60"},  // MQTT 3.1.1
           {"-V", "5", "-x", "4294967296"},
           {"-V", "5", "-x", "-2"},
           {"-V", "5", "-x", "1h"}}) {
    CAPTURE(extra[extra.size() - 1]);
    const auto [code, out] = run_output(plus(base, extra));
    CHECK(code == 1);
    CHECK_MESSAGE(out.find("robustmq-pub: -x needs") != std::string::npos, out);
  }
}
