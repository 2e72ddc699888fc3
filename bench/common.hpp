// Shared parts of the RobustMQ benchmarks: figures (median, min, max of N runs; one JSON line
// each), a counting subscriber that times end-to-end delivery, /proc readers for the worker and
// the Paho baseline child, and the options every RobustMQ client in a benchmark starts from.
//
// Every figure is measured N times in one process; RobustMQ and its Paho baseline run in the same
// program against the same private mosquitto on loopback, so their ratio is what travels between
// machines, not the absolute numbers.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <robustmq/client.hpp>

namespace robustmq::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// --- figures -----------------------------------------------------------------------------------

struct Summary {
  double median = 0, min = 0, max = 0;
  std::size_t runs = 0;
};
Summary summarize(std::vector<double> values);

enum class Better { higher, lower };

// One figure: RobustMQ against its baseline (if any), both summarised over their runs.
struct Figure {
  std::string name;                     // "throughput qos1 w1 256B"
  std::string unit;                     // "msg/s", "us", "B/B", ...
  std::vector<double> robustmq;         // one value per run
  std::vector<double> baseline;         // empty: no baseline
  std::string baseline_name;            // "paho window 1"
  // Target, as text for the table ("ratio >= 0.95", "<= 1 us") and as a check on the numbers.
  std::string target;
  std::optional<double> min_ratio;      // ratio = robustmq / baseline (medians) must be >= this
  std::optional<double> max_ratio;      // ... must be <= this (costs: CPU, bytes)
  std::optional<double> max_value;      // robustmq median must be <= this
  std::optional<double> min_value;      // robustmq median must be >= this
  std::string note;
};

// Prints {"figure":...,"robustmq":...,"baseline":...,"ratio":...,"unit":...,"runs":N,"min":...,
// "max":...,...} on one line starting with "JSON " (run.sh collects those), then keeps the figure
// for print_table().
void report(const Figure& f);
// The figures reported so far by this program, as a human table on stdout.
void print_table(std::string_view title);

// --- the environment -------------------------------------------------------------------------

// The worker built next to this benchmark (meson passes its path), unless $ROBUSTMQ_WORKER is set.
std::filesystem::path worker_path();
// Runs (fast mode, RUNS env var, default 5): how many times each figure is measured.
int runs();
// Scales message counts: BENCH_SCALE env var (default 1.0), at least 1 message.
std::size_t scaled(std::size_t n);
// How long n messages of `bytes` may take end to end before a run counts as failed: 60 s, and
// 1 s per MB on top (Paho alone writes a large PUBLISH at a few MB/s).
std::chrono::milliseconds transfer_timeout(std::size_t n, std::size_t bytes);

// The options a benchmark client starts from: a fresh client id, the given cache directory, the
// built worker, warnings only in the log.
Options client_options(const std::filesystem::path& cache_dir, const std::string& tag);

// A payload of `size` bytes whose first 12 bytes (when they fit) carry run id and sequence number,
// so the subscriber can tell runs apart and see order.
void fill_payload(std::string& p, std::uint32_t run, std::uint64_t seq);

// --- the subscriber ----------------------------------------------------------------------------

// A Paho subscriber on "bench/#" (QoS 2, so every message arrives with the QoS it was published
// with) that only counts: messages of the current run, out-of-order and duplicate ones, and the
// arrival times of the first and the last. Payloads shorter than 12 bytes count as the current
// run with no order check.
class CountingSubscriber {
 public:
  CountingSubscriber(const std::string& host, int port);
  ~CountingSubscriber();
  CountingSubscriber(const CountingSubscriber&) = delete;
  CountingSubscriber& operator=(const CountingSubscriber&) = delete;

  // Starts counting messages of run `run` (older ones are ignored).
  void expect(std::uint32_t run);
  // Waits until `n` messages of the current run arrived; false on timeout.
  bool wait_for(std::uint64_t n, std::chrono::milliseconds timeout);
  std::uint64_t count() const { return count_.load(); }
  std::uint64_t out_of_order() const { return out_of_order_.load(); }
  Clock::time_point first_at() const;
  Clock::time_point last_at() const;

  // Paho's callback (public for the C trampoline).
  void on_message(const void* payload, std::size_t len);

 private:
  void* client_ = nullptr;
  std::atomic<std::uint32_t> run_{0};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> next_seq_{0};
  std::atomic<std::uint64_t> out_of_order_{0};
  std::atomic<std::int64_t> first_ns_{0};
  std::atomic<std::int64_t> last_ns_{0};
  std::atomic<std::uint64_t> target_{UINT64_MAX};  // on_message notifies cv_ on reaching it
  std::mutex mu_;
  std::condition_variable cv_;
};

// --- /proc ---------------------------------------------------------------------------------------

// write_bytes of /proc/<pid>/io: bytes this process caused to be sent to storage.
std::uint64_t proc_write_bytes(pid_t pid);
// A "Vm...:" field of /proc/<pid>/status in KiB (VmRSS, VmHWM).
std::uint64_t proc_status_kib(pid_t pid, std::string_view field);
// Context switches (voluntary + nonvoluntary) of one thread, or of all threads of pid.
std::uint64_t thread_switches(pid_t pid, pid_t tid);
std::uint64_t process_switches(pid_t pid);
int thread_count(pid_t pid);
// The worker of `client`: stats().worker_pid, or (if that is 0) the newest robustmq-worker whose
// parent is this process. Waits up to 2 s for it to appear; 0 if none.
int worker_pid(const RobustClient& client);

// --- child processes for baselines that need their own /proc ------------------------------------

// Runs this program again with `args` (argv[0] = /proc/self/exe), returns the child's stdout.
// Throws if it exits non-zero.
std::string run_self(const std::vector<std::string>& args);
// Starts this program again with `args`, stdout to a pipe; returns pid and the pipe's read end,
// and with `input` the write end of a pipe that is the child's stdin.
struct Child {
  pid_t pid = -1;
  int out = -1;
  int in = -1;
};
Child spawn_self(const std::vector<std::string>& args, bool input = false);
std::string read_line(int fd);   // one line (without '\n') from a child's pipe; "" at EOF
int wait_child(pid_t pid);       // exit status

// A field "key=value" in a line of space-separated fields; 0 if missing.
double field(std::string_view line, std::string_view key);

// A free TCP port on 127.0.0.1 where nobody listens: a broker that is down.
int dead_port();

}  // namespace robustmq::bench
