// robustmq-pub's TLS options against a TLS mosquitto (tls_servers.hpp) with the test's own
// certificates (tls_pki.hpp): --cafile, --capath, --cert/--key for a broker that requires client
// certificates, --insecure for a certificate of another name, --tls-version, --ciphers and
// --tls-alpn. What arrives is checked at the broker, by a subscriber on its plain listener.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "helpers.hpp"
#include "pub_tool.hpp"
#include "tls_servers.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

// robustmq-pub -h 127.0.0.1 -p <the TLS port> ... -t TOPIC -m MESSAGE, and `more`.
std::vector<std::string> tls_args(const TlsBroker& b, const std::string& cache,
                                  const std::string& topic, const std::string& message,
                                  const std::vector<std::string>& more) {
  return plus(plus(base_args("127.0.0.1", b.tls_port, cache, topic), {"-m", message}), more);
}

// The test's certificates, a TLS broker and a subscriber to pub/tls/# on its plain listener.
struct Tls {
  struct Cert {
    std::string name, cn, san;  // Pki::issue()'s
  };
  // `issue`: more certificates, made before the broker starts; `listener`: more lines for the
  // TLS listener; `cert`: the broker's certificate; `tls12`: its OpenSSL speaks TLS 1.2 at most.
  explicit Tls(const std::vector<Cert>& issue = {}, const std::vector<std::string>& listener = {},
               const std::string& cert = "server", bool tls12 = false)
      : pki(issued(certs.path(), issue)), tls12_only(tls12 && limit_to_tls12(certs)),
        b(pki, listener, cert), sub(b.broker.host(), b.broker.port(), "pub/tls/#") {
    if (tls12_only) ::unsetenv("OPENSSL_CONF");
    REQUIRE(sub.wait_subscribed());
  }
  static Pki issued(const std::filesystem::path& dir, const std::vector<Cert>& issue) {
    Pki pki(dir);
    for (const Cert& c : issue) pki.issue(c.name, c.cn, c.san);
    return pki;
  }
  // mosquitto's tls_version is its lowest version: the highest is its OpenSSL's configuration,
  // which the broker started next takes from the environment (only this test's thread runs now).
  static bool limit_to_tls12(const testkit::TempDir& dir) {
    write_file(dir / "openssl.cnf", "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\n"
                                    "system_default = tls\n[tls]\nMaxProtocol = TLSv1.2\n");
    ::setenv("OPENSSL_CONF", (dir / "openssl.cnf").c_str(), 1);
    return true;
  }
  std::string ca() const { return pki.ca().string(); }

  testkit::TempDir certs;
  Pki pki;
  bool tls12_only;
  TlsBroker b;
  testkit::Subscriber sub;
  testkit::TempDir dir;  // for the caches
};

// The payloads the subscriber got, in order.
std::vector<std::string> payloads(const testkit::Subscriber& sub) {
  std::vector<std::string> out;
  for (const auto& m : sub.messages()) out.push_back(m.payload);
  return out;
}

}  // namespace

TEST_CASE("robustmq-pub --cafile reaches a TLS broker; the wrong CA, or none, exits 5 saying "
          "which broker and what to fix, and --drain with the right CA delivers the rest") {
  Tls t;
  const auto& [b, sub, dir] = std::tie(t.b, t.sub, t.dir);
  const std::string cache = (dir / "cache").string();
  CHECK(run(tls_args(b, cache, "pub/tls/ca", "right CA", {"--cafile", t.ca()})) == 0);
  REQUIRE(wait_until([&] { return sub.count() >= 1; }, 30s));
  CHECK(payloads(sub) == std::vector<std::string>{"right CA"});

  const auto wrong = run_output(
      tls_args(b, cache, "pub/tls/ca", "wrong CA", {"--cafile", t.pki.wrong_ca().string()}));
  CHECK(wrong.first == 5);
  CHECK_MESSAGE(contains(wrong.second, "certificate verify failed"), wrong.second);
  const std::string url = "ssl://127.0.0.1:" + std::to_string(b.tls_port);
  CHECK_MESSAGE(contains(wrong.second, "the broker " + url + " refused"), wrong.second);
  CHECK_MESSAGE(contains(wrong.second, "--cafile"), wrong.second);  // what to fix

  // -L ssl:// without --cafile: the system's CAs, which did not sign the test's certificate.
  auto none = base_args("127.0.0.1", b.tls_port, (dir / "none").string(), "pub/tls/ca");
  none.erase(none.begin(), none.begin() + 4);  // no -h, -p
  const auto system_cas = run_output(plus(none, {"-L", url, "-m", "system CAs"}));
  CHECK(system_cas.first == 5);
  CHECK_MESSAGE(contains(system_cas.second, "certificate verify failed"), system_cas.second);
  CHECK_MESSAGE(contains(system_cas.second, "the broker " + url + " refused"), system_cas.second);

  // -h/-p of the TLS port without a TLS option: plain MQTT, which the TLS listener never
  // answers; the message waits in the cache (exit 4).
  auto plain = base_args("127.0.0.1", b.tls_port, (dir / "plain").string(), "pub/tls/ca");
  plain[plain.size() - 1] = "1";  // --timeout 1
  CHECK(run(plus(plain, {"-m", "plain"})) == 4);

  // The message the wrong CA left in the cache goes first once the CA is right.
  auto drain = base_args("127.0.0.1", b.tls_port, cache, "");
  drain.erase(drain.begin() + 4, drain.begin() + 6);  // no -t
  CHECK(run(plus(drain, {"--drain", "--cafile", t.ca()})) == 0);
  REQUIRE(wait_until([&] { return sub.count() >= 2; }, 30s));
  CHECK(payloads(sub) == std::vector<std::string>{"right CA", "wrong CA"});
}

TEST_CASE("robustmq-pub --cert/--key against a broker that requires client certificates; "
          "without them nothing gets through; --cert without --key is a usage error") {
  Tls t({{"client", "pub-tls-client", "DNS:pub-tls-client"}}, {"require_certificate true"});
  const auto& [b, sub, dir] = std::tie(t.b, t.sub, t.dir);
  const std::string ca = t.ca(), cert = (t.certs / "client.pem").string(),
                    key = (t.certs / "client.key").string();
  CHECK(run(tls_args(b, (dir / "a").string(), "pub/tls/cert", "with a certificate",
                     {"--cafile", ca, "--cert", cert, "--key", key})) == 0);
  REQUIRE(wait_until([&] { return sub.count() >= 1; }, 30s));
  CHECK(payloads(sub) == std::vector<std::string>{"with a certificate"});
  // TLS 1.3: the broker rejects the missing certificate after the client's side of the
  // handshake is done, and Paho reports a plain connect failure: retried, the message cached.
  const auto without = run_output(tls_args(b, (dir / "b").string(), "pub/tls/cert", "without",
                                           {"--cafile", ca, "--timeout", "2"}));
  CHECK_MESSAGE(without.first == 4, without.second);
  const auto half = run_output(
      tls_args(b, (dir / "c").string(), "pub/tls/cert", "half", {"--cafile", ca, "--cert", cert}));
  CHECK(half.first == 1);
  CHECK_MESSAGE(contains(half.second, "--cert and --key go together"), half.second);
  CHECK(sub.count() == 1);
}

TEST_CASE("robustmq-pub --capath: a directory of hashed CA certificates (openssl rehash)") {
  Tls t;
  const auto& [b, sub, dir] = std::tie(t.b, t.sub, t.dir);
  const auto capath = t.certs / "capath";
  std::filesystem::create_directory(capath);
  std::filesystem::copy_file(t.pki.ca(), capath / "test-ca.pem");
  shell("openssl rehash " + capath.string());
  CHECK(run(tls_args(b, (dir / "cache").string(), "pub/tls/capath", "via capath",
                     {"--capath", capath.string()})) == 0);
  REQUIRE(wait_until([&] { return sub.count() >= 1; }, 30s));
  CHECK(payloads(sub) == std::vector<std::string>{"via capath"});
}

TEST_CASE("robustmq-pub --insecure accepts a broker certificate for another name, which "
          "--cafile alone refuses, but still verifies who signed it (as mosquitto_pub's)") {
  Tls t({{"elsewhere", "broker.example", "DNS:broker.example"}}, {}, "elsewhere");
  const auto& [b, sub, dir] = std::tie(t.b, t.sub, t.dir);
  // Paho's own host name check fails without an OpenSSL reason: retried, the message cached.
  const auto strict = run_output(tls_args(b, (dir / "a").string(), "pub/tls/name", "strict",
                                          {"--cafile", t.ca(), "--timeout", "2"}));
  CHECK_MESSAGE(strict.first == 4, strict.second);
  CHECK(run(tls_args(b, (dir / "b").string(), "pub/tls/name", "insecure",
                     {"--cafile", t.ca(), "--insecure"})) == 0);
  // --insecure skips the host name check only: a certificate the CA did not sign is refused.
  const auto unsigned_ = run_output(tls_args(b, (dir / "c").string(), "pub/tls/name", "wrong CA",
                                             {"--cafile", t.pki.wrong_ca().string(),
                                              "--insecure"}));
  CHECK_MESSAGE(unsigned_.first == 5, unsigned_.second);
  CHECK_MESSAGE(contains(unsigned_.second, "certificate verify failed"), unsigned_.second);
  REQUIRE(wait_until([&] { return sub.count() >= 1; }, 30s));
  CHECK(payloads(sub) == std::vector<std::string>{"insecure"});
}

TEST_CASE("robustmq-pub --tls-version and --ciphers against a broker limited to TLS 1.2 and one "
          "cipher") {
  Tls t({}, {"ciphers ECDHE-ECDSA-AES256-GCM-SHA384"}, "server", true);
  const auto& [b, sub, dir] = std::tie(t.b, t.sub, t.dir);
  const std::string ca = t.ca();
  const auto v13 = run_output(tls_args(b, (dir / "a").string(), "pub/tls/version", "1.3",
                                       {"--cafile", ca, "--tls-version", "tlsv1.3"}));
  CHECK_MESSAGE(v13.first == 5, v13.second);
  CHECK_MESSAGE(contains(v13.second, "protocol version"), v13.second);
  CHECK(run(tls_args(b, (dir / "b").string(), "pub/tls/version", "1.2",
                     {"--cafile", ca, "--tls-version", "tlsv1.2", "--ciphers",
                      "ECDHE-ECDSA-AES256-GCM-SHA384", "--tls-alpn", "mqtt"})) == 0);
  // A cipher list OpenSSL cannot use: refused before connecting, naming the option.
  const auto no_cipher = run_output(tls_args(b, (dir / "c").string(), "pub/tls/version",
                                             "no such cipher", {"--cafile", ca, "--ciphers",
                                                                "NO-SUCH-CIPHER"}));
  CHECK_MESSAGE(no_cipher.first == 2, no_cipher.second);
  CHECK_MESSAGE(contains(no_cipher.second, "tls.ciphers 'NO-SUCH-CIPHER'"), no_cipher.second);
  REQUIRE(wait_until([&] { return sub.count() >= 1; }, 30s));
  CHECK(payloads(sub) == std::vector<std::string>{"1.2"});
}

TEST_CASE("robustmq-pub --tls-alpn and --ciphers reach the TLS handshake (openssl s_server)") {
  testkit::TempDir dir;
  Pki pki(dir.path());
  TlsServer server(pki, dir / "s_server.log", "ECDHE-ECDSA-AES256-GCM-SHA384");
  // -l: robustmq-pub runs, its worker connecting, until its stdin ends.
  Run r = start({"-L", server.uri(), "--cafile", pki.ca().string(), "--tls-alpn",
                 "mqtt,x-amzn-mqtt-ca", "--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384", "-i",
                 "pub-alpn", "--cache-dir", (dir / "cache").string(), "-t", "pub/alpn", "-l"});
  CHECK_MESSAGE(wait_until([&] {
    return contains(server.log(), "ALPN protocols advertised by the client: mqtt, x-amzn-mqtt-ca");
  }, 30s), server.log());
  CHECK(contains(server.log(), "ECDHE-ECDSA-AES256-GCM-SHA384"));
  ::close(r.in);  // nothing was queued: it ends at once
  ::close(r.out);
  CHECK(wait_exit(r.pid) == 0);
}
