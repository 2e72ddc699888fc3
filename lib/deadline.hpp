// A deadline `timeout` from now that saturates: a timeout too long for steady_clock (a user's
// std::chrono::milliseconds::max(), "no end") is the clock's last time point, not an overflow
// into the past, which would end every wait at once.
#pragma once

#include <chrono>

namespace robustmq {

template <typename Rep, typename Period>
std::chrono::steady_clock::time_point deadline_after(std::chrono::duration<Rep, Period> timeout) {
  using Clock = std::chrono::steady_clock;
  const auto now = Clock::now();
  if (timeout <= std::chrono::duration<Rep, Period>::zero()) return now;
  // Compared in the caller's units, which hold any value it can give.
  const auto room = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(
      Clock::time_point::max() - now);
  if (timeout >= room) return Clock::time_point::max();
  return now + std::chrono::duration_cast<Clock::duration>(timeout);
}

}  // namespace robustmq
