// The worker's log lines: how they read on stderr, and how they travel to the application's log
// handler (RobustClient::set_log_handler()) instead.
//
// The log socket: an AF_UNIX SOCK_DGRAM socketpair made at each start of a worker
// (lib/spawn.cpp); the worker's end is its fd 4. While ControlLine::log_handler is 1, the loop
// runs and the application lives, the worker sends each line it logs (at Options::log_level and
// up, the same filter as for stderr) as one datagram, and writes it nowhere else:
//   byte 0    the level: 0 debug, 1 info, 2 warning, 3 error (robustmq::LogLevel)
//   byte 1..  the text, without the "robustmq-worker[<pid>] [<client_id>] <level>: " prefix
// It never waits (MSG_DONTWAIT): a line that cannot go (the socket is full because the handler
// is slow; the application is gone, or stop() shut its end) goes to stderr or syslog as
// without a handler. Nothing travels the other way. No argument announces the socket: a worker
// of an earlier release, which refuses arguments it does not know, ignores its fd 4 (and the
// application's handler gets nothing); a worker started by an earlier library finds fd 4
// closed and never sends.
#pragma once

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace robustmq::log_line {

// Longer lines go to stderr or syslog (a datagram of the log socket holds at most 1 + this).
inline constexpr std::size_t kMaxText = std::size_t{16} << 10;
inline constexpr int kLevels = 4;

// By level, debug .. error.
inline constexpr std::string_view kNames[kLevels] = {"debug", "info", "warning", "error"};
inline constexpr std::string_view kJournal[kLevels] = {"<7>", "<6>", "<4>", "<3>"};
inline constexpr int kSyslogPriority[kLevels] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};

// A line as the worker writes it to stderr, newline included: with "<N>" first when stderr is
// the journal's stream (sd-daemon(3)). level: 0..3.
inline std::string stderr_line(int level, long pid, std::string_view client_id, bool journal,
                               std::string_view text) {
  return fmt::format("{}robustmq-worker[{}] [{}] {}: {}\n", journal ? kJournal[level] : "", pid,
                     client_id, kNames[level], text);
}

// Whether stderr is the stream $JOURNAL_STREAM ("DEVICE:INODE") names. The worker asks once at
// start; the client once per connect_async().
inline bool stderr_is_journal() {
  // Read only, once: a host that setenv()s meanwhile is already undefined.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
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

// One datagram, without waiting; false when it did not go (the caller writes the line itself).
inline bool send(int fd, int level, std::string_view text) {
  if (fd < 0 || level < 0 || level >= kLevels || text.size() > kMaxText) return false;
  char head = static_cast<char>(level);
  iovec iov[2] = {{&head, 1}, {const_cast<char*>(text.data()), text.size()}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  return ::sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == static_cast<ssize_t>(1 + text.size());
}

// A received datagram's level and text; nothing when it is not one of this protocol.
inline std::optional<std::pair<int, std::string_view>> parse(std::string_view datagram) {
  if (datagram.empty() || static_cast<unsigned char>(datagram[0]) >= kLevels) return std::nullopt;
  return std::pair{static_cast<int>(datagram[0]), datagram.substr(1)};
}

}  // namespace robustmq::log_line
