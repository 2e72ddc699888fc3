// The C API's events and drop journal (include/robustmq/robustmq.h): the delivered, dropped and
// connection callbacks through a real broker, clearing them with NULL, and
// robustmq_read_drop_journal() with its count and versioned struct.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
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
                                                           const char* id) {
  std::unique_ptr<robustmq_options, OptionsDeleter> o(robustmq_options_new());
  REQUIRE(o);
  REQUIRE(robustmq_options_set_client_id(o.get(), id) == ROBUSTMQ_OK);
  REQUIRE(robustmq_options_set_cache_path(o.get(), cache.c_str()) == ROBUSTMQ_OK);
  REQUIRE(robustmq_options_set_reconnect_ms(o.get(), 50, 500) == ROBUSTMQ_OK);
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
