#include "paho_baseline.hpp"

#include <MQTTAsync.h>

#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace robustmq::bench {

namespace {

void cb_success(void* c, MQTTAsync_successData*) { static_cast<PahoClient*>(c)->on_success(); }
void cb_failure(void* c, MQTTAsync_failureData*) { static_cast<PahoClient*>(c)->on_failure(); }

int cb_message(void*, char* topic, int, MQTTAsync_message* m) {
  MQTTAsync_freeMessage(&m);
  MQTTAsync_free(topic);
  return 1;
}

struct ConnectWait {
  std::atomic<int> state{0};  // 1 ok, 2 failed
  static void ok(void* c, MQTTAsync_successData*) { static_cast<ConnectWait*>(c)->state = 1; }
  static void bad(void* c, MQTTAsync_failureData*) { static_cast<ConnectWait*>(c)->state = 2; }
};

// Polls an atomic counter; 200 us steps are noise next to the runs they end.
template <typename Pred>
bool poll_until(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace

PahoClient::PahoClient(PahoOptions o) : options_(std::move(o)) {
  static std::atomic<unsigned> counter{0};
  const std::string uri = fmt::format("tcp://{}:{}", options_.host, options_.port);
  const std::string id = fmt::format("bench-paho-{}-{}", ::getpid(), counter.fetch_add(1));
  MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
  if (options_.offline) {
    co.sendWhileDisconnected = 1;
    co.allowDisconnectedSendAtAnyTime = 1;
    co.maxBufferedMessages = options_.max_buffered;
  }
  const std::string dir = options_.persistence_dir.string();
  MQTTAsync c = nullptr;
  const int type = dir.empty() ? MQTTCLIENT_PERSISTENCE_NONE : MQTTCLIENT_PERSISTENCE_DEFAULT;
  int rc = MQTTAsync_createWithOptions(&c, uri.c_str(), id.c_str(), type,
                                       dir.empty() ? nullptr : const_cast<char*>(dir.c_str()), &co);
  if (rc != MQTTASYNC_SUCCESS) throw std::runtime_error(fmt::format("MQTTAsync_create: {}", rc));
  client_ = c;
  MQTTAsync_setCallbacks(c, this, nullptr, cb_message, nullptr);
  if (options_.offline) return;
  ConnectWait w;
  MQTTAsync_connectOptions cop = MQTTAsync_connectOptions_initializer;
  cop.keepAliveInterval = 30;
  cop.cleansession = 1;
  cop.maxInflight = options_.max_inflight;
  cop.onSuccess = ConnectWait::ok;
  cop.onFailure = ConnectWait::bad;
  cop.context = &w;
  if (MQTTAsync_connect(c, &cop) != MQTTASYNC_SUCCESS ||
      !poll_until([&] { return w.state.load() != 0; }, std::chrono::seconds(10)) ||
      w.state.load() != 1)
    throw std::runtime_error("paho baseline: cannot connect to " + uri);
}

PahoClient::~PahoClient() {
  MQTTAsync c = client_;
  if (!options_.offline) {
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    d.timeout = 1000;
    MQTTAsync_disconnect(c, &d);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  MQTTAsync_destroy(&c);
}

void PahoClient::on_success() {
  acked_.fetch_add(1, std::memory_order_relaxed);
  if (chain_) {
    const std::uint64_t seq = next_.fetch_add(1);
    if (seq < total_ && send_one(seq) != MQTTASYNC_SUCCESS) failed_.fetch_add(1);
  }
}

void PahoClient::on_failure() { failed_.fetch_add(1); }

int PahoClient::send_one(std::uint64_t seq) {
  thread_local std::string payload;
  payload.resize(payload_bytes_, 'x');
  fill_payload(payload, run_, seq);
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.onSuccess = cb_success;
  ro.onFailure = cb_failure;
  ro.context = this;
  MQTTAsync_message m = MQTTAsync_message_initializer;
  m.payload = payload.data();
  m.payloadlen = static_cast<int>(payload.size());
  m.qos = qos_;
  return MQTTAsync_sendMessage(client_, topic_.c_str(), &m, &ro);
}

bool PahoClient::publish_window(std::size_t n, std::size_t payload_bytes, int qos,
                                std::size_t window, std::uint32_t run) {
  payload_bytes_ = payload_bytes;
  qos_ = qos;
  run_ = run;
  total_ = n;
  acked_ = 0;
  failed_ = 0;
  next_ = 0;
  chain_ = true;
  for (std::size_t i = 0; i < window; ++i) {
    const std::uint64_t seq = next_.fetch_add(1);
    if (seq >= n) break;
    if (send_one(seq) != MQTTASYNC_SUCCESS) failed_.fetch_add(1);
  }
  const bool ok = poll_until([&] { return acked_.load() >= n || failed_.load() > 0; },
                             transfer_timeout(n, payload_bytes));
  chain_ = false;
  return ok && failed_.load() == 0;
}

std::vector<std::uint32_t> PahoClient::send_latencies(std::size_t n, std::size_t payload_bytes,
                                                      int qos, std::uint32_t run) {
  payload_bytes_ = payload_bytes;
  qos_ = qos;
  run_ = run;
  total_ = n;
  acked_ = 0;
  failed_ = 0;
  chain_ = false;
  std::vector<std::uint32_t> ns(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    const int rc = send_one(i);
    const auto t1 = Clock::now();
    if (rc != MQTTASYNC_SUCCESS) failed_.fetch_add(1);
    ns[i] = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  poll_until([&] { return acked_.load() + failed_.load() >= n; }, std::chrono::seconds(60));
  return ns;
}

std::size_t PahoClient::send_offline(std::size_t n, std::size_t payload_bytes, int qos,
                                     std::uint32_t run) {
  payload_bytes_ = payload_bytes;
  qos_ = qos;
  run_ = run;
  chain_ = false;
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (send_one(i) == MQTTASYNC_SUCCESS) ++accepted;
  return accepted;
}

}  // namespace robustmq::bench
