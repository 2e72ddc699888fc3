// The application's log handler (README "Logging"): while one is set, the worker sends its
// lines over the log socket (proto/log_line.hpp); the monitor thread reads them and calls the
// handler, and stop() hands it the worker's last ones.
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "lib/client_impl.hpp"
#include "proto/log_line.hpp"

namespace robustmq {

void RobustClient::Impl::read_log(std::size_t at_most) noexcept {
  char buf[1 + log_line::kMaxText];
  for (std::size_t n = 0; at_most == 0 || n < at_most; ++n) {
    const ssize_t got = ::recv(log_socket_, buf, sizeof buf, MSG_DONTWAIT);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return;  // none left (or the socket was shut and is empty)
    const auto line = log_line::parse(std::string_view(buf, static_cast<std::size_t>(got)));
    if (line) deliver_log(line->first, line->second);
  }
}

void RobustClient::Impl::deliver_log(int level, std::string_view text) noexcept {
  if (const auto handler = log_handler_.get()) {
    try {
      (*handler)(static_cast<LogLevel>(level), text);
      return;
    } catch (...) {
      // The line goes where it would have gone without a handler.
    }
  }
  // No handler: it was cleared while the line was on its way.
  try {
    if (options.log_to_syslog) {
      ::syslog(LOG_DAEMON | log_line::kSyslogPriority[level], "[%s] %s",
               options.client_id.c_str(), std::string(text).c_str());
      return;
    }
    const std::string line = log_line::stderr_line(level, seg().control.worker_pid.load(),
                                                   options.client_id, log_journal_, text);
    (void)!::write(STDERR_FILENO, line.data(), line.size());
  } catch (...) {
    // Out of memory: the line is lost, as a line of the worker's own would be.
  }
}

void RobustClient::Impl::finish_log() noexcept {
  if (log_socket_ < 0) return;
  // After this, a send of the worker fails (EPIPE) and it writes the line itself; every line
  // it sent before waits in the socket.
  ::shutdown(log_socket_, SHUT_RD);
  read_log(0);
  ::close(log_socket_);
  log_socket_ = -1;
}

void RobustClient::set_log_handler(LogHandler handler) {
  impl_->set_log_handler(std::move(handler));
}

}  // namespace robustmq
