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

Decoded Scanner::try_at(std::uint64_t at, std::uint64_t limit, std::uint64_t last_id,
                        const Chain& chain) {
  const bool v1 = seg_.version == kVersion1;
  auto decode = [&](Bytes b) {
    return v1 ? decode_record_v1(seg_.salt, b) : decode_record(seg_, chain, b);
  };
  Decoded d = decode(window(at, v1 ? kRecordHeaderBytes : kMaxHeadBytes, limit));
  if (d.status == Decode::truncated && d.need > 0 && d.need <= limit - at)
    d = decode(window(at, d.need, limit));
  if (d.status == Decode::ok && d.header.id <= last_id) d.status = Decode::bad;
  return d;
}

Step Scanner::next(std::uint64_t limit, std::uint64_t last_id) {
  Step s;
  s.offset = pos_;
  if (pos_ >= limit) {
    s.next = pos_;
    return s;  // end
  }
  const bool v1 = seg_.version == kVersion1;
  Decoded d = try_at(pos_, limit, last_id, chain_);
  if (d.status == Decode::ok) {
    s.kind = Step::record;
    s.next = pos_ + d.header.total_bytes;
    s.rec = d;
    pos_ = s.next;
    // A record lies before the limit, and its id is larger than every id before it.
    assert(s.offset < s.next && s.next <= limit);
    assert(!v1 || d.header.total_bytes % kAlign == 0);
    assert(d.header.id > last_id);
    if (!v1) follow(chain_, d);
    return s;
  }
  // Damage or a torn tail: probe forward for the next valid record, a version 2 anchor (the
  // chain is broken, so no delta record decodes).
  s.kind = Step::damage;
  chain_.reset();
  const std::size_t step = v1 ? kAlign : 1;
  const std::size_t smallest = v1 ? kRecordHeaderBytes : kMinAnchorBytes;
  std::uint64_t probe = pos_ + step;
  for (; probe + smallest <= limit; probe += step) {
    Decoded found = try_at(probe, limit, last_id, chain_);
    if (found.status == Decode::ok) break;
  }
  s.next = probe + smallest > limit ? limit : probe;
  pos_ = s.next;
  assert(s.offset < s.next && s.next <= limit);  // every step moves forward, within the limit
  return s;
}

}  // namespace robustmq::cache::file_log
