#include "worker/mqtt.hpp"

#include <MQTTAsync.h>
#include <netdb.h>
#include <time.h>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "worker/log.hpp"
#include "worker/mqtt_options.hpp"
#include "worker/paho_waker.hpp"

namespace robustmq::worker {

// What Paho's threads share with the loop's thread.
struct Mqtt::Shared {
  EventQueue* events = nullptr;
  PahoWaker* waker = nullptr;  // null: none
  std::mutex mu;
  std::string host;               // under mu: the current attempt's, for the name-resolution
                                  // check after a failed connect
  std::string tls_error;          // OpenSSL's reason during the current connect attempt
  // Under mu, for ServerRotation (taken by the next connect()): how the last attempt or
  // connection ended, and a Server Reference that came with a DISCONNECT.
  enum class Outcome { none, connected, lost, failed } outcome = Outcome::none;
  bool was_connected = false;  // since the last connect(), whatever came after
  std::string reference;
  std::atomic<bool> lost{true};   // the current connection's loss was reported (or none yet)
  std::atomic<bool> ever_connected{false};  // in this worker process
  // The staged messages (Transport::stage()), under stage_mu: `self` sends each from the
  // callback of the acknowledgement it waits for, unless it expired meanwhile (message_ttl_s).
  struct Staged {
    Transport::Outgoing out;
    std::uint64_t send_id = 0;
    std::uint64_t after_id = 0;
  };
  Mqtt* self = nullptr;
  std::int64_t message_ttl_s = 0;
  std::mutex stage_mu;
  std::vector<Staged> staged;
  Transport::Taken taken;  // staged[0, taken.sent) were sent; taken.failed: the next one failed
};

namespace {

// Paho's per-request callbacks get one context pointer. The send id travels in it, so the queue
// is reached through this process-wide pointer (one worker process serves one connection).
Mqtt::Shared* g_shared = nullptr;

void push(Event e) { g_shared->events->push(std::move(e)); }

void set_outcome(Mqtt::Shared::Outcome o) {
  std::lock_guard lock(g_shared->mu);
  g_shared->outcome = o;
  if (o == Mqtt::Shared::Outcome::connected) g_shared->was_connected = true;
}

void report_loss(std::string text) {
  if (g_shared->lost.exchange(true)) return;  // one loss per connection
  set_outcome(Mqtt::Shared::Outcome::lost);
  push({Event::Kind::connection_lost, 0, 0, std::move(text)});
}

void connected(int receive_maximum) {
  if (g_shared->waker != nullptr) g_shared->waker->watch_connection();
  g_shared->ever_connected.store(true);
  g_shared->lost.store(false);
  set_outcome(Mqtt::Shared::Outcome::connected);
  push({Event::Kind::connected, 0, receive_maximum, {}});
}

std::string take_tls_error() {
  std::lock_guard lock(g_shared->mu);
  return std::exchange(g_shared->tls_error, {});
}

// A failed connect: Paho's code, the broker's reason (`reason`: an MQTT 5 CONNACK reason code
// >= 0x80, else 0), OpenSSL's reason, and whether retrying cannot cure it by itself.
Event connect_failure(int version, int code, int reason, const char* message) {
  Event e{Event::Kind::connect_failed, 0, code, {}};
  // The status block keeps about 250 bytes of the text: the most specific reason goes first.
  if (auto tls = take_tls_error(); !tls.empty()) {
    e.refused = tls_failure_is_permanent(tls);
    e.text = fmt::format("TLS: {}", tls);
    return e;
  }
  if (reason >= MQTTREASONCODE_UNSPECIFIED_ERROR) {
    e.refused = connack_refusal_is_permanent(5, reason);
    e.text = fmt::format("connection refused: {} (MQTT 5 reason 0x{:02x})",
                         MQTTReasonCode_toString(static_cast<MQTTReasonCodes>(reason)), reason);
  } else {
    e.refused = version != 5 && connack_refusal_is_permanent(version, code);
    e.text = Mqtt::describe(code);
  }
  if (message && *message) e.text += fmt::format(" ({})", message);
  if (code == MQTTASYNC_FAILURE) {
    // Paho says the same for every network failure. A name that does not resolve is worth
    // telling apart (a typo in the host is the commonest deployment error); this runs on
    // Paho's thread, only after a failed attempt, never on the loop's.
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string host;
    {
      std::lock_guard lock(g_shared->mu);
      host = g_shared->host;
    }
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (res) ::freeaddrinfo(res);
    if (rc != 0 && rc != EAI_SYSTEM)
      e.text = fmt::format("cannot resolve the host name: {}", ::gai_strerror(rc));
  }
  return e;
}

void on_connected(void*, MQTTAsync_successData*) { connected(0); }

// MQTT 5: the broker's Receive Maximum bounds the messages in flight (the loop's window).
void on_connected5(void*, MQTTAsync_successData5* data) {
  int receive_maximum = 0;
  if (data && MQTTProperties_hasProperty(&data->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM))
    receive_maximum =
        MQTTProperties_getNumericValue(&data->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
  connected(std::max(receive_maximum, 0));
}

void connect_ended() {
  if (g_shared->waker != nullptr) g_shared->waker->connect_ended();
}

void on_connect_failure(void*, MQTTAsync_failureData* data) {
  connect_ended();
  set_outcome(Mqtt::Shared::Outcome::failed);
  // A CONNACK refusal comes with its return code (1..5) in `code`.
  push(connect_failure(4, data ? data->code : -1, 0, data ? data->message : nullptr));
}

void on_connect_failure5(void*, MQTTAsync_failureData5* data) {
  connect_ended();
  set_outcome(Mqtt::Shared::Outcome::failed);
  const int code = data ? data->code : -1;
  // Paho 1.3 puts a CONNACK's reason code in `code` (reasonCode stays 0); other failures may
  // carry one in reasonCode.
  int reason = data ? static_cast<int>(data->reasonCode) : 0;
  if (reason < MQTTREASONCODE_UNSPECIFIED_ERROR)
    reason = code >= MQTTREASONCODE_UNSPECIFIED_ERROR ? code : 0;
  push(connect_failure(5, code, reason, data ? data->message : nullptr));
}

// Paho hands OpenSSL's error queue over line by line; the last reason wins (the first lines
// are often generic, e.g. "error:0A000086" follows the library's own context).
int on_ssl_error(const char* str, std::size_t len, void*) {
  auto reason = openssl_reason(std::string_view(str, len));
  std::lock_guard lock(g_shared->mu);
  if (g_shared->tls_error.find(reason) == std::string::npos)
    g_shared->tls_error = g_shared->tls_error.empty() ? reason
                                                      : g_shared->tls_error + ", " + reason;
  return 0;
}

void on_connection_lost(void*, char* cause) {
  std::string text = cause ? cause : "connection lost";
  if (auto tls = take_tls_error(); !tls.empty()) text += fmt::format("; TLS: {}", tls);
  report_loss(std::move(text));
}

// MQTT 5: the broker closed the connection with a DISCONNECT packet and a reason.
void on_disconnected(void*, MQTTProperties* props, MQTTReasonCodes reason) {
  std::string text = fmt::format("the broker disconnected: {} (MQTT 5 reason 0x{:02x})",
                                 MQTTReasonCode_toString(reason), static_cast<int>(reason));
  if (props) {
    if (const MQTTProperty* p = MQTTProperties_getProperty(props, MQTTPROPERTY_CODE_REASON_STRING))
      text += fmt::format(": {}", std::string_view(p->value.data.data, p->value.data.len));
    // "Use another server" / "server moved": where to (servers.hpp follows it, within a cap).
    const MQTTProperty* ref = MQTTProperties_getProperty(props, MQTTPROPERTY_CODE_SERVER_REFERENCE);
    if (ref && (reason == MQTTREASONCODE_USE_ANOTHER_SERVER ||
                reason == MQTTREASONCODE_SERVER_MOVED)) {
      const std::string_view to(ref->value.data.data, ref->value.data.len);
      text += fmt::format(" (server reference: {})", to);
      if (!g_shared->lost.load()) {
        std::lock_guard lock(g_shared->mu);
        g_shared->reference = to;
      }
    }
  }
  report_loss(std::move(text));
}

int on_message(void*, char* topic, int, MQTTAsync_message* m) {
  // The worker subscribes to nothing; free whatever arrives.
  MQTTAsync_freeMessage(&m);
  MQTTAsync_free(topic);
  return 1;
}

std::uint64_t send_id_of(void* context) { return reinterpret_cast<std::uintptr_t>(context); }

std::int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The broker acknowledged send_id (not a refusal). The message staged after it goes first, from
// this thread, as a plain Paho client publishes from its callback; the event is queued before
// stage_mu is released, so unstage() never finds the message sent without the event queued.
// Every acknowledgement wakes the loop: the application may wait for its receipt
// (wait_delivered(), a delivery callback) or for the ring space it frees.
void acknowledged(std::uint64_t send_id) {
  Mqtt::Shared& s = *g_shared;
  std::lock_guard lock(s.stage_mu);
  if (const std::size_t next = s.taken.sent;
      next < s.staged.size() && s.staged[next].after_id == send_id && s.taken.failed == 0) {
    const Mqtt::Shared::Staged& m = s.staged[next];
    // Expired meanwhile: the loop drops it (Drops::expired()), and nothing after it goes.
    if (s.message_ttl_s <= 0 ||
        realtime_ns() - m.out.enqueue_ns <= s.message_ttl_s * 1'000'000'000) {
      const int rc = s.self->send(m.out, m.send_id);
      if (rc == 0) s.taken.sent_at[s.taken.sent++] = Clock::now();
      else s.taken.failed = rc;
    }
  }
  s.events->push({Event::Kind::delivered, send_id, 0, {}});
}

void on_sent(void* context, MQTTAsync_successData*) { acknowledged(send_id_of(context)); }

void on_send_failure(void* context, MQTTAsync_failureData* data) {
  const int code = data ? data->code : -1;
  push({Event::Kind::send_failed, send_id_of(context), code, Mqtt::describe(code)});
}

// MQTT 5: a PUBACK/PUBREC with a reason code >= 0x80 means the broker received the message and
// refused it (not authorized, quota exceeded, ...). The code travels in the event, the reason in
// its text; the loop decides: "not now" codes are sent again, the others are retired as refused
// (worker/drops.hpp, refusal_is_temporary()).
void on_sent5(void* context, MQTTAsync_successData5* data) {
  if (data && data->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR) {
    push({Event::Kind::delivered, send_id_of(context), data->reasonCode,
          fmt::format("the broker refused the message: {}",
                      MQTTReasonCode_toString(data->reasonCode))});
    return;
  }
  acknowledged(send_id_of(context));
}

void on_send_failure5(void* context, MQTTAsync_failureData5* data) {
  const int code = data ? data->code : -1;
  if (data && data->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR &&
      code == MQTTASYNC_SUCCESS) {  // an acknowledgement with a refusal, see on_sent5
    push({Event::Kind::delivered, send_id_of(context), data->reasonCode,
          fmt::format("the broker refused the message: {}",
                      MQTTReasonCode_toString(data->reasonCode))});
    return;
  }
  push({Event::Kind::send_failed, send_id_of(context), code, Mqtt::describe(code)});
}

MQTTProperties* props_of(void* p) { return static_cast<MQTTProperties*>(p); }

}  // namespace

Mqtt::Mqtt(MqttSettings settings, EventQueue& events)
    : settings_(std::move(settings)),
      events_(events),
      shared_(std::make_unique<Shared>()),
      rotation_(settings_.servers) {
  shared_->events = &events_;
  shared_->self = this;
  shared_->message_ttl_s = settings_.message_ttl_s;
  g_shared = shared_.get();
  if (!settings_.any_tls()) {
    // No TLS: Paho need not initialise OpenSSL (about 3 MB of libcrypto pages touched for
    // nothing); OpenSSL 3 would initialise itself on first use anyway.
    MQTTAsync_init_options io = MQTTAsync_init_options_initializer;
    io.do_openssl_init = 0;
    MQTTAsync_global_init(&io);
  }
  waker_ = std::make_unique<PahoWaker>([events = &events_](Level level, std::string text) {
    events->push({Event::Kind::log, 0, static_cast<int>(level), std::move(text)});
  });
  if (waker_->enabled())
    shared_->waker = waker_.get();
  else
    log(Level::info, "large messages go at Paho's own pace (a few MB/s): cannot start the "
        "waker of its I/O thread: {}", waker_->why_not());
  create_handle(rotation_.current());
  auto props = std::make_unique<MQTTProperties>(build_publish_properties(settings_));
  publish_props_ = props.release();
}

void Mqtt::create_handle(const ServerUri& server) {
  const bool v5 = settings_.mqtt_version == 5;
  MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
  if (v5) co = MQTTAsync_createOptions_initializer5;
  co.sendWhileDisconnected = 0;  // the worker never hands Paho a message it cannot send now
  // Paho refuses a message while this many wait in its queue, connected or not: room for the
  // whole window plus the QoS 0 messages the loop queues ahead (window.hpp, Window::open()).
  co.maxBufferedMessages = std::max(co.maxBufferedMessages, settings_.max_inflight + 64);
  MQTTAsync handle = nullptr;
  const std::string uri = server.text();
  int rc = MQTTAsync_createWithOptions(&handle, uri.c_str(), settings_.client_id.c_str(),
                                       MQTTCLIENT_PERSISTENCE_NONE, nullptr, &co);
  if (rc != MQTTASYNC_SUCCESS)
    throw std::runtime_error(fmt::format("cannot create MQTT client for {}: {}", uri,
                                         describe(rc)));
  client_ = handle;
  rc = MQTTAsync_setCallbacks(handle, this, on_connection_lost, on_message, nullptr);
  if (rc == MQTTASYNC_SUCCESS && v5) rc = MQTTAsync_setDisconnected(handle, this, on_disconnected);
  if (rc != MQTTASYNC_SUCCESS)
    throw std::runtime_error(fmt::format("cannot set MQTT callbacks: {}", describe(rc)));
}

void Mqtt::destroy_handle() {
  if (client_ == nullptr) return;
  MQTTAsync handle = client_;
  MQTTAsync_destroy(&handle);  // fails what it still holds: stale send ids, which the loop ignores
  client_ = nullptr;
}

Mqtt::~Mqtt() {
  destroy_handle();
  shared_->waker = nullptr;
  waker_.reset();
  MQTTProperties_free(props_of(publish_props_));
  delete props_of(publish_props_);
}

std::string Mqtt::server() const { return rotation_.current().text(); }

int Mqtt::connect(bool start_clean) {
  // Which server (servers.hpp): how the last attempt or connection ended decides.
  Shared::Outcome outcome = Shared::Outcome::none;
  bool was_connected = false;
  std::string reference;
  {
    std::lock_guard lock(shared_->mu);
    outcome = std::exchange(shared_->outcome, Shared::Outcome::none);
    was_connected = std::exchange(shared_->was_connected, false);
    reference = std::exchange(shared_->reference, {});
  }
  if (was_connected) rotation_.connected();
  if (outcome == Shared::Outcome::lost) rotation_.connection_lost();
  if (outcome == Shared::Outcome::failed) rotation_.attempt_failed();
  if (!reference.empty()) {
    if (rotation_.referred(reference))
      log(Level::info, "following the broker's server reference '{}'", reference);
    else
      log(Level::warning, "not following the broker's server reference '{}': {}", reference,
          rotation_.ignored_because());
  }
  const ServerUri& server = rotation_.next_attempt();
  {
    std::lock_guard lock(shared_->mu);
    shared_->host = server.host;
  }
  // Every connect after the first gets a fresh Paho handle. Paho keeps the messages still
  // waiting in its command queue when a connection is lost and sends them after the next
  // connect, ahead of the loop's oldest-first re-sends (and, in a persistent session, ahead of
  // its own re-sends of the messages that were in flight): a newer message would overtake
  // older ones. A fresh handle holds nothing (mqtt_options.cpp explains sessions).
  if (attempted_) {
    destroy_handle();
    try {
      create_handle(server);
    } catch (const std::exception&) {
      rotation_.attempt_failed();
      return MQTTASYNC_FAILURE;  // the loop retries with backoff
    }
  }
  attempted_ = true;
  ConnectRequest r;
  // Until a connect succeeded in this process, and after a loss that cut a QoS 2 message, a
  // persistent session starts clean (mqtt_options.cpp explains why).
  build_connect(settings_, server, !shared_->ever_connected.load() || start_clean, r);
  if (settings_.mqtt_version == 5) {
    r.connect.onSuccess5 = on_connected5;
    r.connect.onFailure5 = on_connect_failure5;
  } else {
    r.connect.onSuccess = on_connected;
    r.connect.onFailure = on_connect_failure;
  }
  r.connect.context = this;
  if (server.tls()) {
    r.ssl.ssl_error_cb = on_ssl_error;
    r.ssl.ssl_error_context = this;
  }
  take_tls_error();  // a new attempt, a new reason
  shared_->lost.store(true);
  const int rc = MQTTAsync_connect(client_, &r.connect);
  if (rc != MQTTASYNC_SUCCESS) rotation_.attempt_failed();
  else if (shared_->waker != nullptr) shared_->waker->connecting();
  return rc;
}

int Mqtt::send(const Outgoing& out, std::uint64_t send_id) {
  if (client_ == nullptr) return MQTTASYNC_DISCONNECTED;
  topic_buf_.assign(out.topic);
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.context = reinterpret_cast<void*>(static_cast<std::uintptr_t>(send_id));
  MQTTAsync_message m = MQTTAsync_message_initializer;
  m.payload = const_cast<char*>(out.payload.data());
  m.payloadlen = static_cast<int>(out.payload.size());
  m.qos = out.qos;
  m.retained = out.retain ? 1 : 0;
  if (settings_.mqtt_version == 5) {
    ro.onSuccess5 = on_sent5;
    ro.onFailure5 = on_send_failure5;
    MQTTProperties* props = props_of(publish_props_);
    // The expiry interval is the first property (build_publish_properties); Paho copies the
    // properties in MQTTAsync_sendMessage(), so setting it in place per message is safe.
    if (settings_.message_ttl_s > 0 && props->count > 0)
      props->array[0].value.integer4 =
          remaining_expiry_s(out.enqueue_ns, settings_.message_ttl_s, realtime_ns());
    if (!settings_.dedup_producer.empty()) set_seq_property(*props, out.seq);
    m.properties = *props;
  } else {
    ro.onSuccess = on_sent;
    ro.onFailure = on_send_failure;
  }
  return MQTTAsync_sendMessage(client_, topic_buf_.c_str(), &m, &ro);
}

void Mqtt::stage(const Outgoing& next, std::uint64_t send_id, std::uint64_t after_id) {
  std::lock_guard lock(shared_->stage_mu);
  if (shared_->staged.size() >= Taken::kMax) return;  // the loop stages no more (transport.hpp)
  shared_->staged.push_back({.out = next, .send_id = send_id, .after_id = after_id});
}

Transport::Taken Mqtt::unstage() {
  std::lock_guard lock(shared_->stage_mu);
  shared_->staged.clear();
  return std::exchange(shared_->taken, {});
}

void Mqtt::disconnect(std::chrono::milliseconds timeout) {
  if (client_ == nullptr) return;
  MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
  if (settings_.mqtt_version == 5) o = MQTTAsync_disconnectOptions_initializer5;
  o.timeout = static_cast<int>(timeout.count());
  MQTTAsync_disconnect(client_, &o);
}

}  // namespace robustmq::worker
