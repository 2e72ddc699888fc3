// Helpers for the file-log tests: where a segment file's records start (as the scanner finds
// them), and segments of format version 1 written with the version 1 encoder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cache_fixture.hpp"
#include "worker/cache/file_log_codec.hpp"
#include "worker/cache/file_log_scan.hpp"

namespace robustmq::cache::test {

namespace fl = robustmq::cache::file_log;

inline fl::Bytes bytes_of(const std::string& s) {
  return fl::Bytes(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

// The offsets of the records of a whole, undamaged segment file, then its size.
inline std::vector<std::size_t> record_starts(const std::string& file) {
  auto h = fl::decode_segment_header(bytes_of(file));
  REQUIRE(h);
  fl::MemorySource source(bytes_of(file));
  fl::Scanner scanner(source, fl::SegmentBase{h->version, h->salt, h->first_id, h->base_bytes},
                      fl::kSegmentDataStart);
  std::vector<std::size_t> out;
  std::uint64_t last = h->first_id - 1;
  for (;;) {
    fl::Step s = scanner.next(file.size(), last);
    if (s.kind == fl::Step::end) break;
    REQUIRE(s.kind == fl::Step::record);
    out.push_back(s.offset);
    last = s.rec.header.id;
  }
  out.push_back(file.size());
  return out;
}

// Writes log/log-<first>.rml of format version 1 holding `batch` with ids first.., the running
// byte total starting at base_bytes; returns the total after it.
inline std::uint64_t write_v1_segment(const fs::path& cache_dir, std::uint64_t first,
                                      std::uint64_t base_bytes,
                                      std::span<const record::MessageView> batch,
                                      std::uint64_t salt = 0x0123456789abcdefULL) {
  fs::create_directories(cache_dir / "log");
  auto bytes = fl::encode_segment_header(salt, first, base_bytes, fl::kVersion1);
  std::uint64_t end = base_bytes, id = first;
  for (const auto& m : batch) {
    end += m.topic.size() + m.payload.size();
    fl::encode_record_v1(salt, id++, end, m, bytes);
  }
  spit(cache_dir / "log" / fl::segment_name(first),
       std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  return end;
}

}  // namespace robustmq::cache::test
