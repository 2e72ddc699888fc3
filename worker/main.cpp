// robustmq-worker: started by RobustClient::connect_async() (fork + exec), never by hand.
//
//   fd 3  the lifeline: a socket to the application. It first carries the configuration
//         (worker_config.hpp); the worker answers "ready <pid>\n" or "error <text>\n". Later the
//         application writes wake-up bytes and answers with credentials (proto/lifeline.hpp);
//         EOF means the application died.
//   fd 4  the log socket, if it is an AF_UNIX datagram socket (a library that does not make it
//         leaves fd 4 closed): while the application has a log handler, the worker's lines go
//         there (proto/log_line.hpp).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "worker/cache/cache.hpp"
#include "worker/log.hpp"
#include "worker/loop.hpp"
#include "worker/mqtt.hpp"
#include "worker/paho_library.hpp"
#include "worker/servers.hpp"
#include "worker/start.hpp"
#include "worker/tls_version.hpp"
#include "proto/segment.hpp"
#include "proto/worker_config.hpp"

namespace robustmq::worker {
extern std::atomic<bool> g_terminate;
extern std::atomic<int> g_wake_fd;
}

namespace {

using robustmq::worker::Level;
using robustmq::worker::log;

void say(int fd, const std::string& line) {
  std::string l = line + "\n";
  (void)::send(fd, l.data(), l.size(), MSG_NOSIGNAL);
}

bool read_exact(int fd, char* buf, std::size_t n) {
  std::size_t off = 0;
  while (off < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) return false;
    ssize_t r = ::read(fd, buf + off, n - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    off += static_cast<std::size_t>(r);
  }
  return true;
}

int parse_fd(std::string_view arg, std::string_view name) {
  if (arg.substr(0, name.size()) != name) return -1;
  // A malformed number is no descriptor (atoi would make it 0: stdin as the lifeline).
  const std::string digits(arg.substr(name.size()));
  char* end = nullptr;
  errno = 0;
  const long fd = std::strtol(digits.c_str(), &end, 10);
  if (digits.empty() || *end != '\0' || errno != 0 || fd < 0 || fd > INT_MAX) return -1;
  return static_cast<int>(fd);
}

// `fd` when it is an AF_UNIX datagram socket (the log socket), else -1.
int log_socket_at(int fd) {
  int type = 0;
  int domain = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM) return -1;
  len = sizeof domain;
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX) return -1;
  return fd;
}

// Options::log_level, carried by the numeric values the two enumerations share.
Level level_of(robustmq::LogLevel level) {
  using robustmq::LogLevel;
  static_assert(static_cast<int>(Level::debug) == static_cast<int>(LogLevel::debug) &&
                static_cast<int>(Level::info) == static_cast<int>(LogLevel::info) &&
                static_cast<int>(Level::warning) == static_cast<int>(LogLevel::warning) &&
                static_cast<int>(Level::error) == static_cast<int>(LogLevel::error));
  return static_cast<Level>(level);
}

void on_term(int) {
  const int saved = errno;
  robustmq::worker::g_terminate.store(true);
  if (const int fd = robustmq::worker::g_wake_fd.load(); fd >= 0) {
    const std::uint64_t one = 1;
    (void)!::write(fd, &one, sizeof one);  // async-signal-safe
  }
  errno = saved;
}

}  // namespace

int main(int argc, char** argv) {
  int lifeline = 3;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (int fd = parse_fd(a, "--lifeline-fd="); fd >= 0) lifeline = fd;
    else {
      std::fprintf(stderr, "robustmq-worker is started by the RobustMQ library; it takes no "
                           "arguments of its own\n");
      return 2;
    }
  }
  ::fcntl(lifeline, F_SETFD, FD_CLOEXEC);
  const int log_socket = log_socket_at(4);
  if (log_socket >= 0) ::fcntl(log_socket, F_SETFD, FD_CLOEXEC);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);  // a Ctrl-C is the application's to handle; we drain when it dies
  struct sigaction sa {};
  sa.sa_handler = on_term;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::prctl(PR_SET_DUMPABLE, 0);  // no core dump or ptrace of a process holding credentials

  char head[8];
  if (!read_exact(lifeline, head, sizeof head)) {
    say(lifeline, "error no configuration received");
    return 2;
  }
  std::uint32_t total = 0;
  std::memcpy(&total, head + 4, 4);
  if (total < 8 || total > robustmq::kMaxConfigBytes) {
    say(lifeline, "error configuration has an impossible length");
    return 2;
  }
  std::string blob(head, sizeof head);
  blob.resize(total);
  if (!read_exact(lifeline, blob.data() + 8, total - 8)) {
    say(lifeline, "error configuration truncated");
    return 2;
  }
  std::string error;
  auto config = robustmq::decode_worker_config(blob, error);
  std::fill(blob.begin(), blob.end(), '\0');  // it may hold a password
  if (!config) {
    say(lifeline, "error " + error);
    return 2;
  }
  robustmq::worker::g_log_client_id = config->client_id;
  robustmq::worker::g_log_journal = robustmq::log_line::stderr_is_journal();
  // Options::log_level, unless ROBUSTMQ_LOG_LEVEL overrides it for a debugging session.
  robustmq::worker::g_log_level = level_of(config->log_level);
  // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread exists yet (Paho starts later)
  if (const char* lvl = std::getenv("ROBUSTMQ_LOG_LEVEL"))
    robustmq::worker::g_log_level = robustmq::worker::parse_level(lvl, robustmq::worker::g_log_level);
  // Paho reads http_proxy / https_proxy itself when it is given no proxy. The client resolved
  // them, with no_proxy, into the configuration at connect_async() (lib/servers.cpp), and the
  // worker sets the proxy of each server explicitly: Paho must not add the environment's to a
  // server that no_proxy exempts. No other thread exists yet.
  ::unsetenv("http_proxy");   // NOLINT(concurrency-mt-unsafe)
  ::unsetenv("https_proxy");  // NOLINT(concurrency-mt-unsafe)
  // Paho, with TLS (and OpenSSL) only when a server needs it (worker/paho_library.hpp).
  // A Server Reference cannot switch to TLS (servers.hpp): without a TLS server the TLS options
  // have nothing to act on.
  std::string tls_error;
  bool tls = false;
  try {
    const auto servers = robustmq::worker::servers_of(*config);
    tls = std::any_of(servers.begin(), servers.end(), [](const auto& s) { return s.tls(); });
    tls_error = robustmq::worker::load_paho(tls);
  } catch (const std::exception& e) {
    tls_error = e.what();
  }
  // Before Paho initialises OpenSSL (its first client, below).
  if (tls && tls_error.empty())
    tls_error = robustmq::worker::apply_tls_min_version(config->tls_min_version);
  if (tls && tls_error.empty())
    tls_error = robustmq::worker::check_tls_ciphers(config->tls_ciphers);
  if (!tls_error.empty()) {
    say(lifeline, "error " + tls_error);
    return 2;
  }
  if (config->log_syslog) {
    ::openlog("robustmq-worker", LOG_PID, LOG_DAEMON);
    robustmq::worker::g_log_syslog = true;
  }
  try {
    // The start-up handshake (worker/start.hpp): nothing below the lock and the acceptance
    // touches the ring or the cache.
    const int worker_lock = robustmq::worker::take_worker_lock(config->cache_dir, lifeline);
    if (worker_lock < 0) {
      log(Level::info, "the application gave up waiting for this worker: exiting unused");
      return 0;
    }
    auto segment = robustmq::MappedSegment::open_existing(config->segment_name);
    say(lifeline, "ready " + std::to_string(::getpid()));
    if (!robustmq::worker::accepted(lifeline)) {
      log(Level::info, "not accepted by the application (it gave up waiting, or exited): "
                       "exiting unused");
      return 0;
    }
    robustmq::cache::Config cc;
    cc.sync = config->cache_sync;
    auto cache = robustmq::cache::open(config->cache_type == robustmq::CacheBackend::file
                                           ? robustmq::cache::Backend::file
                                           : robustmq::cache::Backend::sqlite,
                                       config->cache_dir, cc);
    robustmq::worker::EventQueue events;
    robustmq::worker::Mqtt mqtt(robustmq::worker::mqtt_settings(*config, config->max_inflight),
                                events);
    robustmq::worker::Loop loop(std::move(*config), std::move(segment), std::move(cache),
                                lifeline, events, mqtt);
    loop.on_orphaned(robustmq::worker::detach_from_stderr);
    // From here (the loop's first line, "started: ...") until the loop ends, and while the
    // application lives, lines go to its log handler when it has one: it reads the socket now.
    // Earlier lines went to stderr or syslog.
    robustmq::worker::g_log_socket = log_socket;
    const robustmq::worker::ApplicationLog app_log(loop.control().log_handler);
    say(lifeline, "running");  // the loop's constructor published the cache's counts
    return loop.run();
  } catch (const std::exception& e) {
    log(Level::error, "{}", e.what());
    say(lifeline, std::string("error ") + e.what());
    return 1;
  }
}
