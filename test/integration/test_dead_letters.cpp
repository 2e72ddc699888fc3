// Dead letters end to end (README "Dead letters"): a real mosquitto refuses messages through its
// ACL (MQTT 5 reason code 0x87); the worker keeps them in <cache>/dead-letters/, robustmq-cache
// lists them, and once the ACL allows the topic they are re-sent by
// RobustClient::resend_dead_letters() or by `robustmq-cache resend` without a client.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cache_tool.hpp"
#include "helpers.hpp"
#include <testkit/publisher.hpp>

using namespace robustmq;
using namespace robustmq::test;
namespace fs = std::filesystem;

namespace {

using Ran = ToolRun;

Ran tool(const std::string& args, const fs::path& scratch) { return run_cache_tool(args, scratch); }

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < s.size()) {
    const auto end = s.find('\n', at);
    out.push_back(s.substr(at, end - at));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return out;
}

void write_acl(const fs::path& acl, const std::string& writable) {
  std::ofstream f(acl, std::ios::trunc);
  f << "topic write " << writable << "\ntopic read #\n";
}

// A broker whose ACL file (`acl`) lets clients publish to `writable` only.
testkit::MosquittoOptions acl_broker(const fs::path& acl, const std::string& writable) {
  write_acl(acl, writable);
  testkit::MosquittoOptions mo;
  mo.extra_config = {"acl_file " + acl.string()};
  return mo;
}

// The payloads the subscriber received on `topic`, in arrival order, each once.
std::vector<std::string> received(const testkit::Subscriber& sub, const std::string& topic) {
  std::vector<std::string> out;
  for (const auto& m : sub.messages())
    if (m.topic == topic && std::find(out.begin(), out.end(), m.payload) == out.end())
      out.push_back(m.payload);
  return out;
}

}  // namespace

TEST_CASE("MQTT 5: an ACL refusal is kept as a dead letter with its code, then re-sent by "
          "resend_dead_letters() after the ACL changed") {
  testkit::TempDir tmp;
  const auto acl = tmp.path() / "acl";
  testkit::Mosquitto broker(acl_broker(acl, "it/dead/ok/#"));
  testkit::Subscriber sub(broker.host(), broker.port(), "it/dead/#");
  REQUIRE(sub.wait_subscribed());
  Options o = client_options(tmp.path() / "cache", "dead-acl");
  o.mqtt_version = MqttVersion::v5;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  std::uint64_t denied_seq[2] = {};
  REQUIRE_FALSE(client.publish("it/dead/ok", "ok-0", 1));
  REQUIRE_FALSE(client.publish("it/dead/denied", "denied-0", 1, false, denied_seq[0]));
  REQUIRE_FALSE(client.publish("it/dead/ok", "ok-1", 1));
  REQUIRE_FALSE(client.publish("it/dead/denied", "denied-1", 1, false, denied_seq[1]));
  REQUIRE_FALSE(client.publish("it/dead/ok", "ok-2", 1));
  REQUIRE(wait_until([&] { return client.stats().dead_letters == 2; }, 20s));
  CHECK(client.stats().refused == 2);
  REQUIRE(wait_until([&] { return received(sub, "it/dead/ok").size() == 3; }, 20s));
  CHECK(received(sub, "it/dead/denied").empty());

  const Ran listed = tool("dead '" + (tmp.path() / "cache").string() + "'", tmp.path());
  CHECK(listed.status == 0);
  const auto lines = lines_of(listed.out);
  REQUIRE(lines.size() == 2);
  for (int i = 0; i < 2; ++i) {
    CAPTURE(lines[i]);
    CHECK(lines[i].rfind("seq=" + std::to_string(denied_seq[i]) + " code=0x87 qos=1 size=8 ", 0) == 0);
    CHECK(lines[i].ends_with(" topic=it/dead/denied"));
  }

  // While the client runs, the tool refuses to write, and says what to do.
  const Ran busy = tool("resend '" + (tmp.path() / "cache").string() + "' --all", tmp.path());
  CHECK(busy.status == 3);
  CHECK(busy.err.find("resend_dead_letters()") != std::string::npos);

  // The ACL allows the topic now. Mosquitto re-reads it on SIGHUP; a plain MQTT 3.1.1 publisher
  // (whose denied messages the broker drops without a word) probes until it got through.
  write_acl(acl, "it/dead/#");
  broker.signal(SIGHUP);
  testkit::Publisher probe(broker.host(), broker.port());
  REQUIRE(wait_until([&] {
    REQUIRE(probe.publish("it/dead/probe", "probe", 1) == 0);
    return wait_until([&] { return !received(sub, "it/dead/probe").empty(); }, 200ms);
  }, 30s, 0ms));
  REQUIRE_FALSE(client.publish("it/dead/ok", "ok-3", 1));
  std::uint64_t moved = 0;
  REQUIRE_FALSE(client.resend_dead_letters(20s, moved));
  CHECK(moved == 2);
  REQUIRE(wait_until([&] { return received(sub, "it/dead/denied").size() == 2; }, 20s));
  // In their order, with their original sequence numbers, after everything published before.
  CHECK(received(sub, "it/dead/denied") == std::vector<std::string>{"denied-0", "denied-1"});
  const auto all = sub.messages();
  const auto at = [&](const std::string& payload) {
    return std::find_if(all.begin(), all.end(), [&](const auto& m) { return m.payload == payload; });
  };
  CHECK(at("ok-3") < at("denied-0"));
  REQUIRE(wait_until([&] { return client.stats().dead_letters == 0; }, 10s));
  CHECK(client.stats().refused >= 2);
  client.stop();
}

TEST_CASE("robustmq-cache resend with no client running: the next client sends them; "
          "dead-delete removes the ones named") {
  testkit::TempDir tmp;
  testkit::Mosquitto strict(acl_broker(tmp.path() / "acl", "it/dead2/ok/#"));
  const fs::path cache = tmp.path() / "cache";
  std::uint64_t seq[3] = {};
  {
    Options o = client_options(cache, "dead-offline", CacheType::file);
    o.mqtt_version = MqttVersion::v5;
    RobustClient client(o);
    client.connect_async(strict.host(), strict.port());
    for (int i = 0; i < 3; ++i)
      REQUIRE_FALSE(client.publish("it/dead2/denied", "d-" + std::to_string(i), 1, false, seq[i]));
    REQUIRE(wait_until([&] { return client.stats().dead_letters == 3; }, 20s));
    client.stop();
  }
  const std::string dir = "'" + cache.string() + "'";
  CHECK(tool("dead-delete " + dir + " " + std::to_string(seq[1]), tmp.path()).status == 0);
  CHECK(tool("dead-delete " + dir + " 999999", tmp.path()).status == 2);  // no such dead letter
  CHECK(lines_of(tool("dead " + dir, tmp.path()).out).size() == 2);
  const Ran moved = tool("resend " + dir + " --all", tmp.path());
  CHECK(moved.status == 0);
  CHECK(moved.out.find("moved 2") != std::string::npos);
  CHECK(tool("dead " + dir, tmp.path()).out.empty());

  testkit::Mosquitto open_broker;  // no ACL
  testkit::Subscriber sub(open_broker.host(), open_broker.port(), "it/dead2/#");
  REQUIRE(sub.wait_subscribed());
  Options o = client_options(cache, "dead-offline", CacheType::file);
  o.mqtt_version = MqttVersion::v5;
  RobustClient client(o);
  client.connect_async(open_broker.host(), open_broker.port());
  REQUIRE(wait_until([&] { return received(sub, "it/dead2/denied").size() == 2; }, 20s));
  CHECK(received(sub, "it/dead2/denied") == std::vector<std::string>{"d-0", "d-2"});
  CHECK(client.stats().dead_letters == 0);
  client.stop();
}

TEST_CASE("resend_dead_letters() that runs out of time says so in its own words") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "dead-timeout"));
  client.connect_async(broker.host(), broker.port());
  const pid_t worker = client.stats().worker_pid;
  REQUIRE(worker > 0);
  // A stopped worker cannot serve the request: the wait runs out on any machine.
  REQUIRE(::kill(worker, SIGSTOP) == 0);
  std::uint64_t moved = 7;
  const auto ec = client.resend_dead_letters(std::chrono::milliseconds(200), moved);
  REQUIRE(::kill(worker, SIGCONT) == 0);
  CHECK(ec == errc::resend_timeout);
  CHECK(ec.message().find("dead letters") != std::string::npos);
  CHECK(moved == 7);  // untouched on failure
  // The request stays: the worker serves it once it runs again.
  const auto again = client.resend_dead_letters(std::chrono::seconds(60), moved);
  CHECK_MESSAGE(!again, again.message());
  CHECK(moved == 0);
  client.stop();
}
