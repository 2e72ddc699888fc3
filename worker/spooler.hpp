// The disk cache's side of the loop: moving the ring's records behind the cache's (spool()),
// keeping the cache within max_cache_bytes, sending from the cache oldest first (a cursor),
// removing what the broker acknowledged, and the cache's health.
//
// Health, and what moves it (only the loop's thread calls any of this):
//
//   ok     --append fails (disk full, EIO)---------------> broken   retry_at = now + 1 s
//   ok     --remove fails-------------------------------> broken   retry_at = now + 1 s
//   ok     --read fails (unreadable())------------------> broken   retry_at = now + 1 s
//   ok     --max_cache_bytes reached, reject_new--------> full     retry_at = now + 1 s
//   broken --retry_at reached (tick) or spool(): reopen-> ok       (reopen throws: the worker
//                                                                  exits, its successor retries)
//   full   --retry_at reached (tick)--------------------> ok       (the next spool tries again)
//
// While not ok nothing is spooled and the records wait in the ring, where no crash loses them;
// publish() reports queue_full once the ring is full too. A broken backend refuses removals;
// acked_id_ remembers them and the reopen applies them. cache_error (stats()) stays set until
// an append succeeds again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "proto/ring.hpp"
#include "proto/worker_config.hpp"
#include "worker/cache/cache.hpp"
#include "worker/clock.hpp"
#include "worker/drops.hpp"
#include "worker/large_file.hpp"
#include "worker/report.hpp"
#include "worker/window.hpp"

namespace robustmq::worker {

enum class CacheHealth : std::uint8_t { ok, full, broken };

// An acknowledged message's removal is committed at most this long after the acknowledgement:
// what a worker kill can send again (README "Guarantees").
inline constexpr std::chrono::milliseconds kRemovalDelay{100};

class Spooler {
 public:
  Spooler(const WorkerConfig& config, std::unique_ptr<cache::Cache> cache, RingConsumer& ring,
          Report& report, Drops& drops, LargeFiles& large, const TimeSource& time);

  // --- sending from the cache, oldest first ---------------------------------------------------
  // The oldest cached message not yet handed to the broker, or null when every cached message
  // has been or the cache cannot be read now (unreadable()). Reads the cache in batches.
  const cache::CachedMessage* next_unsent();
  // The last read of the cache failed: what it holds is unknown, so nothing newer (the ring) may
  // be sent. The cache is broken until its retry reopens it and the read is tried again.
  bool unreadable() const noexcept { return read_failed_; }
  // The message next_unsent() returned was sent or dropped: the cursor passes it.
  void pass();
  // The link went down: everything not acknowledged is sent again, oldest first.
  void rewind();
  // Every cache id <= id was retired (acknowledged, refused or dropped): remove them.
  void acknowledged(std::uint64_t id);
  // The cached message `id` (in flight, so not removed), read again into `out` for the
  // dead-letter store. False when the cache cannot give it (logged by the caller).
  bool read_one(std::uint64_t id, cache::CachedMessage& out);
  // Appends dead letters being re-sent behind the cache's backlog, as one commit. The caller
  // makes sure no ring message is in flight and the ring's earlier records are spooled
  // (invariant 3). False when the cache refused it (health tells why).
  bool append_resent(std::span<const record::MessageView> batch);

  // --- spooling -------------------------------------------------------------------------------
  // Moves the ring's records [tail, head), in order, behind the cache's; the tail follows each
  // committed batch. Damaged, invalid and expired records are dropped on the way. Returns false
  // when the cache refused the first batch (nothing moved; health tells why); otherwise the
  // caller forgets the ring entries of its window, which the cache now holds.
  bool spool(const char* why);
  // Not ok and retry_at reached: reopen a broken backend, let a full one be tried again.
  // Removals pending for kRemovalDelay: commit them (a worker kill then cannot bring them back).
  void tick(Clock::time_point now);
  // When pending removals are to be committed (the loop wakes up for it), if any are pending.
  std::optional<Clock::time_point> removals_due() const noexcept { return removals_due_; }

  CacheHealth health() const noexcept { return health_; }
  std::optional<Clock::time_point> retry_at() const noexcept { return retry_at_; }
  bool has_backlog() const { return cache_->counts().messages > 0; }
  cache::Counts counts() const { return cache_->counts(); }
  cache::Backend backend() const { return cache_->backend(); }
  // status.cache_backlog* follow the cache (publish() callers read them with the tail).
  void publish_counts();
  void counts_changed() noexcept { counts_dirty_ = true; }
  bool counts_dirty() const noexcept { return counts_dirty_; }
  // The enqueue time of the oldest cached message not acknowledged (0: none known); reads
  // the disk at most once a second.
  std::int64_t oldest_enqueue_ns(Clock::time_point now);
  // The cache is known to hold no message (false when it cannot say).
  bool empty_for_sure();
  // The sequence number of the oldest cached message not yet retired, in `seq` (nullopt: none).
  // False when the cache cannot be read now.
  bool oldest_cached_seq(std::optional<std::uint64_t>& seq);
  // The highest sequence number in the cache, in `seq` (0: none), for a start without a known
  // bound. Read from the whole cache, unless `newest_suffices`: the caller knows the cache is in
  // numbering order apart from what `skip` names; then the newest message's (the whole cache
  // still when that one is skipped, unnumbered, or below the oldest's). False when the cache
  // cannot be read.
  bool highest_cached_seq(std::uint64_t& seq, bool newest_suffices,
                          const std::function<bool(std::uint64_t)>& skip = {});

  // The worker stops: apply the removals a broken backend refused, if the disk allows now.
  void prepare_close();
  // Commits pending removals and closes the files. Nothing else may be called after it.
  void close();

  // Cursor invariants: acked_id <= sent_id; a ring entry is unacknowledged in the window only
  // when nothing cached is left to send (invariant 3); health ok exactly when no retry is due.
  bool check(const Window& window, std::string& why) const;

 private:
  // Frees room for `incoming` bytes under max_cache_bytes (drop_oldest), or says there is none
  // (reject_new). May drop the oldest messages of batch_ itself.
  bool make_room(std::size_t incoming);
  std::uint64_t drop_oldest_cached(std::uint64_t bytes, const char* why);
  void reopen();
  void failed(CacheHealth to, const std::string& error);
  void remove_acked();

  const WorkerConfig& config_;
  std::unique_ptr<cache::Cache> cache_;
  RingConsumer& ring_;
  Report& report_;
  Drops& drops_;
  LargeFiles& large_;
  const TimeSource& time_;

  CacheHealth health_ = CacheHealth::ok;
  std::optional<Clock::time_point> retry_at_;
  std::optional<Clock::time_point> removals_due_;  // acknowledged() since the last commit
  bool error_shown_ = false;    // cache_error set and logged; cleared once the cache works
  bool append_failed_ = false;  // the last append failed: only a good append clears the error
  bool read_failed_ = false;    // the last read failed: no read, and no ring send, until reopen
  bool counts_dirty_ = false;

  std::uint64_t sent_id_ = 0;      // last cache id handed to the broker (or dropped)
  std::uint64_t acked_id_ = 0;     // every cache id <= this was retired and removed
  std::uint64_t appended_id_ = 0;  // last id this worker appended
  std::vector<cache::CachedMessage> buf_;
  std::size_t read_batch_ = 16;  // messages per read into buf_, sized by next_unsent()
  std::size_t buf_pos_ = 0;
  bool more_ = true;  // the cache may hold messages after sent_id_ (only we append)
  Clock::time_point oldest_read_at_{};
  std::int64_t oldest_ns_ = 0;

  std::vector<record::MessageView> batch_;
  std::size_t batch_dropped_ = 0;  // make_room() took these from the front of batch_
};

}  // namespace robustmq::worker
