// What delivery events cost: CPU time of the application and its worker per message, at the
// highest live rate (QoS 1, 256 B, max_inflight 32, publish() as fast as the ring takes it),
// with a delivered and a dropped handler set against none. Each variant runs in a process of
// its own (this program again), so that its CPU time is its own: the process CPU clocks of the
// child and of its worker (clock_getcpuclockid, nanoseconds, every thread). Target: with
// handlers at most 5 % more CPU in all.
//
// Two processes sharing two cores make the totals of single runs swing by more than 5 % either
// way, so a second row measures the added work directly: the CPU time of the event thread
// itself ("robustmq-events", /proc/self/task/<tid>/schedstat) per message, as a share of the
// total without handlers. The handlers never wake the worker (events.cpp), so that thread is
// the whole of what they add. The raw Paho row (the same messages through MQTTAsync with 32 in
// flight) is for scale.
//
//   robustmq-bench-events
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "common.hpp"
#include "paho_baseline.hpp"
#include "testkit/mosquitto.hpp"
#include "testkit/temp_dir.hpp"

using namespace robustmq;
using namespace robustmq::bench;

namespace {

constexpr std::size_t kInflight = 32;

// CPU time of a whole process (every thread) in seconds, nanosecond resolution; pid 0: this one.
double process_cpu_seconds(pid_t pid) {
  clockid_t clock = CLOCK_PROCESS_CPUTIME_ID;
  if (pid != 0 && ::clock_getcpuclockid(pid, &clock) != 0)
    throw std::runtime_error(fmt::format("no CPU clock for process {}", pid));
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// CPU time in seconds of this process's thread named `name` (0 when there is none): the first
// field of its schedstat, nanoseconds on a CPU.
double thread_cpu_seconds(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string c;
    std::getline(comm, c);
    if (c != name) continue;
    std::ifstream stat(task.path() / "schedstat");
    unsigned long long ns = 0;
    stat >> ns;
    return static_cast<double>(ns) / 1e9;
  }
  return 0;
}

// The child: one client, `n` messages, prints "cpu_us=<per message> events_us=<the event
// thread's share> delivered=<reported> expected=<numbers delivered>".
int child(int port, const std::string& dir, std::size_t n, bool handlers) {
  Options o = client_options(dir, handlers ? "ev-on" : "ev-off");
  o.max_inflight = kInflight;
  o.ring_bytes = 64u << 20;
  RobustClient client(o);
  std::atomic<std::uint64_t> reported{0};
  if (handlers) {
    client.set_delivered_handler([&](std::uint64_t first, std::uint64_t last) {
      reported.fetch_add(last - first + 1, std::memory_order_relaxed);
    });
    client.set_dropped_handler([&](const DroppedRange& r) {
      reported.fetch_add(r.last - r.first + 1, std::memory_order_relaxed);
    });
  }
  client.connect_async("127.0.0.1", port);
  if (client.wait_delivered(std::chrono::seconds(30))) return 3;
  const int worker = worker_pid(client);
  const std::uint64_t before = client.delivered_through();
  std::string payload(256, 'x');
  const double c0 = process_cpu_seconds(0);
  const double w0 = process_cpu_seconds(worker);
  const double e0 = thread_cpu_seconds("robustmq-events");
  for (std::size_t i = 0; i < n; ++i) {
    fill_payload(payload, 7, i);
    if (auto ec = client.publish("bench/events", payload, 1)) {
      fmt::print(stderr, "publish: {}\n", ec.message());
      return 4;
    }
  }
  if (auto ec = client.wait_delivered(std::chrono::seconds(300))) {
    fmt::print(stderr, "wait_delivered: {}\n", ec.message());
    return 5;
  }
  const double cpu = process_cpu_seconds(0) - c0 + process_cpu_seconds(worker) - w0;
  const double events = thread_cpu_seconds("robustmq-events") - e0;
  if (handlers && events <= 0) {
    fmt::print(stderr, "no thread named robustmq-events ran\n");
    return 6;
  }
  client.stop();
  const auto per_message = [n](double seconds) { return seconds * 1e6 / static_cast<double>(n); };
  fmt::print("cpu_us={:.4f} events_us={:.4f} delivered={} expected={}\n", per_message(cpu),
             per_message(events), reported.load(), client.delivered_through() - before);
  return 0;
}

struct ChildFigures {
  double cpu_us;     // client + worker, per message
  double events_us;  // the event thread alone, per message
};

ChildFigures run_child(int port, const testkit::TempDir& tmp, std::size_t n, bool handlers,
                       int run) {
  const std::string dir = (tmp.path() / fmt::format("{}-{}", handlers ? "on" : "off", run)).string();
  const std::string out = run_self({"--child", std::to_string(port), dir, std::to_string(n),
                                    handlers ? "1" : "0"});
  if (handlers && field(out, "delivered") != field(out, "expected"))
    throw std::runtime_error("the handlers did not see every message: " + out);
  return {field(out, "cpu_us"), field(out, "events_us")};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "--child")
    return child(std::stoi(argv[2]), argv[3], std::stoul(argv[4]), std::string(argv[5]) == "1");

  testkit::MosquittoOptions mo;
  mo.persistence = false;
  testkit::Mosquitto broker(mo);
  testkit::TempDir tmp("robustmq-bench-");
  const std::size_t n = scaled(200'000);
  const int nruns = runs();

  std::vector<double> off, on, events_share, paho;
  PahoOptions po;
  po.host = broker.host();
  po.port = broker.port();
  po.max_inflight = kInflight;
  for (int r = 0; r < nruns; ++r) {
    // Alternating, so that a slow phase of a shared machine hurts both.
    off.push_back(run_child(broker.port(), tmp, n, false, r).cpu_us);
    const ChildFigures with = run_child(broker.port(), tmp, n, true, r);
    on.push_back(with.cpu_us);
    events_share.push_back(with.events_us / off.back());
    PahoClient client(po);
    const double c0 = process_cpu_seconds(0);
    if (!client.publish_window(n, 256, 1, kInflight, static_cast<std::uint32_t>(300 + r)))
      throw std::runtime_error("the Paho baseline failed");
    paho.push_back((process_cpu_seconds(0) - c0) * 1e6 / static_cast<double>(n));
  }
  Figure f;
  f.name = "CPU per message with delivered and dropped handlers (client + worker)";
  f.unit = "us";
  f.robustmq = on;
  f.baseline = off;
  f.baseline_name = "the same without handlers";
  f.target = "<= 1.05x without";
  f.max_ratio = 1.05;
  f.note = fmt::format("{} messages per run, QoS 1, 256 B, max_inflight {}, sqlite cache", n,
                       kInflight);
  report(f);
  Figure e;
  e.name = "CPU of the event thread per message, as a share of the total without handlers";
  e.unit = "share";
  e.robustmq = events_share;
  e.target = "<= 0.05";
  e.max_value = 0.05;
  e.note = "the added work measured directly: the handlers never wake the worker";
  report(e);
  Figure p;
  p.name = "CPU per message without handlers (client + worker) vs raw Paho";
  p.unit = "us";
  p.robustmq = off;
  p.baseline = paho;
  p.baseline_name = "MQTTAsync, 32 in flight, persistence none (this process)";
  p.note = "for scale: Paho's figure has no worker process and no ring";
  report(p);
  print_table("delivery events: CPU per message (lower is better; ratio = robustmq / baseline)");
  return 0;
}
