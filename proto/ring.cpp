#include "proto/ring.hpp"

#include <cstring>

namespace robustmq {

namespace record {

Check validate(const Header& h, std::size_t contiguous, std::size_t ring_bytes) noexcept {
  if (h.total_bytes % kAlign != 0 || h.total_bytes < kHeaderBytes ||
      h.total_bytes > contiguous || h.total_bytes > max_record_bytes(ring_bytes))
    return Check::bad_length;
  if (h.kind != kKindMessage) return Check::bad_kind;
  if ((h.flags & ~(kQosMask | kRetainBit | kLargeBit)) != 0 || (h.flags & kQosMask) > 2)
    return Check::bad_flags;
  if (kHeaderBytes + std::size_t{h.topic_bytes} + std::size_t{h.payload_bytes} > h.total_bytes ||
      padded(kHeaderBytes + std::size_t{h.topic_bytes} + h.payload_bytes) != h.total_bytes)
    return Check::bad_sizes;
  return Check::ok;
}

}  // namespace record

RingProducer::RingProducer(shm::ProducerLine& producer, const shm::ConsumerLine& consumer,
                           std::byte* data, std::size_t size) noexcept
    : producer_(producer),
      consumer_(consumer),
      data_(data),
      size_(size),
      head_(producer.head.load(std::memory_order_relaxed)),
      cached_tail_(consumer.tail.load(std::memory_order_acquire)) {}

bool RingProducer::try_push(const record::MessageView& m) noexcept {
  const std::size_t need = record::record_bytes(m.topic.size(), m.payload.size());
  const std::size_t offset = head_ & (size_ - 1);
  const std::size_t contiguous = size_ - offset;
  // A record never straddles the end: if it does not fit before it, a wrap marker fills the
  // rest and the record starts at offset 0.
  const std::size_t total = need <= contiguous ? need : contiguous + need;
  if (head_ + total - cached_tail_ > size_) {
    cached_tail_ = consumer_.tail.load(std::memory_order_acquire);
    if (head_ + total - cached_tail_ > size_) return false;
  }
  std::uint64_t at = head_;
  if (need > contiguous) {
    const std::uint32_t marker = record::kWrapMarker;
    std::memcpy(data_ + offset, &marker, sizeof marker);
    at += contiguous;
  }
  std::byte* p = data_ + (at & (size_ - 1));
  record::Header h{};
  h.total_bytes = static_cast<std::uint32_t>(need);
  h.topic_bytes = static_cast<std::uint16_t>(m.topic.size());
  h.flags = static_cast<std::uint8_t>((m.qos & record::kQosMask) |
                                      (m.retain ? record::kRetainBit : 0) |
                                      (m.large ? record::kLargeBit : 0));
  h.kind = record::kKindMessage;
  h.seq = m.seq;
  h.enqueue_ns = m.enqueue_ns;
  h.payload_bytes = static_cast<std::uint32_t>(m.payload.size());
  std::memcpy(p, &h, sizeof h);
  std::memcpy(p + record::kHeaderBytes, m.topic.data(), m.topic.size());
  if (!m.payload.empty())
    std::memcpy(p + record::kHeaderBytes + m.topic.size(), m.payload.data(), m.payload.size());
  const std::size_t used = record::kHeaderBytes + m.topic.size() + m.payload.size();
  std::memset(p + used, 0, need - used);
  head_ = at + need;
  producer_.head.store(head_, std::memory_order_release);
  return true;
}

RingConsumer::RingConsumer(const shm::ProducerLine& producer, shm::ConsumerLine& consumer,
                           const std::byte* data, std::size_t size) noexcept
    : producer_(producer),
      consumer_(consumer),
      data_(data),
      size_(size),
      tail_(consumer.tail.load(std::memory_order_relaxed)),
      cached_head_(producer.head.load(std::memory_order_acquire)) {}

std::uint64_t RingConsumer::head() noexcept {
  cached_head_ = producer_.head.load(std::memory_order_acquire);
  return cached_head_;
}

RingConsumer::Status RingConsumer::read_at(std::uint64_t at, Item& out) noexcept {
  if (at >= cached_head_) head();
  // The head is untrusted too: it must lie within [tail, tail + size], and a record within
  // [at, head) and within the ring. A head behind the tail is damage, not an empty ring.
  if (cached_head_ < tail_ || cached_head_ - tail_ > size_ || at < tail_ ||
      (at & (record::kAlign - 1)) != 0)
    return Status::corrupt;
  if (at >= cached_head_) return Status::empty;
  std::uint64_t pos = at;
  std::size_t offset = pos & (size_ - 1);
  std::uint32_t first = 0;
  std::memcpy(&first, data_ + offset, sizeof first);
  if (first == record::kWrapMarker) {
    pos += size_ - offset;
    offset = 0;
    if (pos >= cached_head_) return Status::corrupt;  // a marker is always followed by a record
  }
  record::Header h;
  const std::size_t contiguous = size_ - offset;
  if (contiguous < sizeof h) return Status::corrupt;
  std::memcpy(&h, data_ + offset, sizeof h);
  if (record::validate(h, contiguous, size_) != record::Check::ok ||
      pos + h.total_bytes > cached_head_)
    return Status::corrupt;
  const char* body = reinterpret_cast<const char*>(data_ + offset + record::kHeaderBytes);
  out.message.seq = h.seq;
  out.message.enqueue_ns = h.enqueue_ns;
  out.message.qos = h.flags & record::kQosMask;
  out.message.retain = (h.flags & record::kRetainBit) != 0;
  out.message.large = (h.flags & record::kLargeBit) != 0;
  out.message.topic = std::string_view(body, h.topic_bytes);
  out.message.payload = std::string_view(body + h.topic_bytes, h.payload_bytes);
  out.begin = at;
  out.end = pos + h.total_bytes;
  return Status::item;
}

void RingConsumer::advance_tail(std::uint64_t to) noexcept {
  tail_ = to;
  consumer_.tail.store(to, std::memory_order_release);
}

}  // namespace robustmq
