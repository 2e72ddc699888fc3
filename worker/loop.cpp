// The worker's loop: ring -> (cache) -> Paho.
//
// Invariants
//   1. At most window_ (Options::max_inflight) QoS 1/2 messages are in flight: handed to Paho
//      and not yet acknowledged. QoS 0 messages have no acknowledgement; they are in flight
//      until Paho wrote them, and at most kQos0Ahead more than window_ are (window_open()).
//      inflight_ holds them all in the order they were sent.
//   2. A message leaves the ring (the tail moves past it) only after the broker acknowledged it
//      or the cache committed it; it leaves the cache only after the broker acknowledged it.
//      Acknowledgements retire inflight_ only from its front, so both move forward in order.
//   3. Order: cache messages are older than every ring record, so a ring record is sent only
//      when every cached message has been sent (cache_unsent() is false). Spooling moves the
//      ring's records, in order, behind the cache's.
//   4. After any failure of the link everything unacknowledged is sent again, oldest first:
//      rewind() sets read_pos_ = tail and cache_sent_id_ = cache_acked_id_. The connection uses
//      a clean session, so Paho re-sends nothing behind our back. Duplicates are possible only
//      for messages that were in flight at the failure.
//   5. Nothing here blocks except wait_for_work(); disk and Paho errors are values, never
//      exits: a failing cache leaves the records in the ring and is retried.
//   6. A large message's record (flags bit 3) carries a reference to a file in <cache>/large/;
//      the file is sent mapped and deleted only after the record retired acknowledged, or when
//      the message is dropped (large_file.hpp, proto/large_message.hpp).
//
// Link states and the functions that move between them:
//
//   connecting --(Event::connected)--------------------------------> connected
//   connecting --(Event::connect_failed)---> backoff                 [handle_events]
//   connected  --(connection_lost | send_failed | ack timeout)-----> backoff  [on_link_down]
//   backoff    --(reconnect_at_ reached, check_timeouts)-----------> connecting [start_connect]
//
// Where a message goes (spool_wanted() names the trigger):
//   ring  --spool_ring()-->       cache   when the link is not up, the ring is more than half
//                                          full and more than queue_cache_threshold of its
//                                          records wait to be sent, the oldest in-flight
//                                          message is older than cache_timeout, on flush(), on
//                                          stop, in journal mode always, or after the
//                                          application died with a backlog in the cache.
//   A healthy link does not spool a short backlog: against a crash of either process the ring
//   is as safe as the cache (the shared memory outlives both), and against a power cut a
//   backlog spool never protected the newest messages anyway (journal mode and flush() do).
//   So this trigger only frees ring space before publish() would have to wait for it.
//   cache --send_from_cache()-->  in flight --on_delivered()--> removed from the cache
//   ring  --send_from_ring()-->   in flight --on_delivered()--> tail advances
#include "worker/loop.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "proto/futex.hpp"
#include "proto/status_text.hpp"
#include "worker/log.hpp"
#include "robustmq/client.hpp"
#include "proto/validate.hpp"

namespace robustmq::worker {

namespace {

constexpr std::size_t kCacheReadBatch = 512;
// QoS 0 messages queued in Paho beyond the window (window_open()).
constexpr std::size_t kQos0Ahead = 32;
// ... while less than this much QoS 0 payload waits to be written (window_open()).
constexpr std::size_t kQos0Bytes = 64u << 10;
constexpr std::size_t kSpoolBatchMessages = 8192;
constexpr std::size_t kSpoolBatchBytes = 16u << 20;
constexpr std::chrono::milliseconds kSettleGrace{1000};
constexpr std::chrono::milliseconds kCacheRetry{1000};

std::uint32_t state_code(ConnectionState s) { return static_cast<std::uint32_t>(s); }

bool sendable(std::string_view topic, int qos) {
  return !validate_topic(topic) && !validate_qos(qos);
}

}  // namespace

std::atomic<bool> g_terminate{false};
std::atomic<int> g_wake_fd{-1};

Loop::Loop(WorkerConfig config, MappedSegment segment, std::unique_ptr<cache::Cache> cache,
           int lifeline)
    : config_(std::move(config)),
      segment_(std::move(segment)),
      seg_(segment_.segment()),
      ring_(seg_.producer, seg_.consumer, segment_.ring(), segment_.ring_bytes()),
      cache_(std::move(cache)),
      lifeline_(lifeline),
      window_(static_cast<std::size_t>(config_.max_inflight)),
      journal_(config_.durability == Durability::journal),
      backoff_(config_.reconnect_min),
      ttl_ns_(config_.message_ttl.count() * 1'000'000'000),
      max_cache_bytes_(static_cast<std::uint64_t>(config_.max_cache_bytes)),
      reject_new_(config_.overflow == Overflow::reject_new),
      large_(config_.cache_dir) {
  mqtt_ = std::make_unique<Mqtt>(mqtt_settings(config_, window_), events_);
  read_pos_ = ring_.tail();
  seg_.control.worker_pid.store(static_cast<std::uint32_t>(::getpid()));
  g_wake_fd.store(events_.fd());  // lets SIGTERM's handler end a poll() that began before it
  publish_cache_counts();
}

int Loop::run() {
  const auto backlog = cache_->counts();
  log(Level::info, "started: {} cache holds {} messages, ring holds {} bytes; connecting to {}:{}",
      cache_->backend() == cache::Backend::sqlite ? "sqlite" : "file", backlog.messages,
      ring_.head() - ring_.tail(), config_.host, config_.port);
  start_connect();
  while (true) {
    handle_events();
    check_timeouts();
    if (cache_broken_ && (!cache_retry_at_ || Clock::now() >= *cache_retry_at_)) reopen_cache();
    std::string why;
    if (spool_wanted(why)) spool_ring(why.c_str());
    if (link_ == Link::connected) fill_window();
    const bool ring_empty = ring_.tail() == ring_.head();
    if (stop_wanted() && ring_empty) break;
    if (!producer_alive_ && ring_empty && inflight_.empty()) break;
    if (cache_counts_dirty_) publish_cache_counts();
    if (!swept_ && ring_empty && inflight_.empty()) swept_ = sweep_large_orphans();
    wait_for_work();
  }
  if (cache_counts_dirty_) publish_cache_counts();
  g_wake_fd.store(-1);
  if (link_ == Link::connected) mqtt_->disconnect(std::chrono::milliseconds(1000));
  if (cache_broken_) {  // commit the removals a failed backend refused, if the disk allows now
    try {
      reopen_cache();
    } catch (const std::exception&) {
    }
  }
  // The producer is gone now: what its crash or an earlier worker's left behind can go too.
  if (!producer_alive_ && ring_.tail() == ring_.head() && inflight_.empty()) sweep_large_orphans();
  cache_.reset();  // commits pending removals and closes files
  set_state(state_code(ConnectionState::stopped));
  notify_client();
  if (!producer_alive_ && ring_.tail() == ring_.head()) MappedSegment::unlink(config_.segment_name);
  log(Level::info, "stopped: ring empty, {} messages left in the cache",
      seg_.status.cache_backlog.load());
  return 0;
}

// Once the ring, the window and the cache are empty (LargeFiles::sweep_orphans() says why then).
// Returns false when the cache still holds messages (or cannot say): nothing was swept.
bool Loop::sweep_large_orphans() {
  if (!cache_ || cache_broken_) return false;
  // The published count first: it costs nothing, while the backend's may query.
  if (cache_counts_dirty_ || seg_.status.cache_backlog.load() != 0) return false;
  if (cache_->counts().messages != 0) return false;
  const auto [files, bytes] = large_.sweep_orphans();
  if (files > 0) {
    log(Level::info, "deleted {} large-message files ({} bytes) that no message refers to, left "
        "by a crashed producer or worker", files, bytes);
  }
  return true;
}

void Loop::handle_events() {
  events_.take(event_buf_);
  for (auto& e : event_buf_) {
    if (e.kind != Event::Kind::delivered)
      log(Level::debug, "event {} (link {}, in flight {}): {}", static_cast<int>(e.kind),
          static_cast<int>(link_), inflight_.size(), e.text);
    switch (e.kind) {
      case Event::Kind::connected:
        if (link_ != Link::connecting) break;
        link_ = Link::connected;
        qos2_cut_ = false;
        backoff_ = config_.reconnect_min;
        set_state(state_code(ConnectionState::connected));
        log(Level::info, "connected to {}:{}", config_.host, config_.port);
        break;
      case Event::Kind::connect_failed:
        if (link_ != Link::connecting) break;
        set_error(fmt::format("cannot connect to {}:{}: {}", config_.host, config_.port, e.text));
        link_ = Link::backoff;
        set_state(state_code(ConnectionState::disconnected));
        schedule_reconnect();
        break;
      case Event::Kind::connection_lost:
        if (link_ != Link::connected) break;  // a late report about a connection already given up
        on_link_down(fmt::format("connection lost: {}", e.text), true);
        break;
      case Event::Kind::delivered:
        if (e.code != 0) note_refused(e.text);
        on_delivered(e.send_id);
        break;
      case Event::Kind::send_failed: {
        const bool ours = std::any_of(inflight_.begin(), inflight_.end(),
                                      [&](const Inflight& f) { return f.send_id == e.send_id; });
        if (ours && link_ == Link::connected) {
          on_link_down(fmt::format("connection lost while publishing: {}", e.text), true);
          mqtt_->disconnect(std::chrono::milliseconds(0));
        }
        break;
      }
    }
  }
}

void Loop::on_delivered(std::uint64_t send_id) {
  auto it = std::lower_bound(inflight_.begin(), inflight_.end(), send_id,
                             [](const Inflight& f, std::uint64_t id) { return f.send_id < id; });
  if (it == inflight_.end() || it->send_id != send_id || it->acked) return;  // stale
  it->acked = true;
  if (it->qos > 0) --awaiting_ack_;
  else qos0_bytes_ -= it->bytes;
  seg_.status.acknowledged.fetch_add(1, std::memory_order_relaxed);
  retire_acked();
}

// Retires the acknowledged prefix of inflight_: the tail and the cache move forward in order.
void Loop::retire_acked() {
  std::uint64_t tail = ring_.tail();
  std::uint64_t ring_done = 0;
  std::uint64_t cache_done = 0;
  while (!inflight_.empty() && inflight_.front().acked) {
    const Inflight& f = inflight_.front();
    if (f.source == Inflight::Source::ring) {
      tail = f.ring_end;
      ring_done += f.records;
    } else {
      cache_done = f.cache_id;
    }
    large_.retired(f.send_id);
    inflight_.pop_front();
  }
  if (cache_done != 0) {
    cache_acked_id_ = std::max(cache_acked_id_, cache_done);
    remove_acked();
  }
  if (tail != ring_.tail()) advance_tail(tail, ring_done);
  large_.delete_retired();
}

// Tells the cache what the broker acknowledged. A backend that failed refuses removals until
// it is reopened; cache_acked_id_ remembers them meanwhile and reopen_cache() applies them.
void Loop::remove_acked() {
  if (cache_broken_ || cache_acked_id_ == 0) return;
  try {
    cache_->remove_through(cache_acked_id_);
  } catch (const std::exception& e) {
    cache_broken_ = true;
    cache_retry_at_ = Clock::now() + kCacheRetry;
    set_cache_error(fmt::format("cannot remove acknowledged messages from the disk cache: {}",
                                e.what()));
  }
  cache_counts_dirty_ = true;  // published once per pass of the loop, not per acknowledgement
}

// A record that must not be sent (damaged or invalid) leaves in order, like an acknowledged one.
void Loop::skip(Inflight::Source source, std::uint64_t ring_end, std::uint64_t cache_id,
                std::uint8_t records) {
  seg_.status.dropped_invalid.fetch_add(1, std::memory_order_relaxed);
  inflight_.push_back({source, true, records, next_send_id_++, ring_end, cache_id, Clock::now(), 0});
  retire_acked();
}

void Loop::on_link_down(const std::string& why, bool count_reconnect) {
  if (link_ == Link::connected) {
    log(Level::warning, "{}; {} messages in flight will be sent again", why, inflight_.size());
    if (count_reconnect) seg_.status.reconnects.fetch_add(1, std::memory_order_relaxed);
  }
  set_error(why);
  link_ = Link::backoff;
  set_state(state_code(ConnectionState::disconnected));
  qos2_cut_ = qos2_cut_ || std::any_of(inflight_.begin(), inflight_.end(), [](const Inflight& f) {
                return f.qos == 2 && !f.acked;
              });
  inflight_.clear();
  awaiting_ack_ = 0;
  qos0_bytes_ = 0;
  large_.forget_sends();
  read_pos_ = ring_.tail();
  cache_sent_id_ = cache_acked_id_;
  cache_buf_.clear();
  cache_buf_pos_ = 0;
  cache_more_ = true;
  schedule_reconnect();
}

void Loop::schedule_reconnect() {
  static thread_local std::minstd_rand rng{static_cast<unsigned>(::getpid())};
  // Full jitter in [backoff/2, backoff]: many devices reconnecting after a broker restart do
  // not arrive at the same instant.
  const auto b = backoff_.count();
  const auto delay = std::chrono::milliseconds(b / 2 + static_cast<long>(rng() % (b / 2 + 1)));
  reconnect_at_ = Clock::now() + delay;
  backoff_ = std::min(backoff_ * 2, config_.reconnect_max);
}

void Loop::start_connect() {
  seg_.status.connect_attempts.fetch_add(1, std::memory_order_relaxed);
  link_ = Link::connecting;
  set_state(state_code(ConnectionState::connecting));
  const int rc = mqtt_->connect(qos2_cut_);
  if (rc != 0) {
    set_error(fmt::format("cannot start connecting to {}:{}: {}", config_.host, config_.port,
                          Mqtt::describe(rc)));
    link_ = Link::backoff;
    schedule_reconnect();
  }
}

bool Loop::cache_has_backlog() const { return cache_->counts().messages > 0; }

std::size_t Loop::ring_waiting() {
  const std::uint64_t head = ring_.head();
  if (read_pos_ >= head) return 0;
  RingConsumer::Item it;
  if (ring_.read_at(read_pos_, it) != RingConsumer::Status::item) return SIZE_MAX;
  const std::uint64_t next = seg_.producer.next_seq.load(std::memory_order_acquire);
  return next > it.message.seq ? next - it.message.seq : 1;
}

bool Loop::spool_wanted(std::string& why) {
  // Before a stop or a flush spools, give the messages in flight a moment to be acknowledged,
  // so that they are not sent a second time from the cache. Sending pauses meanwhile
  // (fill_window), so the grace ends as soon as no stop or flush is pending.
  const bool stop = stop_wanted();
  const bool flush = seg_.control.flush_target.load() > ring_.tail();
  if (!stop && !flush) settle_deadline_.reset();
  if (ring_.tail() == ring_.head()) return false;
  const auto now = Clock::now();
  if (cache_retry_at_ && now < *cache_retry_at_) return false;
  const bool connected = link_ == Link::connected;
  if (stop || flush) {
    if (!settle_deadline_) settle_deadline_ = now + std::min(kSettleGrace, config_.cache_timeout);
    if (!connected || inflight_.empty() || now >= *settle_deadline_) {
      why = stop ? "stop" : "flush";
      return true;
    }
    return false;
  }
  if (journal_) { why = "journal"; return true; }
  if (!connected) { why = "broker unavailable"; return true; }
  if (!producer_alive_ && (cache_has_backlog() || (drain_deadline_ && now >= *drain_deadline_))) {
    why = "application exited";
    return true;
  }
  // The ring survives either process dying, so a healthy link spools only to keep publish()
  // from waiting for ring space: when the ring is more than half full and more than
  // queue_cache_threshold messages wait to be sent.
  if (ring_.head() - ring_.tail() > ring_.size() / 2 &&
      ring_waiting() > static_cast<std::size_t>(config_.queue_cache_threshold)) {
    why = "backlog";
    return true;
  }
  return false;
}

// A failed write or fsync leaves a backend refusing further appends (its state on disk is
// unknown); reopening re-validates the files and cuts what the failed commit left.
void Loop::reopen_cache() {
  cache_broken_ = false;
  const auto backend = cache_->backend();
  cache_.reset();
  cache::Config cc;
  cc.sync = config_.cache_sync != 0;
  try {
    cache_ = cache::open(backend, config_.cache_dir, cc);
  } catch (const std::exception& e) {
    // Without a cache this worker cannot go on; its successor (started by the application)
    // tries again, and the ring keeps every message meanwhile.
    set_cache_error(fmt::format("cannot reopen the disk cache: {}", e.what()));
    throw;
  }
  // Every committed record keeps its id across the reopen (a failed batch was never sent), so
  // what is in flight stays valid; removals refused while the backend had failed apply now.
  log(Level::debug, "reopened the disk cache: {} messages", cache_->counts().messages);
  cache_more_ = true;
  cache_buf_.clear();
  cache_buf_pos_ = 0;
  remove_acked();
}

bool Loop::spool_ring(const char* why) {
  if (cache_broken_) reopen_cache();
  const std::uint64_t head = ring_.head();
  std::uint64_t pos = ring_.tail();
  std::uint64_t moved = 0;
  while (pos < head) {
    spool_batch_.clear();
    std::size_t bytes = 0;
    std::uint64_t records = 0;
    while (pos < head && spool_batch_.size() < kSpoolBatchMessages && bytes < kSpoolBatchBytes) {
      RingConsumer::Item it;
      if (ring_.read_at(pos, it) != RingConsumer::Status::item) {
        seg_.status.dropped_invalid.fetch_add(1, std::memory_order_relaxed);
        set_error(fmt::format("damaged record in the shared ring at {}: skipped {} bytes up to "
                              "the head", pos, head - pos));
        pos = head;
        break;
      }
      pos = it.end;
      ++records;
      if (!sendable(it.message.topic, it.message.qos)) {
        seg_.status.dropped_invalid.fetch_add(1, std::memory_order_relaxed);
        set_error(fmt::format("invalid message (seq {}) in the shared ring: skipped",
                              it.message.seq));
        continue;
      }
      if (expired(it.message.enqueue_ns)) {
        if (it.message.large) large_.release(it.message.payload);
        count_expired(1);
        continue;
      }
      spool_batch_.push_back(it.message);
      bytes += it.message.topic.size() + it.message.payload.size();
    }
    batch_dropped_ = 0;
    if (!spool_batch_.empty() && !make_room(bytes)) {
      // reject_new: the cache is full; the records wait in the ring until acknowledgements
      // free room (publish() reports queue_full once the ring is full too).
      cache_retry_at_ = Clock::now() + kCacheRetry;
      if (!cache_failed_)
        log(Level::warning, "the disk cache reached max_cache_bytes ({}): new messages wait in "
                            "the ring", max_cache_bytes_);
      cache_failed_ = true;
      set_cache_error(fmt::format("the disk cache is full (max_cache_bytes {}, overflow "
                                  "reject_new)", max_cache_bytes_));
      break;
    }
    if (!spool_batch_.empty()) {
      try {
        if (config_.cache_sync != 0) large_.sync(spool_batch_);  // files before their references
        cache_->append(spool_batch_);
      } catch (const std::exception& e) {
        // The records stay in the ring, where no crash loses them; publish() reports
        // queue_full once the ring is full. Retried (after reopening) every kCacheRetry. A
        // full disk is back-pressure, not a reason to drop: max_cache_bytes below the free
        // space is what lets drop_oldest act first.
        cache_retry_at_ = Clock::now() + kCacheRetry;
        if (!cache_failed_) log(Level::error, "cannot write the disk cache: {}", e.what());
        cache_failed_ = true;
        cache_broken_ = true;
        set_cache_error(fmt::format("cannot write the disk cache: {}", e.what()));
        break;
      }
      cache_more_ = true;
      seg_.status.cached.fetch_add(spool_batch_.size(), std::memory_order_relaxed);
      if (batch_dropped_ > 0) {
        seg_.status.dropped_overflow.fetch_add(batch_dropped_, std::memory_order_relaxed);
        log(Level::warning, "dropped {} messages to keep the cache within max_cache_bytes",
            batch_dropped_);
        batch_dropped_ = 0;
      }
      publish_cache_counts();  // before the tail moves: a flush() caller sees both together
    }
    advance_tail(pos, records);
    moved += records;
  }
  if (moved == 0 && cache_failed_) return false;
  if (cache_failed_ && pos == head) {
    log(Level::info, "the disk cache accepts writes again");
    set_cache_error("");
    cache_failed_ = false;
    cache_retry_at_.reset();
  }
  // In-flight ring messages now live in the cache too; their acknowledgements are ignored and
  // the cache sends them again (the duplicates invariant 4 allows).
  inflight_.erase(std::remove_if(inflight_.begin(), inflight_.end(),
                                 [](const Inflight& f) { return f.source == Inflight::Source::ring; }),
                  inflight_.end());
  awaiting_ack_ = 0;
  qos0_bytes_ = 0;
  for (const Inflight& f : inflight_) {
    if (f.acked) continue;
    if (f.qos > 0) ++awaiting_ack_;
    else qos0_bytes_ += f.bytes;
  }
  read_pos_ = ring_.tail();
  publish_cache_counts();
  log(Level::debug, "spooled {} messages to the cache ({})", moved, why);
  return pos == head;
}

// stop() of the application, or SIGTERM to this worker. SIGTERM stays local: the application's
// next worker must not inherit it through the shared segment.
bool Loop::stop_wanted() const {
  return g_terminate.load() || seg_.control.stop_requested.load() != 0;
}

// Room for one more message: fewer than window_ QoS 1/2 messages await their acknowledgement
// and fewer than window_ + kQos0Ahead messages are in flight in all. QoS 0 has no
// acknowledgement (MQTT's in-flight window counts QoS 1/2 only), so up to kQos0Ahead QoS 0
// messages are queued in Paho ahead of the socket instead of one per wake-up of this loop.
// Nothing more is queued while kQos0Bytes of QoS 0 payload wait to be written: Paho holds a
// copy of each, and large QoS 0 messages gain nothing from queueing (one 256 KiB message
// fills the socket buffer), so the worker's memory stays bounded.
bool Loop::window_open() const {
  return awaiting_ack_ < window_ && inflight_.size() < window_ + kQos0Ahead &&
         qos0_bytes_ < kQos0Bytes;
}

bool Loop::settling() const { return settle_deadline_ && Clock::now() < *settle_deadline_; }

// Only the loop appends to the cache, so once a read after cache_sent_id_ came back empty
// nothing is unsent until the next append or rewind (cache_more_ says so without a query).
bool Loop::cache_unsent() {
  if (cache_buf_pos_ < cache_buf_.size()) return true;
  if (!cache_more_) return false;
  cache_buf_.clear();
  cache_buf_pos_ = 0;
  try {
    cache_->read(cache_sent_id_, kCacheReadBatch, cache_buf_);
  } catch (const std::exception& e) {
    set_error(fmt::format("cannot read the disk cache: {}", e.what()));
    return false;
  }
  if (cache_buf_.empty()) cache_more_ = false;
  return !cache_buf_.empty();
}

void Loop::fill_window() {
  // A stop or flush waits a moment for the window to drain before it spools; if spooling then
  // fails (a full disk), sending goes on: it is the only way left to make progress.
  if (settling()) return;
  while (link_ == Link::connected && window_open()) {
    if (cache_unsent()) {
      if (!send_from_cache()) break;
    } else if (producer_alive_ || !cache_has_backlog()) {
      if (!send_from_ring()) break;
    } else {
      break;
    }
  }
}

bool Loop::send_from_cache() {
  const cache::CachedMessage& m = cache_buf_[cache_buf_pos_];
  if (expired(m.enqueue_ns)) {
    if (m.large) large_.release(m.payload);
    cache_sent_id_ = m.id;
    ++cache_buf_pos_;
    inflight_.push_back({Inflight::Source::cache, true, 0, next_send_id_++, 0, m.id, Clock::now(), 0});
    count_expired(1);
    retire_acked();
    return true;
  }
  if (!sendable(m.topic, m.qos)) {
    // Damaged on disk in a way the backend could not see: count it and retire it in order.
    set_error(fmt::format("invalid message (cache id {}) in the disk cache: skipped", m.id));
    cache_sent_id_ = m.id;
    ++cache_buf_pos_;
    skip(Inflight::Source::cache, 0, m.id, 0);
    return true;
  }
  std::optional<LargeFiles::Mapped> file;
  if (m.large && !(file = map_large(m.payload, fmt::format("cache id {}", m.id)))) {
    cache_sent_id_ = m.id;
    ++cache_buf_pos_;
    skip(Inflight::Source::cache, 0, m.id, 0);
    return true;
  }
  const std::uint64_t id = next_send_id_++;
  const int rc = mqtt_->send({m.topic, file ? file->bytes() : std::string_view(m.payload), m.qos,
                              m.retain, m.enqueue_ns}, id);
  if (rc != 0) {
    on_link_down(fmt::format("publish failed: {}", Mqtt::describe(rc)), true);
    mqtt_->disconnect(std::chrono::milliseconds(0));
    return false;
  }
  if (m.large) large_.sent(id, m.payload);
  const std::size_t bytes = file ? file->bytes().size() : m.payload.size();
  inflight_.push_back({Inflight::Source::cache, false, 1, id, 0, m.id, Clock::now(), m.enqueue_ns,
                       static_cast<std::uint8_t>(m.qos), bytes});
  if (file) inflight_.back().ack_grace = LargeFiles::ack_grace(bytes);
  if (m.qos > 0) ++awaiting_ack_;
  else qos0_bytes_ += bytes;
  cache_sent_id_ = m.id;
  ++cache_buf_pos_;
  seg_.status.sent.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool Loop::send_from_ring() {
  if (read_pos_ >= ring_.head()) return false;
  RingConsumer::Item it;
  if (ring_.read_at(read_pos_, it) != RingConsumer::Status::item) {
    const std::uint64_t head = ring_.head();
    set_error(fmt::format("damaged record in the shared ring at {}: skipped {} bytes up to the "
                          "head", read_pos_, head - read_pos_));
    read_pos_ = head;
    skip(Inflight::Source::ring, head, 0, 0);
    return true;
  }
  if (!sendable(it.message.topic, it.message.qos)) {
    set_error(fmt::format("invalid message (seq {}) in the shared ring: skipped", it.message.seq));
    read_pos_ = it.end;
    skip(Inflight::Source::ring, it.end, 0, 1);
    return true;
  }
  if (expired(it.message.enqueue_ns)) {
    if (it.message.large) large_.release(it.message.payload);
    read_pos_ = it.end;
    inflight_.push_back({Inflight::Source::ring, true, 1, next_send_id_++, it.end, 0, Clock::now(), 0});
    count_expired(1);
    retire_acked();
    return true;
  }
  std::optional<LargeFiles::Mapped> file;
  if (it.message.large &&
      !(file = map_large(it.message.payload, fmt::format("seq {}", it.message.seq)))) {
    read_pos_ = it.end;
    skip(Inflight::Source::ring, it.end, 0, 1);
    return true;
  }
  const std::uint64_t id = next_send_id_++;
  const int rc = mqtt_->send({it.message.topic, file ? file->bytes() : it.message.payload,
                              it.message.qos, it.message.retain, it.message.enqueue_ns}, id);
  if (rc != 0) {
    on_link_down(fmt::format("publish failed: {}", Mqtt::describe(rc)), true);
    mqtt_->disconnect(std::chrono::milliseconds(0));
    return false;
  }
  if (it.message.large) large_.sent(id, it.message.payload);
  const std::size_t bytes = file ? file->bytes().size() : it.message.payload.size();
  inflight_.push_back({Inflight::Source::ring, false, 1, id, it.end, 0, Clock::now(),
                       it.message.enqueue_ns, static_cast<std::uint8_t>(it.message.qos), bytes});
  if (file) inflight_.back().ack_grace = LargeFiles::ack_grace(bytes);
  if (it.message.qos > 0) ++awaiting_ack_;
  else qos0_bytes_ += bytes;
  read_pos_ = it.end;
  seg_.status.sent.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Loop::check_timeouts() {
  const auto now = Clock::now();
  if (link_ == Link::backoff && now >= reconnect_at_) start_connect();
  if (link_ == Link::connected && !inflight_.empty() && !inflight_.front().acked &&
      now - inflight_.front().sent_at >
          config_.cache_timeout + inflight_.front().ack_grace) {
    spool_ring("acknowledgement timeout");
    on_link_down(fmt::format("no acknowledgement within {} ms", config_.cache_timeout.count()), true);
    mqtt_->disconnect(std::chrono::milliseconds(0));
  }
}

void Loop::wait_for_work() {
  update_oldest();
  if (expired_unlogged_ > 0) count_expired(0);
  const auto now = Clock::now();
  std::optional<Clock::time_point> wake_at;
  auto consider = [&](Clock::time_point t) { if (!wake_at || t < *wake_at) wake_at = t; };
  if (link_ == Link::backoff) consider(reconnect_at_);
  if (link_ == Link::connected && !inflight_.empty())
    consider(inflight_.front().sent_at + config_.cache_timeout +
             inflight_.front().ack_grace +
             std::chrono::milliseconds(1));
  if (drain_deadline_) consider(*drain_deadline_);
  if (cache_retry_at_) consider(*cache_retry_at_);
  if (settle_deadline_) consider(*settle_deadline_);

  // The worker's side of the wake-up handshake, W1-W5 (proto/segment_layout.hpp, at WakeLine).
  const bool can_send = link_ == Link::connected && window_open() && !settling();
  const bool can_spool = !cache_retry_at_ && (link_ != Link::connected || journal_);
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
  int timeout_ms = -1;
  if (wake_at)
    timeout_ms = static_cast<int>(std::max<std::int64_t>(
        0, std::chrono::ceil<std::chrono::milliseconds>(*wake_at - now).count()));
  pollfd fds[2] = {{lifeline_, POLLIN | POLLRDHUP, 0}, {events_.fd(), POLLIN, 0}};
  ::poll(fds, producer_alive_ ? 2 : 1, timeout_ms);
  if (!producer_alive_) fds[0].revents = 0;
  sleeping.store(0);
  events_.cancel_sleep();
  if (fds[1].revents != 0) events_.drain_fd();
  if (fds[0].revents != 0) {
    char buf[256];
    ssize_t n;
    while ((n = ::recv(lifeline_, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
    }
    if (n == 0) {
      producer_alive_ = false;
      drain_deadline_ = Clock::now() + config_.cache_timeout;
      log(Level::info, "the application exited; draining {} bytes left in the ring",
          ring_.head() - ring_.tail());
    }
  }
}

bool Loop::expired(std::int64_t enqueue_ns) const {
  if (ttl_ns_ <= 0) return false;
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec - enqueue_ns > ttl_ns_;
}

// MQTT 5: the broker acknowledged a message with a refusal (reason code >= 0x80). Sending it
// again would be refused again, so it retires like a delivered one; the reason goes to
// last_error at once and to the log at most every 5 s, as one line with the count.
void Loop::note_refused(const std::string& why) {
  set_error(why);
  ++refused_unlogged_;
  const auto now = Clock::now();
  if (now - refused_logged_at_ >= std::chrono::seconds(5)) {
    log(Level::warning, "{} ({} messages refused since the last report)", why, refused_unlogged_);
    refused_unlogged_ = 0;
    refused_logged_at_ = now;
  }
}

// Counts expired drops at once; logs them at most every 5 s, as one line.
void Loop::count_expired(std::uint64_t n) {
  seg_.status.dropped_expired.fetch_add(n, std::memory_order_relaxed);
  expired_unlogged_ += n;
  const auto now = Clock::now();
  if (expired_unlogged_ > 0 && now - expired_logged_at_ >= std::chrono::seconds(5)) {
    log(Level::warning, "dropped {} messages older than message_ttl ({} s)", expired_unlogged_,
        config_.message_ttl.count());
    set_error(fmt::format("dropped {} messages older than message_ttl", expired_unlogged_));
    expired_unlogged_ = 0;
    expired_logged_at_ = now;
  }
}

bool Loop::make_room(std::size_t incoming) {
  if (max_cache_bytes_ == 0) return true;
  // Large-message files count with their full size, whether their reference is in the cache
  // or still in the ring (the batch's references add only their own bytes).
  const std::uint64_t held = cache_->counts().bytes + large_.disk_bytes();
  if (held + incoming <= max_cache_bytes_) return true;
  if (reject_new_) return false;
  drop_oldest_cached(held + incoming - max_cache_bytes_, "max_cache_bytes");
  // A batch larger than the whole budget keeps only its newest messages.
  std::uint64_t total = cache_->counts().bytes + large_.disk_bytes();
  std::size_t first = 0;
  for (const auto& m : spool_batch_) total += m.topic.size() + m.payload.size();
  while (total > max_cache_bytes_ && first < spool_batch_.size()) {
    const auto& m = spool_batch_[first];
    total -= std::min(total, m.topic.size() + m.payload.size() +
                                 (m.large ? LargeFiles::payload_bytes(m.payload) : 0));
    if (m.large) large_.release(m.payload);
    ++first;
  }
  // Counted once the rest of the batch is committed (a failed append retries the batch).
  spool_batch_.erase(spool_batch_.begin(), spool_batch_.begin() + static_cast<std::ptrdiff_t>(first));
  batch_dropped_ = first;
  return true;
}

// Removes the oldest cached messages, at least `bytes` of them (topic + payload), in order.
std::uint64_t Loop::drop_oldest_cached(std::uint64_t bytes, const char* why) {
  std::vector<cache::CachedMessage> oldest;
  std::vector<std::string> dropped_large;  // references whose files go once removal succeeded
  std::uint64_t freed = 0;
  std::uint64_t dropped = 0;
  std::uint64_t last = 0;
  std::uint64_t after = cache_acked_id_;
  try {
    while (freed < bytes) {
      oldest.clear();
      cache_->read(after, 256, oldest);
      if (oldest.empty()) break;
      for (const auto& m : oldest) {
        freed += m.topic.size() + m.payload.size();
        if (m.large) {
          freed += LargeFiles::payload_bytes(m.payload);
          dropped_large.push_back(m.payload);
        }
        ++dropped;
        last = after = m.id;
        if (freed >= bytes) break;
      }
    }
    if (last == 0) return 0;
    cache_->remove_through(last);
    for (const auto& reference : dropped_large) large_.release(reference);
  } catch (const std::exception& e) {
    set_error(fmt::format("cannot drop old messages from the disk cache: {}", e.what()));
    return 0;
  }
  cache_acked_id_ = std::max(cache_acked_id_, last);
  if (cache_sent_id_ < last) {
    cache_sent_id_ = last;
    cache_buf_.clear();
    cache_buf_pos_ = 0;
  }
  seg_.status.dropped_overflow.fetch_add(dropped, std::memory_order_relaxed);
  log(Level::warning, "dropped the {} oldest cached messages ({} bytes): {}", dropped, freed, why);
  set_error(fmt::format("dropped the {} oldest cached messages: {}", dropped, why));
  publish_cache_counts();
  return dropped;
}

// The enqueue time of the oldest message not yet acknowledged, for stats().oldest_age.
void Loop::update_oldest() {
  std::int64_t oldest = 0;
  if (!inflight_.empty() && inflight_.front().enqueue_ns != 0) {
    oldest = inflight_.front().enqueue_ns;
  } else if (cache_has_backlog()) {
    if (cache_buf_pos_ < cache_buf_.size()) {
      oldest = cache_buf_[cache_buf_pos_].enqueue_ns;  // nothing in flight: all before it acked
    } else {
      // Read from disk at most once a second.
      const auto now = Clock::now();
      if (now - oldest_updated_at_ < std::chrono::seconds(1)) return;
      oldest_updated_at_ = now;
      std::vector<cache::CachedMessage> one;
      try {
        cache_->read(cache_acked_id_, 1, one);
      } catch (const std::exception&) {
      }
      if (!one.empty()) oldest = one.front().enqueue_ns;
    }
  } else if (ring_.tail() < ring_.head()) {
    RingConsumer::Item it;
    if (ring_.read_at(ring_.tail(), it) == RingConsumer::Status::item) oldest = it.message.enqueue_ns;
  }
  seg_.status.oldest_enqueue_ns.store(oldest, std::memory_order_relaxed);
}

void Loop::advance_tail(std::uint64_t to, std::uint64_t messages) {
  ring_.advance_tail(to);
  seg_.status.ring_messages_read.fetch_add(messages, std::memory_order_relaxed);
  notify_client();
}

// Wakes waiting client threads, N1-N2 of the wake-up handshake (proto/segment_layout.hpp).
void Loop::notify_client() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  auto& w = seg_.wake;
  if (w.client_waiters.load(std::memory_order_relaxed) != 0) {
    w.client_word.fetch_add(1);
    futex_wake_all(w.client_word);
  }
}

void Loop::publish_cache_counts() {
  cache_counts_dirty_ = false;
  const auto c = cache_->counts();
  seg_.status.cache_backlog.store(c.messages, std::memory_order_relaxed);
  seg_.status.cache_backlog_bytes.store(c.bytes, std::memory_order_relaxed);
}

void Loop::set_state(std::uint32_t state) {
  seg_.status.state.store(state, std::memory_order_relaxed);
  notify_client();
}

void Loop::set_error(const std::string& e) { write_status_text(seg_.status.last_error, e); }

std::optional<LargeFiles::Mapped> Loop::map_large(std::string_view reference,
                                                  const std::string& what) {
  std::string why;
  auto file = large_.map(reference, why);
  if (!file) {
    log(Level::error, "large message ({}) skipped: {}", what, why);
    set_error(fmt::format("large message ({}) skipped: {}", what, why));
  }
  return file;
}

void Loop::set_cache_error(const std::string& e) {
  write_status_text(seg_.status.cache_error, e);
  if (!e.empty()) set_error(e);
}

}  // namespace robustmq::worker
