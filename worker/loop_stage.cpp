// Staging: with one message in flight (max_inflight 1, the default), the ring's next records
// are handed to the transport ahead of time (Transport::stage()). Mqtt sends each from Paho's
// acknowledgement callback of the one before, so a message costs no hand-off to the loop's
// thread and back (Paho's receive thread -> the loop -> Paho's send thread), only Paho's own
// threads, as a plain Paho client that publishes from its callback. A chain of up to
// kStageAhead records, not one: the loop still wakes for every acknowledgement, but on a busy
// machine it may wake later than the next acknowledgement arrives; the chain keeps its wake-up
// off the path of the messages. The loop still owns every decision:
//   - Only records from read_pos_ on are staged, in ring order, only while the window holds
//     exactly one message, unacknowledged, and fill_window() would send them one by one as each
//     is acknowledged (connected, not settling, not held after a refusal, nothing cached to send
//     first, the ring sendable, each record intact, valid, not expired, not large, QoS 1 or 2;
//     the chain ends before the first that is not).
//   - They are staged at the end of a pass and taken back (unstage()) at the start of the next
//     one, before any event is handled: every change of state (a loss, a spool that moves the
//     tail, a stop, a timeout, a reconnect) comes after it, so the ring records the transport
//     holds views of stay in place while the transport may send them.
//   - Those the transport sent join the window one by one, each right after the
//     acknowledgement that made it go, exactly as send() would have put it there (window entry,
//     read_pos_, counters): none is sent a second time on that connection, and the order holds.
//   - A refusal (MQTT 5 reason >= 0x80) sends nothing more: a temporary one sends the refused
//     message again first, a permanent one may still be followed at once by the loop itself.
#include "worker/loop.hpp"

#include "worker/log.hpp"

namespace robustmq::worker {

namespace {
// Records staged at most: sent without the loop's thread while it sleeps; a record the
// transport holds a view of keeps its place in the ring until the loop's next pass.
constexpr std::size_t kStageAhead = Transport::Taken::kMax;
}  // namespace

void Loop::stage_next() {
  if (!staged_.empty() || link_ != Link::connected || window_.size() != 1 ||
      window_.entries() != 1)
    return;
  const Inflight& f = window_.oldest();
  if (f.acked || f.qos == 0) return;
  if (settling() || held_until_ || !ring_sendable() || spooler_.next_unsent() != nullptr ||
      (!producer_alive_ && spooler_.has_backlog()))
    return;
  std::uint64_t pos = read_pos_;
  std::uint64_t after = f.send_id;
  while (staged_.size() < kStageAhead) {
    Candidate c;
    if (!ring_candidate(pos, c) || c.damaged) return;
    const record::MessageView& m = c.message;
    if (m.large || m.qos == 0 || !sendable(m.topic, m.qos) || drops_.expired(m.enqueue_ns))
      return;
    const Staged& s = staged_.emplace_back(
        Staged{.c = c, .pos = pos, .send_id = window_.next_id(), .after_id = after});
    transport_.stage({.topic = m.topic, .payload = m.payload, .qos = m.qos, .retain = m.retain,
                      .enqueue_ns = m.enqueue_ns, .seq = m.seq},
                     s.send_id, s.after_id);
    pos = c.ring_end;
    after = s.send_id;
  }
}

Loop::~Loop() {
  if (!staged_.empty()) (void)transport_.unstage();
}

Loop::Unstaged Loop::unstage() {
  Unstaged u;
  if (staged_.empty()) return u;
  u.staged.swap(staged_);
  u.taken = transport_.unstage();
  return u;
}

void Loop::adopt_staged(Unstaged& u, std::uint64_t acknowledged_id) {
  if (u.adopted >= u.staged.size() || u.staged[u.adopted].after_id != acknowledged_id) return;
  if (u.adopted == u.taken.sent) {
    // Its send failed (or it was not sent: expired meanwhile, and the loop drops it now).
    if (const int rc = std::exchange(u.taken.failed, 0); rc != 0) publish_failed(rc);
    return;
  }
  // Its acknowledgement timeout counts from when it went, not from this pass.
  const Clock::time_point at = u.taken.sent_at[u.adopted];
  const Staged& s = u.staged[u.adopted++];
  // read_pos_ is at s.pos: the pass began with unstage(), the ones before joined in order.
  sent(s.c, s.send_id, s.c.message.payload.size(), std::chrono::milliseconds(0), at);
  if (u.failed_id == s.send_id) {
    on_link_down(fmt::format("connection lost while publishing: {}", u.failed_why));
    transport_.disconnect(std::chrono::milliseconds(0));
  }
}

bool Loop::Unstaged::sent_not_adopted(std::uint64_t send_id) const {
  for (std::size_t i = adopted; i < taken.sent; ++i)
    if (staged[i].send_id == send_id) return true;
  return false;
}

// The transport sent staged messages, but an acknowledgement that made one go did not stand (a
// loss handled before it; a transport keeping its guarantees never does otherwise). As for
// messages in flight at a loss, the loop sends them again after the next connect, never on
// this connection.
void Loop::staged_left(Unstaged& u) {
  if (u.adopted >= u.taken.sent) return;
  seg_.status.sent.fetch_add(u.taken.sent - u.adopted, std::memory_order_relaxed);
  for (std::size_t i = u.adopted; i < u.taken.sent; ++i)
    if (u.staged[i].c.message.qos == 2) qos2_cut_ = true;  // its handshake may be cut
  if (link_ == Link::connected) {
    log(Level::error, "the transport sent a staged message out of turn (seq {})",
        u.staged[u.adopted].c.message.seq);
    on_link_down("a staged message was sent out of turn");
    transport_.disconnect(std::chrono::milliseconds(0));
  }
}

}  // namespace robustmq::worker
