#include "testkit/subscriber.hpp"

#include <MQTTAsync.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace robustmq::testkit {
namespace {
std::atomic<unsigned> g_subscriber_counter{0};
}

// Threads: Paho's callback thread runs the on_* functions; supervisor_ starts a connect whenever
// the client is neither connected nor connecting. Everything shared is guarded by mu_.
class Subscriber::Impl {
 public:
  Impl(const std::string& host, int port, std::string filter, SubscriberOptions options)
      : filter_(std::move(filter)), options_(std::move(options)) {
    if (options_.client_id.empty()) {
      options_.client_id = "testkit-sub-" + std::to_string(::getpid()) + "-" +
                           std::to_string(g_subscriber_counter.fetch_add(1));
    }
    const std::string uri = "tcp://" + host + ":" + std::to_string(port);
    MQTTAsync_createOptions v5 = MQTTAsync_createOptions_initializer5;
    int rc = MQTTAsync_createWithOptions(&client_, uri.c_str(), options_.client_id.c_str(),
                                         MQTTCLIENT_PERSISTENCE_NONE, nullptr,
                                         options_.mqtt5 ? &v5 : nullptr);
    if (rc != MQTTASYNC_SUCCESS) {
      throw std::runtime_error("MQTTAsync_create " + uri + ": " + MQTTAsync_strerror(rc));
    }
    MQTTAsync_setCallbacks(client_, this, &Impl::on_connection_lost, &Impl::on_message, nullptr);
    supervisor_ = std::thread([this] { supervise(); });
  }

  ~Impl() {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    supervisor_.join();
    MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
    if (options_.mqtt5) {
      opts = MQTTAsync_disconnectOptions_initializer5;
      opts.onSuccess5 = [](void* ctx, MQTTAsync_successData5*) { on_disconnected(ctx); };
      opts.onFailure5 = [](void* ctx, MQTTAsync_failureData5*) { on_disconnected(ctx); };
    } else {
      opts.onSuccess = [](void* ctx, MQTTAsync_successData*) { on_disconnected(ctx); };
      opts.onFailure = [](void* ctx, MQTTAsync_failureData*) { on_disconnected(ctx); };
    }
    opts.timeout = 1000;
    opts.context = this;
    if (MQTTAsync_disconnect(client_, &opts) == MQTTASYNC_SUCCESS) {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, std::chrono::seconds(2), [&] { return disconnect_done_; });
    }
    MQTTAsync_setCallbacks(client_, nullptr, nullptr, nullptr, nullptr);
    MQTTAsync_destroy(&client_);
  }

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<ReceivedMessage> messages_;
  bool connected_ = false;
  std::uint64_t subscribes_ = 0;
  std::uint64_t losses_ = 0;
  const std::string filter_;
  SubscriberOptions options_;

 private:
  void supervise() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
      if (!connected_ && !connecting_) {
        connecting_ = true;
        lk.unlock();
        MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
        MQTTProperties props = MQTTProperties_initializer;
        if (options_.mqtt5) {
          opts = MQTTAsync_connectOptions_initializer5;
          opts.cleanstart = options_.clean_session ? 1 : 0;
          MQTTProperty expiry{};
          expiry.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
          expiry.value.integer4 = options_.clean_session ? 0 : 3600;
          MQTTProperties_add(&props, &expiry);
          opts.connectProperties = &props;
          opts.onSuccess5 = [](void* ctx, MQTTAsync_successData5*) { on_connect(ctx, nullptr); };
          opts.onFailure5 = [](void* ctx, MQTTAsync_failureData5*) {
            on_connect_failure(ctx, nullptr);
          };
        } else {
          opts.cleansession = options_.clean_session ? 1 : 0;
          opts.MQTTVersion = MQTTVERSION_3_1_1;
          opts.onSuccess = &Impl::on_connect;
          opts.onFailure = &Impl::on_connect_failure;
        }
        opts.keepAliveInterval = static_cast<int>(options_.keepalive.count());
        opts.connectTimeout = 2;  // a frozen broker must not stall reconnecting for long
        opts.context = this;
        int rc = MQTTAsync_connect(client_, &opts);  // copies the properties
        MQTTProperties_free(&props);
        lk.lock();
        if (rc != MQTTASYNC_SUCCESS) connecting_ = false;
      }
      cv_.wait_for(lk, options_.reconnect_interval, [&] { return stopping_; });
    }
  }

  static void on_connect(void* ctx, MQTTAsync_successData*) {
    auto* self = static_cast<Impl*>(ctx);
    {
      std::lock_guard lk(self->mu_);
      self->connecting_ = false;
      self->connected_ = true;
    }
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    opts.context = self;
    // A failure: the next reconnect tries again.
    if (self->options_.mqtt5) {
      opts.onSuccess5 = [](void* ctx, MQTTAsync_successData5*) { on_subscribe(ctx, nullptr); };
      opts.onFailure5 = [](void*, MQTTAsync_failureData5*) {};
    } else {
      opts.onSuccess = &Impl::on_subscribe;
      opts.onFailure = [](void*, MQTTAsync_failureData*) {};
    }
    MQTTAsync_subscribe(self->client_, self->filter_.c_str(), self->options_.qos, &opts);
    self->cv_.notify_all();
  }

  static void on_connect_failure(void* ctx, MQTTAsync_failureData*) {
    auto* self = static_cast<Impl*>(ctx);
    std::lock_guard lk(self->mu_);
    self->connecting_ = false;
  }

  static void on_subscribe(void* ctx, MQTTAsync_successData*) {
    auto* self = static_cast<Impl*>(ctx);
    {
      std::lock_guard lk(self->mu_);
      ++self->subscribes_;
    }
    self->cv_.notify_all();
  }

  static void on_connection_lost(void* ctx, char*) {
    auto* self = static_cast<Impl*>(ctx);
    {
      std::lock_guard lk(self->mu_);
      self->connected_ = false;
      self->connecting_ = false;
      ++self->losses_;
    }
    self->cv_.notify_all();
  }

  static int on_message(void* ctx, char* topic, int topic_len, MQTTAsync_message* m) {
    auto* self = static_cast<Impl*>(ctx);
    ReceivedMessage msg;
    msg.received = std::chrono::steady_clock::now();
    msg.topic.assign(topic, topic_len > 0 ? static_cast<std::size_t>(topic_len) : std::strlen(topic));
    msg.payload.assign(static_cast<const char*>(m->payload), static_cast<std::size_t>(m->payloadlen));
    msg.qos = m->qos;
    msg.retained = m->retained != 0;
    msg.duplicate = m->dup != 0;
    const auto text = [](const MQTTLenString& s) {
      return s.data != nullptr ? std::string(s.data, static_cast<std::size_t>(s.len))
                               : std::string();
    };
    for (int i = 0; i < m->properties.count; ++i) {
      const MQTTProperty& p = m->properties.array[i];
      if (p.identifier == MQTTPROPERTY_CODE_USER_PROPERTY)
        msg.user_properties.emplace_back(text(p.value.data), text(p.value.value));
      if (p.identifier == MQTTPROPERTY_CODE_CONTENT_TYPE) msg.content_type = text(p.value.data);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    {
      std::lock_guard lk(self->mu_);
      self->messages_.push_back(std::move(msg));
    }
    self->cv_.notify_all();
    return 1;
  }

  static void on_disconnected(void* ctx) { static_cast<Impl*>(ctx)->disconnected(); }

  void disconnected() {
    {
      std::lock_guard lk(mu_);
      disconnect_done_ = true;
    }
    cv_.notify_all();
  }

  MQTTAsync client_ = nullptr;
  std::thread supervisor_;
  bool connecting_ = false;
  bool stopping_ = false;
  bool disconnect_done_ = false;
};

Subscriber::Subscriber(const std::string& host, int port, std::string topic_filter,
                       SubscriberOptions options)
    : impl_(std::make_unique<Impl>(host, port, std::move(topic_filter),
                                   std::move(options))) {}

Subscriber::~Subscriber() = default;

bool Subscriber::wait_subscribed(std::chrono::milliseconds timeout,
                                 std::uint64_t min_subscribes) const {
  std::unique_lock lk(impl_->mu_);
  return impl_->cv_.wait_for(lk, timeout, [&] { return impl_->subscribes_ >= min_subscribes; });
}

bool Subscriber::wait_for(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lk(impl_->mu_);
  return impl_->cv_.wait_for(lk, timeout, [&] { return impl_->messages_.size() >= count; });
}

std::vector<ReceivedMessage> Subscriber::messages() const {
  std::lock_guard lk(impl_->mu_);
  return impl_->messages_;
}

std::size_t Subscriber::count() const {
  std::lock_guard lk(impl_->mu_);
  return impl_->messages_.size();
}

void Subscriber::clear() {
  std::lock_guard lk(impl_->mu_);
  impl_->messages_.clear();
}

bool Subscriber::connected() const {
  std::lock_guard lk(impl_->mu_);
  return impl_->connected_;
}

std::uint64_t Subscriber::subscribe_count() const {
  std::lock_guard lk(impl_->mu_);
  return impl_->subscribes_;
}

std::uint64_t Subscriber::connection_losses() const {
  std::lock_guard lk(impl_->mu_);
  return impl_->losses_;
}

const std::string& Subscriber::client_id() const { return impl_->options_.client_id; }

}  // namespace robustmq::testkit
