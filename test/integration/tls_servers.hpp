// TLS endpoints for the tests, with the certificates of tls_pki.hpp: a mosquitto with a second,
// TLS listener (TlsBroker), and openssl s_server, which says what the handshake saw (TlsServer).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "helpers.hpp"
#include "tls_pki.hpp"

namespace robustmq::test {

// A broker with a second, TLS listener; the first (plain) one serves the test's subscriber.
struct TlsBroker {
  // `listener_config`: more lines for the TLS listener (e.g. tls_version); `cert`: the server
  // certificate, by its name in the Pki (Pki::issue()).
  explicit TlsBroker(const Pki& pki, const std::vector<std::string>& listener_config = {},
                     const std::string& cert = "server")
      : tls_port(testkit::free_port()), broker(options(pki, tls_port, listener_config, cert)) {}
  static testkit::MosquittoOptions options(const Pki& pki, int port,
                                           const std::vector<std::string>& more,
                                           const std::string& cert) {
    testkit::MosquittoOptions o{
        .extra_config = {"listener " + std::to_string(port) + " 127.0.0.1",
                         "cafile " + pki.ca().string(),
                         "certfile " + (pki.dir / (cert + ".pem")).string(),
                         "keyfile " + (pki.dir / (cert + ".key")).string()}};
    o.extra_config.insert(o.extra_config.end(), more.begin(), more.end());
    return o;
  }
  int tls_port;
  testkit::Mosquitto broker;
};

// openssl s_server (Debian's openssl) as a TLS endpoint that says what it saw: the ALPN
// protocols the client offered, the cipher agreed on or "no shared cipher". It speaks no MQTT,
// so the client's connection attempts end after the handshake; only the handshake is tested.
class TlsServer {
 public:
  // Speaks TLS 1.2 only; `cipher`: its one cipher, or empty: OpenSSL's list.
  TlsServer(const Pki& pki, const std::filesystem::path& log, const std::string& cipher = "")
      : port_(testkit::free_port()), log_(log) {
    // stdin stays open (s_server ends at its end of file), hence the sleep.
    const std::string cmd = "sleep 3600 | openssl s_server -accept 127.0.0.1:" + std::to_string(port_) +
                            " -cert " + pki.server_cert().string() + " -key " +
                            pki.server_key().string() + " -tls1_2" +
                            (cipher.empty() ? "" : " -cipher " + cipher) + " -alpn mqtt >" +
                            log.string() + " 2>&1";
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::setpgid(0, 0);  // the shell, sleep and openssl go together (kill(-pid))
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    REQUIRE(wait_until([&] { return testkit::accepts_connections(port_); }, 20s));
  }
  ~TlsServer() {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;
  int port() const { return port_; }
  std::string uri() const { return "ssl://127.0.0.1:" + std::to_string(port_); }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  int port_;
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

}  // namespace robustmq::test
