// WebSockets and HTTP proxies, end to end with real parts: mosquitto behind a WebSocket relay
// (websockify: Debian 12's mosquitto has no WebSockets), plain and TLS; the testkit's HTTP
// CONNECT proxy, set as an option and through the environment, and kept out by no_proxy. (The
// TLS options against openssl s_server: test_tls.cpp.)
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include <testkit/http_proxy.hpp>
#include <testkit/websocket_relay.hpp>

#include "helpers.hpp"
#include "tls_pki.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

std::string target(const testkit::Mosquitto& b) { return "127.0.0.1:" + std::to_string(b.port()); }
std::string target(int port) { return "127.0.0.1:" + std::to_string(port); }

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Publishes n numbered messages on topic through `o` and checks that they all arrive, in
// order, at sub; the client ends connected to `server`.
void deliver(Options o, const testkit::Subscriber& sub, const std::string& topic,
             const std::string& server, std::uint64_t n = 200) {
  RobustClient c(std::move(o));
  c.connect_async();
  REQUIRE_FALSE(publish_range(c, topic, 0, n));
  CHECK_MESSAGE(wait_in_order(sub, n, 60s) == "", c.stats().last_error);
  const Stats s = c.stats();
  CHECK(s.server == server);
  CHECK(s.state == ConnectionState::connected);
}

// Sets an environment variable for the scope of a test case (the test process's own
// environment, read by connect_async()).
struct ScopedEnv {
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  }
  ~ScopedEnv() { ::unsetenv(name_); }  // NOLINT(concurrency-mt-unsafe)
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  const char* name_;
};

}  // namespace

TEST_CASE("ws:// and wss:// through a WebSocket relay in front of mosquitto") {
  // A test that cannot run fails rather than passing unseen: scripts/deps.sh installs it.
  REQUIRE_MESSAGE(testkit::WebSocketRelay::available(),
                  "websockify is not installed: run scripts/deps.sh (apt-get install websockify)");
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "ws/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;

  SUBCASE("plain") {
    testkit::WebSocketRelay relay({.target_port = broker.port()});
    Options o = client_options(dir / "cache", "ws-plain");
    o.servers = {relay.uri()};
    deliver(o, sub, "ws/plain", relay.uri());
    CHECK(relay.log().find("127.0.0.1") != std::string::npos);
  }
  SUBCASE("TLS") {
    Pki pki(dir.path());
    testkit::WebSocketRelay relay(
        {.target_port = broker.port(), .cert_file = pki.server_cert(), .key_file = pki.server_key()});
    Options o = client_options(dir / "cache", "ws-tls");
    o.servers = {relay.uri()};
    o.tls.ca_file = pki.ca();
    deliver(o, sub, "ws/tls", relay.uri());
  }
  SUBCASE("TLS through an HTTPS proxy (CONNECT, then TLS, then the WebSocket)") {
    Pki pki(dir.path());
    testkit::WebSocketRelay relay(
        {.target_port = broker.port(), .cert_file = pki.server_cert(), .key_file = pki.server_key()});
    testkit::HttpConnectProxy proxy;
    Options o = client_options(dir / "cache", "wss-proxy");
    o.servers = {relay.uri()};
    o.tls.ca_file = pki.ca();
    o.https_proxy = proxy.url();
    deliver(o, sub, "ws/proxy", relay.uri());
    CHECK_MESSAGE(proxy.tunnels_to(target(relay.port())) >= 1, joined(proxy.log()));
  }
}

TEST_CASE("an HTTP CONNECT proxy: as an option, from the environment, and kept out by no_proxy") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "proxy/#");
  REQUIRE(sub.wait_subscribed());
  testkit::HttpConnectProxy proxy;
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "via-proxy");
  o.servers = {broker.uri()};

  SUBCASE("Options::http_proxy") {
    o.http_proxy = proxy.url();
    deliver(o, sub, "proxy/option", broker.uri());
    CHECK_MESSAGE(proxy.tunnels_to(target(broker)) >= 1, joined(proxy.log()));
  }
  SUBCASE("the environment's http_proxy") {
    ScopedEnv env("http_proxy", proxy.url());
    deliver(o, sub, "proxy/env", broker.uri());
    CHECK_MESSAGE(proxy.tunnels_to(target(broker)) >= 1, joined(proxy.log()));
  }
  SUBCASE("no_proxy exempts the broker: no tunnel, even though Paho would read http_proxy") {
    ScopedEnv env("http_proxy", proxy.url());
    ScopedEnv no("no_proxy", "localhost,127.0.0.1");
    deliver(o, sub, "proxy/none", broker.uri());
    CHECK_MESSAGE(proxy.log().empty(), joined(proxy.log()));
  }
  SUBCASE("a proxy variable no broker would use is not read: a malformed https_proxy beside a "
          "tcp:// broker") {
    ScopedEnv tls_only("https_proxy", "https://proxy.example:443");  // Paho cannot speak it
    deliver(o, sub, "proxy/unused", broker.uri());
  }
  SUBCASE("a proxy variable no broker would use is not read: no_proxy=* exempts every broker") {
    ScopedEnv socks("http_proxy", "socks5h://proxy.example:1080");
    o.no_proxy = "*";
    deliver(o, sub, "proxy/exempt", broker.uri());
  }
  SUBCASE("a proxy that cannot reach the broker: the reason is in last_error, nothing is lost") {
    testkit::HttpConnectProxy proxy2;
    o.http_proxy = proxy2.url();
    o.servers = {"tcp://127.0.0.1:1"};  // nothing listens there
    RobustClient c(o);
    c.connect_async();
    REQUIRE_FALSE(publish_range(c, "proxy/lost", 0, 10));
    CHECK(wait_until([&] { return proxy2.log().size() >= 1; }, 30s));
    CHECK(joined(proxy2.log()).find("-> 502") != std::string::npos);
    CHECK(wait_until([&] { return !c.stats().last_error.empty(); }, 30s));
    CHECK(c.stats().ring_backlog + c.stats().cache_backlog == 10);
  }
}
