// Preparing the cache directory (created 0700, ours, writable) and locking it for one live client.
#include "lib/cache_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "lib/fail.hpp"

namespace robustmq {

std::filesystem::path prepare_cache_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  // Parents as create_directories() makes them; the cache directory itself 0700 from the first
  // instant (a chmod afterwards would leave a window in which others could open it).
  const std::filesystem::path own = dir.has_filename() ? dir : dir.parent_path();  // "a/b/"
  if (!own.parent_path().empty()) std::filesystem::create_directories(own.parent_path(), ec);
  if (ec)
    fail(ec.value(), fmt::format("cannot create the parent of cache directory {}: {}",
                                 dir.string(), ec.message()));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    fail(errno, fmt::format("cannot create cache directory {}", dir.string()));
  // Every check on one open directory, and the canonical path read from that descriptor: the
  // directory checked is the one returned, whatever is renamed or replaced meanwhile.
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const auto not_ours = [&](uid_t owner) {
    fail(EACCES, fmt::format("cache directory {} belongs to uid {}, not to us (uid {}): use a "
                             "directory of your own",
                             dir.string(), owner, ::geteuid()));
  };
  if (fd < 0) {
    const int err = errno;
    if (err == ENOTDIR) fail(ENOTDIR, fmt::format("cache path {} is not a directory", dir.string()));
    // Another user's 0700 directory cannot be opened; say whose it is.
    struct stat st {};
    if (err == EACCES && ::stat(dir.c_str(), &st) == 0 && st.st_uid != ::geteuid())
      not_ours(st.st_uid);
    fail(err, fmt::format("cannot access cache directory {}", dir.string()));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    fail(errno, fmt::format("cannot access cache directory {}", dir.string()));
  if (st.st_uid != ::geteuid()) not_ours(st.st_uid);
  if ((st.st_mode & 0777) != 0700) ::fchmod(fd, 0700);
  if (::faccessat(fd, ".", W_OK | X_OK, 0) != 0)
    fail(errno, fmt::format("cache directory {} is not writable", dir.string()));
  std::error_code link_error;
  auto real = std::filesystem::read_symlink(fmt::format("/proc/self/fd/{}", fd), link_error);
  if (link_error || real.empty() || real.is_relative()) real = std::filesystem::canonical(dir);
  return real;
}

// A holder writes "<pid>\n" after truncating the file: a reader racing it sees no line yet.
pid_t pid_in(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  char* end = nullptr;
  const long pid = std::strtol(buf, &end, 10);
  return end != buf && *end == '\n' && pid > 0 && pid <= INT_MAX ? static_cast<pid_t>(pid) : 0;
}

namespace {

bool alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

int lock_cache_dir(const std::filesystem::path& dir, std::chrono::milliseconds wait) {
  const auto path = dir / "robustmq.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail(errno, fmt::format("cannot open lock file {}", path.string()));
  ::fchmod(fd, 0600);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK) {
      ::close(fd);
      fail(err, fmt::format("cannot lock {}", path.string()));
    }
    const pid_t owner = pid_in(fd);
    const bool owner_alive = alive(owner);
    if (owner_alive || std::chrono::steady_clock::now() >= deadline) {
      ::close(fd);
      if (owner_alive)
        fail(EBUSY, fmt::format("cache path {} is in use by another live RobustMQ client (pid "
                                "{}): stop it or use another cache_path",
                                dir.string(), owner));
      fail(EBUSY, fmt::format("cache path {} stayed locked for {} ms although the client that "
                              "locked it (pid {}) is gone: another process holds {} open, "
                              "such as the worker of an older RobustMQ, which kept the lock "
                              "until it had delivered (wait for it to exit; `fuser -v {}` "
                              "names it)",
                              dir.string(), wait.count(), owner, path.string(), path.string()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid only names the owner in error messages; the lock itself is what matters.
  }
  return fd;
}

}  // namespace robustmq
