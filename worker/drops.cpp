#include "worker/drops.hpp"

#include <algorithm>
#include <system_error>

#include "worker/log.hpp"

namespace robustmq::worker {

Drops::Drops(Report& report, LargeFiles& large, std::chrono::seconds ttl,
             const TimeSource& time, const std::string& cache_dir)
    : report_(report), large_(large), ttl_(ttl), time_(time) {
  report_.set_gate(this);
  // drop_next stays as an earlier worker of this segment left it until this journal is open:
  // it names the same file, whose records a client may not have read yet (0 would tell it
  // there is nothing to read).
  auto& next = report_.status().drop_next;
  if (cache_dir.empty()) return;
  std::error_code ec;
  std::string what;
  journal_ = journal::Writer::open(cache_dir, ec, what);
  if (!journal_) {
    journal_failed(what);
    return;
  }
  next.store(journal_->newest().serial + 1, std::memory_order_release);
}

void Drops::journal_failed(const std::string& what) {
  if (!failure_shown_)
    log(Level::error, "{}: the numbers of dropped messages are reported as unknown", what);
  failure_shown_ = true;
  report_.error(what);
}

void Drops::drop(DropReason reason, bool large, std::string_view payload, std::uint64_t seq,
                 bool numbered) {
  auto& s = report_.status();
  switch (reason) {
    case DropReason::expired:
      s.dropped_expired.fetch_add(1, std::memory_order_relaxed);
      ++expired_unlogged_;
      break;
    case DropReason::overflow:
      s.dropped_overflow.fetch_add(1, std::memory_order_relaxed);
      break;
    case DropReason::damaged:
    case DropReason::unknown:
      s.dropped_invalid.fetch_add(1, std::memory_order_relaxed);
      break;
    case DropReason::refused:
      s.refused.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  if (large) large_.release(payload);
  if (numbered) record(reason, seq, seq, 0);
}

void Drops::refused_for_good(std::uint64_t seq, std::uint8_t code, bool numbered) {
  report_.status().refused.fetch_add(1, std::memory_order_relaxed);
  if (numbered) record(DropReason::refused, seq, seq, code);
}

void Drops::drop_stretch(std::uint64_t last) {
  report_.status().dropped_invalid.fetch_add(1, std::memory_order_relaxed);
  if (last == 0) return;
  // Nothing read from the ring yet in this worker: where the stretch begins is not known.
  if (ring_read_ == 0 || ring_read_ >= last) {
    unknown_through(last);
    return;
  }
  record(DropReason::damaged, ring_read_ + 1, last, 0);
  ring_read_ = last;
}

void Drops::unknown_through(std::uint64_t seq) noexcept {
  auto& u = report_.status().unknown_through;
  if (seq > u.load(std::memory_order_relaxed)) u.store(seq, std::memory_order_release);
}

void Drops::record(DropReason reason, std::uint64_t first, std::uint64_t last,
                   std::uint8_t code) {
  // A number not yet given out is not believable (a damaged record can say anything).
  const std::uint64_t next = report_.segment().producer.next_seq.load(std::memory_order_acquire);
  if (next == 0) return;  // an older client: no numbers at all
  if (first == 0 || last < first || last >= next) {
    unknown_through(next - 1);
    return;
  }
  if (!journal_) {
    unknown_through(last);
    return;
  }
  const std::int64_t now = time_.realtime_ns();
  if (open_ && open_->reason == reason && open_->code == code && first == open_->last + 1) {
    open_->last = last;
    open_->time_ns = now;
    dirty_ = true;
    return;
  }
  if (open_ && first >= open_->first && last <= open_->last) return;  // recorded already
  commit();
  const std::uint64_t serial = (open_ ? open_->serial : journal_->newest().serial) + 1;
  open_ = journal::Record{.serial = serial, .first = first, .last = last, .time_ns = now,
                          .reason = reason, .code = code};
  open_written_ = false;
  dirty_ = true;
}

void Drops::commit() {
  if (!dirty_ || !open_ || !journal_) return;
  dirty_ = false;
  auto& st = report_.status();
  if (!open_written_) {
    // The record 4,096 serials older goes now: numbers of it not yet delivered may not have
    // been read by anyone.
    if (auto old = journal_->overwrites(open_->serial);
        old && old->last > st.delivered_through.load(std::memory_order_relaxed))
      unknown_through(old->last);
  }
  if (!journal_->write(*open_)) {
    const std::error_code ec(errno, std::generic_category());
    unknown_through(open_->last);
    journal_failed(fmt::format("cannot write the drop journal in the cache directory: {}",
                               ec.message()));
    // The next drop starts a new record with this serial again.
    if (!open_written_) open_.reset();
    return;
  }
  open_written_ = true;
  synced_ = false;
  st.drop_next.store(open_->serial + 1, std::memory_order_release);
}

void Drops::make_durable() {
  commit();
  if (synced_ || !journal_) return;
  synced_ = true;
  if (!journal_->sync())
    journal_failed(fmt::format("cannot sync the drop journal: {}",
                               std::error_code(errno, std::generic_category()).message()));
}

bool Drops::expired(std::int64_t enqueue_ns) const {
  if (ttl_.count() <= 0) return false;
  return time_.realtime_ns() - enqueue_ns > std::chrono::nanoseconds(ttl_).count();
}

void Drops::log_expired(Clock::time_point now) {
  if (expired_unlogged_ == 0 || now - expired_logged_at_ < std::chrono::seconds(5)) return;
  log(Level::warning, "dropped {} messages older than message_ttl ({} s)", expired_unlogged_,
      ttl_.count());
  report_.error(fmt::format("dropped {} messages older than message_ttl", expired_unlogged_));
  expired_unlogged_ = 0;
  expired_logged_at_ = now;
}

void Drops::refused(const std::string& why, Clock::time_point now) {
  report_.error(why);
  ++refused_unlogged_;
  if (now - refused_logged_at_ >= std::chrono::seconds(5)) {
    log(Level::warning, "{} ({} messages refused since the last report)", why, refused_unlogged_);
    refused_unlogged_ = 0;
    refused_logged_at_ = now;
  }
}

}  // namespace robustmq::worker
