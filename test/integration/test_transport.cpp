// The shared segment and the worker as the application sees them: ring full, idle cost,
// foreign or damaged segments and caches.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "crash_helpers.hpp"
#include "proto/segment.hpp"

using namespace robustmq;
using namespace robustmq::test;

TEST_CASE("a full ring makes publish() wait publish_wait, then return queue_full, losing nothing") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "full/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "full");
  o.ring_bytes = 64 << 10;
  o.publish_wait = 200ms;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  const pid_t worker = worker_of(client);
  REQUIRE(worker > 0);
  ::kill(worker, SIGSTOP);  // a worker that cannot keep up
  std::uint64_t accepted = 0;
  std::error_code ec;
  while (!(ec = client.publish("full/seq", testkit::sequence_payload(accepted, 100), 1)))
    ++accepted;
  CHECK(ec == errc::queue_full);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(client.publish("full/seq", "x", 1) == errc::queue_full);
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= 190ms);
  CHECK(waited < 5s);  // publish_wait, and whatever a loaded machine adds to it
  CHECK(client.stats().queue_full == 2);
  CHECK(accepted > 300);
  ::kill(worker, SIGCONT);
  REQUIRE_FALSE(publish_range(client, "full/seq", accepted, accepted + 10, 1, 100));
  const auto problem = wait_in_order(sub, accepted + 10, 60s);
  CHECK_MESSAGE(problem.empty(), problem);
  client.stop();
}

TEST_CASE("an idle worker does not wake up and reacts to publish() at once") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "idle/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "idle"));
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(client.publish("idle/seq", testkit::sequence_payload(0), 1));
  REQUIRE(wait_distinct(sub, 1, 10s));
  // Idle from here: the message is acknowledged and nothing is left to send.
  REQUIRE(wait_until([&] {
    const Stats s = client.stats();
    return s.acknowledged == 1 && s.ring_backlog == 0 && s.cache_backlog == 0;
  }, 10s));
  // The acknowledgement is counted before the loop finishes its round, which a loaded machine
  // may hold up: wait until the worker's wake-up count stands still. The count moves only when
  // the worker returns from its wait for work, not when a busy CPU holds a thread back, so a
  // loop that ticks on a timer shows here however loaded the machine is.
  const auto wakeups = [&] { return client.stats().worker_wakeups; };
  std::uint64_t before = wakeups();
  REQUIRE(wait_until([&] {
    const std::uint64_t now = wakeups();
    const bool still = now == before;
    before = now;
    return still;
  }, 10s, 200ms));
  std::this_thread::sleep_for(2s);  // two idle seconds
  // At most one wake-up: a deadline the loop had set before it went still. A loop with a timer
  // of 1 s or shorter wakes at least twice.
  CHECK(wakeups() - before <= 1);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE_FALSE(client.publish("idle/seq", testkit::sequence_payload(1), 1));
  REQUIRE(wait_distinct(sub, 2, 10s));
  // At once, where a worker that missed the wake-up would sleep until some other event.
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(wakeups() > before);  // the count moves when there is work
  client.stop();
}

TEST_CASE("a segment with a wrong magic is moved aside, never mapped") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  std::filesystem::create_directories(cache);
  const std::string name = segment_name(std::filesystem::canonical(cache), "foreign");
  const std::string path = "/dev/shm/" + name;
  {
    std::ofstream f(path, std::ios::binary);
    f << std::string(8192 + (64 << 10), 'Z');
  }
  ::chmod(path.c_str(), 0600);
  RobustClient client(client_options(cache, "foreign"));
  client.connect_async(broker.host(), broker.port());
  CHECK(client.stats().last_error.find("moved it to") != std::string::npos);
  REQUIRE_FALSE(client.publish("seg/x", "1", 1));
  REQUIRE_FALSE(client.flush(10s));
  client.stop();
  bool moved = false;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
    if (e.path().filename().string().rfind(name + ".bad-", 0) == 0) {
      moved = true;
      std::filesystem::remove(e.path());
    }
  CHECK(moved);
}

TEST_CASE("a segment or cache directory owned by another user is refused") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: changing a file's owner needs root");
    return;
  }
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  std::filesystem::create_directories(cache);
  {
    const std::string name = segment_name(std::filesystem::canonical(cache), "owned");
    const std::string path = "/dev/shm/" + name;
    { std::ofstream f(path, std::ios::binary); f << std::string(4096 + (64 << 10), '\0'); }
    REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
    RobustClient client(client_options(cache, "owned"));
    CHECK_THROWS_WITH_AS(client.connect_async("127.0.0.1", 1883),
                         doctest::Contains("owned by uid 65534"), std::system_error);
    std::filesystem::remove(path);
  }
  {
    const auto other = dir / "other";
    std::filesystem::create_directories(other);
    REQUIRE(::chown(other.c_str(), 65534, 65534) == 0);
    RobustClient client(client_options(other, "owned"));
    CHECK_THROWS_WITH_AS(client.connect_async("127.0.0.1", 1883),
                         doctest::Contains("belongs to uid 65534"), std::system_error);
  }
}

namespace {

// Sets the process's umask for a scope (the worker inherits it through fork+exec).
class UmaskScope {
 public:
  explicit UmaskScope(mode_t mask) : old_(::umask(mask)) {}
  ~UmaskScope() { ::umask(old_); }
  UmaskScope(const UmaskScope&) = delete;
  UmaskScope& operator=(const UmaskScope&) = delete;

 private:
  mode_t old_;
};

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// Every directory under `root` (and root) is 0700 and every file 0600; returns the problems
// and counts the files seen.
std::string wrong_modes(const std::filesystem::path& root, int& files) {
  std::string problems;
  if (mode_of(root) != 0700) problems += root.string() + " is not 0700; ";
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    const mode_t want = e.is_directory() ? 0700 : 0600;
    if (!e.is_directory()) ++files;
    if (mode_of(e.path()) != want)
      problems += fmt::format("{} is {:o}, not {:o}; ", e.path().string(), mode_of(e.path()), want);
  }
  return problems;
}

struct RunOutcome {
  int status = -1;  // exit status, -1 if it did not exit normally
  std::string output;
};

// Where a test can run a command as another user: setpriv (util-linux) or runuser.
std::string as_nobody_prefix() {
  if (::access("/usr/bin/setpriv", X_OK) == 0)
    return "setpriv --reuid=65534 --regid=65534 --clear-groups";
  if (::access("/usr/sbin/runuser", X_OK) == 0 || ::access("/sbin/runuser", X_OK) == 0)
    return "runuser -u nobody --";
  return "";
}

// Runs `command` with /bin/sh as uid/gid 65534 without supplementary groups. The paths the
// tests pass are made of [A-Za-z0-9/._-] only, so no quoting is needed.
RunOutcome run_as_nobody(const std::string& command) {
  const std::string line = as_nobody_prefix() + " /bin/sh -c '" + command + "' 2>&1";
  RunOutcome r;
  FILE* p = ::popen(line.c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  if (status != -1 && WIFEXITED(status)) r.status = WEXITSTATUS(status);
  return r;
}

}  // namespace

TEST_CASE("segment, cache directories and cache files are private whatever the umask") {
  testkit::Mosquitto broker;
  for (const CacheType type : {CacheType::sqlite, CacheType::file}) {
    INFO("cache_type ", type == CacheType::sqlite ? "sqlite" : "file");
    testkit::TempDir dir;
    const auto cache = dir / "cache";
    int files = 0;
    {
      const UmaskScope open_umask(0);  // the most permissive a caller can set
      Options o = client_options(cache, "umask", type);
      o.durability = Durability::journal;  // every message passes through the cache files
      RobustClient client(o);
      client.connect_async(broker.host(), broker.port());
      REQUIRE_FALSE(publish_range(client, "umask/seq", 0, 50, 1, 100));
      REQUIRE_FALSE(client.flush(20s));  // journal: every message is in the cache files now
      const std::string segment =
          "/dev/shm/" + segment_name(std::filesystem::canonical(cache), "umask");
      struct stat st {};
      REQUIRE(::stat(segment.c_str(), &st) == 0);
      CHECK((st.st_mode & 07777) == 0600);
      CHECK(st.st_uid == ::geteuid());
      const std::string running = wrong_modes(cache, files);  // while the worker has them open
      CHECK_MESSAGE(running.empty(), running);
      client.stop();  // spools whatever is left to the cache, under this umask too
    }
    files = 0;
    const std::string stopped = wrong_modes(cache, files);  // and what stop() left behind
    CHECK_MESSAGE(stopped.empty(), stopped);
    CHECK(files >= 2);  // the lock file and at least one cache file were checked
  }
}

TEST_CASE("another user can read neither the segment nor the cache, nor use the cache path") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: running a part of the test as another user (setpriv) needs root");
    return;
  }
  if (as_nobody_prefix().empty()) {
    MESSAGE("skipped: neither setpriv nor runuser is installed (util-linux)");
    return;
  }
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  // Open the test's own directory, so that only the library's modes stand in the way.
  REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
  const auto cache = dir / "cache";
  RobustClient client(client_options(cache, "guarded"));
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(publish_range(client, "guarded/seq", 0, 20, 1, 100));
  REQUIRE_FALSE(client.flush(20s));
  const std::string segment =
      "/dev/shm/" + segment_name(std::filesystem::canonical(cache), "guarded");

  // The control: the same commands work for files nobody may read.
  REQUIRE(run_as_nobody("head -c 1 /etc/hostname >/dev/null").status == 0);

  RunOutcome r = run_as_nobody("head -c 1 " + segment + " >/dev/null");
  CHECK(r.status != 0);
  CHECK_MESSAGE(r.output.find("Permission denied") != std::string::npos, r.output);
  r = run_as_nobody(": >> " + segment);
  CHECK(r.status != 0);
  CHECK_MESSAGE(r.output.find("Permission denied") != std::string::npos, r.output);
  r = run_as_nobody("ls " + cache.string());
  CHECK(r.status != 0);
  CHECK_MESSAGE(r.output.find("Permission denied") != std::string::npos, r.output);

  // Even with the directory opened for traversal, each cache file refuses by its own mode.
  REQUIRE(::chmod(cache.c_str(), 0711) == 0);
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(cache)) {
    if (!e.is_regular_file()) continue;
    ++files;
    r = run_as_nobody("head -c 1 " + e.path().string() + " >/dev/null");
    CHECK_MESSAGE(r.status != 0, e.path().string());
    CHECK_MESSAGE(r.output.find("Permission denied") != std::string::npos, r.output);
  }
  CHECK(files >= 2);
  REQUIRE(::chmod(cache.c_str(), 0700) == 0);

  // A RobustMQ application of that user pointed at this cache path gets a clear error.
  const char* producer = std::getenv("ROBUSTMQ_TEST_PRODUCER");
  REQUIRE(producer != nullptr);
  const std::string record = fmt::format("/tmp/robustmq-nobody-{}.rec", ::getpid());
  r = run_as_nobody(fmt::format("{} {} {} {} guarded guarded/other {} sqlite 1", producer,
                                broker.host(), broker.port(), cache.string(), record));
  std::filesystem::remove(record);
  CHECK(r.status == 4);  // connect_async() threw
  CHECK_MESSAGE(r.output.find("belongs to uid 0") != std::string::npos, r.output);
  client.stop();
}
