// A legacy host process that does everything a library hates: reaps every child in a SIGCHLD
// handler, runs with SIGPIPE at its default action, many threads, descriptors without
// close-on-exec, fork() of its own after connect_async(), a low RLIMIT_NOFILE. RobustMQ must
// work and lose nothing in each.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <filesystem>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;

// Set in a fork() child of this test. LeakSanitizer's check at exit means nothing there: fork()
// copies only the calling thread, so what the parent's other threads (Paho's, in the test's
// subscriber) referenced looks leaked, and the report's abort then hangs in doctest's handler.
static std::atomic<bool> g_fork_child{false};
#if defined(__SANITIZE_ADDRESS__)
extern "C" int __lsan_is_turned_off() { return g_fork_child.load() ? 1 : 0; }
#endif

namespace {

bool gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  // A zombie whose reaper does not reap (a container's pid 1) is as dead as it gets.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return true;
  int p = 0;
  char comm[256], state = 0;
  const int n = std::fscanf(f, "%d %255s %c", &p, comm, &state);
  std::fclose(f);
  return n == 3 && state == 'Z';
}

// Kills the client's worker and waits until its successor runs.
pid_t kill_worker_and_wait_replacement(const RobustClient& client, int sig = SIGKILL) {
  const pid_t old = worker_of(client);
  REQUIRE(old > 0);
  ::kill(old, sig);
  const pid_t now = wait_successor(client, old);
  if (now < 0) FAIL("the killed worker was not replaced within 30 s");
  return now;
}

// Descriptors a careless host opens without close-on-exec: files in `dir`, sockets and pipes,
// `count` of them or one more (a pipe has two ends). Empty if one could not be opened.
std::vector<int> open_without_cloexec(const std::filesystem::path& dir, int count) {
  std::vector<int> fds;
  for (int i = 0; static_cast<int>(fds.size()) < count; ++i) {
    int fd = -1;
    if (i % 3 == 0) {
      fd = ::open((dir / ("f" + std::to_string(i))).c_str(), O_RDWR | O_CREAT, 0600);
    } else if (i % 3 == 1) {
      fd = ::socket(AF_INET, SOCK_STREAM, 0);
    } else {
      int p[2];
      if (::pipe(p) != 0) return {};
      fds.push_back(p[1]);
      fd = p[0];
    }
    if (fd < 0) return {};
    fds.push_back(fd);
  }
  return fds;
}

// The (device, inode) pairs of open descriptors.
std::set<std::pair<dev_t, ino_t>> identities(const std::vector<int>& fds) {
  std::set<std::pair<dev_t, ino_t>> ids;
  for (int fd : fds) {
    struct stat st {};
    if (::fstat(fd, &st) == 0) ids.insert({st.st_dev, st.st_ino});
  }
  return ids;
}

// What is wrong with the descriptors of the worker `w`: one of `ours` reached it, descriptor 3
// is not its lifeline socket, or it holds the application's cache lock (robustmq.lock, which
// must be free the instant the application dies: lib/takeover.hpp). "" if nothing is.
std::string descriptor_problems(pid_t w, const std::set<std::pair<dev_t, ino_t>>& ours) {
  if (w <= 0) return "no worker runs; ";
  std::string problems;
  std::set<int> leaked;
  bool saw3 = false;
  int client_lock = -1;
  const std::string fd_dir = "/proc/" + std::to_string(w) + "/fd";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(fd_dir, ec)) {
    const std::string number = e.path().filename().string();
    int n = -1;
    std::from_chars(number.data(), number.data() + number.size(), n);
    if (n <= 2) continue;  // stdio is shared on purpose
    struct stat st {};
    if (::stat(e.path().c_str(), &st) != 0) continue;  // closed meanwhile
    if (ours.count({st.st_dev, st.st_ino}) != 0) leaked.insert(n);
    if (n == 3) saw3 = S_ISSOCK(st.st_mode);
    if (std::filesystem::read_symlink(e.path(), ec).filename() == "robustmq.lock") client_lock = n;
    ec.clear();
  }
  if (ec) problems += "cannot list " + fd_dir + ": " + ec.message() + "; ";
  if (!leaked.empty()) {
    problems += "worker " + std::to_string(w) + " holds " + std::to_string(leaked.size()) +
                " of the host's descriptors:";
    for (int n : leaked) problems += " " + std::to_string(n);
    problems += "; ";
  }
  if (!saw3) problems += "descriptor 3 of worker " + std::to_string(w) + " is no socket; ";
  if (client_lock >= 0)
    problems += "descriptor " + std::to_string(client_lock) + " of worker " + std::to_string(w) +
                " is the application's cache lock; ";
  return problems;
}

std::atomic<int> reaped{0};
void reap_everything(int) {
  const int saved = errno;
  while (::waitpid(-1, nullptr, WNOHANG) > 0) reaped.fetch_add(1);
  errno = saved;
}

// Installs a disposition for a signal for the scope of a test.
class SignalScope {
 public:
  SignalScope(int sig, void (*handler)(int)) : sig_(sig) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    ::sigaction(sig, &sa, &old_);
  }
  ~SignalScope() { ::sigaction(sig_, &old_, nullptr); }

 private:
  int sig_;
  struct sigaction old_ {};
};

}  // namespace

TEST_CASE("the worker is found by its pid and executable, not by who holds its lock descriptor") {
  // Between fork and exec, the spawn's intermediate child and the worker-to-be hold the host's
  // descriptors, the cache lock among them, for a moment that a loaded machine stretches.
  // A decoy started before the worker (so with a lower pid, as the intermediate child has)
  // holds it there for the whole test.
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  std::filesystem::create_directories(cache);
  std::filesystem::permissions(cache, std::filesystem::perms::owner_all);
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t decoy = ::fork();
  REQUIRE(decoy >= 0);
  if (decoy == 0) {
    const int report = ::fcntl(ready[1], F_DUPFD, 10);  // out of the way of descriptor 4
    const int fd = ::open((cache / "robustmq.lock").c_str(), O_RDWR | O_CREAT, 0600);
    if (report < 0 || fd < 0 || ::dup2(fd, 4) < 0) ::_exit(1);
    (void)!::write(report, "x", 1);
    ::pause();  // killed here
    ::_exit(0);
  }
  struct Kill {
    pid_t pid;
    ~Kill() {
      ::kill(pid, SIGKILL);
      reap(pid);
    }
  } kill_decoy{decoy};
  ::close(ready[1]);
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  ::close(ready[0]);
  RobustClient client(client_options(cache, "decoy"));
  client.connect_async(broker.host(), broker.port());
  const pid_t found = worker_of(client);
  CHECK(found != decoy);
  CHECK(found == client.stats().worker_pid);
  CHECK(runs_worker(found));
  CHECK_FALSE(runs_worker(decoy));
  client.stop();
}

TEST_CASE("a SIGCHLD handler reaping every child does not stop a killed worker being replaced") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "hh/reap/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  {
    SignalScope reaper(SIGCHLD, reap_everything);
    RobustClient client(client_options(dir / "cache", "reap"));
    client.connect_async(broker.host(), broker.port());
    REQUIRE_FALSE(publish_range(client, "hh/reap/seq", 0, 500));
    kill_worker_and_wait_replacement(client);
    REQUIRE_FALSE(publish_range(client, "hh/reap/seq", 500, 1000));
    CHECK(wait_in_order(sub, 1000, 30s) == "");
    CHECK(client.stats().worker_restarts >= 1);
    // The handler was live all along: a child of our own is reaped by it, not by us.
    const int before = reaped.load();
    const pid_t own = ::fork();
    if (own == 0) ::_exit(0);
    CHECK(wait_until([&] { return reaped.load() > before; }, 10s, 20ms));
    client.stop();
  }
}

TEST_CASE("a worker stopped with SIGTERM (a shutdown script, an operator) is replaced and the "
          "stream goes on") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "hh/term/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "term"));
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(publish_range(client, "hh/term/seq", 0, 500));
  const pid_t first = kill_worker_and_wait_replacement(client, SIGTERM);
  // The replacement keeps running and sending: SIGTERM ended only the worker it was sent to.
  REQUIRE_FALSE(publish_range(client, "hh/term/seq", 500, 1000));
  CHECK(wait_in_order(sub, 1000, 30s) == "");
  CHECK(worker_of(client) == first);
  CHECK(client.stats().state == ConnectionState::connected);
  client.stop();
}

TEST_CASE("a worker killed while publishing does not kill the host with SIGPIPE") {
  for (auto disposition : {SIG_DFL, SIG_IGN}) {
    CAPTURE(disposition == SIG_IGN);
    testkit::Mosquitto broker;
    testkit::Subscriber sub(broker.host(), broker.port(), "hh/pipe/#");
    REQUIRE(sub.wait_subscribed());
    testkit::TempDir dir;
    SignalScope pipe(SIGPIPE, disposition);
    RobustClient client(client_options(dir / "cache", "pipe"));
    client.connect_async(broker.host(), broker.port());
    std::atomic<bool> done{false};
    std::thread producer([&] {
      CHECK_FALSE(publish_range(client, "hh/pipe/seq", 0, 20'000));
      done = true;
    });
    for (int i = 0; i < 3 && !done; ++i) {
      kill_worker_and_wait_replacement(client);
    }
    producer.join();
    CHECK(wait_in_order(sub, 20'000, 60s) == "");
    client.stop();
  }
}

TEST_CASE("many host threads, descriptors without close-on-exec: none reaches the worker") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "hh/fds/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const std::vector<int> fds = open_without_cloexec(dir.path(), 50);
  REQUIRE(fds.size() >= 50);
  const auto ours = identities(fds);
  // 32 busy threads allocating (malloc locks held at random moments when the worker is forked).
  std::atomic<bool> quit{false};
  std::vector<std::thread> busy;
  for (int i = 0; i < 32; ++i)
    busy.emplace_back([&] {
      while (!quit) std::vector<char> v(4096 + (std::rand() % 65536));
    });

  RobustClient client(client_options(dir / "cache", "fds"));
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(publish_range(client, "hh/fds/seq", 0, 300));
  const std::string first = descriptor_problems(worker_of(client), ours);
  CHECK_MESSAGE(first.empty(), first);
  // A worker started from the monitor thread, amid the busy threads, is as clean.
  const std::string second = descriptor_problems(kill_worker_and_wait_replacement(client), ours);
  CHECK_MESSAGE(second.empty(), second);
  REQUIRE_FALSE(publish_range(client, "hh/fds/seq", 300, 600));
  CHECK(wait_in_order(sub, 600, 30s) == "");
  client.stop();
  quit = true;
  for (auto& t : busy) t.join();
  for (int fd : fds) ::close(fd);
}

TEST_CASE("a fork() child of the host cannot publish into or stop the parent's client") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "hh/fork/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "fork"));
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(publish_range(client, "hh/fork/seq", 0, 100));
  const pid_t worker = worker_of(client);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    g_fork_child.store(true);
    int bad = 0;
    if (client.publish("hh/fork/seq", "child", 1) != errc::forked_child) bad |= 1;
    if (client.flush(10ms) != errc::forked_child) bad |= 2;
    client.stop();  // must leave the parent's worker alone; so must exit()
    std::exit(bad);
  }
  const std::optional<int> status = wait_child_exit(child, 30s);
  if (!status) ::kill(child, SIGKILL);  // hung in exit(): a failure, not a hang of the suite
  REQUIRE_MESSAGE(status.has_value(), "the fork() child did not exit within 30 s");
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK_FALSE(gone(worker));
  CHECK(worker_of(client) == worker);
  REQUIRE_FALSE(publish_range(client, "hh/fork/seq", 100, 200));
  CHECK(wait_in_order(sub, 200, 30s) == "");
  CHECK(client.stats().worker_restarts == 0);
  client.stop();
}

TEST_CASE("when the host dies while its fork() child lives, the worker notices and drains") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "hh/orphan/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const pid_t host = ::fork();
  REQUIRE(host >= 0);
  if (host == 0) {
    ::close(report[0]);
    RobustClient client(client_options(dir / "cache", "orphan"));
    client.connect_async(broker.host(), broker.port());
    if (publish_range(client, "hh/orphan/seq", 0, 300)) ::_exit(2);
    const pid_t kid = ::fork();  // the host's own child: lives on after the host dies
    if (kid == 0) {
      ::close(report[1]);
      ::pause();
      ::_exit(0);
    }
    const pid_t pids[2] = {kid, worker_of(client)};
    (void)!::write(report[1], pids, sizeof pids);
    ::pause();  // killed here
    ::_exit(0);
  }
  ::close(report[1]);
  pid_t pids[2] = {-1, -1};
  REQUIRE(::read(report[0], pids, sizeof pids) == sizeof pids);
  ::close(report[0]);
  const auto [kid, worker] = pids;
  REQUIRE(worker > 0);
  ::kill(host, SIGKILL);
  ::waitpid(host, nullptr, 0);
  // The kid still lives; the worker must still see the host's death (EOF on its lifeline).
  const bool worker_exited = wait_until([&] { return gone(worker); }, 30s, 50ms);
  CHECK_FALSE(gone(kid));
  CHECK(worker_exited);
  ::kill(kid, SIGKILL);
  // The worker sent or cached everything before it exited; the next client sends the rest.
  RobustClient next(client_options(dir / "cache", "orphan"));
  next.connect_async(broker.host(), broker.port());
  CHECK(wait_in_order(sub, 300, 30s) == "");
  next.stop();
}

TEST_CASE("RLIMIT_NOFILE of 64 set before connect_async() works, through a worker restart") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "hh/nofile/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  rlimit low = old;
  low.rlim_cur = 64;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  {
    RobustClient client(client_options(dir / "cache", "nofile"));
    client.connect_async(broker.host(), broker.port());
    REQUIRE_FALSE(publish_range(client, "hh/nofile/seq", 0, 500));
    kill_worker_and_wait_replacement(client);
    REQUIRE_FALSE(publish_range(client, "hh/nofile/seq", 500, 1000));
    CHECK(wait_in_order(sub, 1000, 30s) == "");
    client.stop();
  }
  ::setrlimit(RLIMIT_NOFILE, &old);
}

namespace {

// The write end of a pipe: the SIGWINCH handler below reports the pid it runs in there.
int g_winch_report = -1;
void report_winch(int) {
  const int saved = errno;
  const pid_t me = ::getpid();
  (void)!::write(g_winch_report, &me, sizeof me);
  errno = saved;
}

}  // namespace

TEST_CASE("a handler of a signal the host blocks never runs in the worker's child before exec") {
  // A terminal program's SIGWINCH handler, with the signal blocked in every thread of the host
  // while SIGWINCH rains on its process group. The children of the worker's spawn are in that
  // group until setsid(), with the handler installed and the signal blocked (inherited through
  // fork): one that unblocked signals before it reset the handlers would run the host's
  // handler. SIGWINCH's default action is to ignore it, so a correct child is not harmed.
  testkit::TempDir dir;
  int report[2];
  REQUIRE(::pipe2(report, O_CLOEXEC | O_NONBLOCK) == 0);
  const pid_t host = ::fork();
  REQUIRE(host >= 0);
  if (host == 0) {
    g_fork_child.store(true);
    ::close(report[0]);
    ::setpgid(0, 0);  // a process group of our own for the rain
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    ::pthread_sigmask(SIG_BLOCK, &winch, nullptr);  // inherited by every thread started below
    g_winch_report = report[1];
    struct sigaction sa {};
    sa.sa_handler = report_winch;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGWINCH, &sa, nullptr);
    std::atomic<bool> quit{false};
    std::thread rain([&] {
      while (!quit.load()) ::kill(0, SIGWINCH);
    });
    int failed = 0;
    for (int i = 0; i < 20; ++i) {
      try {
        RobustClient client(client_options(dir / ("cache" + std::to_string(i)), "winch"));
        client.connect_async("127.0.0.1", 1);  // nothing listens there: the worker just retries
        client.stop();
      } catch (const std::exception&) {
        ++failed;
      }
    }
    quit.store(true);
    rain.join();
    ::_exit(failed);
  }
  ::close(report[1]);
  const std::optional<int> status = wait_child_exit(host, 120s);
  if (!status) ::kill(host, SIGKILL);
  REQUIRE_MESSAGE(status.has_value(), "the host did not finish within 120 s");
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);  // every worker started
  std::set<pid_t> ran_in;
  pid_t pid = 0;
  while (::read(report[0], &pid, sizeof pid) == sizeof pid) ran_in.insert(pid);
  ::close(report[0]);
  std::string pids;
  for (pid_t p : ran_in) pids += std::to_string(p) + " ";
  CHECK_MESSAGE(ran_in.empty(), "the host's SIGWINCH handler ran in ", ran_in.size(),
                " child process(es) of the spawn: ", pids);
}

namespace {

// Makes close_range(2) fail with ENOSYS in this thread, the threads it starts and its children
// from here on (a seccomp filter, inherited through fork and exec and never removed), as on
// Linux before 5.9. False if the kernel refuses the filter.
bool refuse_close_range() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close_range, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

}  // namespace

TEST_CASE("on a kernel without close_range (Linux before 5.9) no descriptor of the host reaches "
          "the worker either") {
  testkit::TempDir dir;
  int report[2];
  REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
  const pid_t host = ::fork();  // the filter cannot be undone: a host process of its own
  REQUIRE(host >= 0);
  if (host == 0) {
    g_fork_child.store(true);
    ::close(report[0]);
    std::string problems;
    if (!refuse_close_range() || ::syscall(SYS_close_range, 1000u, 1000u, 0u) == 0 ||
        errno != ENOSYS) {
      problems = "skipped: cannot make close_range fail with ENOSYS here";
    } else {
      try {
        const std::vector<int> fds = open_without_cloexec(dir.path(), 50);
        const auto ours = identities(fds);
        if (fds.size() < 50) problems += "cannot open 50 descriptors; ";
        RobustClient client(client_options(dir / "cache", "no-close-range"));
        client.connect_async("127.0.0.1", 1);  // nothing listens there: the worker just retries
        const pid_t first = worker_of(client);
        problems += descriptor_problems(first, ours);
        // The successor, started from the monitor thread.
        if (first > 0) ::kill(first, SIGKILL);
        problems += descriptor_problems(wait_successor(client, first), ours);
        client.stop();
      } catch (const std::exception& e) {
        problems += e.what();
      }
    }
    (void)!::write(report[1], problems.data(), problems.size());
    ::_exit(0);
  }
  ::close(report[1]);
  std::string problems;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(report[0], buf, sizeof buf)) > 0)
    problems.append(buf, static_cast<std::size_t>(n));
  ::close(report[0]);
  const std::optional<int> status = wait_child_exit(host, 120s);
  if (!status) ::kill(host, SIGKILL);
  REQUIRE_MESSAGE(status.has_value(), "the host did not finish within 120 s");
  CHECK(WIFEXITED(*status));
  if (problems.rfind("skipped", 0) == 0) {
    MESSAGE(problems);
    return;
  }
  CHECK_MESSAGE(problems.empty(), problems);
}
