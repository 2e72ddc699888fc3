// Running robustmq-pub from an integration test (the real tool, ROBUSTMQ_PUB): with pipes for
// stdin and stdout, to its end, and the arguments of a run against a test broker.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "helpers.hpp"

extern char** environ;

namespace robustmq::test {

struct Run {
  pid_t pid = -1;
  int in = -1;   // its stdin (write end)
  int out = -1;  // its stdout (read end)
};

inline const char* pub_exe() {
  const char* exe = std::getenv("ROBUSTMQ_PUB");
  REQUIRE_MESSAGE(exe != nullptr, "ROBUSTMQ_PUB is not set");
  return exe;
}

// Starts robustmq-pub with pipes for stdin and stdout (and stderr, into the same pipe, as
// `2>&1` or $(...) of a script that keeps both).
inline Run start(std::vector<std::string> args, bool with_stderr = false) {
  int in[2], out[2];
  REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  if (with_stderr) posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  args.insert(args.begin(), pub_exe());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Run r;
  REQUIRE(::posix_spawn(&r.pid, argv[0], &fa, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  r.in = in[1];
  r.out = out[0];
  return r;
}

// The exit code of the child `pid`, as a shell reports it (128 + the signal that killed it).
inline int wait_exit(pid_t pid) {
  const int status = reap(pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs robustmq-pub to the end with `input` on stdin; returns its exit code.
inline int run(std::vector<std::string> args, const std::string& input = "") {
  Run r = start(std::move(args));
  if (!input.empty()) REQUIRE(::write(r.in, input.data(), input.size()) == ssize_t(input.size()));
  ::close(r.in);
  char buf[4096];
  while (::read(r.out, buf, sizeof buf) > 0) {
  }
  ::close(r.out);
  return wait_exit(r.pid);
}

// -h HOST -p PORT -t TOPIC -i pub-test --cache-dir CACHE --timeout 30
inline std::vector<std::string> base_args(const std::string& host, int port,
                                          const std::string& cache, const std::string& topic) {
  return {"-h", host, "-p", std::to_string(port), "-t", topic, "-i", "pub-test",
          "--cache-dir", cache, "--timeout", "30"};
}

inline std::vector<std::string> base_args(const testkit::Mosquitto& broker, const std::string& cache,
                                   const std::string& topic) {
  return base_args(broker.host(), broker.port(), cache, topic);
}

// `a` followed by `more`.
inline std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

inline std::string lines(std::uint64_t from, std::uint64_t to) {
  std::string s;
  for (auto i = from; i < to; ++i) s += std::to_string(i) + "\n";
  return s;
}

// Runs robustmq-pub to the end; returns its exit code and what it wrote on stdout and stderr.
inline std::pair<int, std::string> run_output(std::vector<std::string> args) {
  Run r = start(std::move(args), true);
  ::close(r.in);
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(r.out, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(r.out);
  return {wait_exit(r.pid), out};
}

}  // namespace robustmq::test
