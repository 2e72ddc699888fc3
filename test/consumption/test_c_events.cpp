// The C API's events and drop journal (include/robustmq/robustmq.h): the delivered, dropped and
// connection callbacks through a real broker, clearing them with NULL, and
// robustmq_read_drop_journal() with its count and versioned struct; the credentials callback
// and password file (robustmq_credentials.h) against a broker with a password file; the log
// callback (robustmq_log.h).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <robustmq/robustmq.h>

#include <testkit/mosquitto.hpp>
#include <testkit/temp_dir.hpp>

namespace testkit = robustmq::testkit;

namespace {

struct OptionsDeleter {
  void operator()(robustmq_options* o) const { robustmq_options_free(o); }
};
struct ClientDeleter {
  void operator()(robustmq_client* c) const { robustmq_client_free(c); }
};

std::unique_ptr<robustmq_client, ClientDeleter> client_for(const std::filesystem::path& cache,
                                                           const char* id,
                                                           const char* username = nullptr,
                                                           const char* password = nullptr) {
  std::unique_ptr<robustmq_options, OptionsDeleter> o(robustmq_options_new());
  REQUIRE(o);
  REQUIRE(robustmq_options_set_client_id(o.get(), id) == ROBUSTMQ_OK);
  REQUIRE(robustmq_options_set_cache_path(o.get(), cache.c_str()) == ROBUSTMQ_OK);
  REQUIRE(robustmq_options_set_reconnect_ms(o.get(), 50, 500) == ROBUSTMQ_OK);
  if (username != nullptr)
    REQUIRE(robustmq_options_set_credentials(o.get(), username, password) == ROBUSTMQ_OK);
  std::unique_ptr<robustmq_client, ClientDeleter> c(robustmq_client_new(o.get()));
  REQUIRE(c);
  return c;
}

// What the callbacks saw; ctx of every callback.
struct Seen {
  std::mutex mu;
  std::map<std::uint64_t, int> delivered;  // number -> times reported
  std::vector<robustmq_dropped_range> dropped;
  std::vector<std::pair<int, std::string>> states;
  int foreign_calls = 0;  // calls of a callback that was cleared
};

extern "C" void on_delivered(void* ctx, std::uint64_t first, std::uint64_t last) {
  auto* s = static_cast<Seen*>(ctx);
  std::lock_guard lock(s->mu);
  for (std::uint64_t n = first; n <= last; ++n) ++s->delivered[n];
}
extern "C" void on_dropped(void* ctx, const struct robustmq_dropped_range* r) {
  auto* s = static_cast<Seen*>(ctx);
  std::lock_guard lock(s->mu);
  s->dropped.push_back(*r);
}
extern "C" void on_connection(void* ctx, int state, const char* reason) {
  auto* s = static_cast<Seen*>(ctx);
  std::lock_guard lock(s->mu);
  s->states.emplace_back(state, reason);
}
extern "C" void on_delivered_cleared(void* ctx, std::uint64_t, std::uint64_t) {
  auto* s = static_cast<Seen*>(ctx);
  std::lock_guard lock(s->mu);
  ++s->foreign_calls;
}

}  // namespace

TEST_CASE("the C callbacks report every message delivered once and the connection's states; "
          "NULL clears a callback") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  auto c = client_for(dir / "cache", "c-events");
  Seen seen;
  Seen cleared;
  CHECK(robustmq_set_delivered_callback(nullptr, on_delivered, &seen) ==
        ROBUSTMQ_ERR_INVALID_ARGUMENT);
  REQUIRE(robustmq_set_delivered_callback(c.get(), on_delivered, &seen) == ROBUSTMQ_OK);
  REQUIRE(robustmq_set_dropped_callback(c.get(), on_dropped, &seen) == ROBUSTMQ_OK);
  REQUIRE(robustmq_set_connection_callback(c.get(), on_connection, &seen) == ROBUSTMQ_OK);
  REQUIRE(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) == ROBUSTMQ_OK);
  std::uint64_t last = 0;
  for (int i = 0; i < 100; ++i)
    REQUIRE(robustmq_publish_seq(c.get(), "c/events", "x", 1, 1, 0, &last) == ROBUSTMQ_OK);
  REQUIRE(robustmq_wait_delivered(c.get(), 60'000) == ROBUSTMQ_OK);
  // The callback runs on the library's thread, a moment after delivered_through moved.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(seen.mu);
      if (seen.delivered.count(last) != 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // A cleared callback is not called again.
  REQUIRE(robustmq_set_delivered_callback(c.get(), on_delivered_cleared, &cleared) ==
          ROBUSTMQ_OK);
  REQUIRE(robustmq_set_delivered_callback(c.get(), nullptr, nullptr) == ROBUSTMQ_OK);
  std::uint64_t after = 0;
  REQUIRE(robustmq_publish_seq(c.get(), "c/events", "y", 1, 1, 0, &after) == ROBUSTMQ_OK);
  REQUIRE(robustmq_wait_delivered(c.get(), 60'000) == ROBUSTMQ_OK);
  REQUIRE(robustmq_stop(c.get()) == ROBUSTMQ_OK);  // the last pass has run when it returns

  std::lock_guard lock(seen.mu);
  CHECK(cleared.foreign_calls == 0);
  CHECK(seen.dropped.empty());
  for (std::uint64_t n = 1; n <= last; ++n) {
    CAPTURE(n);
    CHECK(seen.delivered[n] == 1);
  }
  CHECK(seen.delivered.count(after) == 0);
  bool connected = false;
  for (const auto& [state, reason] : seen.states)
    if (state == ROBUSTMQ_STATE_CONNECTED) connected = true;
  CHECK(connected);
  REQUIRE_FALSE(seen.states.empty());
  CHECK(seen.states.back().first == ROBUSTMQ_STATE_STOPPED);
}

TEST_CASE("robustmq_read_drop_journal() reads nothing from a new cache directory and refuses "
          "what it cannot read") {
  testkit::TempDir dir;
  auto c = client_for(dir / "cache", "c-journal");
  robustmq_dropped_range out[4];
  std::size_t count = 99;
  CHECK(robustmq_read_drop_journal(c.get(), out, 4, &count) == ROBUSTMQ_OK);
  CHECK(count == 0);
  CHECK(robustmq_read_drop_journal(c.get(), nullptr, 0, &count) == ROBUSTMQ_OK);
  CHECK(robustmq_read_drop_journal(c.get(), nullptr, 4, &count) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_read_drop_journal(c.get(), out, 4, nullptr) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_read_drop_journal(nullptr, out, 4, &count) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  std::filesystem::create_directories(dir / "cache" / "robustmq.drops");  // not a file
  CHECK(robustmq_read_drop_journal(c.get(), out, 4, &count) == ROBUSTMQ_ERR_SYSTEM);
  char why[512];
  robustmq_last_error(c.get(), why, sizeof why);
  CHECK(std::string(why).find("robustmq.drops") != std::string::npos);
}

TEST_CASE("robustmq_read_drop_journal() lists the expired messages of an earlier life, cut "
          "to the capacity with the full count") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  broker.stop();
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  {
    std::unique_ptr<robustmq_options, OptionsDeleter> o(robustmq_options_new());
    REQUIRE(robustmq_options_set_client_id(o.get(), "c-ttl") == ROBUSTMQ_OK);
    REQUIRE(robustmq_options_set_cache_path(o.get(), (dir / "cache").c_str()) == ROBUSTMQ_OK);
    REQUIRE(robustmq_options_set_message_ttl_s(o.get(), 1) == ROBUSTMQ_OK);
    REQUIRE(robustmq_options_set_reconnect_ms(o.get(), 50, 500) == ROBUSTMQ_OK);
    std::unique_ptr<robustmq_client, ClientDeleter> c(robustmq_client_new(o.get()));
    Seen seen;
    REQUIRE(robustmq_set_dropped_callback(c.get(), on_dropped, &seen) == ROBUSTMQ_OK);
    REQUIRE(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) == ROBUSTMQ_OK);
    for (int i = 0; i < 10; ++i)
      REQUIRE(robustmq_publish_seq(c.get(), "c/ttl", "x", 1, 1, 0, i == 0 ? &first : &last) ==
              ROBUSTMQ_OK);
    REQUIRE(robustmq_flush(c.get(), 60'000) == ROBUSTMQ_OK);
    // Their second passes with the broker away (a wait for the clock, not for the worker).
    std::this_thread::sleep_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(1500));
    broker.start();
    REQUIRE(robustmq_wait_delivered(c.get(), 120'000) == ROBUSTMQ_OK);
    REQUIRE(robustmq_stop(c.get()) == ROBUSTMQ_OK);
    std::lock_guard lock(seen.mu);
    std::uint64_t numbers = 0;
    for (const auto& r : seen.dropped) {
      CHECK(r.reason == ROBUSTMQ_DROP_EXPIRED);
      numbers += r.last - r.first + 1;
    }
    CHECK(numbers == 10);
  }
  auto later = client_for(dir / "cache", "c-ttl");
  std::size_t count = 0;
  REQUIRE(robustmq_read_drop_journal(later.get(), nullptr, 0, &count) == ROBUSTMQ_OK);
  REQUIRE(count >= 1);
  std::vector<robustmq_dropped_range> all(count);
  REQUIRE(robustmq_read_drop_journal(later.get(), all.data(), all.size(), &count) == ROBUSTMQ_OK);
  std::uint64_t numbers = 0;
  for (const auto& r : all) {
    CHECK(std::string(robustmq_drop_reason_name(r.reason)) == "expired");
    CHECK(r.first >= first);
    CHECK(r.last <= last);
    CHECK(r.time_ms > 0);
    numbers += r.last - r.first + 1;
  }
  CHECK(numbers == 10);
}

TEST_CASE("robustmq_drop_reason_name() names every reason") {
  CHECK(std::string(robustmq_drop_reason_name(ROBUSTMQ_DROP_EXPIRED)) == "expired");
  CHECK(std::string(robustmq_drop_reason_name(ROBUSTMQ_DROP_OVERFLOW)) == "overflow");
  CHECK(std::string(robustmq_drop_reason_name(ROBUSTMQ_DROP_DAMAGED)) == "damaged");
  CHECK(std::string(robustmq_drop_reason_name(ROBUSTMQ_DROP_REFUSED)) == "refused");
  CHECK(std::string(robustmq_drop_reason_name(ROBUSTMQ_DROP_UNKNOWN)) == "unknown");
  CHECK(std::string(robustmq_drop_reason_name(99)) == "unknown");
}

namespace {

// What the credentials callback saw and did; its ctx.
struct CredentialsSeen {
  std::mutex mu;
  int calls = 0;
  int keep = 0;  // return 0 (keep the last) from this call on
  std::vector<int> bad_input;  // robustmq_credentials_set() on bad input, in order
};

extern "C" int supply_credentials(void* ctx, robustmq_credentials* c) {
  auto* s = static_cast<CredentialsSeen*>(ctx);
  std::lock_guard lock(s->mu);
  ++s->calls;
  if (s->calls == 1) {
    s->bad_input.push_back(robustmq_credentials_set(nullptr, "device-7", "x", 1));
    s->bad_input.push_back(robustmq_credentials_set(c, "device-7", nullptr, 3));
    s->bad_input.push_back(robustmq_credentials_set(c, "device-\xff", "x", 1));
    // '+' and '#' are fine in a user name; the byte after them is still checked.
    s->bad_input.push_back(robustmq_credentials_set(c, "dev+\xff", "x", 1));
    static const std::string too_long(65536, 'x');
    s->bad_input.push_back(
        robustmq_credentials_set(c, "device-7", too_long.data(), too_long.size()));
  }
  if (s->keep != 0 && s->calls >= s->keep) return 0;
  return robustmq_credentials_set(c, "device-7", "s3cret", 6) == ROBUSTMQ_OK ? 1 : 0;
}

}  // namespace

TEST_CASE("robustmq_set_credentials_callback(): the callback's password lets the client in; "
          "robustmq_credentials_set() refuses bad input; 0 keeps the last credentials") {
  testkit::TempDir auth;
  const std::string passwd = (auth / "passwd").string();
  const std::string command = "mosquitto_passwd -b -c " + passwd + " device-7 s3cret >/dev/null";
  REQUIRE(std::system(command.c_str()) == 0);
  testkit::Mosquitto broker(testkit::MosquittoOptions{.extra_config = {"password_file " + passwd}});
  testkit::TempDir dir;
  // The options' password is wrong: only the callback's lets the client in.
  auto c = client_for(dir / "cache", "c-credentials", "device-7", "expired");
  CredentialsSeen seen;
  CHECK(robustmq_set_credentials_callback(nullptr, supply_credentials, &seen) ==
        ROBUSTMQ_ERR_INVALID_ARGUMENT);
  REQUIRE(robustmq_set_credentials_callback(c.get(), supply_credentials, &seen) == ROBUSTMQ_OK);
  REQUIRE(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) == ROBUSTMQ_OK);
  REQUIRE(robustmq_publish(c.get(), "c/credentials", "1", 1, 1, 0) == ROBUSTMQ_OK);
  REQUIRE(robustmq_wait_delivered(c.get(), 60'000) == ROBUSTMQ_OK);
  {
    std::lock_guard lock(seen.mu);
    CHECK(seen.calls >= 1);
    CHECK(seen.bad_input == std::vector<int>(5, ROBUSTMQ_ERR_INVALID_ARGUMENT));
    seen.keep = seen.calls + 1;  // from the next call on: keep the last credentials
  }
  int calls_before = 0;
  {
    std::lock_guard lock(seen.mu);
    calls_before = seen.calls;
  }
  // A broker restart: the next attempt asks again, the callback keeps the last credentials.
  broker.stop();
  broker.start();
  REQUIRE(robustmq_publish(c.get(), "c/credentials", "2", 1, 1, 0) == ROBUSTMQ_OK);
  REQUIRE(robustmq_wait_delivered(c.get(), 60'000) == ROBUSTMQ_OK);
  {
    std::lock_guard lock(seen.mu);
    CHECK(seen.calls > calls_before);  // asked again after the restart, and kept the last
  }
  REQUIRE(robustmq_set_credentials_callback(c.get(), nullptr, nullptr) == ROBUSTMQ_OK);
  REQUIRE(robustmq_stop(c.get()) == ROBUSTMQ_OK);
}

TEST_CASE("robustmq_options_set_password_file(): a missing file fails the connect with ENOENT "
          "and a message naming it") {
  testkit::TempDir dir;
  std::unique_ptr<robustmq_options, OptionsDeleter> o(robustmq_options_new());
  REQUIRE(o);
  REQUIRE(robustmq_options_set_client_id(o.get(), "c-password-file") == ROBUSTMQ_OK);
  REQUIRE(robustmq_options_set_cache_path(o.get(), (dir / "cache").c_str()) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_password_file(nullptr, "x") == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  REQUIRE(robustmq_options_set_password_file(o.get(), (dir / "missing").c_str()) == ROBUSTMQ_OK);
  std::unique_ptr<robustmq_client, ClientDeleter> c(robustmq_client_new(o.get()));
  REQUIRE(c);
  CHECK(robustmq_connect_async(c.get(), "127.0.0.1", 1) == ROBUSTMQ_ERR_SYSTEM);
  CHECK(robustmq_last_errno(c.get()) == ENOENT);
  char message[512];
  robustmq_last_error(c.get(), message, sizeof message);
  CHECK(std::string(message).find("Options::password_file") != std::string::npos);
}

TEST_CASE("robustmq_options_set_metrics_file(): the interval's range; the worker writes the file "
          "and a missing directory fails the connect with ENOENT naming it") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  std::unique_ptr<robustmq_options, OptionsDeleter> o(robustmq_options_new());
  REQUIRE(o);
  REQUIRE(robustmq_options_set_client_id(o.get(), "c-metrics") == ROBUSTMQ_OK);
  REQUIRE(robustmq_options_set_cache_path(o.get(), (dir / "cache").c_str()) == ROBUSTMQ_OK);
  const std::string file = (dir / "m.prom").string();
  CHECK(robustmq_options_set_metrics_file(nullptr, file.c_str(), 5) ==
        ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_metrics_file(o.get(), file.c_str(), 0) ==
        ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_metrics_file(o.get(), file.c_str(), 86'401) ==
        ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_metrics_file(o.get(), nullptr, 0) == ROBUSTMQ_OK);  // none
  {
    REQUIRE(robustmq_options_set_metrics_file(o.get(), (dir / "no" / "m.prom").c_str(), 5) ==
            ROBUSTMQ_OK);
    std::unique_ptr<robustmq_client, ClientDeleter> c(robustmq_client_new(o.get()));
    REQUIRE(c);
    CHECK(robustmq_connect_async(c.get(), "127.0.0.1", 1) == ROBUSTMQ_ERR_SYSTEM);
    CHECK(robustmq_last_errno(c.get()) == ENOENT);
    char message[512];
    robustmq_last_error(c.get(), message, sizeof message);
    CHECK(std::string(message).find("Options::metrics_file") != std::string::npos);
  }
  REQUIRE(robustmq_options_set_metrics_file(o.get(), file.c_str(), 86'400) == ROBUSTMQ_OK);
  std::unique_ptr<robustmq_client, ClientDeleter> c(robustmq_client_new(o.get()));
  REQUIRE(c);
  REQUIRE(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) == ROBUSTMQ_OK);
  // stop() returns once the worker has exited, after its last write.
  REQUIRE(robustmq_stop(c.get()) == ROBUSTMQ_OK);
  std::ifstream in(file);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  CHECK(text.find("robustmq_worker_up{client_id=\"c-metrics\"} 0\n") != std::string::npos);
}

namespace {

// What the log callback saw; its ctx.
struct LogSeen {
  std::mutex mu;
  std::vector<std::pair<int, std::string>> lines;
};

extern "C" void on_log(void* ctx, int level, const char* line) {
  auto* s = static_cast<LogSeen*>(ctx);
  std::lock_guard lock(s->mu);
  s->lines.emplace_back(level, line);
}

}  // namespace

TEST_CASE("robustmq_set_log_callback(): the worker's lines with their ROBUSTMQ_LOG_* levels, "
          "up to robustmq_stop(); NULL clears it") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  auto c = client_for(dir / "cache", "c-log");
  LogSeen seen;
  CHECK(robustmq_set_log_callback(nullptr, on_log, &seen) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  REQUIRE(robustmq_set_log_callback(c.get(), on_log, &seen) == ROBUSTMQ_OK);
  REQUIRE(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) == ROBUSTMQ_OK);
  const auto has = [&](int level, const std::string& part) {
    std::lock_guard lock(seen.mu);
    for (const auto& [l, text] : seen.lines)
      if (l == level && text.find(part) != std::string::npos) return true;
    return false;
  };
  const auto wait_for = [&](int level, const std::string& part) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!has(level, part) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return has(level, part);
  };
  CHECK(wait_for(ROBUSTMQ_LOG_INFO, "connected to tcp://"));
  broker.stop();
  CHECK(wait_for(ROBUSTMQ_LOG_WARNING, "connection lost"));
  REQUIRE(robustmq_stop(c.get()) == ROBUSTMQ_OK);
  CHECK(has(ROBUSTMQ_LOG_INFO, "stopped: ring empty"));  // handed over by robustmq_stop()
  REQUIRE(robustmq_set_log_callback(c.get(), nullptr, nullptr) == ROBUSTMQ_OK);
}
