// The `file` cache backend: an append-only log of segments in dir/log/ (format:
// file_log_format.hpp). Internal to the cache library.
//
// Invariants (tests in test/cache/file_log_test.cpp; assert()s re-check the cheap ones):
//   0. Segments of an older format version (file_log_format.hpp) are read, never appended to:
//      the first append after opening a log whose last segment is one starts a new segment.
//   1. Ids are contiguous: every record's id is the previous record's + 1, across segments, and
//      a segment's name is its first id. So a gap in ids read is exactly the damage found, and
//      message counts follow from ids without reading records.
//   2. A segment file's two headers are durable and its directory entry is fsynced before any
//      record is written to it (roll_segment).
//   3. read() returns only committed records: the active segment is read up to committed_end_,
//      which advances only after the batch's write (and fdatasync when Config::sync) returned.
//      Bytes past committed_end_ are never trusted and are overwritten by the next batch.
//   4. A segment is unlinked only after a cursor covering its last id is durable
//      (persist_cursor: write cursor.tmp, fdatasync, rename, fsync dir; then collect_garbage).
//      So a power cut never loses an unacknowledged message to garbage collection.
//   5. removed_id_ never decreases. On disk it lags memory by at most kCursorInterval (or until
//      the next segment deletion or close): after a power cut an acknowledged message may come
//      back once, which at-least-once delivery allows.
//   6. After a failed write or sync, failed_ is set and every later append throws it: the kernel
//      may have dropped the pages it could not write, and a later fsync that succeeds proves
//      nothing. Committed bytes are never rewritten, so they stay intact. Reopen to retry.
//   7. Start-up reads the cursor, lists the segments, reads each segment's header, and scans only
//      the last segment (at most kSegmentTargetBytes plus one batch). Counts come from ids and
//      the end_bytes totals in records, segment headers and the cursor (exact unless the cursor
//      was lost, or remove_through() named an id never read: then bytes are estimated).
//
// Append position and read position:
//
//   segments_:  [ log-..01 ]  [ log-..a0 ]  ...  [ log-..f3 (active) ]
//                   ^ reader_ (segment, offset, next id)        ^ committed_end_
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "worker/cache/cache.hpp"
#include "worker/cache/file_log_scan.hpp"
#include "worker/cache/posix_io.hpp"

namespace robustmq::cache::file_log {

inline constexpr std::chrono::milliseconds kCursorInterval{100};
// remove_through() keeps at most this many (id, end_bytes) pairs of records read ahead.
inline constexpr std::size_t kMaxReadAhead = 1u << 20;

struct Segment {
  std::uint64_t first_id = 0;
  std::uint64_t salt = 0;
  std::uint64_t base_bytes = 0;
  std::uint64_t end = 0;  // end of the data to read: file size, or committed_end_ if active
  std::filesystem::path path;
  std::uint16_t version = kVersion;  // of its records; only the newest version is appended to

  SegmentBase base() const noexcept { return SegmentBase{version, salt, first_id, base_bytes}; }
};

// Ids lost to damage, so that counts leave them out.
struct Lost {
  std::uint64_t last_id = 0;
  std::uint64_t bytes = 0;
};

class FileLog final : public Cache {
 public:
  FileLog(const std::filesystem::path& dir, const Config& config);  // file_log_open.cpp
  ~FileLog() override;

  std::uint64_t append(std::span<const record::MessageView> batch) override;
  void read(std::uint64_t after_id, std::size_t max_messages,
            std::vector<CachedMessage>& out) override;
  void remove_through(std::uint64_t id) override;
  void commit_removals() override;
  Counts counts() const override;
  Backend backend() const noexcept override { return Backend::file; }
  std::optional<std::uint64_t> newest_seq() override;

 private:
  struct Reader {
    std::uint64_t segment_first_id = 0;
    std::uint64_t next_id = 0;      // id expected at the scanner's position
    std::uint64_t prev_end_bytes = 0;
    io::Fd fd;
    std::unique_ptr<FileSource> source;
    std::unique_ptr<Scanner> scanner;
  };

  // file_log_open.cpp
  void load_cursor();
  void load_segments();
  void recover_last_segment();
  void report_damage(const Segment& seg, std::uint64_t from, std::uint64_t to,
                     std::uint64_t first_lost, std::uint64_t next_good_id,
                     std::uint64_t lost_bytes);

  // file_log.cpp
  // assert()s the invariants above that hold between calls and need no I/O.
  void check_invariants() const;
  void roll_segment();
  void write_batch(const std::vector<unsigned char>& bytes, std::uint64_t records,
                   std::uint64_t last_end_bytes);
  void persist_cursor();
  void collect_garbage(bool include_active);
  bool open_reader(std::uint64_t after);
  std::size_t segment_index(std::uint64_t first_id) const;
  io::Fd open_segment(const Segment& seg, int flags) const;
  [[noreturn]] void fail(const CacheError& e);

  std::filesystem::path dir_;  // for messages: files are named relative to dir_fd_
  io::Fd dir_fd_;              // the log directory (posix_io.hpp: no file through a link)
  Config config_;

  std::vector<Segment> segments_;  // by first_id; the last one is the active segment
  io::Fd active_fd_;
  std::uint64_t committed_end_ = 0;  // invariant 3
  std::uint64_t next_id_ = 1;
  std::uint64_t end_bytes_ = 0;      // running total through the last committed record
  // The sequence number of record next_id_ - 1, when it was appended or found by this open.
  std::optional<std::uint64_t> last_seq_;

  std::uint64_t removed_id_ = 0;     // invariant 5
  std::uint64_t removed_bytes_ = 0;  // end_bytes of record removed_id_
  std::uint64_t persisted_removed_id_ = 0;
  std::chrono::steady_clock::time_point cursor_written_{};
  // (id, end_bytes) of records read and not yet removed: remove_through() learns the exact
  // end_bytes of the id it is given from here. Bounded by kMaxReadAhead.
  std::deque<std::pair<std::uint64_t, std::uint64_t>> read_ahead_;

  std::map<std::uint64_t, Lost> lost_;  // first lost id -> range, for ids > removed_id_
  std::set<std::pair<std::uint64_t, std::uint64_t>> reported_;  // (segment, offset) of damage
  std::uint64_t damaged_skipped_ = 0;

  std::optional<Reader> reader_;
  std::vector<unsigned char> encode_buf_;
  Chain encode_chain_;  // the run being encoded (every append starts one)
  std::optional<std::string> failed_;  // invariant 6
};

}  // namespace robustmq::cache::file_log
