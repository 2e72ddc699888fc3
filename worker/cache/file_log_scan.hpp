// Walks the records of one segment, telling valid records from damaged regions.
//
// A damaged region starts where a record fails to decode and ends at the next offset holding a
// valid record with a larger id, or at the segment's end when there is none. Version 1 records
// are 8-aligned: probed in 8-byte steps. Version 2: probed byte by byte for an anchor (a delta
// record decodes only right after its predecessor). The caller decides what a region means: at the end of the
// last segment it is a torn tail (the writer died mid-batch: a clean end), anywhere else it is
// damage (counted, logged, skipped).
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "worker/cache/file_log_codec.hpp"

namespace robustmq::cache::file_log {

// Where a scanner's bytes come from: a segment file, or memory (tests, fuzzer).
class Source {
 public:
  virtual ~Source() = default;
  // Copies up to n bytes at offset into out; returns the count (short only at end of data).
  virtual std::size_t read(std::uint64_t offset, std::size_t n, unsigned char* out) = 0;
};

class FileSource final : public Source {
 public:
  FileSource(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  std::size_t read(std::uint64_t offset, std::size_t n, unsigned char* out) override;

 private:
  int fd_;
  std::filesystem::path path_;
};

class MemorySource final : public Source {
 public:
  explicit MemorySource(Bytes bytes) : bytes_(bytes) {}
  std::size_t read(std::uint64_t offset, std::size_t n, unsigned char* out) override;

 private:
  Bytes bytes_;
};

struct Step {
  enum Kind { record, damage, end } kind = end;
  std::uint64_t offset = 0;  // where the record or the damaged region starts
  std::uint64_t next = 0;    // just past the record; for damage, the next valid record or limit
  Decoded rec;               // kind == record; views valid until the next call
};

class Scanner {
 public:
  // Reads records of the segment `seg` from `offset` (>= kSegmentDataStart, a record's start).
  Scanner(Source& source, const SegmentBase& seg, std::uint64_t offset)
      : source_(source), seg_(seg), pos_(offset) {}

  // The next record or damaged region before `limit` (the segment's end of valid data, which
  // grows while the segment is being appended to). Only records with id > last_id are valid
  // (ids grow by one per record), so bytes of records already read never reappear.
  Step next(std::uint64_t limit, std::uint64_t last_id);

  std::uint64_t position() const noexcept { return pos_; }

 private:
  // Makes [offset, offset + n) ∩ [.., limit) available; returns the bytes available there.
  Bytes window(std::uint64_t offset, std::size_t n, std::uint64_t limit);
  // The record at `at`, if valid with an id > last_id; version 2 follows `chain`.
  Decoded try_at(std::uint64_t at, std::uint64_t limit, std::uint64_t last_id,
                 const Chain& chain);

  Source& source_;
  SegmentBase seg_;
  Chain chain_;  // version 2: the run read so far
  std::uint64_t pos_;
  std::vector<unsigned char> buf_;
  std::uint64_t buf_offset_ = 0;
};

}  // namespace robustmq::cache::file_log
