// RobustMQ error codes.
//
// Every operation on the hot path returns a std::error_code in robustmq::error_category();
// every code has a message that says what happened and what to do about it
// (test/unit/test_errc.cpp checks that none is missing).
#pragma once

#include <system_error>

#ifndef ROBUSTMQ_EXPORT
#define ROBUSTMQ_EXPORT __attribute__((visibility("default")))
#endif

namespace robustmq {

enum class errc : int {
  ok = 0,
  // publish(): the message was refused, nothing was queued.
  topic_empty = 1,          // MQTT forbids a zero-length topic name
  topic_wildcard,           // '+' or '#' are for subscriptions only
  topic_too_long,           // over 65535 bytes
  topic_invalid_utf8,       // not well-formed UTF-8 (MQTT 3.1.1 section 1.5.3)
  topic_contains_nul,       // U+0000 is forbidden in MQTT strings
  invalid_qos,              // QoS outside 0..2
  payload_too_large,        // the topic is so long that not even a large-message reference fits
                            // in the shared ring
  queue_full,               // no room in the ring within Options::publish_wait
  not_connected,            // publish()/flush() before connect_async()
  stopped,                  // publish()/flush() after stop()
  forked_child,             // called in a fork() child of the process that connected
  // flush()
  flush_timeout,            // not every earlier message was acknowledged or on disk in time
  // worker
  worker_unavailable,       // the worker could not be (re)started
  // publish() of a large message (a payload above Options::large_message_bytes)
  payload_over_mqtt_limit,  // the PUBLISH packet would exceed MQTT's 268,435,455 bytes
  payload_over_cache_limit, // the payload alone is larger than Options::max_cache_bytes
  large_file_failed,        // the payload's file in the cache directory could not be written
  // wait_delivered()
  delivery_timeout,         // not every message up to the one waited for was delivered in time
  unknown_sequence,         // a sequence number publish() has not given out (yet)
  // resend_dead_letters()
  resend_timeout,           // the worker did not move the dead letters back in time (it will)
};

ROBUSTMQ_EXPORT const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace robustmq

template <>
struct std::is_error_code_enum<robustmq::errc> : std::true_type {};
