// Publishing: publish() copies a record into the shared ring (a large payload goes to a file and
// its reference into the ring), waiting for room up to Options::publish_wait; flush() waits until
// the worker has taken everything published so far; stats() reads the worker's counters.
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "lib/client_impl.hpp"
#include "proto/lifeline.hpp"
#include "lib/deadline.hpp"
#include "proto/futex.hpp"
#include "proto/large_message.hpp"
#include "proto/segment_stats.hpp"
#include "proto/validate.hpp"

namespace robustmq {

namespace {

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

void RobustClient::Impl::wake_worker() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  auto& sleeping = seg().wake.worker_sleeping;
  if (sleeping.load(std::memory_order_relaxed) != 0 && sleeping.exchange(0) != 0) {
    send_lifeline(lifeline::kWake);
  }
}

template <typename Pred>
bool RobustClient::Impl::wait_for_worker(Pred pred, std::chrono::steady_clock::time_point deadline) {
  auto& w = seg().wake;
  while (true) {
    w.client_waiters.fetch_add(1);
    const std::uint32_t word = w.client_word.load();
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (pred()) {
      w.client_waiters.fetch_sub(1);
      return true;
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      w.client_waiters.fetch_sub(1);
      return false;
    }
    wake_worker();
    futex_wait(w.client_word, word, std::min<std::chrono::nanoseconds>(left, std::chrono::milliseconds(200)));
    w.client_waiters.fetch_sub(1);
  }
}

std::error_code RobustClient::Impl::publish(std::string_view topic, std::string_view payload,
                                            int qos, bool retain, std::uint64_t* sequence) {
  if (connected_.load(std::memory_order_acquire) && in_forked_child()) return errc::forked_child;
  if (!connected_.load(std::memory_order_acquire))
    return stopped_.load() ? errc::stopped : errc::not_connected;
  record::MessageView m;
  m.enqueue_ns = now_ns();
  m.qos = qos;
  m.retain = retain;
  m.topic = topic;
  m.payload = payload;

  // A large payload goes to a file first (outside the lock: other threads keep publishing);
  // its reference takes the payload's place in the ring.
  std::optional<large::Reference> file;
  std::string reference;
  // A message the disk cache could never hold would, once spooled, make room by dropping every
  // cached message and then itself.
  if (options.max_cache_bytes != 0 && payload.size() + topic.size() > options.max_cache_bytes)
    return errc::payload_over_cache_limit;
  const std::size_t max_record = record::max_record_bytes(producer_->size());
  const bool reference_fits = record::record_bytes(topic.size(), large::kMaxReferenceBytes) <= max_record;
  if (reference_fits && (payload.size() > large_threshold_ ||
                         record::record_bytes(topic.size(), payload.size()) > max_record)) {
    if (auto ec = validate_topic(topic)) return ec;
    if (auto ec = validate_qos(qos)) return ec;
    if (payload.size() > large::max_mqtt_payload(topic.size(), mqtt_properties_bytes_))
      return errc::payload_over_mqtt_limit;
    std::error_code io;
    std::string what;
    file = large::write_file(cache_dir_, payload, m.enqueue_ns, large_sync_, io, what);
    if (!file) {
      set_error(what);
      return errc::large_file_failed;
    }
    reference = large::encode(*file);
    m.payload = reference;
    m.large = true;
  }
  // Deletes the file of a message that did not make it into the ring.
  auto refused = [&](std::error_code ec) {
    if (file) (void)large::remove_file(cache_dir_, *file);
    return ec;
  };
  if (auto ec = validate_message(topic, m.payload.size(), qos, producer_->size()))
    return refused(ec);

  std::lock_guard lock(publish_mu_);
  if (stopped_.load(std::memory_order_relaxed)) return refused(errc::stopped);
  auto& prod = seg().producer;
  m.seq = prod.next_seq.load(std::memory_order_relaxed);
  if (m.seq >= seq_bound_) lease_sequence(m.seq);
  if (!producer_->try_push(m)) {
    const auto deadline = deadline_after(options.publish_wait);
    if (!wait_for_worker([&] { return producer_->try_push(m); }, deadline)) {
      seg().status.queue_full.fetch_add(1, std::memory_order_relaxed);
      return refused(errc::queue_full);
    }
  }
  // Release, after the head (proto/segment_layout.hpp, at ProducerLine).
  prod.next_seq.store(m.seq + 1, std::memory_order_release);
  seg().status.published.fetch_add(1, std::memory_order_relaxed);
  wake_worker();
  if (sequence != nullptr) *sequence = m.seq;
  return {};
}

std::error_code RobustClient::Impl::flush(std::chrono::milliseconds timeout) {
  if (connected_.load() && in_forked_child()) return errc::forked_child;
  if (!connected_.load()) return stopped_.load() ? errc::stopped : errc::not_connected;
  const std::uint64_t target = seg().producer.head.load(std::memory_order_acquire);
  auto& ft = seg().control.flush_target;
  std::uint64_t cur = ft.load();
  while (cur < target && !ft.compare_exchange_weak(cur, target)) {
  }
  // Always a wake-up byte: the worker marks itself sleeping only when new ring records could be
  // sent or spooled at once (W1 of proto/segment_layout.hpp), not while its window is full, and
  // a flush must be seen in every state. A byte sent while it is awake waits in the socket and
  // ends its next poll() at once.
  send_lifeline(lifeline::kFlush);
  const auto deadline = deadline_after(timeout);
  const bool ok = wait_for_worker(
      [&] { return seg().consumer.tail.load(std::memory_order_acquire) >= target; }, deadline);
  return ok ? std::error_code{} : make_error_code(errc::flush_timeout);
}

std::uint64_t RobustClient::Impl::delivered_through() const {
  // The segment stays mapped after stop(): a worker that goes on delivering (a hand-off) goes
  // on moving it.
  if (!segment_ || in_forked_child()) return 0;
  return seg().status.delivered_through.load(std::memory_order_acquire);
}

std::error_code RobustClient::Impl::wait_delivered(std::optional<std::uint64_t> sequence,
                                                   std::chrono::milliseconds timeout) {
  if (connected_.load() && in_forked_child()) return errc::forked_child;
  if (!connected_.load()) return stopped_.load() ? errc::stopped : errc::not_connected;
  // Every message published before this call has a number below next_seq (publish() stores it
  // before it returns).
  const std::uint64_t next = seg().producer.next_seq.load(std::memory_order_acquire);
  if (sequence && *sequence >= next) return errc::unknown_sequence;
  const std::uint64_t target = sequence ? *sequence : next - 1;
  const auto& delivered = seg().status.delivered_through;
  const auto deadline = deadline_after(timeout);
  const bool ok = wait_for_worker(
      [&] { return delivered.load(std::memory_order_acquire) >= target || stopped_.load(); },
      deadline);
  if (stopped_.load() && delivered.load() < target) return errc::stopped;
  return ok ? std::error_code{} : make_error_code(errc::delivery_timeout);
}

// ControlLine::dead_resend_request (proto/segment_layout.hpp); the worker's side is
// Loop::serve_resend().
std::error_code RobustClient::Impl::resend_dead_letters(std::chrono::milliseconds timeout,
                                                        std::uint64_t& moved) {
  if (connected_.load() && in_forked_child()) return errc::forked_child;
  if (!connected_.load()) return stopped_.load() ? errc::stopped : errc::not_connected;
  auto& control = seg().control;
  const std::uint64_t request = control.dead_resend_request.fetch_add(1) + 1;
  // A wake-up byte in every state, as for flush().
  send_lifeline(lifeline::kResendDead);
  const auto deadline = deadline_after(timeout);
  const bool ok = wait_for_worker(
      [&] { return control.dead_resend_done.load(std::memory_order_acquire) >= request; },
      deadline);
  if (!ok) return errc::resend_timeout;
  moved = control.dead_resend_moved.load(std::memory_order_relaxed);
  return {};
}

Stats RobustClient::Impl::stats() const {
  if (!segment_ || in_forked_child()) {
    Stats s;
    s.state = stopped_.load() ? ConnectionState::stopped : ConnectionState::idle;
    return s;
  }
  Stats s = stats_of(seg());
  if (stopped_.load()) s.state = ConnectionState::stopped;
  s.took_over_from = took_over_from_;
  s.carried_over = carried_over_;
  s.handed_off = handed_off_.load();
  std::lock_guard lock(error_mu_);
  if (s.last_error.empty()) s.last_error = error_;
  return s;
}

}  // namespace robustmq
