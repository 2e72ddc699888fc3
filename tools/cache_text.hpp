// How robustmq-cache writes times, ages and bytes of topics and payloads in its lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace robustmq::tools {

// CLOCK_REALTIME nanoseconds as UTC, "2026-12-06T05:51:07Z".
inline std::string when(std::int64_t ns) {
  const std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The time since enqueue_ns (CLOCK_REALTIME), "12.5s".
inline std::string age(std::int64_t enqueue_ns) {
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  return fmt::format("{:.1f}s", static_cast<double>(now - enqueue_ns) / 1e9);
}

// Printable ASCII as it is, every other byte (and the backslash) as \xNN: one line per record.
inline std::string printable(std::string_view s) {
  std::string out;
  for (const unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

}  // namespace robustmq::tools
