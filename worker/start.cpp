#include "worker/start.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

#include "proto/segment.hpp"
#include "worker/log.hpp"

namespace robustmq::worker {

namespace {

// Waits up to `ms` for the lifeline; true when the application closed it (EOF, or an error).
bool application_gone(int lifeline, int ms) {
  pollfd p{lifeline, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, ms) <= 0) return false;
  char c;
  const ssize_t n = ::recv(lifeline, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

}  // namespace

int take_worker_lock(const std::string& cache_dir, int lifeline) {
  const std::string path = cache_dir + "/robustmq.worker.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    throw std::system_error(errno, std::generic_category(), fmt::format("cannot open {}", path));
  bool logged = false;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      const int err = errno;
      ::close(fd);
      throw std::system_error(err, std::generic_category(), fmt::format("cannot lock {}", path));
    }
    if (!logged) {
      log(Level::info, "another worker of this cache directory still runs: waiting for it");
      logged = true;
    }
    if (application_gone(lifeline, 100)) {
      ::close(fd);
      return -1;
    }
  }
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // Then a new client cannot name this worker to ask it to hand over; it waits for it
    // (Options::takeover_timeout) instead.
    log(Level::warning, "cannot write this worker's pid into {}", path);
  }
  return fd;
}

bool accepted(int lifeline) {
  while (true) {
    char c = 0;
    const ssize_t n = ::recv(lifeline, &c, 1, 0);
    if (n == 1) return c == 'g';
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

bool unlink_segment_unless_claimed(const std::string& cache_dir, const std::string& segment_name) {
  const std::string path = cache_dir + "/robustmq.lock";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  MappedSegment::unlink(segment_name);
  if (fd >= 0) ::close(fd);  // releases the lock
  return true;
}

}  // namespace robustmq::worker
