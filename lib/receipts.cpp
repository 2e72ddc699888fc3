#include "lib/receipts.hpp"

#include <algorithm>
#include <iterator>
#include <system_error>

namespace robustmq {

// The journal stores robustmq::DropReason by number.
static_assert(static_cast<int>(journal::Reason::expired) == static_cast<int>(DropReason::expired));
static_assert(static_cast<int>(journal::Reason::overflow) ==
              static_cast<int>(DropReason::overflow));
static_assert(static_cast<int>(journal::Reason::damaged) == static_cast<int>(DropReason::damaged));
static_assert(static_cast<int>(journal::Reason::refused) == static_cast<int>(DropReason::refused));
static_assert(static_cast<int>(journal::Reason::unknown) == static_cast<int>(DropReason::unknown));

// Here rather than in client.cpp: the unit test of this file links it without the library.
std::string_view to_string(DropReason r) noexcept {
  switch (r) {
    case DropReason::expired: return "expired";
    case DropReason::overflow: return "overflow";
    case DropReason::damaged: return "damaged";
    case DropReason::refused: return "refused";
    case DropReason::unknown: return "unknown";
  }
  return "unknown";
}

DroppedRange to_dropped_range(const journal::Record& r) {
  DroppedRange d;
  d.first = r.first;
  d.last = r.last;
  d.reason = static_cast<DropReason>(r.reason);
  d.reason_code = r.code;
  d.time = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(r.time_ns)));
  return d;
}

// --- ReceiptTracker ---

void ReceiptTracker::add(const DroppedRange& range) {
  if (range.last < range.first || range.last <= reported_through_) return;
  std::uint64_t lo = std::max(range.first, reported_through_ + 1);
  // Walks the pieces of [lo, range.last] that no range added earlier names.
  while (lo <= range.last) {
    const auto next = ranges_.upper_bound(lo);  // the first range that starts above lo
    if (next != ranges_.begin()) {
      const auto& prev = std::prev(next)->second;
      if (prev.last >= lo) {  // lo is named already: skip to the end of that range
        if (prev.last >= range.last) return;
        lo = prev.last + 1;
        continue;
      }
    }
    const std::uint64_t hi =
        next == ranges_.end() || next->first > range.last ? range.last : next->first - 1;
    DroppedRange piece = range;
    piece.first = lo;
    piece.last = hi;
    ranges_.emplace(lo, piece);
    if (hi == range.last) return;
    lo = hi + 1;
  }
}

void ReceiptTracker::lost(std::uint64_t through) noexcept {
  lost_through_ = std::max(lost_through_, through);
}

void ReceiptTracker::gap(std::uint64_t a, std::uint64_t b, std::uint64_t unknown,
                         std::chrono::system_clock::time_point now,
                         std::vector<Receipt>& out) const {
  if (a > b) return;
  if (a <= unknown) {
    Receipt r;
    r.range.first = a;
    r.range.last = std::min(b, unknown);
    r.range.reason = DropReason::unknown;
    r.range.time = now;
    out.push_back(r);
    if (b <= unknown) return;
    a = unknown + 1;
  }
  Receipt r;
  r.delivered = true;
  r.range.first = a;
  r.range.last = b;
  out.push_back(r);
}

void ReceiptTracker::advance(std::uint64_t delivered_through, std::uint64_t unknown_through,
                             std::chrono::system_clock::time_point now,
                             std::vector<Receipt>& out) {
  if (delivered_through <= reported_through_) return;
  const std::uint64_t unknown = std::max(unknown_through, lost_through_);
  std::uint64_t cursor = reported_through_ + 1;
  while (!ranges_.empty() && ranges_.begin()->first <= delivered_through) {
    auto it = ranges_.begin();
    DroppedRange range = it->second;
    ranges_.erase(it);
    gap(cursor, range.first - 1, unknown, now, out);
    if (range.last > delivered_through) {
      // The rest waits until delivered_through passes it.
      DroppedRange rest = range;
      rest.first = delivered_through + 1;
      ranges_.emplace(rest.first, rest);
      range.last = delivered_through;
    }
    out.push_back(Receipt{false, range});
    cursor = range.last + 1;
  }
  // (Delivered pieces are never adjacent: a range, never empty, or unknown numbers lie between.)
  if (cursor <= delivered_through) gap(cursor, delivered_through, unknown, now, out);
  reported_through_ = delivered_through;
}

// --- JournalFollower ---

void JournalFollower::start(const std::filesystem::path& cache_dir, std::uint64_t drop_next,
                            std::uint64_t base, ReceiptTracker& tracker) {
  dir_ = cache_dir;
  next_ = drop_next > 0 ? drop_next - 1 : 0;
  std::error_code ec;
  reader_ = journal::Reader::open(dir_, ec);
  if (!reader_) return;
  for (const journal::Record& r : reader_->all()) {
    if (r.last > base) tracker.add(to_dropped_range(r));
    next_ = std::max(next_, r.serial);
  }
}

bool JournalFollower::follow(std::uint64_t drop_next, std::uint64_t through,
                             ReceiptTracker& tracker) {
  if (drop_next == 0) return true;  // this worker keeps no journal: unknown_through says all
  if (!reader_) {
    std::error_code ec;
    reader_ = journal::Reader::open(dir_, ec);
    if (!reader_) {
      // The worker wrote records this process cannot read.
      tracker.lost(through);
      next_ = drop_next;
      retries_ = 0;
      return true;
    }
  }
  // Serials went back: the journal was made anew (deleted or moved away, or damaged beyond the
  // writer's repair). The new file is read from the start (the tracker clips what it reported).
  if (drop_next < next_) {
    next_ = 0;
    std::error_code ec;
    if (auto reopened = journal::Reader::open(dir_, ec)) reader_ = std::move(reopened);
  }
  std::uint64_t s = next_ == 0 ? 1 : next_;
  if (drop_next > journal::kSlots && s < drop_next - journal::kSlots) {
    tracker.lost(through);  // overwritten before this client read them
    s = drop_next - journal::kSlots;
  }
  for (; s < drop_next; ++s) {
    journal::Record r;
    switch (reader_->read(s, r)) {
      case journal::Reader::Slot::intact:
        tracker.add(to_dropped_range(r));
        retries_ = 0;
        next_ = s;  // read again next time: the newest record may grow
        continue;
      case journal::Reader::Slot::damaged:
      case journal::Reader::Slot::empty:
        // Torn by a rewrite in progress (or, below drop_next, not yet visible): again later.
        if (++retries_ < kMaxRetries) {
          next_ = s;
          return false;
        }
        break;
      case journal::Reader::Slot::overwritten:
      case journal::Reader::Slot::unreadable:
        break;
    }
    tracker.lost(through);
    retries_ = 0;
    next_ = s + 1;
  }
  return true;
}

}  // namespace robustmq
