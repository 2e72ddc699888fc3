// The worker's log: one line per event that matters, to stderr (which it shares with the
// application). Never a line per message at the default level.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <string_view>

#include <fmt/format.h>

namespace robustmq::worker {

enum class Level { debug, info, warning, error };

inline Level g_log_level = Level::info;

template <typename... Args>
void log(Level level, fmt::format_string<Args...> f, Args&&... args) {
  if (level < g_log_level) return;
  static constexpr std::string_view kNames[] = {"debug", "info", "warning", "error"};
  std::string line = fmt::format("robustmq-worker[{}] {}: ", ::getpid(),
                                 kNames[static_cast<int>(level)]);
  line += fmt::format(f, std::forward<Args>(args)...);
  line += '\n';
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace robustmq::worker
