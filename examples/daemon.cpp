// A publishing daemon, as it would run under systemd (examples/robustmq-daemon.service): one
// reading a second, token refresh from a password file, and an orderly end on SIGTERM/SIGINT.
//   robustmq-daemon CLIENT_ID CACHE_DIR [URI...]      (default URI: tcp://localhost:1883)
// Environment: MQTT_USER, MQTT_PASSWORD_FILE (both optional).
//
// On SIGTERM it stops publishing, waits up to 5 s for what it published to be acknowledged
// (wait_delivered), then stop(): the worker commits the rest to the disk cache and exits, and
// the next start sends it. The worker runs in the unit's cgroup; systemd's KillMode decides
// what it gets on `systemctl stop`:
//   mixed          SIGTERM to the daemon alone: the above. Once the daemon has exited (or at
//                  TimeoutStopSec), SIGKILL to whatever is left in the cgroup: only a worker that
//                  stop() gave up waiting for (a failing disk), whose messages stay in the ring.
//   control-group  (the default) SIGTERM to the daemon and the worker at once. The worker
//                  commits the ring to the cache and exits; the library's monitor starts a new
//                  one (the daemon is still running), which reconnects and delivers during the
//                  5 s; then stop() as above.
//   process        SIGTERM to the daemon alone, as with mixed, but nothing is killed: a worker
//                  left behind delivers on as an orphan and the next start takes over from it.
// After a crash (Restart=always) the orphaned worker gets the same before the restart: SIGKILL
// (mixed), SIGTERM (control-group: it commits the ring and exits), nothing (process).
// Nothing is lost: what is undelivered waits for the next start in the disk cache, or after a
// SIGKILL partly in the shared ring in /dev/shm (which a reboot clears, as a tmpfs cache would).
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <robustmq/client.hpp>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: robustmq-daemon CLIENT_ID CACHE_DIR [URI...]\n");
    return 1;
  }
  // SIGTERM and SIGINT are taken by sigtimedwait() below, on this thread; block them before
  // connect_async() starts the library's threads, which inherit the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  robustmq::Options o;
  o.client_id = argv[1];
  o.cache_path = argv[2];
  o.servers.assign(argv + 3, argv + argc);
  if (o.servers.empty()) o.servers = {"tcp://localhost:1883"};
  // NOLINTBEGIN(concurrency-mt-unsafe): read before any thread starts
  if (const char* user = std::getenv("MQTT_USER")) o.username = user;
  if (const char* file = std::getenv("MQTT_PASSWORD_FILE")) o.password_file = file;
  // NOLINTEND(concurrency-mt-unsafe)
  o.log_to_syslog = false;  // stderr: under systemd, the journal (with each line's priority)

  robustmq::RobustClient client(o);
  try {
    client.connect_async();
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "robustmq-daemon: %s\n", e.what());
    return 2;
  }

  const timespec one_second{1, 0};
  long n = 0;
  for (;; ++n) {
    const std::string reading = "{\"n\":" + std::to_string(n) + "}";
    if (auto ec = client.publish("dt/daemon/" + o.client_id, reading, 1))
      std::fprintf(stderr, "robustmq-daemon: reading %ld not queued: %s\n", n, ec.message().c_str());
    if (sigtimedwait(&stop_signals, nullptr, &one_second) > 0) break;  // SIGTERM or SIGINT
  }
  std::printf("published %ld readings\n", n + 1);

  if (auto ec = client.wait_delivered(std::chrono::seconds(5)))
    std::fprintf(stderr, "robustmq-daemon: not all delivered yet (%s): the rest waits on disk\n",
                 ec.message().c_str());
  client.stop();
  return 0;
}
