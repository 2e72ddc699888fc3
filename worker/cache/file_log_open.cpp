// Opening the file log: what a crash or power cut may have left behind, and how each case is
// resolved. Nothing here reads more than the cursor, every segment's 80-byte header, and the
// last segment (invariant 7 in file_log.hpp).
//
//   found on disk                              resolution
//   cursor.tmp                                 a cursor write was cut short: removed
//   cursor damaged or missing                  removed_id_ = first segment's first id - 1
//                                              (acknowledged messages may be sent again)
//   segment fully acknowledged                 a crash came between cursor write and unlink:
//                                              unlinked now
//   last segment, header torn, <= 80 bytes     a crash during roll_segment(), no record was
//                                              ever written to it: unlinked
//   segment with both headers damaged          renamed to *.damaged, counted, logged, skipped
//   bad bytes at the end of the last segment   a torn tail: truncated, not counted
//   bad bytes followed by a valid record       damage: counted, logged, skipped
#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "worker/cache/backends.hpp"
#include "worker/cache/file_log.hpp"

namespace robustmq::cache::file_log {

namespace fs = std::filesystem;

FileLog::FileLog(const fs::path& dir, const Config& config)
    : dir_(dir / kFileLogDirName), config_(config) {
  if (config_.read_only && !fs::is_directory(dir_))
    throw CacheError(fmt::format("no file cache in {}", dir.string()));
  // The cache directory as configured; below it, nothing through a link (posix_io.hpp).
  const io::Fd parent = io::open_dir(dir);
  if (!config_.read_only && io::make_dir_at(parent.get(), kFileLogDirName, dir_) && config_.sync)
    io::sync_dir(parent.get(), dir);
  dir_fd_ = io::open_dir_at(parent.get(), kFileLogDirName, dir_);
  load_cursor();
  load_segments();
  recover_last_segment();
  cursor_written_ = std::chrono::steady_clock::now();
  check_invariants();
}

void FileLog::load_cursor() {
  const fs::path path = dir_ / "cursor";
  if (!config_.read_only) io::remove_at(dir_fd_.get(), "cursor.tmp", dir_ / "cursor.tmp");
  struct stat st {};
  if (::fstatat(dir_fd_.get(), "cursor", &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return;  // nothing acknowledged yet, or a new cache
    io::fail("cannot open", path, errno);
  }
  const io::Fd fd = io::open_at(dir_fd_.get(), "cursor", O_RDONLY, path);
  unsigned char buf[kCursorBytes + 1];
  const std::size_t n = io::pread_some(fd.get(), buf, sizeof buf, 0, path);
  if (auto c = decode_cursor(Bytes(buf, n))) {
    removed_id_ = persisted_removed_id_ = c->removed_id;
    removed_bytes_ = c->removed_bytes;
  } else {
    fmt::print(stderr,
               "robustmq cache: {}: damaged acknowledgement cursor ignored; acknowledged messages "
               "may be sent again\n",
               path.string());
  }
}

void FileLog::load_segments() {
  std::vector<std::pair<std::uint64_t, fs::path>> found;
  for (const auto& name : io::list_dir(dir_fd_.get(), dir_)) {
    if (auto id = parse_segment_name(name)) found.emplace_back(*id, dir_ / name);
  }
  std::sort(found.begin(), found.end());

  bool dir_changed = false;
  for (std::size_t i = 0; i < found.size(); ++i) {
    const auto& [id, path] = found[i];
    const bool last = i + 1 == found.size();
    io::Fd fd = io::open_at(dir_fd_.get(), path.filename().c_str(), O_RDONLY, path);
    const std::uint64_t size = io::file_size(fd.get(), path);
    unsigned char buf[kSegmentDataStart];
    const std::size_t n = io::pread_some(fd.get(), buf, sizeof buf, 0, path);
    auto h = decode_segment_header(Bytes(buf, n));
    if (h && h->first_id == id) {
      segments_.push_back(Segment{id, h->salt, h->base_bytes, size, path, h->version});
      continue;
    }
    if (last && size <= kSegmentDataStart) {
      if (!config_.read_only) {  // torn roll_segment(): no record was ever written there
        io::remove_at(dir_fd_.get(), path.filename().c_str(), path);
        dir_changed = true;
      }
      continue;
    }
    // Without the salt no record of this segment can be validated. Its ids are lost; the last
    // segment's count is unknown, so reserve as many ids as it could hold records.
    const std::uint64_t end_id = last ? id + size / kMinRecordBytes : found[i + 1].first - 1;
    Segment seg{id, 0, 0, size, path};
    report_damage(seg, 0, size, id, end_id + 1, 0);
    next_id_ = std::max(next_id_, end_id + 1);
    if (!config_.read_only) {
      const std::string aside = path.filename().string() + ".damaged";
      io::rename_at(dir_fd_.get(), path.filename().c_str(), aside.c_str(), path);
      dir_changed = true;
    }
  }

  // The cursor is older than the oldest segment when it was lost or damaged.
  if (!segments_.empty() && removed_id_ + 1 < segments_.front().first_id) {
    removed_id_ = segments_.front().first_id - 1;
    removed_bytes_ = segments_.front().base_bytes;
  }
  // Segments acknowledged before a crash that came between cursor write and unlink.
  while (segments_.size() > 1 && segments_[1].first_id - 1 <= persisted_removed_id_) {
    if (!config_.read_only) {
      const fs::path& doomed = segments_.front().path;
      io::remove_at(dir_fd_.get(), doomed.filename().c_str(), doomed);
      dir_changed = true;
    }
    segments_.erase(segments_.begin());
  }
  if (dir_changed && config_.sync) io::sync_dir(dir_fd_.get(), dir_);
  // 1: one segment per first id, in order (segment_index() and open_reader() search them).
  assert(std::adjacent_find(segments_.begin(), segments_.end(),
                            [](const Segment& a, const Segment& b) {
                              return a.first_id >= b.first_id;
                            }) == segments_.end());
}

void FileLog::recover_last_segment() {
  next_id_ = std::max(next_id_, removed_id_ + 1);
  end_bytes_ = removed_bytes_;
  if (segments_.empty()) return;  // the first append creates one

  Segment& seg = segments_.back();
  io::Fd fd = open_segment(seg, config_.read_only ? O_RDONLY : O_RDWR);
  FileSource source(fd.get(), seg.path);
  Scanner scanner(source, seg.base(), kSegmentDataStart);
  std::uint64_t last_id = seg.first_id - 1;
  std::uint64_t prev_end = seg.base_bytes;
  std::uint64_t good_end = kSegmentDataStart;
  std::optional<std::uint64_t> damage;  // where a damaged region starts
  std::optional<std::uint64_t> last_seq;
  for (;;) {
    Step s = scanner.next(seg.end, last_id);
    if (s.kind == Step::end) break;
    if (s.kind == Step::damage) {
      damage = s.offset;
      continue;
    }
    const RecordInfo& h = s.rec.header;
    if (damage) {
      report_damage(seg, *damage, s.offset, last_id + 1, h.id,
                    h.end_bytes - h.topic_bytes - h.payload_bytes - prev_end);
      damage.reset();
    }
    last_id = h.id;
    last_seq = h.seq;
    prev_end = h.end_bytes;
    good_end = s.next;
  }
  // A damaged region with no valid record after it is a torn tail: the writer died in the middle
  // of a batch that was therefore never committed (append() had not returned). Cut it, so that
  // the next batch is written right after the last good record.
  if (damage && !config_.read_only) {
    if (::ftruncate(fd.get(), static_cast<off_t>(good_end)) != 0)
      io::fail("cannot truncate", seg.path, errno);
    if (config_.sync) io::sync_data(fd.get(), seg.path);
  }
  seg.end = committed_end_ = good_end;
  next_id_ = std::max(next_id_, last_id + 1);
  if (next_id_ == last_id + 1) last_seq_ = last_seq;
  end_bytes_ = std::max(removed_bytes_, prev_end);
  if (!config_.read_only) active_fd_ = std::move(fd);
}

void FileLog::report_damage(const Segment& seg, std::uint64_t from, std::uint64_t to,
                            std::uint64_t first_lost, std::uint64_t next_good_id,
                            std::uint64_t lost_bytes) {
  if (!reported_.emplace(seg.first_id, from).second) return;  // found again by read()
  ++damaged_skipped_;
  if (next_good_id > first_lost && next_good_id - 1 > removed_id_) {
    const std::uint64_t first = std::max(first_lost, removed_id_ + 1);
    lost_[first] = Lost{next_good_id - 1, lost_bytes};
  }
  if (next_good_id > first_lost) {
    fmt::print(stderr,
               "robustmq cache: {}: damaged bytes {}..{} skipped, {} message(s) lost (ids {}..{})\n",
               seg.path.string(), from, to, next_good_id - first_lost, first_lost,
               next_good_id - 1);
  } else {
    fmt::print(stderr, "robustmq cache: {}: damaged bytes {}..{} skipped, no message lost\n",
               seg.path.string(), from, to);
  }
}

}  // namespace robustmq::cache::file_log
