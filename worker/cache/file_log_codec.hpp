// Encoding and decoding of the file log's structures (file_log_format.hpp). Pure functions on
// byte buffers, so that tests and the fuzzer (test/fuzz/fuzz_file_log.cpp) can drive the
// decoder with arbitrary bytes.
#pragma once

#include <cstddef>
#include <cstdint>
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

// Appends the framed record for `m` to `out`; throws as check_message().
void encode_record(std::uint64_t salt, std::uint64_t id, std::uint64_t end_bytes,
                   const record::MessageView& m, std::vector<unsigned char>& out);

enum class Decode {
  ok,         // a whole, valid record
  truncated,  // the bytes end before a plausible record does: a torn tail if this is the end
  bad,        // not a valid record of this segment (damage, stale bytes, or garbage)
};

struct Decoded {
  Decode status = Decode::bad;
  RecordHeader header{};  // valid when status == ok
  std::string_view topic;
  std::string_view payload;
};

// Decodes the record at the start of `bytes` (its length is the space left in the segment).
// Never reads outside `bytes`; any input is safe.
Decoded decode_record(std::uint64_t salt, Bytes bytes) noexcept;

// Segment headers: two identical copies at the file's start.
std::vector<unsigned char> encode_segment_header(std::uint64_t salt, std::uint64_t first_id,
                                                 std::uint64_t base_bytes);
// Returns the first valid copy found in `bytes` (the file's first kSegmentDataStart bytes).
std::optional<SegmentHeader> decode_segment_header(Bytes bytes) noexcept;

std::vector<unsigned char> encode_cursor(std::uint64_t removed_id, std::uint64_t removed_bytes);
std::optional<CursorFile> decode_cursor(Bytes bytes) noexcept;

// "log-00000000000000ff.rml" <-> 255
std::string segment_name(std::uint64_t first_id);
std::optional<std::uint64_t> parse_segment_name(std::string_view name) noexcept;

}  // namespace robustmq::cache::file_log
