// Live throughput, end to end: messages/s from the first publish until a subscriber on the same
// private mosquitto has seen the last one, for QoS 0/1/2, windows 1 and 32 and payloads of
// 16 B .. 256 KiB, and 16 MiB (the large-message path, QoS 1 window 1). RobustMQ: publish() the whole burst, then wait for the subscriber. Baseline:
// Paho MQTTAsync with the same number in flight, each onSuccess sending the next message.
//
//   robustmq-bench-throughput [--quick|--large]  (--quick: QoS 1, 256 B only; --large: 16 MiB only)
//   BENCH_QOS=0,2 BENCH_WINDOWS=32 BENCH_SIZES=4096 robustmq-bench-throughput   (a subset)
//   BENCH_ONLY=robustmq or BENCH_ONLY=paho: measure one side only (for profiling)
#include <cstdlib>
#include <cstring>
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
  if (payload >= 256 * 1024) return scaled(window == 1 ? 60 : 120);
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
  if (!sub.wait_for(n, std::chrono::seconds(60))) {
    fmt::print(stderr, "robustmq: subscriber saw {} of {}\n", sub.count(), n);
    return 0;
  }
  if (sub.out_of_order() != 0) fmt::print(stderr, "robustmq: {} out of order\n", sub.out_of_order());
  return static_cast<double>(n) / seconds_between(t0, sub.last_at());
}

double paho_run(PahoClient& paho, CountingSubscriber& sub, std::size_t n, std::size_t payload_bytes,
                int qos, std::size_t window) {
  const std::uint32_t run = ++g_run;
  sub.expect(run);
  const auto t0 = Clock::now();
  if (!paho.publish_window(n, payload_bytes, qos, window, run) ||
      !sub.wait_for(n, std::chrono::seconds(60))) {
    fmt::print(stderr, "paho: subscriber saw {} of {}\n", sub.count(), n);
    return 0;
  }
  return static_cast<double>(n) / seconds_between(t0, sub.last_at());
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const bool large_only = argc > 1 && std::strcmp(argv[1], "--large") == 0;
  testkit::MosquittoOptions mo;
  mo.persistence = false;
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
    PahoOptions po;
    po.host = broker.host();
    po.port = broker.port();
    po.max_inflight = static_cast<int>(std::max<std::size_t>(window, 10));
    PahoClient paho(po);
    // Warm-up: connections up, pages touched, caches created.
    if (do_robustmq) robustmq_run(client, sub, std::min<std::size_t>(n, 200), size, qos);
    if (do_paho) paho_run(paho, sub, std::min<std::size_t>(n, 200), size, qos, window);
    Figure f;
    f.name = fmt::format("throughput qos{} w{} {}{}", qos, window, size_name(size), variant());
    f.unit = "msg/s";
    f.baseline_name = fmt::format("paho {} in flight", window);
    const double want = (qos == 1 && window == 1) ? 0.95 : 0.9;
    f.target = fmt::format("ratio >= {}", want);
    f.min_ratio = want;
    f.note = fmt::format("{} messages per run, end to end", n);
    if (size > o.ring_bytes / 8) f.note += "; large-message path (payload in a file)";
    for (int r = 0; r < nruns; ++r) {
      if (do_robustmq) f.robustmq.push_back(robustmq_run(client, sub, n, size, qos));
      if (do_paho) f.baseline.push_back(paho_run(paho, sub, n, size, qos, window));
    }
    const Stats st = client.stats();
    if (st.cached > 0) f.note += fmt::format("; {} spooled to the cache", st.cached);
    report(f);
  };
  if (large_only) qoses.clear();
  for (int qos : qoses)
    for (std::size_t window : windows)
      for (std::size_t size : sizes) row(qos, window, size, messages_for(window, size));
  // Large messages: 16 MiB is above ring_bytes / 8, so publish() writes it to a file and the
  // worker sends it mapped. QoS 1, one in flight only: each message takes seconds.
  if (!quick) row(1, 1, 16u << 20, scaled(4));
  print_table("live throughput (end to end, subscriber sees all)");
  return 0;
}
