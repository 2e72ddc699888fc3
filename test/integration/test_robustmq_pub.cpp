// robustmq-pub: exit codes, and the reliability of the library through a SIGKILL during -l.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "pub_tool.hpp"

using namespace robustmq;
using namespace robustmq::test;

TEST_CASE("robustmq-pub exits 1 on usage errors and prints help") {
  CHECK(run({"-t", "x"}) == 1);                        // no -i
  CHECK(run({"-i", "x", "-m", "y"}) == 1);             // no -t
  CHECK(run({"-i", "x", "-t", "y"}) == 1);             // no message
  CHECK(run({"-i", "x", "-t", "y", "-m", "a", "-l"}) == 1);
  CHECK(run({"-i", "x", "-t", "y", "-m", "a", "-q", "3"}) == 1);
  CHECK(run({"--help"}) == 0);
  CHECK(run({"--version"}) == 0);
}

TEST_CASE("robustmq-pub -m and -l deliver and exit 0; an invalid topic exits 3") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "pub/ok/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const std::string cache = (dir / "cache").string();
  auto a = base_args(broker, cache, "pub/ok/seq");
  a.insert(a.end(), {"-m", "0"});
  CHECK(run(a) == 0);
  auto l = base_args(broker, cache, "pub/ok/seq");
  l.push_back("-l");
  CHECK(run(l, lines(1, 500)) == 0);
  CHECK(wait_in_order(sub, 500, 30s) == "");
  auto bad = base_args(broker, cache, "pub/ok/+");
  bad.insert(bad.end(), {"-m", "x"});
  CHECK(run(bad) == 3);
  // --tls-version takes mosquitto's spellings; another is a setup error (connect_async()).
  auto version = base_args(broker, cache, "pub/ok/seq");
  version.insert(version.end(), {"--tls-version", "tls1.3", "-m", "x"});
  CHECK(run(version) == 2);
}

TEST_CASE("robustmq-pub exits 4 when the broker is away, and --drain delivers the rest later") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "pub/away/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const std::string cache = (dir / "cache").string();
  broker.stop();
  auto l = base_args(broker, cache, "pub/away/seq");
  l[l.size() - 1] = "1";  // --timeout 1
  l.push_back("-l");
  CHECK(run(l, lines(0, 200)) == 4);
  broker.start();
  REQUIRE(sub.wait_subscribed(10s, sub.subscribe_count() + 1));
  auto d = base_args(broker, cache, "");
  d.erase(d.begin() + 4, d.begin() + 6);  // no -t
  d.push_back("--drain");
  CHECK(run(d) == 0);
  CHECK(wait_in_order(sub, 200, 30s) == "");
}

TEST_CASE("robustmq-pub killed with SIGKILL during -l: a re-run with the same -i and cache "
          "delivers the rest") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "pub/kill/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const std::string cache = (dir / "cache").string();
  constexpr std::uint64_t kTotal = 3000;
  auto l = base_args(broker, cache, "pub/kill/seq");
  l.insert(l.end(), {"-l", "--progress"});

  Run r = start(l);
  // Feed lines in small bursts and read the "queued N" lines until about half is queued.
  std::uint64_t fed = 0, queued = 0;
  std::string pending;
  while (queued < kTotal / 2) {
    if (fed < kTotal) {
      const std::string s = lines(fed, std::min(fed + 50, kTotal));
      REQUIRE(::write(r.in, s.data(), s.size()) == ssize_t(s.size()));
      fed = std::min(fed + 50, kTotal);
    }
    pollfd p{r.out, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char buf[4096];
      const ssize_t n = ::read(r.out, buf, sizeof buf);
      REQUIRE(n > 0);
      pending.append(buf, static_cast<std::size_t>(n));
      for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
        const std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (line.rfind("queued ", 0) == 0) queued = std::stoull(line.substr(7));
      }
    }
  }
  ::kill(r.pid, SIGKILL);
  CHECK(wait_exit(r.pid) == 128 + SIGKILL);
  // What it printed before it died: every "queued N" line is a message in shared memory.
  char buf[4096];
  ssize_t n;
  while ((n = ::read(r.out, buf, sizeof buf)) > 0) pending.append(buf, static_cast<std::size_t>(n));
  for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
    const std::string line = pending.substr(0, nl);
    pending.erase(0, nl + 1);
    if (line.rfind("queued ", 0) == 0) queued = std::stoull(line.substr(7));
  }
  ::close(r.in);
  ::close(r.out);
  MESSAGE("killed after " << queued << " queued messages, " << fed << " lines fed");

  // Line i is message i: the re-run gets every line from the first not known to be queued.
  auto again = base_args(broker, cache, "pub/kill/seq");
  again.push_back("-l");
  CHECK(run(again, lines(queued, kTotal)) == 0);
  CHECK(wait_in_order(sub, kTotal, 30s) == "");
}

TEST_CASE("robustmq-pub --hand-off returns once queued; its worker delivers after the broker "
          "comes back, and the next run takes over from it") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "pub/hand/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const std::string cache = (dir / "cache").string();
  broker.stop();
  auto l = base_args(broker, cache, "pub/hand/seq");
  l.insert(l.end(), {"-l", "--hand-off"});
  // Exit 0 with the broker away: queued and handed to the worker, which stays behind without
  // holding robustmq-pub's output: a script reading it (stderr too) gets EOF at once.
  Run r = start(l, true);
  const std::string input = lines(0, 500);
  REQUIRE(::write(r.in, input.data(), input.size()) == ssize_t(input.size()));
  ::close(r.in);
  CHECK(wait_exit(r.pid) == 0);
  bool eof = false;
  std::string output;
  for (int i = 0; i < 600 && !eof; ++i) {  // up to 60 s
    pollfd p{r.out, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(r.out, buf, sizeof buf);
    if (n > 0) output.append(buf, static_cast<std::size_t>(n));
    eof = n == 0;
  }
  ::close(r.out);
  CHECK_MESSAGE(eof, "the output pipe stayed open after robustmq-pub exited: ", output);
  // A second run while that worker still waits for the broker: it takes over (no EBUSY) and
  // hands off in its turn.
  CHECK(run(l, lines(500, 1000)) == 0);
  broker.start();
  REQUIRE(sub.wait_subscribed(10s, sub.subscribe_count() + 1));
  CHECK(wait_in_order(sub, 1000, 60s) == "");
}

TEST_CASE("robustmq-pub exits 5 soon after the broker refuses its password, not after "
          "--timeout; the messages wait in the cache for a run with the right password "
          "(--pw-file)") {
  testkit::TempDir auth;
  const std::string passwd = (auth / "passwd").string();
  set_broker_password(passwd, "device-7", "correct horse", true);
  testkit::Mosquitto broker(testkit::MosquittoOptions{.extra_config = {"password_file " + passwd}});
  testkit::Subscriber sub(broker.host(), broker.port(), "pub/refused/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const std::string cache = (dir / "cache").string();
  auto l = base_args(broker, cache, "pub/refused/seq");  // --timeout 30
  l.insert(l.end(), {"-u", "device-7", "-P", "wrong", "-l"});
  const auto start = std::chrono::steady_clock::now();
  CHECK(run(l, lines(0, 100)) == 5);
  const auto took = std::chrono::steady_clock::now() - start;
  MESSAGE("robustmq-pub exited after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  // About a second on a quiet machine; the bound leaves room for a loaded one and is still far
  // below --timeout (30 s), which it used to wait out.
  CHECK(took < 10s);
  CHECK(sub.count() == 0);
  // The right password, from a file (--pw-file, read before each connection attempt).
  const auto pw_file = (dir / "pw").string();
  std::ofstream(pw_file) << "correct horse\n";
  auto d = base_args(broker, cache, "");
  d.erase(d.begin() + 4, d.begin() + 6);  // no -t
  d.insert(d.end(), {"-u", "device-7", "--drain"});
  auto both = d;
  both.insert(both.end(), {"-P", "x", "--pw-file", pw_file});
  CHECK(run(both) == 1);  // usage error: one of them
  auto missing = d;
  missing.insert(missing.end(), {"--pw-file", (dir / "missing").string()});
  CHECK(run(missing) == 2);  // setup error, nothing published
  d.insert(d.end(), {"--pw-file", pw_file});
  CHECK(run(d) == 0);
  CHECK(wait_in_order(sub, 100, 30s) == "");
}
