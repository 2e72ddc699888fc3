// Shared pieces of the integration tests: a private broker, a subscriber, and a client whose
// cache lives in a fresh directory.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <robustmq/client.hpp>

#include <testkit/mosquitto.hpp>
#include <testkit/sequence.hpp>
#include <testkit/subscriber.hpp>
#include <testkit/temp_dir.hpp>

namespace robustmq::test {

using namespace std::chrono_literals;

// ROBUSTMQ_TEST_SCALE (default 1): the sanitizer stage of scripts/test.sh runs the integration
// tests with 0.2 — the same cases and code paths with fewer rounds and smaller payloads, since
// there it hunts memory errors, not rare interleavings. scaled(n, least) is n times the scale,
// at least `least`.
inline double test_scale() {
  const char* s = std::getenv("ROBUSTMQ_TEST_SCALE");
  const double v = s != nullptr ? std::strtod(s, nullptr) : 1.0;
  return v > 0 && v <= 1 ? v : 1.0;
}
template <typename T>
T scaled(T n, T least) {
  return std::max(least, static_cast<T>(static_cast<double>(n) * test_scale()));
}

// AddressSanitizer's shadow memory and quarantine make a process's RSS meaningless as a figure.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif

inline Options client_options(const std::filesystem::path& cache, std::string id = "it-client",
                              CacheType type = CacheType::sqlite) {
  Options o;
  o.client_id = std::move(id);
  o.cache_type = type;
  o.cache_path = cache;
  o.reconnect_min = 50ms;
  o.reconnect_max = 500ms;
  o.keepalive = 5s;
  o.connect_timeout = 2s;
  return o;
}

// Publishes sequence numbers [from, to) on topic, retrying queue_full; returns the first error
// that is not queue_full, or {}.
inline std::error_code publish_range(RobustClient& c, const std::string& topic,
                                     std::uint64_t from, std::uint64_t to, int qos = 1,
                                     std::size_t size = 0) {
  for (std::uint64_t i = from; i < to; ++i) {
    auto ec = c.publish(topic, testkit::sequence_payload(i, size), qos);
    if (ec) return ec;
  }
  return {};
}

// Waits until the subscriber has seen every sequence number 0..count-1 in order (duplicates of
// re-sent messages allowed). Returns "" on success, else the last problem check_in_order found.
inline std::string wait_in_order(const testkit::Subscriber& sub, std::uint64_t count,
                                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string problem;
  do {
    if (sub.count() >= count) {
      problem = testkit::check_in_order(testkit::sequences(sub.messages()), count);
      if (problem.empty()) return problem;
    } else {
      problem = "received " + std::to_string(sub.count()) + " of " + std::to_string(count);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  return problem;
}

}  // namespace robustmq::test
