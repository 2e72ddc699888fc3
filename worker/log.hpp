// The worker's log: one line per event that matters, to stderr (which it shares with the
// application, until the application is gone) or syslog. Never a line per message at the
// default level. Every line names the client id (several clients may share a stderr or the
// journal). Under systemd, when stderr is the journal's stream ($JOURNAL_STREAM names its
// device and inode), each stderr line starts with its priority, <3> error .. <7> debug
// (sd-daemon(3)), so the journal keeps the level.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace robustmq::worker {

enum class Level { debug, info, warning, error };

inline Level g_log_level = Level::info;
inline bool g_log_syslog = false;  // Options::log_to_syslog: openlog() was called
inline std::string g_log_client_id;  // Options::client_id, set once at start
inline bool g_log_journal = false;   // stderr is $JOURNAL_STREAM: lines carry "<N>"

// Whether stderr is the stream $JOURNAL_STREAM ("DEVICE:INODE") names. Call once at start, with
// one thread.
inline bool stderr_is_journal() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): one thread at start
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  char* end = nullptr;
  const unsigned long long dev = std::strtoull(js, &end, 10);
  if (end == js || *end != ':') return false;
  const char* rest = end + 1;
  const unsigned long long ino = std::strtoull(rest, &end, 10);
  if (end == rest || *end != '\0') return false;
  struct stat st {};
  return ::fstat(STDERR_FILENO, &st) == 0 && static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

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
    ::syslog(kPriority[static_cast<int>(level)], "[%s] %s", g_log_client_id.c_str(),
             text.c_str());
    return;
  }
  static constexpr std::string_view kNames[] = {"debug", "info", "warning", "error"};
  static constexpr std::string_view kJournal[] = {"<7>", "<6>", "<4>", "<3>"};
  std::string line = fmt::format("{}robustmq-worker[{}] [{}] {}: ",
                                 g_log_journal ? kJournal[static_cast<int>(level)] : "",
                                 ::getpid(), g_log_client_id, kNames[static_cast<int>(level)]);
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
