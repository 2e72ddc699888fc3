// libFuzzer target: the file log's decoders and scanner on arbitrary bytes. The first 8 bytes
// are the salt, the next one picks the format version (odd: 1, even: 2), the rest is a
// segment's data area. Must never crash, hang or read out of bounds; every record it accepts
// must lie inside the input, with ids that grow.
// Built with -Dfuzz=true by clang and run by scripts/test.sh (see test/fuzz/meson.build).
#include <cstdint>
#include <cstring>
#include <cstdlib>

#include "worker/cache/file_log_scan.hpp"

namespace fl = robustmq::cache::file_log;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 9) return 0;
  std::uint64_t salt;
  std::memcpy(&salt, data, 8);
  const fl::SegmentBase seg{(data[8] & 1) != 0 ? fl::kVersion1 : fl::kVersion, salt, 1, 0};
  fl::Bytes bytes(data + 9, size - 9);
  (void)fl::decode_record_v1(salt, bytes);
  (void)fl::decode_record(seg, fl::Chain{}, bytes);
  (void)fl::decode_segment_header(bytes);
  (void)fl::decode_cursor(bytes.first(std::min<std::size_t>(bytes.size(), fl::kCursorBytes)));

  fl::MemorySource source(bytes);
  fl::Scanner scanner(source, seg, 0);
  std::uint64_t last_id = 0, pos = 0;
  for (;;) {
    fl::Step s = scanner.next(bytes.size(), last_id);
    if (s.kind == fl::Step::end) break;
    if (s.next <= pos || s.next > bytes.size()) std::abort();  // progress, and in bounds
    pos = s.next;
    if (s.kind == fl::Step::record) {
      const auto& h = s.rec.header;
      if (h.id <= last_id || h.topic_bytes != s.rec.topic.size() ||
          h.payload_bytes != s.rec.payload.size() || h.topic_bytes == 0)
        std::abort();
      last_id = s.rec.header.id;
    }
  }
  return 0;
}
