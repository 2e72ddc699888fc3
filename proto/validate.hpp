// What publish() accepts: the one place that defines it. The worker applies the same rules to
// records it reads back from the ring, which another process could have scribbled on.
#pragma once

#include <cstddef>
#include <string_view>
#include <system_error>

namespace robustmq {

inline constexpr std::size_t kMaxTopicBytes = 65535;

// errc::topic_empty, topic_wildcard, topic_too_long, topic_invalid_utf8, topic_contains_nul,
// or {} when `topic` is a valid MQTT 3.1.1 / 5 topic name for PUBLISH.
std::error_code validate_topic(std::string_view topic) noexcept;

// Well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code points above U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;
// An MQTT UTF-8 string's content rules: well-formed UTF-8 without U+0000 (a client id, a user
// name). Topics have more rules: validate_topic().
inline bool valid_mqtt_string(std::string_view s) noexcept {
  return valid_utf8(s) && s.find('\0') == std::string_view::npos;
}

// errc::invalid_qos, or {}.
std::error_code validate_qos(int qos) noexcept;

// Topic and QoS together, then the payload against the ring's largest record.
std::error_code validate_message(std::string_view topic, std::size_t payload_bytes, int qos,
                                 std::size_t ring_bytes) noexcept;

}  // namespace robustmq
