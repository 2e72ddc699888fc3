// The worker's side of the segment's status block: its state, its error texts, the client's
// wake-up when something it may wait for changed (ring room, flush progress, delivery) (the handshake is described in
// proto/segment_layout.hpp, WakeLine).
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "proto/futex.hpp"
#include "proto/segment_layout.hpp"
#include "proto/status_text.hpp"
#include "robustmq/client.hpp"

namespace robustmq::worker {

// Called before delivered_through moves (Drops: the drop journal's pending record is written
// first, so that a reader that sees the new value finds every drop below it in the journal).
class DeliveryGate {
 public:
  virtual void before_delivered() = 0;

 protected:
  ~DeliveryGate() = default;
};

class Report {
 public:
  explicit Report(shm::Segment& segment) noexcept : seg_(segment) {}

  shm::StatusBlock& status() noexcept { return seg_.status; }
  shm::Segment& segment() noexcept { return seg_; }

  void state(ConnectionState s) noexcept {
    seg_.status.state.store(static_cast<std::uint32_t>(s), std::memory_order_relaxed);
    notify_client();
  }
  void set_gate(DeliveryGate* gate) noexcept { gate_ = gate; }
  void error(std::string_view e) noexcept { write_status_text(seg_.status.last_error, e); }
  // The broker URI in use or being tried (Stats::server).
  void server(std::string_view uri) noexcept { write_status_text(seg_.status.server, uri); }
  // The disk cache's current problem (empty: none); a problem is also the last error.
  void cache_error(std::string_view e) noexcept {
    write_status_text(seg_.status.cache_error, e);
    if (!e.empty()) error(e);
  }
  // The tail moved past `messages` ring records.
  void tail_moved(std::uint64_t messages) noexcept {
    seg_.status.ring_messages_read.fetch_add(messages, std::memory_order_relaxed);
    notify_client();
  }
  // Every message numbered up to `seq` was delivered or dropped (StatusBlock::
  // delivered_through, which only grows; this worker is its only writer).
  void delivered(std::uint64_t seq) noexcept {
    auto& d = seg_.status.delivered_through;
    if (seq <= d.load(std::memory_order_relaxed)) return;
    if (gate_ != nullptr) gate_->before_delivered();
    d.store(seq, std::memory_order_release);
    notify_client();
  }
  // Wakes client threads blocked in publish() (ring room) or flush() (tail / state): N1-N2 of
  // the wake-up handshake (proto/segment_layout.hpp, at WakeLine).
  void notify_client() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    auto& w = seg_.wake;
    if (w.client_waiters.load(std::memory_order_relaxed) != 0) {
      w.client_word.fetch_add(1);
      futex_wake_all(w.client_word);
    }
  }

 private:
  shm::Segment& seg_;
  DeliveryGate* gate_ = nullptr;
};

}  // namespace robustmq::worker
