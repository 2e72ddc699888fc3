#include "proto/segment_stats.hpp"

#include <time.h>

#include <array>
#include <chrono>
#include <utility>

#include <fmt/format.h>

#include "proto/status_text.hpp"

namespace robustmq {

namespace {

std::int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// A label value: backslash, double quote and newline escaped.
std::string label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

// Here rather than in lib/: the worker (Options::metrics_file) and robustmq-stat name states too.
std::string_view to_string(ConnectionState s) noexcept {
  switch (s) {
    case ConnectionState::idle: return "idle";
    case ConnectionState::connecting: return "connecting";
    case ConnectionState::connected: return "connected";
    case ConnectionState::disconnected: return "disconnected";
    case ConnectionState::stopped: return "stopped";
    case ConnectionState::refused: return "refused";
  }
  return "unknown";
}

Stats stats_of(const shm::Segment& segment) {
  const auto& st = segment.status;
  Stats s;
  s.state = static_cast<ConnectionState>(st.state.load());
  s.published = st.published.load();
  s.sent = st.sent.load();
  s.acknowledged = st.acknowledged.load();
  s.refused = st.refused.load();
  s.refused_for_now = st.refused_for_now.load();
  s.dead_letters = st.dead_letters.load();
  s.cached = st.cached.load();
  s.dropped_invalid = st.dropped_invalid.load();
  s.queue_full = st.queue_full.load();
  s.reconnects = st.reconnects.load();
  s.worker_restarts = st.worker_restarts.load();
  const auto read = st.ring_messages_read.load();
  s.ring_backlog = s.published > read ? s.published - read : 0;
  s.cache_backlog = st.cache_backlog.load();
  s.cache_backlog_bytes = st.cache_backlog_bytes.load();
  s.dropped_expired = st.dropped_expired.load();
  s.dropped_overflow = st.dropped_overflow.load();
  s.connect_attempts = st.connect_attempts.load();
  s.worker_wakeups = st.worker_wakeups.load();
  if (const auto oldest = st.oldest_enqueue_ns.load(); oldest > 0) {
    const auto age = realtime_ns() - oldest;
    s.oldest_age = std::chrono::seconds(age > 0 ? age / 1'000'000'000 : 0);
  }
  std::int64_t error_ns = 0;
  s.last_error = read_status_text(st.last_error, &error_ns);
  if (error_ns > 0)
    s.last_error_time = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(error_ns)));
  s.cache_error = read_status_text(st.cache_error);
  s.server = read_status_text(st.server);
  s.worker_pid = static_cast<int>(segment.control.worker_pid.load());
  return s;
}

std::string prometheus_text(const Stats& s, std::string_view client_id, bool up) {
  const std::string id = label(client_id);
  std::string out;
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP robustmq_{} {}\n# TYPE robustmq_{} {}\n", name, help, name, type);
  };
  auto sample = [&](std::string_view name, std::string_view extra, auto value) {
    out += fmt::format("robustmq_{}{{client_id=\"{}\"{}}} {}\n", name, id, extra, value);
  };
  auto one = [&](std::string_view name, std::string_view type, std::string_view help,
                 auto value) {
    metric(name, type, help);
    sample(name, "", value);
  };
  metric("state", "gauge", "Connection state of the client's worker (1 for the current one).");
  static constexpr std::array kStates = {ConnectionState::idle, ConnectionState::connecting,
                                         ConnectionState::connected, ConnectionState::disconnected,
                                         ConnectionState::stopped, ConnectionState::refused};
  for (const auto state : kStates)
    sample("state", fmt::format(",state=\"{}\"", to_string(state)), state == s.state ? 1 : 0);
  one("worker_up", "gauge", "Whether the client's worker process runs.", up ? 1 : 0);
  one("published_total", "counter", "Messages accepted by publish().", s.published);
  one("sent_total", "counter", "Messages handed to the broker, re-sends included.", s.sent);
  one("acknowledged_total", "counter", "Messages the broker acknowledged (QoS 0: written).",
      s.acknowledged);
  one("cached_total", "counter", "Messages written to the disk cache.", s.cached);
  metric("dropped_total", "counter", "Messages dropped unsent, by reason.");
  for (const auto& [reason, n] : {std::pair{"invalid", s.dropped_invalid},
                                  std::pair{"expired", s.dropped_expired},
                                  std::pair{"overflow", s.dropped_overflow}})
    sample("dropped_total", fmt::format(",reason=\"{}\"", reason), n);
  one("refused_total", "counter", "Messages the broker refused for good (MQTT 5).", s.refused);
  one("refused_for_now_total", "counter", "Refusals the worker retried after a backoff.",
      s.refused_for_now);
  one("queue_full_total", "counter", "publish() calls refused with queue_full.", s.queue_full);
  one("connect_attempts_total", "counter", "Connection attempts.", s.connect_attempts);
  one("reconnects_total", "counter", "Connections lost after being established.", s.reconnects);
  one("worker_restarts_total", "counter", "Workers restarted after dying.", s.worker_restarts);
  one("ring_backlog_messages", "gauge", "Messages in shared memory not yet acknowledged or cached.",
      s.ring_backlog);
  one("cache_backlog_messages", "gauge", "Messages in the disk cache.", s.cache_backlog);
  one("cache_backlog_bytes", "gauge", "Bytes of the messages in the disk cache.",
      s.cache_backlog_bytes);
  one("dead_letters", "gauge", "Messages in the dead-letter store.", s.dead_letters);
  one("oldest_age_seconds", "gauge", "Age of the oldest message not yet acknowledged.",
      s.oldest_age.count());
  one("cache_ok", "gauge", "1 while the disk cache takes messages, 0 while it has a problem.",
      s.cache_error.empty() ? 1 : 0);
  return out;
}

}  // namespace robustmq
