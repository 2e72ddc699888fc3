// Credentials before each connection attempt (worker/loop_credentials.cpp): the application's
// handler is asked over the lifeline and its answer awaited up to connect_timeout; the password
// file is read again; an orphan asks nothing. Real lifeline socket, scripted transport.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>

#include "proto/lifeline.hpp"
#include "test/worker/loop_harness.hpp"

namespace robustmq::test {

using namespace std::chrono_literals;
using Link = worker::Loop::Link;
using Pair = std::pair<std::string, std::string>;

namespace {

const std::string kAsk(1, lifeline::kAskCredentials);

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::trunc) << text;
}

// Attempts every 100 ms.
void fast_retry(WorkerConfig& c) {
  c.reconnect_min = 100ms;
  c.reconnect_max = 100ms;
}

// The current attempt fails; the backoff passes: the next attempt is due.
void fail_and_retry(LoopHarness& h) {
  h.transport.connect_failed("broker away");
  h.pump();
  h.time.advance(100ms);
  h.pump();
}

}  // namespace

TEST_CASE("with a credentials handler each attempt asks the application first and connects "
          "with its answer; 'N' keeps the last one") {
  LoopHarness h([](WorkerConfig& c) {
    c.username = "device-7";
    c.password = "expired";
    fast_retry(c);
  });
  h.credentials_handler(true);
  h.transport.accept_connects = false;
  h.pump();
  CHECK(h.app_read() == kAsk);
  CHECK(h.transport.connects == 0);  // waits for the answer
  h.app_send(lifeline::encode_credentials("device-7", std::string("tok\0en-1", 8)));
  REQUIRE(h.transport.connects == 1);
  CHECK(h.transport.connect_credentials.back() == Pair("device-7", std::string("tok\0en-1", 8)));

  fail_and_retry(h);
  CHECK(h.app_read() == kAsk);
  CHECK(h.transport.connects == 1);
  h.app_send(std::string(1, lifeline::kNoCredentials));
  REQUIRE(h.transport.connects == 2);
  CHECK(h.transport.connect_credentials.back() == Pair("device-7", std::string("tok\0en-1", 8)));

  SUBCASE("a password holding 'h' is no hand-off") {
    fail_and_retry(h);
    CHECK(h.app_read() == kAsk);
    h.app_send(lifeline::encode_credentials("h", "hhhh"));
    REQUIRE(h.transport.connects == 3);
    CHECK(h.transport.connect_credentials.back() == Pair("h", "hhhh"));
    CHECK_FALSE(h.loop->handed_off());
    h.application_exits();
    CHECK_FALSE(h.loop->handed_off());  // it exited; it did not hand off
    fail_and_retry(h);
    CHECK(h.transport.connects == 4);  // an orphan asks nothing
  }
}

TEST_CASE("no answer within connect_timeout: the attempt goes with the last credentials; a late "
          "answer counts from the next attempt on") {
  LoopHarness h([](WorkerConfig& c) {
    c.username = "u";
    c.password = "p0";
    c.connect_timeout = 10s;
    fast_retry(c);
  });
  h.credentials_handler(true);
  h.transport.accept_connects = false;
  h.pump();
  CHECK(h.app_read() == kAsk);
  // The loop sleeps until the deadline, not in a spin, and not past it.
  REQUIRE(h.loop->next_deadline().has_value());
  CHECK(*h.loop->next_deadline() - h.time.now() == 10s);
  h.time.advance(9'999ms);
  h.pump();
  CHECK(h.transport.connects == 0);
  h.time.advance(1ms);
  h.pump();
  REQUIRE(h.transport.connects == 1);
  CHECK(h.transport.connect_credentials.back() == Pair("u", "p0"));

  h.app_send(lifeline::encode_credentials("u", "p1"));  // the late answer
  fail_and_retry(h);
  CHECK(h.app_read() == kAsk);
  // This attempt's own answer is still due: it waits for it.
  CHECK(h.transport.connects == 1);
  h.app_send(lifeline::encode_credentials("u", "p2"));
  REQUIRE(h.transport.connects == 2);
  CHECK(h.transport.connect_credentials.back() == Pair("u", "p2"));
}

TEST_CASE("without a handler, or once the application is gone, nothing is asked") {
  LoopHarness h(fast_retry);
  h.transport.accept_connects = false;
  h.pump();
  CHECK(h.transport.connects == 1);
  CHECK(h.app_read().empty());

  h.credentials_handler(true);
  h.application_exits();
  fail_and_retry(h);
  CHECK(h.transport.connects == 2);
}

TEST_CASE("the application exits while an attempt waits for its answer: the attempt goes at once") {
  LoopHarness h([](WorkerConfig& c) { c.connect_timeout = 60s; });
  h.credentials_handler(true);
  h.transport.accept_connects = false;
  h.pump();
  CHECK(h.app_read() == kAsk);
  CHECK(h.transport.connects == 0);
  h.application_exits();
  h.pump();
  CHECK(h.transport.connects == 1);
}

TEST_CASE("password_file is read before each attempt; unreadable, the last password stays and "
          "the error says so; the handler's answer wins over it") {
  LoopHarness h([](WorkerConfig& c) {
    fast_retry(c);
    c.username = "u";
  });
  const auto file = h.dir() / "token";
  h.config.password_file = file.string();
  write_file(file, "first\n");
  h.restart_worker();  // the configuration with the file
  h.transport.accept_connects = false;
  h.pump();
  REQUIRE(h.transport.connects == 1);
  CHECK(h.transport.connect_credentials.back() == Pair("u", "first"));
  write_file(file, "second\r\n");
  fail_and_retry(h);
  CHECK(h.transport.connect_credentials.back() == Pair("u", "second"));
  write_file(file, "no newline");
  fail_and_retry(h);
  CHECK(h.transport.connect_credentials.back() == Pair("u", "no newline"));
  std::filesystem::remove(file);
  fail_and_retry(h);
  CHECK(h.transport.connects == 4);
  CHECK(h.transport.connect_credentials.back() == Pair("u", "no newline"));
  CHECK(h.last_error().find("cannot read password_file") != std::string::npos);

  write_file(file, "from the file");
  h.credentials_handler(true);
  fail_and_retry(h);
  CHECK(h.app_read() == kAsk);
  h.app_send(lifeline::encode_credentials("v", "from the handler"));
  CHECK(h.transport.connect_credentials.back() == Pair("v", "from the handler"));
  // The handler keeps its answer ('N'); the file has not changed: the handler's stays.
  fail_and_retry(h);
  CHECK(h.app_read() == kAsk);
  h.app_send(std::string(1, lifeline::kNoCredentials));
  CHECK(h.transport.connects == 6);
  CHECK(h.transport.connect_credentials.back() == Pair("v", "from the handler"));
  // The file changes: its password is the newer one now.
  write_file(file, "rotated");
  fail_and_retry(h);
  CHECK(h.app_read() == kAsk);
  h.app_send(std::string(1, lifeline::kNoCredentials));
  CHECK(h.transport.connect_credentials.back() == Pair("v", "rotated"));
}

TEST_CASE("password_file: a FIFO put in its place does not block the worker; an empty file (a "
          "rewrite caught half-way) keeps the last password; only a newline is stripped") {
  LoopHarness h([](WorkerConfig& c) {
    fast_retry(c);
    c.username = "u";
  });
  const auto file = h.dir() / "token";
  h.config.password_file = file.string();
  write_file(file, "ends in CR\r");
  h.restart_worker();
  h.transport.accept_connects = false;
  h.pump();
  REQUIRE(h.transport.connects == 1);
  CHECK(h.transport.connect_credentials.back() == Pair("u", "ends in CR\r"));
  write_file(file, "");
  fail_and_retry(h);
  CHECK(h.transport.connect_credentials.back() == Pair("u", "ends in CR\r"));
  std::filesystem::remove(file);
  REQUIRE(::mkfifo(file.c_str(), 0600) == 0);  // no writer: open() would wait for one
  fail_and_retry(h);
  CHECK(h.transport.connects == 3);
  CHECK(h.transport.connect_credentials.back() == Pair("u", "ends in CR\r"));
  CHECK(h.last_error().find("not a regular file") != std::string::npos);
}

}  // namespace robustmq::test
