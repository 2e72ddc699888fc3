// libFuzzer target: the file log's decoder and scanner on arbitrary bytes. The first 8 bytes
// are the salt, the rest is a segment's data area. Must never crash, hang or read out of
// bounds; every record it accepts must lie inside the input.
// Built with -Dfuzz=true by clang and run by scripts/test.sh (see test/fuzz/meson.build).
#include <cstdint>
#include <cstring>
#include <cstdlib>

#include "worker/cache/file_log_scan.hpp"

namespace fl = robustmq::cache::file_log;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t salt;
  std::memcpy(&salt, data, 8);
  fl::Bytes bytes(data + 8, size - 8);
  (void)fl::decode_record(salt, bytes);
  (void)fl::decode_segment_header(bytes);
  (void)fl::decode_cursor(bytes.first(std::min<std::size_t>(bytes.size(), fl::kCursorBytes)));

  fl::MemorySource source(bytes);
  fl::Scanner scanner(source, salt, 0);
  std::uint64_t last_id = 0, pos = 0;
  for (;;) {
    fl::Step s = scanner.next(bytes.size(), last_id);
    if (s.kind == fl::Step::end) break;
    if (s.next <= pos || s.next > bytes.size()) std::abort();  // progress, and in bounds
    pos = s.next;
    if (s.kind == fl::Step::record) {
      if (s.rec.header.id <= last_id) std::abort();
      last_id = s.rec.header.id;
    }
  }
  return 0;
}
