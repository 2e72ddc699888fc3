// The drop journal as the worker keeps it (worker/drops.hpp): every message that leaves
// undelivered is recorded by number, as ranges with their reason, before delivered_through
// passes it; what cannot be recorded raises unknown_through. Read back through
// journal::Reader, as the client's event thread and later lives read it.
#include <sys/stat.h>

#include <set>

#include <doctest/doctest.h>

#include "proto/drop_journal.hpp"
#include "test/worker/loop_harness.hpp"

namespace robustmq::test {

using namespace std::chrono_literals;
using journal::Reason;

namespace {

std::vector<journal::Record> journal_of(LoopHarness& h) {
  std::error_code ec;
  auto reader = journal::Reader::open(h.config.cache_dir, ec);
  REQUIRE_MESSAGE(reader, ec.message());
  return reader->all();
}

// Each record's (first, last, reason, code), oldest first.
struct Range {
  std::uint64_t first, last;
  Reason reason;
  std::uint8_t code;
  friend bool operator==(const Range&, const Range&) = default;
};
std::vector<Range> ranges_of(LoopHarness& h) {
  std::vector<Range> out;
  for (const auto& r : journal_of(h)) out.push_back({r.first, r.last, r.reason, r.code});
  return out;
}

}  // namespace

TEST_CASE("a refusal is recorded with its reason code, counted refused and not acknowledged") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.pump();
  h.publish_numbered(3);  // 1..3
  h.pump();
  REQUIRE(h.transport.sent.size() == 3);
  h.transport.ack(0);
  h.transport.ack(1, 0x87);  // not authorized
  h.transport.ack(2);
  h.pump();
  CHECK(h.status().acknowledged.load() == 2);
  CHECK(h.status().refused.load() == 1);
  CHECK(h.delivered() == 3);
  CHECK(ranges_of(h) == std::vector<Range>{{2, 2, Reason::refused, 0x87}});
  CHECK(h.status().drop_next.load() == 2);
  CHECK(h.status().unknown_through.load() == 0);
}

TEST_CASE("a refusal for good behind an unacknowledged message takes effect when it retires: a "
          "loss before that sends it again and counts it once") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.pump();
  h.publish_numbered(3);  // 1..3
  h.pump();
  REQUIRE(h.transport.sent.size() == 3);
  h.transport.ack(1, 0x87);  // 2 refused while 1 awaits its acknowledgement
  h.pump();
  h.transport.drop_link("broker gone");  // 1 unacknowledged: all three go again
  h.pump();
  h.time.advance(h.config.reconnect_max);
  h.pump();
  REQUIRE(h.loop->link() == worker::Loop::Link::connected);
  REQUIRE(h.transport.sent.size() == 6);
  h.transport.ack(3);
  h.transport.ack(4, 0x87);  // refused again
  h.transport.ack(5);
  h.pump();
  CHECK(h.delivered() == 3);
  CHECK(h.status().refused.load() == 1);
  CHECK(h.status().acknowledged.load() == 2);
  CHECK(ranges_of(h) == std::vector<Range>{{2, 2, Reason::refused, 0x87}});
}

TEST_CASE("a new worker on a segment keeps drop_next: its journal's next serial, never 0 in "
          "between") {
  LoopHarness first([](WorkerConfig& c) { c.message_ttl = std::chrono::seconds(60); });
  first.pump();
  REQUIRE(first.publish("old-1", 1, first.ns_ago(120s)));
  first.pump();
  REQUIRE(first.status().drop_next.load() == 2);
  // A successor whose journal cannot be opened: the value of the journal that holds the
  // records (the client reads them) stays.
  first.loop.reset();
  ::rename((std::filesystem::path(first.config.cache_dir) / journal::kFileName).c_str(),
           (std::filesystem::path(first.config.cache_dir) / "moved").c_str());
  ::mkdir((std::filesystem::path(first.config.cache_dir) / journal::kFileName).c_str(), 0700);
  first.restart_worker();
  CHECK(first.status().drop_next.load() == 2);
}

TEST_CASE("a refusal that means 'not now' is sent again after a backoff, in order, and is not "
          "a drop") {
  LoopHarness h([](WorkerConfig& c) {
    c.max_inflight = 4;
    c.reconnect_min = std::chrono::milliseconds(100);
  });
  h.pump();
  h.publish_numbered(3);  // 1..3
  h.pump();
  REQUIRE(h.transport.sent.size() == 3);
  h.transport.ack(0);
  h.transport.ack(1, 0x97);  // quota exceeded
  h.pump();
  CHECK(h.status().refused_for_now.load() == 1);
  CHECK(h.status().refused.load() == 0);
  CHECK(h.delivered() == 1);
  h.transport.ack(2);  // an answer to a send the hold abandoned: stale
  h.pump();
  CHECK(h.delivered() == 1);
  CHECK(h.transport.sent.size() == 3);  // nothing is sent during the backoff
  CHECK(h.loop->next_deadline().has_value());
  h.time.advance(std::chrono::milliseconds(100));
  h.pump();
  REQUIRE(h.transport.payloads() == std::vector<std::string>{"0", "1", "2", "1", "2"});
  h.transport.ack(3, 0x97);  // again: the backoff doubles
  h.pump();
  h.time.advance(std::chrono::milliseconds(100));
  h.pump();
  CHECK(h.transport.sent.size() == 5);
  h.time.advance(std::chrono::milliseconds(100));
  h.pump();
  REQUIRE(h.transport.payloads() ==
          std::vector<std::string>{"0", "1", "2", "1", "2", "1", "2"});
  while (h.transport.ack_all() > 0) h.pump();
  CHECK(h.delivered() == 3);
  CHECK(h.status().acknowledged.load() == 3);
  CHECK(h.status().refused_for_now.load() == 2);
  CHECK(ranges_of(h).empty());
}

TEST_CASE("expired messages are recorded as one range per contiguous run, from the ring and on "
          "the way to the cache") {
  LoopHarness h([](WorkerConfig& c) {
    c.message_ttl = std::chrono::seconds(60);
    c.max_inflight = 8;
  });
  h.transport.accept_connects = false;
  h.pump();
  const std::int64_t old = h.ns_ago(120s);
  for (int i = 0; i < 3; ++i) REQUIRE(h.publish("old", 1, old));  // 1..3
  REQUIRE(h.publish("new-4"));
  REQUIRE(h.publish("old-5", 1, old));
  h.pump();  // spooled: 1..3 and 5 expire on the way
  CHECK(h.status().dropped_expired.load() == 4);
  CHECK(ranges_of(h) == std::vector<Range>{{1, 3, Reason::expired, 0}, {5, 5, Reason::expired, 0}});
  h.transport.connected();
  h.pump();
  for (int i = 0; i < 2; ++i) REQUIRE(h.publish("old", 1, old));  // 6, 7 from the ring
  REQUIRE(h.publish("new-8"));
  h.pump();
  while (h.transport.ack_all() > 0) h.pump();
  CHECK(h.delivered() == 8);
  CHECK(ranges_of(h) == std::vector<Range>{{1, 3, Reason::expired, 0},
                                           {5, 7, Reason::expired, 0}});
  // The journal was written before delivered_through passed: drop_next names the next record.
  CHECK(h.status().drop_next.load() == 3);
}

TEST_CASE("max_cache_bytes drops are recorded: journal and cache hold every number once") {
  for (auto backend : {CacheBackend::file, CacheBackend::sqlite}) {
    CAPTURE(static_cast<int>(backend));
    LoopHarness h([&](WorkerConfig& c) {
      c.cache_type = backend;
      c.max_cache_bytes = 2000;
      c.overflow = Overflow::drop_oldest;
    });
    h.transport.accept_connects = false;
    h.pump();
    const std::string payload(90, 'x');
    for (int round = 0; round < 10; ++round) {
      for (int i = 0; i < 10; ++i) REQUIRE(h.publish(payload));
      h.pump();
    }
    const auto dropped = h.status().dropped_overflow.load();
    REQUIRE(dropped > 0);
    std::set<std::uint64_t> seen;  // in the journal
    std::uint64_t in_journal = 0;
    for (const auto& r : journal_of(h)) {
      CHECK(r.reason == Reason::overflow);
      for (auto s = r.first; s <= r.last; ++s) {
        CHECK(seen.insert(s).second);
        ++in_journal;
      }
    }
    CHECK(in_journal == dropped);
    // A second handle may still see removals the worker's cache has not made durable yet
    // (the harness's cached()): those are in the journal; the rest is the cache's backlog.
    std::uint64_t kept = 0;
    for (const auto& m : h.cached())
      if (seen.insert(m.seq).second) ++kept;
    CHECK(kept == h.status().cache_backlog.load());
    CHECK(seen.size() == 100);
    CHECK(*seen.begin() == 1);
    CHECK(*seen.rbegin() == 100);
  }
}

TEST_CASE("a damaged stretch of the ring is recorded from the last number read to the last "
          "given out") {
  LoopHarness h;
  h.pump();
  h.publish_numbered(2);  // 1, 2
  h.pump();
  while (h.transport.ack_all() > 0) h.pump();
  REQUIRE(h.delivered() == 2);
  h.publish_numbered(3, 1, 2);  // 3..5
  // The record of 3 is damaged: 3..5 are skipped up to the head.
  h.damage_ring_record(h.tail());
  h.pump();
  CHECK(h.status().dropped_invalid.load() == 1);
  CHECK(h.delivered() == 5);
  CHECK(ranges_of(h) == std::vector<Range>{{3, 5, Reason::damaged, 0}});
  CHECK(h.status().unknown_through.load() == 0);
}

TEST_CASE("without a journal every drop raises unknown_through before delivered_through") {
  LoopHarness h([&](WorkerConfig& c) {
    c.message_ttl = std::chrono::seconds(60);
    // A directory in the journal's place: it cannot be opened.
    ::mkdir((std::filesystem::path(c.cache_dir) / journal::kFileName).c_str(), 0700);
  });
  CHECK(h.status().drop_next.load() == 0);
  CHECK(h.last_error().find("drop journal") != std::string::npos);
  h.pump();
  REQUIRE(h.publish("new-1"));
  REQUIRE(h.publish("old-2", 1, h.ns_ago(120s)));
  REQUIRE(h.publish("new-3"));
  h.pump();
  while (h.transport.ack_all() > 0) h.pump();
  CHECK(h.delivered() == 3);
  CHECK(h.status().unknown_through.load() == 2);
}

TEST_CASE("after a reboot the numbers between the cache's last and the new segment's first are "
          "recorded unknown; a clean restart records nothing") {
  LoopHarness first;
  first.transport.accept_connects = false;
  first.pump();
  first.publish_numbered(3);  // 1..3, spooled: the link is down
  first.pump();
  REQUIRE(first.cached_payloads() == numbered(0, 3));
  first.loop.reset();
  auto same_dir = [&](WorkerConfig& c) { c.cache_dir = first.config.cache_dir; };
  SUBCASE("reboot: a new segment numbering from 100") {
    LoopHarness second(same_dir, 1u << 20, {}, 100);
    CHECK(second.delivered() == 0);
    CHECK(ranges_of(second) == std::vector<Range>{{4, 99, Reason::unknown, 0}});
    second.pump();
    REQUIRE(second.publish("100"));
    second.pump();
    while (second.transport.ack_all() > 0) second.pump();
    CHECK(second.delivered() == 100);
    CHECK(second.status().dropped_invalid.load() == 0);  // no message was counted
  }
  SUBCASE("numbering goes on where the cache ends: nothing is unknown") {
    LoopHarness second(same_dir, 1u << 20, {}, 4);
    CHECK(ranges_of(second).empty());
  }
}

// Counts the messages the loop reads from the cache.
class CountingCache final : public cache::Cache {
 public:
  CountingCache(std::unique_ptr<cache::Cache> inner, std::size_t& read)
      : inner_(std::move(inner)), read_(read) {}
  std::uint64_t append(std::span<const record::MessageView> batch) override {
    return inner_->append(batch);
  }
  void read(std::uint64_t after, std::size_t max, std::vector<cache::CachedMessage>& out) override {
    const std::size_t before = out.size();
    inner_->read(after, max, out);
    read_ += out.size() - before;
  }
  void remove_through(std::uint64_t id) override { inner_->remove_through(id); }
  void commit_removals() override { inner_->commit_removals(); }
  cache::Counts counts() const override { return inner_->counts(); }
  cache::Backend backend() const noexcept override { return inner_->backend(); }
  std::optional<std::uint64_t> newest_seq() override {
    ++read_;
    return inner_->newest_seq();
  }

 private:
  std::unique_ptr<cache::Cache> inner_;
  std::size_t& read_;
};

TEST_CASE(
    "after a reboot the cache's highest number comes from its newest message, not from "
    "reading the whole cache") {
  for (auto type : {CacheBackend::file, CacheBackend::sqlite}) {
    CAPTURE(static_cast<int>(type));
    LoopHarness first([&](WorkerConfig& c) { c.cache_type = type; });
    first.transport.accept_connects = false;
    first.pump();
    for (int i = 0; i < 4; ++i) {
      first.publish_numbered(500, 1, i * 500);  // 1..2000, spooled: the link is down
      first.pump();
    }
    REQUIRE(first.status().cache_backlog.load() == 2000);
    first.loop.reset();
    std::size_t read = 0;
    auto count = [&](std::unique_ptr<cache::Cache> c) -> std::unique_ptr<cache::Cache> {
      return std::make_unique<CountingCache>(std::move(c), read);
    };
    auto same_dir = [&](WorkerConfig& c) {
      c.cache_dir = first.config.cache_dir;
      c.cache_type = type;
    };
    LoopHarness second(same_dir, 1u << 20, count, 5000);
    CHECK(ranges_of(second) == std::vector<Range>{{2001, 4999, Reason::unknown, 0}});
    CHECK(read <= 3);  // the oldest (for delivered_through, and to check the order), the newest
  }
}

TEST_CASE("after a reboot, a dead letter sent back last does not hide the cache's highest number, "
          "even when the journal no longer knows it was refused") {
  LoopHarness first([](WorkerConfig&) {}, 1u << 20, {}, 10);
  first.transport.accept_connects = false;
  first.pump();
  first.publish_numbered(3);  // 10..12, cached
  first.pump();
  first.loop.reset();
  {
    // A dead letter numbered 5 sent back into the cache (robustmq-cache resend), after them.
    cache::Config cc;
    cc.sync = false;
    auto c = cache::open(backend_of(first.config.cache_type), first.config.cache_dir, cc);
    record::MessageView m{.seq = 5, .enqueue_ns = first.time.realtime_ns(), .qos = 1,
                          .retain = false, .topic = "t/loop", .payload = "5", .large = false};
    c->append(std::span<const record::MessageView>(&m, 1));
  }
  // Its refusal is no longer in the journal (removed here; overwritten after 4096 records).
  std::filesystem::remove(std::filesystem::path(first.config.cache_dir) / journal::kFileName);
  auto same_dir = [&](WorkerConfig& c) { c.cache_dir = first.config.cache_dir; };
  LoopHarness second(same_dir, 1u << 20, {}, 20);
  CHECK(ranges_of(second) == std::vector<Range>{{13, 19, Reason::unknown, 0}});
}

TEST_CASE("after a stop, dead letters sent back into the cache (their old numbers) make no "
          "unknown range at the next start") {
  LoopHarness first([](WorkerConfig& c) { c.max_inflight = 4; });
  first.pump();
  first.publish_numbered(3);  // 1..3
  first.pump();
  first.transport.ack(0);
  first.transport.ack(1, 0x87);  // 2 refused for good
  first.transport.ack(2);
  first.pump();
  REQUIRE(first.delivered() == 3);
  REQUIRE(ranges_of(first) == std::vector<Range>{{2, 2, Reason::refused, 0x87}});
  first.loop.reset();
  {
    // What `robustmq-cache resend` does after the stop: the letter, numbered 2, into the cache.
    cache::Config cc;
    cc.sync = false;
    auto c = cache::open(backend_of(first.config.cache_type), first.config.cache_dir, cc);
    record::MessageView m{.seq = 2, .enqueue_ns = first.time.realtime_ns(), .qos = 1,
                          .retain = false, .topic = "t/loop", .payload = "1", .large = false};
    c->append(std::span<const record::MessageView>(&m, 1));
  }
  // The next life: a new segment numbering on from 4 (stop() wrote the exact next number).
  auto same_dir = [&](WorkerConfig& c) { c.cache_dir = first.config.cache_dir; };
  LoopHarness second(same_dir, 1u << 20, {}, 4);
  CHECK(ranges_of(second) == std::vector<Range>{{2, 2, Reason::refused, 0x87}});
}

}  // namespace robustmq::test
