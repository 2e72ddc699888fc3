// Events from Paho's threads to the worker's loop. Paho calls back on its own threads; the loop
// owns all state, so callbacks only queue an event and, if the loop sleeps, wake it.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace robustmq::worker {

struct Event {
  enum class Kind { connected, connect_failed, connection_lost, delivered, send_failed, log };
  Kind kind;
  std::uint64_t send_id = 0;  // delivered / send_failed
  // delivered: the MQTT 5 refusal's reason code (0: acknowledged); connected: the broker's
  // Receive Maximum (MQTT 5 CONNACK property; 0: none given); log: the line's Level; else the
  // transport's error code.
  int code = 0;
  std::string text;
  // connect_failed: a refusal that retrying does not cure by itself (bad credentials, not
  // authorized, banned, a certificate that does not verify): the state becomes `refused`.
  bool refused = false;
};

class EventQueue {
 public:
  EventQueue() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~EventQueue() { ::close(fd_); }
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  void push(Event e) {
    {
      std::lock_guard lock(mu_);
      events_.push_back(std::move(e));
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_relaxed) && sleeping_.exchange(false)) {
      const std::uint64_t one = 1;
      (void)!::write(fd_, &one, sizeof one);
    }
  }

  // Moves every queued event into `out` (cleared first).
  void take(std::vector<Event>& out) {
    out.clear();
    std::lock_guard lock(mu_);
    out.swap(events_);
  }

  // The loop's side of the sleep protocol: announce, then re-check, then poll fd().
  void announce_sleep() { sleeping_.store(true); }
  void cancel_sleep() { sleeping_.store(false); }
  bool empty() {
    std::lock_guard lock(mu_);
    return events_.empty();
  }
  void drain_fd() {
    std::uint64_t v;
    (void)!::read(fd_, &v, sizeof v);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  std::mutex mu_;
  std::vector<Event> events_;
  std::atomic<bool> sleeping_{false};
};

}  // namespace robustmq::worker
