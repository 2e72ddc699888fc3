#include "robustmq/errc.hpp"

#include <string>

namespace robustmq {

namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "robustmq"; }

  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::ok: return "success";
      case errc::topic_empty:
        return "topic is empty: MQTT requires a topic name of at least one byte";
      case errc::topic_wildcard:
        return "topic contains '+' or '#': wildcards are for subscriptions, publish to a concrete "
               "topic";
      case errc::topic_too_long: return "topic is longer than 65535 bytes: shorten it";
      case errc::topic_invalid_utf8:
        return "topic is not well-formed UTF-8: MQTT topic names must be UTF-8";
      case errc::topic_contains_nul: return "topic contains a NUL character: remove it";
      case errc::invalid_qos: return "QoS must be 0, 1 or 2";
      case errc::payload_too_large:
        return "message is larger than half the shared ring: raise Options::ring_bytes or "
               "split the payload";
      case errc::queue_full:
        return "the shared ring stayed full for Options::publish_wait: the worker is behind "
               "(check the disk cache and stats()); retry later or raise ring_bytes";
      case errc::not_connected: return "call connect_async() before publish() or flush()";
      case errc::stopped: return "the client was stopped: create a new RobustClient";
      case errc::forked_child:
        return "this process is a fork() child of the one that called connect_async(); the "
               "client belongs to the parent: create a new RobustClient (with its own cache "
               "path) in the child";
      case errc::flush_timeout:
        return "not every earlier message was acknowledged or written to the disk cache in "
               "time: call flush() again or check stats().last_error";
      case errc::worker_unavailable:
        return "the worker process could not be started: check that robustmq-worker is "
               "installed (or set ROBUSTMQ_WORKER) and stats().last_error";
    }
    return "unknown robustmq error " + std::to_string(code);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace robustmq
