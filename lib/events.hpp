// The event thread: one library thread per client that runs the handlers of
// RobustClient::set_delivered_handler(), set_dropped_handler() and set_connection_handler()
// (client.hpp). It follows the status block and the drop journal with a ReceiptTracker
// (receipts.hpp) and sleeps on the segment's client futex between changes, so publish() costs
// nothing more and the worker does nothing more than wake waiting client threads, which it does
// already.
//
// Life: attach() (connect_async(), once the worker runs) starts the thread if a handler is set,
// else the first handler set later starts it. finish() (stop(), once the worker has exited,
// timed out or was handed the delivery) has it make one last pass, report `stopped` and end.
// In a fork() child of the host the thread does not exist: forked() marks the object so that
// nothing starts or waits there.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "lib/receipts.hpp"
#include "proto/segment_layout.hpp"
#include "robustmq/client.hpp"

namespace robustmq {

class EventThread {
 public:
  EventThread() = default;
  EventThread(const EventThread&) = delete;
  EventThread& operator=(const EventThread&) = delete;
  // Ends a thread finish() did not end (a handler called stop(): finish() returned without
  // waiting for its own thread).
  ~EventThread();

  // Any thread. Replaces the handler; nullptr clears it. A handler that is running goes on.
  void set_delivered(DeliveredHandler handler);
  void set_dropped(DroppedHandler handler);
  void set_connection(ConnectionHandler handler);

  // connect_async(), once the worker reports running. The segment stays mapped until the
  // client is destroyed.
  void attach(shm::Segment& segment, const std::filesystem::path& cache_dir);
  // stop(): the worker has done what it will do for this client. One last pass reports it,
  // then `stopped` (with `reason`) if the worker did not report that itself, and the thread
  // ends. From the event thread itself (a handler called stop()): returns at once, and the
  // thread ends after that handler returns. Later handlers start nothing.
  void finish(std::string_view reason = {}) noexcept;
  // The atfork child handler: takes no lock (a thread of the parent may have held one).
  void forked() noexcept { forked_.store(true); }
  // stop() in a fork() child: the object of the parent's thread, to be kept, never joined.
  std::thread release_in_child() noexcept { return std::move(thread_); }

 private:
  struct Pass {
    bool caught_up = true;  // false: a journal record is read again after 1 ms
    bool reported = false;
  };
  template <typename Handler>
  void set(Handler& slot, Handler handler);
  void start_locked();  // mu_ held
  void run(std::uint64_t base);
  Pass pass();
  bool changed() const noexcept;  // something for a pass to report
  void wait_for_change() noexcept;
  void report(const std::vector<Receipt>& receipts, std::optional<ConnectionState> state,
              const std::string& reason);

  mutable std::mutex mu_;  // the handlers and the fields up to thread_
  DeliveredHandler on_delivered_;
  DroppedHandler on_dropped_;
  ConnectionHandler on_connection_;
  shm::Segment* seg_ = nullptr;  // set by attach()
  std::filesystem::path cache_dir_;
  bool done_ = false;  // finish() was called: nothing starts any more
  std::string stop_reason_;
  std::thread thread_;

  std::atomic<bool> forked_{false};
  std::atomic<bool> finishing_{false};
  // The event thread's own state, touched by no other thread.
  std::optional<ReceiptTracker> tracker_;
  JournalFollower follower_;
  ConnectionState state_ = ConnectionState::idle;  // the last one reported
  std::vector<Receipt> receipts_;
};

}  // namespace robustmq
