// The worker's time: steady_clock for deadlines, CLOCK_REALTIME for the age of a message
// (publish() stamps it; message_ttl counts from it). The loop asks a TimeSource, so that the
// unit tests of its rules move time by hand instead of waiting for it.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

namespace robustmq::worker {

using Clock = std::chrono::steady_clock;

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual Clock::time_point now() const { return Clock::now(); }
  // CLOCK_REALTIME in nanoseconds.
  virtual std::int64_t realtime_ns() const {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  }
};

// The real clock.
inline const TimeSource& steady_time() {
  static const TimeSource source;
  return source;
}

}  // namespace robustmq::worker
