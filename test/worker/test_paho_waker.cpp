// PahoWaker (worker/paho_waker.hpp) with the real Paho library: what it says, and on which
// thread. The worker's log is the main thread's (worker/log.hpp): the waker's own thread must
// never write a line itself, and an orderly end is not a failure worth a warning.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "worker/paho_library.hpp"
#include "worker/paho_waker.hpp"

namespace robustmq::test {

namespace {

// Everything written to stderr while it lives, in a file of its own.
class CapturedStderr {
 public:
  CapturedStderr() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
    REQUIRE(file_ != nullptr);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(::fileno(file_), STDERR_FILENO) == STDERR_FILENO);
  }
  ~CapturedStderr() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    std::fclose(file_);
  }
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;

  std::string text() const {
    std::string out;
    char buf[4096];
    for (off_t at = 0;;) {
      const ssize_t n = ::pread(::fileno(file_), buf, sizeof buf, at);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
  }

 private:
  std::FILE* file_;
  int saved_;
};

// The lines the waker hands to its owner, from the waker's thread.
class Reported {
 public:
  worker::PahoWaker::Report report() {
    return [this](worker::Level level, std::string text) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(level, std::move(text));
    };
  }
  std::vector<std::pair<worker::Level, std::string>> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<worker::Level, std::string>> lines_;
};

// The waker's own connection is up once it rings: while an attempt lasts it rings every
// 256 ms at the latest, and only over an acknowledged connection.
bool wait_until_ringing(worker::PahoWaker& w) {
  w.connecting();
  for (int i = 0; i < 6000 && w.rings() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  w.connect_ended();
  return w.rings() > 0;
}

}  // namespace

TEST_CASE("a waker destroyed with its connection up writes no line: ending is not a failure") {
  REQUIRE(worker::load_paho(false).empty());
  CapturedStderr err;
  Reported got;
  for (int life = 0; life < 20; ++life) {
    worker::PahoWaker w(got.report());
    REQUIRE_MESSAGE(w.enabled(), w.why_not());
    REQUIRE(wait_until_ringing(w));
  }
  CHECK_MESSAGE(err.text().empty(), err.text());
  CHECK(got.lines().empty());
}

TEST_CASE("what the waker's thread has to say goes to its owner, never to stderr itself") {
  REQUIRE(worker::load_paho(false).empty());
  CapturedStderr err;
  Reported got;
  {
    worker::PahoWaker w(got.report());
    REQUIRE_MESSAGE(w.enabled(), w.why_not());
    REQUIRE(wait_until_ringing(w));
    // No MQTT connection in this process: no socket to watch, which the waker says once.
    w.watch_connection();
    for (int i = 0; i < 6000 && got.lines().empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK_FALSE(w.watching());
  }
  const auto lines = got.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].first == worker::Level::info);
  CHECK_MESSAGE(lines[0].second.find("0 TCP connections of this process") != std::string::npos,
                lines[0].second);
  CHECK_MESSAGE(err.text().empty(), err.text());
}

}  // namespace robustmq::test
