// MqttSettings -> Paho's connect, TLS, will and publish-property structures.
//
// Sessions. The loop re-sends everything unacknowledged after a failure, oldest first
// (invariant 4 in loop.cpp), so the connection must not let anyone else re-send in a different
// order. Mqtt::connect() therefore takes a fresh Paho handle (persistence none) for every
// reconnect, whatever the session: an old handle would send what was still in its command
// queue, and in a persistent session its own re-sends of what was in flight, after the
// connect — the queued (newer) messages first, as test_connection.cpp caught under resets
// every 500 ms with a window of 16. A fresh handle holds nothing.
//
// clean_session = true (the default): the broker forgets the session at every connect.
// clean_session = false: a reconnect resumes the broker's session (cleansession = 0, MQTT 5
// clean start off with a session expiry of 0xFFFFFFFF, which never expires, like MQTT 3.1.1,
// unless Options::session_expiry says otherwise), except in two cases where the connect starts
// clean:
//   - the first connect of a worker process (after a crash, or the next connect_async()),
//   - a reconnect after a loss that cut a QoS 2 message short.
// In both, the broker may hold unfinished QoS 2 handshakes that no Paho handle of ours can
// complete, and a fresh handle's packet ids start again at 1: a broker that matches a QoS 2
// PUBLISH to a pending one by packet id alone would take a new message for an old duplicate
// and drop it. QoS 1 packet ids carry no such state, so a session in which only QoS 0/1
// messages were cut resumes. For a client that only publishes, nothing else of a session is
// lost when it starts clean.
#include "worker/mqtt_options.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace robustmq::worker {

bool MqttSettings::any_tls() const {
  return std::any_of(servers.begin(), servers.end(), [](const ServerUri& u) { return u.tls(); });
}

MqttSettings mqtt_settings(const WorkerConfig& c, std::size_t max_inflight) {
  MqttSettings s;
  s.servers = servers_of(c);
  s.http_proxy = c.http_proxy;
  s.https_proxy = c.https_proxy;
  s.no_proxy = c.no_proxy;
  s.client_id = c.client_id;
  s.keepalive = c.keepalive;
  s.connect_timeout = c.connect_timeout;
  s.username = c.username;
  s.password = c.password;
  s.max_inflight = static_cast<int>(max_inflight);
  s.mqtt_version = c.mqtt_version == MqttVersion::v5 ? 5 : 4;
  s.clean_session = c.clean_session;
  s.session_expiry = c.session_expiry;
  s.tls.enabled = c.tls;
  s.tls.ca_file = c.tls_ca_file;
  s.tls.ca_path = c.tls_ca_path;
  s.tls.cert_file = c.tls_cert_file;
  s.tls.key_file = c.tls_key_file;
  s.tls.key_password = c.tls_key_password;
  s.tls.verify = c.tls_verify;
  s.tls.verify_hostname = c.tls_verify_hostname;
  s.tls.alpn = c.tls_alpn;
  s.tls.ciphers = c.tls_ciphers;
  s.will.topic = c.will_topic;
  s.will.payload = c.will_payload;
  s.will.qos = c.will_qos;
  s.will.retain = c.will_retain;
  s.message_ttl_s = c.message_ttl.count();
  s.content_type = c.content_type;
  s.user_properties = c.user_properties;
  s.dedup_producer = c.dedup_producer;
  return s;
}

std::uint32_t remaining_expiry_s(std::int64_t enqueue_ns, std::int64_t ttl_s, std::int64_t now_ns) {
  const std::int64_t age_ns = now_ns > enqueue_ns ? now_ns - enqueue_ns : 0;
  const std::int64_t left_ns = ttl_s * 1'000'000'000 - age_ns;
  if (left_ns <= 1'000'000'000) return 1;
  const std::int64_t left_s = (left_ns + 999'999'999) / 1'000'000'000;
  return left_s > 0xFFFFFFFFLL ? 0xFFFFFFFFu : static_cast<std::uint32_t>(left_s);
}

std::uint32_t session_expiry_s(const MqttSettings& s) {
  if (s.session_expiry.count() >= 0) return static_cast<std::uint32_t>(s.session_expiry.count());
  return s.clean_session ? 0 : 0xFFFFFFFFu;
}

void build_connect(const MqttSettings& s, const ServerUri& server, bool first, ConnectRequest& r) {
  const bool v5 = s.mqtt_version == 5;
  if (v5) {
    r.connect = MQTTAsync_connectOptions_initializer5;
  } else {
    r.connect = MQTTAsync_connectOptions_initializer;
    r.connect.MQTTVersion = MQTTVERSION_3_1_1;  // no silent fallback to 3.1
  }
  MQTTAsync_connectOptions& o = r.connect;
  o.keepAliveInterval = static_cast<int>(s.keepalive.count());
  o.connectTimeout = static_cast<int>(s.connect_timeout.count());
  o.maxInflight = s.max_inflight;
  o.retryInterval = 0;       // no in-session re-sends: the loop decides what is sent again
  o.automaticReconnect = 0;  // the worker reconnects itself, with backoff and jitter
  const bool clean = s.clean_session || first;
  if (v5) {
    o.cleansession = 0;  // Paho refuses cleansession with MQTT 5
    o.cleanstart = clean ? 1 : 0;
    if (const std::uint32_t expiry = session_expiry_s(s); expiry != 0) {  // 0: the default
      MQTTProperty p;
      std::memset(&p, 0, sizeof p);
      p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
      p.value.integer4 = expiry;
      MQTTProperties_add(&r.properties, &p);
      o.connectProperties = &r.properties;
    }
  } else {
    o.cleansession = clean ? 1 : 0;
  }
  if (!s.username.empty()) o.username = s.username.c_str();
  if (!s.password.empty()) {
    o.binarypwd.data = s.password.data();
    o.binarypwd.len = static_cast<int>(s.password.size());
  }
  if (!s.will.topic.empty()) {
    r.will.topicName = s.will.topic.c_str();
    r.will.message = nullptr;  // binary payload below
    r.will.payload.data = s.will.payload.data();
    r.will.payload.len = static_cast<int>(s.will.payload.size());
    r.will.qos = s.will.qos;
    r.will.retained = s.will.retain ? 1 : 0;
    o.will = &r.will;
  }
  // The worker removed http_proxy and https_proxy from its environment at start (main.cpp), so
  // Paho, which reads them when these are NULL, goes through exactly the proxy chosen here.
  r.proxy = proxy_for(server, s.http_proxy, s.https_proxy, s.no_proxy);
  if (!r.proxy.empty()) (server.tls() ? o.httpsProxy : o.httpProxy) = r.proxy.c_str();
  if (server.tls()) {
    MQTTAsync_SSLOptions& t = r.ssl;
    auto opt = [](const std::string& v) { return v.empty() ? nullptr : v.c_str(); };
    t.trustStore = opt(s.tls.ca_file);
    t.CApath = opt(s.tls.ca_path);
    t.keyStore = opt(s.tls.cert_file);
    t.privateKey = opt(s.tls.key_file);
    t.privateKeyPassword = opt(s.tls.key_password);
    t.enableServerCertAuth = s.tls.verify ? 1 : 0;
    t.verify = s.tls.verify && s.tls.verify_hostname ? 1 : 0;  // Paho's host name check
    // Paho 1.3.12 built with OpenSSL >= 1.1 ignores sslVersion (TLS_client_method(): the
    // versions OpenSSL's configuration allows); SNI is the URI's host, always.
    t.sslVersion = MQTT_SSL_VERSION_DEFAULT;
    if (!s.tls.ciphers.empty()) t.enabledCipherSuites = s.tls.ciphers.c_str();
    r.alpn = alpn_wire(s.tls.alpn);
    if (!r.alpn.empty()) {
      t.protos = reinterpret_cast<const unsigned char*>(r.alpn.c_str());  // Paho copies it
      t.protos_len = static_cast<unsigned>(r.alpn.size());
    }
    o.ssl = &t;
  }
}

namespace {

void add_user_property(MQTTProperties& props, std::string_view name, std::string_view value) {
  MQTTProperty p;
  std::memset(&p, 0, sizeof p);
  p.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
  p.value.data.data = const_cast<char*>(name.data());
  p.value.data.len = static_cast<int>(name.size());
  p.value.value.data = const_cast<char*>(value.data());
  p.value.value.len = static_cast<int>(value.size());
  MQTTProperties_add(&props, &p);  // copies the bytes
}

}  // namespace

MQTTProperties build_publish_properties(const MqttSettings& s) {
  MQTTProperties props = MQTTProperties_initializer;
  if (s.mqtt_version != 5) return props;
  MQTTProperty p;
  if (s.message_ttl_s > 0) {
    std::memset(&p, 0, sizeof p);
    p.identifier = MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL;
    p.value.integer4 = static_cast<unsigned>(s.message_ttl_s);
    MQTTProperties_add(&props, &p);
  }
  if (!s.content_type.empty()) {
    std::memset(&p, 0, sizeof p);
    p.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE;
    p.value.data.data = const_cast<char*>(s.content_type.data());
    p.value.data.len = static_cast<int>(s.content_type.size());
    MQTTProperties_add(&props, &p);  // copies the bytes
  }
  for (const auto& [k, v] : s.user_properties) add_user_property(props, k, v);
  if (!s.dedup_producer.empty()) {
    add_user_property(props, kProducerProperty, s.dedup_producer);
    // A placeholder as long as the longest number: set_seq_property() writes each message's
    // number into the buffer Paho allocated for it.
    add_user_property(props, kSeqProperty, std::string(kMaxSeqDigits, '0'));
  }
  return props;
}

void set_seq_property(MQTTProperties& props, std::uint64_t seq) {
  MQTTProperty& p = props.array[props.count - 1];
  char* digits = p.value.value.data;
  const int len = static_cast<int>(std::to_chars(digits, digits + kMaxSeqDigits, seq).ptr - digits);
  props.length += len - p.value.value.len;  // the encoded length stays true
  p.value.value.len = len;
}

std::string openssl_reason(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
  // <thread>:error:<code>:<library>:<function>:<reason>:<file>:<line>:<data>
  std::vector<std::string_view> f;
  std::string_view rest = line;
  for (int i = 0; i < 6; ++i) {
    const auto c = rest.find(':');
    if (c == std::string_view::npos) break;
    f.push_back(rest.substr(0, c));
    rest.remove_prefix(c + 1);
  }
  if (f.size() != 6 || f[1] != "error" || f[5].empty()) return std::string(line);
  std::string out = std::string(f[5]) + " (" + std::string(f[3]) + ": " + std::string(f[4]) + ")";
  // Failures to read a certificate or key name only OpenSSL's internals; say where to look.
  if (f[3].find("PEM") != std::string_view::npos || f[3].find("x509") != std::string_view::npos ||
      f[4].find("_file") != std::string_view::npos)
    out += "; a TLS file did not load: check tls.ca_file, ca_path, cert_file, key_file";
  return out;
}

bool connack_refusal_is_permanent(int mqtt_version, int code) {
  if (mqtt_version != 5) return code == 1 || code == 2 || code == 4 || code == 5;
  switch (code) {
    case 0x84: case 0x85: case 0x86: case 0x87: case 0x8A: case 0x8C: return true;
    default: return false;
  }
}

bool tls_failure_is_permanent(std::string_view reason) {
  // OpenSSL's own verification, and the alerts a broker sends when it rejects our certificate.
  for (std::string_view permanent :
       {"certificate verify failed", "alert bad certificate", "alert unknown ca",
        "alert certificate required", "alert certificate expired", "alert certificate revoked",
        "alert certificate unknown",
        // No TLS version both sides accept (Options::tls.min_version above the broker's).
        "unsupported protocol", "alert protocol version"})
    if (reason.find(permanent) != std::string_view::npos) return true;
  return false;
}

// Paho's return codes, and the CONNACK codes of MQTT 3.1.1, as the loop and the user see them.
std::string Mqtt::describe(int code) {
  switch (code) {
    case MQTTASYNC_SUCCESS: return "success";
    case MQTTASYNC_FAILURE: return "failure (broker unreachable, refused or TLS failed)";
    case MQTTASYNC_DISCONNECTED: return "client disconnected";
    case MQTTASYNC_MAX_MESSAGES_INFLIGHT: return "too many messages in flight";
    case MQTTASYNC_BAD_UTF8_STRING: return "invalid UTF-8 string";
    case MQTTASYNC_NULL_PARAMETER: return "null parameter";
    case MQTTASYNC_BAD_STRUCTURE: return "bad structure";
    case MQTTASYNC_BAD_QOS: return "bad QoS";
    case MQTTASYNC_NO_MORE_MSGIDS: return "no more message ids";
    case MQTTASYNC_OPERATION_INCOMPLETE: return "operation incomplete (disconnected meanwhile)";
    case MQTTASYNC_MAX_BUFFERED_MESSAGES: return "too many buffered messages";
    case MQTTASYNC_SSL_NOT_SUPPORTED: return "TLS not supported by this Paho build";
    case MQTTASYNC_BAD_PROTOCOL: return "bad protocol in the server URI";
    case MQTTASYNC_BAD_MQTT_OPTION: return "bad MQTT option";
    case MQTTASYNC_WRONG_MQTT_VERSION: return "wrong MQTT version";
    case MQTTASYNC_0_LEN_WILL_TOPIC: return "empty will topic";
    case 1: return "connection refused: unacceptable protocol version";
    case 2: return "connection refused: identifier rejected";
    case 3: return "connection refused: server unavailable";
    case 4: return "connection refused: bad user name or password";
    case 5: return "connection refused: not authorized";
    default: return fmt::format("Paho error {}", code);
  }
}

}  // namespace robustmq::worker
