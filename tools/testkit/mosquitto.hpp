// Mosquitto: a private mosquitto broker for tests, on a free loopback port, in its own temp dir.
//
//   robustmq::testkit::Mosquitto broker;          // started, accepting on 127.0.0.1:broker.port()
//   broker.stop(); ... broker.start();            // same port, same persistence directory
//   FAIL_CHECK(broker.log());                     // what mosquitto said, for diagnostics
//
// The broker never touches a system mosquitto: it runs /usr/sbin/mosquitto with its own config
// file, persistence directory and log file inside a fresh TempDir, listening on 127.0.0.1 only.
// The child is started with fork+exec, gets no file descriptor of the test process (a Paho socket
// inherited by the broker would keep a dead connection half-open), is killed when the test
// process dies (PR_SET_PDEATHSIG, armed from a spawner thread that lives as long as the process,
// so start() may be called from any thread), and is reaped with waitpid on its own pid only.
// Thread safety: one Mosquitto object must not be used from two threads at once.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "testkit/temp_dir.hpp"

namespace robustmq::testkit {

// Binds 127.0.0.1:0, reads the port the kernel picked and closes the socket. The port is free
// now; nothing stops another process from taking it before the caller binds it.
int free_port();

// True if a TCP connection to 127.0.0.1:port succeeds right now.
bool accepts_connections(int port);

struct MosquittoOptions {
  std::string binary = "/usr/sbin/mosquitto";
  int port = 0;                  // 0: free_port()
  bool allow_anonymous = true;
  // Keep sessions and queued QoS>0 messages in <dir>/mosquitto.db across stop()/start() (saved on
  // SIGTERM; kill() loses what was not saved). A persistent Subscriber then misses nothing
  // published while it was reconnecting after a restart.
  bool persistence = true;
  bool verbose = false;          // log_type all (every packet; large logs)
  // Lines appended to mosquitto.conf as they are: password_file, extra TLS listeners,
  // max_inflight_messages, ... Relative paths are relative to the broker's working directory,
  // which is dir(); absolute paths are safer.
  std::vector<std::string> extra_config;
  std::chrono::milliseconds start_timeout{10'000};  // until the port accepts connections
  std::chrono::milliseconds stop_timeout{5'000};    // SIGTERM, then SIGKILL
};

class Mosquitto {
 public:
  // Writes the config and starts the broker. Throws std::runtime_error (with the log) if it
  // does not accept connections within start_timeout.
  explicit Mosquitto(MosquittoOptions options = {});
  ~Mosquitto();  // stops the broker, removes the temp dir
  Mosquitto(const Mosquitto&) = delete;
  Mosquitto& operator=(const Mosquitto&) = delete;

  // Starts the broker on port() (the same port every time) and returns once it accepts TCP
  // connections. Retries while the port is still held (e.g. by a just-killed broker).
  // No-op if it runs. Throws std::runtime_error with the log tail on failure.
  void start();
  // SIGTERM and wait for exit (mosquitto saves its persistence file). No-op if not running.
  void stop();
  // SIGKILL and wait: a broker crash. No-op if not running.
  void kill();
  // Sends sig to the broker (SIGSTOP/SIGCONT to freeze it). No-op if not running.
  void signal(int sig);

  bool running() const noexcept { return pid_ > 0; }
  int port() const noexcept { return port_; }
  std::string host() const { return "127.0.0.1"; }
  std::string uri() const;           // "tcp://127.0.0.1:<port>" for Paho
  pid_t pid() const noexcept { return pid_; }
  int starts() const noexcept { return starts_; }  // how many times start() started it
  const std::filesystem::path& dir() const noexcept { return dir_.path(); }
  std::filesystem::path config_path() const { return dir_ / "mosquitto.conf"; }
  std::filesystem::path log_path() const { return dir_ / "mosquitto.log"; }
  // The broker's log (all runs, appended); the last max_bytes of it.
  std::string log(std::size_t max_bytes = std::size_t{64} * 1024) const;

 private:
  void write_config() const;
  pid_t spawn() const;
  void terminate(int sig);

  MosquittoOptions options_;
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  int starts_ = 0;
  // While the broker is stopped, a socket bound (not listening) to its port keeps the port ours:
  // connections to it are still refused, but no other process picks it for a broker, a proxy
  // or an outgoing connection, and a client cannot reach some other test's broker there.
  int reserve_fd_ = -1;
};

}  // namespace robustmq::testkit
