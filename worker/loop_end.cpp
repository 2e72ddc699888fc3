// The end of the application and of the worker: the lifeline's EOF or hand-off (the worker
// becomes an orphan and delivers on, the design block of loop.cpp), when an orphan is done, and
// finish(): commit, release the segment unless a new client claims it, sweep large files.
#include <sys/socket.h>

#include <algorithm>
#include <iterator>

#include "worker/log.hpp"
#include "worker/loop.hpp"
#include "worker/start.hpp"

namespace robustmq::worker {

void Loop::finish() {
  // The last pass staged nothing (the ring was empty); were one staged, it must not go after
  // the views into the ring are gone. Sent or not, its record stays for the next worker.
  (void)unstage();
  if (link_ == Link::connected) transport_.disconnect(std::chrono::milliseconds(1000));
  spooler_.prepare_close();  // applies removals a failed backend refused, if the disk allows
  // The producer is gone now: what its crash or an earlier worker's left behind can go too.
  if (!producer_alive_ && ring_.tail() == ring_.head() && window_.empty()) sweep_large_orphans();
  spooler_.close();
  drops_.make_durable();
  report_.state(ConnectionState::stopped);
  metrics_.write(seg_, false);
  const auto left = seg_.status.cache_backlog.load();
  if (const auto by = seg_.control.takeover_by.load(); by != 0 && !producer_alive_)
    log(Level::info, "application pid {} takes over: {} messages left for it in the cache", by,
        left);
  if (!producer_alive_ && ring_.tail() == ring_.head() &&
      !unlink_segment_unless_claimed(config_.cache_dir, config_.segment_name))
    log(Level::debug, "a new client holds the cache directory: the segment stays for it");
  log(Level::info, "stopped: ring empty, {} messages left in the cache", left);
}

bool Loop::delivered_all() {
  if (producer_alive_ || ring_.tail() != ring_.head() || !window_.empty()) return false;
  if (spooler_.counts_dirty()) spooler_.publish_counts();
  return spooler_.empty_for_sure();
}

// Once the ring, the window and the cache are empty (LargeFiles::sweep_orphans() says why then).
// Returns false when the cache still holds messages (or cannot say): nothing was swept.
bool Loop::sweep_large_orphans() {
  if (!spooler_.empty_for_sure()) return false;
  const auto [files, bytes] = large_.sweep_orphans();
  if (files > 0) {
    log(Level::info, "deleted {} large-message files ({} bytes) that no message refers to, left "
        "by a crashed producer or worker", files, bytes);
  }
  return true;
}

// The application's bytes (proto/lifeline.hpp): wake-ups, 'h' (it hands off and leaves),
// answers with credentials (loop_credentials.cpp); or EOF: it exited (or was killed). Its
// messages in the ring are drained to the broker for cache_timeout, then spooled
// (spool_wanted()); the worker goes on delivering as an orphan (the design block above).
void Loop::read_lifeline() {
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::recv(lifeline_, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
    auto in = lifeline_in_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    if (in.handed_off) handed_off_ = true;
    credentials_answered_ += in.answers;
    if (in.malformed) log(Level::warning, "the application sent malformed credentials: ignored");
    if (in.credentials) {
      username_ = std::move(in.credentials->username);
      password_ = std::move(in.credentials->password);
      transport_.set_credentials(username_, password_);
    }
  }
  std::fill(std::begin(buf), std::end(buf), '\0');  // it may have held a password
  if (n != 0) return;
  producer_alive_ = false;
  const auto now = time_.now();
  drain_deadline_ = now + config_.cache_timeout;
  if (config_.orphan_linger.count() >= 0) linger_deadline_ = now + config_.orphan_linger;
  const std::uint64_t read = seg_.status.ring_messages_read.load();
  const std::uint64_t published = seg_.status.published.load();
  log(Level::info, "the application {}: delivering {} messages from the ring and {} from the "
      "cache in the background, {}",
      handed_off_ ? "handed off" : "exited", published > read ? published - read : 0,
      spooler_.counts().messages,
      linger_deadline_ ? fmt::format("for at most {} ms (orphan_linger)",
                                     config_.orphan_linger.count())
                       : std::string("until they are delivered"));
  if (on_orphaned_) {
    log(Level::info, "further log lines go to syslog");
    on_orphaned_();
  }
}

}  // namespace robustmq::worker
