// The worker's loop: ring -> (cache) -> transport.
//
// Parts (each its own file):
//   Window   (window.hpp)    the messages in flight, in send order, and the records that leave
//                            without being sent, in their place
//   Spooler  (spooler.hpp)   the disk cache: spooling the ring, max_cache_bytes, the cursor of
//                            sending from the cache, removals, the cache's health
//   Drops    (drops.hpp)     every way a message leaves unsent (expired, overflow, damaged),
//                            counted, logged, its large-message file released
//   DeadLetters (dead_letters.hpp) the messages the broker refused for good, kept in
//                            <cache>/dead-letters/ until re-sent (loop_dead.cpp)
//   Transport (transport.hpp) the broker: Paho (mqtt.hpp), or a scripted fake in the tests
//   Loop     (here)          events, the connection's states, the stop/flush/exit deadlines,
//                            waiting for work; the transport's events, connecting and the
//                            backoff are in loop_link.cpp, its one send path and retiring the
//                            window's acknowledged prefix in loop_send.cpp, the application's
//                            exit and the worker's end in loop_end.cpp
//
// Invariants. invariants_hold() (invariants.cpp) checks each after every pass (step()) in
// builds with assertions: the normal and sanitizer builds of the test command.
//   1. At most max_inflight QoS 1/2 messages are in flight: handed to the transport and not yet
//      acknowledged. QoS 0 messages have no acknowledgement; they are in flight until written,
//      and at most kQos0Ahead more than max_inflight are (Window::open()). The window holds
//      them all in the order they were sent, its counters equal to what its entries say
//      (Window::check()).
//   2. A message leaves the ring (the tail moves past it) only after the broker acknowledged it,
//      the cache committed it, or it was dropped; it leaves the cache only after the broker
//      acknowledged it or it was dropped. The window retires only from its front, so both move
//      forward in order: tail <= read_pos_ <= head, and every unretired ring entry of the window
//      ends in (tail, read_pos_], in increasing order.
//   3. Order: cached messages are older than every ring record, so a ring record is sent only
//      when every cached message has been sent: no ring message is in flight while the cache
//      holds one not yet sent (Spooler::check()). Spooling moves the ring's records, in order,
//      behind the cache's, and the window forgets its ring entries (the cache sends them again).
//   4. After any failure of the link everything unacknowledged is sent again, oldest first:
//      on_link_down() empties the window, sets read_pos_ back to the tail and rewinds the
//      cache's cursor. The transport re-sends nothing behind the loop's back, even in a
//      persistent session (transport.hpp; mqtt_options.cpp explains sessions), so duplicates
//      are possible only for messages that were in flight at the failure. The window is empty
//      whenever the link is not connected.
//   5. The cache's health is explicit (Spooler, ok / full / broken): a retry is due exactly when
//      it is not ok, and nothing is spooled meanwhile; the records wait in the ring.
//   6. A large message's record (flags bit 3) carries a reference to a file in <cache>/large/;
//      the file is sent mapped and released (LargeFiles::release()) only after its entry
//      retired acknowledged (retire()) or the message was dropped (Drops::drop()), so the file
//      of every unacknowledged large message in the window exists.
//   7. With one message in flight, the ring's next records may be staged with the transport,
//      which sends each from the acknowledgement's callback of the one before (loop_stage.cpp):
//      they are the records from read_pos_ on, in order, behind the window's one entry, and
//      they are taken back at the start of the next pass, before any state changes; each one
//      sent joins the window right after the acknowledgement that made it go, as if send() had
//      sent it.
//
// Rules of the design: nothing here blocks except wait_for_work(); disk and transport errors
// are values, never exits (a cache that cannot even be reopened ends this worker; the
// application starts a successor and the ring keeps every message meanwhile).
//
// Link states (link_) and every transition:
//
//   start() --------------------------------------------------------------> connecting
//   connecting --Event::connected------------------------------------------> connected
//   connecting --Event::connect_failed-------------------------------------> backoff
//                (refused: the state `refused`, and the backoff jumps to reconnect_max)
//   connecting --the transport cannot start an attempt (connect() != 0)----> backoff
//   connected  --Event::connection_lost | Event::send_failed of a message in the window |
//                send() != 0 | no acknowledgement within cache_timeout (+ a large
//                message's grace) -----------------------------------------> backoff
//                                                          [on_link_down(): invariant 4]
//   backoff    --reconnect_at_ reached (check_timeouts())-------------------> connecting
//
//   Entering backoff schedules reconnect_at_ with exponential backoff and full jitter
//   (reconnect_min .. reconnect_max); entering connected resets the backoff, and bounds the
//   window by the broker's MQTT 5 Receive Maximum. A refusal that retrying does not cure
//   (Event::refused: credentials, authorization, a ban, certificates) sets the backoff to
//   reconnect_max at once; the state stays `refused` (ConnectionState) through the later
//   attempts until one connects or fails for another reason. Nothing is dropped meanwhile. Events that do not
//   fit the state (a late report about a connection already given up) are ignored.
//
// Deadlines (the third state machine): a stop() or flush() first lets the window drain for up to
// min(1 s, cache_timeout) (settle_deadline_; sending pauses meanwhile), then spools; after the
// application exited, the ring is drained to the broker for cache_timeout (drain_deadline_),
// then spooled.
//
// An orphan (the application died, or handed off: stop(StopMode::hand_off)) is a worker like
// any other, without a producer: it connects, reconnects with backoff and sends the cache, then
// the ring, until the ring, the window and the cache are empty (delivered_all()); whether it
// was connected when the application died does not matter. orphan_linger bounds that
// (linger_deadline_): then it stops as on stop(). A new client of the same cache directory
// ends it early: SIGTERM, the same stop (lib/takeover.hpp).
//
// Where a message goes (spool_wanted() names the trigger):
//   ring  --spool()-->            cache   when the link is not up, the ring is more than half
//                                          full and more than queue_cache_threshold of its
//                                          records wait to be sent, the oldest in-flight
//                                          message is older than cache_timeout, on flush(), on
//                                          stop, in journal mode always, or after the
//                                          application died with a backlog in the cache.
//   A healthy link does not spool a short backlog: against a crash of either process the ring
//   is as safe as the cache (the shared memory outlives both), and against a power cut a
//   backlog spool never protected the newest messages anyway (journal mode and flush() do).
//   So this trigger only frees ring space before publish() would have to wait for it.
//   cache --send()-->  in flight --Event::delivered--> retired: removed from the cache
//         (at most Options::drain_rate: pacer_, worker/pacer.hpp; the ring waits behind the
//         cache meanwhile, invariant 3, so a paced backlog keeps the order)
//   ring  --send()-->  in flight --Event::delivered--> retired: the tail advances
//
// Waking up: the client's side and the worker's side of the handshake (worker_sleeping, the
// fences, client_word) are described once, in proto/segment_layout.hpp (at WakeLine).
#include "worker/loop.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>

#include "worker/log.hpp"

namespace robustmq::worker {

namespace {
constexpr std::chrono::milliseconds kSettleGrace{1000};
}  // namespace

std::atomic<bool> g_terminate{false};
std::atomic<int> g_wake_fd{-1};

Loop::Loop(WorkerConfig config, MappedSegment segment, std::unique_ptr<cache::Cache> cache,
           int lifeline, EventQueue& events, Transport& transport, const TimeSource& time)
    : config_(std::move(config)),
      time_(time),
      segment_(std::move(segment)),
      seg_(segment_.segment()),
      ring_(seg_.producer, seg_.consumer, segment_.ring(), segment_.ring_bytes()),
      lifeline_(lifeline),
      events_(events),
      transport_(transport),
      report_(seg_),
      large_(config_.cache_dir),
      drops_(report_, large_, config_.message_ttl, time_, config_.cache_dir),
      window_(config_.max_inflight),
      spooler_(config_, std::move(cache), ring_, report_, drops_, large_, time_),
      dead_(config_, report_, time_),
      metrics_(config_.metrics_file, config_.metrics_interval, config_.client_id),
      backoff_(config_.reconnect_min),
      refusal_backoff_(config_.reconnect_min),
      username_(config_.username),
      password_(config_.password),
      pacer_(config_.drain_rate_messages, config_.drain_rate_bytes) {
  read_pos_ = ring_.tail();
  seg_.control.worker_pid.store(static_cast<std::uint32_t>(::getpid()));
  // Before the client hears "running": no state of an earlier worker (a `refused`, say) is
  // read as this one's. start() makes the first attempt right after.
  report_.state(ConnectionState::connecting);
  spooler_.publish_counts();
  init_sequence();
  init_delivered();
}

int Loop::run() {
  g_wake_fd.store(events_.fd());  // lets SIGTERM's handler end a poll() that began before it
  start();
  while (step()) wait_for_work();
  g_wake_fd.store(-1);
  finish();
  return 0;
}

void Loop::start() {
  log(Level::info, "started: {} cache holds {} messages, ring holds {} bytes; connecting to {}",
      spooler_.backend() == cache::Backend::sqlite ? "sqlite" : "file",
      spooler_.counts().messages, ring_.head() - ring_.tail(), server());
  // The first attempt, like every other, after fresh credentials (attempt()); the loop owns
  // them from here on.
  transport_.set_credentials(username_, password_);
  link_ = Link::backoff;
  reconnect_at_ = time_.now();
  attempt();
}

bool Loop::step() {
  handle_events();
  check_timeouts();
  spooler_.tick(time_.now());
  metrics_.tick(time_.now(), seg_);
  std::string why;
  if (spool_wanted(why)) spool(why.c_str());
  resend_pending_ = seg_.control.dead_resend_request.load(std::memory_order_acquire) !=
                    seg_.control.dead_resend_done.load(std::memory_order_relaxed);
  if (resend_pending_) serve_resend();
  if (link_ == Link::connected) fill_window();
  const bool ring_empty = ring_.tail() == ring_.head();
  const bool done = (stop_wanted() && ring_empty) || delivered_all();
  if (!done) {
    stage_next();
    if (spooler_.counts_dirty()) spooler_.publish_counts();
    if (!swept_ && ring_empty && window_.empty()) swept_ = sweep_large_orphans();
  }
  if (ring_empty && window_.empty()) update_delivered_when_idle();
  assert(invariants_hold());
  return !done;
}

void Loop::check_timeouts() {
  const auto now = time_.now();
  if (link_ == Link::backoff && now >= reconnect_at_) attempt();
  if (held_until_ && now >= *held_until_) held_until_.reset();
  if (link_ != Link::connected || window_.empty()) return;
  const Inflight& oldest = window_.oldest();
  if (!oldest.acked && now - oldest.sent_at > config_.cache_timeout + oldest.ack_grace) {
    spool("acknowledgement timeout");
    on_link_down(fmt::format("no acknowledgement within {} ms", config_.cache_timeout.count()));
    transport_.disconnect(std::chrono::milliseconds(0));
  }
}

std::size_t Loop::ring_waiting() {
  const std::uint64_t head = ring_.head();
  if (read_pos_ >= head) return 0;
  RingConsumer::Item it;
  if (ring_.read_at(read_pos_, it) != RingConsumer::Status::item) return SIZE_MAX;
  const std::uint64_t next = seg_.producer.next_seq.load(std::memory_order_acquire);
  return next > it.message.seq ? next - it.message.seq : 1;
}

bool Loop::spool_wanted(std::string& why) {
  const bool stop = stop_wanted();
  const bool flush = seg_.control.flush_target.load() > ring_.tail();
  const char* trigger = nullptr;
  // Triggers that come while the link works first give the messages in flight a moment to be
  // acknowledged (settle_deadline_, at most min(1 s, cache_timeout)), so that the cache does
  // not send them a second time; sending pauses meanwhile (fill_window()). stop and flush wait
  // for the whole window, the backlog rule for the ring's messages in it (the ones a spool
  // would take out of the window).
  bool settle_first = false;
  if (ring_.tail() != ring_.head() && spooler_.health() == CacheHealth::ok) {
    const bool connected = link_ == Link::connected;
    if (stop || flush) {
      trigger = stop ? "stop" : "flush";
      settle_first = connected && !window_.empty();
    } else if (config_.durability == Durability::journal) {
      trigger = "journal";
    } else if (!connected) {
      trigger = "broker unavailable";
    } else if (!producer_alive_ && (spooler_.has_backlog() ||
                                    (drain_deadline_ && time_.now() >= *drain_deadline_))) {
      trigger = "application exited";
    } else if (ring_.head() - ring_.tail() > ring_.size() / 2 &&
               ring_waiting() > config_.queue_cache_threshold) {
      // The ring survives either process dying, so a healthy link spools only to keep
      // publish() from waiting for ring space: when the ring is more than half full and more
      // than queue_cache_threshold messages wait to be sent.
      trigger = "backlog";
      settle_first = window_.holds_unacked(Inflight::Source::ring);
    }
  }
  if (!trigger || (!settle_first && !stop && !flush)) settle_deadline_.reset();
  if (!trigger) return false;
  if (settle_first) {
    const auto now = time_.now();
    if (!settle_deadline_) settle_deadline_ = now + std::min(kSettleGrace, config_.cache_timeout);
    if (now < *settle_deadline_) return false;
  }
  why = trigger;
  return true;
}

void Loop::spool(const char* why) {
  if (!spooler_.spool(why)) return;  // the cache refused the first batch: nothing moved
  // The ring's in-flight messages now live in the cache too; their acknowledgements are stale
  // and the cache sends them again (the duplicates invariant 4 allows).
  // A QoS 2 message taken out of the window may still be mid-handshake: if the link is lost
  // before it completes, the next connect must not resume the session (mqtt_options.cpp).
  qos2_cut_ = window_.forget_ring() || qos2_cut_;
  read_pos_ = ring_.tail();
}

// stop() of the application, or SIGTERM to this worker. SIGTERM stays local: the application's
// next worker must not inherit it through the shared segment.
// An orphan whose orphan_linger ran out stops the same way.
bool Loop::stop_wanted() const {
  return g_terminate.load() || seg_.control.stop_requested.load() != 0 ||
         (linger_deadline_ && time_.now() >= *linger_deadline_);
}

bool Loop::settling() const { return settle_deadline_ && time_.now() < *settle_deadline_; }

std::optional<Clock::time_point> Loop::next_deadline() const {
  std::optional<Clock::time_point> at;
  auto consider = [&](Clock::time_point t) { if (!at || t < *at) at = t; };
  // Waiting for the application's credentials: an answer arrives on the lifeline.
  if (link_ == Link::backoff) consider(credentials_until_ ? *credentials_until_ : reconnect_at_);
  if (link_ == Link::connected && !window_.empty())
    consider(window_.oldest().sent_at + config_.cache_timeout + window_.oldest().ack_grace +
             std::chrono::milliseconds(1));
  // The application's exit and orphan_linger each need one wake-up when they come; once past,
  // spool_wanted() and stop_wanted() act on them in every pass and nothing more is due.
  const auto now = time_.now();
  if (drain_deadline_ && *drain_deadline_ > now) consider(*drain_deadline_);
  if (linger_deadline_ && *linger_deadline_ > now) consider(*linger_deadline_);
  if (const auto retry = spooler_.retry_at()) consider(*retry);
  if (const auto due = spooler_.removals_due()) consider(*due);
  if (settle_deadline_) consider(*settle_deadline_);
  if (held_until_) consider(*held_until_);
  if (paced_until_ && link_ == Link::connected) consider(*paced_until_);
  if (const auto due = metrics_.due()) consider(*due);
  return at;
}

void Loop::wait_for_work(std::optional<std::chrono::milliseconds> at_most) {
  update_oldest();
  const auto now = time_.now();
  drops_.log_expired(now);
  const auto wake_at = next_deadline();

  // New ring records matter only if we could send or spool them now; otherwise the next event
  // (an acknowledgement, a timeout) brings us back, and publish() need not make a syscall.
  // The worker's side of the wake-up handshake, W1-W5 (proto/segment_layout.hpp, at WakeLine).
  // Held back (a refusal's backoff, the drain pacer): nothing goes before that deadline.
  const bool can_send = link_ == Link::connected && window_.open() && !settling() &&
                        !held_until_ && !paced_until_ && ring_sendable();
  const bool can_spool = spooler_.health() == CacheHealth::ok && !settling() &&
                         (link_ != Link::connected || config_.durability == Durability::journal);
  auto& sleeping = seg_.wake.worker_sleeping;
  if (can_send || can_spool) sleeping.store(1);
  events_.announce_sleep();
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const std::uint64_t head = ring_.head();
  const bool ring_work = (can_send && read_pos_ < head) || (can_spool && ring_.tail() < head);
  if (ring_work || !events_.empty() || g_terminate.load()) {
    sleeping.store(0);
    events_.cancel_sleep();
    return;
  }
  std::int64_t timeout_ms = -1;
  if (wake_at)
    timeout_ms = std::max<std::int64_t>(
        0, std::chrono::ceil<std::chrono::milliseconds>(*wake_at - now).count());
  if (at_most && (timeout_ms < 0 || timeout_ms > at_most->count())) timeout_ms = at_most->count();
  // Once the application is gone its end of the lifeline stays readable (EOF): not polled.
  pollfd fds[2] = {{events_.fd(), POLLIN, 0}, {lifeline_, POLLIN | POLLRDHUP, 0}};
  ::poll(fds, producer_alive_ ? 2 : 1,
         static_cast<int>(std::min<std::int64_t>(timeout_ms, INT32_MAX)));
  sleeping.store(0);
  events_.cancel_sleep();
  seg_.status.worker_wakeups.fetch_add(1, std::memory_order_relaxed);
  if (fds[0].revents != 0) events_.drain_fd();
  if (producer_alive_ && fds[1].revents != 0) read_lifeline();
}

// The enqueue time of the oldest message not yet acknowledged, for stats().oldest_age.
void Loop::update_oldest() {
  std::int64_t oldest = 0;
  if (!window_.empty() && window_.oldest().enqueue_ns != 0) {
    oldest = window_.oldest().enqueue_ns;
  } else if (spooler_.has_backlog()) {
    oldest = spooler_.oldest_enqueue_ns(time_.now());
  } else if (ring_.tail() < ring_.head()) {
    RingConsumer::Item it;
    if (ring_.read_at(ring_.tail(), it) == RingConsumer::Status::item)
      oldest = it.message.enqueue_ns;
  }
  seg_.status.oldest_enqueue_ns.store(oldest, std::memory_order_relaxed);
}

}  // namespace robustmq::worker
