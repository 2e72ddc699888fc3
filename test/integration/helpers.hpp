// Shared pieces of the integration tests: a private broker, a subscriber, a client whose cache
// lives in a fresh directory, and the waits for a condition (tests never sleep for one).
#pragma once

#include <sys/types.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include <robustmq/client.hpp>

#include <testkit/mosquitto.hpp>
#include <testkit/sequence.hpp>
#include <testkit/subscriber.hpp>
#include <testkit/temp_dir.hpp>

namespace robustmq::test {

using namespace std::chrono_literals;

// ROBUSTMQ_TEST_SCALE (default 1): the sanitizer stage of scripts/test.sh runs the integration
// tests with 0.2 — the same cases and code paths with fewer rounds and smaller payloads, since
// there it hunts memory errors, not rare interleavings. scaled(n, least) is n times the scale,
// at least `least`.
inline double test_scale() {
  const char* s = std::getenv("ROBUSTMQ_TEST_SCALE");
  const double v = s != nullptr ? std::strtod(s, nullptr) : 1.0;
  return v > 0 && v <= 1 ? v : 1.0;
}
template <typename T>
T scaled(T n, T least) {
  return std::max(least, static_cast<T>(static_cast<double>(n) * test_scale()));
}

// AddressSanitizer's shadow memory and quarantine make a process's RSS meaningless as a figure.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif

inline Options client_options(const std::filesystem::path& cache, std::string id = "it-client",
                              CacheType type = CacheType::sqlite) {
  Options o;
  o.client_id = std::move(id);
  o.cache_type = type;
  o.cache_path = cache;
  o.reconnect_min = 50ms;
  o.reconnect_max = 500ms;
  o.keepalive = 5s;
  o.connect_timeout = 2s;
  return o;
}

// Publishes sequence numbers [from, to) on topic, retrying queue_full; returns the first error
// that is not queue_full, or {}.
inline std::error_code publish_range(RobustClient& c, const std::string& topic,
                                     std::uint64_t from, std::uint64_t to, int qos = 1,
                                     std::size_t size = 0) {
  for (std::uint64_t i = from; i < to; ++i) {
    auto ec = c.publish(topic, testkit::sequence_payload(i, size), qos);
    if (ec) return ec;
  }
  return {};
}

inline bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

// A client's figures, for the message of a failed check.
inline std::string describe(const Stats& s) {
  return "state " + std::string(to_string(s.state)) + ", published " +
         std::to_string(s.published) + ", sent " + std::to_string(s.sent) + ", acked " +
         std::to_string(s.acknowledged) + ", cached " + std::to_string(s.cached) +
         ", cache backlog " + std::to_string(s.cache_backlog) + ", refused " +
         std::to_string(s.refused) + ", refused for now " + std::to_string(s.refused_for_now) +
         ", connect attempts " + std::to_string(s.connect_attempts) + ", reconnects " +
         std::to_string(s.reconnects) + ", last error: " + s.last_error;
}

// What connect_async() with these options throws: its errno value and message; {0, ""} if it
// connected.
inline std::pair<int, std::string> connect_failure(const Options& o) {
  RobustClient client(o);
  try {
    if (o.servers.empty()) client.connect_async("127.0.0.1", 1);
    else client.connect_async();
  } catch (const std::system_error& e) {
    return {e.code().value(), e.what()};
  }
  return {0, ""};
}

// Sets `user`'s password in a mosquitto password file (created if missing) with
// mosquitto_passwd; a running broker reads it again on SIGHUP or at its next start.
inline void set_broker_password(const std::string& passwd_file, const std::string& user,
                                const std::string& password, bool create) {
  const std::string command = "mosquitto_passwd -b " + std::string(create ? "-c " : "") +
                              passwd_file + " " + user + " '" + password + "' >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

// Evaluates `pred` every `poll` until it holds; false if it still does not after `timeout`.
template <typename Pred>
bool wait_until(Pred&& pred, std::chrono::milliseconds timeout,
                std::chrono::steady_clock::duration poll = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

// Waits until the subscriber has received `count` distinct messages (topic and payload). Not
// Subscriber::wait_for(count): a message re-sent after a reconnect arrives twice, and `count`
// arrivals are then not `count` messages.
inline bool wait_distinct(const testkit::Subscriber& sub, std::size_t count,
                          std::chrono::milliseconds timeout) {
  return wait_until([&] {
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& m : sub.messages()) seen.emplace(m.topic, m.payload);
    return seen.size() >= count;
  }, timeout);
}

inline bool wait_connected(const RobustClient& c, std::chrono::milliseconds timeout) {
  return wait_until([&] { return c.stats().state == ConnectionState::connected; }, timeout);
}

// Waits until the broker acknowledged at least n messages.
inline bool wait_acknowledged(const RobustClient& c, std::uint64_t n,
                              std::chrono::milliseconds timeout) {
  return wait_until([&] { return c.stats().acknowledged >= n; }, timeout);
}

// waitpid() for a child, retried on EINTR; returns its wait status.
inline int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// True while `pid` runs the robustmq-worker executable ($ROBUSTMQ_WORKER): its command name
// (which execve sets to the executable's name, cut to 15 characters) is the worker's, and it is
// no zombie. The processes that hold the worker's descriptors on the way to it (the
// intermediate child of the spawn's fork + fork, the worker-to-be before its execve) still
// carry the host's name. /proc/PID/stat, unlike /proc/PID/exe, is readable without privileges
// for the worker, which makes itself undumpable.
inline bool runs_worker(pid_t pid) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read only; meson sets it before the test starts
  const char* exe = std::getenv("ROBUSTMQ_WORKER");
  if (pid <= 0 || exe == nullptr) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  // "PID (COMM) STATE ...": COMM may hold spaces and parentheses; the last ')' ends it.
  const auto open = stat.find('(');
  const auto close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= stat.size())
    return false;
  const std::string comm = stat.substr(open + 1, close - open - 1);
  const char state = stat[close + 2];
  return state != 'Z' && state != 'X' &&
         comm == std::filesystem::path(exe).filename().string().substr(0, 15);
}

// The client's worker: the pid the worker itself stored in the shared segment
// (stats().worker_pid), once that process runs the worker executable; -1 if no worker does
// within `timeout` (one died and its successor has not started yet). A restart takes up to the
// worker's start timeout (15 s) plus the monitor's backoff on a loaded machine.
inline pid_t worker_of(const RobustClient& c, std::chrono::milliseconds timeout = 30s) {
  pid_t pid = -1;
  const bool found = wait_until(
      [&] {
        pid = static_cast<pid_t>(c.stats().worker_pid);
        return runs_worker(pid);
      },
      timeout);
  return found ? pid : -1;
}

// Waits until a worker other than `old` runs for the client (the successor of a killed one);
// returns its pid, or -1 after `timeout`.
inline pid_t wait_successor(const RobustClient& c, pid_t old,
                            std::chrono::milliseconds timeout = 30s) {
  pid_t pid = -1;
  const bool found = wait_until(
      [&] {
        pid = static_cast<pid_t>(c.stats().worker_pid);
        return pid != old && runs_worker(pid);
      },
      timeout);
  return found ? pid : -1;
}

// The wait status of the child `pid` once it has exited, reaped; nothing if it still runs after
// `timeout`.
inline std::optional<int> wait_child_exit(pid_t pid, std::chrono::milliseconds timeout) {
  int status = 0;
  pid_t waited = 0;
  wait_until([&] { return (waited = ::waitpid(pid, &status, WNOHANG)) != 0; }, timeout, 50ms);
  if (waited != pid) return std::nullopt;
  return status;
}

// Waits until the subscriber has seen every sequence number 0..count-1 in order (duplicates of
// re-sent messages allowed). Returns "" on success, else the last problem check_in_order found.
inline std::string wait_in_order(const testkit::Subscriber& sub, std::uint64_t count,
                                 std::chrono::milliseconds timeout) {
  std::string problem;
  wait_until(
      [&] {
        if (sub.count() < count) {
          problem = "received " + std::to_string(sub.count()) + " of " + std::to_string(count);
          return false;
        }
        problem = testkit::check_in_order(testkit::sequences(sub.messages()), count);
        return problem.empty();
      },
      timeout, 50ms);
  return problem;
}

}  // namespace robustmq::test
