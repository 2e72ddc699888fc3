// The log handler (RobustClient::set_log_handler(), README "Logging") against a real mosquitto
// and real worker processes: the worker's lines reach the handler, with their levels, on the
// monitor thread, and not the process's stderr (redirected to a file for each case: the worker
// inherits it); cleared, the lines go to stderr again; a handler set after connect_async();
// stop() hands over the last lines; a worker killed and restarted; a handler that throws; and
// a handler too slow for the worker, whose lines then go to stderr while the worker goes on.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

// The process's stderr goes to a file while this lives; a worker started meanwhile keeps
// writing there after.
class StderrCapture {
 public:
  explicit StderrCapture(std::filesystem::path file) : path_(std::move(file)) {
    saved_ = ::dup(STDERR_FILENO);
    const int fd =
        ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(saved_ >= 0);
    REQUIRE(fd >= 0);
    REQUIRE(::dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    ::close(fd);
  }
  ~StderrCapture() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string text() const {
    std::ifstream in(path_);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  // The worker's lines in it (robustmq-worker[<pid>] [<client_id>] <level>: <text>).
  bool has_worker_line(std::string_view level_and_text) const {
    std::istringstream in(text());
    for (std::string line; std::getline(in, line);)
      if (line.rfind("robustmq-worker[", 0) == 0 && contains(line, level_and_text)) return true;
    return false;
  }

 private:
  std::filesystem::path path_;
  int saved_ = -1;
};

// What a handler received, and on which thread.
struct Lines {
  mutable std::mutex mu;
  std::vector<std::pair<LogLevel, std::string>> lines;
  std::vector<std::string> threads;

  LogHandler handler() {
    return [this](LogLevel level, std::string_view line) {
      std::array<char, 16> name{};
      ::pthread_getname_np(::pthread_self(), name.data(), name.size());
      std::lock_guard lock(mu);
      lines.emplace_back(level, std::string(line));
      threads.emplace_back(name.data());
    };
  }
  std::size_t count(LogLevel level, std::string_view part) const {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (const auto& [l, text] : lines) n += l == level && contains(text, part) ? 1 : 0;
    return n;
  }
  bool wait_for(LogLevel level, std::string_view part, std::size_t n = 1) const {
    return wait_until([&] { return count(level, part) >= n; }, 30s);
  }
  std::string dump() const {
    std::lock_guard lock(mu);
    std::string out;
    for (const auto& [l, text] : lines)
      out += std::to_string(static_cast<int>(l)) + " " + text + "\n";
    return out;
  }
};

// Closed until open() is called; wait() blocks until then.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Opens the gate when the scope ends.
  struct OpenAtExit {
    Gate& gate;
    ~OpenAtExit() { gate.open(); }
  };

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A broker, a client of it whose process's stderr is captured, and what its handler got.
struct Setup {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  StderrCapture err{dir / "stderr"};
  Lines got;
  RobustClient client;

  explicit Setup(const std::string& id) : client(client_options(dir / "cache", id)) {}
  void connect() { client.connect_async(broker.host(), broker.port()); }
};

}  // namespace

TEST_CASE("the worker's lines reach the log handler with their levels on the monitor thread, "
          "not stderr; cleared, they go to stderr again") {
  Setup t("log-handler");
  auto& [broker, dir, err, got, client] = t;
  client.set_log_handler(got.handler());
  t.connect();
  REQUIRE_MESSAGE(got.wait_for(LogLevel::info, "connected to tcp://127.0.0.1:"), got.dump());
  CHECK(got.count(LogLevel::info, "started: sqlite cache holds 0 messages") == 1);

  broker.stop();  // an outage: the worker warns
  REQUIRE_MESSAGE(got.wait_for(LogLevel::warning, "connection lost"), got.dump());
  {
    std::lock_guard lock(got.mu);
    for (const auto& [level, text] : got.lines) {
      CAPTURE(text);
      CHECK(text.find("robustmq-worker") == std::string::npos);  // the text only
      CHECK(text.find('\n') == std::string::npos);
    }
    for (const auto& name : got.threads) CHECK(name == "robustmq-mon");
  }
  CHECK_MESSAGE(!contains(err.text(), "robustmq-worker["), err.text());

  client.set_log_handler(nullptr);
  broker.start();
  REQUIRE_MESSAGE(wait_until([&] { return err.has_worker_line("] info: connected to tcp://"); },
                             30s),
                  err.text());
  CHECK(got.count(LogLevel::info, "connected to") == 1);
  client.stop();
  CHECK(err.has_worker_line("] info: stopped: ring empty"));
}

TEST_CASE("a log handler set after connect_async() gets the lines from then on, and stop() "
          "hands it the worker's last ones") {
  Setup t("log-handler-late");
  auto& [broker, dir, err, got, client] = t;
  t.connect();
  REQUIRE(wait_until([&] { return err.has_worker_line("] info: connected to tcp://"); }, 30s));

  client.set_log_handler(got.handler());
  broker.stop();
  REQUIRE_MESSAGE(got.wait_for(LogLevel::warning, "connection lost"), got.dump());
  REQUIRE_FALSE(publish_range(client, "it/log/seq", 0, 10));
  client.stop();
  // Logged by the worker as it ended, before stop() returned.
  CHECK_MESSAGE(got.count(LogLevel::info, "stopped: ring empty, 10 messages left in the cache") ==
                    1,
                got.dump());
  const std::string text = err.text();
  CHECK_MESSAGE(!contains(text, "connection lost"), text);
  CHECK_MESSAGE(!contains(text, "stopped:"), text);
}

TEST_CASE("a worker killed and restarted: its successor's lines reach the handler too") {
  Setup t("log-handler-restart");
  auto& [broker, dir, err, got, client] = t;
  client.set_log_handler(got.handler());
  t.connect();
  REQUIRE(got.wait_for(LogLevel::info, "connected to"));
  const pid_t worker = worker_of(client);
  REQUIRE(worker > 0);
  REQUIRE(::kill(worker, SIGKILL) == 0);
  REQUIRE(wait_successor(client, worker) > 0);
  CHECK_MESSAGE(got.wait_for(LogLevel::info, "connected to", 2), got.dump());
  CHECK(got.count(LogLevel::info, "started:") == 2);
  client.stop();
  CHECK_MESSAGE(!contains(err.text(), "robustmq-worker["), err.text());
}

TEST_CASE("a line the log handler throws on goes to stderr, as the worker writes it") {
  Setup t("log-handler-throws");
  auto& [broker, dir, err, got, client] = t;
  std::atomic<int> calls{0};
  client.set_log_handler([&](LogLevel, std::string_view line) {
    if (contains(std::string(line), "connected to")) calls.fetch_add(1);
    throw std::runtime_error("no");
  });
  t.connect();
  REQUIRE_MESSAGE(wait_until([&] { return err.has_worker_line("[log-handler-throws] info: "
                                                              "connected to tcp://"); }, 30s),
                  err.text());
  CHECK(calls.load() == 1);  // the handler had it first
  client.stop();
}

TEST_CASE("a log handler too slow for the worker: the lines the socket cannot hold go to "
          "stderr, the worker does not wait, and the handler gets the later ones") {
  testkit::TempDir dir;
  const StderrCapture err(dir / "stderr");
  Options o = client_options(dir / "cache", "log-handler-slow");
  o.log_level = LogLevel::debug;  // a line for each spool
  o.cache_sync = false;
  Gate gate;
  Lines got;
  LogHandler record = got.handler();
  RobustClient client(o);
  const Gate::OpenAtExit open_at_exit(gate);  // a failed REQUIRE must not leave stop() waiting
  client.set_log_handler([&](LogLevel level, std::string_view line) {
    record(level, line);
    gate.wait();  // the first call blocks until the test opens the gate
  });
  const int port = testkit::free_port();
  client.connect_async("127.0.0.1", port);  // no broker yet
  // Each message, flushed, is spooled with a debug line; they pile up in the socket until it is
  // full, and the next go to stderr.
  bool on_stderr = false;
  for (int i = 0; i < 20'000 && !on_stderr; ++i) {
    REQUIRE_FALSE(client.publish("it/log/slow", "x", 1));
    REQUIRE_FALSE(client.flush(30s));
    on_stderr = i % 10 == 0 && err.has_worker_line("] debug: spooled 1 messages to the cache");
  }
  REQUIRE_MESSAGE(on_stderr, got.dump());
  {
    std::lock_guard lock(got.mu);
    CHECK(got.lines.size() == 1);  // the call that blocks
  }
  gate.open();
  // The lines that waited in the socket, then a later one: the connection to a broker started
  // now.
  testkit::MosquittoOptions mo;
  mo.port = port;
  testkit::Mosquitto broker(mo);
  CHECK_MESSAGE(got.wait_for(LogLevel::info, "connected to tcp://127.0.0.1:"), got.dump());
  CHECK(got.count(LogLevel::debug, "spooled 1 messages") > 10);
  client.stop();
  CHECK_MESSAGE(!err.has_worker_line("] info: connected to"), err.text());
}
