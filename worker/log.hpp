// The worker's log: one line per event that matters, to stderr (which it shares with the
// application, until the application is gone) or syslog, or to the application's log handler
// (proto/log_line.hpp). Never a line per message at the default level. Every line names the
// client id (several clients may share a stderr or the journal). Under systemd, when stderr is
// the journal's stream ($JOURNAL_STREAM names its device and inode), each stderr line starts
// with its priority, <3> error .. <7> debug (sd-daemon(3)), so the journal keeps the level.
#pragma once

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "proto/log_line.hpp"

namespace robustmq::worker {

enum class Level { debug, info, warning, error };

inline Level g_log_level = Level::info;
inline bool g_log_syslog = false;  // Options::log_to_syslog: openlog() was called
inline std::string g_log_client_id;  // Options::client_id, set once at start
inline bool g_log_journal = false;   // stderr is $JOURNAL_STREAM: lines carry "<N>"

// The application's log handler: the worker's end of the log socket (--log-fd; -1: none, or
// the application is gone) and ControlLine::log_handler, set while the loop, which maps the
// segment, lives (ApplicationLog). Only the main thread logs.
inline int g_log_socket = -1;
inline const std::atomic<std::uint32_t>* g_log_handler_flag = nullptr;

class ApplicationLog {
 public:
  explicit ApplicationLog(const std::atomic<std::uint32_t>& flag) { g_log_handler_flag = &flag; }
  ~ApplicationLog() { g_log_handler_flag = nullptr; }
  ApplicationLog(const ApplicationLog&) = delete;
  ApplicationLog& operator=(const ApplicationLog&) = delete;
};

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
  const int n = static_cast<int>(level);
  const std::string text = fmt::format(f, std::forward<Args>(args)...);
  if (g_log_handler_flag != nullptr && g_log_handler_flag->load(std::memory_order_relaxed) == 1 &&
      log_line::send(g_log_socket, n, text))
    return;
  if (g_log_syslog) {
    ::syslog(log_line::kSyslogPriority[n], "[%s] %s", g_log_client_id.c_str(), text.c_str());
    return;
  }
  const std::string line =
      log_line::stderr_line(n, ::getpid(), g_log_client_id, g_log_journal, text);
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

// The application is gone and the worker delivers on as an orphan: the stderr it shared may be a
// pipe that a script, $(...) or cron reads to its end, which must not wait for this process.
// Later lines go to syslog (under systemd, the journal), and stderr becomes /dev/null.
inline void detach_from_stderr() {
  if (g_log_socket >= 0) ::close(g_log_socket);
  g_log_socket = -1;
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
