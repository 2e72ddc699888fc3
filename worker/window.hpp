// The in-flight window: every message handed to the transport and not yet retired, in the order
// it was sent, plus the records that leave without being sent (skipped, dropped) in their place,
// so that the ring tail and the cache move forward strictly in order (loop.cpp, invariant 2).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "worker/clock.hpp"

namespace robustmq::worker {

// QoS 0 messages queued in the transport beyond the window (Window::open()).
inline constexpr std::size_t kQos0Ahead = 32;
// ... while less than this much QoS 0 payload waits to be written.
inline constexpr std::size_t kQos0Bytes = 64u << 10;

struct Inflight {
  enum class Source : std::uint8_t { ring, cache };
  Source source = Source::ring;
  // Acknowledged (or refused), or never sent at all (a skipped or dropped record): retires as
  // soon as everything before it has.
  bool acked = false;
  // Refused for good (MQTT 5 reason code), acted on when it retires: a loss before that
  // abandons the entry and the message is sent again.
  std::uint8_t refusal = 0;
  std::uint8_t qos = 0;          // sent messages: QoS 1/2 count against the window, QoS 0 not
  std::uint8_t records = 1;      // ring: records the tail passes (0 for a damaged range)
  std::uint64_t send_id = 0;     // increasing along the window
  // The message's sequence number: once this entry retired, every message numbered up to it
  // was delivered or dropped (the records of a damaged range: the highest number known to
  // lie before its end; 0: none).
  std::uint64_t seq = 0;
  std::uint64_t ring_end = 0;    // ring: the tail once this entry retired
  std::uint64_t ring_pos = 0;    // ring: where its record starts (a refused message is read
                                 // back from there for the dead-letter store)
  std::uint64_t cache_id = 0;    // cache: removed from the cache once this entry retired
  std::int64_t enqueue_ns = 0;   // sent messages: CLOCK_REALTIME of publish()
  std::size_t bytes = 0;         // sent messages: payload bytes
  Clock::time_point sent_at{};
  // Added to cache_timeout for this message's acknowledgement: a large payload needs time on
  // the wire (LargeFiles::ack_grace()).
  std::chrono::milliseconds ack_grace{0};
  // A large message's reference: its file is released once this entry retired acknowledged.
  std::string large_ref;
};

class Window {
 public:
  explicit Window(std::size_t size) : size_(size) {}
  // A new bound on the QoS 1/2 messages in flight (the broker's Receive Maximum), while the
  // window is empty (the link is not yet up).
  void resize(std::size_t size) noexcept { size_ = size; }

  // Room for one more message: fewer than size() QoS 1/2 messages await their acknowledgement
  // and fewer than size() + kQos0Ahead messages are in flight in all. QoS 0 has no
  // acknowledgement (MQTT's in-flight window counts QoS 1/2 only), so up to kQos0Ahead QoS 0
  // messages are queued in the transport ahead of the socket instead of one per wake-up of the
  // loop. Nothing more is queued while kQos0Bytes of QoS 0 payload wait to be written: the
  // transport holds a copy of each, and large QoS 0 messages gain nothing from queueing (one
  // 256 KiB message fills the socket buffer), so the worker's memory stays bounded.
  bool open() const noexcept {
    return awaiting_ack_ < size_ && entries_.size() < size_ + kQos0Ahead &&
           qos0_bytes_ < kQos0Bytes;
  }

  // The send id the next entry gets.
  std::uint64_t next_id() noexcept { return next_id_++; }
  std::uint64_t next_id_peek() const noexcept { return next_id_; }
  // A message handed to the transport (entry.acked is false).
  void sent(const Inflight& entry);
  // A record that leaves without being sent: it retires in its place, like an acknowledged one.
  void passed(const Inflight& entry);
  // The transport reports send_id acknowledged, or refused for good with MQTT 5 reason code
  // `refusal` (the entry keeps it until it retires): the entry, or null when it is not in the
  // window (stale, from before a loss, or already acknowledged).
  const Inflight* acknowledge(std::uint64_t send_id, std::uint8_t refusal = 0);
  bool holds(std::uint64_t send_id) const;

  // Removes the acknowledged prefix, calling on_retired(entry) for each, oldest first.
  template <typename F>
  void retire(F&& on_retired) {  // on_retired(Inflight&) may move from the entry
    while (!entries_.empty() && entries_.front().acked) {
      on_retired(entries_.front());
      entries_.pop_front();
    }
  }

  // The link went down: every entry is abandoned (the records stay where they are and are sent
  // again). Returns true when a QoS 2 message was unacknowledged (its handshake was cut).
  bool abandon();
  // The ring's records were spooled to the cache, which sends them again: the ring entries are
  // forgotten (their acknowledgements will be stale); cache entries stay. Returns true when an
  // unacknowledged QoS 2 message was among them (its handshake may be cut by a later loss).
  bool forget_ring();

  bool empty() const noexcept { return entries_.empty(); }
  std::size_t entries() const noexcept { return entries_.size(); }
  std::size_t size() const noexcept { return size_; }
  std::size_t awaiting_ack() const noexcept { return awaiting_ack_; }
  const Inflight& oldest() const { return entries_.front(); }
  // The oldest entry not yet acknowledged, or null.
  const Inflight* oldest_unacked() const;
  bool holds_unacked(Inflight::Source source) const;

  // Every unretired ring entry ends in (tail, read_pos].
  bool ring_entries_within(std::uint64_t tail, std::uint64_t read_pos) const;
  // The reference of the first unacknowledged large message for which missing(reference) is
  // true, or null.
  template <typename F>
  const std::string* find_large(F&& missing) const {
    for (const Inflight& f : entries_)
      if (!f.acked && !f.large_ref.empty() && missing(f.large_ref)) return &f.large_ref;
    return nullptr;
  }

  // Window invariants (loop.cpp, invariant 1 and the order of invariant 2): send ids strictly
  // increasing; the counters equal what the entries say; at most size() QoS 1/2 messages await
  // an acknowledgement; ring ends and cache ids increase along the window. Empty `why` on
  // success, else the broken rule.
  bool check(std::string& why) const;

 private:
  void recount();

  std::size_t size_;
  std::deque<Inflight> entries_;
  std::size_t awaiting_ack_ = 0;  // sent QoS 1/2 entries not yet acknowledged
  std::size_t qos0_bytes_ = 0;    // payload bytes of sent QoS 0 entries not yet written
  std::uint64_t next_id_ = 1;
};

}  // namespace robustmq::worker
