#include "mqtt.hpp"

#include <MQTTAsync.h>

#include <stdexcept>

#include <fmt/format.h>

namespace robustmq::worker {

namespace {

// Paho's per-request callbacks get one context pointer. The send id travels in it, so the queue
// is reached through this process-wide pointer (one worker process serves one connection).
EventQueue* g_events = nullptr;

void on_connected(void* /*context*/, MQTTAsync_successData* /*data*/) {
  g_events->push({Event::Kind::connected, 0, 0, {}});
}

void on_connect_failure(void* /*context*/, MQTTAsync_failureData* data) {
  Event e{Event::Kind::connect_failed, 0, data ? data->code : -1, {}};
  e.text = Mqtt::describe(e.code);
  if (data && data->message) e.text += fmt::format(" ({})", data->message);
  g_events->push(std::move(e));
}

void on_connection_lost(void* /*context*/, char* cause) {
  g_events->push({Event::Kind::connection_lost, 0, 0, cause ? cause : "connection lost"});
}

int on_message(void* /*context*/, char* topic, int /*len*/, MQTTAsync_message* m) {
  // The worker subscribes to nothing; free whatever arrives.
  MQTTAsync_freeMessage(&m);
  MQTTAsync_free(topic);
  return 1;
}

void on_sent(void* context, MQTTAsync_successData* /*data*/) {
  g_events->push({Event::Kind::delivered, reinterpret_cast<std::uintptr_t>(context), 0, {}});
}

void on_send_failure(void* context, MQTTAsync_failureData* data) {
  Event e{Event::Kind::send_failed, reinterpret_cast<std::uintptr_t>(context),
          data ? data->code : -1, {}};
  e.text = Mqtt::describe(e.code);
  g_events->push(std::move(e));
}

}  // namespace

std::string Mqtt::describe(int code) {
  switch (code) {
    case MQTTASYNC_SUCCESS: return "success";
    case MQTTASYNC_FAILURE: return "failure (broker unreachable or connection refused)";
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
    case 1: return "connection refused: unacceptable protocol version";
    case 2: return "connection refused: identifier rejected";
    case 3: return "connection refused: server unavailable";
    case 4: return "connection refused: bad user name or password";
    case 5: return "connection refused: not authorized";
    default: return fmt::format("Paho error {}", code);
  }
}

Mqtt::Mqtt(MqttSettings settings, EventQueue& events)
    : settings_(std::move(settings)), events_(events) {
  g_events = &events_;
  MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
  co.sendWhileDisconnected = 0;  // the worker never hands Paho a message it cannot send now
  MQTTAsync handle = nullptr;
  int rc = MQTTAsync_createWithOptions(&handle, settings_.uri.c_str(), settings_.client_id.c_str(),
                                       MQTTCLIENT_PERSISTENCE_NONE, nullptr, &co);
  if (rc != MQTTASYNC_SUCCESS)
    throw std::runtime_error(fmt::format("cannot create MQTT client for {}: {}", settings_.uri,
                                         describe(rc)));
  client_ = handle;
  rc = MQTTAsync_setCallbacks(handle, this, on_connection_lost, on_message, nullptr);
  if (rc != MQTTASYNC_SUCCESS)
    throw std::runtime_error(fmt::format("cannot set MQTT callbacks: {}", describe(rc)));
}

Mqtt::~Mqtt() {
  if (client_ != nullptr) {
    MQTTAsync handle = client_;
    MQTTAsync_destroy(&handle);
  }
}

int Mqtt::connect() {
  MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
  o.keepAliveInterval = static_cast<int>(settings_.keepalive.count());
  // A clean session: after a reconnect Paho re-sends nothing on its own, so the order of
  // re-sends is decided by the worker alone (oldest unacknowledged first).
  o.cleansession = 1;
  o.connectTimeout = static_cast<int>(settings_.connect_timeout.count());
  o.maxInflight = settings_.max_inflight;
  o.retryInterval = 0;
  o.automaticReconnect = 0;  // the worker reconnects itself, with backoff and jitter
  o.onSuccess = on_connected;
  o.onFailure = on_connect_failure;
  o.context = this;
  if (!settings_.username.empty()) o.username = settings_.username.c_str();
  if (!settings_.password.empty()) {
    o.binarypwd.data = settings_.password.data();
    o.binarypwd.len = static_cast<int>(settings_.password.size());
  }
  return MQTTAsync_connect(client_, &o);
}

int Mqtt::send(const Outgoing& out, std::uint64_t send_id) {
  topic_buf_.assign(out.topic);
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.onSuccess = on_sent;
  ro.onFailure = on_send_failure;
  ro.context = reinterpret_cast<void*>(static_cast<std::uintptr_t>(send_id));
  MQTTAsync_message m = MQTTAsync_message_initializer;
  m.payload = const_cast<char*>(out.payload.data());
  m.payloadlen = static_cast<int>(out.payload.size());
  m.qos = out.qos;
  m.retained = out.retain ? 1 : 0;
  return MQTTAsync_sendMessage(client_, topic_buf_.c_str(), &m, &ro);
}

void Mqtt::disconnect(std::chrono::milliseconds timeout) {
  MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
  o.timeout = static_cast<int>(timeout.count());
  MQTTAsync_disconnect(client_, &o);
}

bool Mqtt::is_connected() const { return MQTTAsync_isConnected(client_) != 0; }

}  // namespace robustmq::worker
