// examples/daemon.cpp as systemd runs it: it publishes a reading a second until SIGTERM, then
// waits for delivery and stops. Every reading it published arrives, in order, and it exits 0.
#include <doctest/doctest.h>

#include <signal.h>
#include <spawn.h>

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
  pid_t pid = -1;
  REQUIRE(::posix_spawn(&pid, exe, nullptr, nullptr, argv.data(), environ) == 0);
  const bool three = wait_until([&] { return sub.count() >= 3; }, 60s);
  ::kill(pid, SIGTERM);
  const auto status = wait_child_exit(pid, 60s);
  REQUIRE(three);
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  // Readings {"n":0}, {"n":1}, ... each once at least, in order, none missing up to the last.
  const auto got = sub.messages();
  std::vector<long> numbers;
  for (const auto& m : got) {
    CHECK(m.topic == "dt/daemon/daemon-7");
    numbers.push_back(std::stol(m.payload.substr(5)));
  }
  long expect = 0;
  for (long n : numbers) {
    if (n == expect - 1) continue;  // a re-sent duplicate
    CHECK(n == expect);
    expect = n + 1;
  }
  CHECK(expect >= 3);
}
