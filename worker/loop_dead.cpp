// The loop and the dead-letter store (dead_letters.hpp): keeping a message the broker refused for
// good, and moving the store back into the disk cache when the application asks.
#include "worker/log.hpp"
#include "worker/loop.hpp"

namespace robustmq::worker {

// The window's entry does not hold the message (a copy per send would cost every message for
// the rare refusal); the message is still where it was sent from, since it has not retired
// (invariant 2): its ring record at ring_pos, or its cache record by id. A large message's file
// is still there too (invariant 6): its contents are kept, not the reference.
void Loop::keep_dead_letter(const Inflight& f, std::uint8_t code) {
  if (!dead_.enabled()) return;
  record::MessageView m;
  cache::CachedMessage cached;  // the bytes of a cached message, for `m`
  const auto cannot = [&](const std::string& why) {
    log(Level::error, "refused message (seq {}) not kept as a dead letter: {}", f.seq, why);
    report_.error(fmt::format("refused message (seq {}) not kept as a dead letter: {}", f.seq,
                              why));
  };
  if (f.source == Inflight::Source::ring) {
    RingConsumer::Item it;
    if (ring_.read_at(f.ring_pos, it) != RingConsumer::Status::item || it.end != f.ring_end)
      return cannot("its record in the shared ring cannot be read again");
    m = it.message;
  } else {
    if (!spooler_.read_one(f.cache_id, cached))
      return cannot(fmt::format("cache id {} cannot be read again", f.cache_id));
    m = {.seq = cached.seq, .enqueue_ns = cached.enqueue_ns, .qos = cached.qos,
         .retain = cached.retain, .topic = cached.topic, .payload = cached.payload,
         .large = cached.large};
  }
  std::optional<LargeFiles::Mapped> file;
  if (m.large) {
    std::string why;
    file = large_.map(m.payload, why);
    if (!file) return cannot(why);
    m.payload = file->bytes();
    m.large = false;
  }
  dead_.keep(m, code);
}

// Invariant 3 holds through it: the ring stops sending (ring_sendable()) until none of its
// messages is in flight, its records are then spooled behind the cache's, and only then do the
// dead letters go behind both. So they follow every message published before the request.
void Loop::serve_resend() {
  auto& control = seg_.control;
  const std::uint64_t request = control.dead_resend_request.load(std::memory_order_acquire);
  if (spooler_.health() != CacheHealth::ok || spooler_.unreadable()) return;  // its retry wakes us
  if (window_.holds_unacked(Inflight::Source::ring)) return;  // their answers wake us
  const std::uint64_t head = ring_.head();
  if (ring_.tail() < head) {
    spool("resend of the dead letters");
    if (ring_.tail() < head) return;  // the cache refused: its retry wakes us
  }
  if (!dead_.resend(spooler_, resend_moved_)) return;
  log(Level::info, "moved {} dead letters back into the disk cache: they are sent again",
      resend_moved_);
  control.dead_resend_moved.store(resend_moved_, std::memory_order_relaxed);
  control.dead_resend_done.store(request, std::memory_order_release);
  resend_moved_ = 0;
  resend_pending_ = false;
  report_.notify_client();
}

}  // namespace robustmq::worker
