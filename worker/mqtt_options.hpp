// Translating MqttSettings into Paho's option structures (worker-internal; includes Paho).
#pragma once

#include <MQTTAsync.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "worker/mqtt.hpp"

namespace robustmq::worker {

// Everything one MQTTAsync_connect() call points into. MQTTAsync_connect() copies what it
// keeps, so this may live on the caller's stack.
struct ConnectRequest {
  MQTTAsync_connectOptions connect;
  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
  MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
  MQTTProperties properties = MQTTProperties_initializer;
  std::string proxy;  // what connect.httpProxy / httpsProxy point into
  std::string alpn;   // ssl.protos, in ALPN's wire format
  ConnectRequest() = default;
  ConnectRequest(const ConnectRequest&) = delete;
  ConnectRequest& operator=(const ConnectRequest&) = delete;
  ~ConnectRequest() { MQTTProperties_free(&properties); }
};

// Fills r from s. `first`: a persistent session starts clean (the first connect of this worker
// process, or a reconnect after a cut QoS 2 handshake; see the comment in mqtt_options.cpp). Callbacks and contexts (connect
// success/failure, ssl_error_cb) are the caller's to set.
// `server`: the one this attempt goes to (TLS, proxy and WebSocket follow from it).
void build_connect(const MqttSettings& s, const ServerUri& server, bool first, ConnectRequest& r);

// MQTT 5: the session expiry interval CONNECT carries: MqttSettings::session_expiry if set,
// else 0xFFFFFFFF (never) with clean_session = false and 0 with clean_session = true.
std::uint32_t session_expiry_s(const MqttSettings& s);

// The properties every MQTT 5 message carries: the message expiry interval first (its value is
// set per message, see Mqtt::send()), then content type and user properties, and last
// robustmq-producer and robustmq-seq (set per message by set_seq_property()). Empty for 3.1.1
// or when no property is configured. The caller frees it with MQTTProperties_free().
MQTTProperties build_publish_properties(const MqttSettings& s);

// Sets robustmq-seq, the last property of build_publish_properties() with a dedup_producer,
// to `seq` in decimal, in place (Paho copies the properties of each message it is handed).
void set_seq_property(MQTTProperties& props, std::uint64_t seq);

// OpenSSL's error line ("...:error:0A000086:SSL routines:<func>:certificate verify failed:
// <file>:<line>:") reduced to "certificate verify failed (SSL routines: <func>)", with a hint
// naming the TLS options when a file did not load. Unparsable lines are returned trimmed.
std::string openssl_reason(std::string_view line);

// Whether a CONNACK refusal is one that retrying does not cure by itself (the connection state
// `refused`, README "What happens when"): MQTT 3.1.1 return codes 1 (unacceptable protocol
// version), 2 (identifier rejected), 4 (bad user name or password), 5 (not authorized); MQTT 5
// reason codes 0x84 (unsupported protocol version), 0x85 (client identifier not valid), 0x86
// (bad user name or password), 0x87 (not authorized), 0x8A (banned), 0x8C (bad authentication
// method). Every other code (server unavailable, busy, quota, rate) is retried as usual.
bool connack_refusal_is_permanent(int mqtt_version, int code);

// Whether the TLS failure `reason` (openssl_reason()'s text, several joined by ", ") means the
// certificates do not fit: the broker's does not verify, or the broker rejected ours.
bool tls_failure_is_permanent(std::string_view reason);

}  // namespace robustmq::worker
