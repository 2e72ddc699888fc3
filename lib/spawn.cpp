#include "lib/spawn.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "robustmq_config.h"

extern char** environ;

namespace robustmq {

namespace {

[[noreturn]] void fail(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

// Closes every descriptor from `first` up where close_range(2) is missing (Linux before 5.9, or
// a seccomp profile that refuses it). Runs in a forked child of a possibly multi-threaded host:
// raw system calls and a buffer on the stack, no malloc. The entries of /proc/self/fd are
// closed as they are read (the listing goes by descriptor number, so closing the ones behind it
// skips nothing); without /proc, every number below the RLIMIT_NOFILE soft limit.
void close_from_fallback(int first) {
  const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    alignas(dirent64) char buf[4096];
    long n = 0;
    while ((n = ::syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
      for (long off = 0; off < n;) {
        dirent64 entry{};
        std::memcpy(&entry, buf + off,
                    std::min(sizeof entry, static_cast<std::size_t>(n - off)));
        off += entry.d_reclen;
        int fd = 0;
        bool number = entry.d_name[0] != '\0';  // "." and ".." are not
        for (const char* c = entry.d_name; *c != '\0'; ++c) {
          if (*c < '0' || *c > '9' || fd > (INT_MAX - 9) / 10) {
            number = false;
            break;
          }
          fd = fd * 10 + (*c - '0');
        }
        if (number && fd >= first && fd != dir) ::close(fd);
      }
    }
    ::close(dir);
    if (n == 0) return;  // listed to the end
  }
  rlimit limit{};
  int end = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    end = limit.rlim_cur < static_cast<rlim_t>(INT_MAX) ? static_cast<int>(limit.rlim_cur)
                                                          : INT_MAX;
  for (int fd = first; fd < end; ++fd) ::close(fd);
}

// Runs in the forked children: async-signal-safe calls only. Every signal is blocked on entry
// (spawn_worker blocked them around the fork).
[[noreturn]] void exec_worker(const char* path, char* const argv[], int lifeline, int log) {
  // Handlers first, then the mask: a signal pending since the fork, or arriving meanwhile,
  // must not run a handler of the host in this child. (sigaction refuses SIGKILL, SIGSTOP and
  // the C library's own signals, which is fine.)
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  // NOLINTNEXTLINE(concurrency-mt-unsafe): the forked child has one thread
  sigprocmask(SIG_SETMASK, &none, nullptr);
  setsid();
  // Out of the way first, so that dup2 onto 3 and 4 cannot clobber them.
  const int a = fcntl(lifeline, F_DUPFD, 10);
  const int b = fcntl(log, F_DUPFD, 10);
  if (a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0) _exit(126);
  // stdin and stdout are the application's, and the worker may outlive it (a hand-off, an
  // orphan): holding them would keep a shell's pipe or $(...) waiting for the worker. It writes
  // only its log, to stderr.
  // Without O_CLOEXEC: if the host had closed 0 or 1, open() returns that very number, which
  // must stay open across exec; a higher one is closed below.
  const int null = open("/dev/null", O_RDWR);
  if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0) {
    static const char msg[] = "error cannot open /dev/null for the worker's stdin and stdout\n";
    (void)!write(3, msg, sizeof msg - 1);
    _exit(126);
  }
  if (syscall(SYS_close_range, 5u, ~0u, 0u) != 0) close_from_fallback(5);
  execve(path, argv, environ);
  const int err = errno;
  char msg[64] = "error exec failed: errno ";
  std::size_t n = std::strlen(msg);
  char digits[12];
  int d = 0;
  for (int v = err; d == 0 || v > 0; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
  while (d > 0) msg[n++] = digits[--d];
  msg[n++] = '\n';
  (void)!write(3, msg, n);
  _exit(127);
}

// Reads the worker's first line ("ready <pid>" or "error <text>").
// Without a timeout: as long as the worker lives (its end of the socket is open).
std::string read_line(int fd, std::optional<std::chrono::milliseconds> timeout) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::hours(1));
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (timeout && left.count() <= 0) return line + "\x01timeout";
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout ? static_cast<int>(left.count()) : -1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return line + "\x01eof";
    if (c == '\n') return line;
    if (line.size() < 4096) line += c;
  }
}

}  // namespace

std::filesystem::path find_worker(const std::filesystem::path& configured) {
  if (!configured.empty()) return configured;
  // getenv: a host that setenv()s while threads run is already undefined; we only read, once
  // per connect_async().
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (const char* env = std::getenv("ROBUSTMQ_WORKER"); env != nullptr && *env != '\0')
    return env;
  return ROBUSTMQ_WORKER_INSTALL_PATH;
}

SpawnResult spawn_worker(const std::filesystem::path& worker, std::string_view config_blob, std::chrono::milliseconds timeout) {
  if (::access(worker.c_str(), X_OK) != 0)
    fail(errno, fmt::format("robustmq-worker not found or not executable at {}: install "
                            "RobustMQ, or set Options::worker_path or ROBUSTMQ_WORKER",
                            worker.string()));
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    fail(errno, "cannot create the worker's lifeline socket");
  // Each line one datagram (proto/log_line.hpp).
  int lv[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, lv) != 0) {
    const int err = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    fail(err, "cannot create the worker's log socket");
  }
  const std::string path = worker.string();
  std::string arg0 = "robustmq-worker";
  std::string arg1 = "--lifeline-fd=3";
  // The log socket goes without an argument: a worker of an earlier release, which refuses
  // arguments it does not know, ignores the descriptor.
  char* argv[] = {arg0.data(), arg1.data(), nullptr};

  // _Fork, not fork: no atfork handler runs, neither the host's nor ours (which would close the
  // descriptors this child must hand on), and the children call async-signal-safe functions only.
  // Every signal is blocked across the fork, so that none of the host's handlers runs in a child
  // before exec_worker() has reset them; this thread's mask is restored right after.
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved);
  const pid_t child = ::_Fork();
  const int fork_errno = errno;
  if (child != 0) ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (child < 0) {
    const int err = fork_errno;
    for (const int fd : {sv[0], sv[1], lv[0], lv[1]}) ::close(fd);
    fail(err, "cannot fork the worker");
  }
  if (child == 0) {
    const pid_t grandchild = ::_Fork();
    if (grandchild == 0) exec_worker(path.c_str(), argv, sv[1], lv[1]);
    _exit(grandchild < 0 ? 1 : 0);
  }
  ::close(sv[1]);
  ::close(lv[1]);
  int status = 0;
  // The host may reap the intermediate child itself (a SIGCHLD handler with wait(-1)): then
  // waitpid fails with ECHILD, which is fine.
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }

  std::size_t off = 0;
  while (off < config_blob.size()) {
    ssize_t n = ::send(sv[0], config_blob.data() + off, config_blob.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the worker died; its error line (if any) is read below
    off += static_cast<std::size_t>(n);
  }
  std::string line = read_line(sv[0], timeout);
  if (line.rfind("ready ", 0) == 0) {
    // Accepted: the worker starts only on this byte (worker/start.hpp). A worker that reports
    // after the timeout finds the socket closed instead and exits unused.
    // Then it opens the cache, which may take long (a recovery), and says "running" once its
    // counts are in the segment: stats() is true from the moment connect_async() returns. No
    // timeout applies to that: the worker is ours and alive, and the ring takes publish()es.
    const char go = 'g';
    const std::string ready = line;
    line = ::send(sv[0], &go, 1, MSG_NOSIGNAL) == 1 ? read_line(sv[0], std::nullopt) : "\x01eof";
    if (line == "running") {
      // The pid is informational (the worker also stores it in the segment); garbage reads as 0.
      const long pid = std::strtol(ready.c_str() + 6, nullptr, 10);
      return SpawnResult{sv[0], lv[0], pid > 0 && pid <= INT_MAX ? static_cast<int>(pid) : 0};
    }
  }
  ::close(sv[0]);
  ::close(lv[0]);
  if (line.rfind("error ", 0) == 0)
    fail(EIO, fmt::format("robustmq-worker ({}) could not start: {}", path, line.substr(6)));
  if (line.find("\x01timeout") != std::string::npos)
    fail(ETIMEDOUT, fmt::format("robustmq-worker ({}) did not report ready within {} ms", path,
                                timeout.count()));
  fail(EIO, fmt::format("robustmq-worker ({}) exited before it was ready", path));
}

}  // namespace robustmq
