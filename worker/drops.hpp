// Every way a message leaves the worker without being acknowledged goes through Drops::drop():
// expired (message_ttl), overflow (max_cache_bytes, drop_oldest), damaged (a record that fails
// validation, a large message whose file is missing or truncated). It counts the drop by reason
// in the status block, logs expired drops at most every 5 s, and deletes a large message's file
// (LargeFiles::release()): a new drop path cannot forget the file, since it cannot drop
// without passing the message.
//
// A message the broker refuses (MQTT 5 reason code >= 0x80) is not dropped here: it reached the
// broker, retires in order like an acknowledged one (its file goes with it, LargeFiles::
// retired()), and refused() reports it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/validate.hpp"
#include "worker/clock.hpp"
#include "worker/large_file.hpp"
#include "worker/report.hpp"
#include "worker/window.hpp"

namespace robustmq::worker {

// A record the worker may hand to the broker: the worker re-validates every record it reads
// (the ring and the cache are outside its control).
inline bool sendable(std::string_view topic, int qos) {
  return !validate_topic(topic) && !validate_qos(qos);
}

enum class DropReason : std::uint8_t { expired, overflow, damaged };

class Drops {
 public:
  Drops(Report& report, LargeFiles& large, std::chrono::seconds ttl,
        const TimeSource& time) noexcept
      : report_(report), large_(large), ttl_(ttl), time_(time) {}

  // Counts `n` messages dropped for `reason`; `large` says `payload` is a large-message
  // reference, whose file is deleted.
  void drop(DropReason reason, bool large, std::string_view payload, std::uint64_t n = 1);

  // The message published at enqueue_ns (CLOCK_REALTIME) is older than message_ttl.
  bool expired(std::int64_t enqueue_ns) const;
  // Logs the expired drops not yet logged, at most every 5 s (and sets last_error).
  void log_expired(Clock::time_point now);
  // The broker refused a message: last_error at once, the log at most every 5 s with a count.
  void refused(const std::string& why, Clock::time_point now);

 private:
  Report& report_;
  LargeFiles& large_;
  const std::chrono::seconds ttl_;
  const TimeSource& time_;
  std::uint64_t expired_unlogged_ = 0;
  Clock::time_point expired_logged_at_{};
  std::uint64_t refused_unlogged_ = 0;
  Clock::time_point refused_logged_at_{};
};

}  // namespace robustmq::worker
