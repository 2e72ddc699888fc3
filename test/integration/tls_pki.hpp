// Certificates made by a test with Debian's openssl: a CA, a server certificate for 127.0.0.1
// (and localhost) signed by it, and a second CA that signed nothing; more certificates signed by
// the CA on demand (issue(): a client certificate, a server certificate for another name).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

namespace robustmq::test {

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
  REQUIRE(f.flush());
}

// Runs a shell command that must succeed (its output discarded).
inline void shell(const std::string& command) {
  const int rc = std::system((command + " >/dev/null 2>&1").c_str());
  REQUIRE_MESSAGE(rc == 0, command);
}

// The certificates, made in dir.
struct Pki {
  explicit Pki(const std::filesystem::path& d) : dir(d) {
    for (const char* name : {"ca", "wrong-ca"})
      shell("openssl req -x509 " + std::string(kNewKey) + "-days 2 -subj '/CN=RobustMQ test " +
            name + "' -keyout " + (dir / (std::string(name) + ".key")).string() + " -out " +
            (dir / (std::string(name) + ".pem")).string());
    issue("server", "127.0.0.1", "IP:127.0.0.1, DNS:localhost");
  }
  // Makes <name>.key and <name>.pem, a certificate for `cn` with the subjectAltName `san`
  // signed by the CA.
  void issue(const std::string& name, const std::string& cn, const std::string& san) const {
    const auto key = dir / (name + ".key"), csr = dir / (name + ".csr"), ext = dir / (name + ".cnf");
    shell("openssl req " + std::string(kNewKey) + "-subj '/CN=" + cn + "' -keyout " +
          key.string() + " -out " + csr.string());
    write_file(ext, "subjectAltName = " + san + "\n");
    shell("openssl x509 -req -days 2 -in " + csr.string() + " -CA " + ca().string() +
          " -CAkey " + (dir / "ca.key").string() + " -CAcreateserial -extfile " + ext.string() +
          " -out " + (dir / (name + ".pem")).string());
  }
  static constexpr const char* kNewKey =
      "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  std::filesystem::path ca() const { return dir / "ca.pem"; }
  std::filesystem::path wrong_ca() const { return dir / "wrong-ca.pem"; }
  std::filesystem::path server_cert() const { return dir / "server.pem"; }
  std::filesystem::path server_key() const { return dir / "server.key"; }
  std::filesystem::path dir;
};

}  // namespace robustmq::test
