// Waiting on a 32-bit word in shared memory (a process-shared futex: no FUTEX_PRIVATE_FLAG).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>

namespace robustmq {

// The timeout as SYS_futex reads it: two longs, the kernel's own timespec of the architecture
// (on 32-bit ARM the old 32-bit one), whatever time_t the C library was built with (64 bits
// with -D_TIME_BITS=64, the default of Debian 13's armhf, where its timespec would be misread).
// x32 is the exception: 32-bit longs, and a 64-bit timespec in its system calls.
#if defined(__x86_64__) && defined(__ILP32__)
using FutexTimeout = timespec;
#else
struct FutexTimeout {
  long tv_sec;
  long tv_nsec;
};
#endif

// Sleeps while word == expected, at most `timeout`. Spurious returns are allowed.
inline void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  // Capped at the largest long: on 32-bit ARM, 68 years.
  const auto seconds = std::min<std::int64_t>(timeout.count() / 1'000'000'000, LONG_MAX);
  FutexTimeout ts{static_cast<long>(seconds), static_cast<long>(timeout.count() % 1'000'000'000)};
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected, &ts,
            nullptr, 0);
}

inline void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr,
            nullptr, 0);
}

}  // namespace robustmq
