// Live throughput, end to end: messages/s from the first publish until a subscriber on the same
// private mosquitto has seen the last one, for QoS 0/1/2, windows 1 and 32 and payloads of
// 16 B .. 256 KiB; and MB/s for large payloads, 16 MiB and 200 MiB (the large-message path, QoS 1
// window 1). RobustMQ: publish() the whole burst, then wait for the subscriber. Baseline: Paho
// MQTTAsync with the same number in flight, each onSuccess sending the next message, in a process
// of its own (this program again, --paho-child): Paho's sockets share one I/O thread per process,
// and the subscriber's traffic here would wake it more often than a publisher alone gets.
//
//   robustmq-bench-throughput [--quick|--large]  (--quick: QoS 1, 256 B only; --large: the large
//                                                 rows only)
//   BENCH_QOS=0,2 BENCH_WINDOWS=32 BENCH_SIZES=4096 robustmq-bench-throughput   (a subset)
//   BENCH_LARGE_SIZES=16777216 robustmq-bench-throughput --large   (large rows: 16 MiB, 200 MiB;
//                                                   BENCH_LARGE_SIZES=none: no large rows)
//   BENCH_ONLY=robustmq or BENCH_ONLY=paho: measure one side only (for profiling)
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "common.hpp"
#include "paho_baseline.hpp"
#include "testkit/mosquitto.hpp"
#include "testkit/temp_dir.hpp"

using namespace robustmq;
using namespace robustmq::bench;

namespace {

// Messages per run: a fraction of a second each on a 2-core VM (the whole program ~3 min).
std::size_t messages_for(std::size_t window, std::size_t payload) {
  if (payload >= (64u << 20)) return scaled(1);
  if (payload >= (1u << 20)) return scaled(4);
  if (payload >= std::size_t{256} * 1024) return scaled(window == 1 ? 60 : 120);
  if (payload >= 4096) return scaled(window == 1 ? 1000 : 4000);
  return scaled(window == 1 ? 1000 : 10000);
}

std::string size_name(std::size_t b) {
  if (b >= (1u << 20)) return fmt::format("{}MiB", b >> 20);
  if (b >= 1024) return fmt::format("{}KiB", b / 1024);
  return fmt::format("{}B", b);
}

std::uint32_t g_run = 1;

// A comma-separated list from the environment (BENCH_QOS, BENCH_WINDOWS, BENCH_SIZES), or `all`.
template <typename T>
std::vector<T> env_list(const char* name, std::vector<T> all) {
  const char* e = std::getenv(name);
  if (e == nullptr || *e == '\0') return all;
  std::vector<T> out;
  for (const char* p = e; *p != '\0';) {
    char* end = nullptr;
    const auto v = std::strtoull(p, &end, 10);
    if (end == p) break;
    out.push_back(static_cast<T>(v));
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

// Diagnostic variants (run.sh runs them with --quick): BENCH_CACHE=file, BENCH_THRESHOLD=n.
std::string variant() {
  std::string v;
  if (const char* c = std::getenv("BENCH_CACHE"); c && *c) v += fmt::format(" cache={}", c);
  if (const char* t = std::getenv("BENCH_THRESHOLD"); t && *t) v += fmt::format(" threshold={}", t);
  return v;
}

// One RobustMQ run; returns msg/s or 0 if the subscriber did not see everything.
double robustmq_run(RobustClient& client, CountingSubscriber& sub, std::size_t n,
                    std::size_t payload_bytes, int qos) {
  const std::uint32_t run = ++g_run;
  sub.expect(run);
  std::string payload(payload_bytes, 'x');
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    fill_payload(payload, run, i);
    while (auto ec = client.publish("bench/rmq", payload, qos)) {
      if (ec != errc::queue_full) throw std::system_error(ec, "publish");
    }
  }
  if (!sub.wait_for(n, transfer_timeout(n, payload_bytes))) {
    fmt::print(stderr, "robustmq: subscriber saw {} of {}\n", sub.count(), n);
    return 0;
  }
  if (sub.out_of_order() != 0) fmt::print(stderr, "robustmq: {} out of order\n", sub.out_of_order());
  return static_cast<double>(n) / seconds_between(t0, sub.last_at());
}

// The Paho baseline in a child process: `--paho-child host port qos window size max_inflight`
// connects, says "ready", then publishes a run for each line "<run> <n>" on its stdin and answers
// "ok" or "failed".
int paho_child(char** argv) {
  const auto number = [](const char* text) { return std::strtoull(text, nullptr, 10); };
  PahoOptions po;
  po.host = argv[2];
  po.port = static_cast<int>(number(argv[3]));
  const int qos = static_cast<int>(number(argv[4]));
  const std::size_t window = number(argv[5]);
  const std::size_t size = number(argv[6]);
  po.max_inflight = static_cast<int>(number(argv[7]));
  PahoClient paho(po);
  std::printf("ready\n");
  std::fflush(stdout);
  for (std::string line = read_line(0); !line.empty(); line = read_line(0)) {
    char* rest = nullptr;
    const auto run = static_cast<std::uint32_t>(std::strtoul(line.c_str(), &rest, 10));
    const std::size_t n = number(rest);
    std::printf("%s\n", paho.publish_window(n, size, qos, window, run) ? "ok" : "failed");
    std::fflush(stdout);
  }
  return 0;
}

class PahoProcess {
 public:
  PahoProcess(const testkit::Mosquitto& broker, int qos, std::size_t window, std::size_t size)
      : child_(spawn_self({"--paho-child", broker.host(), std::to_string(broker.port()),
                           std::to_string(qos), std::to_string(window), std::to_string(size),
                           std::to_string(std::max<std::size_t>(window, 10))},
                          true)) {
    if (read_line(child_.out) != "ready") throw std::runtime_error("paho child did not start");
  }
  ~PahoProcess() {
    ::close(child_.in);
    ::close(child_.out);
    wait_child(child_.pid);
  }
  PahoProcess(const PahoProcess&) = delete;
  PahoProcess& operator=(const PahoProcess&) = delete;

  void start(std::uint32_t run, std::size_t n) const {
    const std::string line = fmt::format("{} {}\n", run, n);
    if (::write(child_.in, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      throw std::runtime_error("paho child is gone");
  }
  bool finished_ok() const { return read_line(child_.out) == "ok"; }

 private:
  Child child_;
};

// One baseline run, timed like robustmq_run(); 0 if the subscriber did not see everything.
double paho_run(const PahoProcess& paho, CountingSubscriber& sub, std::size_t n,
                std::size_t payload_bytes) {
  const std::uint32_t run = ++g_run;
  sub.expect(run);
  const auto t0 = Clock::now();
  paho.start(run, n);
  const bool seen = sub.wait_for(n, transfer_timeout(n, payload_bytes));
  if (!paho.finished_ok() || !seen) {
    fmt::print(stderr, "paho: subscriber saw {} of {}\n", sub.count(), n);
    return 0;
  }
  return static_cast<double>(n) / seconds_between(t0, sub.last_at());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 8 && std::strcmp(argv[1], "--paho-child") == 0) return paho_child(argv);
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const bool large_only = argc > 1 && std::strcmp(argv[1], "--large") == 0;
  testkit::MosquittoOptions mo;
  mo.persistence = false;
  // mosquitto's message_size_limit stays at its default (0: MQTT's own 256 MiB).
  mo.extra_config = {"max_inflight_messages 0"};
  testkit::Mosquitto broker(mo);
  CountingSubscriber sub(broker.host(), broker.port());
  testkit::TempDir tmp("robustmq-bench-");
  const int nruns = runs();
  const char* only = std::getenv("BENCH_ONLY");
  const bool do_robustmq = only == nullptr || std::strcmp(only, "paho") != 0;
  const bool do_paho = only == nullptr || std::strcmp(only, "robustmq") != 0;

  std::vector<int> qoses = {1, 0, 2};
  std::vector<std::size_t> windows = {1, 32};
  std::vector<std::size_t> sizes = {16, 256, 4096, 256 * 1024};
  if (quick) { qoses = {1}; sizes = {256}; }
  qoses = env_list("BENCH_QOS", qoses);
  windows = env_list("BENCH_WINDOWS", windows);
  sizes = env_list("BENCH_SIZES", sizes);
  auto row = [&](int qos, std::size_t window, std::size_t size, std::size_t n) {
    Options o = client_options(tmp.path() / fmt::format("q{}w{}s{}", qos, window, size), "tp");
    o.max_inflight = window;
    o.ring_bytes = 64u << 20;
    if (const char* c = std::getenv("BENCH_CACHE"); c && std::string(c) == "file")
      o.cache_type = CacheType::file;
    if (const char* t = std::getenv("BENCH_THRESHOLD"); t && *t)
      o.queue_cache_threshold = std::strtoull(t, nullptr, 10);
    RobustClient client(o);
    client.connect_async(broker.host(), broker.port());
    std::optional<PahoProcess> paho;
    if (do_paho) paho.emplace(broker, qos, window, size);
    // Warm-up: connections up, pages touched, caches created (one message for large payloads).
    // Rows of 64 KiB and more first send one lap of the ring, in bursts of a run's size: a
    // worker maps each page of a new ring on first use, and on a VM with shadow paging that
    // costs ~10 us per 4 KiB page (~0.7 ms per 256 KiB message), which a long-running client
    // pays once (the measured runs alone would never wrap a 64 MiB ring). Paho gets the same.
    const std::size_t warm = size >= (1u << 20) ? 1 : std::min<std::size_t>(n, 200);
    const std::size_t laps =
        size >= (64u << 10) && size < (1u << 20) ? o.ring_bytes / (warm * size) + 1 : 1;
    for (std::size_t i = 0; i < laps; ++i) {
      if (do_robustmq) robustmq_run(client, sub, warm, size, qos);
      if (do_paho) paho_run(*paho, sub, warm, size);
    }
    const bool large = size >= (1u << 20);
    Figure f;
    f.name = fmt::format("throughput qos{} w{} {}{}", qos, window, size_name(size), variant());
    f.unit = large ? "MB/s" : "msg/s";
    f.baseline_name = fmt::format("paho {} in flight, own process", window);
    const double want = large ? 1.0 : (qos == 1 && window == 1) ? 0.95 : 0.9;
    f.target = large ? "ratio >= 1, >= 50 MB/s" : fmt::format("ratio >= {}", want);
    f.min_ratio = want;
    if (large) f.min_value = 50;
    f.note = fmt::format("{} messages per run, end to end", n);
    if (size > o.ring_bytes / 8) f.note += "; large-message path (payload in a file)";
    // msg/s, or MB/s (10^6 bytes) for the large rows.
    const double scale = large ? static_cast<double>(size) / 1e6 : 1.0;
    const Stats before = client.stats();
    for (int r = 0; r < nruns; ++r) {
      if (do_robustmq) f.robustmq.push_back(robustmq_run(client, sub, n, size, qos) * scale);
      if (do_paho) f.baseline.push_back(paho_run(*paho, sub, n, size) * scale);
    }
    const Stats st = client.stats();
    // Spooled during the measured runs (not while the warm-up's first messages waited for the
    // connection).
    if (st.cached > before.cached)
      f.note += fmt::format("; {} spooled to the cache", st.cached - before.cached);
    // How often the worker's loop woke up (left its poll()) per message measured: the thread
    // hand-offs besides Paho's own (with one in flight, once per message before staging).
    if (do_robustmq)
      f.note += fmt::format("; {:.2f} worker wake-ups per message",
                            static_cast<double>(st.worker_wakeups - before.worker_wakeups) /
                                static_cast<double>(n * static_cast<std::size_t>(nruns)));
    report(f);
  };
  if (large_only) qoses.clear();
  for (int qos : qoses)
    for (std::size_t window : windows)
      for (std::size_t size : sizes) row(qos, window, size, messages_for(window, size));
  // Large messages: above ring_bytes / 8, so publish() writes each to a file and the worker
  // sends it mapped. QoS 1, one in flight only.
  if (!quick)
    for (std::size_t size : env_list<std::size_t>("BENCH_LARGE_SIZES", {16u << 20, 200u << 20}))
      row(1, 1, size, messages_for(1, size));
  print_table("live throughput (end to end, subscriber sees all)");
  return 0;
}
