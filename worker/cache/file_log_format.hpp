// The file cache's on-disk format. Version 1. Little-endian hosts only.
//
// dir/log/ holds
//   log-<first id as 16 lowercase hex digits>.rml   segments; ids are contiguous across them
//   cursor                                           the acknowledgement cursor
//   cursor.tmp                                       a cursor being replaced (ignored on open)
//
// Segment file:
//
//   0          40         80
//   +----------+----------+----------------+----------------+-- ... --+
//   | header A | header B | record (id=f)  | record (id=f+1)|         |
//   +----------+----------+----------------+----------------+-- ... --+
//
//   Two identical header copies: the salt in it is needed to validate every record, so one
//   damaged sector must not make the whole segment unreadable.
//
// Segment header (40 bytes):
//   0   u32  magic        kSegmentMagic
//   4   u16  version      kVersion
//   6   u16  reserved     0
//   8   u64  salt         random, new for every segment; mixed into every record's CRC so that
//                         bytes left by an earlier log (reset, reused blocks) never validate
//   16  u64  first_id     id of the segment's first record; equals the number in the name
//   24  u64  base_bytes   running byte total (see end_bytes) before the first record
//   32  u32  reserved     0
//   36  u32  crc          masked crc32c of bytes [0, 36)
//
// Record (8-aligned, so a damaged region is skipped by probing 8-byte steps):
//   0   u32  crc          masked crc32c(salt as 8 LE bytes ‖ bytes [4, total_bytes))
//   4   u32  total_bytes  kRecordHeaderBytes + topic + payload, rounded up to 8
//   8   u64  id           previous record's id + 1
//   16  u64  seq          the producer's sequence number
//   24  i64  enqueue_ns   CLOCK_REALTIME at publish()
//   32  u64  end_bytes    running total of topic+payload bytes of every record ever appended
//                         to this log, through this one: counts() = last end_bytes minus the
//                         cursor's, without reading the records in between
//   40  u32  payload_bytes
//   44  u16  topic_bytes  1..65535 (MQTT topics are never empty)
//   46  u8   flags        bits 0-1 QoS, bit 2 retain, bit 3 large (the payload is a reference
//                         to a file in <cache>/large/, proto/large_message.hpp), bits 4-7 zero
//   47  u8   type         kTypeMessage
//   48       topic, payload, zero padding to total_bytes
//
// Cursor file (32 bytes, replaced atomically: write cursor.tmp, fdatasync, rename, fsync dir):
//   0   u32  magic        kCursorMagic
//   4   u16  version      kVersion
//   6   u16  reserved     0
//   8   u64  removed_id   every record with id <= removed_id is acknowledged
//   16  u64  removed_bytes  end_bytes of record removed_id (0 if unknown: counts approximate)
//   24  u32  reserved     0
//   28  u32  crc          masked crc32c of bytes [0, 28)
#pragma once

#include "proto/large_message.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>

namespace robustmq::cache::file_log {

static_assert(std::endian::native == std::endian::little, "the file log format is little-endian");

inline constexpr std::uint16_t kVersion = 1;
inline constexpr std::uint32_t kSegmentMagic = 0x4C514D52u;  // "RMQL"
inline constexpr std::uint32_t kCursorMagic = 0x43514D52u;   // "RMQC"
inline constexpr std::uint8_t kTypeMessage = 1;
inline constexpr std::uint8_t kQosMask = 0x03;
inline constexpr std::uint8_t kRetainBit = 0x04;
inline constexpr std::uint8_t kLargeBit = 0x08;  // payload: a large-message reference

inline constexpr std::size_t kAlign = 8;
inline constexpr std::size_t kSegmentHeaderBytes = 40;
inline constexpr std::size_t kSegmentDataStart = 2 * kSegmentHeaderBytes;
inline constexpr std::size_t kRecordHeaderBytes = 48;
inline constexpr std::size_t kCursorBytes = 32;

// A new segment is started once the current one holds this much.
inline constexpr std::uint64_t kSegmentTargetBytes = 64ull << 20;
// A fully acknowledged active segment this large is rolled over at the next append, so that a
// cache that keeps emptying does not grow one file forever.
inline constexpr std::uint64_t kRecycleBytes = 4ull << 20;
// No record is larger than this; a length field above it is damage, not a record.
inline constexpr std::size_t kMaxRecordBytes = 256u << 20;
// Every ring record fits: an inline payload, the longest topic and the header.
static_assert(large::kMaxInlinePayloadBytes + 65535 + 4096 <= kMaxRecordBytes);

struct SegmentHeader {
  std::uint32_t magic;
  std::uint16_t version;
  std::uint16_t reserved0;
  std::uint64_t salt;
  std::uint64_t first_id;
  std::uint64_t base_bytes;
  std::uint32_t reserved1;
  std::uint32_t crc;
};
static_assert(sizeof(SegmentHeader) == kSegmentHeaderBytes);

struct RecordHeader {
  std::uint32_t crc;
  std::uint32_t total_bytes;
  std::uint64_t id;
  std::uint64_t seq;
  std::int64_t enqueue_ns;
  std::uint64_t end_bytes;
  std::uint32_t payload_bytes;
  std::uint16_t topic_bytes;
  std::uint8_t flags;
  std::uint8_t type;
};
static_assert(sizeof(RecordHeader) == kRecordHeaderBytes);

struct CursorFile {
  std::uint32_t magic;
  std::uint16_t version;
  std::uint16_t reserved0;
  std::uint64_t removed_id;
  std::uint64_t removed_bytes;
  std::uint32_t reserved1;
  std::uint32_t crc;
};
static_assert(sizeof(CursorFile) == kCursorBytes);

static_assert(kSegmentDataStart % kAlign == 0 && kRecordHeaderBytes % kAlign == 0);
static_assert(kMaxRecordBytes <= UINT32_MAX && kSegmentTargetBytes > kSegmentDataStart);

constexpr std::size_t record_bytes(std::size_t topic, std::size_t payload) {
  return (kRecordHeaderBytes + topic + payload + kAlign - 1) & ~(kAlign - 1);
}

}  // namespace robustmq::cache::file_log
