// Reading the file log. The reader keeps its place (segment, offset, next id) between calls, so
// draining in batches with increasing after_id reads every byte once. Any other after_id
// repositions: a scan from the start of the segment holding after_id + 1 (at most
// kSegmentTargetBytes).
#include <algorithm>
#include <cassert>
#include <fcntl.h>

#include "worker/cache/file_log.hpp"

namespace robustmq::cache::file_log {

std::size_t FileLog::segment_index(std::uint64_t first_id) const {
  auto it = std::lower_bound(segments_.begin(), segments_.end(), first_id,
                             [](const Segment& s, std::uint64_t id) { return s.first_id < id; });
  if (it == segments_.end() || it->first_id != first_id) return segments_.size();
  return static_cast<std::size_t>(it - segments_.begin());
}

io::Fd FileLog::open_segment(const Segment& seg, int flags) const {
  return io::open_at(dir_fd_.get(), seg.path.filename().c_str(), flags, seg.path);
}

bool FileLog::open_reader(std::uint64_t after) {
  reader_.reset();
  if (segments_.empty()) return false;
  // The last segment whose first id is <= after + 1, or the first segment.
  auto it = std::upper_bound(segments_.begin(), segments_.end(), after + 1,
                             [](std::uint64_t id, const Segment& s) { return id < s.first_id; });
  const Segment& seg = it == segments_.begin() ? *it : *std::prev(it);
  Reader r;
  r.segment_first_id = seg.first_id;
  r.next_id = seg.first_id;
  r.prev_end_bytes = seg.base_bytes;
  r.fd = open_segment(seg, O_RDONLY);
  r.source = std::make_unique<FileSource>(r.fd.get(), seg.path);
  r.scanner = std::make_unique<Scanner>(*r.source, seg.base(), kSegmentDataStart);
  reader_ = std::move(r);
  return true;
}

void FileLog::read(std::uint64_t after_id, std::size_t max_messages,
                   std::vector<CachedMessage>& out) {
  const std::uint64_t after = std::max(after_id, removed_id_);
  if (!reader_ || reader_->next_id != after + 1 || segment_index(reader_->segment_first_id) ==
                                                       segments_.size()) {
    if (!open_reader(after)) return;
  }
  // Where a damaged region starts; it is reported once the record after it is found.
  std::optional<std::uint64_t> damage;
  std::size_t added = 0;
  while (added < max_messages) {
    const std::size_t index = segment_index(reader_->segment_first_id);
    const Segment& seg = segments_[index];
    Step s = reader_->scanner->next(seg.end, reader_->next_id - 1);
    if (s.kind == Step::damage) {
      damage = s.offset;
      continue;
    }
    if (s.kind == Step::end) {
      const bool last = index + 1 == segments_.size();
      const std::uint64_t next_first = last ? next_id_ : segments_[index + 1].first_id;
      const std::uint64_t next_base = last ? end_bytes_ : segments_[index + 1].base_bytes;
      if (damage) {
        report_damage(seg, *damage, seg.end, reader_->next_id, next_first,
                      next_base - reader_->prev_end_bytes);
        damage.reset();
      } else if (!last && next_first > reader_->next_id && !lost_.count(reader_->next_id) &&
                 !reported_.count({next_first, 0})) {
        // The segment ends early (its tail was lost without sync) and nothing was reported.
        report_damage(seg, seg.end, seg.end, reader_->next_id, next_first,
                      next_base - reader_->prev_end_bytes);
      }
      if (last) break;  // the append position: the next call continues from here
      const Segment& following = segments_[index + 1];
      Reader r;
      r.segment_first_id = following.first_id;
      r.next_id = std::max(reader_->next_id, following.first_id);
      r.prev_end_bytes = following.base_bytes;
      r.fd = open_segment(following, O_RDONLY);
      r.source = std::make_unique<FileSource>(r.fd.get(), following.path);
      r.scanner = std::make_unique<Scanner>(*r.source, following.base(), kSegmentDataStart);
      reader_ = std::move(r);
      continue;
    }
    const RecordInfo& h = s.rec.header;
    assert(h.id >= reader_->next_id);  // 1: ids only grow; a gap is what damage took
    if (damage) {
      report_damage(seg, *damage, s.offset, reader_->next_id, h.id,
                    h.end_bytes - h.topic_bytes - h.payload_bytes - reader_->prev_end_bytes);
      damage.reset();
    }
    reader_->next_id = h.id + 1;
    reader_->prev_end_bytes = h.end_bytes;
    if (h.id <= after) continue;  // positioning after open_reader()
    CachedMessage m;
    m.id = h.id;
    m.seq = h.seq;
    m.enqueue_ns = h.enqueue_ns;
    m.qos = h.flags & kQosMask;
    m.retain = (h.flags & kRetainBit) != 0;
    m.large = (h.flags & kLargeBit) != 0;
    m.topic.assign(s.rec.topic);
    m.payload.assign(s.rec.payload);
    out.push_back(std::move(m));
    ++added;
    if (read_ahead_.empty() || read_ahead_.back().first < h.id) {
      if (read_ahead_.size() >= kMaxReadAhead) read_ahead_.pop_front();
      read_ahead_.emplace_back(h.id, h.end_bytes);
    }
  }
  check_invariants();
}

}  // namespace robustmq::cache::file_log
