// Rules of lib/receipts.hpp: the tracker reports every number above its base once, in order,
// delivered or dropped (a journal range, unknown_through, a lost record); the follower reads a
// real journal (written with journal::Writer) as it grows, is extended, torn, damaged or
// overwritten.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lib/receipts.hpp"
#include "proto/drop_journal.hpp"

namespace fs = std::filesystem;
using namespace robustmq;

namespace {

struct Dir {
  Dir() {
    char tmpl[] = "/tmp/robustmq-receipts-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  fs::path path;
};

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

DroppedRange drop(std::uint64_t first, std::uint64_t last,
                  DropReason reason = DropReason::expired, std::uint8_t code = 0) {
  DroppedRange d;
  d.first = first;
  d.last = last;
  d.reason = reason;
  d.reason_code = code;
  return d;
}

// What each number was reported as: "delivered", or the reason's name; a number reported
// twice fails the test.
struct Fates {
  std::map<std::uint64_t, std::string> of;
  std::uint64_t last = 0;  // the highest number reported
  void take(const std::vector<Receipt>& receipts) {
    for (const Receipt& r : receipts) {
      REQUIRE(r.range.first <= r.range.last);
      // Increasing order, across calls too.
      REQUIRE(r.range.first == last + 1);
      for (std::uint64_t n = r.range.first; n <= r.range.last; ++n) {
        const std::string fate = r.delivered ? "delivered" : std::string(to_string(r.range.reason));
        REQUIRE_MESSAGE(of.emplace(n, fate).second, "number ", n, " reported twice");
      }
      last = r.range.last;
    }
  }
  std::string at(std::uint64_t n) const {
    const auto it = of.find(n);
    return it == of.end() ? "unreported" : it->second;
  }
};

void advance(ReceiptTracker& t, Fates& f, std::uint64_t d, std::uint64_t u = 0) {
  std::vector<Receipt> out;
  t.advance(d, u, kNow, out);
  f.take(out);
}

journal::Record record(std::uint64_t serial, std::uint64_t first, std::uint64_t last,
                       journal::Reason reason = journal::Reason::expired,
                       std::uint8_t code = 0) {
  journal::Record r;
  r.serial = serial;
  r.first = first;
  r.last = last;
  r.time_ns = 1'700'000'000'000'000'000 + static_cast<std::int64_t>(serial);
  r.reason = reason;
  r.code = code;
  return r;
}

journal::Writer open_writer(const fs::path& dir) {
  std::error_code ec;
  std::string what;
  auto w = journal::Writer::open(dir, ec, what);
  REQUIRE_MESSAGE(w.has_value(), what);
  return std::move(*w);
}

// Writes `bytes` over the slot of `serial`, as a writer killed mid-write would leave it.
void scribble(const fs::path& dir, std::uint64_t serial, unsigned char byte) {
  const int fd = ::open(journal::file_path(dir).c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  unsigned char garbage[journal::kRecordBytes];
  for (auto& b : garbage) b = byte;
  const auto offset = static_cast<off_t>((serial % journal::kSlots) * journal::kRecordBytes);
  CHECK(::pwrite(fd, garbage, sizeof garbage, offset) == static_cast<ssize_t>(sizeof garbage));
  ::close(fd);
}

// An empty journal, a follower that started on it and a tracker from 0.
struct NewJournal {
  NewJournal() { j.start(dir.path, 1, 0, t); }
  Dir dir;
  journal::Writer w = open_writer(dir.path);
  ReceiptTracker t{0};
  Fates seen;  // (not f: doctest's fixture runs a member of that name)
  JournalFollower j;
};

}  // namespace

TEST_CASE("every number above the base is reported once, in order, and delivered ones are "
          "coalesced") {
  ReceiptTracker t(10);
  Fates f;
  f.last = 10;
  advance(t, f, 5);  // below the base: nothing
  CHECK(f.of.empty());
  std::vector<Receipt> out;
  t.advance(20, 0, kNow, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].delivered);
  CHECK(out[0].range.first == 11);
  CHECK(out[0].range.last == 20);
  f.take(out);
  advance(t, f, 20);  // no move: nothing
  advance(t, f, 21);
  CHECK(f.at(21) == "delivered");
  CHECK(f.of.size() == 11);
  CHECK(t.reported_through() == 21);
}

TEST_CASE("a drop range is reported in its place among delivered numbers, with its reason, "
          "code and time") {
  ReceiptTracker t(0);
  auto refused = drop(4, 6, DropReason::refused, 0x87);
  refused.time = kNow - std::chrono::seconds(5);
  t.add(refused);
  std::vector<Receipt> out;
  t.advance(9, 0, kNow, out);
  REQUIRE(out.size() == 3);
  CHECK((out[0].delivered && out[0].range.first == 1 && out[0].range.last == 3));
  CHECK_FALSE(out[1].delivered);
  CHECK(out[1].range.first == 4);
  CHECK(out[1].range.last == 6);
  CHECK(out[1].range.reason == DropReason::refused);
  CHECK(out[1].range.reason_code == 0x87);
  CHECK(out[1].range.time == refused.time);
  CHECK((out[2].delivered && out[2].range.first == 7 && out[2].range.last == 9));
}

TEST_CASE("drop ranges above delivered_through wait until it passes them, a range it stops "
          "inside is reported in two parts") {
  ReceiptTracker t(0);
  Fates f;
  t.add(drop(8, 12, DropReason::overflow));
  t.add(drop(20, 20));
  advance(t, f, 5);
  CHECK(f.last == 5);
  CHECK(t.pending_ranges() == 2);
  advance(t, f, 10);
  CHECK(f.at(7) == "delivered");
  CHECK(f.at(8) == "overflow");
  CHECK(f.at(10) == "overflow");
  advance(t, f, 25);
  CHECK(f.at(11) == "overflow");
  CHECK(f.at(12) == "overflow");
  CHECK(f.at(13) == "delivered");
  CHECK(f.at(20) == "expired");
  CHECK(f.at(21) == "delivered");
  CHECK(f.of.size() == 25);
  CHECK(t.pending_ranges() == 0);
}

TEST_CASE("overlapping ranges: the first one added wins, the rest is clipped; numbers already "
          "reported are never reported again") {
  ReceiptTracker t(0);
  Fates f;
  t.add(drop(5, 10, DropReason::expired));
  t.add(drop(1, 20, DropReason::overflow));  // around it: 1-4 and 11-20
  t.add(drop(7, 8, DropReason::damaged));    // inside: nothing
  t.add(drop(5, 10, DropReason::expired));   // the same again (a record read twice): nothing
  advance(t, f, 30);
  for (std::uint64_t n = 1; n <= 4; ++n) CHECK(f.at(n) == "overflow");
  for (std::uint64_t n = 5; n <= 10; ++n) CHECK(f.at(n) == "expired");
  for (std::uint64_t n = 11; n <= 20; ++n) CHECK(f.at(n) == "overflow");
  for (std::uint64_t n = 21; n <= 30; ++n) CHECK(f.at(n) == "delivered");
  // A range read late, over reported numbers: only its numbers above 30 count.
  t.add(drop(25, 32, DropReason::damaged));
  advance(t, f, 35);
  CHECK(f.at(25) == "delivered");
  CHECK(f.at(31) == "damaged");
  CHECK(f.at(32) == "damaged");
  CHECK(f.at(33) == "delivered");
  CHECK(f.of.size() == 35);
}

TEST_CASE("numbers up to unknown_through that no range names are dropped as unknown") {
  ReceiptTracker t(0);
  Fates f;
  t.add(drop(3, 4));
  std::vector<Receipt> out;
  t.advance(10, 6, kNow, out);
  f.take(out);
  CHECK(f.at(1) == "unknown");
  CHECK(f.at(2) == "unknown");
  CHECK(f.at(3) == "expired");
  CHECK(f.at(5) == "unknown");
  CHECK(f.at(6) == "unknown");
  CHECK(f.at(7) == "delivered");
  CHECK(out.front().range.time == kNow);
}

TEST_CASE("lost(): numbers up to its bound that no range names are unknown, later ones not") {
  ReceiptTracker t(0);
  Fates f;
  advance(t, f, 3);
  t.add(drop(6, 6));
  t.lost(8);
  advance(t, f, 12);
  CHECK(f.at(3) == "delivered");
  CHECK(f.at(4) == "unknown");
  CHECK(f.at(6) == "expired");
  CHECK(f.at(8) == "unknown");
  CHECK(f.at(9) == "delivered");
}

// --- the follower, against a journal file ---

TEST_CASE("the follower reads records as the journal grows, and a record extended in place") {
  Dir dir;
  auto w = open_writer(dir.path);
  REQUIRE(w.write(record(1, 2, 3)));    // earlier life, at or below the base: left out
  REQUIRE(w.write(record(2, 5, 6)));
  ReceiptTracker t(4);
  Fates f;
  f.last = 4;
  JournalFollower j;
  j.start(dir.path, 3, 4, t);
  CHECK(t.pending_ranges() == 1);
  CHECK(j.follow(3, 100, t));
  advance(t, f, 7);
  CHECK(f.at(5) == "expired");
  CHECK(f.at(7) == "delivered");
  // Growth: a new record, then the newest one extended while delivered_through lags.
  REQUIRE(w.write(record(3, 9, 9, journal::Reason::overflow)));
  CHECK(j.follow(4, 100, t));
  advance(t, f, 9);
  CHECK(f.at(9) == "overflow");
  REQUIRE(w.write(record(3, 9, 11, journal::Reason::overflow)));
  CHECK(j.follow(4, 100, t));
  advance(t, f, 12);
  CHECK(f.at(10) == "overflow");
  CHECK(f.at(11) == "overflow");
  CHECK(f.at(12) == "delivered");
}

TEST_CASE_FIXTURE(NewJournal, "a torn record is read again and accepted once whole") {
  REQUIRE(w.write(record(1, 2, 2)));
  scribble(dir.path, 1, 0xa5);  // torn while the worker rewrites it
  CHECK_FALSE(j.follow(2, 100, t));
  CHECK_FALSE(j.follow(2, 100, t));
  REQUIRE(w.write(record(1, 2, 4, journal::Reason::damaged)));
  CHECK(j.follow(2, 100, t));
  advance(t, seen, 5);
  CHECK(seen.at(1) == "delivered");
  for (std::uint64_t n = 2; n <= 4; ++n) CHECK(seen.at(n) == "damaged");
  CHECK(seen.at(5) == "delivered");
}

TEST_CASE_FIXTURE(NewJournal, "a record damaged for good is given up after the retries: its numbers are unknown") {
  REQUIRE(w.write(record(1, 3, 4)));
  REQUIRE(w.write(record(2, 7, 7, journal::Reason::overflow)));
  scribble(dir.path, 1, 0x01);
  int passes = 0;
  while (!j.follow(3, 5, t)) ++passes;
  CHECK(passes == JournalFollower::kMaxRetries - 1);
  advance(t, seen, 8);
  for (std::uint64_t n = 1; n <= 5; ++n) CHECK(seen.at(n) == "unknown");
  CHECK(seen.at(6) == "delivered");
  CHECK(seen.at(7) == "overflow");  // the next record is read all the same
  CHECK(seen.at(8) == "delivered");
}

TEST_CASE_FIXTURE(NewJournal, "records overwritten before they were read are lost: their numbers are unknown") {
  REQUIRE(w.write(record(1, 1, 1)));
  CHECK(j.follow(2, 1, t));
  // More than the journal holds between two passes: one drop every other number.
  const std::uint64_t n = journal::kSlots + 100;
  for (std::uint64_t s = 2; s <= n; ++s) REQUIRE(w.write(record(s, 2 * s, 2 * s)));
  const std::uint64_t top = 2 * n + 1;
  CHECK(j.follow(n + 1, top, t));
  advance(t, seen, top);
  CHECK(seen.at(1) == "expired");
  CHECK(seen.at(3) == "unknown");  // below the first record still there: fate unknown
  CHECK(seen.at(4) == "unknown");
  CHECK(seen.at(2 * n) == "expired");  // kept records are still read
  CHECK(seen.at(2 * n - 1) == "unknown");
  CHECK(seen.of.size() == top);
  advance(t, seen, top + 1);  // above the bound of the lost records
  CHECK(seen.at(top + 1) == "delivered");
}

TEST_CASE("without a journal file only unknown_through counts; a journal made later is read "
          "from its first record") {
  Dir dir;
  ReceiptTracker t(0);
  Fates f;
  JournalFollower j;
  j.start(dir.path, 0, 0, t);
  CHECK(j.follow(0, 10, t));
  std::vector<Receipt> out;
  t.advance(4, 2, kNow, out);
  f.take(out);
  CHECK(f.at(2) == "unknown");
  CHECK(f.at(3) == "delivered");
  auto w = open_writer(dir.path);
  REQUIRE(w.write(record(1, 5, 6, journal::Reason::refused, 0x87)));
  CHECK(j.follow(2, 10, t));
  advance(t, f, 7);
  CHECK(f.at(5) == "refused");
  CHECK(f.at(7) == "delivered");
}

TEST_CASE("records in the journal are mapped to DroppedRange with their time") {
  const auto d = to_dropped_range(record(7, 10, 12, journal::Reason::refused, 0x97));
  CHECK(d.first == 10);
  CHECK(d.last == 12);
  CHECK(d.reason == DropReason::refused);
  CHECK(d.reason_code == 0x97);
  CHECK(std::chrono::duration_cast<std::chrono::nanoseconds>(d.time.time_since_epoch()).count() ==
        1'700'000'000'000'000'007);
}
