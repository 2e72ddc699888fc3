// The ring under two real threads: a producer and a consumer racing over a small ring, as the
// client and the worker do over shared memory. Meant to run clean under ThreadSanitizer too
// (meson setup -Db_sanitize=thread), so it waits only by spinning with yield(), never sleeps.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "printers.hpp"
#include "ring_fixture.hpp"

using namespace robustmq;
using namespace robustmq::test;
using Status = RingConsumer::Status;

namespace {

constexpr std::size_t kRingBytes = 64 << 10;
constexpr std::uint64_t kMaxMessages = 2'000'000;
// At least this many records, however slow the machine (ThreadSanitizer, a loaded CI runner):
// enough to go round the ring many times with the ring often full. Then more until kBudget.
constexpr std::uint64_t kMinMessages = 20'000;
constexpr auto kBudget = std::chrono::seconds(2);

// Everything about message `seq` follows from seq, so the consumer can check it alone.
struct Shape {
  std::size_t topic_bytes;
  std::size_t payload_bytes;
  int qos;
  bool retain;
};

Shape shape(std::uint64_t seq) {
  const std::uint64_t r = splitmix64(seq);
  Shape s;
  s.topic_bytes = 1 + (r & 15);
  // Mostly small records, now and then one up to the largest the ring takes.
  const std::size_t largest = max_payload(kRingBytes, s.topic_bytes);
  s.payload_bytes = (r >> 8) % 64 == 0 ? (r >> 16) % (largest + 1) : (r >> 16) % 300;
  s.qos = static_cast<int>((r >> 4) % 3);
  s.retain = ((r >> 6) & 1) != 0;
  return s;
}

char topic_byte(std::uint64_t seq, std::size_t i) {
  return static_cast<char>('a' + (seq + i) % 26);
}

}  // namespace

TEST_CASE("a producer and a consumer thread pass every record intact and in order") {
  HeapRing ring(kRingBytes, 3 * kRingBytes - 4096);
  std::atomic<bool> producer_done{false};
  std::atomic<std::uint64_t> produced{0};

  // The consumer's verdict, read by the main thread only after join().
  std::uint64_t consumed = 0;
  std::uint64_t first_bad_seq = ~std::uint64_t{0};
  std::string first_problem;

  std::thread consumer_thread([&] {
    auto consumer = ring.consumer();
    RingConsumer::Item item;
    auto fail = [&](std::string what) {
      first_bad_seq = consumed;
      first_problem = std::move(what);
    };
    for (;;) {
      const Status status = consumer.read_at(consumer.tail(), item);
      if (status == Status::empty) {
        if (producer_done.load(std::memory_order_acquire) &&
            consumed == produced.load(std::memory_order_relaxed) &&
            consumer.read_at(consumer.tail(), item) == Status::empty)
          return;
        std::this_thread::yield();
        continue;
      }
      if (status == Status::corrupt) return fail("read_at reported corrupt");
      const auto& m = item.message;
      const Shape s = shape(consumed);
      if (m.seq != consumed) return fail("sequence " + std::to_string(m.seq) + " out of order");
      if (m.qos != s.qos || m.retain != s.retain || m.enqueue_ns != std::int64_t(consumed) * 3)
        return fail("header fields changed");
      if (m.topic.size() != s.topic_bytes || m.payload.size() != s.payload_bytes)
        return fail("sizes changed");
      for (std::size_t i = 0; i < m.topic.size(); ++i)
        if (m.topic[i] != topic_byte(consumed, i)) return fail("topic bytes changed");
      if (!matches_pattern(m.payload, consumed)) return fail("payload bytes changed");
      consumer.advance_tail(item.end);
      ++consumed;
    }
  });

  std::thread producer_thread([&] {
    auto producer = ring.producer();
    std::string topic, payload;
    const auto deadline = std::chrono::steady_clock::now() + kBudget;
    std::uint64_t seq = 0;
    for (; seq < kMaxMessages; ++seq) {
      if (seq % 1024 == 0 && seq >= kMinMessages && std::chrono::steady_clock::now() > deadline)
        break;
      const Shape s = shape(seq);
      topic.resize(s.topic_bytes);
      for (std::size_t i = 0; i < s.topic_bytes; ++i) topic[i] = topic_byte(seq, i);
      payload = pattern(seq, s.payload_bytes);
      record::MessageView m;
      m.seq = seq;
      m.enqueue_ns = std::int64_t(seq) * 3;
      m.qos = s.qos;
      m.retain = s.retain;
      m.topic = topic;
      m.payload = payload;
      while (!producer.try_push(m)) std::this_thread::yield();
      produced.store(seq + 1, std::memory_order_relaxed);
    }
    producer_done.store(true, std::memory_order_release);
  });

  producer_thread.join();
  consumer_thread.join();

  INFO("first problem at seq ", first_bad_seq, ": ", first_problem);
  CHECK(first_problem.empty());
  CHECK(consumed == produced.load());
  CHECK(ring.segment->consumer.tail.load() == ring.segment->producer.head.load());
  // Enough traffic to have gone round the ring many times with the ring often full.
  CHECK(produced.load() >= kMinMessages);
  CHECK(ring.segment->producer.head.load() - (3 * kRingBytes - 4096) >= 20 * kRingBytes);
  MESSAGE(produced.load(), " records passed through a ", kRingBytes, "-byte ring");
}
