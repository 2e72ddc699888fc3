// Drain rate and start-up with a backlog. A first client, with the broker down, spools a backlog
// to the cache and stops; a second client with the same client_id and cache_path connects to
// the broker, and a subscriber times the backlog's arrival:
//   start-up: connect_async() until the first message reaches the subscriber;
//   drain rate: backlog / (last arrival - first arrival), against the live throughput of the
//   same mode (QoS 1, 256 B, max_inflight 32, same backend) measured in this run;
//   worker RSS with the backlog: VmRSS while draining and VmHWM at the end.
// Scaled down from the 1 M messages and 1 GB to fit the suite's 10-minute budget:
// DRAIN_MESSAGES (default 50000 x 256 B) and BACKLOG_MB (default 1024, as 4 KiB messages).
//
//   robustmq-bench-drain
#include <cstdlib>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "common.hpp"
#include "testkit/mosquitto.hpp"
#include "testkit/temp_dir.hpp"

using namespace robustmq;
using namespace robustmq::bench;

namespace {

std::uint32_t g_run = 1000;

std::size_t env_size(const char* name, std::size_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : dflt;
}

Options drain_options(const std::filesystem::path& dir, CacheType type, const std::string& id) {
  Options o = client_options(dir, "drain");
  o.client_id = id;
  o.cache_type = type;
  o.max_inflight = 32;
  o.ring_bytes = 64u << 20;
  o.reconnect_min = std::chrono::milliseconds(50);
  return o;
}

// Publishes n messages with the broker down and stops: they end up in the cache.
void make_backlog(const Options& o, std::size_t n, std::size_t size, std::uint32_t run) {
  RobustClient c(o);
  c.connect_async("127.0.0.1", dead_port());
  std::string payload(size, 'x');
  for (std::size_t i = 0; i < n; ++i) {
    fill_payload(payload, run, i);
    while (auto ec = c.publish("bench/drain", payload, 1))
      if (ec != errc::queue_full) throw std::system_error(ec, "publish");
  }
  if (auto ec = c.flush(std::chrono::seconds(300))) throw std::system_error(ec, "flush");
  c.stop();
}

double live_run(RobustClient& c, CountingSubscriber& sub, std::size_t n) {
  const std::uint32_t run = ++g_run;
  sub.expect(run);
  std::string payload(256, 'x');
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    fill_payload(payload, run, i);
    while (auto ec = c.publish("bench/live", payload, 1))
      if (ec != errc::queue_full) throw std::system_error(ec, "publish");
  }
  if (!sub.wait_for(n, std::chrono::seconds(120))) return 0;
  return static_cast<double>(n) / seconds_between(t0, sub.last_at());
}

}  // namespace

int main() {
  testkit::MosquittoOptions mo;
  mo.persistence = false;
  mo.extra_config = {"max_inflight_messages 0"};
  testkit::Mosquitto broker(mo);
  CountingSubscriber sub(broker.host(), broker.port());
  testkit::TempDir tmp("robustmq-bench-");
  const int nruns = runs();
  const std::size_t n = scaled(env_size("DRAIN_MESSAGES", 50'000));
  const std::size_t n_live = scaled(20'000);
  const std::size_t backlog_mb = env_size("BACKLOG_MB", 1024);
  // scaled() never gives 0: BACKLOG_MB=0 must, or one message would be the whole backlog (the
  // first run drains it, every later one waits 30 s for nothing).
  const std::size_t big_n = backlog_mb == 0 ? 0 : scaled(backlog_mb * 1024 * 1024 / 4096);

  for (CacheType type : {CacheType::file, CacheType::sqlite}) {
    const char* tn = type == CacheType::file ? "file" : "sqlite";
    Figure drain, startup, rss_drain, hwm_drain, rss_big;
    drain.name = fmt::format("drain rate {} w32 256B", tn);
    drain.unit = "msg/s";
    drain.baseline_name = "robustmq live throughput, same mode";
    drain.target = "ratio >= 0.9";
    drain.min_ratio = 0.9;
    drain.note = fmt::format("{} cached messages per run (issue: 1 M); live: {} messages", n, n_live);
    // Live throughput of the same mode, for the ratio.
    {
      RobustClient c(drain_options(tmp.path() / fmt::format("live-{}", tn), type,
                                   fmt::format("bench-live-{}-{}", tn, ::getpid())));
      c.connect_async(broker.host(), broker.port());
      live_run(c, sub, 500);
      for (int r = 0; r < nruns; ++r) drain.baseline.push_back(live_run(c, sub, n_live));
    }
    rss_drain.name = fmt::format("worker VmRSS draining {} {}k msgs", tn, n / 1000);
    hwm_drain.name = fmt::format("worker VmHWM draining {} {}k msgs", tn, n / 1000);
    rss_drain.unit = hwm_drain.unit = "MiB";
    rss_drain.target = hwm_drain.target = "<= 8 MiB";
    rss_drain.max_value = hwm_drain.max_value = 8.0;
    for (int r = 0; r < nruns; ++r) {
      const auto dir = tmp.path() / fmt::format("drain-{}-{}", tn, r);
      const std::string id = fmt::format("bench-drain-{}-{}-{}", tn, ::getpid(), r);
      const std::uint32_t run = ++g_run;
      make_backlog(drain_options(dir, type, id), n, 256, run);
      sub.expect(run);
      RobustClient c(drain_options(dir, type, id));
      c.connect_async(broker.host(), broker.port());
      const auto t0 = Clock::now();
      const int pid = worker_pid(c);
      bool sampled = false;
      while (!sub.wait_for(n, std::chrono::milliseconds(100))) {
        if (!sampled && sub.count() > n / 2) {
          rss_drain.robustmq.push_back(static_cast<double>(proc_status_kib(pid, "VmRSS")) / 1024);
          sampled = true;
        }
        if (seconds_between(t0, Clock::now()) > 300) {
          fmt::print(stderr, "drain {}: only {} of {} arrived\n", tn, sub.count(), n);
          break;
        }
      }
      hwm_drain.robustmq.push_back(static_cast<double>(proc_status_kib(pid, "VmHWM")) / 1024);
      if (!sampled) rss_drain.robustmq.push_back(static_cast<double>(proc_status_kib(pid, "VmRSS")) / 1024);
      drain.robustmq.push_back(static_cast<double>(sub.count()) /
                               seconds_between(sub.first_at(), sub.last_at()));
      if (sub.out_of_order() != 0)
        fmt::print(stderr, "drain {}: {} messages out of order\n", tn, sub.out_of_order());
      c.stop();
      std::filesystem::remove_all(dir);
    }
    report(drain);
    report(rss_drain);
    report(hwm_drain);

    // Start-up with a big backlog, reused by the runs until half of it is delivered
    // (BACKLOG_MB=0: none).
    if (big_n == 0) continue;
    startup.name = fmt::format("start-up, {} MB backlog {}", backlog_mb, tn);
    startup.unit = "ms";
    startup.target = "< 100 ms";
    startup.max_value = 100;
    startup.note = fmt::format("connect_async() to first message at the subscriber; {} x 4 KiB",
                               big_n);
    rss_big.name = fmt::format("worker VmRSS, {} MB backlog {}", backlog_mb, tn);
    rss_big.unit = "MiB";
    rss_big.target = "<= 8 MiB";
    rss_big.max_value = 8.0;
    const auto dir = tmp.path() / fmt::format("big-{}", tn);
    const std::string id = fmt::format("bench-big-{}-{}", tn, ::getpid());
    std::uint32_t run = 0;
    std::uint64_t consumed = big_n;  // none yet written
    for (int r = 0; r < nruns; ++r) {
      // Each run delivers part of the backlog before it stops; a small one (BACKLOG_MB) is
      // written again once half of it is gone, so that every run starts with a backlog.
      if (consumed * 2 > big_n) {
        std::filesystem::remove_all(dir);
        run = ++g_run;
        const auto b0 = Clock::now();
        make_backlog(drain_options(dir, type, id), big_n, 4096, run);
        fmt::print(stderr, "{}: {} MB backlog written in {:.1f} s\n", tn, backlog_mb,
                   seconds_between(b0, Clock::now()));
        consumed = 0;
      }
      sub.expect(run);
      RobustClient c(drain_options(dir, type, id));
      const auto t0 = Clock::now();
      c.connect_async(broker.host(), broker.port());
      if (sub.wait_for(1, std::chrono::seconds(30)))
        startup.robustmq.push_back(seconds_between(t0, sub.first_at()) * 1000);
      else
        fmt::print(stderr, "start-up: nothing arrived within 30 s (no figure for this run)\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      rss_big.robustmq.push_back(static_cast<double>(proc_status_kib(worker_pid(c), "VmRSS")) / 1024);
      c.stop();
      consumed += sub.count();
    }
    std::filesystem::remove_all(dir);
    report(startup);
    report(rss_big);
  }
  print_table("drain after an outage, start-up with a backlog, worker memory");
  return 0;
}
