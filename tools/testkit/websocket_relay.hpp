// WebSocketRelay: an MQTT-over-WebSocket endpoint in front of a plain broker, for tests of ws://
// and wss:// (Debian 12's mosquitto is built without WebSockets). It runs Debian's websockify
// (package websockify, scripts/deps.sh) on a free loopback port, relaying each WebSocket's
// binary frames to 127.0.0.1:<target_port>; with a certificate and key it serves TLS only
// (wss://).
//
// websockify 0.10 answers a client's Sec-WebSocket-Protocol only when it offers "binary", and
// fails the handshake of any other (it must pick one the client offered); MQTT clients offer
// "mqtt" (Paho: "Sec-WebSocket-Protocol: mqtt"). The relay therefore starts websockify's own
// entry point from /usr/bin/python3 with one change: it picks "mqtt" when offered, as an MQTT broker does.
//
//   robustmq::testkit::WebSocketRelay relay({.target_port = broker.port()});
//   options.servers = {relay.uri()};  // "ws://127.0.0.1:<port>/mqtt"
//
// The relay is killed (with its per-connection children) by the destructor, and when the test
// process dies (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "testkit/temp_dir.hpp"

namespace robustmq::testkit {

struct WebSocketRelayOptions {
  int target_port = 0;  // the broker, on 127.0.0.1
  std::filesystem::path cert_file = {};  // both set: wss:// (TLS only)
  std::filesystem::path key_file = {};
};

class WebSocketRelay {
 public:
  // Returns once the relay accepts connections; throws std::runtime_error (with its log) if it
  // does not within 20 s, or websockify is missing.
  explicit WebSocketRelay(WebSocketRelayOptions options);
  ~WebSocketRelay();
  WebSocketRelay(const WebSocketRelay&) = delete;
  WebSocketRelay& operator=(const WebSocketRelay&) = delete;

  static bool available();  // websockify (python3-websockify) is installed

  int port() const noexcept { return port_; }
  std::string uri() const;  // ws://127.0.0.1:<port>/mqtt, or wss://
  std::string log() const;  // what websockify wrote (one line per connection)

 private:
  WebSocketRelayOptions options_;
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace robustmq::testkit
