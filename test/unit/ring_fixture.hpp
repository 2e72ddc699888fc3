// A message ring over ordinary heap memory: the ring classes only see a shm::Segment and a byte
// buffer, so most ring rules can be checked without shared memory.
#pragma once

#include <algorithm>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "proto/record_format.hpp"
#include "proto/ring.hpp"
#include "proto/segment_layout.hpp"

namespace robustmq::test {

// Bytes a fresh ring is filled with, so that "nothing was written" and "padding is zeroed" are
// observable.
inline constexpr std::byte kFill{0xA5};

struct HeapRing {
  // `start` is the free-running index both head and tail begin at: a ring that has already
  // carried `start` bytes.
  explicit HeapRing(std::size_t size, std::uint64_t start = 0)
      : segment(std::make_unique<shm::Segment>()), data(size, kFill) {
    segment->producer.head.store(start);
    segment->consumer.tail.store(start);
  }

  RingProducer producer() { return {segment->producer, segment->consumer, data.data(), data.size()}; }
  RingConsumer consumer() { return {segment->producer, segment->consumer, data.data(), data.size()}; }

  std::size_t offset(std::uint64_t index) const { return index & (data.size() - 1); }

  // Writes/reads a value at a ring index; the value must not cross the ring's end.
  template <class T>
  void poke(std::uint64_t index, const T& value) {
    in_bounds(index, sizeof value);
    std::memcpy(data.data() + offset(index), &value, sizeof value);
  }
  template <class T>
  T peek(std::uint64_t index) const {
    in_bounds(index, sizeof(T));
    T value;
    std::memcpy(&value, data.data() + offset(index), sizeof value);
    return value;
  }

  void in_bounds(std::uint64_t index, std::size_t bytes) const {
    if (offset(index) + bytes > data.size()) throw std::out_of_range("HeapRing: past the ring's end");
  }

  std::unique_ptr<shm::Segment> segment;
  std::vector<std::byte> data;
};

// Payload bytes derived from the sequence number, so a reader can check every byte it gets.
inline char pattern_byte(std::uint64_t seq, std::size_t i) {
  return static_cast<char>((seq * 131u + i * 7u + (i >> 8) + 1u) & 0xFFu);
}

inline std::string pattern(std::uint64_t seq, std::size_t bytes) {
  std::string s(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) s[i] = pattern_byte(seq, i);
  return s;
}

inline bool matches_pattern(std::string_view payload, std::uint64_t seq) {
  for (std::size_t i = 0; i < payload.size(); ++i)
    if (payload[i] != pattern_byte(seq, i)) return false;
  return true;
}

// The largest payload a ring of `ring_bytes` accepts with a topic of `topic_bytes`.
constexpr std::size_t max_payload(std::size_t ring_bytes, std::size_t topic_bytes) {
  return record::max_record_bytes(ring_bytes) - record::kHeaderBytes - topic_bytes;
}

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace robustmq::test
