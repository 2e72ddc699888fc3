#include "proto/validate.hpp"

#include <cstdint>

#include "proto/record_format.hpp"
#include "robustmq/errc.hpp"

namespace robustmq {

// Well-formed UTF-8 per RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) { ++p; continue; }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

std::error_code validate_topic(std::string_view topic) noexcept {
  if (topic.empty()) return errc::topic_empty;
  if (topic.size() > kMaxTopicBytes) return errc::topic_too_long;
  for (char c : topic) {
    if (c == '\0') return errc::topic_contains_nul;
    if (c == '+' || c == '#') return errc::topic_wildcard;
  }
  if (!valid_utf8(topic)) return errc::topic_invalid_utf8;
  return {};
}

std::error_code validate_qos(int qos) noexcept {
  if (qos < 0 || qos > 2) return errc::invalid_qos;
  return {};
}

std::error_code validate_message(std::string_view topic, std::size_t payload_bytes, int qos,
                                 std::size_t ring_bytes) noexcept {
  if (auto ec = validate_topic(topic)) return ec;
  if (auto ec = validate_qos(qos)) return ec;
  if (payload_bytes > record::max_record_bytes(ring_bytes) ||
      record::record_bytes(topic.size(), payload_bytes) > record::max_record_bytes(ring_bytes))
    return errc::payload_too_large;
  return {};
}

}  // namespace robustmq
