// Single-producer / single-consumer byte ring of variable-length records over shared memory.
//
// The producer (RobustClient, its threads serialised by a mutex) owns head; the consumer
// (the worker) owns tail. Indices are free-running 64-bit byte counts; the offset in the ring is
// index & (size - 1). Each side caches the other's index and re-reads it only when it must.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "proto/record_format.hpp"
#include "proto/segment_layout.hpp"

namespace robustmq {

class RingProducer {
 public:
  RingProducer(shm::ProducerLine& producer, const shm::ConsumerLine& consumer, std::byte* data,
               std::size_t size) noexcept;

  // Writes one record and publishes it. Returns false (nothing written) when there is no room
  // now. The caller has checked record::record_bytes(...) <= record::max_record_bytes(size).
  bool try_push(const record::MessageView& m) noexcept;

  std::uint64_t head() const noexcept { return head_; }
  std::size_t size() const noexcept { return size_; }

 private:
  shm::ProducerLine& producer_;
  const shm::ConsumerLine& consumer_;
  std::byte* data_;
  std::size_t size_;
  std::uint64_t head_;         // our copy; producer_.head is its published value
  std::uint64_t cached_tail_;  // last tail we read
};

class RingConsumer {
 public:
  RingConsumer(const shm::ProducerLine& producer, shm::ConsumerLine& consumer,
               const std::byte* data, std::size_t size) noexcept;

  struct Item {
    record::MessageView message;
    std::uint64_t begin = 0;  // ring index of the record (or its wrap marker)
    std::uint64_t end = 0;    // ring index just past it: the tail once it is acked or cached
  };
  enum class Status { item, empty, corrupt };

  // Decodes the record at `at` (a position in [tail, head)). `corrupt` means the header failed
  // validation; the caller counts it and resynchronises at head().
  Status read_at(std::uint64_t at, Item& out) noexcept;

  std::uint64_t tail() const noexcept { return tail_; }
  std::uint64_t head() noexcept;  // re-reads the producer's head (acquire)
  void advance_tail(std::uint64_t to) noexcept;  // release: [old tail, to) is done with
  std::size_t size() const noexcept { return size_; }

 private:
  const shm::ProducerLine& producer_;
  shm::ConsumerLine& consumer_;
  const std::byte* data_;
  std::size_t size_;
  std::uint64_t tail_;
  std::uint64_t cached_head_;
};

}  // namespace robustmq
