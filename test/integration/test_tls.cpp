// TLS as deployments meet it, with certificates made by the test (tls_pki.hpp): the broker's CA,
// a wrong CA, a CA file that is not PEM, options that cannot work; ALPN, the cipher list and
// the minimum TLS version against openssl s_server. Every confirmed message arrives in order.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "helpers.hpp"
#include "tls_servers.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

Options tls_options(const std::filesystem::path& cache, const std::string& id,
                    const std::filesystem::path& ca) {
  Options o = client_options(cache, id);
  o.tls.enabled = true;
  o.tls.ca_file = ca;
  return o;
}

}  // namespace

TEST_CASE("TLS with the broker's CA is accepted and every message arrives in order") {
  testkit::TempDir certs;
  Pki pki(certs.path());
  TlsBroker b(pki);
  testkit::Subscriber sub(b.broker.host(), b.broker.port(), "it/conn/tls/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  RobustClient client(tls_options(dir / "cache", "conn-tls", pki.ca()));
  client.connect_async("127.0.0.1", b.tls_port);
  REQUIRE_FALSE(publish_range(client, "it/conn/tls/seq", 0, 500));
  const auto problem = wait_in_order(sub, 500, 20s);
  CHECK_MESSAGE(problem.empty(), problem, "; ", describe(client.stats()), "\n", b.broker.log());
  client.stop();
}

TEST_CASE("TLS with a wrong CA is refused with a clear error and loses nothing") {
  testkit::TempDir certs;
  Pki pki(certs.path());
  TlsBroker b(pki);
  testkit::Subscriber sub(b.broker.host(), b.broker.port(), "it/conn/tlsbad/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  {
    RobustClient client(tls_options(dir / "cache", "conn-tlsbad", pki.wrong_ca()));
    client.connect_async("127.0.0.1", b.tls_port);
    REQUIRE_FALSE(publish_range(client, "it/conn/tlsbad/seq", 0, 300));
    CHECK(wait_until([&] { return contains(client.stats().last_error, "certificate verify failed"); },
                     10s));
    const Stats s = client.stats();
    MESSAGE("wrong CA: ", s.last_error);
    // A certificate that does not verify is a refusal: retried every reconnect_max.
    CHECK(wait_until([&] { return client.stats().state == ConnectionState::refused; }, 10s));
    CHECK(s.acknowledged == 0);
    client.stop();
    CHECK(client.stats().cache_backlog == 300);
  }
  CHECK(sub.count() == 0);
  // The same device, its CA fixed: what the refused client cached goes first.
  RobustClient fixed(tls_options(dir / "cache", "conn-tlsbad", pki.ca()));
  fixed.connect_async("127.0.0.1", b.tls_port);
  REQUIRE_FALSE(publish_range(fixed, "it/conn/tlsbad/seq", 300, 400));
  const auto problem = wait_in_order(sub, 400, 20s);
  CHECK_MESSAGE(problem.empty(), problem, "; ", describe(fixed.stats()));
  fixed.stop();
}

TEST_CASE("a TLS CA file that is not PEM shows in stats() and loses nothing") {
  testkit::TempDir certs;
  Pki pki(certs.path());
  TlsBroker b(pki);
  testkit::TempDir dir;
  write_file(dir / "garbage.pem",
             "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  RobustClient client(tls_options(dir / "cache", "conn-tlsgarbage", dir / "garbage.pem"));
  client.connect_async("127.0.0.1", b.tls_port);
  REQUIRE_FALSE(publish_range(client, "it/conn/tlsgarbage/seq", 0, 50));
  CHECK(wait_until([&] { return contains(client.stats().last_error, "tls.ca_file"); }, 10s));
  MESSAGE("garbage CA file: ", client.stats().last_error);
  client.stop();
  const Stats s = client.stats();
  CHECK(s.acknowledged == 0);
  CHECK(s.cache_backlog == 50);
}

TEST_CASE("TLS options that cannot work are refused by connect_async() naming the option") {
  testkit::TempDir dir;
  Options missing = tls_options(dir / "cache", "conn-tlsopt", dir / "no-such-ca.pem");
  RobustClient a(missing);
  CHECK_THROWS_WITH_AS(a.connect_async("127.0.0.1", 8883), doctest::Contains("tls.ca_file"),
                       std::system_error);
  Options plain = client_options(dir / "cache", "conn-tlsopt");
  plain.tls.ca_file = dir / "ca.pem";  // set, but TLS is off: a tcp:// connection ignores it
  RobustClient b(plain);
  CHECK_THROWS_WITH_AS(b.connect_async("127.0.0.1", 1883), doctest::Contains("tls.enabled"),
                       std::system_error);
  Options window = client_options(dir / "cache", "conn-tlsopt");
  window.max_inflight = 65536;
  RobustClient c(window);
  CHECK_THROWS_WITH_AS(c.connect_async("127.0.0.1", 1883), doctest::Contains("max_inflight"),
                       std::system_error);
  Options version = tls_options(dir / "cache", "conn-tlsopt", {});
  version.tls.min_version = "tls1.3";  // mosquitto's spelling is tlsv1.3
  RobustClient d(version);
  CHECK_THROWS_WITH_AS(d.connect_async("127.0.0.1", 8883),
                       doctest::Contains("Options::tls.min_version 'tls1.3'"), std::system_error);
}

TEST_CASE("TLS options: ALPN and the cipher list reach the handshake") {
  testkit::TempDir dir;
  Pki pki(dir.path());
  // TLS 1.2 only (the cipher list governs TLS 1.2 and below), with one cipher.
  TlsServer server(pki, dir / "s_server.log", "ECDHE-ECDSA-AES256-GCM-SHA384");
  Options o = client_options(dir / "cache", "tls-options");
  o.servers = {server.uri()};
  o.tls.ca_file = pki.ca();
  o.tls.alpn = "mqtt,x-amzn-mqtt-ca";

  SUBCASE("a cipher the server takes: the handshake completes, ALPN offered") {
    o.tls.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384";
    RobustClient c(o);
    c.connect_async();
    CHECK_MESSAGE(wait_until([&] {
      return server.log().find("ALPN protocols advertised by the client: mqtt, x-amzn-mqtt-ca") !=
             std::string::npos;
    }, 30s), server.log());
    CHECK(server.log().find("ECDHE-ECDSA-AES256-GCM-SHA384") != std::string::npos);
  }
  SUBCASE("only a cipher the server refuses: no handshake, the reason in last_error") {
    o.tls.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
    RobustClient c(o);
    c.connect_async();
    CHECK_MESSAGE(wait_until([&] {
      return server.log().find("no shared cipher") != std::string::npos;
    }, 30s), server.log());
    CHECK(wait_until([&] { return c.stats().last_error.find("TLS") != std::string::npos; }, 30s));
    CHECK(c.stats().state != ConnectionState::connected);
  }
}

TEST_CASE("tls.min_version: above what the server speaks the handshake is refused with OpenSSL's "
          "reason and the state `refused`; at its version the handshake completes") {
  testkit::TempDir dir;
  Pki pki(dir.path());
  TlsServer server(pki, dir / "s_server.log");  // TLS 1.2 only
  Options o = client_options(dir / "cache", "tls-min-version");
  o.servers = {server.uri()};
  o.tls.ca_file = pki.ca();
  SUBCASE("tlsv1.3: refused") {
    o.tls.min_version = "tlsv1.3";
    RobustClient c(o);
    c.connect_async();
    CHECK(wait_until([&] { return c.stats().state == ConnectionState::refused; }, 30s));
    const Stats s = c.stats();
    MESSAGE("tlsv1.3 against a TLS 1.2 server: ", s.last_error);
    CHECK((contains(s.last_error, "unsupported protocol") ||
           contains(s.last_error, "protocol version")));
    // The client never got as far as its CONNECT packet (protocol name "MQTT").
    CHECK(server.log().find("MQTT") == std::string::npos);
  }
  SUBCASE("tlsv1.2: the handshake completes and the CONNECT packet goes through it") {
    o.tls.min_version = "tlsv1.2";
    RobustClient c(o);
    c.connect_async();
    CHECK_MESSAGE(wait_until([&] { return server.log().find("MQTT") != std::string::npos; }, 30s),
                  server.log());
  }
}

TEST_CASE("tls.min_version tlsv1.3 works against a broker that speaks TLS 1.3 (mosquitto): every "
          "message arrives in order") {
  testkit::TempDir certs;
  Pki pki(certs.path());
  TlsBroker b(pki);
  testkit::Subscriber sub(b.broker.host(), b.broker.port(), "it/tls/v13/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  Options o = tls_options(dir / "cache", "tls-v13", pki.ca());
  o.tls.min_version = "tlsv1.3";
  RobustClient client(o);
  client.connect_async("127.0.0.1", b.tls_port);
  REQUIRE_FALSE(publish_range(client, "it/tls/v13/seq", 0, 200));
  const auto problem = wait_in_order(sub, 200, 30s);
  CHECK_MESSAGE(problem.empty(), problem, "; ", describe(client.stats()));
  client.stop();
}

TEST_CASE("tls.min_version is refused, naming the file, where the system's OpenSSL configuration "
          "configures OpenSSL at start-up (RobustMQ's own would replace it)") {
  testkit::TempDir dir;
  const auto conf = dir / "openssl.cnf";
  write_file(conf, "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n"
                   "[tls]\nMinProtocol = TLSv1.2\n");
  Options o = client_options(dir / "cache", "tls-system-conf");
  o.servers = {"ssl://127.0.0.1:1"};
  o.tls.min_version = "tlsv1.3";
  // The worker inherits the environment (only this test's thread runs now).
  ::setenv("OPENSSL_CONF", conf.c_str(), 1);
  auto [err, what] = connect_failure(o);
  ::unsetenv("OPENSSL_CONF");
  CHECK(err != 0);
  CHECK_MESSAGE(contains(what, "configures OpenSSL at start-up"), what);
  CHECK(contains(what, conf.string()));
}

namespace {

// The file names of the shared libraries process `pid` has mapped.
std::set<std::string> libraries_of(pid_t pid) {
  std::set<std::string> out;
  std::ifstream maps(fmt::format("/proc/{}/maps", pid));
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.rfind('/');
    if (slash != std::string::npos && line.find(".so", slash) != std::string::npos)
      out.insert(line.substr(slash + 1));
  }
  return out;
}

bool has(const std::set<std::string>& libraries, std::string_view prefix) {
  return std::any_of(libraries.begin(), libraries.end(),
                     [&](const std::string& l) { return l.starts_with(prefix); });
}

}  // namespace

TEST_CASE("the worker loads OpenSSL only when a server uses TLS (Paho opened at run time)") {
  // Set by the build when the worker opens the system's Paho at run time; with Paho from the
  // subproject, linked, OpenSSL is always there.
  const bool at_run_time = std::getenv("ROBUSTMQ_TEST_PAHO_AT_RUN_TIME") != nullptr;
  testkit::TempDir certs;
  Pki pki(certs.path());
  TlsBroker b(pki);
  for (const bool tls : {false, true}) {
    CAPTURE(tls);
    testkit::TempDir dir;
    Options o = tls ? tls_options(dir / "cache", "libs-tls", pki.ca())
                    : client_options(dir / "cache", "libs-plain");
    RobustClient client(o);
    client.connect_async("127.0.0.1", tls ? b.tls_port : b.broker.port());
    REQUIRE_FALSE(client.publish("it/libs", "one", 1));
    REQUIRE(wait_acknowledged(client, 1, 20s));
    const pid_t pid = worker_of(client);
    REQUIRE(pid > 0);
    const auto libs = libraries_of(pid);
    CAPTURE(fmt::format("{}", fmt::join(libs, " ")));
    CHECK(has(libs, "libssl.so") == (tls || !at_run_time));
    CHECK(has(libs, "libcrypto.so") == (tls || !at_run_time));
    if (at_run_time) {
      CHECK(has(libs, "libpaho-mqtt3as.so") == tls);
      CHECK(has(libs, "libpaho-mqtt3a.so") == !tls);
    }
    client.stop();
  }
}
