// Encoding and decoding of the file log's structures (file_log_format.hpp). Pure functions on
// byte buffers, so that tests and the fuzzer (test/fuzz/fuzz_file_log.cpp) can drive the
// decoder with arbitrary bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "worker/cache/file_log_format.hpp"
#include "proto/record_format.hpp"

namespace robustmq::cache::file_log {

using Bytes = std::span<const unsigned char>;

// Throws CacheError when `m` cannot be framed (empty or > 65535-byte topic, record above
// kMaxRecordBytes, QoS outside 0-2). `id` is only for the message.
void check_message(const record::MessageView& m, std::uint64_t id);

// What decoding a segment's records needs from its header.
struct SegmentBase {
  std::uint16_t version = kVersion;
  std::uint64_t salt = 0;
  std::uint64_t first_id = 0;
  std::uint64_t base_bytes = 0;
};

// A record's values, whatever its version.
struct RecordInfo {
  std::uint32_t total_bytes = 0;
  std::uint64_t id = 0;
  std::uint64_t seq = 0;
  std::int64_t enqueue_ns = 0;
  std::uint64_t end_bytes = 0;
  std::uint32_t payload_bytes = 0;
  std::uint16_t topic_bytes = 0;
  std::uint8_t flags = 0;  // bits 0-3: QoS, retain, large
};

enum class Decode {
  ok,         // a whole, valid record
  truncated,  // the bytes end before a plausible record does: a torn tail if this is the end
  bad,        // not a valid record of this segment (damage, stale bytes, or garbage)
};

struct Decoded {
  Decode status = Decode::bad;
  RecordInfo header{};  // valid when status == ok
  std::string_view topic;
  std::string_view payload;
  std::size_t need = 0;  // truncated: the record's length when its head says so, else 0
  // Version 2 (status == ok): what the next record's decoding depends on.
  bool anchor = false;
  bool topic_inline = false;
  std::uint32_t crc = 0;
};

// Version 2: the run a record belongs to, as far as it has been read or written. A delta record
// decodes only with the chain of the record before it; after damage the chain is reset and only
// an anchor decodes.
struct Chain {
  bool valid = false;  // a record of the run precedes
  std::uint64_t id = 0;
  std::uint64_t seq = 0;
  std::int64_t enqueue_ns = 0;
  std::uint64_t end_bytes = 0;
  std::uint32_t crc = 0;
  std::size_t run_bytes = 0;        // bytes of the run so far
  std::deque<std::string> topics;   // the run's topic table (a deque: views stay valid)

  void reset() noexcept {
    valid = false;
    run_bytes = 0;
    topics.clear();
  }
};

// Appends the version 2 record for `m` (id `id`, running total `end_bytes`) to `out`, an anchor
// if `anchor` or the run calls for one; advances `chain`. Throws as check_message().
void encode_record(const SegmentBase& seg, Chain& chain, bool anchor, std::uint64_t id,
                   std::uint64_t end_bytes, const record::MessageView& m,
                   std::vector<unsigned char>& out);

// Decodes the version 2 record at the start of `bytes` (its length is the space left in the
// segment), following `chain`. Never reads outside `bytes`; any input is safe. The topic view
// may point into chain.topics.
Decoded decode_record(const SegmentBase& seg, const Chain& chain, Bytes bytes) noexcept;
// Advances `chain` past `d`, a record decode_record() accepted with it.
void follow(Chain& chain, const Decoded& d);

// Version 1 (read; the encoder is kept for tests and the fuzzer's seeds).
void encode_record_v1(std::uint64_t salt, std::uint64_t id, std::uint64_t end_bytes,
                      const record::MessageView& m, std::vector<unsigned char>& out);
Decoded decode_record_v1(std::uint64_t salt, Bytes bytes) noexcept;

// Segment headers: two identical copies at the file's start.
std::vector<unsigned char> encode_segment_header(std::uint64_t salt, std::uint64_t first_id,
                                                 std::uint64_t base_bytes,
                                                 std::uint16_t version = kVersion);
// Returns the first valid copy found in `bytes` (the file's first kSegmentDataStart bytes), of
// either version.
std::optional<SegmentHeader> decode_segment_header(Bytes bytes) noexcept;

std::vector<unsigned char> encode_cursor(std::uint64_t removed_id, std::uint64_t removed_bytes);
std::optional<CursorFile> decode_cursor(Bytes bytes) noexcept;

// "log-00000000000000ff.rml" <-> 255
std::string segment_name(std::uint64_t first_id);
std::optional<std::uint64_t> parse_segment_name(std::string_view name) noexcept;

}  // namespace robustmq::cache::file_log
