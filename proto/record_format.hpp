// A message record in the shared ring. Format version 2 (1 plus the large bit).
//
//   offset  size  field
//   0       4     total_bytes   whole record incl. this header and padding; a multiple of 8.
//                               kWrapMarker instead: skip to the ring's start.
//   4       2     topic_bytes
//   6       1     flags         bits 0-1 QoS, bit 2 retain, bit 3 large, bits 4-7 zero
//                               large: the payload is a reference to a file holding the real
//                               payload (proto/large_message.hpp), not the payload itself
//   7       1     kind          kKindMessage
//   8       8     seq           per-client sequence number, +1 per message
//   16      8     enqueue_ns    CLOCK_REALTIME at publish()
//   24      4     payload_bytes
//   28      4     reserved      zero
//   32            topic, payload, zero padding to a multiple of 8
//
// A record never straddles the ring's end: when it does not fit before the end, the producer
// writes kWrapMarker (4 bytes are always there, as offsets are 8-aligned) and starts at 0.
// The worker treats every header as untrusted and checks it with validate() before use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace robustmq::record {

inline constexpr std::uint32_t kWrapMarker = 0xFFFF'FFFFu;
inline constexpr std::uint8_t kKindMessage = 1;
inline constexpr std::size_t kHeaderBytes = 32;
inline constexpr std::size_t kAlign = 8;
inline constexpr std::uint8_t kQosMask = 0x03;
inline constexpr std::uint8_t kRetainBit = 0x04;
inline constexpr std::uint8_t kLargeBit = 0x08;

struct Header {
  std::uint32_t total_bytes;
  std::uint16_t topic_bytes;
  std::uint8_t flags;
  std::uint8_t kind;
  std::uint64_t seq;
  std::int64_t enqueue_ns;
  std::uint32_t payload_bytes;
  std::uint32_t reserved;
};
static_assert(sizeof(Header) == kHeaderBytes);
static_assert(alignof(Header) <= kAlign);

constexpr std::size_t padded(std::size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }
constexpr std::size_t record_bytes(std::size_t topic, std::size_t payload) {
  return padded(kHeaderBytes + topic + payload);
}
// The largest record a ring of ring_bytes accepts: half the ring, so that an empty ring always
// has room for it whatever the head's offset (at most half is lost to a wrap).
constexpr std::size_t max_record_bytes(std::size_t ring_bytes) { return ring_bytes / 2; }

// A decoded message; views point into the ring (or a cache buffer).
struct MessageView {
  std::uint64_t seq = 0;
  std::int64_t enqueue_ns = 0;
  int qos = 0;
  bool retain = false;
  std::string_view topic;
  std::string_view payload;
  bool large = false;  // payload is a large-message reference (proto/large_message.hpp)
};

enum class Check { ok, bad_length, bad_kind, bad_flags, bad_sizes };

// Checks a header found at a ring offset with `contiguous` bytes before the ring's end.
Check validate(const Header& h, std::size_t contiguous, std::size_t ring_bytes) noexcept;

}  // namespace robustmq::record
