// Rules of the C API (include/robustmq/robustmq.h): codes mirror robustmq::errc, failures of
// connect_async() come back as ROBUSTMQ_ERR_SYSTEM with a retrievable message, robustmq_stats()
// writes no more than the caller's struct holds, and the C example program delivers everything
// through a real broker.
// (Over 450 lines: one file per interface, the C API's cases side by side with its header.)
#include <doctest/doctest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <robustmq/client.hpp>
#include <robustmq/robustmq.h>

#include <testkit/mosquitto.hpp>
#include <testkit/sequence.hpp>
#include <testkit/subscriber.hpp>
#include <testkit/temp_dir.hpp>

extern char** environ;

using namespace std::chrono_literals;
namespace testkit = robustmq::testkit;

namespace {

struct OptionsDeleter {
  void operator()(robustmq_options* o) const { robustmq_options_free(o); }
};
struct ClientDeleter {
  void operator()(robustmq_client* c) const { robustmq_client_free(c); }
};
using OptionsPtr = std::unique_ptr<robustmq_options, OptionsDeleter>;
using ClientPtr = std::unique_ptr<robustmq_client, ClientDeleter>;

OptionsPtr options_for(const std::filesystem::path& cache, const char* id) {
  OptionsPtr o(robustmq_options_new());
  REQUIRE(o);
  REQUIRE(robustmq_options_set_client_id(o.get(), id) == ROBUSTMQ_OK);
  REQUIRE(robustmq_options_set_cache_path(o.get(), cache.c_str()) == ROBUSTMQ_OK);
  REQUIRE(robustmq_options_set_reconnect_ms(o.get(), 50, 500) == ROBUSTMQ_OK);
  return o;
}

// Waits until the worker reports a broker connection. Publishing earlier is allowed; the tests
// wait so that they check the C API, not the worker's bug below.
bool wait_connected(const robustmq_client* c) {
  for (int i = 0; i < 200; ++i) {
    struct robustmq_stats s;
    if (robustmq_stats(c, &s) == ROBUSTMQ_OK && s.state == ROBUSTMQ_STATE_CONNECTED) return true;
    ::usleep(50'000);
  }
  return false;
}

std::string last_error(const robustmq_client* c) {
  const std::size_t n = robustmq_last_error(c, nullptr, 0);
  std::string s(n + 1, '\0');
  robustmq_last_error(c, s.data(), s.size());
  s.resize(n);
  return s;
}

}  // namespace

TEST_CASE("every C error code 1..19 is the errc of the same number with the same message") {
  const int last = static_cast<int>(robustmq::errc::resend_timeout);
  CHECK(last == ROBUSTMQ_ERR_RESEND_TIMEOUT);
  CHECK(static_cast<int>(robustmq::errc::unknown_sequence) == ROBUSTMQ_ERR_UNKNOWN_SEQUENCE);
  CHECK(static_cast<int>(robustmq::errc::delivery_timeout) == ROBUSTMQ_ERR_DELIVERY_TIMEOUT);
  for (int code = 0; code <= last; ++code) {
    CAPTURE(code);
    CHECK(std::string(robustmq_strerror(code)) == robustmq::error_category().message(code));
  }
  // The first code after the last errc must not have a real message, or the C API missed it.
  CHECK(robustmq::error_category().message(last + 1).find("unknown") != std::string::npos);
  for (int code : {ROBUSTMQ_ERR_INVALID_ARGUMENT, ROBUSTMQ_ERR_NO_MEMORY, ROBUSTMQ_ERR_SYSTEM}) {
    CAPTURE(code);
    CHECK(std::string(robustmq_strerror(code)).find("unknown") == std::string::npos);
  }
  CHECK(std::string(robustmq_strerror(99)).find("unknown") != std::string::npos);
  CHECK(std::string(robustmq_strerror(-1)).find("unknown") != std::string::npos);
  CHECK(std::string(robustmq_version()) == ROBUSTMQ_VERSION_FOR_TEST);
}

TEST_CASE("setters refuse NULL pointers and unknown enum values") {
  CHECK(robustmq_options_set_client_id(nullptr, "x") == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  OptionsPtr o(robustmq_options_new());
  REQUIRE(o);
  CHECK(robustmq_options_set_client_id(o.get(), nullptr) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_cache_path(o.get(), "") == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_cache_type(o.get(), 7) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_durability(o.get(), -1) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_overflow(o.get(), 2) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_mqtt_version(o.get(), 3) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_log_level(o.get(), 4) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_reconnect_ms(o.get(), 500, 50) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_cache_timeout_ms(o.get(), 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  // Numbers outside the ranges connect_async() would refuse.
  CHECK(robustmq_options_set_max_inflight(o.get(), 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_max_inflight(o.get(), 65536) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_drain_rate(o.get(), UINT64_MAX, 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_drain_rate(o.get(), 0, UINT64_MAX) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_drain_rate(o.get(), 2000, 0) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_keepalive_s(o.get(), 65536) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_keepalive_s(o.get(), -1) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_connect_timeout_s(o.get(), 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_message_ttl_s(o.get(), -1) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_dead_letter_bytes(o.get(), 0) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_dead_letter_bytes(nullptr, 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_reconnect_ms(o.get(), 0, 50) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_will(o.get(), "t", "x", 1, 3, 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_will(o.get(), "t", "x", 1, -1, 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_will(o.get(), "t", nullptr, 3, 1, 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_stop_timeout_ms(o.get(), -1) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_add_user_property(o.get(), nullptr, "v") == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_add_user_property(o.get(), "k", nullptr) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_content_type(nullptr, "a") == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_dedup_property(nullptr, 1) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_options_set_tls_verify_hostname(nullptr, 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  // Valid ones.
  CHECK(robustmq_options_set_stop_timeout_ms(o.get(), 2500) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_content_type(o.get(), "application/json") == ROBUSTMQ_OK);
  CHECK(robustmq_options_add_user_property(o.get(), "site", "north") == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_dedup_property(o.get(), 1) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_mqtt_version(o.get(), ROBUSTMQ_MQTT_5) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_tls(o.get(), 0, 1) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_tls_verify_hostname(o.get(), 1) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_tls_files(o.get(), nullptr, nullptr, nullptr, nullptr, nullptr) ==
        ROBUSTMQ_OK);
  CHECK(robustmq_options_set_log_level(o.get(), ROBUSTMQ_LOG_WARNING) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_max_inflight(o.get(), 65535) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_keepalive_s(o.get(), 65535) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_reconnect_ms(o.get(), 1, 1) == ROBUSTMQ_OK);
  CHECK(robustmq_options_set_will(o.get(), "t", "x", 1, 2, 1) == ROBUSTMQ_OK);
  CHECK(robustmq_client_new(nullptr) == nullptr);
  robustmq_options_free(nullptr);
  robustmq_client_free(nullptr);
}

TEST_CASE("calls on an unconnected client return codes, not crashes") {
  testkit::TempDir dir;
  auto o = options_for(dir / "cache", "c-unconnected");
  ClientPtr c(robustmq_client_new(o.get()));
  REQUIRE(c);
  CHECK(robustmq_publish(c.get(), "t", "x", 1, 1, 0) == ROBUSTMQ_ERR_NOT_CONNECTED);
  CHECK(robustmq_flush(c.get(), 10) == ROBUSTMQ_ERR_NOT_CONNECTED);
  CHECK(robustmq_wait_delivered(c.get(), 10) == ROBUSTMQ_ERR_NOT_CONNECTED);
  CHECK(robustmq_wait_delivered_seq(c.get(), 1, 10) == ROBUSTMQ_ERR_NOT_CONNECTED);
  CHECK(robustmq_wait_delivered(nullptr, 10) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_delivered_through(c.get()) == 0);
  CHECK(robustmq_delivered_through(nullptr) == 0);
  std::uint64_t seq = 5;
  CHECK(robustmq_publish_seq(c.get(), "t", "x", 1, 1, 0, &seq) == ROBUSTMQ_ERR_NOT_CONNECTED);
  CHECK(seq == 5);
  std::uint64_t moved = 7;
  CHECK(robustmq_resend_dead_letters(c.get(), 10, &moved) == ROBUSTMQ_ERR_NOT_CONNECTED);
  CHECK(moved == 7);
  CHECK(robustmq_resend_dead_letters(nullptr, 10, &moved) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_publish(nullptr, "t", "x", 1, 1, 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_publish(c.get(), nullptr, "x", 1, 1, 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_connect_async(c.get(), nullptr, 1883) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  struct robustmq_stats s;
  CHECK(robustmq_stats(c.get(), &s) == ROBUSTMQ_OK);
  CHECK(s.state == ROBUSTMQ_STATE_IDLE);
  CHECK(s.published == 0);
  CHECK(std::string(robustmq_state_name(s.state)) == "idle");
  CHECK(std::string(robustmq_state_name(ROBUSTMQ_STATE_REFUSED)) == "refused");
  CHECK(std::string(robustmq_state_name(42)) == "unknown");
  CHECK(robustmq_stop(c.get()) == ROBUSTMQ_OK);
}

TEST_CASE("robustmq_stats() writes as many bytes as the caller's struct has, no more") {
  testkit::TempDir dir;
  auto o = options_for(dir / "cache", "c-sized");
  ClientPtr c(robustmq_client_new(o.get()));
  REQUIRE(c);
  // The caller's struct, and the memory after it.
  struct Guarded {
    struct robustmq_stats s;
    unsigned char after[128];
  } g;
  constexpr unsigned char kPattern = 0xA5;
  std::memset(&g, kPattern, sizeof g);
  const auto* bytes = reinterpret_cast<const unsigned char*>(&g);
  const auto all_from = [&](std::size_t from, std::size_t to, unsigned char value) {
    return std::all_of(bytes + from, bytes + to, [value](unsigned char b) { return b == value; });
  };

  SUBCASE("an older header's shorter struct: its fields, nothing after them") {
    const std::size_t size = offsetof(struct robustmq_stats, last_error);
    REQUIRE(robustmq_stats_sized(c.get(), &g.s, size) == ROBUSTMQ_OK);
    CHECK(g.s.state == ROBUSTMQ_STATE_IDLE);
    CHECK(g.s.published == 0);
    CHECK(g.s.last_error_time_ms == 0);
    CHECK(all_from(size, sizeof g, kPattern));
  }
  SUBCASE("a newer header's longer struct: the fields this library does not know are 0") {
    const std::size_t size = sizeof g.s + 64;
    REQUIRE(robustmq_stats_sized(c.get(), &g.s, size) == ROBUSTMQ_OK);
    CHECK(g.s.state == ROBUSTMQ_STATE_IDLE);
    CHECK(g.s.cache_error[0] == '\0');
    CHECK(all_from(sizeof g.s, size, 0));
    CHECK(all_from(size, sizeof g, kPattern));
  }
  SUBCASE("the macro passes the size of the caller's struct") {
    REQUIRE(robustmq_stats(c.get(), &g.s) == ROBUSTMQ_OK);
    CHECK(g.s.last_error[0] == '\0');
    CHECK(g.s.cache_error[0] == '\0');
    CHECK(all_from(sizeof g.s, sizeof g, kPattern));
  }
  SUBCASE("the function robustmq_stats() of programs built without the size fills 648 bytes") {
    REQUIRE((robustmq_stats)(c.get(), &g.s) == ROBUSTMQ_OK);
    CHECK(g.s.cache_error[0] == '\0');
    CHECK(all_from(648, sizeof g, kPattern));
  }
  SUBCASE("size 0 writes nothing; NULL pointers are refused") {
    CHECK(robustmq_stats_sized(c.get(), &g.s, 0) == ROBUSTMQ_OK);
    CHECK(robustmq_stats_sized(c.get(), nullptr, sizeof g.s) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
    CHECK(robustmq_stats_sized(nullptr, &g.s, sizeof g.s) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
    CHECK(all_from(0, sizeof g, kPattern));
  }
}

TEST_CASE("a connect_async() failure is ROBUSTMQ_ERR_SYSTEM with the message and errno kept") {
  testkit::TempDir dir;
  SUBCASE("missing worker") {
    auto o = options_for(dir / "cache", "c-noworker");
    const auto missing = dir / "no-such-worker";
    REQUIRE(robustmq_options_set_worker_path(o.get(), missing.c_str()) == ROBUSTMQ_OK);
    ClientPtr c(robustmq_client_new(o.get()));
    CHECK(robustmq_connect_async(c.get(), "127.0.0.1", 1883) == ROBUSTMQ_ERR_SYSTEM);
    CHECK(last_error(c.get()).find("no-such-worker") != std::string::npos);
    CHECK(robustmq_last_errno(c.get()) == ENOENT);
    // The buffer form cuts and terminates, and reports the full length.
    char small[8];
    CHECK(robustmq_last_error(c.get(), small, sizeof small) > sizeof small);
    CHECK(std::strlen(small) == sizeof small - 1);
  }
  SUBCASE("invalid option, named") {
    // The setters refuse numbers out of range; a will topic is checked by connect_async().
    auto o = options_for(dir / "cache", "c-badopt");
    REQUIRE(robustmq_options_set_will(o.get(), "c/will/+", "x", 1, 1, 0) == ROBUSTMQ_OK);
    ClientPtr c(robustmq_client_new(o.get()));
    CHECK(robustmq_connect_async(c.get(), "127.0.0.1", 1883) == ROBUSTMQ_ERR_SYSTEM);
    CHECK(last_error(c.get()).find("will.topic") != std::string::npos);
    CHECK(robustmq_last_errno(c.get()) == EINVAL);
  }
  SUBCASE("dedup_property without MQTT 5, named; with it, a stream id in the cache directory") {
    auto o = options_for(dir / "cache", "c-dedup");
    REQUIRE(robustmq_options_set_dedup_property(o.get(), 1) == ROBUSTMQ_OK);
    ClientPtr c(robustmq_client_new(o.get()));
    CHECK(robustmq_connect_async(c.get(), "127.0.0.1", 1883) == ROBUSTMQ_ERR_SYSTEM);
    CHECK(last_error(c.get()).find("dedup_property") != std::string::npos);
    CHECK(robustmq_last_errno(c.get()) == EINVAL);
    testkit::Mosquitto broker;
    REQUIRE(robustmq_options_set_mqtt_version(o.get(), ROBUSTMQ_MQTT_5) == ROBUSTMQ_OK);
    ClientPtr v5(robustmq_client_new(o.get()));
    REQUIRE(robustmq_connect_async(v5.get(), "127.0.0.1", broker.port()) == ROBUSTMQ_OK);
    CHECK(std::filesystem::file_size(dir / "cache" / "robustmq.producer") == 17);
  }
  SUBCASE("port out of range, named with the range") {
    auto o = options_for(dir / "cache", "c-badport");
    ClientPtr c(robustmq_client_new(o.get()));
    CHECK(robustmq_connect_async(c.get(), "127.0.0.1", 70000) == ROBUSTMQ_ERR_SYSTEM);
    CHECK(last_error(c.get()).find("connect_async(): mqtt_port 70000 is outside 1..65535") !=
          std::string::npos);
    CHECK(robustmq_last_errno(c.get()) == EINVAL);
  }
  SUBCASE("cache path in use: EBUSY and the owner's pid") {
    testkit::Mosquitto broker;
    auto o = options_for(dir / "cache", "c-owner");
    ClientPtr first(robustmq_client_new(o.get()));
    REQUIRE(robustmq_connect_async(first.get(), "127.0.0.1", broker.port()) == ROBUSTMQ_OK);
    ClientPtr second(robustmq_client_new(o.get()));
    CHECK(robustmq_connect_async(second.get(), "127.0.0.1", broker.port()) == ROBUSTMQ_ERR_SYSTEM);
    CHECK(robustmq_last_errno(second.get()) == EBUSY);
    CHECK(last_error(second.get()).find(std::to_string(::getpid())) != std::string::npos);
  }
}

TEST_CASE("publish, flush, stats and stop through the C API deliver in order") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "c/api/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  auto o = options_for(dir / "cache", "c-api");
  REQUIRE(robustmq_options_set_cache_type(o.get(), ROBUSTMQ_CACHE_SQLITE) == ROBUSTMQ_OK);
  ClientPtr c(robustmq_client_new(o.get()));
  o.reset();  // the client keeps its own copy
  REQUIRE(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) == ROBUSTMQ_OK);
  CHECK(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) ==
        ROBUSTMQ_ERR_SYSTEM);  // a second call
  REQUIRE(wait_connected(c.get()));
  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) {
    const std::string p = testkit::sequence_payload(static_cast<std::uint64_t>(i));
    REQUIRE(robustmq_publish(c.get(), "c/api/seq", p.data(), p.size(), 1, 0) == ROBUSTMQ_OK);
  }
  CHECK(robustmq_publish(c.get(), "c/api/+", "x", 1, 1, 0) == ROBUSTMQ_ERR_TOPIC_WILDCARD);
  CHECK(robustmq_publish(c.get(), "", "x", 1, 1, 0) == ROBUSTMQ_ERR_TOPIC_EMPTY);
  CHECK(robustmq_publish(c.get(), "c/api/q", "x", 1, 3, 0) == ROBUSTMQ_ERR_INVALID_QOS);
  CHECK(robustmq_publish(c.get(), "c/api/empty", nullptr, 0, 0, 0) == ROBUSTMQ_OK);
  // Delivery first, then flush (see the worker bug below: a flush that spools to the cache can
  // leave the messages there while connected).
  CHECK(sub.wait_for(kCount + 1, 20s));
  CHECK(robustmq_flush(c.get(), 20000) == ROBUSTMQ_OK);
  std::vector<testkit::ReceivedMessage> seq;
  for (auto& m : sub.messages())
    if (m.topic == "c/api/seq") seq.push_back(m);
  CHECK(testkit::check_in_order(testkit::sequences(seq), kCount) == "");
  struct robustmq_stats s;
  REQUIRE(robustmq_stats(c.get(), &s) == ROBUSTMQ_OK);
  CHECK(s.published == kCount + 1);
  CHECK(robustmq_stop(c.get()) == ROBUSTMQ_OK);
  CHECK(robustmq_stop(c.get()) == ROBUSTMQ_OK);  // idempotent
  CHECK(robustmq_publish(c.get(), "c/api/seq", "x", 1, 1, 0) == ROBUSTMQ_ERR_STOPPED);
  REQUIRE(robustmq_stats(c.get(), &s) == ROBUSTMQ_OK);
  CHECK(s.state == ROBUSTMQ_STATE_STOPPED);
}

TEST_CASE("sequence numbers and waiting for delivery through the C API") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "c/seq/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  auto o = options_for(dir / "cache", "c-seq");
  ClientPtr c(robustmq_client_new(o.get()));
  REQUIRE(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) == ROBUSTMQ_OK);
  std::uint64_t last = 0;
  for (std::uint64_t i = 0; i < 100; ++i) {
    const std::string p = testkit::sequence_payload(i);
    std::uint64_t seq = 0;
    REQUIRE(robustmq_publish_seq(c.get(), "c/seq/n", p.data(), p.size(), 1, 0, &seq) ==
            ROBUSTMQ_OK);
    CHECK(seq == i + 1);
    last = seq;
  }
  // NULL: no number wanted.
  REQUIRE(robustmq_publish_seq(c.get(), "c/seq/n", "x", 1, 1, 0, nullptr) == ROBUSTMQ_OK);
  CHECK(robustmq_wait_delivered_seq(c.get(), last + 2, 10) == ROBUSTMQ_ERR_UNKNOWN_SEQUENCE);
  REQUIRE(robustmq_wait_delivered_seq(c.get(), last, 60000) == ROBUSTMQ_OK);
  CHECK(robustmq_delivered_through(c.get()) >= last);
  REQUIRE(robustmq_wait_delivered(c.get(), 60000) == ROBUSTMQ_OK);
  CHECK(robustmq_delivered_through(c.get()) == last + 1);
  CHECK(sub.wait_for(101, 20s));
  CHECK(robustmq_stop(c.get()) == ROBUSTMQ_OK);
  CHECK(robustmq_wait_delivered(c.get(), 10) == ROBUSTMQ_ERR_STOPPED);
}

TEST_CASE("in a fork() child the C client answers ROBUSTMQ_ERR_FORKED_CHILD") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  auto o = options_for(dir / "cache", "c-fork");
  ClientPtr c(robustmq_client_new(o.get()));
  REQUIRE(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) == ROBUSTMQ_OK);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int bad = 0;
    if (robustmq_publish(c.get(), "c/fork", "x", 1, 1, 0) != ROBUSTMQ_ERR_FORKED_CHILD) bad |= 1;
    if (robustmq_flush(c.get(), 10) != ROBUSTMQ_ERR_FORKED_CHILD) bad |= 2;
    robustmq_client_free(c.release());  // must leave the parent's worker alone
    ::_exit(bad);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(robustmq_publish(c.get(), "c/fork", "x", 1, 1, 0) == ROBUSTMQ_OK);
  CHECK(robustmq_flush(c.get(), 10000) == ROBUSTMQ_OK);
}

TEST_CASE("the C example program delivers its messages in order") {
  const char* exe = std::getenv("ROBUSTMQ_C_EXAMPLE");
  if (exe == nullptr || *exe == '\0') {
    MESSAGE("ROBUSTMQ_C_EXAMPLE is not set (examples disabled): skipped");
    return;
  }
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "c/example/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const std::string cache = (dir / "cache").string();
  const std::string port = std::to_string(broker.port());
  std::vector<std::string> args = {exe, broker.host(), port, cache, "300", "c/example/seq"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, exe, nullptr, nullptr, argv.data(), environ) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(sub.wait_for(300, 20s));
  CHECK(testkit::check_in_order(testkit::sequences(sub.messages()), 300) == "");
}

// Worker bug found while writing these tests (worker/loop.cpp, not C API specific): messages
// that flush() spooled to the cache while the worker was still connecting stay there once the
// connection is up; nothing is sent until stop() (sent == 0 after 20 s). Expected to fail until
// the worker sends from the cache after connecting.
TEST_CASE("messages flushed to the cache while the worker connects are sent once connected") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "c/early/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  auto o = options_for(dir / "cache", "c-early");
  ClientPtr c(robustmq_client_new(o.get()));
  REQUIRE(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) == ROBUSTMQ_OK);
  for (int i = 0; i < 200; ++i) {  // at once: the worker is still connecting
    const std::string p = testkit::sequence_payload(static_cast<std::uint64_t>(i));
    REQUIRE(robustmq_publish(c.get(), "c/early/seq", p.data(), p.size(), 1, 0) == ROBUSTMQ_OK);
  }
  CHECK(robustmq_flush(c.get(), 20000) == ROBUSTMQ_OK);
  CHECK(sub.wait_for(200, 20s));
  struct robustmq_stats s;
  REQUIRE(robustmq_stats(c.get(), &s) == ROBUSTMQ_OK);
  INFO("state " << robustmq_state_name(s.state) << ", sent " << s.sent << ", cache_backlog "
                << s.cache_backlog);
  CHECK(testkit::check_in_order(testkit::sequences(sub.messages()), 200) == "");
}

// Worker bug (worker/loop.cpp or the segment mapping): stats().worker_pid stays 0 although the
// worker stores its pid in the control line at start. Expected to fail until fixed.
TEST_CASE("stats() reports the worker's pid") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  auto o = options_for(dir / "cache", "c-pid");
  ClientPtr c(robustmq_client_new(o.get()));
  REQUIRE(robustmq_connect_async(c.get(), broker.host().c_str(), broker.port()) == ROBUSTMQ_OK);
  REQUIRE(wait_connected(c.get()));
  struct robustmq_stats s;
  REQUIRE(robustmq_stats(c.get(), &s) == ROBUSTMQ_OK);
  CHECK(s.worker_pid > 0);
}

TEST_CASE("robustmq_stop_mode hands off to the worker; the next client takes over from it") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "c/hand/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  auto o = options_for(dir / "cache", "c-hand");
  REQUIRE(robustmq_options_set_takeover_timeout_ms(o.get(), 0) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  REQUIRE(robustmq_options_set_takeover_timeout_ms(o.get(), 5000) == ROBUSTMQ_OK);
  REQUIRE(robustmq_options_set_orphan_linger_ms(o.get(), -1) == ROBUSTMQ_OK);
  ClientPtr first(robustmq_client_new(o.get()));
  CHECK(robustmq_stop_mode(first.get(), 7) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  CHECK(robustmq_stop_mode(nullptr, ROBUSTMQ_STOP_HAND_OFF) == ROBUSTMQ_ERR_INVALID_ARGUMENT);
  // The broker is away: everything is still undelivered at the hand-off.
  broker.stop();
  REQUIRE(robustmq_connect_async(first.get(), "127.0.0.1", broker.port()) == ROBUSTMQ_OK);
  for (int i = 0; i < 100; ++i) {
    const std::string p = testkit::sequence_payload(static_cast<std::uint64_t>(i));
    REQUIRE(robustmq_publish(first.get(), "c/hand/seq", p.data(), p.size(), 1, 0) == ROBUSTMQ_OK);
  }
  struct robustmq_stats s;
  REQUIRE(robustmq_stats(first.get(), &s) == ROBUSTMQ_OK);
  const int worker = s.worker_pid;
  REQUIRE(robustmq_stop_mode(first.get(), ROBUSTMQ_STOP_HAND_OFF) == ROBUSTMQ_OK);
  REQUIRE(robustmq_stats(first.get(), &s) == ROBUSTMQ_OK);
  CHECK(s.handed_off >= 100);
  CHECK(::kill(worker, 0) == 0);  // it stays behind

  ClientPtr second(robustmq_client_new(o.get()));
  REQUIRE(robustmq_connect_async(second.get(), "127.0.0.1", broker.port()) == ROBUSTMQ_OK);
  REQUIRE(robustmq_stats(second.get(), &s) == ROBUSTMQ_OK);
  CHECK(s.took_over_from == worker);
  CHECK(s.carried_over == 100);
  broker.start();
  REQUIRE(sub.wait_subscribed(10s, sub.subscribe_count() + 1));
  REQUIRE(sub.wait_for(100, 30s));
  REQUIRE(robustmq_stop(second.get()) == ROBUSTMQ_OK);
}
