// Spool rate and disk bytes per payload byte with the broker down: publish N messages of 256 B
// (QoS 1) while nothing listens at the broker's address, then flush(); N / (time from the first
// publish() until flush() returned) is the rate at which messages are made durable (fsynced
// with the default cache_sync). Each backend x each durability mode. write_bytes of the
// worker's /proc/<pid>/io over the same span, divided by N x 256, is the disk cost.
//
// Baseline: Paho MQTTAsync with sendWhileDisconnected=1 and default (file) persistence, in a
// child process of its own so its /proc/<pid>/io counts only its writes. Paho writes one file
// per message and never fsyncs: its messages are not durable at a power cut.
//
//   robustmq-bench-spool
//   robustmq-bench-spool --paho-spool N DIR   (the baseline child; prints one line of fields)
#include <cstring>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "common.hpp"
#include "paho_baseline.hpp"
#include "testkit/temp_dir.hpp"

using namespace robustmq;
using namespace robustmq::bench;

namespace {

int paho_spool_child(std::size_t n, const std::string& dir) {
  PahoOptions po;
  po.port = dead_port();
  po.offline = true;
  po.max_buffered = static_cast<int>(n + 10);
  po.persistence_dir = dir;
  PahoClient paho(po);
  const std::uint64_t w0 = proc_write_bytes(::getpid());
  const auto t0 = Clock::now();
  const std::size_t accepted = paho.send_offline(n, 256, 1, 7);
  const double s = seconds_between(t0, Clock::now());
  const std::uint64_t w1 = proc_write_bytes(::getpid());
  std::printf("accepted=%zu seconds=%.6f write_bytes=%llu\n", accepted, s,
              static_cast<unsigned long long>(w1 - w0));
  std::fflush(stdout);
  return accepted == n ? 0 : 1;
}

struct SpoolRun {
  double rate = 0;
  double bytes_per_byte = 0;
};

SpoolRun robustmq_spool(const std::filesystem::path& dir, CacheType type, Durability d,
                        std::size_t n) {
  Options o = client_options(dir, "spool");
  o.cache_type = type;
  o.durability = d;
  RobustClient client(o);
  client.connect_async("127.0.0.1", dead_port());
  const int pid = worker_pid(client);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the worker has opened its cache
  const std::uint64_t w0 = proc_write_bytes(pid);
  std::string payload(256, 'x');
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    fill_payload(payload, 9, i);
    while (auto ec = client.publish("bench/spool", payload, 1))
      if (ec != errc::queue_full) throw std::system_error(ec, "publish");
  }
  if (auto ec = client.flush(std::chrono::seconds(120))) throw std::system_error(ec, "flush");
  const double s = seconds_between(t0, Clock::now());
  const std::uint64_t w1 = proc_write_bytes(pid);
  if (std::getenv("BENCH_DEBUG"))
    fmt::print(stderr, "worker {} write_bytes {} -> {}; {}\n", pid, w0, w1,
               std::system(fmt::format("cat /proc/{}/io >&2; ls -la {} >&2", pid, dir.string()).c_str()));
  client.stop();
  return {static_cast<double>(n) / s, static_cast<double>(w1 - w0) / (static_cast<double>(n) * 256)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--paho-spool") == 0)
    return paho_spool_child(std::strtoull(argv[2], nullptr, 10), argv[3]);

  testkit::TempDir tmp("robustmq-bench-");
  const int nruns = runs();
  const std::size_t n = scaled(100'000);
  const std::size_t n_paho = scaled(20'000);

  std::vector<double> paho_rate, paho_bytes;
  for (int r = 0; r < nruns; ++r) {
    const auto dir = tmp.path() / fmt::format("paho-{}", r);
    std::filesystem::create_directories(dir);
    const std::string out = run_self({"--paho-spool", std::to_string(n_paho), dir.string()});
    paho_rate.push_back(field(out, "accepted") / field(out, "seconds"));
    paho_bytes.push_back(field(out, "write_bytes") / (field(out, "accepted") * 256));
    std::filesystem::remove_all(dir);
  }

  for (CacheType type : {CacheType::file, CacheType::sqlite}) {
    for (Durability d : {Durability::on_trouble, Durability::journal}) {
      const char* tn = type == CacheType::file ? "file" : "sqlite";
      const char* dn = d == Durability::journal ? "journal" : "on_trouble";
      Figure rate, bytes;
      rate.name = fmt::format("spool rate {} {}", tn, dn);
      rate.unit = "msg/s";
      rate.baseline_name = "paho offline buffering, file persistence (no fsync)";
      rate.target = type == CacheType::file ? ">= 200k msg/s" : ">= 100k msg/s";
      rate.min_value = type == CacheType::file ? 200e3 : 100e3;
      rate.note = fmt::format("{} x 256 B per run (paho: {}), broker down, cache_sync on", n, n_paho);
      bytes.name = fmt::format("disk bytes/payload byte {} {}", tn, dn);
      bytes.unit = "B/B";
      bytes.baseline_name = rate.baseline_name;
      bytes.target = type == CacheType::file ? "<= 1.1" : "<= 3";
      bytes.max_value = type == CacheType::file ? 1.1 : 3.0;
      bytes.note = "write_bytes of /proc/<pid>/io while spooling";
      for (int r = 0; r < nruns; ++r) {
        const auto dir = tmp.path() / fmt::format("{}-{}-{}", tn, dn, r);
        const SpoolRun s = robustmq_spool(dir, type, d, n);
        rate.robustmq.push_back(s.rate);
        bytes.robustmq.push_back(s.bytes_per_byte);
        std::filesystem::remove_all(dir);
      }
      rate.baseline = paho_rate;
      bytes.baseline = paho_bytes;
      report(rate);
      report(bytes);
    }
  }
  print_table("spool rate and disk bytes with the broker down");
  return 0;
}
