// A worker loop on real parts (a shared-memory segment, its ring, a disk cache in a temporary
// directory, a lifeline socket) with a scripted transport and a hand-moved clock, so that each
// rule of the loop is checked in milliseconds and without timing. The test plays the
// application: it publishes into the ring, and it can exit (closing the lifeline).
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "proto/record_format.hpp"
#include "proto/ring.hpp"
#include "proto/segment.hpp"
#include "proto/status_text.hpp"
#include "proto/worker_config.hpp"
#include "test/worker/fake_transport.hpp"
#include "testkit/temp_dir.hpp"
#include "worker/cache/cache.hpp"
#include "worker/loop.hpp"

namespace robustmq::test {

// Both clocks stand still until advance() moves them together.
class ManualTime final : public worker::TimeSource {
 public:
  worker::Clock::time_point now() const override { return now_; }
  std::int64_t realtime_ns() const override { return realtime_ns_; }
  void advance(std::chrono::milliseconds d) {
    now_ += d;
    realtime_ns_ += std::chrono::nanoseconds(d).count();
  }

 private:
  worker::Clock::time_point now_ = worker::Clock::now();
  std::int64_t realtime_ns_ = worker::steady_time().realtime_ns();
};

inline cache::Backend backend_of(CacheBackend t) {
  return t == CacheBackend::file ? cache::Backend::file : cache::Backend::sqlite;
}

class LoopHarness {
 public:
  // `configure` adjusts the worker configuration (window, limits, timeouts) before the loop is
  // built; `wrap` may wrap the cache the loop gets (e.g. in a cache that fails on command);
  // `first_seq` is the sequence number of the first message published (RobustClient: 1 in a
  // new cache directory, where robustmq.seq says after a reboot); `seq_unknown` says that the
  // client found no bound in robustmq.seq (ControlLine::seq_unknown).
  explicit LoopHarness(
      const std::function<void(WorkerConfig&)>& configure = {}, std::size_t ring_bytes = 1u << 20,
      const std::function<std::unique_ptr<cache::Cache>(std::unique_ptr<cache::Cache>)>& wrap = {},
      std::uint64_t first_seq = 1, bool seq_unknown = false)
      : dir_("robustmq-loop-test-") {
    static std::atomic<int> counter{0};
    config.segment_name = "robustmq-unit-" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter.fetch_add(1));
    config.client_id = "loop-test";
    config.host = "fake";
    config.cache_dir = dir_.path().string();
    config.cache_type = CacheBackend::file;
    config.cache_timeout = std::chrono::milliseconds(10'000);
    if (configure) configure(config);
    transport.time = &time;
    MappedSegment::unlink(config.segment_name);
    MappedSegment::Origin origin{};
    std::string note;
    client_segment_ = std::make_unique<MappedSegment>(
        MappedSegment::create_or_adopt(config.segment_name, ring_bytes, origin, note));
    auto& seg = client_segment_->segment();
    seg.producer.next_seq.store(first_seq);
    seg.control.seq_unknown.store(seq_unknown ? 1 : 0);  // the client found no bound
    producer_ = std::make_unique<RingProducer>(seg.producer, seg.consumer, client_segment_->ring(),
                                               client_segment_->ring_bytes());
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    app_end_ = fds[0];
    worker_end_ = fds[1];
    cache::Config cc;
    cc.sync = false;  // these tests check rules, not power cuts
    auto c = cache::open(backend_of(config.cache_type), config.cache_dir, cc);
    if (wrap) c = wrap(std::move(c));
    loop = std::make_unique<worker::Loop>(config, MappedSegment::open_existing(config.segment_name),
                                          std::move(c), worker_end_, events, transport, time);
  }

  ~LoopHarness() {
    loop.reset();
    if (app_end_ >= 0) ::close(app_end_);
    ::close(worker_end_);
    MappedSegment::unlink(config.segment_name);
  }
  LoopHarness(const LoopHarness&) = delete;
  LoopHarness& operator=(const LoopHarness&) = delete;

  // The application publishes one message (false: no room in the ring).
  bool publish(const std::string& payload, int qos = 1, std::int64_t enqueue_ns = 0,
               const std::string& topic = "t/loop", bool large = false) {
    if (enqueue_ns == 0) enqueue_ns = time.realtime_ns();
    auto& prod = client_segment_->segment().producer;
    record::MessageView m;
    m.seq = prod.next_seq.load();
    m.enqueue_ns = enqueue_ns;
    m.qos = qos;
    m.topic = topic;
    m.payload = payload;
    m.large = large;
    if (!producer_->try_push(m)) return false;
    prod.next_seq.store(m.seq + 1, std::memory_order_release);
    return true;
  }
  // Publishes "0", "1", ... "n-1" (after `first`).
  void publish_numbered(int n, int qos = 1, int first = 0) {
    for (int i = first; i < first + n; ++i) REQUIRE(publish(std::to_string(i), qos));
  }

  // One pass of the loop, its invariants checked after it. Returns false once the loop is done.
  // The first one starts the loop (its first connection attempt): a test sets the transport's
  // behaviour before.
  bool step() {
    if (!started_) {
      loop->start();
      started_ = true;
    }
    const bool more = loop->step();
    CHECK(loop->invariants_hold());
    return more;
  }
  // Passes until the transport's answers of one pass have been handled (events pushed during a
  // pass are taken at the start of the next).
  void pump(int passes = 3) {
    for (int i = 0; i < passes; ++i) step();
  }
  // The application exits: its end of the lifeline closes. The loop looks at the lifeline only
  // when it has nothing else to do, so this passes until it noticed.
  void application_exits() {
    ::close(app_end_);
    app_end_ = -1;
    for (int i = 0; i < 100 && loop->producer_alive(); ++i) {
      step();
      loop->wait_for_work(std::chrono::milliseconds(0));
    }
    REQUIRE(!loop->producer_alive());
  }
  // The application's side of the lifeline (proto/lifeline.hpp): what the worker wrote to it
  // so far, taken; bytes the application writes; whether it has a credentials handler
  // (ControlLine::credentials_handler). The loop reads the lifeline in wait_for_work().
  std::string app_read() {
    std::string got;
    char buf[256];
    ssize_t n = 0;
    while ((n = ::recv(app_end_, buf, sizeof buf, MSG_DONTWAIT)) > 0)
      got.append(buf, static_cast<std::size_t>(n));
    return got;
  }
  void app_send(std::string_view bytes) {
    REQUIRE(::send(app_end_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
    // wait_for_work() returns before its poll() while there is other work: a few rounds.
    for (int i = 0; i < 3; ++i) {
      loop->wait_for_work(std::chrono::milliseconds(0));
      step();
    }
  }
  void credentials_handler(bool set) {
    client_segment_->segment().control.credentials_handler.store(set ? 1 : 0);
  }
  void request_stop() { client_segment_->segment().control.stop_requested.store(1); }
  void request_flush() {
    client_segment_->segment().control.flush_target.store(client_segment_->segment().producer.head.load());
  }

  // A new worker on the same segment and cache directory, as after the old one died.
  void restart_worker() {
    loop.reset();
    cache::Config cc;
    cc.sync = false;
    loop = std::make_unique<worker::Loop>(
        config, MappedSegment::open_existing(config.segment_name),
        cache::open(backend_of(config.cache_type), config.cache_dir, cc), worker_end_, events,
        transport, time);
    started_ = false;
  }

  // Makes the ring record at `pos` fail validation (its kind byte), as a stray write would.
  void damage_ring_record(std::uint64_t pos) {
    auto* ring = reinterpret_cast<unsigned char*>(client_segment_->ring());
    ring[(pos & (client_segment_->ring_bytes() - 1)) + 7] = 0xEE;
  }

  shm::StatusBlock& status() { return client_segment_->segment().status; }
  std::uint64_t delivered() { return status().delivered_through.load(); }
  std::uint64_t next_seq() { return client_segment_->segment().producer.next_seq.load(); }
  std::uint32_t seq_unknown() { return client_segment_->segment().control.seq_unknown.load(); }
  std::uint64_t tail() { return client_segment_->segment().consumer.tail.load(); }
  std::uint64_t head() { return client_segment_->segment().producer.head.load(); }
  bool ring_empty() { return tail() == head(); }
  std::string last_error() { return read_status_text(status().last_error); }
  std::string cache_error() { return read_status_text(status().cache_error); }

  // What the disk cache holds now, read through a second, read-only handle: what was committed
  // (a removal may become durable lazily, so a removal shows in status().cache_backlog first).
  std::vector<cache::CachedMessage> cached() {
    cache::Config cc;
    cc.read_only = true;
    std::vector<cache::CachedMessage> out;
    try {
      auto c = cache::open(backend_of(config.cache_type), config.cache_dir, cc);
      c->read(0, 1'000'000, out);
    } catch (const cache::CacheError&) {
      // no cache of this backend yet: empty
    }
    return out;
  }
  std::vector<std::string> cached_payloads() {
    std::vector<std::string> out;
    for (const auto& m : cached()) out.push_back(m.payload);
    return out;
  }

  const std::filesystem::path& dir() const { return dir_.path(); }
  // Now, in the loop's CLOCK_REALTIME, minus `ago`.
  std::int64_t ns_ago(std::chrono::milliseconds ago) const {
    return time.realtime_ns() - std::chrono::nanoseconds(ago).count();
  }

  WorkerConfig config;
  worker::EventQueue events;
  FakeTransport transport{events};
  ManualTime time;
  std::unique_ptr<worker::Loop> loop;

 private:
  testkit::TempDir dir_;
  std::unique_ptr<MappedSegment> client_segment_;
  std::unique_ptr<RingProducer> producer_;
  int app_end_ = -1;
  int worker_end_ = -1;
  bool started_ = false;
};

// "0", "1", ... as strings, for comparing payload sequences.
inline std::vector<std::string> numbered(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(std::to_string(i));
  return out;
}

}  // namespace robustmq::test
