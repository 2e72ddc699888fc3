// Which broker the worker connects to next (Options::servers), and through which proxy.
//
// The worker rotates the list itself rather than handing Paho its serverURIs: every reconnect
// takes a fresh Paho handle (mqtt_options.cpp says why), and Paho's rotation lives inside one
// connect call — it would try the whole list back to back, without the loop's backoff between
// attempts, start again at the first URI on every reconnect, and could not go to a server
// outside the list (an MQTT 5 Server Reference). Here each attempt goes to one server, named in
// stats().server and in last_error, and picks its own proxy (no_proxy is per host).
//
// Rules (ServerRotation):
//   - The first attempt goes to the first server.
//   - A failed attempt moves to the next server (after the last: the first again); the loop's
//     backoff runs between attempts as with one server.
//   - A lost connection is first retried at the same server (it worked a moment ago: a
//     keepalive or acknowledgement timeout, a broker restart); if that attempt fails, the next.
//   - MQTT 5 "use another server" (0x9C) or "server moved" (0x9D) with a Server Reference, in a
//     DISCONNECT: the next attempt goes to the referenced server. At most kMaxReferences are
//     followed in a row (a reference received while connected to a referenced server counts
//     on); then references are ignored until a connection or attempt ends without one, so two
//     brokers referring to each other cannot bounce the client forever. After an attempt at a
//     referenced server fails, or its connection is lost, the list resumes after the server
//     that referred. (Paho 1.3.12 hands a refused CONNACK's properties to nobody, so a CONNACK
//     0x9C / 0x9D is a failed attempt: the next server of the list.)
//   - A reference is ignored when it would switch between TLS (ssl://, wss://) and a plain
//     connection: from TLS that is a downgrade any broker on the path could ask for; to TLS, the
//     worker has no certificates for it and may not have loaded TLS at all (paho_library.hpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "proto/server_uri.hpp"
#include "proto/worker_config.hpp"

namespace robustmq::worker {

inline constexpr int kMaxReferences = 5;

class ServerRotation {
 public:
  explicit ServerRotation(std::vector<ServerUri> list);  // at least one

  // The server of the next attempt (and of the connection it makes).
  const ServerUri& next_attempt();
  const ServerUri& current() const noexcept { return referred_ ? reference_ : list_[index_]; }

  // How the last attempt or connection ended. `reference` (MQTT 5 0x9C / 0x9D), if any, is
  // followed within the cap; returns false when it was ignored (or could not be read).
  void attempt_failed() noexcept { outcome_ = Outcome::failed; }
  void connected() noexcept {
    outcome_ = Outcome::connected;
    lost_retried_ = false;
  }
  void connection_lost() noexcept { outcome_ = Outcome::lost; }
  bool referred(std::string_view reference);
  // Why referred() last returned false.
  const std::string& ignored_because() const noexcept { return ignored_because_; }

  std::size_t size() const noexcept { return list_.size(); }
  int references_followed() const noexcept { return follows_; }

 private:
  enum class Outcome { none, connected, lost, failed, referred };
  std::vector<ServerUri> list_;
  std::size_t index_ = 0;
  Outcome outcome_ = Outcome::none;
  bool referred_ = false;  // current() is reference_
  ServerUri reference_;
  ServerUri pending_;      // the reference to follow next
  int follows_ = 0;        // references followed in a row
  bool reference_seen_ = false;  // since the last attempt, followed or not
  bool lost_retried_ = false;
  std::string ignored_because_;
};

// The brokers of a configuration: its servers, or (an older client) host, port and tls.
// Throws std::runtime_error naming a URI that does not parse.
std::vector<ServerUri> servers_of(const WorkerConfig& c);

// The proxy for `server` (Paho's "[user:password@]host:port"), or empty: direct. The
// proxies and no_proxy as in WorkerConfig.
std::string proxy_for(const ServerUri& server, const std::string& http_proxy,
                      const std::string& https_proxy, std::string_view no_proxy);

// "mqtt,x-amzn-mqtt-ca" in the wire format of ALPN (each name after its length byte).
std::string alpn_wire(std::string_view comma_separated);

}  // namespace robustmq::worker
