// Every way a message leaves the worker undelivered goes through Drops: expired (message_ttl),
// overflow (max_cache_bytes, drop_oldest), damaged (a record that fails validation, a damaged
// stretch of the ring, a large message whose file is missing or truncated) and refused (the
// broker refused it for good: MQTT 5 reason code >= 0x80). It counts the drop by reason in the
// status block, logs expired drops at most every 5 s, deletes a large message's file
// (LargeFiles::release()): a new drop path cannot forget the file, since it cannot drop
// without passing the message. And it records the dropped sequence numbers in the drop journal
// (proto/drop_journal.hpp), as ranges with their reason, for the client's events and for
// later lives of the application.
//
// Journal rules (the contract with the client's event thread, lib/receipts.hpp):
//   - Drops come one at a time; contiguous drops of one reason and code extend one pending
//     record. commit() writes it and then publishes StatusBlock::drop_next; it runs before
//     delivered_through moves (DeliveryGate), before the ring's tail moves past a dropped
//     record and before the cache removes one, so that no crash leaves a number delivered_through
//     covers without its record. The newest record may be rewritten in place, extended.
//   - A number that cannot be recorded (no journal, a failed write, a drop whose number is not
//     known or not believable) raises StatusBlock::unknown_through instead: its fate is then
//     reported unknown rather than delivered.
//   - Writing a record overwrites the one 4,096 serials older; if its numbers are not yet
//     delivered, a later life may not have read it: they become unknown too.
//   - Written without fsync (the page cache keeps it through any process crash), except by
//     make_durable(): before the cache commits the removal of dropped messages when
//     cache_sync is on, and at the worker's end.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/drop_journal.hpp"

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

using DropReason = journal::Reason;

// MQTT 5 PUBACK/PUBREC reason codes >= 0x80 that mean "not now" rather than "never": the
// message is sent again after a backoff, in its place in the order (Loop::hold_after_refusal()).
// Every other refusal is for good. README "MQTT 5 refusals" has the table.
constexpr bool refusal_is_temporary(int code) noexcept {
  return code == 0x89     // Server busy
         || code == 0x91  // Packet Identifier in use
         || code == 0x97; // Quota exceeded
}

class Drops final : public DeliveryGate {
 public:
  // Opens the drop journal of `cache_dir` (none when empty: every drop is then unknown).
  Drops(Report& report, LargeFiles& large, std::chrono::seconds ttl, const TimeSource& time,
        const std::string& cache_dir);

  // Counts one message dropped for `reason` and records `seq` (0: not known); `large` says
  // `payload` is a large-message reference, whose file is deleted. `numbered`: false when the
  // message's number may not be its own (a cache whose numbers may overlap the new ones,
  // ControlLine::seq_unknown 2): it is then neither recorded nor reported unknown.
  void drop(DropReason reason, bool large, std::string_view payload, std::uint64_t seq,
            bool numbered = true);
  // Records `seq` as dropped for `reason` without counting it: before a removal from the cache
  // that drop() then counts (with numbered false).
  void note(DropReason reason, std::uint64_t seq, bool numbered) {
    if (numbered) record(reason, seq, seq, 0);
  }
  // Records first..last as numbers whose fate is unknown (no message is counted): those between
  // the cache's last and a new segment's first after a reboot.
  void unknown_range(std::uint64_t first, std::uint64_t last) {
    record(DropReason::unknown, first, last, 0);
  }
  // A refusal for good: counted in `refused` and recorded with the broker's reason code.
  void refused_for_good(std::uint64_t seq, std::uint8_t code, bool numbered);
  // A damaged stretch of the ring: every message numbered up to `last` that was not read
  // before it (Drops::ring_read()) is lost. Counted as one damaged record.
  void drop_stretch(std::uint64_t last);
  // The highest number read from an intact ring record so far.
  void ring_read(std::uint64_t seq) noexcept {
    if (seq > ring_read_) ring_read_ = seq;
  }
  // Every number up to `seq` not in the journal has an unknown fate.
  void unknown_through(std::uint64_t seq) noexcept;

  // Writes the pending record (see the rules above).
  void commit();
  // commit(), then fdatasync if anything was written since the last one.
  void make_durable();
  void before_delivered() noexcept override { commit(); }

  // Whether the journal was found whole when this worker opened it (journal::Writer).
  bool journal_found_whole() const noexcept { return journal_ && journal_->found_whole(); }

  // The message published at enqueue_ns (CLOCK_REALTIME) is older than message_ttl.
  bool expired(std::int64_t enqueue_ns) const;
  // Logs the expired drops not yet logged, at most every 5 s (and sets last_error).
  void log_expired(Clock::time_point now);
  // The broker refused a message: last_error at once, the log at most every 5 s with a count.
  void refused(const std::string& why, Clock::time_point now);

 private:
  // Records first..last as dropped for `reason`, or raises unknown_through when it cannot.
  void record(DropReason reason, std::uint64_t first, std::uint64_t last, std::uint8_t code);
  void journal_failed(const std::string& what);

  Report& report_;
  LargeFiles& large_;
  const std::chrono::seconds ttl_;
  const TimeSource& time_;
  std::optional<journal::Writer> journal_;
  std::optional<journal::Record> open_;  // the newest record: pending while dirty_
  bool open_written_ = false;            // open_ was written at least once
  bool dirty_ = false;
  bool synced_ = true;
  bool failure_shown_ = false;
  std::uint64_t ring_read_ = 0;
  std::uint64_t expired_unlogged_ = 0;
  Clock::time_point expired_logged_at_{};
  std::uint64_t refused_unlogged_ = 0;
  Clock::time_point refused_logged_at_{};
};

}  // namespace robustmq::worker
