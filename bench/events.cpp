// What delivery events cost: CPU time of the application and its worker per message, at the
// highest live rate (QoS 1, 256 B, max_inflight 32, publish() as fast as the ring takes it),
// with a delivered and a dropped handler set against none. Each variant runs in a process of
// its own (this program again), so that its CPU time (getrusage, every thread) is its own; the
// worker's is read from /proc/<pid>/stat. Target: with handlers at most 5 % more CPU in all.
// The raw Paho row (the same messages through MQTTAsync with 32 in flight) is for scale.
//
//   robustmq-bench-events
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
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

double own_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// utime + stime of a process, every thread, in seconds (clock ticks: 10 ms resolution).
double process_cpu_seconds(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto close = all.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream rest(all.substr(close + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) rest >> skip;  // fields 3..13
  unsigned long long utime = 0, stime = 0;
  rest >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The child: one client, `n` messages, prints "cpu_us=<per message> delivered=<reported>".
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
  const double c0 = own_cpu_seconds();
  const double w0 = process_cpu_seconds(worker);
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
  const double cpu = own_cpu_seconds() - c0 + process_cpu_seconds(worker) - w0;
  client.stop();
  fmt::print("cpu_us={:.4f} delivered={} expected={}\n", cpu * 1e6 / static_cast<double>(n),
             reported.load(), client.delivered_through() - before);
  return 0;
}

double run_child(int port, const testkit::TempDir& tmp, std::size_t n, bool handlers, int run) {
  const std::string dir = (tmp.path() / fmt::format("{}-{}", handlers ? "on" : "off", run)).string();
  const std::string out = run_self({"--child", std::to_string(port), dir, std::to_string(n),
                                    handlers ? "1" : "0"});
  if (handlers && field(out, "delivered") != field(out, "expected"))
    throw std::runtime_error("the handlers did not see every message: " + out);
  return field(out, "cpu_us");
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

  std::vector<double> off, on, paho;
  PahoOptions po;
  po.host = broker.host();
  po.port = broker.port();
  po.max_inflight = kInflight;
  for (int r = 0; r < nruns; ++r) {
    // Alternating, so that a slow phase of a shared machine hurts both.
    off.push_back(run_child(broker.port(), tmp, n, false, r));
    on.push_back(run_child(broker.port(), tmp, n, true, r));
    PahoClient client(po);
    const double c0 = own_cpu_seconds();
    if (!client.publish_window(n, 256, 1, kInflight, static_cast<std::uint32_t>(300 + r)))
      throw std::runtime_error("the Paho baseline failed");
    paho.push_back((own_cpu_seconds() - c0) * 1e6 / static_cast<double>(n));
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
