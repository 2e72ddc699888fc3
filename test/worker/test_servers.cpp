// Which broker the worker tries next (worker/servers.hpp): the rotation over Options::servers,
// Server References and their cap, the proxy of each server.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "worker/servers.hpp"

using namespace robustmq;
using namespace robustmq::worker;

namespace {

std::vector<ServerUri> list(std::initializer_list<const char*> uris) {
  std::vector<ServerUri> out;
  std::string error;
  for (const char* u : uris) out.push_back(*parse_server_uri(u, error));
  return out;
}

std::string next(ServerRotation& r) { return r.next_attempt().text(); }

}  // namespace

TEST_CASE("failed attempts go round the list; a lost connection is retried once first") {
  ServerRotation r(list({"tcp://a", "tcp://b", "tcp://c"}));
  CHECK(next(r) == "tcp://a:1883");
  r.attempt_failed();
  CHECK(next(r) == "tcp://b:1883");
  r.attempt_failed();
  CHECK(next(r) == "tcp://c:1883");
  r.attempt_failed();
  CHECK(next(r) == "tcp://a:1883");  // round again
  r.connected();
  r.connection_lost();
  CHECK(next(r) == "tcp://a:1883");  // it worked a moment ago
  r.attempt_failed();
  CHECK(next(r) == "tcp://b:1883");
  r.connected();
  r.connection_lost();
  CHECK(next(r) == "tcp://b:1883");
  r.connected();  // the retry worked: the next loss is retried again
  r.connection_lost();
  CHECK(next(r) == "tcp://b:1883");
  CHECK(next(r) == "tcp://b:1883");  // no report: the same
}

TEST_CASE("a Server Reference is followed, then the list resumes after the referring server") {
  ServerRotation r(list({"tcp://a", "tcp://b"}));
  CHECK(next(r) == "tcp://a:1883");
  r.connected();
  r.connection_lost();
  CHECK(r.referred("elsewhere:1999"));
  CHECK(next(r) == "tcp://elsewhere:1999");
  r.attempt_failed();
  CHECK(next(r) == "tcp://b:1883");
  CHECK_FALSE(r.referred("bad:port:x"));  // unreadable: ignored
}

TEST_CASE("a Server Reference never changes whether the connection is TLS") {
  SUBCASE("a TLS broker cannot send the client to plain TCP") {
    ServerRotation r(list({"ssl://a:8883"}));
    CHECK(next(r) == "ssl://a:8883");
    r.connected();
    r.connection_lost();
    CHECK_FALSE(r.referred("tcp://elsewhere:1883"));
    CHECK_FALSE(r.referred("ws://elsewhere:80"));
    CHECK(next(r) == "ssl://a:8883");
    CHECK(r.referred("wss://elsewhere:443"));  // TLS still
    CHECK(next(r) == "wss://elsewhere:443");
  }
  SUBCASE("a plain broker cannot send the client to TLS, which it was not set up for") {
    ServerRotation r(list({"tcp://a"}));
    CHECK(next(r) == "tcp://a:1883");
    r.connected();
    r.connection_lost();
    CHECK_FALSE(r.referred("ssl://elsewhere:8883"));
    CHECK(next(r) == "tcp://a:1883");
    CHECK(r.referred("elsewhere:1999"));  // host and port: the scheme stays
    CHECK(next(r) == "tcp://elsewhere:1999");
  }
  SUBCASE("in a list of both kinds, the server in use decides") {
    ServerRotation r(list({"tcp://a", "ssl://b:8883"}));
    CHECK(next(r) == "tcp://a:1883");
    r.connected();
    r.connection_lost();
    CHECK_FALSE(r.referred("ssl://elsewhere:8883"));
    CHECK(r.ignored_because() == "it would switch a plain connection to TLS");
    r.attempt_failed();
    CHECK(next(r) == "ssl://b:8883");
    r.connected();
    r.connection_lost();
    CHECK_FALSE(r.referred("tcp://elsewhere:1883"));
    CHECK(r.ignored_because() == "it would leave TLS for a plain connection");
    CHECK(r.referred("ssl://elsewhere:8884"));
    CHECK(next(r) == "ssl://elsewhere:8884");
  }
}

TEST_CASE("at most kMaxReferences references are followed in a row") {
  ServerRotation r(list({"tcp://a"}));
  CHECK(next(r) == "tcp://a:1883");
  for (int i = 0; i < kMaxReferences; ++i) {
    r.connected();
    r.connection_lost();
    REQUIRE(r.referred(i % 2 == 0 ? "b" : "a"));
    next(r);
  }
  r.connected();
  r.connection_lost();
  CHECK_FALSE(r.referred("b"));  // a bounce between two brokers ends here
  CHECK(r.references_followed() == kMaxReferences);
  next(r);
  r.attempt_failed();  // an end without a reference: following starts again
  next(r);
  r.connected();
  r.connection_lost();
  CHECK(r.referred("b"));
}

TEST_CASE("each server gets the proxy of its kind unless no_proxy exempts its host") {
  const auto s = list({"tcp://broker", "ssl://broker", "ws://near.local", "wss://far"});
  const std::string http = "http://u:p@proxy:3128";
  const std::string https = "http://tls-proxy";
  CHECK(proxy_for(s[0], http, https, "") == "u:p@proxy:3128");
  CHECK(proxy_for(s[1], http, https, "") == "tls-proxy:8080");
  CHECK(proxy_for(s[2], http, https, ".local") == "");
  CHECK(proxy_for(s[3], http, https, ".local") == "tls-proxy:8080");
  CHECK(proxy_for(s[3], http, "", "") == "");
  CHECK(proxy_for(s[0], http, https, "*") == "");
}

TEST_CASE("ALPN protocols in the wire format") {
  CHECK(alpn_wire("mqtt") == std::string("\x04mqtt"));
  CHECK(alpn_wire("mqtt,x-amzn-mqtt-ca") == std::string("\x04mqtt\x0ex-amzn-mqtt-ca"));
  CHECK(alpn_wire("") == "");
}
