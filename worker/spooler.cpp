#include "worker/spooler.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "worker/log.hpp"

namespace robustmq::worker {

namespace {
constexpr std::size_t kCacheReadBatch = 512;
// What a read of the backlog for sending aims to hold: the batch is sized from the size of the
// messages read last, so that a backlog of large messages does not sit in the heap 512 at a
// time (the worker's resident memory, README Performance). The first read takes 16; a run of
// small messages followed by large ones can still read up to 512 of the large ones once.
constexpr std::size_t kCacheReadBytes = 256u << 10;
constexpr std::size_t kBatchMessages = 8192;
constexpr std::size_t kBatchBytes = 16u << 20;
constexpr std::chrono::milliseconds kCacheRetry{1000};
}  // namespace

Spooler::Spooler(const WorkerConfig& config, std::unique_ptr<cache::Cache> cache,
                 RingConsumer& ring, Report& report, Drops& drops, LargeFiles& large,
                 const TimeSource& time)
    : config_(config),
      cache_(std::move(cache)),
      ring_(ring),
      report_(report),
      drops_(drops),
      large_(large),
      time_(time) {}

// Only the loop appends to the cache, so once a read after sent_id_ came back empty nothing is
// unsent until the next append or rewind (more_ says so without a query).
const cache::CachedMessage* Spooler::next_unsent() {
  if (buf_pos_ < buf_.size()) return &buf_[buf_pos_];
  if (!more_ || read_failed_) return nullptr;
  buf_.clear();
  buf_pos_ = 0;
  try {
    cache_->read(sent_id_, read_batch_, buf_);
  } catch (const std::exception& e) {
    buf_.clear();
    read_failed_ = true;
    failed(CacheHealth::broken, fmt::format("cannot read the disk cache: {}", e.what()));
    log(Level::error, "cannot read the disk cache: {}", e.what());
    return nullptr;
  }
  if (buf_.empty()) {
    more_ = false;
    return nullptr;
  }
  std::size_t bytes = 0;
  for (const auto& m : buf_) bytes += m.topic.size() + m.payload.size();
  read_batch_ = std::clamp<std::size_t>(kCacheReadBytes * buf_.size() / std::max<std::size_t>(bytes, 1),
                                        1, kCacheReadBatch);
  return &buf_[buf_pos_];
}

void Spooler::pass() {
  sent_id_ = buf_[buf_pos_].id;
  ++buf_pos_;
}

void Spooler::rewind() {
  sent_id_ = acked_id_;
  buf_.clear();
  buf_pos_ = 0;
  more_ = true;
}

void Spooler::acknowledged(std::uint64_t id) {
  acked_id_ = std::max(acked_id_, id);
  remove_acked();
  if (!removals_due_) removals_due_ = time_.now() + kRemovalDelay;
}

bool Spooler::read_one(std::uint64_t id, cache::CachedMessage& out) {
  std::vector<cache::CachedMessage> one;
  try {
    cache_->read(id - 1, 1, one);
  } catch (const std::exception&) {
    return false;
  }
  if (one.empty() || one.front().id != id) return false;
  out = std::move(one.front());
  return true;
}

bool Spooler::append_resent(std::span<const record::MessageView> batch) {
  if (health_ != CacheHealth::ok) return false;
  try {
    appended_id_ = cache_->append(batch);
    append_failed_ = false;
  } catch (const std::exception& e) {
    append_failed_ = true;
    if (!error_shown_) log(Level::error, "cannot write the disk cache: {}", e.what());
    failed(CacheHealth::broken, fmt::format("cannot write the disk cache: {}", e.what()));
    return false;
  }
  more_ = true;
  publish_counts();
  return true;
}

// A backend that failed refuses removals until it is reopened; acked_id_ remembers them
// meanwhile and reopen() applies them.
void Spooler::remove_acked() {
  if (health_ == CacheHealth::broken || acked_id_ == 0) return;
  try {
    cache_->remove_through(acked_id_);
  } catch (const std::exception& e) {
    failed(CacheHealth::broken,
           fmt::format("cannot remove acknowledged messages from the disk cache: {}", e.what()));
  }
  counts_dirty_ = true;  // published once per pass of the loop, not per acknowledgement
}

void Spooler::failed(CacheHealth to, const std::string& error) {
  health_ = to;
  error_shown_ = true;
  retry_at_ = time_.now() + kCacheRetry;
  report_.cache_error(error);
}

void Spooler::tick(Clock::time_point now) {
  if (health_ != CacheHealth::ok && retry_at_ && now >= *retry_at_) {
    if (health_ == CacheHealth::broken) reopen();
    health_ = CacheHealth::ok;
    retry_at_.reset();
  }
  if (removals_due_ && now >= *removals_due_) {
    removals_due_.reset();
    if (health_ == CacheHealth::broken) return;  // the reopen applies them
    // Dropped messages among those removed are in the journal for good first (drops.hpp).
    if (config_.cache_sync) drops_.make_durable();
    try {
      cache_->commit_removals();
    } catch (const std::exception& e) {
      failed(CacheHealth::broken,
             fmt::format("cannot remove acknowledged messages from the disk cache: {}", e.what()));
    }
  }
}

// A failed write or fsync leaves a backend refusing further appends (its state on disk is
// unknown); reopening re-validates the files and cuts what the failed commit left.
void Spooler::reopen() {
  const auto backend = cache_->backend();
  cache_.reset();
  cache::Config cc;
  cc.sync = config_.cache_sync;
  try {
    cache_ = cache::open(backend, config_.cache_dir, cc);
  } catch (const std::exception& e) {
    // Without a cache this worker cannot go on; its successor (started by the application)
    // tries again, and the ring keeps every message meanwhile.
    report_.cache_error(fmt::format("cannot reopen the disk cache: {}", e.what()));
    throw;
  }
  health_ = CacheHealth::ok;
  retry_at_.reset();
  if (error_shown_ && !append_failed_) {  // an append that failed must succeed first
    log(Level::info, "the disk cache works again");
    report_.cache_error("");
    error_shown_ = false;
  }
  // Every committed record keeps its id across the reopen (a failed batch was never sent), so
  // what is in flight stays valid; removals refused while the backend had failed apply now.
  log(Level::debug, "reopened the disk cache: {} messages", cache_->counts().messages);
  more_ = true;
  read_failed_ = false;
  buf_.clear();
  buf_pos_ = 0;
  remove_acked();
}

bool Spooler::spool(const char* why) {
  if (health_ == CacheHealth::broken) reopen();
  // Before the head: every message numbered below `next` is in [tail, head) or gone.
  const std::uint64_t next =
      report_.segment().producer.next_seq.load(std::memory_order_acquire);
  const std::uint64_t head = ring_.head();
  std::uint64_t pos = ring_.tail();
  std::uint64_t moved = 0;
  bool stopped = false;  // the cache refused a batch
  while (pos < head) {
    batch_.clear();
    std::size_t bytes = 0;
    std::uint64_t records = 0;
    while (pos < head && batch_.size() < kBatchMessages && bytes < kBatchBytes) {
      RingConsumer::Item it;
      if (ring_.read_at(pos, it) != RingConsumer::Status::item) {
        drops_.drop_stretch(next > 0 ? next - 1 : 0);
        report_.error(fmt::format("damaged record in the shared ring at {}: skipped {} bytes up "
                                  "to the head", pos, head - pos));
        pos = head;
        break;
      }
      pos = it.end;
      ++records;
      if (it.message.seq < next) drops_.ring_read(it.message.seq);
      if (!sendable(it.message.topic, it.message.qos)) {
        drops_.drop(DropReason::damaged, it.message.large, it.message.payload, it.message.seq);
        report_.error(fmt::format("invalid message (seq {}) in the shared ring: skipped",
                                  it.message.seq));
        continue;
      }
      if (drops_.expired(it.message.enqueue_ns)) {
        drops_.drop(DropReason::expired, it.message.large, it.message.payload, it.message.seq);
        continue;
      }
      batch_.push_back(it.message);
      bytes += it.message.topic.size() + it.message.payload.size();
    }
    batch_dropped_ = 0;
    if (!batch_.empty() && !make_room(bytes)) {
      // reject_new: the cache is full; the records wait in the ring until acknowledgements
      // free room (publish() reports queue_full once the ring is full too).
      if (!error_shown_)
        log(Level::warning, "the disk cache reached max_cache_bytes ({}): new messages wait in "
                            "the ring", config_.max_cache_bytes);
      failed(CacheHealth::full, fmt::format("the disk cache is full (max_cache_bytes {}, "
                                            "overflow reject_new)", config_.max_cache_bytes));
      stopped = true;
      break;
    }
    // The oldest messages make_room() took from the batch: dropped once the rest is committed
    // (a failed append retries the whole batch).
    const std::size_t dropped = batch_dropped_;
    if (batch_.size() > dropped) {
      const std::span<const record::MessageView> keep(batch_.begin() + static_cast<std::ptrdiff_t>(dropped),
                                                      batch_.end());
      try {
        if (config_.cache_sync) large_.sync(keep);  // files before their references
        appended_id_ = cache_->append(keep);
        append_failed_ = false;
      } catch (const std::exception& e) {
        append_failed_ = true;
        // The records stay in the ring, where no crash loses them. Retried (after reopening)
        // every kCacheRetry. A full disk is back-pressure, not a reason to drop:
        // max_cache_bytes below the free space is what lets drop_oldest act first.
        if (!error_shown_) log(Level::error, "cannot write the disk cache: {}", e.what());
        failed(CacheHealth::broken, fmt::format("cannot write the disk cache: {}", e.what()));
        stopped = true;
        break;
      }
      more_ = true;
      report_.status().cached.fetch_add(keep.size(), std::memory_order_relaxed);
    }
    if (dropped > 0) {
      for (std::size_t i = 0; i < dropped; ++i)
        drops_.drop(DropReason::overflow, batch_[i].large, batch_[i].payload, batch_[i].seq);
      log(Level::warning, "dropped {} messages to keep the cache within max_cache_bytes", dropped);
    }
    publish_counts();  // before the tail moves: a flush() caller sees both together
    drops_.commit();   // and the drops among the records, in the journal
    ring_.advance_tail(pos);
    report_.tail_moved(records);
    moved += records;
  }
  if (stopped && moved == 0) return false;
  if (error_shown_ && !stopped) {
    log(Level::info, "the disk cache accepts writes again");
    report_.cache_error("");
    error_shown_ = false;
  }
  publish_counts();
  log(Level::debug, "spooled {} messages to the cache ({})", moved, why);
  return true;
}

bool Spooler::make_room(std::size_t incoming) {
  if (config_.max_cache_bytes == 0) return true;
  // Large-message files count with their full size, whether their reference is in the cache
  // or still in the ring (the batch's references add only their own bytes).
  const std::uint64_t limit = config_.max_cache_bytes;
  const std::uint64_t held = cache_->counts().bytes + large_.disk_bytes();
  if (held + incoming <= limit) return true;
  if (config_.overflow == Overflow::reject_new) return false;
  drop_oldest_cached(held + incoming - limit, "max_cache_bytes");
  // A batch larger than the whole budget keeps only its newest messages.
  std::uint64_t total = cache_->counts().bytes + large_.disk_bytes();
  for (const auto& m : batch_) total += m.topic.size() + m.payload.size();
  std::size_t first = 0;
  while (total > limit && first < batch_.size()) {
    const auto& m = batch_[first];
    total -= std::min(total, m.topic.size() + m.payload.size() +
                                 (m.large ? LargeFiles::payload_bytes(m.payload) : 0));
    ++first;
  }
  batch_dropped_ = first;
  return true;
}

// Removes the oldest cached messages, at least `bytes` of them (topic + payload), in order.
std::uint64_t Spooler::drop_oldest_cached(std::uint64_t bytes, const char* why) {
  std::vector<cache::CachedMessage> oldest;
  std::vector<cache::CachedMessage> dropped;  // dropped once their removal succeeded
  std::uint64_t freed = 0;
  std::uint64_t last = 0;
  std::uint64_t after = acked_id_;
  try {
    while (freed < bytes) {
      oldest.clear();
      cache_->read(after, 256, oldest);
      if (oldest.empty()) break;
      for (auto& m : oldest) {
        freed += m.topic.size() + m.payload.size();
        if (m.large) freed += LargeFiles::payload_bytes(m.payload);
        last = after = m.id;
        dropped.push_back(std::move(m));
        if (freed >= bytes) break;
      }
    }
    if (last == 0) return 0;
    // In the journal first: no crash may leave them gone from the cache and unrecorded.
    const bool numbered =
        report_.segment().control.seq_unknown.load(std::memory_order_relaxed) != 2;
    for (const auto& m : dropped) drops_.note(DropReason::overflow, m.seq, numbered);
    if (config_.cache_sync) drops_.make_durable();
    else drops_.commit();
    cache_->remove_through(last);
  } catch (const std::exception& e) {
    report_.error(fmt::format("cannot drop old messages from the disk cache: {}", e.what()));
    return 0;
  }
  for (const auto& m : dropped) drops_.drop(DropReason::overflow, m.large, m.payload, m.seq, false);
  acked_id_ = std::max(acked_id_, last);
  if (sent_id_ < last) {
    sent_id_ = last;
    buf_.clear();
    buf_pos_ = 0;
  }
  log(Level::warning, "dropped the {} oldest cached messages ({} bytes): {}", dropped.size(),
      freed, why);
  report_.error(fmt::format("dropped the {} oldest cached messages: {}", dropped.size(), why));
  publish_counts();
  return dropped.size();
}

void Spooler::publish_counts() {
  counts_dirty_ = false;
  const auto c = cache_->counts();
  report_.status().cache_backlog.store(c.messages, std::memory_order_relaxed);
  report_.status().cache_backlog_bytes.store(c.bytes, std::memory_order_relaxed);
}

std::int64_t Spooler::oldest_enqueue_ns(Clock::time_point now) {
  if (!has_backlog()) return 0;
  // Nothing in flight: every cached message before the cursor's was acknowledged.
  if (buf_pos_ < buf_.size()) return buf_[buf_pos_].enqueue_ns;
  if (now - oldest_read_at_ < std::chrono::seconds(1)) return oldest_ns_;
  oldest_read_at_ = now;
  std::vector<cache::CachedMessage> one;
  try {
    cache_->read(acked_id_, 1, one);
  } catch (const std::exception&) {
  }
  oldest_ns_ = one.empty() ? 0 : one.front().enqueue_ns;
  return oldest_ns_;
}

bool Spooler::oldest_cached_seq(std::optional<std::uint64_t>& seq) {
  seq.reset();
  if (health_ == CacheHealth::broken) return false;
  if (!has_backlog()) return true;
  std::vector<cache::CachedMessage> one;
  try {
    cache_->read(acked_id_, 1, one);
  } catch (const std::exception&) {
    return false;
  }
  if (!one.empty()) seq = one.front().seq;
  return true;
}

bool Spooler::highest_cached_seq(std::uint64_t& seq, bool newest_suffices,
                                 const std::function<bool(std::uint64_t)>& skip) {
  seq = 0;
  if (health_ == CacheHealth::broken) return false;
  if (!has_backlog()) return true;
  try {
    std::optional<std::uint64_t> oldest;
    if (newest_suffices && oldest_cached_seq(oldest))
      if (const auto newest = cache_->newest_seq(); newest && *newest != 0 &&
                                                    !(skip && skip(*newest)) && oldest &&
                                                    *oldest <= *newest) {
        seq = *newest;
        return true;
      }
  } catch (const std::exception&) {
    return false;
  }
  std::vector<cache::CachedMessage> batch;
  std::uint64_t after = acked_id_;
  try {
    do {
      batch.clear();
      cache_->read(after, kCacheReadBatch, batch);
      for (const auto& m : batch)
        if (!skip || !skip(m.seq)) seq = std::max(seq, m.seq);
      if (!batch.empty()) after = batch.back().id;
    } while (!batch.empty());
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

bool Spooler::empty_for_sure() {
  if (health_ == CacheHealth::broken) return false;
  // The published count first: it costs nothing, while the backend's may query.
  if (counts_dirty_ || report_.status().cache_backlog.load() != 0) return false;
  return cache_->counts().messages == 0;
}

void Spooler::prepare_close() {
  if (health_ == CacheHealth::broken) {
    try {
      reopen();
    } catch (const std::exception&) {
    }
  }
  if (counts_dirty_ && cache_) publish_counts();
}

void Spooler::close() { cache_.reset(); }

bool Spooler::check(const Window& window, std::string& why) const {
  if (acked_id_ > sent_id_) {
    why = fmt::format("cache: acknowledged through {} but the cursor is at {}", acked_id_, sent_id_);
    return false;
  }
  if (window.holds_unacked(Inflight::Source::ring) &&
      (buf_pos_ < buf_.size() || appended_id_ > sent_id_)) {
    why = fmt::format("order: a ring message is in flight while the cache holds unsent messages "
                      "(cursor {}, last appended {})", sent_id_, appended_id_);
    return false;
  }
  if ((health_ == CacheHealth::ok) == retry_at_.has_value()) {
    why = "cache: a retry is due exactly when the cache is not ok";
    return false;
  }
  return true;
}

}  // namespace robustmq::worker
