// Broker addresses and HTTP proxies, as both sides read them: connect_async() checks
// Options::servers and the proxies with these parsers (its error names the URI), the worker
// parses the normalised texts again and picks the proxy of each server (no_proxy).
//
// A server URI is scheme://host[:port][/path]:
//   tcp:// (also mqtt://)   plain MQTT, default port 1883
//   ssl:// (also mqtts://)  MQTT over TLS, 8883
//   ws://                   MQTT over a WebSocket, 80; the path defaults to /mqtt (Paho's)
//   wss://                  MQTT over a WebSocket over TLS, 443
// An IPv6 address goes in brackets: tcp://[::1]:1883. No user name or password in the URI
// (they are Options::username / password), no query, and a path only for ws:// and wss://.
// The default ports are Paho's; the normalised text always carries the port, because Paho's
// HTTP proxy code asks the proxy for port 8080 when the URI has none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace robustmq {

struct ServerUri {
  enum class Scheme : std::uint8_t { tcp, ssl, ws, wss };
  Scheme scheme = Scheme::tcp;
  std::string host;  // without brackets
  int port = 1883;
  std::string path;  // ws:// and wss:// only; empty: Paho's /mqtt

  bool tls() const noexcept { return scheme == Scheme::ssl || scheme == Scheme::wss; }
  bool websocket() const noexcept { return scheme == Scheme::ws || scheme == Scheme::wss; }
  // "scheme://host:port[path]", IPv6 addresses in brackets: what Paho is given.
  std::string text() const;
  bool operator==(const ServerUri&) const = default;
};

// Parses one server URI. On error returns nothing and sets `error` to a sentence that quotes
// the URI and says what is wrong with it ("unknown scheme 'http': use tcp://, ssl://, ws:// or
// wss://").
std::optional<ServerUri> parse_server_uri(std::string_view uri, std::string& error);

// The URI for `text`, a MQTT 5 Server Reference (the first of a space-separated list): a whole
// URI, or host[:port] (an IPv6 address in brackets) reached with the scheme and, without a
// port, the port of `current`, the server that sent it. Nothing when it cannot be read.
std::optional<ServerUri> parse_server_reference(std::string_view text, const ServerUri& current);

// http://[user[:password]@]host[:port][/]: a proxy spoken to in plain HTTP (CONNECT), default
// port 8080 (Paho's). https:// (TLS to the proxy itself) is refused: Paho 1.3.12 cannot.
struct ProxyUrl {
  std::string userinfo;  // "user:password" as written (%XX escapes kept), empty: none
  std::string host;      // without brackets
  int port = 8080;
  // "[userinfo@]host:port", the form Paho takes for httpProxy and httpsProxy.
  std::string paho_text() const;
};
std::optional<ProxyUrl> parse_proxy_url(std::string_view url, std::string& error);

// Whether `host` is exempt from the proxy by `no_proxy`, a comma- (or space-) separated list in
// the usual form of the environment variable: "*" exempts every host; "example.com" and
// ".example.com" exempt example.com and every name below it; an IP address exempts that
// address. Case-insensitive; a ":port" on an entry is ignored.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

}  // namespace robustmq
