#include "testkit/publisher.hpp"

#include <MQTTAsync.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>

namespace robustmq::testkit {
namespace {
std::atomic<unsigned> g_publisher_counter{0};
}

class Publisher::Impl {
 public:
  Impl(const std::string& host, int port, PublisherOptions options) : options_(std::move(options)) {
    if (options_.client_id.empty()) {
      options_.client_id = "testkit-pub-" + std::to_string(::getpid()) + "-" +
                           std::to_string(g_publisher_counter.fetch_add(1));
    }
    const std::string uri = "tcp://" + host + ":" + std::to_string(port);
    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
    if (options_.mqtt5) create.MQTTVersion = MQTTVERSION_5;
    int rc = MQTTAsync_createWithOptions(&client_, uri.c_str(), options_.client_id.c_str(),
                                         MQTTCLIENT_PERSISTENCE_NONE, nullptr, &create);
    if (rc != MQTTASYNC_SUCCESS) {
      throw std::runtime_error("MQTTAsync_create " + uri + ": " + MQTTAsync_strerror(rc));
    }
    MQTTAsync_setCallbacks(client_, this, &Impl::on_connection_lost, &Impl::on_message, nullptr);

    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    if (options_.mqtt5) {
      opts = MQTTAsync_connectOptions_initializer5;
      opts.cleanstart = 1;
      opts.onSuccess5 = [](void* ctx, MQTTAsync_successData5*) {
        static_cast<Impl*>(ctx)->connect_result(true);
      };
      opts.onFailure5 = [](void* ctx, MQTTAsync_failureData5*) {
        static_cast<Impl*>(ctx)->connect_result(false);
      };
    } else {
      opts.cleansession = 1;
      opts.MQTTVersion = MQTTVERSION_3_1_1;
      opts.onSuccess = [](void* ctx, MQTTAsync_successData*) {
        static_cast<Impl*>(ctx)->connect_result(true);
      };
      opts.onFailure = [](void* ctx, MQTTAsync_failureData*) {
        static_cast<Impl*>(ctx)->connect_result(false);
      };
    }
    opts.keepAliveInterval = static_cast<int>(options_.keepalive.count());
    opts.connectTimeout =
        static_cast<int>(std::chrono::ceil<std::chrono::seconds>(options_.connect_timeout).count());
    opts.context = this;
    rc = MQTTAsync_connect(client_, &opts);
    bool ok = false;
    if (rc == MQTTASYNC_SUCCESS) {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, options_.connect_timeout, [&] { return connect_done_; });
      ok = connected_;
    }
    if (!ok) {
      MQTTAsync_destroy(&client_);
      throw std::runtime_error("Publisher: cannot connect to " + uri);
    }
  }

  ~Impl() {
    MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
    opts.timeout = 500;
    MQTTAsync_disconnect(client_, &opts);
    MQTTAsync_setCallbacks(client_, nullptr, nullptr, nullptr, nullptr);
    MQTTAsync_destroy(&client_);
  }

  int publish(std::string_view topic, std::string_view payload, int qos,
              std::chrono::milliseconds timeout) {
    const std::string t(topic);
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = const_cast<char*>(payload.data());
    msg.payloadlen = static_cast<int>(payload.size());
    msg.qos = qos;
    // Completion comes through callbacks keyed by token (MQTTAsync_waitForCompletion polls
    // every 100 ms, which would swamp latency measurements).
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    opts.context = this;
    if (options_.mqtt5) {
      opts.onSuccess5 = [](void* ctx, MQTTAsync_successData5* r) {
        static_cast<Impl*>(ctx)->completed(r->token, MQTTASYNC_SUCCESS);
      };
      // A PUBACK with a reason code of 0x80 or above arrives here with code 0 (success of the
      // exchange) and the broker's reason.
      opts.onFailure5 = [](void* ctx, MQTTAsync_failureData5* r) {
        const int rc = r->code != 0 ? r->code
                       : r->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR ? r->reasonCode
                                                                          : MQTTASYNC_FAILURE;
        static_cast<Impl*>(ctx)->completed(r->token, rc);
      };
    } else {
      opts.onSuccess = [](void* ctx, MQTTAsync_successData* r) {
        static_cast<Impl*>(ctx)->completed(r->token, MQTTASYNC_SUCCESS);
      };
      opts.onFailure = [](void* ctx, MQTTAsync_failureData* r) {
        static_cast<Impl*>(ctx)->completed(r->token, r->code != 0 ? r->code : MQTTASYNC_FAILURE);
      };
    }
    int rc = MQTTAsync_sendMessage(client_, t.c_str(), &msg, &opts);
    if (rc != MQTTASYNC_SUCCESS) return rc;
    std::unique_lock lk(mu_);
    if (!cv_.wait_for(lk, timeout, [&] { return results_.contains(opts.token); })) {
      return MQTTASYNC_FAILURE;  // still in flight
    }
    rc = results_[opts.token];
    results_.erase(opts.token);
    return rc;
  }

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool connected_ = false;
  std::uint64_t losses_ = 0;

 private:
  void completed(MQTTAsync_token token, int rc) {
    {
      std::lock_guard lk(mu_);
      results_[token] = rc;
    }
    cv_.notify_all();
  }

  void connect_result(bool ok) {
    {
      std::lock_guard lk(mu_);
      connect_done_ = true;
      connected_ = ok;
    }
    cv_.notify_all();
  }

  static void on_connection_lost(void* ctx, char*) {
    auto* self = static_cast<Impl*>(ctx);
    {
      std::lock_guard lk(self->mu_);
      self->connected_ = false;
      ++self->losses_;
    }
    self->cv_.notify_all();
  }

  static int on_message(void*, char* topic, int, MQTTAsync_message* m) {
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
  }

  PublisherOptions options_;
  MQTTAsync client_ = nullptr;
  bool connect_done_ = false;
  std::map<MQTTAsync_token, int> results_;  // completions not yet collected by publish()
};

Publisher::Publisher(const std::string& host, int port, PublisherOptions options)
    : impl_(std::make_unique<Impl>(host, port, std::move(options))) {}

Publisher::~Publisher() = default;

int Publisher::publish(std::string_view topic, std::string_view payload, int qos,
                       std::chrono::milliseconds timeout) {
  return impl_->publish(topic, payload, qos, timeout);
}

bool Publisher::connected() const {
  std::lock_guard lk(impl_->mu_);
  return impl_->connected_;
}

bool Publisher::wait_connection_lost(std::chrono::milliseconds timeout) const {
  std::unique_lock lk(impl_->mu_);
  return impl_->cv_.wait_for(lk, timeout, [&] { return impl_->losses_ > 0; });
}

std::uint64_t Publisher::connection_losses() const {
  std::lock_guard lk(impl_->mu_);
  return impl_->losses_;
}

}  // namespace robustmq::testkit
