// RobustMQ: the state of a client's connection and its figures, RobustClient::stats() (also
// what robustmq-stat and Options::metrics_file show from outside the application). Included by
// client.hpp; include that one.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <robustmq/errc.hpp>

namespace robustmq {

// The worker's connection to the broker. Values are only ever appended (the C API and the
// shared segment carry them by number).
enum class ConnectionState : std::uint8_t {
  idle,
  connecting,
  connected,
  disconnected,  // the last attempt failed or the connection was lost: retried with backoff
  stopped,
  // The broker (or its certificate) refused the connection for a reason that retrying does not
  // cure by itself: bad user name or password, not authorized, banned, a certificate that does
  // not verify (README "What happens when"). Retried every reconnect_max; messages stay cached.
  refused,
};

struct Stats {
  ConnectionState state = ConnectionState::idle;
  std::uint64_t published = 0;        // accepted by publish()
  std::uint64_t sent = 0;             // handed to the broker (including re-sends)
  std::uint64_t acknowledged = 0;     // acknowledged with success (QoS 0: written)
  // Refused by the broker for good (MQTT 5 reason code >= 0x80 that is not retried), reported
  // to the dropped handler with the code. Not counted in acknowledged.
  std::uint64_t refused = 0;
  // Refusals that mean "not now" (MQTT 5 0x89 server busy, 0x91 packet identifier in use,
  // 0x97 quota exceeded): the message and those after it were sent again after a backoff.
  std::uint64_t refused_for_now = 0;
  // Messages in the dead-letter store now (refused for good and kept: README "Dead letters").
  std::uint64_t dead_letters = 0;
  std::uint64_t cached = 0;           // written to the disk cache
  std::uint64_t dropped_invalid = 0;  // records the worker found damaged and skipped
  std::uint64_t dropped_expired = 0;  // older than Options::message_ttl
  std::uint64_t dropped_overflow = 0; // dropped to keep the cache within max_cache_bytes
  std::uint64_t queue_full = 0;       // publish() calls refused with errc::queue_full
  std::uint64_t connect_attempts = 0;
  std::uint64_t reconnects = 0;       // connections lost after being established
  std::uint64_t worker_restarts = 0;
  std::uint64_t ring_backlog = 0;     // messages in the ring not yet acknowledged or cached
  std::uint64_t cache_backlog = 0;    // messages in the disk cache
  std::uint64_t cache_backlog_bytes = 0;
  std::chrono::seconds oldest_age{0};  // age of the oldest message not yet acknowledged
  int worker_pid = 0;
  std::uint64_t worker_wakeups = 0;  // times the worker woke from its wait for work (0 when idle)
  // connect_async() took over from the worker of an earlier life (an orphan still delivering):
  // its pid; 0: there was none.
  int took_over_from = 0;
  // Messages an earlier life left undelivered (ring and cache), counted when connect_async()
  // returned; they are sent before this client's.
  std::uint64_t carried_over = 0;
  // Messages this client left to its worker at stop(StopMode::hand_off); 0 before.
  std::uint64_t handed_off = 0;
  std::string last_error;             // empty if none
  std::chrono::system_clock::time_point last_error_time{};
  std::string cache_error;  // what keeps the disk cache from taking messages now; empty: nothing
  // The broker URI the worker is connected to, or while connecting is trying (with its port,
  // e.g. "tcp://10.0.0.7:1883"); empty before the first attempt.
  std::string server;
};

ROBUSTMQ_EXPORT std::string_view to_string(ConnectionState s) noexcept;

}  // namespace robustmq
