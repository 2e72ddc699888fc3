// Rules of the shared message ring (proto/ring.hpp, record format in proto/record_format.hpp),
// checked over heap memory: the ring classes see only a shm::Segment and a byte buffer.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "printers.hpp"
#include "ring_fixture.hpp"

using namespace robustmq;
using namespace robustmq::test;
using Status = RingConsumer::Status;

namespace {

record::MessageView message(std::uint64_t seq, std::string_view topic, std::string_view payload,
                            int qos = 1, bool retain = false, std::int64_t enqueue_ns = 0) {
  record::MessageView m;
  m.seq = seq;
  m.enqueue_ns = enqueue_ns;
  m.qos = qos;
  m.retain = retain;
  m.topic = topic;
  m.payload = payload;
  return m;
}

// Pushes `m`, reads it back at the tail, checks every rule a single record must obey and
// advances the tail past it. Returns "" or what went wrong.
std::string round_trip(HeapRing& ring, RingProducer& producer, RingConsumer& consumer,
                       const record::MessageView& m) {
  const std::size_t size = ring.data.size();
  const std::size_t need = record::record_bytes(m.topic.size(), m.payload.size());
  const std::uint64_t before = producer.head();
  const std::size_t contiguous = size - ring.offset(before);
  const bool wraps = need > contiguous;
  const std::string where = " (head offset " + std::to_string(ring.offset(before)) + ", record " +
                            std::to_string(need) + " bytes)";

  if (consumer.tail() != before) return "the ring was not empty" + where;
  if (!producer.try_push(m)) return "try_push refused a record into an empty ring" + where;
  const std::uint64_t head = before + (wraps ? contiguous : 0) + need;
  if (producer.head() != head) return "the head moved by the wrong amount" + where;
  if (ring.segment->producer.head.load() != head) return "the head was not published" + where;
  if (wraps && ring.peek<std::uint32_t>(before) != record::kWrapMarker)
    return "no wrap marker before a wrapped record" + where;

  RingConsumer::Item item;
  const Status status = consumer.read_at(before, item);
  if (status != Status::item) return "read_at did not return the record" + where;
  if (item.begin != before || item.end != head) return "item.begin/end are wrong" + where;
  const auto& got = item.message;
  if (got.seq != m.seq || got.enqueue_ns != m.enqueue_ns || got.qos != m.qos ||
      got.retain != m.retain)
    return "a header field changed on the way" + where;
  if (got.topic != m.topic) return "the topic changed on the way" + where;
  if (got.payload != m.payload) return "the payload changed on the way" + where;

  // A record never straddles the ring's end: it lies in one contiguous piece of the buffer.
  const std::size_t record_offset = ring.offset(head - need);
  if (record_offset + need > size) return "the record straddles the ring's end" + where;
  if (wraps && record_offset != 0) return "a wrapped record does not start at offset 0" + where;
  const auto* first = reinterpret_cast<const char*>(ring.data.data());
  if (got.topic.data() != first + record_offset + record::kHeaderBytes ||
      got.payload.data() != got.topic.data() + got.topic.size())
    return "the views do not point at the record's bytes" + where;

  // Padding is zeroed, not left over from earlier records.
  const std::size_t used = record::kHeaderBytes + m.topic.size() + m.payload.size();
  for (std::size_t i = used; i < need; ++i)
    if (ring.data[record_offset + i] != std::byte{0}) return "padding is not zero" + where;

  consumer.advance_tail(item.end);
  if (ring.segment->consumer.tail.load() != item.end) return "the tail was not published" + where;
  if (consumer.read_at(item.end, item) != Status::empty)
    return "the ring is not empty after the only record was read" + where;
  return {};
}

}  // namespace

TEST_CASE("an empty ring reads empty") {
  for (const std::uint64_t start : {std::uint64_t{0}, std::uint64_t{5 * 1024 + 1000}}) {
    CAPTURE(start);
    HeapRing ring(1024, start);
    auto consumer = ring.consumer();
    RingConsumer::Item item;
    CHECK(consumer.read_at(start, item) == Status::empty);
    CHECK(consumer.head() == start);
    CHECK(consumer.tail() == start);
  }
}

TEST_CASE("a record carries every header field and both strings unchanged") {
  HeapRing ring(1024, 7 * 1024 + 64);
  auto producer = ring.producer();
  auto consumer = ring.consumer();
  const std::string payload("bin\0ary\xff\x80 payload", 18);
  const std::uint64_t seqs[] = {0, 1, 0x1234'5678'9abc'def0ull, ~std::uint64_t{0}};
  const std::int64_t times[] = {0, -1, 1'700'000'000'123'456'789, INT64_MIN};
  std::uint64_t n = 0;
  for (int qos = 0; qos <= 2; ++qos)
    for (bool retain : {false, true})
      for (std::size_t i = 0; i < 4; ++i, ++n) {
        CAPTURE(qos);
        CAPTURE(retain);
        CAPTURE(i);
        const auto m = message(seqs[i], "plant/\xE2\x82\xAC/hall 3", payload, qos, retain, times[i]);
        const std::string error = round_trip(ring, producer, consumer, m);
        CHECK_MESSAGE(error.empty(), error);
      }
  CHECK(n == 24);
}

TEST_CASE("a full ring refuses a record and writes nothing") {
  HeapRing ring(1024, 3 * 1024 + 200);
  auto producer = ring.producer();
  auto consumer = ring.consumer();
  const std::string payload = pattern(0, 45);  // 32 + 3 + 45 = 80 bytes, no padding
  std::uint64_t pushed = 0;
  while (producer.try_push(message(pushed, "a/b", payload))) ++pushed;
  REQUIRE(pushed >= 1024 / 80 - 1);
  CHECK(producer.head() - consumer.tail() <= 1024);

  // Neither the same record nor a bigger one gets in, and the refusal leaves no trace.
  const std::vector<std::byte> before = ring.data;
  const std::uint64_t head = ring.segment->producer.head.load();
  const std::string big = pattern(1, 400);
  CHECK_FALSE(producer.try_push(message(pushed, "a/b", payload)));
  CHECK_FALSE(producer.try_push(message(pushed, "a/b", big)));
  CHECK(ring.data == before);
  CHECK(ring.segment->producer.head.load() == head);
  CHECK(producer.head() == head);

  // What was accepted before is intact and in order.
  RingConsumer::Item item;
  std::uint64_t at = consumer.tail();
  for (std::uint64_t seq = 0; seq < pushed; ++seq) {
    REQUIRE(consumer.read_at(at, item) == Status::item);
    CHECK(item.message.seq == seq);
    CHECK(item.message.payload == payload);
    at = item.end;
  }
  CHECK(at == head);
  CHECK(consumer.read_at(at, item) == Status::empty);
}

TEST_CASE("a record that fits only without its wrap marker is refused and leaves no marker") {
  // 800 bytes used, head 124 bytes before the end: a 200-byte record would fit in the 224 free
  // bytes, but not at the head, and marker + record need 324.
  const std::size_t size = 1024;
  const std::uint64_t tail = 9 * size + 100;
  const std::uint64_t head = tail + 800;
  REQUIRE(head % size == 900);
  HeapRing ring(size, head);
  ring.segment->consumer.tail.store(tail);
  auto producer = ring.producer();
  const std::string payload = pattern(0, 200 - 32 - 3);
  const std::vector<std::byte> before = ring.data;
  CHECK_FALSE(producer.try_push(message(0, "a/b", payload)));
  CHECK(ring.data == before);
  CHECK(ring.segment->producer.head.load() == head);

  // Once the consumer frees 100 more bytes, marker and record fit.
  ring.segment->consumer.tail.store(tail + 104);
  CHECK(producer.try_push(message(0, "a/b", payload)));
  CHECK(ring.peek<std::uint32_t>(head) == record::kWrapMarker);
  CHECK(producer.head() == head + 124 + 200);
}

TEST_CASE("advancing the tail frees space for the producer") {
  HeapRing ring(1024);
  auto producer = ring.producer();
  auto consumer = ring.consumer();
  const std::string payload = pattern(0, 221);  // 256-byte records: four fill the ring
  for (std::uint64_t seq = 0; seq < 4; ++seq) REQUIRE(producer.try_push(message(seq, "a/b", payload)));
  CHECK_FALSE(producer.try_push(message(4, "a/b", payload)));

  // Reading alone frees nothing: the tail moves only when the consumer says so.
  RingConsumer::Item item;
  REQUIRE(consumer.read_at(consumer.tail(), item) == Status::item);
  CHECK_FALSE(producer.try_push(message(4, "a/b", payload)));

  consumer.advance_tail(item.end);
  CHECK(ring.segment->consumer.tail.load() == item.end);
  CHECK(producer.try_push(message(4, "a/b", payload)));
  CHECK_FALSE(producer.try_push(message(5, "a/b", payload)));

  // The record that took the freed space is the fifth, and the second is still the next to read.
  REQUIRE(consumer.read_at(consumer.tail(), item) == Status::item);
  CHECK(item.message.seq == 1);
}

TEST_CASE("a record that does not fit before the ring's end starts at offset 0 after a wrap marker") {
  const std::size_t size = 1024;
  const std::uint64_t start = 2 * size + size - 40;
  HeapRing ring(size, start);
  auto producer = ring.producer();
  auto consumer = ring.consumer();
  const std::string payload = pattern(42, 29);  // 32 + 3 + 29 = 64 bytes > the 40 left
  REQUIRE(producer.try_push(message(42, "a/b", payload)));
  CHECK(ring.peek<std::uint32_t>(start) == record::kWrapMarker);
  CHECK(producer.head() == start + 40 + 64);
  CHECK(ring.peek<record::Header>(3 * size).total_bytes == 64);

  RingConsumer::Item item;
  REQUIRE(consumer.read_at(start, item) == Status::item);
  CHECK(item.begin == start);
  CHECK(item.end == start + 40 + 64);
  CHECK(item.message.seq == 42);
  CHECK(item.message.payload == payload);
  CHECK(item.message.topic.data() ==
        reinterpret_cast<const char*>(ring.data.data()) + record::kHeaderBytes);
}

TEST_CASE("a record that exactly fills the rest of the ring needs no wrap marker") {
  const std::size_t size = 1024;
  const std::uint64_t start = size - 64;
  HeapRing ring(size, start);
  auto producer = ring.producer();
  auto consumer = ring.consumer();
  const std::string payload = pattern(7, 29);  // exactly 64 bytes
  REQUIRE(producer.try_push(message(7, "a/b", payload)));
  CHECK(producer.head() == size);
  CHECK(ring.peek<record::Header>(start).total_bytes == 64);
  CHECK(ring.data[0] == kFill);  // nothing was written at the ring's start

  RingConsumer::Item item;
  REQUIRE(consumer.read_at(start, item) == Status::item);
  CHECK(item.end == size);
  CHECK(item.message.payload == payload);
}

TEST_CASE("records of every size round-trip byte-exactly at every head offset") {
  // Exhaustive in a small ring: every 8-aligned head offset x every topic length residue mod 8
  // x every payload size from 0 to the largest the ring takes.
  const std::size_t size = 1024;
  std::size_t cases = 0;
  for (std::size_t offset = 0; offset < size; offset += record::kAlign) {
    const std::uint64_t start = 11 * size + offset;
    HeapRing ring(size, start);
    for (std::size_t topic_bytes = 1; topic_bytes <= 8; ++topic_bytes) {
      const std::string topic(topic_bytes, 't');
      for (std::size_t payload_bytes = 0; payload_bytes <= max_payload(size, topic_bytes);
           ++payload_bytes, ++cases) {
        std::fill(ring.data.begin(), ring.data.end(), kFill);
        ring.segment->producer.head.store(start);
        ring.segment->consumer.tail.store(start);
        auto producer = ring.producer();
        auto consumer = ring.consumer();
        const std::uint64_t seq = cases;
        const std::string payload = pattern(seq, payload_bytes);
        const std::string error =
            round_trip(ring, producer, consumer, message(seq, topic, payload, int(seq % 3)));
        REQUIRE_MESSAGE(error.empty(), error, " topic ", topic_bytes, " payload ", payload_bytes);
      }
    }
  }
  CHECK(cases == 128 * (8 * (512 - 32 + 1) - (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8)));
}

TEST_CASE("records of every size up to the largest round-trip in a 64 KiB ring") {
  const std::size_t size = 64 << 10;
  HeapRing ring(size, 1000 * size + 8);
  auto producer = ring.producer();
  auto consumer = ring.consumer();
  const std::string topic = "robustmq/unit/every-size";
  const std::size_t largest = max_payload(size, topic.size());
  REQUIRE(record::record_bytes(topic.size(), largest) == size / 2);
  std::uint64_t wraps = 0;
  for (std::size_t payload_bytes = 0; payload_bytes <= largest; ++payload_bytes) {
    const std::uint64_t before = producer.head();
    const std::string payload = pattern(payload_bytes, payload_bytes);
    const std::string error = round_trip(ring, producer, consumer, message(payload_bytes, topic, payload));
    REQUIRE_MESSAGE(error.empty(), error, " payload ", payload_bytes);
    wraps += (producer.head() / size) != (before / size);
  }
  CHECK(wraps > 1000);  // the stream went round the ring many times, through many offsets
}

TEST_CASE("the largest record fits in an empty ring whatever the head offset") {
  const std::size_t size = 64 << 10;
  const std::string topic = "t";
  const std::string payload = pattern(3, max_payload(size, topic.size()));
  HeapRing ring(size);
  for (std::size_t offset = 0; offset < size; offset += record::kAlign) {
    const std::uint64_t start = 5 * size + offset;
    ring.segment->producer.head.store(start);
    ring.segment->consumer.tail.store(start);
    auto producer = ring.producer();
    auto consumer = ring.consumer();
    const std::string error = round_trip(ring, producer, consumer, message(3, topic, payload));
    REQUIRE_MESSAGE(error.empty(), error);
  }
}

// --- untrusted input: whatever the producer's side of the segment holds, the reader reports
// --- corrupt (or empty) and never reads outside the ring.

namespace {

struct Damage {
  const char* rule;
  // Gets a ring of 1024 bytes holding one valid record (topic "a/b", 20-byte payload, 56 bytes)
  // at index kStart, head and tail around it; may change anything; returns where to read.
  std::function<std::uint64_t(HeapRing&)> damage;
  Status expected = Status::corrupt;
};

constexpr std::size_t kSize = 1024;
constexpr std::uint64_t kStart = 4 * kSize + 64;
constexpr std::uint32_t kRecord = 56;

record::Header header_at(HeapRing& r, std::uint64_t at) { return r.peek<record::Header>(at); }
void set_header(HeapRing& r, std::uint64_t at, const record::Header& h) { r.poke(at, h); }

template <class F>
std::function<std::uint64_t(HeapRing&)> edit_header(F f) {
  return [f](HeapRing& r) {
    auto h = header_at(r, kStart);
    f(h, r);
    set_header(r, kStart, h);
    return kStart;
  };
}

// Places a well-formed header claiming `total` bytes at `at` and makes [at, head) readable.
void plant(HeapRing& r, std::uint64_t at, std::uint32_t total, std::uint64_t head) {
  record::Header h{};
  h.total_bytes = total;
  h.topic_bytes = 3;
  h.kind = record::kKindMessage;
  h.payload_bytes = total - 32 - 3;
  r.poke(at, h);
  r.segment->consumer.tail.store(at);
  r.segment->producer.head.store(head);
}

}  // namespace

TEST_CASE("a damaged record or index reads as corrupt, never as a message") {
  const std::vector<Damage> table = {
      {"the undamaged record reads as a message",
       [](HeapRing&) { return kStart; }, Status::item},
      {"total_bytes not a multiple of 8",
       edit_header([](record::Header& h, HeapRing&) { h.total_bytes += 1; })},
      {"total_bytes zero", edit_header([](record::Header& h, HeapRing&) { h.total_bytes = 0; })},
      {"total_bytes smaller than a header",
       edit_header([](record::Header& h, HeapRing&) { h.total_bytes = 24; })},
      {"total_bytes past the head although the sizes agree",
       edit_header([](record::Header& h, HeapRing&) {
         h.total_bytes += 8;
         h.payload_bytes += 8;
       })},
      {"total_bytes past the ring's end",
       [](HeapRing& r) {
         const std::uint64_t at = 6 * kSize + kSize - 64;
         plant(r, at, 128, at + 256);
         return at;
       }},
      {"total_bytes above half the ring",
       [](HeapRing& r) {
         const std::uint64_t at = 6 * kSize;
         plant(r, at, 520, at + kSize);
         return at;
       }},
      {"a record of exactly half the ring is accepted (control for the row above)",
       [](HeapRing& r) {
         const std::uint64_t at = 6 * kSize;
         plant(r, at, 512, at + kSize);
         return at;
       },
       Status::item},
      {"kind 0", edit_header([](record::Header& h, HeapRing&) { h.kind = 0; })},
      {"kind 2", edit_header([](record::Header& h, HeapRing&) { h.kind = 2; })},
      {"QoS 3 in the flags", edit_header([](record::Header& h, HeapRing&) { h.flags = 3; })},
      {"a reserved flag bit set", edit_header([](record::Header& h, HeapRing&) { h.flags |= 0x10; })},
      {"the top flag bit set", edit_header([](record::Header& h, HeapRing&) { h.flags |= 0x80; })},
      {"payload_bytes larger than the record",
       edit_header([](record::Header& h, HeapRing&) { h.payload_bytes = 1000; })},
      {"payload_bytes near 2^32",
       edit_header([](record::Header& h, HeapRing&) { h.payload_bytes = 0xFFFF'FFF0u; })},
      {"topic_bytes larger than the record",
       edit_header([](record::Header& h, HeapRing&) { h.topic_bytes = 0xFFFF; })},
      {"more than 7 bytes of padding",
       edit_header([](record::Header& h, HeapRing& r) {
         h.total_bytes += 8;
         r.segment->producer.head.fetch_add(8);
       })},
      {"head beyond tail + ring size",
       [](HeapRing& r) {
         r.segment->producer.head.store(kStart + kSize + 8);
         return kStart;
       }},
      {"head in the middle of the record",
       [](HeapRing& r) {
         r.segment->producer.head.store(kStart + 16);
         return kStart;
       }},
      {"a read position that is not 8-aligned", [](HeapRing&) { return kStart + 4; }},
      {"a read position before the tail",
       [](HeapRing& r) {
         r.segment->consumer.tail.store(kStart + 8);
         return kStart;
       }},
      {"a wrap marker directly before head, at the ring's end",
       [](HeapRing& r) {
         const std::uint64_t at = 6 * kSize + kSize - 16;
         r.poke(at, record::kWrapMarker);
         r.segment->consumer.tail.store(at);
         r.segment->producer.head.store(at + 16);
         return at;
       }},
      {"a wrap marker directly before head, mid-ring",
       [](HeapRing& r) {
         r.poke(kStart, record::kWrapMarker);
         r.segment->producer.head.store(kStart + 8);
         return kStart;
       }},
      {"a wrap marker followed by a record that runs past head",
       [](HeapRing& r) {
         const std::uint64_t at = 6 * kSize + kSize - 16;
         plant(r, 7 * kSize, kRecord, at + 16 + kRecord - 8);
         r.poke(at, record::kWrapMarker);
         r.segment->consumer.tail.store(at);
         return at;
       }},
      {"a wrap marker followed by a good record is accepted (control for the row above)",
       [](HeapRing& r) {
         const std::uint64_t at = 6 * kSize + kSize - 16;
         plant(r, 7 * kSize, kRecord, at + 16 + kRecord);
         r.poke(at, record::kWrapMarker);
         r.segment->consumer.tail.store(at);
         return at;
       },
       Status::item},
      {"a header-sized length in the last 8 bytes before the end",
       [](HeapRing& r) {
         const std::uint64_t at = 6 * kSize + kSize - 8;
         r.poke(at, std::uint32_t{8});
         r.segment->consumer.tail.store(at);
         r.segment->producer.head.store(at + 8 + kRecord);
         return at;
       }},
      {"a header cut by the ring's end",
       [](HeapRing& r) {
         const std::uint64_t at = 6 * kSize + kSize - 24;
         r.poke(at, std::uint32_t{24});
         r.segment->consumer.tail.store(at);
         r.segment->producer.head.store(at + 24 + kRecord);
         return at;
       }},
  };

  for (const auto& row : table) {
    const std::string rule = row.rule;
    INFO(rule);
    HeapRing ring(kSize, kStart);
    {
      auto producer = ring.producer();
      REQUIRE(producer.try_push(message(1, "a/b", pattern(1, 20))));
      REQUIRE(producer.head() == kStart + kRecord);
    }
    const std::uint64_t at = row.damage(ring);
    auto consumer = ring.consumer();
    RingConsumer::Item item;
    CHECK(consumer.read_at(at, item) == row.expected);
  }
}

TEST_CASE("a head behind the tail reads as corrupt, not as an empty ring") {
  // Invariant 1 of segment_layout.hpp: tail <= head. A head behind the tail can only come from
  // a scribbled segment; reporting it as "empty" would leave the worker idle and every
  // publish() failing with queue_full, with nothing in the log.
  for (const std::uint64_t behind : {std::uint64_t{8}, std::uint64_t{kSize}, kStart}) {
    CAPTURE(behind);
    HeapRing ring(kSize, kStart);
    ring.segment->producer.head.store(kStart - behind);
    auto consumer = ring.consumer();
    RingConsumer::Item item;
    CHECK(consumer.read_at(kStart, item) == Status::corrupt);
  }
}

TEST_CASE("random ring contents never make the reader look outside the ring") {
  // Fills a small ring with noise and plausible headers, with head and tail anywhere: read_at
  // may say anything but must describe bytes inside the ring (run under ASan for the reads).
  constexpr std::size_t size = 256;
  std::mt19937_64 rng(20240601);
  std::size_t items = 0, corrupt = 0, empty = 0;
  for (int trial = 0; trial < 200'000; ++trial) {
    HeapRing ring(size);
    for (auto& b : ring.data) b = std::byte(rng() & 0xFF);
    const std::uint64_t tail = (rng() % (1u << 20)) & ~std::uint64_t{7};
    std::uint64_t head = tail + (rng() % (size + 24)) / 8 * 8;
    if (rng() % 16 == 0) head = rng() % (1u << 20);
    std::uint64_t at = tail + (rng() % 4 == 0 ? rng() % 64 : 0);
    if (rng() % 2) {  // a header that passes validate() often
      record::Header h{};
      h.total_bytes = static_cast<std::uint32_t>(32 + (rng() % 16) * 8);
      h.topic_bytes = static_cast<std::uint16_t>(rng() % 8);
      h.payload_bytes = static_cast<std::uint32_t>(h.total_bytes - 32 - h.topic_bytes - rng() % 8);
      h.kind = rng() % 8 ? record::kKindMessage : 0;
      h.flags = static_cast<std::uint8_t>(rng() % 8);
      const std::size_t off = at & (size - 1);
      if (off + sizeof h <= size) std::memcpy(ring.data.data() + off, &h, sizeof h);
      if (rng() % 4 == 0 && off + 4 <= size) ring.poke(at, record::kWrapMarker);
    }
    ring.segment->consumer.tail.store(tail);
    ring.segment->producer.head.store(head);
    auto consumer = ring.consumer();
    RingConsumer::Item item;
    switch (consumer.read_at(at, item)) {
      case Status::empty: ++empty; break;
      case Status::corrupt: ++corrupt; break;
      case Status::item: {
        ++items;
        const auto* lo = reinterpret_cast<const char*>(ring.data.data());
        const auto* hi = lo + size;
        const auto& m = item.message;
        REQUIRE(m.topic.data() >= lo);
        REQUIRE(m.payload.data() + m.payload.size() <= hi);
        REQUIRE(m.topic.data() + m.topic.size() == m.payload.data());
        REQUIRE(item.begin == at);
        REQUIRE(item.end > at);
        REQUIRE(item.end <= head);
        REQUIRE(head - tail <= size);
        break;
      }
    }
  }
  // The generator reaches every outcome, so the loop above checked real items.
  CHECK(items > 1000);
  CHECK(corrupt > 1000);
  CHECK(empty > 100);
}
