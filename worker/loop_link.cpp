// The link to the broker: the transport's events, connecting, the backoff between attempts,
// refusals (the design block, with the link's states, is at the top of loop.cpp).
#include "worker/loop.hpp"

#include <unistd.h>

#include <algorithm>
#include <random>

#include "worker/log.hpp"

namespace robustmq::worker {

void Loop::handle_events() {
  // The staged messages are taken back before anything else (loop_stage.cpp). For each one the
  // transport sent, the acknowledgement that made it go was queued before unstage() returned.
  Unstaged staged = unstage();
  events_.take(event_buf_);
  for (auto& e : event_buf_) {
    if (e.kind != Event::Kind::delivered && e.kind != Event::Kind::log)
      log(Level::debug, "event {} (link {}, in flight {}): {}", static_cast<int>(e.kind),
          static_cast<int>(link_), window_.entries(), e.text);
    switch (e.kind) {
      case Event::Kind::connected:
        if (link_ == Link::connecting) on_connected(e.code);
        break;
      case Event::Kind::connect_failed:
        if (link_ == Link::connecting) on_connect_failed(e);
        break;
      case Event::Kind::connection_lost:
        if (link_ != Link::connected) break;  // a late report about a connection already given up
        on_link_down(fmt::format("connection lost: {}", e.text));
        break;
      case Event::Kind::delivered: {
        const bool temporary = e.code != 0 && refusal_is_temporary(e.code);
        const Inflight* f = window_.acknowledge(
            e.send_id, temporary ? 0 : static_cast<std::uint8_t>(e.code));
        if (f == nullptr) break;  // stale: from before a loss, or already acknowledged
        if (temporary) {
          hold_after_refusal(*f, e.text);
          break;
        }
        if (e.code != 0) {
          // Counted, recorded and kept as a dead letter when it retires (retire()).
          drops_.refused(e.text, time_.now());
        } else {
          seg_.status.acknowledged.fetch_add(1, std::memory_order_relaxed);
          refusal_backoff_ = config_.reconnect_min;
        }
        retire();
        if (e.code == 0) adopt_staged(staged, e.send_id);
        break;
      }
      case Event::Kind::send_failed:
        if (link_ != Link::connected) break;
        if (window_.holds(e.send_id)) {
          on_link_down(fmt::format("connection lost while publishing: {}", e.text));
          transport_.disconnect(std::chrono::milliseconds(0));
        } else if (staged.failed_id == 0 && staged.sent_not_adopted(e.send_id)) {
          staged.failed_id = e.send_id;  // adopt_staged() takes the link down
          staged.failed_why = std::move(e.text);
        }
        break;
      case Event::Kind::log:  // a line of another thread: the log is this thread's
        log(static_cast<Level>(e.code), "{}", e.text);
        break;
    }
  }
  staged_left(staged);
  staged.staged.clear();
  staged_.swap(staged.staged);  // empty, its room kept for the next stage_next()
}

void Loop::on_connected(int receive_maximum) {
  link_ = Link::connected;
  qos2_cut_ = false;
  refused_ = false;
  refusals_in_a_row_ = 0;
  backoff_ = config_.reconnect_min;
  // The window is empty whenever the link is not connected (invariant 4): its size may change.
  std::size_t window = config_.max_inflight;
  if (receive_maximum > 0 && static_cast<std::size_t>(receive_maximum) < window) {
    window = static_cast<std::size_t>(receive_maximum);
    if (window != window_.size())
      log(Level::info, "the broker's Receive Maximum {} bounds max_inflight {}", window,
          config_.max_inflight);
  }
  window_.resize(window);
  report_.state(ConnectionState::connected);
  log(Level::info, "connected to {}", server());
}

void Loop::on_connect_failed(const Event& e) {
  report_.error(fmt::format("cannot connect to {}: {}", server(), e.text));
  link_ = Link::backoff;
  const bool every_server_refused =
      e.refused && ++refusals_in_a_row_ >= std::max<std::size_t>(1, config_.servers.size());
  if (e.refused && !every_server_refused) {
    // The next attempt goes to another server of the list, which may let the client in.
    log(Level::warning, "{} refused the connection: {}; trying the next server", server(),
        e.text);
    report_.state(ConnectionState::disconnected);
  } else if (e.refused) {
    // Retrying soon would be refused again: every reconnect_max from now on (the credentials
    // or certificates may be fixed on the broker's side), until a connect succeeds.
    if (!refused_)
      log(Level::warning, "the broker refused the connection: {}; trying again every {} ms, "
          "messages stay cached", e.text, config_.reconnect_max.count());
    refused_ = true;
    backoff_ = config_.reconnect_max;
    report_.state(ConnectionState::refused);
  } else {
    refused_ = false;
    refusals_in_a_row_ = 0;
    report_.state(ConnectionState::disconnected);
  }
  schedule_reconnect();
}

void Loop::on_link_down(const std::string& why) {
  if (link_ == Link::connected) {
    log(Level::warning, "{}; {} messages in flight will be sent again", why, window_.entries());
    seg_.status.reconnects.fetch_add(1, std::memory_order_relaxed);
  }
  report_.error(why);
  link_ = Link::backoff;
  refused_ = false;
  report_.state(ConnectionState::disconnected);
  qos2_cut_ = window_.abandon() || qos2_cut_;
  read_pos_ = ring_.tail();
  spooler_.rewind();
  schedule_reconnect();
}

void Loop::hold_after_refusal(const Inflight& f, const std::string& why) {
  const auto delay = refusal_backoff_;
  refusal_backoff_ = std::min(refusal_backoff_ * 2, config_.reconnect_max);
  log(Level::warning, "{} (seq {}): sending it and the {} messages after it again in {} ms", why,
      f.seq, window_.entries() - 1, delay.count());
  report_.error(fmt::format("{}: sending again in {} ms", why, delay.count()));
  seg_.status.refused_for_now.fetch_add(1, std::memory_order_relaxed);
  // As after a loss (invariant 4), without dropping the connection: what was sent after the
  // refused message goes again behind it, so the order holds. Late answers to the abandoned
  // sends are stale (Window::acknowledge()).
  qos2_cut_ = window_.abandon() || qos2_cut_;
  read_pos_ = ring_.tail();
  spooler_.rewind();
  held_until_ = time_.now() + delay;
}

void Loop::schedule_reconnect() {
  static thread_local std::minstd_rand rng{static_cast<unsigned>(::getpid())};
  // Full jitter in [backoff/2, backoff]: many devices reconnecting after a broker restart do
  // not arrive at the same instant.
  const auto b = backoff_.count();
  const auto delay = std::chrono::milliseconds(b / 2 + static_cast<long>(rng() % (b / 2 + 1)));
  reconnect_at_ = time_.now() + delay;
  backoff_ = std::min(backoff_ * 2, config_.reconnect_max);
}

void Loop::start_connect() {
  seg_.status.connect_attempts.fetch_add(1, std::memory_order_relaxed);
  link_ = Link::connecting;
  // After a refusal the state stays `refused` through the next attempts, until one connects or
  // fails for another reason.
  report_.state(refused_ ? ConnectionState::refused : ConnectionState::connecting);
  const int rc = transport_.connect(qos2_cut_);
  report_.server(server());  // stats().server: the one tried now, and in use once connected
  if (rc != 0) {
    report_.error(fmt::format("cannot start connecting to {}: {}", server(),
                              transport_.describe_error(rc)));
    link_ = Link::backoff;
    refused_ = false;
    report_.state(ConnectionState::disconnected);
    schedule_reconnect();
  }
}

}  // namespace robustmq::worker
