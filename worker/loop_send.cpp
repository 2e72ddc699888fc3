// The loop's one send path, for a cached and a ring message alike, and retiring the window's
// acknowledged prefix (the design block is at the top of loop.cpp).
#include "worker/loop.hpp"

#include <algorithm>

#include "worker/log.hpp"

namespace robustmq::worker {

void Loop::fill_window() {
  // A stop or flush waits a moment for the window to drain before it spools; if spooling then
  // fails (a full disk), sending goes on: it is the only way left to make progress.
  paced_until_.reset();
  if (settling() || held_until_) return;
  while (link_ == Link::connected && window_.open()) {
    Candidate c;
    if (const cache::CachedMessage* m = spooler_.next_unsent()) {
      // Paced drain: the cache's next message waits for the bucket, and the ring behind it.
      if (pacer_.limited() && time_.now() < pacer_.ready_at()) {
        paced_until_ = pacer_.ready_at();
        break;
      }
      c.source = Inflight::Source::cache;
      c.cache_id = m->id;
      c.message = {.seq = m->seq, .enqueue_ns = m->enqueue_ns, .qos = m->qos,
                   .retain = m->retain, .topic = m->topic, .payload = m->payload,
                   .large = m->large};
    } else if (!ring_sendable()) {
      break;
    } else if (producer_alive_ || !spooler_.has_backlog()) {
      if (!ring_candidate(read_pos_, c)) break;
    } else {
      break;  // the application is gone: its backlog in the cache goes first, by spooling
    }
    if (!send(c)) break;
  }
}

// Whether a ring record may be sent straight from the ring once the cache has nothing to send:
// not while the cache cannot be read (what it holds is unknown, and nothing newer may go first:
// invariant 3), and not in journal mode while the cache works (every message goes through it,
// spooled first; sending from the ring would send the record again once it is spooled).
// Nor while a resend of the dead letters waits for the ring's messages in flight (serve_resend()),
// unless the cache does not work: the resend cannot happen then, and the ring must not wait.
bool Loop::ring_sendable() const {
  if (spooler_.unreadable()) return false;
  if (resend_pending_ && spooler_.health() == CacheHealth::ok) return false;
  return config_.durability != Durability::journal || spooler_.health() != CacheHealth::ok;
}

// The ring's record at `pos` (read_pos_, or staging beyond it); false when there is none yet.
bool Loop::ring_candidate(std::uint64_t pos, Candidate& c) {
  // Before the head: every message numbered below `next` is in [tail, head) or gone.
  const std::uint64_t next = seg_.producer.next_seq.load(std::memory_order_acquire);
  const std::uint64_t head = ring_.head();
  if (pos >= head) return false;
  RingConsumer::Item it;
  if (ring_.read_at(pos, it) == RingConsumer::Status::item) {
    c.message = it.message;
    c.ring_end = it.end;
    if (it.message.seq < next) drops_.ring_read(it.message.seq);
  } else {
    // Skipped up to the head: so is every message numbered below `next`.
    c.damaged = true;
    c.ring_end = head;
    c.message.seq = next > 0 ? next - 1 : 0;
  }
  return true;
}

std::string Loop::Candidate::what() const {
  return source == Inflight::Source::cache ? fmt::format("cache id {}", cache_id)
                                           : fmt::format("seq {}", message.seq);
}

bool Loop::send(const Candidate& c) {
  const record::MessageView& m = c.message;
  if (c.damaged) {
    report_.error(fmt::format("damaged record in the shared ring at {}: skipped {} bytes up to "
                              "the head", read_pos_, c.ring_end - read_pos_));
    pass(c, DropReason::damaged);
    return true;
  }
  if (!sendable(m.topic, m.qos)) {
    report_.error(c.source == Inflight::Source::cache
                      ? fmt::format("invalid message ({}) in the disk cache: skipped", c.what())
                      : fmt::format("invalid message ({}) in the shared ring: skipped", c.what()));
    pass(c, DropReason::damaged);
    return true;
  }
  if (drops_.expired(m.enqueue_ns)) {
    pass(c, DropReason::expired);
    return true;
  }
  std::optional<LargeFiles::Mapped> file;
  if (m.large) {
    std::string why;
    file = large_.map(m.payload, why);
    if (!file) {
      log(Level::error, "large message ({}) skipped: {}", c.what(), why);
      report_.error(fmt::format("large message ({}) skipped: {}", c.what(), why));
      pass(c, DropReason::damaged);
      return true;
    }
  }
  const std::string_view payload = file ? file->bytes() : m.payload;
  const std::uint64_t id = window_.next_id();
  const int rc = transport_.send({.topic = m.topic, .payload = payload, .qos = m.qos,
                                  .retain = m.retain, .enqueue_ns = m.enqueue_ns,
                                  .seq = m.seq}, id);
  if (rc != 0) {
    publish_failed(rc);
    return false;
  }
  sent(c, id, payload.size(),
       file ? LargeFiles::ack_grace(payload.size()) : std::chrono::milliseconds(0), time_.now());
  return true;
}

// The transport took the message of `c` with send id `id` (from send(), or staged: loop_stage.cpp).
void Loop::sent(const Candidate& c, std::uint64_t id, std::size_t bytes,
                std::chrono::milliseconds ack_grace, Clock::time_point at) {
  const record::MessageView& m = c.message;
  window_.sent({.source = c.source,
                .qos = static_cast<std::uint8_t>(m.qos),
                .records = 1,
                .send_id = id,
                .seq = m.seq,
                .ring_end = c.ring_end,
                .ring_pos = c.source == Inflight::Source::ring ? read_pos_ : 0,
                .cache_id = c.cache_id,
                .enqueue_ns = m.enqueue_ns,
                .bytes = bytes,
                .sent_at = at,
                .ack_grace = ack_grace,
                .large_ref = m.large ? std::string(m.payload) : std::string()});
  if (c.source == Inflight::Source::cache) pacer_.spent(m.topic.size() + bytes, time_.now());
  passed(c);
  seg_.status.sent.fetch_add(1, std::memory_order_relaxed);
}

void Loop::publish_failed(int rc) {
  on_link_down(fmt::format("publish failed: {}", transport_.describe_error(rc)));
  transport_.disconnect(std::chrono::milliseconds(0));
}

// A record that must not be sent (damaged, invalid, expired) leaves in order, like an
// acknowledged one.
void Loop::pass(const Candidate& c, DropReason reason) {
  if (c.damaged) drops_.drop_stretch(c.message.seq);
  else drops_.drop(reason, c.message.large, c.message.payload, c.message.seq,
                   numbers_known(c.source));
  window_.passed({.source = c.source,
                  .records = static_cast<std::uint8_t>(
                      c.source == Inflight::Source::ring && !c.damaged ? 1 : 0),
                  .send_id = window_.next_id(),
                  .seq = c.message.seq,
                  .ring_end = c.ring_end,
                  .cache_id = c.cache_id,
                  .sent_at = time_.now(),
                  .large_ref = {}});
  passed(c);
  retire();
}

void Loop::passed(const Candidate& c) {
  if (c.source == Inflight::Source::cache) spooler_.pass();
  else read_pos_ = c.ring_end;
}

// Retires the window's acknowledged prefix: the tail and the cache move forward in order, then
// the files of the large messages among them are released.
void Loop::retire() {
  std::uint64_t tail = ring_.tail();
  std::uint64_t ring_done = 0;
  std::uint64_t cache_done = 0;
  std::uint64_t delivered = 0;
  // Cached numbers that may overlap the new ones (ControlLine::seq_unknown 2) say nothing.
  const bool cache_numbers_known = numbers_known(Inflight::Source::cache);
  window_.retire([&](Inflight& f) {
    if (f.refusal != 0) {
      // Refused for good: its record and its file are still there until the tail or the
      // cache moves below.
      drops_.refused_for_good(f.seq, f.refusal, numbers_known(f.source));
      keep_dead_letter(f, f.refusal);
    }
    if (f.source == Inflight::Source::ring || cache_numbers_known)
      delivered = std::max(delivered, f.seq);
    if (f.source == Inflight::Source::ring) {
      tail = f.ring_end;
      ring_done += f.records;
    } else {
      cache_done = f.cache_id;
    }
    if (!f.large_ref.empty()) retired_files_.push_back(std::move(f.large_ref));
  });
  // Drops among the retired entries are in the journal before the tail or the cache moves.
  drops_.commit();
  if (cache_done != 0) spooler_.acknowledged(cache_done);
  if (tail != ring_.tail()) {
    ring_.advance_tail(tail);
    report_.tail_moved(ring_done);
  }
  for (const auto& reference : retired_files_) large_.release(reference);
  retired_files_.clear();
  // The window retires in order, and nothing older than its front is left anywhere
  // (invariant 3): every message up to the last one retired is done. Never beyond the numbers
  // given out (a number read from a damaged record could be anything).
  if (delivered != 0) {
    const std::uint64_t next = seg_.producer.next_seq.load(std::memory_order_acquire);
    report_.delivered(std::min(delivered, next > 0 ? next - 1 : 0));
  }
}

// With nothing in flight, nothing in the cache and nothing in the ring, every message numbered
// below next_seq was delivered or dropped, including those that left without passing the
// window (dropped while spooling, cut from the cache by max_cache_bytes). Read next_seq before
// the head (proto/segment_layout.hpp, at ProducerLine).
void Loop::update_delivered_when_idle() {
  if (!window_.empty()) return;
  const std::uint64_t next = seg_.producer.next_seq.load(std::memory_order_acquire);
  if (next == 0 || ring_.head() != ring_.tail() || !spooler_.empty_for_sure()) return;
  report_.delivered(next - 1);
  // Nothing cached is left whose number could overlap the new ones.
  if (seg_.control.seq_unknown.load(std::memory_order_relaxed) == 2)
    seg_.control.seq_unknown.store(0, std::memory_order_release);
}

// At start, when the client found no bound of the sequence numbers (ControlLine::seq_unknown:
// a new cache directory, a damaged or unwritable robustmq.seq, a cache written by a release
// without it): the numbering goes on above every number in the disk cache, which therefore
// stays older than every new message. The client waits for "running" before it publishes.
void Loop::init_sequence() {
  auto& unknown = seg_.control.seq_unknown;
  if (unknown.load(std::memory_order_acquire) != 1) return;
  numbering_bound_found_ = false;
  std::uint64_t highest = 0;
  // The whole cache: without a bound, earlier lives may have numbered anew behind older numbers.
  if (!spooler_.highest_cached_seq(highest, false)) {
    // The ring takes messages all the same; their numbers may overlap the cached ones.
    log(Level::warning, "cannot read the disk cache to continue its sequence numbers: cached "
                        "messages move no receipt until the cache is empty");
    unknown.store(2, std::memory_order_release);
    return;
  }
  auto& next = seg_.producer.next_seq;
  if (highest >= next.load()) {
    log(Level::info, "sequence numbers continue at {}, above the disk cache's", highest + 1);
    next.store(highest + 1, std::memory_order_release);
  }
  unknown.store(0, std::memory_order_release);
}

// At start: every message older than the oldest one held (in the cache, else in the ring, else
// the next to be published) was delivered or dropped, by an earlier worker or an earlier life.
// A new segment (after a reboot) starts at 0 and gets its value here.
void Loop::init_delivered() {
  if (seg_.control.seq_unknown.load(std::memory_order_acquire) == 2) return;  // cached: no say
  const std::uint64_t next = seg_.producer.next_seq.load(std::memory_order_acquire);
  std::uint64_t oldest = next;
  std::optional<std::uint64_t> cached;
  if (!spooler_.oldest_cached_seq(cached)) return;  // unknown now: the next retire moves it
  if (cached) {
    oldest = *cached;
  } else if (ring_.head() != ring_.tail()) {
    RingConsumer::Item it;
    if (ring_.read_at(ring_.tail(), it) != RingConsumer::Status::item) return;
    oldest = it.message.seq;
  }
  // A cache written before sequence numbers continued across reboots may hold numbers at or
  // above next: not older than the ring's, so nothing can be said.
  if (oldest == 0 || oldest > next) return;
  // A new segment (after a reboot: delivered_through 0) with messages still cached: the numbers
  // between the cache's last and the new segment's first were in the ring unflushed at the
  // power cut, or never given out. Nothing says which: they are recorded as unknown, before
  // delivered_through can pass them.
  // Dead letters sent back into the cache keep their old numbers, recorded refused: they are
  // not where the cache's numbering ends.
  // The cache's newest message then has its highest number, as the cache takes messages in
  // numbering order (the ring's; a later life numbers on from robustmq.seq's bound), unless this
  // start found no bound (init_sequence(): earlier lives may have numbered anew), or a dead
  // letter sent back is newest and the journal may have lost its refusal (created or repaired
  // at this start, overwritten, damaged): then the whole cache is read.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> refused;
  bool journal_whole = false;
  if (cached && seg_.status.delivered_through.load(std::memory_order_relaxed) == 0) {
    std::error_code ec;
    if (auto reader = journal::Reader::open(config_.cache_dir, ec)) {
      std::size_t damaged = 0;
      const auto records = reader->all(&damaged);
      journal_whole = drops_.journal_found_whole() && damaged == 0 &&
                      (records.empty() || records.front().serial == 1);
      for (const auto& r : records)
        if (r.reason == DropReason::refused) refused.emplace_back(r.first, r.last);
    }
    std::sort(refused.begin(), refused.end());
  }
  const auto resent = [&](std::uint64_t seq) {
    auto it = std::upper_bound(refused.begin(), refused.end(),
                               std::pair<std::uint64_t, std::uint64_t>{seq, UINT64_MAX});
    return it != refused.begin() && std::prev(it)->second >= seq;
  };
  std::uint64_t highest = 0;
  if (cached && seg_.status.delivered_through.load(std::memory_order_relaxed) == 0 &&
      ring_.head() == ring_.tail() &&
      spooler_.highest_cached_seq(highest, numbering_bound_found_ && journal_whole, resent) &&
      highest > 0 && highest + 1 < next) {
    drops_.unknown_range(highest + 1, next - 1);
    drops_.commit();
  }
  report_.delivered(oldest - 1);
}

}  // namespace robustmq::worker
