// libFuzzer target: the worker's ring-record decoder (RingConsumer::read_at) over a ring of
// arbitrary bytes with an arbitrary head and tail, as a hostile or crashed producer could leave
// them in shared memory. Must never crash or read outside the ring; every record it returns must
// lie inside the ring and inside [tail, head), and reading must make progress.
//
// Input: u8 ring size exponent, u64 tail, u64 head - tail, u64 extra position, then ring bytes
// (repeated to fill the ring, so short inputs still give full rings).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "proto/record_format.hpp"
#include "proto/ring.hpp"
#include "proto/segment_layout.hpp"

using namespace robustmq;

namespace {

constexpr std::size_t kPrefixBytes = 1 + 8 + 8 + 8;

std::uint64_t take64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

bool inside(const std::vector<std::byte>& ring, const char* p, std::size_t n) {
  const auto* begin = reinterpret_cast<const char*>(ring.data());
  return p >= begin && n <= ring.size() && p - begin <= static_cast<std::ptrdiff_t>(ring.size() - n);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kPrefixBytes) return 0;
  // Rings of 64 bytes .. 8 KiB: real rings are >= 64 KiB, but the decoder's arithmetic does not
  // depend on the size, and small rings let the fuzzer reach wrap markers and the ring's end.
  const std::size_t ring_bytes = std::size_t{64} << (data[0] % 8);
  // Free-running indices never come near 2^64 (that is 2^63 bytes through one ring), so the
  // tail is kept below 2^63; the head is anything, also behind the tail.
  const std::uint64_t tail = take64(data + 1) & (~std::uint64_t{0} >> 1);
  const std::uint64_t head = tail + take64(data + 9);
  const std::uint64_t extra = take64(data + 17);
  data += kPrefixBytes;
  size -= kPrefixBytes;

  std::vector<std::byte> ring(ring_bytes, std::byte{0});
  if (size > 0)
    for (std::size_t i = 0; i < ring_bytes; ++i) ring[i] = std::byte{data[i % size]};

  auto segment = std::make_unique<shm::Segment>();
  segment->producer.head.store(head);
  segment->consumer.tail.store(tail);
  RingConsumer consumer(segment->producer, segment->consumer, ring.data(), ring.size());

  // Whatever the position, read_at answers without touching memory outside the ring.
  RingConsumer::Item item;
  if (consumer.read_at(extra, item) == RingConsumer::Status::item &&
      (!inside(ring, item.message.topic.data(), item.message.topic.size()) ||
       !inside(ring, item.message.payload.data(), item.message.payload.size())))
    std::abort();

  // Walk from the tail the way the worker does, advancing the tail now and then.
  std::uint64_t at = tail;
  for (int steps = 0; steps < 4096; ++steps) {
    const RingConsumer::Status s = consumer.read_at(at, item);
    if (s != RingConsumer::Status::item) break;
    const record::MessageView& m = item.message;
    if (item.begin != at || item.end <= at || item.end > head || item.end - at > ring_bytes)
      std::abort();  // progress, and within [tail, head)
    if (!inside(ring, m.topic.data(), m.topic.size()) ||
        !inside(ring, m.payload.data(), m.payload.size()) || m.qos < 0 || m.qos > 2)
      std::abort();
    at = item.end;
    if (steps % 3 == 2) consumer.advance_tail(at);
  }
  return 0;
}
