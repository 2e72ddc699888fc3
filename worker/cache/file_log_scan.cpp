#include "worker/cache/file_log_scan.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "worker/cache/posix_io.hpp"

namespace robustmq::cache::file_log {
namespace {
// Reads are at least this large: draining reads whole runs of records with few system calls.
constexpr std::size_t kReadChunk = 256u << 10;
}  // namespace

std::size_t FileSource::read(std::uint64_t offset, std::size_t n, unsigned char* out) {
  return io::pread_some(fd_, out, n, offset, path_);
}

std::size_t MemorySource::read(std::uint64_t offset, std::size_t n, unsigned char* out) {
  if (offset >= bytes_.size()) return 0;
  n = std::min<std::size_t>(n, bytes_.size() - offset);
  std::memcpy(out, bytes_.data() + offset, n);
  return n;
}

Bytes Scanner::window(std::uint64_t offset, std::size_t n, std::uint64_t limit) {
  if (offset >= limit) return {};
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, limit - offset));
  const std::uint64_t buf_end = buf_offset_ + buf_.size();
  if (offset < buf_offset_ || offset + n > buf_end) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(std::max(n, kReadChunk), limit - offset));
    buf_.resize(want);
    buf_.resize(source_.read(offset, want, buf_.data()));
    buf_offset_ = offset;
  }
  const std::size_t at = static_cast<std::size_t>(offset - buf_offset_);
  return Bytes(buf_).subspan(at, std::min(n, buf_.size() - at));
}

Step Scanner::next(std::uint64_t limit, std::uint64_t last_id) {
  Step s;
  s.offset = pos_;
  if (pos_ >= limit) {
    s.next = pos_;
    return s;  // end
  }
  auto try_at = [&](std::uint64_t at) -> Decoded {
    Bytes head = window(at, kRecordHeaderBytes, limit);
    Decoded d = decode_record(salt_, head);
    if (d.status == Decode::truncated && head.size() == kRecordHeaderBytes) {
      std::uint32_t total;
      std::memcpy(&total, head.data() + 4, 4);
      d = decode_record(salt_, window(at, total, limit));
    }
    if (d.status == Decode::ok && d.header.id <= last_id) d.status = Decode::bad;
    return d;
  };

  Decoded d = try_at(pos_);
  if (d.status == Decode::ok) {
    s.kind = Step::record;
    s.next = pos_ + d.header.total_bytes;
    s.rec = d;
    pos_ = s.next;
    // A record lies before the limit, 8-aligned, and its id is larger than every id before it.
    assert(s.offset < s.next && s.next <= limit && d.header.total_bytes % kAlign == 0);
    assert(d.header.id > last_id);
    return s;
  }
  // Damage or a torn tail: probe forward for the next valid record.
  s.kind = Step::damage;
  std::uint64_t probe = pos_ + kAlign;
  for (; probe + kRecordHeaderBytes <= limit; probe += kAlign) {
    if (try_at(probe).status == Decode::ok) break;
  }
  s.next = probe + kRecordHeaderBytes > limit ? limit : probe;
  pos_ = s.next;
  assert(s.offset < s.next && s.next <= limit);  // every step moves forward, within the limit
  return s;
}

}  // namespace robustmq::cache::file_log
