// The worker's one MQTT connection, through Paho's asynchronous C API: the Transport
// (transport.hpp) of the real worker. Every result arrives as an Event; this class keeps no
// delivery state of its own (the loop does).
//
// How it keeps Transport's guarantees:
//   - Paho never re-sends a message behind the loop's back: every reconnect uses a fresh Paho
//     handle, which holds nothing from the lost connection (see mqtt_options.cpp).
//   - At most one Event::connection_lost per established connection (a broker's MQTT 5
//     DISCONNECT and the socket closing after it are one loss).
//   - Large packets go at the pace of the link, not at Paho's own (a partial write continued
//     once per second): PahoWaker (paho_waker.hpp) wakes Paho's thread when the socket has room.
//   - Failure texts carry the reason a user can act on: the CONNACK reason ("bad user name or
//     password"), OpenSSL's reason ("certificate verify failed"), Paho's message otherwise;
//     connack_refusal_is_permanent() and tls_failure_is_permanent() (mqtt_options.hpp) say
//     which of them are refusals (Event::refused).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/events.hpp"
#include "worker/servers.hpp"
#include "worker/transport.hpp"
#include "proto/server_uri.hpp"
#include "proto/worker_config.hpp"

namespace robustmq::worker {

class PahoWaker;

struct MqttTls {
  bool enabled = false;     // ssl://
  std::string ca_file;      // empty: the system's trust store (unless ca_path is set)
  std::string ca_path;
  std::string cert_file;    // client certificate, for mutual TLS
  std::string key_file;
  std::string key_password;
  bool verify = true;           // the broker's certificate chain and its host name
  bool verify_hostname = true;  // ... the host name too (false: the chain only)
  std::string alpn;         // ALPN protocols, comma-separated
  std::string ciphers;      // OpenSSL cipher list
};

struct MqttWill {
  std::string topic;  // empty: no last will
  std::string payload;
  int qos = 1;
  bool retain = false;
};

struct MqttSettings {
  std::vector<ServerUri> servers;  // tried in turn (servers.hpp); at least one
  std::string http_proxy;          // WorkerConfig's, as the worker got them
  std::string https_proxy;
  std::string no_proxy;
  std::string client_id;
  std::chrono::seconds keepalive{30};
  std::chrono::seconds connect_timeout{10};
  std::string username;
  std::string password;
  int max_inflight = 1;
  int mqtt_version = 4;  // 4: MQTT 3.1.1, 5: MQTT 5
  bool clean_session = true;
  // MQTT 5: the session expiry interval of CONNECT; negative: by clean_session (see
  // session_expiry_s()).
  std::chrono::seconds session_expiry{-1};
  MqttTls tls;  // for the ssl:// and wss:// servers
  MqttWill will;
  // MQTT 5 only: set on every message.
  std::int64_t message_ttl_s = 0;  // 0: no message expiry interval
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> user_properties;
  // Options::dedup_property: robustmq-producer's value; empty: neither it nor robustmq-seq.
  std::string dedup_producer;

  bool any_tls() const;  // some server is ssl:// or wss://
};

// Every connection option of the worker's configuration; max_inflight is the loop's window.
// Throws std::runtime_error naming a server URI that does not parse.
MqttSettings mqtt_settings(const WorkerConfig& c, std::size_t max_inflight);

// The MQTT 5 message expiry interval for a message published at enqueue_ns (CLOCK_REALTIME)
// with a time to live of ttl_s: the whole seconds it has left, rounded up, at least 1 (the
// loop drops messages that are already expired before they get here).
std::uint32_t remaining_expiry_s(std::int64_t enqueue_ns, std::int64_t ttl_s, std::int64_t now_ns);

class Mqtt final : public Transport {
 public:
  // Throws std::runtime_error with Paho's reason when the client cannot be created.
  Mqtt(MqttSettings settings, EventQueue& events);
  ~Mqtt() override;
  Mqtt(const Mqtt&) = delete;
  Mqtt& operator=(const Mqtt&) = delete;

  int connect(bool start_clean) override;
  // Paho copies the message; QoS 0 is "delivered" once Paho wrote it. Also called from Paho's
  // acknowledgement callback for a staged message, never at the same time as from the loop
  // (the loop calls send() only while nothing is staged).
  int send(const Outgoing& m, std::uint64_t send_id) override;
  // Keeps the views of `next` until unstage(); the callback of after_id's acknowledgement sends
  // it, unless it expired (message_ttl).
  void stage(const Outgoing& next, std::uint64_t send_id, std::uint64_t after_id) override;
  Taken unstage() override;
  void disconnect(std::chrono::milliseconds timeout) override;
  void set_credentials(std::string username, std::string password) override {
    settings_.username = std::move(username);
    settings_.password = std::move(password);
  }
  std::string describe_error(int code) const override { return describe(code); }
  std::string server() const override;

  static std::string describe(int paho_code);

  // Called from Paho's threads (mqtt.cpp's callbacks); not for the loop.
  struct Shared;

 private:
  MqttSettings settings_;
  EventQueue& events_;
  std::unique_ptr<Shared> shared_;
  // Keeps Paho's I/O thread going while a large packet is being written (paho_waker.hpp).
  std::unique_ptr<PahoWaker> waker_;
  ServerRotation rotation_;
  void create_handle(const ServerUri& server);  // throws std::runtime_error
  void destroy_handle();

  void* client_ = nullptr;         // MQTTAsync; null only while create_handle() failed
  bool attempted_ = false;         // connect() was called before
  void* publish_props_ = nullptr;  // MQTTProperties for every message (MQTT 5), see send()
  std::string topic_buf_;          // Paho wants a NUL-terminated topic
};

}  // namespace robustmq::worker
