// Rules of record::validate(), the check the worker applies to every record header it finds in
// the shared ring (format in proto/record_format.hpp).
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "printers.hpp"
#include "proto/record_format.hpp"

using namespace robustmq;
using record::Check;

namespace {

constexpr std::size_t kRing = 1024;

// A well-formed header for `topic` + `payload` bytes.
record::Header header(std::size_t topic, std::size_t payload) {
  record::Header h{};
  h.total_bytes = static_cast<std::uint32_t>(record::record_bytes(topic, payload));
  h.topic_bytes = static_cast<std::uint16_t>(topic);
  h.kind = record::kKindMessage;
  h.payload_bytes = static_cast<std::uint32_t>(payload);
  return h;
}

template <class F>
record::Header with(record::Header h, F f) {
  f(h);
  return h;
}

}  // namespace

TEST_CASE("the record format's constants agree with its diagram") {
  CHECK(record::kHeaderBytes == 32);
  CHECK(offsetof(record::Header, topic_bytes) == 4);
  CHECK(offsetof(record::Header, flags) == 6);
  CHECK(offsetof(record::Header, kind) == 7);
  CHECK(offsetof(record::Header, seq) == 8);
  CHECK(offsetof(record::Header, enqueue_ns) == 16);
  CHECK(offsetof(record::Header, payload_bytes) == 24);
  CHECK(offsetof(record::Header, reserved) == 28);
  CHECK(record::record_bytes(0, 0) == 32);
  CHECK(record::record_bytes(1, 0) == 40);
  CHECK(record::record_bytes(3, 5) == 40);
  CHECK(record::record_bytes(3, 6) == 48);
  CHECK(record::max_record_bytes(kRing) == kRing / 2);
  // The wrap marker can never be mistaken for a length: lengths are multiples of 8.
  CHECK(record::kWrapMarker % record::kAlign != 0);
}

TEST_CASE("validate accepts exactly the headers the producer writes") {
  struct Row {
    const char* rule;
    record::Header header;
    std::size_t contiguous;
    Check expected;
  };
  const auto good = header(3, 20);  // 56 bytes
  const std::vector<Row> table = {
      {"a minimal record", header(1, 0), kRing, Check::ok},
      {"an empty topic and payload is well-framed (topic rules are checked elsewhere)",
       header(0, 0), kRing, Check::ok},
      {"a record with padding", good, kRing, Check::ok},
      {"a record without padding", header(3, 29), kRing, Check::ok},
      {"QoS 1", with(good, [](auto& h) { h.flags = 1; }), kRing, Check::ok},
      {"QoS 1 and large", with(good, [](auto& h) { h.flags = 1 | record::kLargeBit; }), kRing,
       Check::ok},
      {"QoS 2 and retain", with(good, [](auto& h) { h.flags = 2 | record::kRetainBit; }), kRing,
       Check::ok},
      {"a record exactly as long as the bytes before the ring's end", good, 56, Check::ok},
      {"a record of exactly half the ring", header(3, 512 - 35), kRing, Check::ok},

      {"total_bytes not a multiple of 8", with(good, [](auto& h) { h.total_bytes = 57; }), kRing,
       Check::bad_length},
      {"total_bytes 0", with(good, [](auto& h) { h.total_bytes = 0; }), kRing, Check::bad_length},
      {"total_bytes below a header", with(good, [](auto& h) { h.total_bytes = 24; }), kRing,
       Check::bad_length},
      {"the wrap marker read as a length", with(good, [](auto& h) { h.total_bytes = record::kWrapMarker; }),
       kRing, Check::bad_length},
      {"a record longer than the bytes before the ring's end", good, 48, Check::bad_length},
      {"a record over half the ring", header(3, 512 - 35 + 1), kRing, Check::bad_length},
      {"total_bytes near 2^32", with(good, [](auto& h) { h.total_bytes = 0xFFFF'FFF8u; }), kRing,
       Check::bad_length},

      {"kind 0", with(good, [](auto& h) { h.kind = 0; }), kRing, Check::bad_kind},
      {"kind 2", with(good, [](auto& h) { h.kind = 2; }), kRing, Check::bad_kind},
      {"kind 255", with(good, [](auto& h) { h.kind = 255; }), kRing, Check::bad_kind},

      {"QoS 3", with(good, [](auto& h) { h.flags = 3; }), kRing, Check::bad_flags},
      {"flag bit 4", with(good, [](auto& h) { h.flags = 0x10; }), kRing, Check::bad_flags},
      {"flag bit 7 with a valid QoS", with(good, [](auto& h) { h.flags = 0x81; }), kRing,
       Check::bad_flags},

      {"payload_bytes beyond total_bytes", with(good, [](auto& h) { h.payload_bytes = 40; }),
       kRing, Check::bad_sizes},
      {"topic_bytes beyond total_bytes", with(good, [](auto& h) { h.topic_bytes = 30; }), kRing,
       Check::bad_sizes},
      {"payload_bytes near 2^32", with(good, [](auto& h) { h.payload_bytes = 0xFFFF'FFFFu; }),
       kRing, Check::bad_sizes},
      {"topic_bytes 65535", with(good, [](auto& h) { h.topic_bytes = 0xFFFF; }), kRing,
       Check::bad_sizes},
      {"8 bytes of padding too many", with(good, [](auto& h) { h.total_bytes += 8; }), kRing,
       Check::bad_sizes},
      {"sizes that add up to less than the padded length",
       with(good, [](auto& h) { h.payload_bytes -= 8; }), kRing, Check::bad_sizes},
  };
  for (const auto& row : table) {
    const std::string rule = row.rule;
    INFO(rule);
    CHECK(record::validate(row.header, row.contiguous, kRing) == row.expected);
  }
}
