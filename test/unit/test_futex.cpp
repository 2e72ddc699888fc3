// The futex helpers the client and the worker wait on each other with (proto/futex.hpp).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "proto/futex.hpp"

using namespace std::chrono_literals;

TEST_CASE("futex_wait with nobody to wake it sleeps for its timeout") {
  // The kernel never ends a timed FUTEX_WAIT early without a wake-up or a signal: a return
  // before the timeout means it read another timeout than the one given (a timespec of the
  // wrong layout, as a 64-bit time_t on 32-bit ARM gives SYS_futex).
  std::atomic<std::uint32_t> word{0};
  for (auto timeout : {200ms, 1100ms}) {
    CAPTURE(timeout.count());
    const auto start = std::chrono::steady_clock::now();
    robustmq::futex_wait(word, 0, timeout);
    CHECK(std::chrono::steady_clock::now() - start >= timeout);
  }
}

TEST_CASE("futex_wait returns at once when the word is not the expected value") {
  std::atomic<std::uint32_t> word{1};
  const auto start = std::chrono::steady_clock::now();
  robustmq::futex_wait(word, 0, std::chrono::hours(1));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::minutes(59));
}
