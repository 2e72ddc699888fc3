// What publish() accepts (proto/validate.hpp): one table row per rule.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "printers.hpp"
#include "proto/record_format.hpp"
#include "robustmq/errc.hpp"
#include "proto/validate.hpp"

using namespace robustmq;
using namespace std::string_literals;

namespace {

constexpr std::size_t kRing = 64 << 10;
// Topic and QoS rows check validate_message() with a ring big enough for any topic, so that
// only the rule of the row can refuse them.
constexpr std::size_t kBigRing = 1 << 20;

// Which function a row is about; every row also goes through validate_message().
enum class Part { topic, qos, payload };

struct Row {
  const char* rule;
  Part part;
  std::string topic;
  int qos;
  std::size_t payload_bytes;
  errc expected;  // errc::ok: accepted
};

Row topic_row(const char* rule, std::string topic, errc expected) {
  return {rule, Part::topic, std::move(topic), 1, 0, expected};
}
Row qos_row(const char* rule, int qos, errc expected) {
  return {rule, Part::qos, "a/b", qos, 0, expected};
}
Row payload_row(const char* rule, std::string topic, std::size_t payload, errc expected) {
  return {rule, Part::payload, std::move(topic), 0, payload, expected};
}

// The largest payload that fits with a topic of `topic_bytes` in a ring of kRing bytes.
constexpr std::size_t largest(std::size_t topic_bytes) {
  return record::max_record_bytes(kRing) - record::kHeaderBytes - topic_bytes;
}

void check(const std::error_code& got, errc expected) {
  if (expected == errc::ok)
    CHECK_FALSE(got);
  else
    CHECK(got == expected);
}

}  // namespace

TEST_CASE("publish accepts exactly the valid topics, QoS levels and payload sizes") {
  const std::vector<Row> table = {
      // Topics.
      topic_row("a plain topic is valid", "sensors/kitchen/temperature", errc::ok),
      topic_row("an empty topic is refused", "", errc::topic_empty),
      topic_row("'+' is refused", "a/+/b", errc::topic_wildcard),
      topic_row("'+' inside a level is refused too", "a+b", errc::topic_wildcard),
      topic_row("'#' is refused", "a/#", errc::topic_wildcard),
      topic_row("a lone '#' is refused", "#", errc::topic_wildcard),
      topic_row("a topic of 65535 bytes is valid", std::string(65535, 'x'), errc::ok),
      topic_row("a topic of 65536 bytes is too long", std::string(65536, 'x'),
                errc::topic_too_long),
      topic_row("NUL is refused", "a\0b"s, errc::topic_contains_nul),
      topic_row("a trailing NUL is refused", "a/b\0"s, errc::topic_contains_nul),
      topic_row("a lone continuation byte is not UTF-8", "a/\x80/b", errc::topic_invalid_utf8),
      topic_row("an overlong 2-byte '/' is not UTF-8", "\xC0\xAF", errc::topic_invalid_utf8),
      topic_row("an overlong 3-byte sequence is not UTF-8", "\xE0\x80\xAF",
                errc::topic_invalid_utf8),
      topic_row("an overlong 4-byte sequence is not UTF-8", "\xF0\x80\x80\xAF",
                errc::topic_invalid_utf8),
      topic_row("a UTF-16 surrogate is not UTF-8", "\xED\xA0\x80", errc::topic_invalid_utf8),
      topic_row("the last surrogate is not UTF-8", "\xED\xBF\xBF", errc::topic_invalid_utf8),
      topic_row("a code point above U+10FFFF is not UTF-8", "\xF4\x90\x80\x80",
                errc::topic_invalid_utf8),
      topic_row("a sequence truncated at the end is not UTF-8", "a/\xE2\x82",
                errc::topic_invalid_utf8),
      topic_row("a sequence cut short by ASCII is not UTF-8", "\xE2\x82" "a",
                errc::topic_invalid_utf8),
      topic_row("a lead byte without continuation is not UTF-8", "\xC3", errc::topic_invalid_utf8),
      topic_row("byte 0xFF is not UTF-8", "a\xFF", errc::topic_invalid_utf8),
      topic_row("a 5-byte sequence is not UTF-8", "\xF8\x88\x80\x80\x80",
                errc::topic_invalid_utf8),
      topic_row("2-byte UTF-8 is valid", "caf\xC3\xA9", errc::ok),
      topic_row("3-byte UTF-8 is valid", "price/\xE2\x82\xAC", errc::ok),
      topic_row("4-byte UTF-8 is valid", "mood/\xF0\x9F\x98\x80", errc::ok),
      topic_row("U+D7FF just below the surrogates is valid", "\xED\x9F\xBF", errc::ok),
      topic_row("U+E000 just above the surrogates is valid", "\xEE\x80\x80", errc::ok),
      topic_row("U+10FFFF is valid", "\xF4\x8F\xBF\xBF", errc::ok),
      topic_row("'/' alone is valid", "/", errc::ok),
      topic_row("empty levels are valid", "a//b/", errc::ok),
      topic_row("spaces are valid", "hall 3/line 2", errc::ok),
      topic_row("a lone space is valid", " ", errc::ok),
      // QoS.
      qos_row("QoS -1 is refused", -1, errc::invalid_qos),
      qos_row("QoS 0 is valid", 0, errc::ok),
      qos_row("QoS 1 is valid", 1, errc::ok),
      qos_row("QoS 2 is valid", 2, errc::ok),
      qos_row("QoS 3 is refused", 3, errc::invalid_qos),
      qos_row("QoS INT_MIN is refused", INT32_MIN, errc::invalid_qos),
      // Payloads, in a 64 KiB ring: a record may take half of it.
      payload_row("an empty payload is valid", "a/b", 0, errc::ok),
      payload_row("a payload exactly at the limit is valid", "a/b", largest(3), errc::ok),
      payload_row("one byte over the limit is refused", "a/b", largest(3) + 1,
                  errc::payload_too_large),
      payload_row("the limit depends on the topic's length", "a/bc", largest(3),
                  errc::payload_too_large),
      payload_row("a payload exactly at the limit with a long topic is valid",
                  std::string(1000, 't'), largest(1000), errc::ok),
      payload_row("a payload as large as the ring is refused", "a/b", kRing,
                  errc::payload_too_large),
      payload_row("a payload near SIZE_MAX is refused, not wrapped around", "a/b",
                  SIZE_MAX - 8, errc::payload_too_large),
      payload_row("a topic error wins over a payload error", "a/#", kRing, errc::topic_wildcard),
      payload_row("a topic too long for the ring is refused even with no payload",
                  std::string(40000, 't'), 0, errc::payload_too_large),
  };

  for (const auto& row : table) {
    const std::string rule = row.rule;
    INFO(rule);
    switch (row.part) {
      case Part::topic: check(validate_topic(row.topic), row.expected); break;
      case Part::qos: check(validate_qos(row.qos), row.expected); break;
      case Part::payload: break;
    }
    const std::size_t ring = row.part == Part::payload ? kRing : kBigRing;
    check(validate_message(row.topic, row.payload_bytes, row.qos, ring), row.expected);
  }
}

TEST_CASE("a payload at the limit is exactly the largest record the ring accepts") {
  // The rule behind the payload rows: what validate_message() accepts, the ring can hold.
  for (const std::size_t ring : {std::size_t{64} << 10, std::size_t{8} << 20}) {
    for (const std::size_t topic : {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{100}}) {
      CAPTURE(ring);
      CAPTURE(topic);
      const std::string t(topic, 't');
      const std::size_t limit = record::max_record_bytes(ring) - record::kHeaderBytes - topic;
      CHECK_FALSE(validate_message(t, limit, 0, ring));
      CHECK(record::record_bytes(topic, limit) == record::max_record_bytes(ring));
      CHECK(validate_message(t, limit + 1, 0, ring) == errc::payload_too_large);
    }
  }
}
