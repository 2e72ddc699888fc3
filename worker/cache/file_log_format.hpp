// The file cache's on-disk format. Version 2 is written; version 1 segments are still read, so
// a log written by an older worker is delivered and acknowledged after an upgrade (its last
// segment is never appended to: the first append starts a version 2 segment). Little-endian
// hosts only. Varints are unsigned LEB128 (at most 10 bytes); zigzag(n) = (n << 1) ^ (n >> 63).
//
// dir/log/ holds
//   log-<first id as 16 lowercase hex digits>.rml   segments; ids are contiguous across them
//   cursor                                           the acknowledgement cursor
//   cursor.tmp                                       a cursor being replaced (ignored on open)
//
// Segment file (both versions):
//
//   0          40         80
//   +----------+----------+----------------+----------------+-- ... --+
//   | header A | header B | record (id=f)  | record (id=f+1)|         |
//   +----------+----------+----------------+----------------+-- ... --+
//
//   Two identical header copies: the salt in it is needed to validate every record, so one
//   damaged sector must not make the whole segment unreadable. The version in the header says
//   how the segment's records are framed.
//
// Segment header (40 bytes):
//   0   u32  magic        kSegmentMagic
//   4   u16  version      1 or 2 (kVersion1, kVersion)
//   6   u16  reserved     0
//   8   u64  salt         random, new for every segment; mixed into every record's CRC so that
//                         bytes left by an earlier log (reset, reused blocks) never validate
//   16  u64  first_id     id of the segment's first record; equals the number in the name
//   24  u64  base_bytes   running byte total (see end_bytes) before the first record
//   32  u32  reserved     0
//   36  u32  crc          masked crc32c of bytes [0, 36)
//
// Every record has an id (previous record's id + 1), the producer's sequence number seq, the
// enqueue time enqueue_ns (CLOCK_REALTIME at publish()), the QoS / retain / large flags (large:
// the payload is a reference to a file in <cache>/large/, proto/large_message.hpp), a topic of
// 1..65535 bytes, a payload, and end_bytes: the running total of topic+payload bytes of every
// record ever appended to this log, through this one. counts() = last end_bytes minus the
// cursor's, without reading the records in between.
//
// Version 2 record (byte-aligned). Records come in runs: a run starts with an anchor record,
// which carries its values in full, followed by delta records, which carry what their
// predecessor does not predict. Every append() starts a run, and so does the record after 4 KiB
// (kRunBytes) of a run. A delta record's CRC is chained to its predecessor's, so it validates
// only right after it; after damage the scanner probes byte by byte for the next anchor, whose
// own header CRC makes a false match improbable (and cheap to reject):
//   0   u32  crc          anchor: masked crc32c(salt as 8 LE bytes ‖ bytes [4, end))
//                         delta:  masked crc32c(salt ‖ predecessor's crc as 4 LE bytes ‖
//                                 bytes [4, end))
//   4   u8   flags        bits 0-1 QoS (3 invalid), bit 2 retain, bit 3 large, bit 4 topic
//                         inline, bit 5 anchor, bits 6-7 = 10 (kMarker)
//   5   varint body       bytes after this field through the record's end
//       anchor:  varint id - the segment's first_id
//                varint seq
//                varint zigzag(enqueue_ns)
//                varint end_bytes - the segment's base_bytes
//                u32    head_crc   masked crc32c(salt ‖ bytes [4, here))
//       delta:   (id = predecessor's id + 1; end_bytes = predecessor's + topic + payload)
//                varint zigzag(seq - (predecessor's seq + 1))
//                varint zigzag(enqueue_ns - predecessor's enqueue_ns)
//       topic:   inline (bit 4):  varint length 1..65535, the topic bytes
//                by reference:    varint index into the run's topic table
//       payload: the rest of the body
//   The run's topic table starts empty at the anchor (whose topic is inline) and takes each
//   inline topic while it holds fewer than kRunTopics. The writer writes a topic inline only on
//   its first use in the run, so a run of one topic stores it once.
//   A 256-byte payload on an 11-byte topic costs 267 bytes plus about 12 of framing (delta
//   record: crc 4, flags 1, body 2, seq 1, time 2-4, topic reference 1) and about 2 more for its
//   share of the run's anchor and inline topic; version 1 framed it in 320.
//   Damage costs the rest of its run: the delta records up to the next anchor do not validate.
//   At the end of the last segment there is no later anchor, so damage in the last run cannot
//   be told from a torn write: it is cut as a torn tail (version 1 could tell damage followed by
//   a valid record of the same batch).
//
// Version 1 record (8-aligned, so a damaged region is skipped by probing 8-byte steps):
//   0   u32  crc          masked crc32c(salt as 8 LE bytes ‖ bytes [4, total_bytes))
//   4   u32  total_bytes  kRecordHeaderBytes + topic + payload, rounded up to 8
//   8   u64  id
//   16  u64  seq
//   24  i64  enqueue_ns
//   32  u64  end_bytes
//   40  u32  payload_bytes
//   44  u16  topic_bytes  1..65535 (MQTT topics are never empty)
//   46  u8   flags        bits 0-1 QoS, bit 2 retain, bit 3 large, bits 4-7 zero
//   47  u8   type         kTypeMessage
//   48       topic, payload, zero padding to total_bytes
//
// Cursor file (32 bytes, its own version 1, unchanged; replaced atomically: write cursor.tmp,
// fdatasync, rename, fsync dir):
//   0   u32  magic        kCursorMagic
//   4   u16  version      kCursorVersion
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

inline constexpr std::uint16_t kVersion = 2;   // segments written
inline constexpr std::uint16_t kVersion1 = 1;  // segments still read
inline constexpr std::uint16_t kCursorVersion = 1;
inline constexpr std::uint32_t kSegmentMagic = 0x4C514D52u;  // "RMQL"
inline constexpr std::uint32_t kCursorMagic = 0x43514D52u;   // "RMQC"
inline constexpr std::uint8_t kTypeMessage = 1;
inline constexpr std::uint8_t kQosMask = 0x03;
inline constexpr std::uint8_t kRetainBit = 0x04;
inline constexpr std::uint8_t kLargeBit = 0x08;  // payload: a large-message reference
// Version 2 flags.
inline constexpr std::uint8_t kTopicInlineBit = 0x10;
inline constexpr std::uint8_t kAnchorBit = 0x20;
inline constexpr std::uint8_t kMarkerMask = 0xC0;
inline constexpr std::uint8_t kMarker = 0x80;  // not ASCII: text payloads rarely look like an anchor

inline constexpr std::size_t kAlign = 8;  // version 1 records
inline constexpr std::size_t kSegmentHeaderBytes = 40;
inline constexpr std::size_t kSegmentDataStart = 2 * kSegmentHeaderBytes;
inline constexpr std::size_t kRecordHeaderBytes = 48;
inline constexpr std::size_t kCursorBytes = 32;
// Version 2: a run ends with the first record that takes it to this many bytes or more.
inline constexpr std::size_t kRunBytes = 4096;
// Version 2: topics a run's table holds at most (later inline topics are not entered).
inline constexpr std::size_t kRunTopics = 64;
// Version 2: the longest record head (crc, flags, body, the anchor's fields, head_crc, topic
// length), the smallest anchor and the smallest record.
inline constexpr std::size_t kMaxHeadBytes = 4 + 1 + 5 + 4 * 10 + 4 + 3;
inline constexpr std::size_t kMinAnchorBytes = 4 + 1 + 1 + 4 + 4 + 1 + 1;
inline constexpr std::size_t kMinRecordBytes = 4 + 1 + 1 + 1 + 1 + 1;

// A new segment is started once the current one holds this much.
inline constexpr std::uint64_t kSegmentTargetBytes = 64ull << 20;
// A fully acknowledged active segment this large is rolled over at the next append, so that a
// cache that keeps emptying does not grow one file forever.
inline constexpr std::uint64_t kRecycleBytes = 4ull << 20;
// No record is larger than this; a length field above it is damage, not a record.
inline constexpr std::size_t kMaxRecordBytes = 256u << 20;
// Every ring record fits: an inline payload, the longest topic and the header.
static_assert(large::kMaxInlinePayloadBytes + 65535 + 4096 <= kMaxRecordBytes);
static_assert(kMaxRecordBytes < (1ull << 35), "a record's body length is a varint of <= 5 bytes");

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

// A version 1 record's header.
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

// A version 1 record's size.
constexpr std::size_t record_bytes_v1(std::size_t topic, std::size_t payload) {
  return (kRecordHeaderBytes + topic + payload + kAlign - 1) & ~(kAlign - 1);
}
// No version 2 record of this topic and payload is larger.
constexpr std::size_t max_record_bytes(std::size_t topic, std::size_t payload) {
  return kMaxHeadBytes + topic + payload;
}

}  // namespace robustmq::cache::file_log
