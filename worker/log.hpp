// The worker's log: one line per event that matters, to stderr (which it shares with the
// application, until the application is gone) or syslog. Never a line per message at the
// default level.
#pragma once

#include <fcntl.h>
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

// The application is gone and the worker delivers on as an orphan: the stderr it shared may be a
// pipe that a script, $(...) or cron reads to its end, which must not wait for this process.
// Later lines go to syslog (under systemd, the journal), and stderr becomes /dev/null.
inline void detach_from_stderr() {
  if (!g_log_syslog) {
    ::openlog("robustmq-worker", LOG_PID, LOG_DAEMON);
    g_log_syslog = true;
  }
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0) return;
  ::dup2(null, STDERR_FILENO);
  if (null != STDERR_FILENO) ::close(null);
}

}  // namespace robustmq::worker
