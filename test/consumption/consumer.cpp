// A consumer of an installed or subproject RobustMQ, built by run_consumption.sh outside the
// RobustMQ build: publishes COUNT sequence numbers, waits until they are delivered, and prints the worker executable it
// got (found with no ROBUSTMQ_WORKER and no Options::worker_path).
//   consumer HOST PORT CACHE_DIR COUNT TOPIC
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <string>

#include <robustmq/client.hpp>

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: consumer HOST PORT CACHE_DIR COUNT TOPIC\n");
    return 1;
  }
  if (std::getenv("ROBUSTMQ_WORKER") != nullptr) {
    std::fprintf(stderr, "consumer: ROBUSTMQ_WORKER is set; this test needs it unset\n");
    return 1;
  }
  robustmq::RobustClient client("consumer", robustmq::CacheType::sqlite, argv[3]);
  try {
    client.connect_async(argv[1], std::atoi(argv[2]));
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "consumer: connect_async: %s\n", e.what());
    return 2;
  }
  // Publishing at once would be fine; waiting for the broker makes the messages go out live.
  for (int i = 0; i < 100 && client.stats().state != robustmq::ConnectionState::connected; ++i)
    ::usleep(100'000);
  const long count = std::atol(argv[4]);
  for (long i = 0; i < count; ++i) {
    if (auto ec = client.publish(argv[5], std::to_string(i), 1)) {
      std::fprintf(stderr, "consumer: publish %ld: %s\n", i, ec.message().c_str());
      return 3;
    }
  }
  // Delivered: the broker acknowledged every message.
  if (auto ec = client.wait_delivered(std::chrono::minutes(2))) {
    std::fprintf(stderr, "consumer: not delivered: %s\n", ec.message().c_str());
    return 4;
  }
  // The worker is the process that holds the cache directory's worker lock open: found
  // independently of stats().worker_pid, so that the check does not rest on what it checks.
  std::string worker = "?";
  const std::string lock = std::string(realpath(argv[3], nullptr)) + "/robustmq.worker.lock";
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const int pid = std::atoi(e.path().filename().c_str());
    if (pid <= 0 || pid == ::getpid()) continue;  // "self", and ourselves
    bool holds = false;
    std::error_code ec;
    for (const auto& fd : std::filesystem::directory_iterator(e.path() / "fd", ec)) {
      char target[PATH_MAX] = {};
      if (::readlink(fd.path().c_str(), target, sizeof target - 1) > 0 && lock == target)
        holds = true;
    }
    if (!holds) continue;
    char exe[PATH_MAX] = {};
    const std::string link = e.path().string() + "/exe";
    if (::readlink(link.c_str(), exe, sizeof exe - 1) > 0 &&
        std::string_view(exe).ends_with("/robustmq-worker"))
      worker = exe;
  }
  std::printf("worker %s\n", worker.c_str());
  client.stop();
  return 0;
}
