// Broker URIs, Server References, proxy URLs and no_proxy (proto/server_uri.hpp).
#include <doctest/doctest.h>

#include <string>

#include "proto/server_uri.hpp"

using namespace robustmq;

namespace {

std::string normalised(const std::string& uri) {
  std::string error;
  auto u = parse_server_uri(uri, error);
  return u ? u->text() : "error: " + error;
}

}  // namespace

TEST_CASE("server URIs get Paho's default ports and a normal form") {
  CHECK(normalised("tcp://broker") == "tcp://broker:1883");
  CHECK(normalised("mqtt://broker") == "tcp://broker:1883");
  CHECK(normalised("ssl://broker") == "ssl://broker:8883");
  CHECK(normalised("MQTTS://broker:8884") == "ssl://broker:8884");
  CHECK(normalised("ws://broker") == "ws://broker:80");
  CHECK(normalised("wss://broker") == "wss://broker:443");
  CHECK(normalised("wss://broker/") == "wss://broker:443");
  CHECK(normalised("ws://broker:9001/mqtt") == "ws://broker:9001/mqtt");
  CHECK(normalised("tcp://[::1]") == "tcp://[::1]:1883");
  CHECK(normalised("tcp://[fe80::1%eth0]:1884") == "tcp://[fe80::1%eth0]:1884");
  CHECK(normalised("tcp://10.0.0.7:65535") == "tcp://10.0.0.7:65535");
}

TEST_CASE("a bad server URI is refused with the URI and the reason") {
  struct Row {
    const char* uri;
    const char* says;
  };
  const Row rows[] = {
      {"broker:1883", "no scheme"},
      {"http://broker", "unknown scheme 'http'"},
      {"tcp://", "the host is missing"},
      {"tcp://:1883", "the host is missing"},
      {"tcp://broker:0", "not a number in 1..65535"},
      {"tcp://broker:65536", "not a number in 1..65535"},
      {"tcp://broker:12x", "not a number in 1..65535"},
      {"tcp://broker:", "not a number in 1..65535"},
      {"tcp://::1:1883", "in brackets"},
      {"tcp://[::1:1883", "closing ']'"},
      {"tcp://user:pw@broker", "Options::username"},
      {"tcp://broker/mqtt", "only for ws://"},
      {"ws://broker/mqtt?x=1", "query"},
      {"tcp://bro ker", "space"},
  };
  for (const auto& r : rows) {
    INFO(r.uri);
    std::string error;
    CHECK_FALSE(parse_server_uri(r.uri, error).has_value());
    CHECK(error.find(r.says) != std::string::npos);
    CHECK(error.find(std::string("'") + r.uri + "'") != std::string::npos);
  }
}

TEST_CASE("a Server Reference is read against the server that sent it") {
  std::string error;
  const ServerUri from = *parse_server_uri("ssl://a.example:8884", error);
  auto text = [&](const char* ref) {
    auto u = parse_server_reference(ref, from);
    return u ? u->text() : std::string("none");
  };
  CHECK(text("b.example") == "ssl://b.example:8884");
  CHECK(text("b.example:9000") == "ssl://b.example:9000");
  CHECK(text("[::1]:9000") == "ssl://[::1]:9000");
  CHECK(text("tcp://c.example") == "tcp://c.example:1883");
  CHECK(text(" b.example:1 c.example:2") == "ssl://b.example:1");  // the first of a list
  CHECK(text("") == "none");
  CHECK(text("b.example:99999") == "none");
  CHECK(text("gopher://x") == "none");
}

TEST_CASE("proxy URLs: http:// only, default port 8080, credentials kept for Paho") {
  std::string error;
  auto p = parse_proxy_url("http://user:p%40ss@proxy.example:3128/", error);
  REQUIRE(p.has_value());
  CHECK(p->paho_text() == "user:p%40ss@proxy.example:3128");
  p = parse_proxy_url("proxy.example", error);
  REQUIRE(p.has_value());
  CHECK(p->paho_text() == "proxy.example:8080");
  CHECK_FALSE(parse_proxy_url("https://proxy:3128", error).has_value());
  CHECK(error.find("Paho 1.3.12") != std::string::npos);
  CHECK_FALSE(parse_proxy_url("socks5://proxy:1080", error).has_value());
  CHECK(error.find("unknown scheme 'socks5'") != std::string::npos);
  CHECK_FALSE(parse_proxy_url("http://proxy:0", error).has_value());
  CHECK_FALSE(parse_proxy_url("http://user:secret@", error).has_value());
  CHECK(error.find("secret") == std::string::npos);  // a password is never quoted
}

TEST_CASE("proxy credentials must be percent-encoded as Paho reads them") {
  std::string error;
  // Paho decodes %XX in the user info and stops at its first '@': a '%' without two hex
  // digits, or a second '@', would be misread (or never read to its end).
  CHECK_FALSE(parse_proxy_url("http://u:50%off@proxy:3128", error).has_value());
  CHECK(error.find("%40") != std::string::npos);  // says how to write it
  CHECK(error.find("50%off") == std::string::npos);  // without quoting the password
  CHECK_FALSE(parse_proxy_url("http://u:p%4@proxy:3128", error).has_value());
  CHECK_FALSE(parse_proxy_url("http://u:p%@proxy:3128", error).has_value());
  CHECK_FALSE(parse_proxy_url("http://u:p@ss@proxy:3128", error).has_value());
  CHECK(parse_proxy_url("http://u:p%25%40%3a@proxy:3128", error).has_value());
}

TEST_CASE("no_proxy matches hosts, their domains, addresses and *") {
  CHECK(no_proxy_matches("*", "anything"));
  CHECK(no_proxy_matches("example.com", "example.com"));
  CHECK(no_proxy_matches("example.com", "broker.EXAMPLE.com"));
  CHECK(no_proxy_matches(".example.com", "example.com"));
  CHECK(no_proxy_matches(".example.com", "a.b.example.com"));
  CHECK_FALSE(no_proxy_matches("example.com", "badexample.com"));
  CHECK(no_proxy_matches("localhost, 10.0.0.7", "10.0.0.7"));
  CHECK_FALSE(no_proxy_matches("10.0.0.7", "10.0.0.70"));
  CHECK(no_proxy_matches("broker.local:1883", "broker.local"));
  CHECK(no_proxy_matches("[::1]", "::1"));
  CHECK(no_proxy_matches("::1", "::1"));
  CHECK_FALSE(no_proxy_matches("", "broker"));
  CHECK_FALSE(no_proxy_matches(",,", "broker"));
}
