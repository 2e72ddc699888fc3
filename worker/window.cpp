#include "worker/window.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace robustmq::worker {

void Window::sent(const Inflight& entry) {
  entries_.push_back(entry);
  entries_.back().acked = false;
  if (entry.qos > 0) ++awaiting_ack_;
  else qos0_bytes_ += entry.bytes;
}

void Window::passed(const Inflight& entry) {
  entries_.push_back(entry);
  entries_.back().acked = true;
}

const Inflight* Window::acknowledge(std::uint64_t send_id, std::uint8_t refusal) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), send_id,
                             [](const Inflight& f, std::uint64_t id) { return f.send_id < id; });
  if (it == entries_.end() || it->send_id != send_id || it->acked) return nullptr;
  it->acked = true;
  it->refusal = refusal;
  if (it->qos > 0) --awaiting_ack_;
  else qos0_bytes_ -= it->bytes;
  return &*it;
}

bool Window::holds(std::uint64_t send_id) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), send_id,
                             [](const Inflight& f, std::uint64_t id) { return f.send_id < id; });
  return it != entries_.end() && it->send_id == send_id;
}

bool Window::abandon() {
  const bool qos2_cut = std::any_of(entries_.begin(), entries_.end(),
                                    [](const Inflight& f) { return f.qos == 2 && !f.acked; });
  entries_.clear();
  awaiting_ack_ = 0;
  qos0_bytes_ = 0;
  return qos2_cut;
}

bool Window::forget_ring() {
  const bool qos2 = std::any_of(entries_.begin(), entries_.end(), [](const Inflight& f) {
    return f.source == Inflight::Source::ring && f.qos == 2 && !f.acked;
  });
  std::erase_if(entries_, [](const Inflight& f) { return f.source == Inflight::Source::ring; });
  recount();
  return qos2;
}

void Window::recount() {
  awaiting_ack_ = 0;
  qos0_bytes_ = 0;
  for (const Inflight& f : entries_) {
    if (f.acked) continue;
    if (f.qos > 0) ++awaiting_ack_;
    else qos0_bytes_ += f.bytes;
  }
}

bool Window::ring_entries_within(std::uint64_t tail, std::uint64_t read_pos) const {
  return std::all_of(entries_.begin(), entries_.end(), [&](const Inflight& f) {
    return f.source != Inflight::Source::ring || (f.ring_end > tail && f.ring_end <= read_pos) ||
           (f.records == 0 && f.ring_end == tail);
  });
}

const Inflight* Window::oldest_unacked() const {
  for (const Inflight& f : entries_)
    if (!f.acked) return &f;
  return nullptr;
}

bool Window::holds_unacked(Inflight::Source source) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Inflight& f) { return f.source == source && !f.acked; });
}

bool Window::check(std::string& why) const {
  std::size_t awaiting = 0;
  std::size_t qos0 = 0;
  std::uint64_t last_id = 0;
  std::uint64_t last_ring_end = 0;
  std::uint64_t last_cache_id = 0;
  for (const Inflight& f : entries_) {
    if (f.send_id <= last_id) {
      why = fmt::format("window: send id {} follows {}", f.send_id, last_id);
      return false;
    }
    if (f.send_id >= next_id_) {
      why = fmt::format("window: send id {} not yet given out", f.send_id);
      return false;
    }
    last_id = f.send_id;
    if (f.source == Inflight::Source::ring) {
      if (f.ring_end < last_ring_end) {
        why = fmt::format("window: ring end {} before {}", f.ring_end, last_ring_end);
        return false;
      }
      last_ring_end = f.ring_end;
    } else {
      if (f.cache_id <= last_cache_id) {
        why = fmt::format("window: cache id {} follows {}", f.cache_id, last_cache_id);
        return false;
      }
      last_cache_id = f.cache_id;
    }
    if (!f.acked && f.qos > 0) ++awaiting;
    if (!f.acked && f.qos == 0) qos0 += f.bytes;
  }
  if (awaiting != awaiting_ack_ || qos0 != qos0_bytes_) {
    why = fmt::format("window: counted {} awaiting and {} QoS 0 bytes, entries say {} and {}",
                      awaiting_ack_, qos0_bytes_, awaiting, qos0);
    return false;
  }
  if (awaiting_ack_ > size_) {
    why = fmt::format("window: {} messages await acknowledgement, max_inflight {}",
                      awaiting_ack_, size_);
    return false;
  }
  return true;
}

}  // namespace robustmq::worker
