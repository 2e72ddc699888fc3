// A handler the application sets, replaces or clears at any time (the credentials handler, the
// log handler) and its flag in the segment's ControlLine, which tells the worker whether there
// is one: 1 while a handler is set, 0 after it was cleared. Both change under one mutex, so the
// flag follows the handler, from connect_async() on.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "proto/segment_layout.hpp"

namespace robustmq {

template <typename Handler>
class FlaggedHandler {
 public:
  using Flag = std::atomic<std::uint32_t> shm::ControlLine::*;
  explicit FlaggedHandler(Flag flag) : flag_(flag) {}

  void set(Handler handler) {
    std::lock_guard lock(mu_);
    handler_ = handler ? std::make_shared<const Handler>(std::move(handler)) : nullptr;
    store_flag();
  }

  // The handler now, or null; called without the lock (it may set another handler).
  std::shared_ptr<const Handler> get() const {
    std::lock_guard lock(mu_);
    return handler_;
  }

  // The segment's control line, whose flag follows the handler from now on; null: none (not
  // connected, or stopped: the flag stays as it was).
  void attach(shm::ControlLine* control) {
    std::lock_guard lock(mu_);
    control_.store(control);
    store_flag();
  }

  // In a fork() child of the host, whose mapping the segment is not: without the mutex, which
  // the child may have inherited locked.
  void forget() noexcept { control_.store(nullptr); }

 private:
  void store_flag() {
    if (auto* control = control_.load(); control != nullptr)
      (control->*flag_).store(handler_ ? 1 : 0);
  }

  const Flag flag_;
  mutable std::mutex mu_;
  std::shared_ptr<const Handler> handler_;  // under mu_
  std::atomic<shm::ControlLine*> control_{nullptr};
};

}  // namespace robustmq
