// examples/daemon.cpp as systemd runs it: it publishes a reading a second until SIGTERM, then
// waits for delivery and stops. Every reading it published arrives, in order, and it exits 0.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include <fstream>

#include <string>
#include <vector>

#include "helpers.hpp"

extern char** environ;

using namespace robustmq;
using namespace robustmq::test;

TEST_CASE("the daemon example publishes until SIGTERM, then delivers what it published and "
          "exits 0") {
  const char* exe = std::getenv("ROBUSTMQ_DAEMON_EXAMPLE");
  REQUIRE_MESSAGE(exe != nullptr, "ROBUSTMQ_DAEMON_EXAMPLE is not set");
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "dt/daemon/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  std::vector<std::string> args = {exe, "daemon-7", (dir / "cache").string(),
                                   "tcp://127.0.0.1:" + std::to_string(broker.port())};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto out = dir / "stdout";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  REQUIRE(::posix_spawn(&pid, exe, &fa, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  const bool three = wait_until([&] { return sub.count() >= 3; }, 60s);
  ::kill(pid, SIGTERM);
  const auto status = wait_child_exit(pid, 60s);
  REQUIRE(three);
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  // It says how many it published; readings {"n":0} .. {"n":N-1} arrive, in order (a re-sent
  // duplicate allowed), the last ones acknowledged before it exited.
  std::ifstream in(out);
  std::string word;
  long published = 0;
  in >> word >> published;
  REQUIRE(word == "published");
  CHECK(published >= 3);
  long expect = 0;
  std::string problem;
  wait_until([&] {
    expect = 0;
    for (const auto& m : sub.messages()) {
      const long n = std::stol(m.payload.substr(5));
      if (m.topic != "dt/daemon/daemon-7" || (n != expect && n != expect - 1)) {
        problem = "unexpected " + m.topic + " " + m.payload + " after " + std::to_string(expect);
        return true;
      }
      expect = n + 1;
    }
    return expect >= published;
  }, 30s);
  CHECK_MESSAGE(problem.empty(), problem);
  CHECK(expect == published);
}
