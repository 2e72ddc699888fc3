// Staging: with one message in flight (max_inflight 1, the default), the ring's next record is
// handed to the transport ahead of time (Transport::stage()). Mqtt sends it from Paho's
// acknowledgement callback, so each message costs one hand-off between threads fewer: not
// Paho's receive thread -> the loop -> Paho's send thread, only Paho's own threads, as a plain
// Paho client that publishes from its callback. The loop still owns every decision:
//   - Only the record at read_pos_ is staged, only while the window holds exactly one message,
//     unacknowledged, and fill_window() would send that record the moment it is acknowledged
//     (connected, not settling, not held after a refusal, nothing cached to send first, the ring
//     sendable, the record intact, valid, not expired, not large, QoS 1 or 2).
//   - It is staged at the end of a pass and taken back (unstage()) at the start of the next one,
//     before any event is handled: every change of state (a loss, a spool that moves the tail,
//     a stop, a timeout, a reconnect) comes after it, so the ring record the transport holds a
//     view of stays in place while the transport may send it.
//   - If the transport sent it, it joins the window right after the acknowledgement that made
//     it go, exactly as send() would have put it there (window entry, read_pos_, counters):
//     it is never sent a second time on that connection, and the order holds.
//   - A refusal (MQTT 5 reason >= 0x80) does not send it: a temporary one sends the refused
//     message again first, a permanent one may still be followed at once by the loop itself.
#include "worker/loop.hpp"

#include "worker/log.hpp"

namespace robustmq::worker {

void Loop::stage_next() {
  if (staged_ || link_ != Link::connected || window_.size() != 1 || window_.entries() != 1)
    return;
  const Inflight& f = window_.oldest();
  if (f.acked || f.qos == 0) return;
  if (settling() || held_until_ || !ring_sendable() || spooler_.next_unsent() != nullptr ||
      (!producer_alive_ && spooler_.has_backlog()))
    return;
  Candidate c;
  if (!ring_candidate(c) || c.damaged) return;
  const record::MessageView& m = c.message;
  if (m.large || m.qos == 0 || !sendable(m.topic, m.qos) || drops_.expired(m.enqueue_ns)) return;
  staged_ = Staged{.c = c, .pos = read_pos_, .send_id = window_.next_id(), .after_id = f.send_id};
  transport_.stage({.topic = m.topic, .payload = m.payload, .qos = m.qos, .retain = m.retain,
                    .enqueue_ns = m.enqueue_ns, .seq = m.seq},
                   staged_->send_id, staged_->after_id);
}

Loop::Unstaged Loop::unstage() {
  Unstaged u;
  if (!staged_) return u;
  u.staged = std::exchange(staged_, std::nullopt);
  u.sent = transport_.unstage();
  return u;
}

void Loop::adopt_staged(Unstaged& u, std::uint64_t acknowledged_id) {
  if (!u.sent || u.staged->after_id != acknowledged_id) return;
  const int rc = *std::exchange(u.sent, std::nullopt);
  if (rc != 0) {
    publish_failed(rc);
    return;
  }
  // Nothing moved read_pos_ since the record was staged: the pass began with unstage().
  sent(u.staged->c, u.staged->send_id, u.staged->c.message.payload.size(),
       std::chrono::milliseconds(0));
}

// The transport sent the staged message, but the acknowledgement that made it go did not stand
// (a loss handled before it; a transport keeping its guarantees never does otherwise). As for
// a message in flight at a loss, the loop sends it again after the next connect, never on this
// connection.
void Loop::staged_left(Unstaged& u) {
  if (!u.sent || *u.sent != 0) return;
  if (u.staged->c.message.qos == 2) qos2_cut_ = true;  // its handshake may be cut
  if (link_ == Link::connected) {
    log(Level::error, "the transport sent a staged message out of turn (seq {})",
        u.staged->c.message.seq);
    on_link_down("a staged message was sent out of turn");
    transport_.disconnect(std::chrono::milliseconds(0));
  }
}

}  // namespace robustmq::worker
