// The worker at rest: VmRSS after connecting with nothing to send, and wake-ups per second while
// idle (voluntary + nonvoluntary context switches from /proc/<pid>/task/*/status), for the main
// thread and for all threads. Five one-second samples of one idle span (5 s in all). Baseline:
// a Paho MQTTAsync client, connected and idle, in a child process of its own.
//
//   robustmq-bench-idle
//   robustmq-bench-idle --paho-idle PORT   (the baseline child: connects, then sleeps)
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "common.hpp"
#include "paho_baseline.hpp"
#include "testkit/mosquitto.hpp"
#include "testkit/temp_dir.hpp"

using namespace robustmq;
using namespace robustmq::bench;

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--paho-idle") == 0) {
    PahoOptions po;
    po.port = std::atoi(argv[2]);
    PahoClient paho(po);
    std::printf("connected\n");
    std::fflush(stdout);
    char c;
    while (::read(0, &c, 1) > 0) {
    }
    ::pause();
    return 0;
  }
  testkit::MosquittoOptions mo;
  mo.persistence = false;
  testkit::Mosquitto broker(mo);
  testkit::TempDir tmp("robustmq-bench-");
  const int nruns = runs();

  Options o = client_options(tmp.path() / "idle", "idle");
  o.cache_type = CacheType::file;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  const int pid = worker_pid(client);
  if (auto ec = client.publish("bench/idle", "hello", 1)) throw std::system_error(ec, "publish");
  if (auto ec = client.flush(std::chrono::seconds(10))) throw std::system_error(ec, "flush");

  Child paho = spawn_self({"--paho-idle", std::to_string(broker.port())});
  read_line(paho.out);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // settle

  Figure rss, main_wakeups, all_wakeups;
  rss.name = "worker VmRSS at rest";
  rss.unit = "MiB";
  rss.baseline_name = "paho client process at rest";
  rss.target = "<= 8 MiB";
  rss.max_value = 8.0;
  main_wakeups.name = "idle wake-ups/s, worker main thread";
  all_wakeups.name = "idle wake-ups/s, worker all threads";
  main_wakeups.unit = all_wakeups.unit = "1/s";
  main_wakeups.baseline_name = "paho client process, main thread (sleeps)";
  all_wakeups.baseline_name = "paho client process, all threads";
  main_wakeups.target = all_wakeups.target = "none beyond keepalive (30 s)";
  all_wakeups.note = fmt::format("worker threads: {}, paho child threads: {}", thread_count(pid),
                                 thread_count(paho.pid));
  for (int r = 0; r < nruns; ++r) {
    const auto m0 = thread_switches(pid, pid), a0 = process_switches(pid);
    const auto pm0 = thread_switches(paho.pid, paho.pid), pa0 = process_switches(paho.pid);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    main_wakeups.robustmq.push_back(static_cast<double>(thread_switches(pid, pid) - m0));
    all_wakeups.robustmq.push_back(static_cast<double>(process_switches(pid) - a0));
    main_wakeups.baseline.push_back(static_cast<double>(thread_switches(paho.pid, paho.pid) - pm0));
    all_wakeups.baseline.push_back(static_cast<double>(process_switches(paho.pid) - pa0));
    rss.robustmq.push_back(static_cast<double>(proc_status_kib(pid, "VmRSS")) / 1024);
    rss.baseline.push_back(static_cast<double>(proc_status_kib(paho.pid, "VmRSS")) / 1024);
  }
  ::kill(paho.pid, SIGTERM);
  wait_child(paho.pid);
  report(rss);
  report(main_wakeups);
  report(all_wakeups);
  print_table("worker at rest (lower is better)");
  return 0;
}
