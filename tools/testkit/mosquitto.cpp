#include "testkit/mosquitto.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace robustmq::testkit {
namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

std::uintmax_t file_size_or_zero(const std::filesystem::path& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

std::string read_from(const std::filesystem::path& p, std::uintmax_t offset) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "free_port: socket");
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "free_port: bind 127.0.0.1:0");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A socket bound to 127.0.0.1:port without listening, or -1 when the port cannot be bound.
// SO_REUSEADDR lets it bind over the stopped broker's TIME_WAIT connections; a bind(0) or an
// outgoing connect() elsewhere (neither sets it) still sees the port as taken.
namespace {
int reserve_port(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  sockaddr_in addr = loopback(port);
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}
}  // namespace

bool accepts_connections(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr = loopback(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

Mosquitto::Mosquitto(MosquittoOptions options)
    : options_(std::move(options)), dir_("robustmq-mosquitto-") {
  port_ = options_.port != 0 ? options_.port : free_port();
  write_config();
  start();
}

Mosquitto::~Mosquitto() {
  try {
    stop();
  } catch (...) {
    // A destructor must not throw; stop() only throws on a broken invariant anyway.
  }
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

std::string Mosquitto::uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

std::string Mosquitto::log(std::size_t max_bytes) const {
  auto size = file_size_or_zero(log_path());
  return read_from(log_path(), size > max_bytes ? size - max_bytes : 0);
}

void Mosquitto::write_config() const {
  std::ofstream conf(config_path());
  conf << "# written by robustmq::testkit::Mosquitto\n"
       << "listener " << port_ << " 127.0.0.1\n"
       << "allow_anonymous " << (options_.allow_anonymous ? "true" : "false") << "\n"
       << "persistence " << (options_.persistence ? "true" : "false") << "\n"
       << "persistence_location " << dir_.path().string() << "/\n"
       // Queue without limit for offline persistent sessions: a test subscriber that is
       // reconnecting must not lose messages to the default cap of 1000.
       << "max_queued_messages 0\n"
       << "log_dest stderr\n"
       << "log_timestamp_format %Y-%m-%dT%H:%M:%S\n";
  if (options_.verbose) {
    conf << "log_type all\n";
  } else {
    conf << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
  }
  // As root, mosquitto would switch to the "mosquitto" user, which cannot write our temp dir.
  if (::geteuid() == 0) conf << "user root\n";
  for (const auto& line : options_.extra_config) conf << line << "\n";
  if (!conf.flush()) throw std::runtime_error("cannot write " + config_path().string());
}

// PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the process. So every fork
// happens on one thread that never exits: a broker started from a short-lived thread would
// otherwise die with it. Leaked on purpose: it must outlive static destruction.
class Spawner {
 public:
  static Spawner& instance() {
    static Spawner* s = new Spawner;
    return *s;
  }

  // Runs fork_fn on the spawner thread and returns its result.
  pid_t run(std::function<pid_t()> fork_fn) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return !job_; });  // one job at a time
    job_ = std::move(fork_fn);
    done_ = false;
    cv_.notify_all();
    cv_.wait(lk, [&] { return done_; });
    pid_t pid = result_;
    job_ = nullptr;
    cv_.notify_all();
    return pid;
  }

 private:
  Spawner() { std::thread([this] { loop(); }).detach(); }

  [[noreturn]] void loop() {
    std::unique_lock lk(mu_);
    while (true) {
      cv_.wait(lk, [&] { return job_ && !done_; });
      result_ = job_();
      done_ = true;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<pid_t()> job_;
  bool done_ = false;
  pid_t result_ = -1;
};

pid_t Mosquitto::spawn() const {
  // Everything the child needs is prepared before fork: after fork in a multi-threaded process
  // only async-signal-safe calls are allowed.
  const std::string binary = options_.binary;
  const std::string config = config_path().string();
  const std::string dir = dir_.path().string();
  int log_fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) throw std::system_error(errno, std::generic_category(), "open mosquitto.log");
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  char* const argv[] = {const_cast<char*>(binary.c_str()), const_cast<char*>("-c"),
                        const_cast<char*>(config.c_str()), nullptr};

  pid_t pid = Spawner::instance().run([&]() -> pid_t {
    pid_t child = ::fork();
    if (child != 0) return child < 0 ? -errno : child;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::close_range(3, ~0u, 0);
    if (::chdir(dir.c_str()) != 0) ::_exit(127);
    ::execv(binary.c_str(), argv);
    static const char msg[] = "testkit: exec mosquitto failed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  });
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  if (pid < 0) throw std::system_error(-pid, std::generic_category(), "fork mosquitto");
  return pid;
}

void Mosquitto::start() {
  if (running()) return;
  const auto deadline = Clock::now() + options_.start_timeout;
  while (true) {
    if (reserve_fd_ >= 0) {
      ::close(reserve_fd_);
      reserve_fd_ = -1;
    }
    const auto log_offset = file_size_or_zero(log_path());
    pid_ = spawn();
    bool exited = false;
    int status = 0;
    while (Clock::now() < deadline) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        exited = true;
        break;
      }
      if (accepts_connections(port_)) {
        ++starts_;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!exited) {
      terminate(SIGKILL);
    } else {
      pid_ = -1;
    }
    const std::string run_log = read_from(log_path(), log_offset);
    // A port still held by a previous broker (or a TIME_WAIT without SO_REUSEADDR): try again.
    if (exited && run_log.find("Address already in use") != std::string::npos &&
        Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    throw std::runtime_error("mosquitto on port " + std::to_string(port_) +
                             (exited ? " exited during start (status " + std::to_string(status) + ")"
                                     : " did not accept connections in time") +
                             "; log:\n" + run_log);
  }
}

void Mosquitto::stop() { terminate(SIGTERM); }
void Mosquitto::kill() { terminate(SIGKILL); }

void Mosquitto::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

void Mosquitto::terminate(int sig) {
  if (!running()) return;
  ::kill(pid_, sig);
  ::kill(pid_, SIGCONT);  // a SIGSTOPped broker must run to handle SIGTERM
  const auto deadline = Clock::now() + options_.stop_timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) break;  // exited, or reaped by someone else
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  pid_ = -1;
  if (reserve_fd_ < 0) reserve_fd_ = reserve_port(port_);
}

}  // namespace robustmq::testkit
