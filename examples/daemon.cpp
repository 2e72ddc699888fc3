// A publishing daemon, as it would run under systemd (examples/robustmq-daemon.service): one
// reading a second, token refresh from a password file, and an orderly end on SIGTERM/SIGINT.
//   robustmq-daemon CLIENT_ID CACHE_DIR [URI...]      (default URI: tcp://localhost:1883)
// Environment: MQTT_USER, MQTT_PASSWORD_FILE (both optional).
//
// On SIGTERM it stops publishing, waits up to 5 s for what it published to be acknowledged
// (wait_delivered), then stop(): whatever is still unacknowledged goes to the disk cache and is
// sent by the next start. With `KillMode=control-group` (systemd's default) the worker is in the
// unit's cgroup and gets SIGTERM too, at the same moment: it commits the ring to the disk cache
// and exits, so nothing is lost either way, but the 5 s of delivery happen only if the worker
// is left running meanwhile: `KillMode=mixed` sends SIGTERM to the daemon alone (the rest of the
// cgroup gets SIGKILL only after TimeoutStopSec).
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
