// Paced drains (Options::drain_rate): a token bucket for the messages the loop sends from the
// disk cache, in messages and in bytes per second (0: that limit is off).
//
// Kept as the theoretical arrival time of the generic cell rate algorithm, one per limit: each
// message sent pushes it 1/rate (messages) or size/rate (bytes) further; a message may go
// once the later of the two is less than kBurst ahead of now. So the bucket holds kBurst of
// the rate (at least one message, whatever its size: a message larger than that goes when the
// bucket is full, and the bucket is then in debt for the rest), fills while nothing is sent,
// and over any stretch the rate is kept within kBurst. Integer nanoseconds: no drift.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "worker/clock.hpp"

namespace robustmq::worker {

class Pacer {
 public:
  // How far ahead of the rate a burst may run: after a pause, this much of the rate goes at once.
  static constexpr std::chrono::nanoseconds kBurst = std::chrono::milliseconds(50);

  Pacer(std::uint64_t messages_per_second, std::uint64_t bytes_per_second) noexcept
      : messages_(messages_per_second), bytes_(bytes_per_second) {}

  bool limited() const noexcept { return messages_ != 0 || bytes_ != 0; }

  // When the next message may go: at or before `now`, it may go now.
  Clock::time_point ready_at() const noexcept {
    return std::max(message_due_, byte_due_) - kBurst;
  }

  // A message of `bytes` (topic + payload) went at `now`.
  void spent(std::size_t bytes, Clock::time_point now) noexcept {
    constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
    if (messages_ != 0)
      message_due_ = std::max(message_due_, now) + std::chrono::nanoseconds(kNsPerSecond / messages_);
    // bytes < 2^29 (a large message's limit) times 10^9 fits in 64 bits.
    if (bytes_ != 0)
      byte_due_ = std::max(byte_due_, now) +
                  std::chrono::nanoseconds(static_cast<std::uint64_t>(bytes) * kNsPerSecond / bytes_);
  }

 private:
  std::uint64_t messages_;
  std::uint64_t bytes_;
  Clock::time_point message_due_{};  // the theoretical arrival time of the next message
  Clock::time_point byte_due_{};
};

}  // namespace robustmq::worker
