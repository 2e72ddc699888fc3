// The worker's side of the dead-letter store (worker/cache/dead_store.hpp has the format and
// the rules; README "Dead letters" the user's side). The loop hands it every message the broker
// refused for good, before the message retires (Loop::keep_dead_letter()), and moves the store
// back into the disk cache when the application asks (Loop::serve_resend()).
//
// Bound: WorkerConfig::dead_letter_bytes of topic + payload bytes (each record's 16-byte header
// included). Keeping a message beyond it first removes the oldest dead letters (logged; their
// refusal stays in the drop journal); a message larger than the bound by itself is not kept.
// 0: nothing is kept, refusals are only recorded in the journal (a store left from before can
// still be listed and re-sent).
//
// The store is opened at start when it exists (stats().dead_letters counts it), else at the
// first message kept. A store that cannot be opened or written costs the message it was to
// keep (logged, last_error), never a later one: the message retires anyway, its refusal in the
// journal, and the next keep() opens the store again. Keeping one message costs the loop one
// append (an fdatasync with cache_sync): refusals for good are rare, and each is one already.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "proto/record_format.hpp"
#include "proto/worker_config.hpp"
#include "worker/cache/cache.hpp"
#include "worker/clock.hpp"
#include "worker/report.hpp"
#include "worker/spooler.hpp"

namespace robustmq::worker {

class DeadLetters {
 public:
  DeadLetters(const WorkerConfig& config, Report& report, const TimeSource& time);

  // Whether refused messages are kept at all (dead_letter_bytes > 0).
  bool enabled() const noexcept { return config_.dead_letter_bytes > 0; }
  // Keeps `m`, refused with `code`; its payload is the message's contents (a large message's
  // file, mapped), never a reference. False: not kept (logged, last_error).
  bool keep(const record::MessageView& m, std::uint8_t code);
  // Moves the dead letters, oldest first, behind the disk cache's backlog (Spooler::
  // append_resent()), each batch committed there before it is removed here: a crash in between
  // sends a batch twice, never loses one. Adds the number moved to `moved`. True when done: the
  // store is empty, or it cannot be read (logged, last_error); false when the disk cache
  // refused a batch (what was moved stays moved; the rest waits for the next call).
  bool resend(Spooler& spooler, std::uint64_t& moved);

 private:
  // `purpose` starts the error message.
  bool open(bool create, const std::string& purpose);
  // Removes the oldest dead letters until `incoming` more bytes fit the bound.
  void make_room(std::uint64_t incoming);
  void failed(const std::string& what);
  void publish_count();

  const WorkerConfig& config_;
  Report& report_;
  const TimeSource& time_;
  std::uint64_t trimmed_unlogged_ = 0;  // removed to keep the bound, not yet logged
  Clock::time_point trimmed_logged_at_{};
  std::unique_ptr<cache::Cache> store_;
};

}  // namespace robustmq::worker
