// Taking over from an orphaned worker (the design is in takeover.hpp).
#include "lib/takeover.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "lib/cache_dir.hpp"
#include "lib/fail.hpp"

namespace robustmq {

namespace {

using Clock = std::chrono::steady_clock;

// The command name of a process (what exec gave it, at most 15 characters).
std::string comm_of(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/comm", pid));
  std::string name;
  std::getline(f, name);
  return name;
}

bool lock_free(int fd) {
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EINTR) return false;
  }
  ::flock(fd, LOCK_UN);
  return true;
}

}  // namespace

int take_over_worker(const std::filesystem::path& cache_dir,
                     const std::filesystem::path& worker_path, shm::ControlLine& control,
                     std::chrono::milliseconds timeout) {
  const auto path = cache_dir / "robustmq.worker.lock";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return 0;  // no worker ever ran here
    fail(errno, fmt::format("cannot open {}", path.string()));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (lock_free(fd)) return 0;

  // The holder is identified by the pid it wrote (worker/start.cpp) and by its command name, read again before
  // each signal: a pid read from the file while a new holder had not yet written its own
  // belongs to an exited worker, and is skipped.
  const std::string command = worker_path.filename().string().substr(0, 15);
  control.takeover_by.store(static_cast<std::uint32_t>(::getpid()));
  const auto term_deadline = Clock::now() + timeout;
  std::optional<Clock::time_point> kill_deadline;
  pid_t taken_from = 0;
  pid_t killed = 0;
  while (!lock_free(fd)) {
    const pid_t pid = pid_in(fd);
    const bool worker = pid > 0 && comm_of(pid) == command;
    if (worker && pid != taken_from && ::kill(pid, SIGTERM) == 0) taken_from = pid;
    const auto now = Clock::now();
    if (now >= term_deadline && worker && pid != killed && ::kill(pid, SIGKILL) == 0) {
      killed = pid;
      kill_deadline = now + std::max(timeout, std::chrono::milliseconds(1000));
    }
    if (now >= term_deadline && (!kill_deadline || now >= *kill_deadline)) {
      control.takeover_by.store(0);
      fail(ETIMEDOUT,
           fmt::format("cache path {}: the worker of an earlier client (pid {}) did not hand "
                       "over within Options::takeover_timeout ({} ms){}: find what holds {} "
                       "(`fuser -v {}`)",
                       cache_dir.string(), pid, timeout.count(),
                       killed != 0 ? " and outlived SIGKILL" : " and is no robustmq-worker",
                       path.string(), path.string()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  control.takeover_by.store(0);
  return taken_from;
}

}  // namespace robustmq
