// Certificates made by a test with Debian's openssl: a CA, a server certificate for 127.0.0.1
// (and localhost) signed by it, and a second CA that signed nothing.
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

inline void run(const std::string& command) {
  const int rc = std::system((command + " >/dev/null 2>&1").c_str());
  REQUIRE_MESSAGE(rc == 0, command);
}

// The certificates, made in dir.
struct Pki {
  explicit Pki(const std::filesystem::path& d) : dir(d) {
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    for (const char* name : {"ca", "wrong-ca"})
      run("openssl req -x509 " + ec + "-days 2 -subj '/CN=RobustMQ test " + name + "' -keyout " +
          (dir / (std::string(name) + ".key")).string() + " -out " +
          (dir / (std::string(name) + ".pem")).string());
    run("openssl req " + ec + "-subj /CN=127.0.0.1 -keyout " + server_key().string() + " -out " +
        (dir / "server.csr").string());
    write_file(dir / "ext.cnf", "subjectAltName = IP:127.0.0.1, DNS:localhost\n");
    run("openssl x509 -req -days 2 -in " + (dir / "server.csr").string() + " -CA " +
        ca().string() + " -CAkey " + (dir / "ca.key").string() + " -CAcreateserial -extfile " +
        (dir / "ext.cnf").string() + " -out " + server_cert().string());
  }
  std::filesystem::path ca() const { return dir / "ca.pem"; }
  std::filesystem::path wrong_ca() const { return dir / "wrong-ca.pem"; }
  std::filesystem::path server_cert() const { return dir / "server.pem"; }
  std::filesystem::path server_key() const { return dir / "server.key"; }
  std::filesystem::path dir;
};

}  // namespace robustmq::test
