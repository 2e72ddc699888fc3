// The event thread (events.hpp), the handler setters of RobustClient and drop_journal().
//
// A pass: load delivered_through (acquire) first, then unknown_through and drop_next
// (acquire), then next_seq, then read the journal (receipts.hpp says why this order sees every
// drop up to delivered_through); hand the tracker's receipts and a changed connection state to
// the handlers. Between passes the thread sleeps on the client futex of the wake-up handshake
// (C1-C4 and C6 of proto/segment_layout.hpp, at WakeLine): the worker bumps it whenever
// delivered_through or the state moves and a client thread waits. It never wakes the worker:
// it only waits for what the worker does anyway.
#include "lib/events.hpp"

#include <pthread.h>

#include <cerrno>
#include <chrono>
#include <exception>
#include <utility>

#include <fmt/format.h>

#include "lib/client_impl.hpp"
#include "lib/fail.hpp"
#include "proto/drop_journal.hpp"
#include "proto/futex.hpp"
#include "proto/status_text.hpp"

namespace robustmq {

namespace {

// After a pass that reported something: the events of the next few milliseconds go to the
// handlers together.
constexpr auto kBatch = std::chrono::milliseconds(2);
// Between reads of a journal record that read torn (JournalFollower::kMaxRetries of them).
constexpr auto kRetry = std::chrono::milliseconds(1);
// The longest sleep on the futex: bounds what a worker killed between its store and its
// wake-up costs.
constexpr auto kLongestWait = std::chrono::milliseconds(200);
// As top -H and /proc/<pid>/task/*/comm show it (README, Events).
constexpr const char* kThreadName = "robustmq-events";

}  // namespace

EventThread::~EventThread() {
  if (!thread_.joinable() || forked_.load()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    // A handler destroyed its own client, which client.hpp forbids: the thread must not wait
    // for itself. It ends when the handler returns, reading freed memory on the way.
    thread_.detach();
    return;
  }
  finish();
  if (thread_.joinable()) thread_.join();
}

template <typename Handler>
void EventThread::set(Handler& slot, Handler handler) {
  if (forked_.load()) return;  // the parent's client: no thread runs here
  std::lock_guard lock(mu_);
  const bool any = handler != nullptr;
  slot = std::move(handler);
  if (any) start_locked();
}

void EventThread::set_delivered(DeliveredHandler handler) {
  set(on_delivered_, std::move(handler));
}
void EventThread::set_dropped(DroppedHandler handler) { set(on_dropped_, std::move(handler)); }
void EventThread::set_connection(ConnectionHandler handler) {
  set(on_connection_, std::move(handler));
}

void EventThread::attach(shm::Segment& segment, const std::filesystem::path& cache_dir) {
  std::lock_guard lock(mu_);
  seg_ = &segment;
  cache_dir_ = cache_dir;
  if (on_delivered_ || on_dropped_ || on_connection_) start_locked();
}

void EventThread::start_locked() {
  if (seg_ == nullptr || done_ || thread_.joinable() || forked_.load()) return;
  // Numbers up to here were settled before any handler could hear of them.
  const std::uint64_t base = seg_->status.delivered_through.load(std::memory_order_acquire);
  thread_ = std::thread([this, base] {
    ::pthread_setname_np(::pthread_self(), kThreadName);
    try {
      run(base);
    } catch (...) {
      // Out of memory copying a handler or a receipt: the events end, the client goes on.
    }
  });
}

void EventThread::finish(std::string_view reason) noexcept {
  std::thread t;
  try {
    std::lock_guard lock(mu_);
    done_ = true;
    stop_reason_ = std::string(reason);
    if (!thread_.joinable()) return;
    finishing_.store(true);
    // Ends the thread's futex wait now (its 200 ms would do it too). A bump of client_word
    // from this side is a spurious wake-up for other waiters, which they allow.
    seg_->wake.client_word.fetch_add(1);
    futex_wake_all(seg_->wake.client_word);
    // A handler called stop(): its thread ends once the handler returns; the destructor joins.
    if (thread_.get_id() == std::this_thread::get_id()) return;
    t = std::move(thread_);
  } catch (...) {
    return;  // std::string ran out of memory: the reason is not worth more
  }
  t.join();
}

void EventThread::run(std::uint64_t base) {
  tracker_.emplace(base);
  follower_.start(cache_dir_, seg_->status.drop_next.load(std::memory_order_acquire), base,
                  *tracker_);
  while (true) {
    // Loaded before the pass: a pass that starts after finish() sees all the worker did.
    const bool finishing = finishing_.load();
    const Pass p = pass();
    if (!p.caught_up) {
      std::this_thread::sleep_for(kRetry);
      continue;
    }
    if (finishing) break;
    if (p.reported) {
      std::this_thread::sleep_for(kBatch);
      continue;
    }
    wait_for_change();
  }
  if (state_ != ConnectionState::stopped) {
    std::string reason;
    {
      std::lock_guard lock(mu_);
      reason = stop_reason_;
    }
    report({}, ConnectionState::stopped, reason);
  }
}

EventThread::Pass EventThread::pass() {
  const auto& st = seg_->status;
  const std::uint64_t delivered = st.delivered_through.load(std::memory_order_acquire);
  const std::uint64_t unknown = st.unknown_through.load(std::memory_order_acquire);
  const std::uint64_t drop_next = st.drop_next.load(std::memory_order_acquire);
  // No record counted in drop_next names a number at or above the one being given out next
  // (the worker records no number not yet given out): the bound of what a record that cannot
  // be read may have named.
  const std::uint64_t next_seq = seg_->producer.next_seq.load(std::memory_order_acquire);
  Pass p;
  receipts_.clear();
  p.caught_up = follower_.follow(drop_next, next_seq > 0 ? next_seq - 1 : 0, *tracker_);
  if (p.caught_up)
    tracker_->advance(delivered, unknown, std::chrono::system_clock::now(), receipts_);
  const auto state = static_cast<ConnectionState>(st.state.load(std::memory_order_acquire));
  std::optional<ConnectionState> new_state;
  std::string reason;
  if (state != state_) {
    state_ = state;
    new_state = state;
    // The worker writes the error before it stores the state.
    if (state == ConnectionState::disconnected || state == ConnectionState::refused)
      reason = read_status_text(st.last_error);
  }
  p.reported = !receipts_.empty() || new_state.has_value();
  if (p.reported) report(receipts_, new_state, reason);
  return p;
}

void EventThread::report(const std::vector<Receipt>& receipts,
                         std::optional<ConnectionState> state, const std::string& reason) {
  // Copies: a handler may replace a handler (its own too) while it runs.
  DeliveredHandler on_delivered;
  DroppedHandler on_dropped;
  ConnectionHandler on_connection;
  {
    std::lock_guard lock(mu_);
    if (!receipts.empty()) {
      on_delivered = on_delivered_;
      on_dropped = on_dropped_;
    }
    if (state) on_connection = on_connection_;
  }
  // An exception from a handler ends that call, not the thread: nothing could catch it here.
  for (const Receipt& r : receipts) {
    try {
      if (r.delivered && on_delivered)
        on_delivered(r.range.first, r.range.last);
      else if (!r.delivered && on_dropped)
        on_dropped(r.range);
    } catch (...) {
    }
  }
  if (state && on_connection) {
    try {
      on_connection(*state, reason);
    } catch (...) {
    }
  }
}

bool EventThread::changed() const noexcept {
  const auto& st = seg_->status;
  return finishing_.load() ||
         st.delivered_through.load(std::memory_order_acquire) > tracker_->reported_through() ||
         static_cast<ConnectionState>(st.state.load(std::memory_order_acquire)) != state_;
}

void EventThread::wait_for_change() noexcept {
  auto& w = seg_->wake;
  w.client_waiters.fetch_add(1);                   // C1
  const std::uint32_t word = w.client_word.load();  // C2
  std::atomic_thread_fence(std::memory_order_seq_cst);  // C3
  if (!changed()) futex_wait(w.client_word, word, kLongestWait);  // C4, C6 (no C5)
  w.client_waiters.fetch_sub(1);
}

// --- RobustClient ---

std::vector<DroppedRange> RobustClient::Impl::drop_journal() const {
  // connect_async() resolved the path (and the connected_ store publishes it).
  const std::filesystem::path dir =
      (connected_.load() || stopped_.load()) && !cache_dir_.empty() ? cache_dir_
                                                                    : options.cache_path;
  std::error_code ec;
  auto reader = journal::Reader::open(dir, ec);
  if (!reader) {
    if (ec == std::errc::no_such_file_or_directory) return {};  // nothing was ever dropped
    const auto file = journal::file_path(dir).string();
    if (ec == std::errc::invalid_argument)
      fail(EINVAL, fmt::format("the drop journal {} is not a regular file of {} bytes: move it "
                               "away (the worker then starts a new one)",
                               file, journal::kFileBytes));
    fail(ec.value(), fmt::format("cannot read the drop journal {}: {}", file, ec.message()));
  }
  std::vector<DroppedRange> out;
  for (const journal::Record& r : reader->all()) out.push_back(to_dropped_range(r));
  return out;
}

void RobustClient::set_delivered_handler(DeliveredHandler handler) {
  impl_->events.set_delivered(std::move(handler));
}
void RobustClient::set_dropped_handler(DroppedHandler handler) {
  impl_->events.set_dropped(std::move(handler));
}
void RobustClient::set_connection_handler(ConnectionHandler handler) {
  impl_->events.set_connection(std::move(handler));
}
std::vector<DroppedRange> RobustClient::drop_journal() const { return impl_->drop_journal(); }

}  // namespace robustmq
