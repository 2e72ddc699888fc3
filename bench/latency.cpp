// publish() call latency: how long the application's thread spends in one call, 256 B, QoS 1,
// with a ring big enough never to fill (ring_bytes 64 MiB, flush() between runs), a delivered
// handler set, both publish() overloads (with and without the sequence number). Baseline:
// MQTTAsync_sendMessage on a connected client, persistence none and default (one file per
// message). Each call is timed with steady_clock (about 20 ns of the figure is the clock).
//
//   robustmq-bench-latency
#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "common.hpp"
#include "paho_baseline.hpp"
#include "testkit/mosquitto.hpp"
#include "testkit/temp_dir.hpp"

using namespace robustmq;
using namespace robustmq::bench;

namespace {

struct Percentiles {
  double p50, p99, p999;
};

Percentiles percentiles(std::vector<std::uint32_t> ns) {
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    return ns[std::min(ns.size() - 1, static_cast<std::size_t>(q * static_cast<double>(ns.size())))] / 1000.0;
  };
  return {at(0.50), at(0.99), at(0.999)};
}

// with_sequence: the overload that returns the message's sequence number.
std::vector<std::uint32_t> robustmq_calls(RobustClient& client, std::size_t n, std::uint32_t run,
                                          bool with_sequence = false) {
  std::string payload(256, 'x');
  std::vector<std::uint32_t> ns(n);
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < n; ++i) {
    fill_payload(payload, run, i);
    const auto t0 = Clock::now();
    const auto ec = with_sequence ? client.publish("bench/latency", payload, 1, false, seq)
                                  : client.publish("bench/latency", payload, 1);
    const auto t1 = Clock::now();
    if (ec) throw std::system_error(ec, "publish");
    ns[i] = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  const auto f0 = Clock::now();
  if (client.flush(std::chrono::seconds(120))) throw std::runtime_error("flush timed out");
  fmt::print(stderr, "  robustmq: {} calls, flush() took {:.2f} s\n", n, seconds_between(f0, Clock::now()));
  return ns;
}

}  // namespace

int main() {
  testkit::MosquittoOptions mo;
  mo.persistence = false;
  testkit::Mosquitto broker(mo);
  testkit::TempDir tmp("robustmq-bench-");
  const int nruns = runs();
  const std::size_t n = scaled(150'000);
  const std::size_t n_paho = scaled(100'000);
  const std::size_t n_paho_file = scaled(5'000);

  // The clock's own cost, for the reader.
  {
    std::vector<std::uint32_t> ns(100'000);
    for (auto& v : ns) {
      const auto t0 = Clock::now();
      const auto t1 = Clock::now();
      v = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    }
    const auto p = percentiles(ns);
    fmt::print("clock overhead: p50 {:.3f} us, p99 {:.3f} us\n", p.p50, p.p99);
  }

  std::vector<Percentiles> rmq, rmq_seq, paho_none, paho_file;
  {
    Options o = client_options(tmp.path() / "rmq", "lat");
    o.ring_bytes = 64u << 20;
    RobustClient client(o);
    // A delivered handler runs on the library's event thread: publish() must not feel it.
    std::uint64_t reported = 0;
    client.set_delivered_handler([&](std::uint64_t first, std::uint64_t last) {
      reported += last - first + 1;
    });
    client.connect_async(broker.host(), broker.port());
    // Warm-up: one pass over the whole ring, so every page of the mapping is resident.
    robustmq_calls(client, (o.ring_bytes / 320) + 1000, 1);
    PahoOptions po;
    po.host = broker.host();
    po.port = broker.port();
    po.max_inflight = 65535;  // Paho's default
    PahoClient none(po);
    none.send_latencies(std::min<std::size_t>(n_paho, 20'000), 256, 1, 2);
    po.persistence_dir = tmp.path() / "paho-persist";
    PahoClient file(po);
    file.send_latencies(std::min<std::size_t>(n_paho_file, 1'000), 256, 1, 3);
    for (int r = 0; r < nruns; ++r) {
      rmq.push_back(percentiles(robustmq_calls(client, n, 10 + r)));
      rmq_seq.push_back(percentiles(robustmq_calls(client, n, 50 + r, true)));
      paho_none.push_back(percentiles(none.send_latencies(n_paho, 256, 1, 100 + r)));
      paho_file.push_back(percentiles(file.send_latencies(n_paho_file, 256, 1, 200 + r)));
    }
  }
  const char* names[] = {"p50", "p99", "p99.9"};
  for (int k = 0; k < 3; ++k) {
    auto pick = [&](const std::vector<Percentiles>& v) {
      std::vector<double> out;
      for (const auto& p : v) out.push_back(k == 0 ? p.p50 : k == 1 ? p.p99 : p.p999);
      return out;
    };
    for (int b = 0; b < 3; ++b) {
      Figure f;
      f.name = fmt::format("publish() latency 256B {}{}", names[k],
                           b == 0 ? "" : b == 1 ? " vs file" : " with sequence");
      f.unit = "us";
      f.robustmq = pick(b == 2 ? rmq_seq : rmq);
      f.baseline = pick(b == 1 ? paho_file : paho_none);
      f.baseline_name = b == 1 ? "MQTTAsync_sendMessage, persistence default (file)"
                               : "MQTTAsync_sendMessage, persistence none";
      if (k == 1) {
        f.target = "<= 1 us";
        f.max_value = 1.0;
      }
      f.note = fmt::format("{} calls per run (paho: {} none, {} file), QoS 1, sqlite cache, a "
                           "delivered handler set{}", n, n_paho, n_paho_file,
                           b == 2 ? "; publish(..., sequence)" : "");
      report(f);
    }
  }
  print_table("publish() call latency (lower is better; ratio = robustmq / paho)");
  return 0;
}
