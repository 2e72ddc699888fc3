// The file log at run time: append (group commit), read (a kept read position), acknowledge
// (a throttled cursor) and segment garbage collection. Invariants: file_log.hpp.
#include "worker/cache/file_log.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <fmt/format.h>

namespace robustmq::cache::file_log {

namespace fs = std::filesystem;

namespace {

std::uint64_t random_salt() {
  std::uint64_t v = 0;
  if (::getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
    // No entropy source: a salt only has to differ from earlier segments' salts.
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    v = (static_cast<std::uint64_t>(ts.tv_sec) << 30) ^ static_cast<std::uint64_t>(ts.tv_nsec) ^
        (static_cast<std::uint64_t>(::getpid()) << 48);
  }
  return v;
}

}  // namespace

FileLog::~FileLog() {
  if (config_.read_only) return;
  try {
    persist_cursor();
    collect_garbage(true);  // a fully acknowledged log leaves only its cursor behind
  } catch (const CacheError& e) {
    fmt::print(stderr, "robustmq cache: closing {}: {}\n", dir_.string(), e.what());
  }
}

void FileLog::check_invariants() const {
  // 5: the cursor never passes the last id given, and on disk it lags memory.
  assert(removed_id_ < next_id_);
  assert(persisted_removed_id_ <= removed_id_);
  if (!segments_.empty()) {
    // 1: the active segment starts at or before the next id.
    assert(segments_.back().first_id <= next_id_);
    // 2 and 3: records start after the two headers, and the active segment is read up to
    // committed_end_ only.
    assert(committed_end_ >= kSegmentDataStart);
    assert(segments_.back().end == committed_end_);
  }
  assert(read_ahead_.size() <= kMaxReadAhead);
  assert(!reader_ || reader_->next_id <= next_id_);
}

void FileLog::fail(const CacheError& e) {
  if (!failed_) failed_ = e.what();
  throw e;
}

std::uint64_t FileLog::append(std::span<const record::MessageView> batch) {
  if (config_.read_only) throw CacheError(fmt::format("{}: opened read-only", dir_.string()));
  if (failed_) throw CacheError(*failed_);
  // Reject a malformed batch before writing anything: that is the caller's error, not the
  // disk's, so it must not make the cache refuse later appends.
  for (std::size_t i = 0; i < batch.size(); ++i) check_message(batch[i], next_id_ + i);
  if (batch.empty()) return next_id_ - 1;
  try {
    const bool acknowledged = removed_id_ + 1 >= next_id_;
    if (!active_fd_ || segments_.back().version != kVersion ||
        committed_end_ >= kSegmentTargetBytes ||
        (acknowledged && committed_end_ >= kRecycleBytes)) {
      roll_segment();
    }
    encode_buf_.clear();
    encode_chain_.reset();  // a batch starts a run: a torn batch never breaks an earlier one
    std::uint64_t id = next_id_;
    std::uint64_t end_bytes = end_bytes_;
    std::uint64_t n = 0;
    for (const auto& m : batch) {
      const std::size_t rec = max_record_bytes(m.topic.size(), m.payload.size());
      if (committed_end_ + encode_buf_.size() + rec > kSegmentTargetBytes &&
          committed_end_ + encode_buf_.size() > kSegmentDataStart) {
        if (n > 0) write_batch(encode_buf_, n, end_bytes);  // the batch spans two segments
        roll_segment();
        encode_buf_.clear();
        encode_chain_.reset();
        n = 0;
      }
      end_bytes += m.topic.size() + m.payload.size();
      encode_record(segments_.back().base(), encode_chain_, n == 0, id++, end_bytes, m,
                    encode_buf_);
      ++n;
    }
    write_batch(encode_buf_, n, end_bytes);
    last_seq_ = batch.back().seq;
    assert(id == next_id_);  // 1: the batch took the ids that follow, one each
    if (segments_.size() > 1 && segments_[1].first_id <= removed_id_ + 1) persist_cursor();
  } catch (const CacheError& e) {
    fail(e);
  }
  check_invariants();
  return next_id_ - 1;
}

void FileLog::write_batch(const std::vector<unsigned char>& bytes, std::uint64_t records,
                          std::uint64_t last_end_bytes) {
  assert(!failed_);  // 6: nothing is written after a failed write or sync
  assert(committed_end_ >= kSegmentDataStart && segments_.back().version == kVersion);  // 2, 0
  const Segment& seg = segments_.back();
  io::pwrite_all(active_fd_.get(), bytes.data(), bytes.size(), committed_end_, seg.path);
  if (config_.sync) io::sync_data(active_fd_.get(), seg.path);
  // Committed (invariant 3).
  committed_end_ += bytes.size();
  segments_.back().end = committed_end_;
  next_id_ += records;
  end_bytes_ = last_end_bytes;
}

void FileLog::roll_segment() {
  if (!segments_.empty() && segments_.back().first_id == next_id_) {
    // A segment of an older version without a record (a crash came right after its creation):
    // replaced by one of this version, of the same name.
    assert(segments_.back().version != kVersion);
    const fs::path doomed = segments_.back().path;
    io::remove_at(dir_fd_.get(), doomed.filename().c_str(), doomed);
    segments_.pop_back();
    active_fd_ = io::Fd();
  }
  // 1: a segment is rolled only after the previous one took a record, so first ids increase.
  assert(segments_.empty() || segments_.back().first_id < next_id_);
  const std::string name = segment_name(next_id_);
  const fs::path path = dir_ / name;
  const std::uint64_t salt = random_salt();
  // O_EXCL: a file of that name could only hold records with ids we are about to reuse.
  io::Fd fd = io::open_at(dir_fd_.get(), name.c_str(), O_RDWR | O_CREAT | O_EXCL, path);
  const auto header = encode_segment_header(salt, next_id_, end_bytes_);
  io::pwrite_all(fd.get(), header.data(), header.size(), 0, path);
  if (config_.sync) {  // invariant 2
    io::sync_data(fd.get(), path);
    io::sync_dir(dir_fd_.get(), dir_);
  }
  segments_.push_back(Segment{next_id_, salt, end_bytes_, kSegmentDataStart, path, kVersion});
  active_fd_ = std::move(fd);
  committed_end_ = kSegmentDataStart;
}

void FileLog::commit_removals() {
  if (config_.read_only || failed_ || removed_id_ == persisted_removed_id_) return;
  try {
    persist_cursor();
  } catch (const CacheError& e) {
    fail(e);
  }
}

void FileLog::persist_cursor() {
  if (removed_id_ != persisted_removed_id_) {
    const fs::path tmp = dir_ / "cursor.tmp";
    {
      // Whatever stands at cursor.tmp is the leftover of a cut write (or a link planted
      // there): removed, and the file made afresh.
      io::remove_at(dir_fd_.get(), "cursor.tmp", tmp);
      io::Fd fd = io::open_at(dir_fd_.get(), "cursor.tmp", O_WRONLY | O_CREAT | O_EXCL, tmp);
      const auto bytes = encode_cursor(removed_id_, removed_bytes_);
      io::pwrite_all(fd.get(), bytes.data(), bytes.size(), 0, tmp);
      if (config_.sync) io::sync_data(fd.get(), tmp);
    }
    io::rename_at(dir_fd_.get(), "cursor.tmp", "cursor", tmp);
    if (config_.sync) io::sync_dir(dir_fd_.get(), dir_);
    persisted_removed_id_ = removed_id_;
  }
  cursor_written_ = std::chrono::steady_clock::now();
  collect_garbage(false);
}

void FileLog::collect_garbage(bool include_active) {
  assert(persisted_removed_id_ <= removed_id_);  // 5
  bool removed = false;
  while (segments_.size() > (include_active ? 0u : 1u)) {
    const std::uint64_t last_id =
        segments_.size() > 1 ? segments_[1].first_id - 1 : next_id_ - 1;
    if (last_id > persisted_removed_id_) break;  // invariant 4
    const fs::path& doomed = segments_.front().path;
    io::remove_at(dir_fd_.get(), doomed.filename().c_str(), doomed);
    if (segments_.size() == 1) active_fd_ = io::Fd();
    segments_.erase(segments_.begin());
    removed = true;
  }
  if (removed && config_.sync) io::sync_dir(dir_fd_.get(), dir_);
}

void FileLog::remove_through(std::uint64_t id) {
  if (config_.read_only) throw CacheError(fmt::format("{}: opened read-only", dir_.string()));
  id = std::min(id, next_id_ - 1);
  if (id <= removed_id_) return;
  std::optional<std::pair<std::uint64_t, std::uint64_t>> popped;
  while (!read_ahead_.empty() && read_ahead_.front().first <= id) {
    popped = read_ahead_.front();
    read_ahead_.pop_front();
  }
  if (popped && popped->first == id) {
    removed_bytes_ = popped->second;
  } else if (id + 1 == next_id_) {
    removed_bytes_ = end_bytes_;
  } else {  // an id never read: estimate (invariant 7)
    const long double share = static_cast<long double>(id - removed_id_) /
                              static_cast<long double>(next_id_ - 1 - removed_id_);
    removed_bytes_ += static_cast<std::uint64_t>(share * (end_bytes_ - removed_bytes_));
  }
  assert(id > removed_id_ && id < next_id_);  // 5: forward only, never past the last id
  removed_id_ = id;
  while (!lost_.empty() && lost_.begin()->second.last_id <= removed_id_) lost_.erase(lost_.begin());

  const bool segment_done = segments_.size() > 1 && segments_[1].first_id <= removed_id_ + 1;
  if (segment_done || std::chrono::steady_clock::now() - cursor_written_ >= kCursorInterval) {
    try {
      persist_cursor();
    } catch (const CacheError& e) {
      fail(e);
    }
  }
  check_invariants();
}

// Only the record appended last or found last at open is known; when the active segment holds
// none (a crash right after a new segment was started), nothing is.
std::optional<std::uint64_t> FileLog::newest_seq() {
  if (removed_id_ + 1 >= next_id_) return std::nullopt;
  return last_seq_;
}

Counts FileLog::counts() const {
  Counts c;
  c.damaged_skipped = damaged_skipped_;
  if (next_id_ - 1 <= removed_id_) return c;
  std::uint64_t lost_ids = 0, lost_bytes = 0;
  for (const auto& [first, l] : lost_) {
    const std::uint64_t from = std::max(first, removed_id_ + 1);
    if (l.last_id >= from) lost_ids += l.last_id - from + 1;
    lost_bytes += l.bytes;
  }
  const std::uint64_t ids = next_id_ - 1 - removed_id_;
  c.messages = ids > lost_ids ? ids - lost_ids : 0;
  const std::uint64_t span = end_bytes_ > removed_bytes_ ? end_bytes_ - removed_bytes_ : 0;
  c.bytes = span > lost_bytes ? span - lost_bytes : 0;
  return c;
}

}  // namespace robustmq::cache::file_log
