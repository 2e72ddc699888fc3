// A legacy host process that does everything a library hates: reaps every child in a SIGCHLD
// handler, runs with SIGPIPE at its default action, many threads, descriptors without
// close-on-exec, fork() of its own after connect_async(), a low RLIMIT_NOFILE. RobustMQ must
// work and lose nothing in each.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <set>
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
  // Between fork and exec, the spawn's intermediate child and the worker-to-be hold the cache
  // lock too (at descriptor 4 once dup2 ran), for a moment that a loaded machine stretches.
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
  // 50 descriptors the host forgot to mark close-on-exec: files, sockets, pipes.
  std::vector<int> fds;
  std::set<std::pair<dev_t, ino_t>> ours;
  for (int i = 0; i < 50; ++i) {
    int fd = -1;
    if (i % 3 == 0) {
      fd = ::open((dir / ("f" + std::to_string(i))).c_str(), O_RDWR | O_CREAT, 0600);
    } else if (i % 3 == 1) {
      fd = ::socket(AF_INET, SOCK_STREAM, 0);
    } else {
      int p[2];
      REQUIRE(::pipe(p) == 0);
      fds.push_back(p[1]);
      fd = p[0];
    }
    REQUIRE(fd >= 0);
    fds.push_back(fd);
  }
  for (int fd : fds) {
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    ours.insert({st.st_dev, st.st_ino});
  }
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
  auto check_worker = [&](pid_t w) {
    REQUIRE(w > 0);
    const std::string fd_dir = "/proc/" + std::to_string(w) + "/fd";
    bool saw3 = false, saw4 = false;
    for (const auto& e : std::filesystem::directory_iterator(fd_dir)) {
      const int n = std::atoi(e.path().filename().c_str());
      if (n <= 2) continue;  // stdio is shared on purpose
      struct stat st {};
      if (::stat(e.path().c_str(), &st) != 0) continue;  // closed meanwhile
      CAPTURE(n);
      CHECK(ours.count({st.st_dev, st.st_ino}) == 0);
      if (n == 3) saw3 = S_ISSOCK(st.st_mode);
      if (n == 4) saw4 = std::filesystem::read_symlink(e.path()).filename() == "robustmq.lock";
    }
    CHECK(saw3);
    CHECK(saw4);
  };
  check_worker(worker_of(client));
  // A worker started from the monitor thread, amid the busy threads, is as clean.
  check_worker(kill_worker_and_wait_replacement(client));
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
