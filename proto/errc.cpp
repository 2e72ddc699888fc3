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
        return "the topic is too long for the shared ring (not even a large-message reference "
               "fits): raise Options::ring_bytes or shorten the topic";
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
      case errc::payload_over_mqtt_limit:
        return "the payload is larger than MQTT allows in one PUBLISH packet (268,435,455 bytes "
               "minus the topic and headers): split it into several messages";
      case errc::payload_over_cache_limit:
        return "the payload is larger than Options::max_cache_bytes, so the disk cache could "
               "never hold it: raise max_cache_bytes or split the payload";
      case errc::large_file_failed:
        return "the payload's file could not be written to the cache directory (disk full, "
               "quota or I/O error; stats().last_error names the file): free disk space or "
               "retry later";
      case errc::delivery_timeout:
        return "not every message up to the one waited for was acknowledged by the broker in "
               "time; they are kept and sent later: call wait_delivered() again, or check "
               "stats().state and stats().last_error";
      case errc::unknown_sequence:
        return "no message has this sequence number yet: wait for a number that publish() "
               "returned";
      case errc::resend_timeout:
        return "the worker did not move the dead letters back into the disk cache in time; the "
               "request stays and it still will: check stats().dead_letters later, or call "
               "resend_dead_letters() again to wait for it";
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
