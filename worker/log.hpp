// The worker's log: one line per event that matters, to stderr (which it shares with the
// application). Never a line per message at the default level.
#pragma once

#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <string_view>

#include <fmt/format.h>

namespace robustmq::worker {

enum class Level { debug, info, warning, error };

inline Level g_log_level = Level::info;
inline bool g_log_syslog = false;  // Options::log_to_syslog: openlog() was called

inline Level parse_level(std::string_view s, Level fallback) {
  if (s == "debug") return Level::debug;
  if (s == "info") return Level::info;
  if (s == "warning") return Level::warning;
  if (s == "error") return Level::error;
  return fallback;
}

template <typename... Args>
void log(Level level, fmt::format_string<Args...> f, Args&&... args) {
  if (level < g_log_level) return;
  if (g_log_syslog) {
    static constexpr int kPriority[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    const std::string text = fmt::format(f, std::forward<Args>(args)...);
    ::syslog(kPriority[static_cast<int>(level)], "%s", text.c_str());
    return;
  }
  static constexpr std::string_view kNames[] = {"debug", "info", "warning", "error"};
  std::string line = fmt::format("robustmq-worker[{}] {}: ", ::getpid(),
                                 kNames[static_cast<int>(level)]);
  line += fmt::format(f, std::forward<Args>(args)...);
  line += '\n';
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace robustmq::worker
