// HttpConnectProxy: an HTTP proxy that only tunnels (CONNECT), for tests of Options::http_proxy
// and https_proxy: it accepts on a free loopback port, reads "CONNECT host:port HTTP/1.1" and
// its headers, connects to host:port, answers "HTTP/1.1 200 Connection established" (or 502
// when it cannot connect, 405 for any other method) and splices bytes both ways until either
// side closes. Every request is logged, so a test can show that a connection went through it.
//
//   robustmq::testkit::HttpConnectProxy proxy;
//   options.http_proxy = proxy.url();               // "http://127.0.0.1:<port>"
//   ... CHECK(proxy.tunnels_to("127.0.0.1:" + std::to_string(broker.port())) > 0);
//
// One thread accepts; each tunnel has a thread of its own. The destructor closes every
// connection and joins them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace robustmq::testkit {

class HttpConnectProxy {
 public:
  HttpConnectProxy();  // listening when it returns; throws std::system_error
  ~HttpConnectProxy();
  HttpConnectProxy(const HttpConnectProxy&) = delete;
  HttpConnectProxy& operator=(const HttpConnectProxy&) = delete;

  int port() const noexcept;
  std::string url() const;  // http://127.0.0.1:<port>

  // One line per request, in order: "CONNECT 127.0.0.1:1883 -> 200", "... -> 502 (why)",
  // "GET / -> 405"; then "closed 127.0.0.1:1883 (N bytes up, M down)" when a tunnel ends.
  std::vector<std::string> log() const;
  // Tunnels opened (answered 200) to target ("host:port" as the client wrote it).
  std::size_t tunnels_to(const std::string& target) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace robustmq::testkit
