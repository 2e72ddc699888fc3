// Writing and reading a shm::StatusText (a seqlocked message in the shared segment).
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <string_view>

#include "proto/segment_layout.hpp"

namespace robustmq {

// Worker side (the only writer).
inline void write_status_text(shm::StatusText& t, std::string_view text) noexcept {
  const std::uint32_t v = t.seq.load(std::memory_order_relaxed);
  t.seq.store(v + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  const std::size_t n = std::min(text.size(), shm::kLastErrorBytes - 1);
  std::memcpy(t.text, text.data(), n);
  t.text[n] = '\0';
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  t.time_ns.store(std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec, std::memory_order_relaxed);
  t.seq.store(v + 2, std::memory_order_release);
}

// Client side. Returns "" when the text cannot be read consistently.
inline std::string read_status_text(const shm::StatusText& t, std::int64_t* time_ns = nullptr) {
  for (int i = 0; i < 100; ++i) {
    const auto v1 = t.seq.load(std::memory_order_acquire);
    if (v1 & 1) continue;
    char buf[shm::kLastErrorBytes];
    std::memcpy(buf, t.text, sizeof buf);
    const auto when = t.time_ns.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (t.seq.load(std::memory_order_relaxed) == v1) {
      buf[sizeof buf - 1] = '\0';
      if (time_ns != nullptr) *time_ns = when;
      return buf;
    }
  }
  return {};
}

}  // namespace robustmq
