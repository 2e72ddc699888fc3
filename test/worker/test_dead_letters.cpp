// The dead-letter store as the worker keeps it (worker/dead_letters.hpp, worker/loop_dead.cpp):
// a message the broker refuses for good is kept, read back from where it was sent from, before
// it retires; the bound removes the oldest; a resend request moves the store behind the backlog.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "proto/large_message.hpp"
#include "test/worker/loop_harness.hpp"
#include "worker/cache/dead_store.hpp"

namespace robustmq::test {

using namespace std::chrono_literals;

namespace {

std::vector<dead::Letter> letters_of(LoopHarness& h) {
  cache::Config cc;
  cc.read_only = true;
  const auto store = dead::open(h.dir(), cc, false);
  if (!store) return {};
  return dead::read_all(*store);
}

std::vector<std::string> dead_payloads(LoopHarness& h) {
  std::vector<std::string> out;
  for (const auto& l : letters_of(h)) out.push_back(l.message.payload);
  return out;
}

// The application's side of the control line: a second mapping of the harness's segment.
struct Control {
  explicit Control(const LoopHarness& h)
      : segment(MappedSegment::open_existing(h.config.segment_name)) {}
  shm::ControlLine& line() { return segment.segment().control; }
  MappedSegment segment;
};

}  // namespace

TEST_CASE("a refusal for good keeps exactly that message, from the ring, with its code") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.pump();
  REQUIRE(h.publish("0"));
  REQUIRE(h.publish("denied", 1, 0, "t/denied"));
  REQUIRE(h.publish("2"));
  h.pump();
  REQUIRE(h.transport.sent.size() == 3);
  h.transport.ack(0);
  h.transport.ack(1, 0x87);
  h.transport.ack(2);
  h.pump();
  const auto letters = letters_of(h);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].message.seq == 2);
  CHECK(letters[0].message.topic == "t/denied");
  CHECK(letters[0].message.payload == "denied");
  CHECK(letters[0].message.qos == 1);
  CHECK(letters[0].code == 0x87);
  CHECK(h.status().dead_letters.load() == 1);
  CHECK(h.delivered() == 3);   // it retired in its place
  CHECK(h.ring_empty());
}

TEST_CASE("a refusal for good keeps the message from the cache") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.transport.accept_connects = false;
  h.pump();
  REQUIRE(h.publish("a"));
  REQUIRE(h.publish("b", 2, 0, "t/denied"));
  h.pump();  // the broker is away: spooled
  REQUIRE(h.cached_payloads() == std::vector<std::string>{"a", "b"});
  h.transport.connected();
  h.pump();
  REQUIRE(h.transport.sent.size() == 2);
  h.transport.ack(1, 0x87);
  h.pump();
  // Kept when it retires, behind "a": a loss before that would send it again.
  CHECK(dead_payloads(h).empty());
  h.transport.ack(0);
  h.pump(6);
  CHECK(dead_payloads(h) == std::vector<std::string>{"b"});
  CHECK(letters_of(h).at(0).message.qos == 2);
  h.time.advance(200ms);  // the removals are committed
  h.pump();
  CHECK(h.cached().empty());
  CHECK(h.status().dead_letters.load() == 1);
}

TEST_CASE("a refused large message is kept with its file's contents, and its file goes") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.pump();
  large::prepare_dir(h.dir());
  std::error_code ec;
  std::string what;
  const auto ref =
      large::write_file(h.dir(), std::string(5000, 'L'), h.ns_ago(0s), false, ec, what);
  REQUIRE_MESSAGE(ref, what);
  const auto path = large::dir_of(h.dir()) / ref->name;
  REQUIRE(h.publish(large::encode(*ref), 1, 0, "t/large", true));
  h.pump();
  REQUIRE(h.transport.sent.size() == 1);
  h.transport.ack(0, 0x95);
  h.pump();
  const auto letters = letters_of(h);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].message.payload == std::string(5000, 'L'));
  CHECK(!letters[0].message.large);
  CHECK(letters[0].code == 0x95);
  CHECK(!std::filesystem::exists(path));
}

TEST_CASE("beyond dead_letter_bytes the oldest dead letters are removed") {
  // Each letter: 6 topic bytes + 16 header bytes + 10 payload bytes = 32.
  LoopHarness h([](WorkerConfig& c) {
    c.max_inflight = 8;
    c.dead_letter_bytes = 100;
  });
  h.pump();
  for (int i = 0; i < 5; ++i) REQUIRE(h.publish(fmt::format("payload-{:02}", i), 1, 0, "t/dead"));
  h.pump();
  REQUIRE(h.transport.sent.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) h.transport.ack(i, 0x87);
  h.pump();
  CHECK(dead_payloads(h) == std::vector<std::string>{"payload-02", "payload-03", "payload-04"});
  CHECK(h.status().dead_letters.load() == 3);
  CHECK(h.status().refused.load() == 5);

  SUBCASE("a message larger than the bound is not kept") {
    REQUIRE(h.publish(std::string(200, 'x'), 1, 0, "t/dead"));
    h.pump();
    h.transport.ack(5, 0x87);
    h.pump();
    CHECK(dead_payloads(h).size() == 3);
    CHECK(h.last_error().find("dead_letter_bytes") != std::string::npos);
  }
}

TEST_CASE("dead_letter_bytes 0 keeps nothing") {
  LoopHarness h([](WorkerConfig& c) { c.dead_letter_bytes = 0; });
  h.pump();
  REQUIRE(h.publish("x"));
  h.pump();
  h.transport.ack(0, 0x87);
  h.pump();
  CHECK(!std::filesystem::exists(dead::dir_of(h.dir())));
  CHECK(h.status().refused.load() == 1);
  CHECK(h.delivered() == 1);
}

TEST_CASE("a resend request moves the dead letters behind the backlog; they are sent after it") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  Control app(h);
  h.pump();
  REQUIRE(h.publish("dead-1", 1, 0, "t/denied"));
  REQUIRE(h.publish("dead-2", 1, 0, "t/denied"));
  h.pump();
  h.transport.ack(0, 0x87);
  h.transport.ack(1, 0x87);
  h.pump();
  REQUIRE(dead_payloads(h).size() == 2);
  // A backlog: two in flight, two waiting in the ring.
  h.publish_numbered(4, 1, 3);  // "3".."6", seq 3..6
  h.pump();
  REQUIRE(h.transport.sent.size() == 6);
  app.line().dead_resend_request.fetch_add(1);
  h.pump();
  CHECK(app.line().dead_resend_done.load() == 0);  // waits for the ring's messages in flight
  REQUIRE(h.publish("7"));
  h.pump();
  CHECK(h.transport.sent.size() == 6);  // the ring pauses meanwhile
  h.transport.ack_all();
  h.pump();
  CHECK(app.line().dead_resend_done.load() == 1);
  CHECK(app.line().dead_resend_moved.load() == 2);
  CHECK(dead_payloads(h).empty());
  CHECK(h.status().dead_letters.load() == 0);
  while (h.transport.ack_all() > 0) h.pump();
  // "7" was published after the request was made but before the worker served it: it was
  // spooled with the ring, ahead of the dead letters.
  const auto sent = h.transport.payloads();
  CHECK(std::vector<std::string>(sent.begin() + 6, sent.end()) ==
        std::vector<std::string>{"7", "dead-1", "dead-2"});
  h.time.advance(200ms);
  h.pump();
  CHECK(h.cached().empty());
  CHECK(h.status().dead_letters.load() == 0);

  SUBCASE("refused again, they are kept again") {
    REQUIRE(h.publish("8"));
    h.pump();
    h.transport.ack(h.transport.sent.size() - 1, 0x87);
    h.pump();
    CHECK(dead_payloads(h) == std::vector<std::string>{"8"});
  }
}

TEST_CASE("a resend with an empty store answers at once with 0") {
  LoopHarness h;
  Control app(h);
  h.pump();
  app.line().dead_resend_request.fetch_add(1);
  h.pump();
  CHECK(app.line().dead_resend_done.load() == 1);
  CHECK(app.line().dead_resend_moved.load() == 0);
}

TEST_CASE("a store that cannot be written costs only the refused message") {
  LoopHarness h([](WorkerConfig& c) { c.max_inflight = 4; });
  h.pump();
  {
    std::FILE* f = std::fopen(dead::dir_of(h.dir()).c_str(), "w");  // a file where the
    REQUIRE(f != nullptr);                                          // directory belongs
    std::fclose(f);
  }
  REQUIRE(h.publish("a"));
  REQUIRE(h.publish("refused"));
  REQUIRE(h.publish("c"));
  h.pump();
  h.transport.ack(0);
  h.transport.ack(1, 0x87);
  h.transport.ack(2);
  h.pump();
  CHECK(h.last_error().find("dead letter") != std::string::npos);
  CHECK(h.status().refused.load() == 1);
  CHECK(h.status().acknowledged.load() == 2);
  CHECK(h.delivered() == 3);
  REQUIRE(h.publish("d"));
  h.pump();
  h.transport.ack_all();
  h.pump();
  CHECK(h.delivered() == 4);
  CHECK(h.transport.payloads() == std::vector<std::string>{"a", "refused", "c", "d"});
}

}  // namespace robustmq::test
