#include "worker/drops.hpp"

#include "worker/log.hpp"

namespace robustmq::worker {

void Drops::drop(DropReason reason, bool large, std::string_view payload, std::uint64_t n) {
  auto& s = report_.status();
  switch (reason) {
    case DropReason::expired:
      s.dropped_expired.fetch_add(n, std::memory_order_relaxed);
      expired_unlogged_ += n;
      break;
    case DropReason::overflow:
      s.dropped_overflow.fetch_add(n, std::memory_order_relaxed);
      break;
    case DropReason::damaged:
      s.dropped_invalid.fetch_add(n, std::memory_order_relaxed);
      break;
  }
  if (large) large_.release(payload);
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
