// Starting the worker and watching it: a monitor thread polls the lifeline socket, answers the
// worker's questions for credentials (credentials.cpp), hands its log lines to the log handler
// (log_handler.cpp) and restarts the worker when it dies.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>
#include <memory>

#include <fmt/format.h>

#include "lib/client_impl.hpp"
#include "lib/spawn.hpp"
#include "proto/lifeline.hpp"

namespace robustmq {

void RobustClient::Impl::start_worker() {
  if (log_socket_ >= 0) read_log(0);  // what the dead worker logged before it died
  SpawnResult r = spawn_worker(worker_path_, config_blob_, options.worker_start_timeout);
  if (lifeline_ < 0) {
    lifeline_ = r.lifeline;
    log_socket_ = r.log;
    return;
  }
  ::dup3(r.lifeline, lifeline_, O_CLOEXEC);  // atomically swaps the socket under publish()
  ::close(r.lifeline);
  ::dup3(r.log, log_socket_, O_CLOEXEC);
  ::close(r.log);
}

void RobustClient::Impl::monitor_loop() {
  // Named for top -H and /proc/<pid>/task/*/comm (at most 15 characters).
  ::pthread_setname_np(::pthread_self(), "robustmq-mon");
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping_.load()) {
    pollfd fds[3] = {{lifeline_, POLLIN | POLLRDHUP, 0},
                     {monitor_wake_, POLLIN, 0},
                     {log_socket_, POLLIN, 0}};
    int r = ::poll(fds, 3, -1);
    if (r < 0) continue;
    if (fds[1].revents != 0 || stopping_.load()) return;
    // A few lines at a time: a worker that logs without pause does not keep its questions
    // waiting.
    if (fds[2].revents != 0) read_log(64);
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLRDHUP | POLLERR)) == 0) continue;
    char buf[256];
    ssize_t n = ::recv(lifeline_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      // The worker asks for credentials before a connection attempt (proto/lifeline.hpp).
      const auto questions =
          static_cast<std::size_t>(std::count(buf, buf + n, lifeline::kAskCredentials));
      if (questions > 0) answer_credentials(questions);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    // EOF: the worker died. Everything it had not acknowledged or cached is still in the ring.
    while (!stopping_.load()) {
      try {
        start_worker();
        seg().status.worker_restarts.fetch_add(1, std::memory_order_relaxed);
        backoff = std::chrono::milliseconds(100);
        break;
      } catch (const std::exception& e) {
        set_error(fmt::format("restarting robustmq-worker failed: {}", e.what()));
        pollfd w{monitor_wake_, POLLIN, 0};
        ::poll(&w, 1, static_cast<int>(backoff.count()));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      }
    }
  }
}

}  // namespace robustmq
