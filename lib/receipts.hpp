// Receipts: turning what the worker publishes in the status block (delivered_through,
// unknown_through, drop_next) and the drop journal (proto/drop_journal.hpp) into the events of
// RobustClient's handlers: every sequence number above a base reported once, in increasing order,
// delivered or dropped with its reason. Pure logic over a journal Reader; the event thread
// (events.cpp) drives it, the unit tests drive it without processes.
//
// The worker's contract (proto/segment_layout.hpp, at StatusBlock):
//   - every number a journal record names was dropped; the record is written (pwrite) and
//     drop_next stored (release) before delivered_through passes any of its numbers; the newest
//     record may later be rewritten in place with a larger `last`;
//   - delivered_through D: every number up to D was delivered or dropped;
//   - unknown_through U: numbers up to U that no record names had an unknown fate; stored
//     before D passes it.
// So a pass that loads D (acquire) first, then U and drop_next (acquire), then reads the journal,
// sees every record that names a number <= D: the numbers up to D not named are delivered, or
// unknown up to U.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "proto/drop_journal.hpp"
#include "robustmq/client.hpp"

namespace robustmq {

// One event: `range.first..range.last` delivered (delivered true; the other fields of range
// unused) or dropped for range.reason.
struct Receipt {
  bool delivered = false;
  DroppedRange range;
};

DroppedRange to_dropped_range(const journal::Record& r);

class ReceiptTracker {
 public:
  // Numbers up to `base` belong to earlier lives or to the time before the handlers: never
  // reported.
  explicit ReceiptTracker(std::uint64_t base) noexcept : reported_through_(base) {}

  // A drop range as read from the journal. Numbers already reported, or named by a range added
  // earlier, are clipped off (the first one read wins: a record read again after it was
  // extended adds only its new numbers).
  void add(const DroppedRange& range);
  // A journal record could not be read (overwritten before it was read, or damaged for good):
  // its numbers are at most `through`. Every number up to it that no range names is reported
  // dropped with DropReason::unknown.
  void lost(std::uint64_t through) noexcept;
  // Reports every number in (reported_through(), delivered_through] into `out`, in increasing
  // order: a range's numbers as dropped, then numbers up to max(unknown_through, lost bound)
  // as unknown (dropped at `now`), the rest as delivered, consecutive ones in one Receipt.
  // Ranges above delivered_through wait for a later call.
  void advance(std::uint64_t delivered_through, std::uint64_t unknown_through,
               std::chrono::system_clock::time_point now, std::vector<Receipt>& out);

  std::uint64_t reported_through() const noexcept { return reported_through_; }
  std::size_t pending_ranges() const noexcept { return ranges_.size(); }

 private:
  // Numbers a..b, none named by a range: unknown up to unknown, else delivered.
  void gap(std::uint64_t a, std::uint64_t b, std::uint64_t unknown,
           std::chrono::system_clock::time_point now, std::vector<Receipt>& out) const;

  std::uint64_t reported_through_;
  std::uint64_t lost_through_ = 0;
  std::map<std::uint64_t, DroppedRange> ranges_;  // by first; disjoint, above reported_through_
};

// Follows the drop journal of one cache directory into a ReceiptTracker.
class JournalFollower {
 public:
  // Passes a record may read damaged (torn while the worker rewrites it) or empty before it is
  // given up as lost; the event thread retries 1 ms apart.
  static constexpr int kMaxRetries = 100;

  // Opens the journal and adds every intact record naming a number above `base`, oldest
  // first. drop_next: StatusBlock::drop_next, loaded before. No journal (none yet, or none
  // readable): later passes try again once drop_next says there is one.
  void start(const std::filesystem::path& cache_dir, std::uint64_t drop_next, std::uint64_t base,
             ReceiptTracker& tracker);
  // Reads the records from the newest one read before (it may have been extended) up to
  // drop_next - 1 into `tracker`; a record that cannot be read makes tracker.lost(through),
  // with `through` the highest number any record could name. False: a record read damaged or
  // empty is retried at the next pass, and the tracker must not advance until then.
  bool follow(std::uint64_t drop_next, std::uint64_t through, ReceiptTracker& tracker);

 private:
  std::filesystem::path dir_;
  std::optional<journal::Reader> reader_;
  std::uint64_t next_ = 0;  // the first serial the next pass reads (0: none read yet)
  int retries_ = 0;         // failed reads of serial next_
};

}  // namespace robustmq
