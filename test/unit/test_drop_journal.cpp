// Rules of the drop journal (proto/drop_journal.hpp): the 48-byte record and its check, the ring
// of kSlots records in <cache>/robustmq.drops, what the writer finds when it opens a journal
// (new, cut short, too long, damaged) and what a reader refuses to open.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "printers.hpp"
#include "proto/drop_journal.hpp"

namespace fs = std::filesystem;
using namespace robustmq;
using namespace robustmq::journal;

namespace {

// A cache directory of its own, removed with everything in it.
struct CacheDir {
  CacheDir() {
    char tmpl[] = "/tmp/robustmq-drops-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~CacheDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  CacheDir(const CacheDir&) = delete;
  CacheDir& operator=(const CacheDir&) = delete;
  fs::path file() const { return file_path(path); }
  fs::path path;
};

Record rec(std::uint64_t serial, std::uint64_t first, std::uint64_t last,
           Reason reason = Reason::expired, std::uint8_t code = 0) {
  return Record{serial, first, last, 1'796'536'267'000'000'000 + static_cast<std::int64_t>(serial),
                reason, code};
}

// Record number n of a journal written by write_records(): 100 numbers each.
Record nth(std::uint64_t n) { return rec(n, n * 100, n * 100 + 99); }

Writer open_writer(const CacheDir& d) {
  std::error_code ec;
  std::string what;
  auto w = Writer::open(d.path, ec, what);
  INFO(what);
  REQUIRE(w);
  REQUIRE_FALSE(ec);
  return std::move(*w);
}

Reader open_reader(const CacheDir& d) {
  std::error_code ec;
  auto r = Reader::open(d.path, ec);
  INFO(ec);
  REQUIRE(r);
  return std::move(*r);
}

void write_records(Writer& w, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t n = from; n <= to; ++n) REQUIRE(w.write(nth(n)));
}

// The check of drop_journal.cpp, recomputed: a record changed on purpose and resealed reaches
// decode()'s other rules.
void reseal(unsigned char (&b)[kRecordBytes]) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < 40; ++i) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  std::memcpy(b + 40, &h, sizeof h);
}

// Writes `bytes` over the journal's slot `slot`, as damage on the disk or another writer would.
void poke(const CacheDir& d, std::size_t slot, const unsigned char (&bytes)[kRecordBytes]) {
  const int fd = ::open(d.file().c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  CHECK(::pwrite(fd, bytes, kRecordBytes, static_cast<off_t>(slot * kRecordBytes)) ==
        static_cast<ssize_t>(kRecordBytes));
  ::close(fd);
}

std::uintmax_t size_of(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  REQUIRE_FALSE(ec);
  return n;
}

// Reader::open's error for the directory's journal as it is (and no reader).
std::error_code open_error(const CacheDir& d) {
  std::error_code ec;
  const auto r = Reader::open(d.path, ec);
  CHECK_FALSE(r);
  return ec;
}

void on_alarm(int) {}

}  // namespace

TEST_CASE("a record decodes to what was encoded, for every reason and the extreme values") {
  const Record cases[] = {
      rec(1, 1, 1),
      rec(2, 5, 1'000'005, Reason::overflow),
      rec(3, 7, 7, Reason::damaged),
      rec(4, 8, 9, Reason::refused, 0x87),
      rec(5, 10, 10, Reason::unknown),
      Record{std::numeric_limits<std::uint64_t>::max(), 0,
             std::numeric_limits<std::uint64_t>::max(), std::numeric_limits<std::int64_t>::min(),
             Reason::refused, 0xff},
  };
  for (const Record& r : cases) {
    unsigned char b[kRecordBytes];
    encode(r, b);
    Record back;
    REQUIRE(decode(b, back));
    CHECK(back == r);
    CHECK(b[33] == kRecordVersion);
    for (std::size_t i = 35; i < 40; ++i) CHECK(b[i] == 0);
  }
}

TEST_CASE("a record with any one byte changed does not decode, and leaves the output alone") {
  unsigned char good[kRecordBytes];
  encode(rec(4, 8, 9, Reason::refused, 0x87), good);
  for (std::size_t i = 0; i < kRecordBytes; ++i) {
    for (const unsigned char flip : {0x01, 0x80, 0xff}) {
      unsigned char b[kRecordBytes];
      std::memcpy(b, good, kRecordBytes);
      b[i] ^= flip;
      Record out = rec(77, 1, 2);
      CAPTURE(i);
      CAPTURE(static_cast<int>(flip));
      CHECK_FALSE(decode(b, out));
      CHECK(out == rec(77, 1, 2));
    }
  }
}

TEST_CASE("a record of another version, an unknown reason, serial 0 or last < first does not "
          "decode, even with its check right") {
  unsigned char b[kRecordBytes];
  Record out;
  auto resealed = [&](auto change) {
    encode(rec(4, 8, 9, Reason::refused, 0x87), b);
    change();
    reseal(b);
    return decode(b, out);
  };
  CHECK(resealed([] {}));  // the test's check is the journal's
  CHECK_FALSE(resealed([&] { b[33] = kRecordVersion + 1; }));
  CHECK_FALSE(resealed([&] { b[33] = 0; }));
  CHECK_FALSE(resealed([&] { b[32] = static_cast<unsigned char>(Reason::unknown) + 1; }));
  CHECK_FALSE(resealed([&] { b[32] = 0xff; }));
  CHECK_FALSE(resealed([&] { std::memset(b, 0, 8); }));                // serial 0
  CHECK_FALSE(resealed([&] { const std::uint64_t v = 7; std::memcpy(b + 16, &v, 8); }));  // 8-7
  CHECK(resealed([&] { const std::uint64_t v = 8; std::memcpy(b + 16, &v, 8); }));        // 8-8
}

TEST_CASE("Writer::open creates a 0600 file of exactly kFileBytes that holds no record") {
  CacheDir d;
  Writer w = open_writer(d);
  struct stat st{};
  REQUIRE(::lstat(d.file().c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_size == static_cast<off_t>(kFileBytes));
  // Allocated, not sparse: a full disk cannot refuse a record later.
  CHECK(st.st_blocks * 512 >= static_cast<blkcnt_t>(kFileBytes));
  CHECK(w.newest().serial == 0);
  std::size_t damaged = 99;
  CHECK(open_reader(d).all(&damaged).empty());
  CHECK(damaged == 0);
}

TEST_CASE("the writer finds the newest record when it opens the journal again") {
  CacheDir d;
  {
    Writer w = open_writer(d);
    write_records(w, 1, 3);
    CHECK(w.newest() == nth(3));
  }
  CHECK(open_writer(d).newest() == nth(3));
  {
    Writer w = open_writer(d);
    write_records(w, 4, kSlots + 10);  // around the ring: the newest is in a low slot
  }
  CHECK(open_writer(d).newest() == nth(kSlots + 10));
}

TEST_CASE("all() returns every record by serial, oldest first, whatever its slot") {
  CacheDir d;
  Writer w = open_writer(d);
  // Slots kSlots-2, kSlots-1, 0, 1: slot order is not serial order.
  write_records(w, kSlots - 2, kSlots + 1);
  std::size_t damaged = 99;
  const auto all = open_reader(d).all(&damaged);
  CHECK(damaged == 0);
  REQUIRE(all.size() == 4);
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i] == nth(kSlots - 2 + i));
}

TEST_CASE("past kSlots records the oldest are overwritten") {
  CacheDir d;
  Writer w = open_writer(d);
  write_records(w, 1, kSlots + 4);  // 4100
  const Reader r = open_reader(d);
  std::size_t damaged = 99;
  const auto all = r.all(&damaged);
  CHECK(damaged == 0);
  REQUIRE(all.size() == kSlots);
  CHECK(all.front() == nth(5));
  CHECK(all.back() == nth(kSlots + 4));
  for (std::size_t i = 1; i < all.size(); ++i) REQUIRE(all[i].serial == all[i - 1].serial + 1);
  Record out;
  CHECK(r.read(1, out) == Reader::Slot::overwritten);
  CHECK(r.read(4, out) == Reader::Slot::overwritten);
  CHECK(r.read(kSlots + 5, out) == Reader::Slot::empty);  // not written yet
  CHECK(r.read(5, out) == Reader::Slot::intact);
  CHECK(out == nth(5));
  CHECK(r.read(kSlots + 4, out) == Reader::Slot::intact);
  CHECK(out == nth(kSlots + 4));
}

TEST_CASE("the newest record rewritten in place (its range extended) is read back") {
  CacheDir d;
  Writer w = open_writer(d);
  write_records(w, 1, 2);
  Record longer = nth(2);
  longer.last += 1000;
  longer.time_ns += 5;
  REQUIRE(w.write(longer));
  CHECK(w.newest() == longer);
  const Reader r = open_reader(d);
  Record out;
  CHECK(r.read(2, out) == Reader::Slot::intact);
  CHECK(out == longer);
  const auto all = r.all();
  REQUIRE(all.size() == 2);
  CHECK(all[1] == longer);
  CHECK(open_writer(d).newest() == longer);
}

TEST_CASE("overwrites() names the intact record that writing a serial would overwrite") {
  CacheDir d;
  Writer w = open_writer(d);
  CHECK_FALSE(w.overwrites(1));
  write_records(w, 1, kSlots);
  CHECK_FALSE(w.overwrites(kSlots));  // the newest, extended in place: nothing is lost
  CHECK(w.overwrites(kSlots + 1) == nth(1));
  REQUIRE(w.write(nth(kSlots + 1)));
  CHECK(w.overwrites(kSlots + 2) == nth(2));
  // A damaged record in the way is no record.
  unsigned char b[kRecordBytes];
  encode(nth(2), b);
  b[10] ^= 1;
  poke(d, 2, b);
  CHECK_FALSE(w.overwrites(kSlots + 2));
  // Nor is an intact record in another serial's slot (as all() and read() say: damaged).
  encode(nth(1), b);
  poke(d, 3, b);
  CHECK_FALSE(w.overwrites(kSlots + 3));
}

TEST_CASE("a damaged slot is skipped and counted by all(), and read() says damaged") {
  CacheDir d;
  Writer w = open_writer(d);
  write_records(w, 1, 6);
  unsigned char b[kRecordBytes];
  encode(nth(3), b);
  b[20] ^= 0x40;
  poke(d, 3, b);
  encode(nth(4), b);  // intact, but in the slot of serial 5
  poke(d, 5, b);
  const Reader r = open_reader(d);
  std::size_t damaged = 99;
  const auto all = r.all(&damaged);
  CHECK(damaged == 2);
  REQUIRE(all.size() == 4);
  CHECK(all[0] == nth(1));
  CHECK(all[1] == nth(2));
  CHECK(all[2] == nth(4));
  CHECK(all[3] == nth(6));
  Record out = nth(9);
  CHECK(r.read(3, out) == Reader::Slot::damaged);
  CHECK(r.read(5, out) == Reader::Slot::damaged);
  CHECK(out == nth(9));
  // The writer goes on from the newest intact record.
  CHECK(open_writer(d).newest() == nth(6));
}

TEST_CASE("Reader::open refuses a missing file, a symbolic link, a FIFO, a directory and a "
          "file of the wrong size") {
  CacheDir d;
  CHECK(open_error(d) == std::errc::no_such_file_or_directory);

  SUBCASE("a symbolic link, even to a good journal") {
    CacheDir elsewhere;
    open_writer(elsewhere);
    fs::create_symlink(elsewhere.file(), d.file());
    CHECK(open_error(d) == std::errc::too_many_symbolic_link_levels);  // O_NOFOLLOW: ELOOP
  }
  SUBCASE("a FIFO without a writer, at once") {
    REQUIRE(::mkfifo(d.file().c_str(), 0600) == 0);
    // Without O_NONBLOCK the open would wait for a writer: the alarm interrupts it (EINTR).
    struct sigaction sa{};
    sa.sa_handler = on_alarm;
    struct sigaction old{};
    REQUIRE(::sigaction(SIGALRM, &sa, &old) == 0);
    ::alarm(2);
    const std::error_code ec = open_error(d);
    ::alarm(0);
    ::sigaction(SIGALRM, &old, nullptr);
    CHECK(ec == std::errc::invalid_argument);
  }
  SUBCASE("a directory") {
    fs::create_directory(d.file());
    CHECK(open_error(d) == std::errc::invalid_argument);
  }
  SUBCASE("a file one byte short, one byte long, or empty") {
    for (const std::uintmax_t size : {kFileBytes - 1, kFileBytes + 1, std::size_t{0}}) {
      {
        Writer w = open_writer(d);
      }
      fs::resize_file(d.file(), size);
      CAPTURE(size);
      CHECK(open_error(d) == std::errc::invalid_argument);
    }
  }
}

TEST_CASE("Writer::open refuses a symbolic link and a FIFO and leaves them as they are") {
  CacheDir d;
  std::error_code ec;
  std::string what;
  SUBCASE("a symbolic link") {
    const fs::path target = d.path / "target";
    fs::create_symlink(target, d.file());
    CHECK_FALSE(Writer::open(d.path, ec, what));
    CHECK(ec == std::errc::too_many_symbolic_link_levels);
    CHECK_FALSE(fs::exists(target));
  }
  SUBCASE("a FIFO") {
    REQUIRE(::mkfifo(d.file().c_str(), 0600) == 0);
    CHECK_FALSE(Writer::open(d.path, ec, what));
    CHECK(ec == std::errc::invalid_argument);
    CHECK(fs::is_fifo(fs::symlink_status(d.file())));
  }
  CHECK(what.find(d.file().string()) != std::string::npos);
}

// A file shorter than kFileBytes is one whose creation was cut short (a crash or a full disk
// between creating it and allocating it): the writer allocates the rest and keeps every whole
// record the file holds. A record cut in two is a damaged one, and counted as such until its
// slot is written again.
TEST_CASE("a journal cut short is completed by Writer::open, keeping its whole records") {
  CacheDir d;
  SUBCASE("empty, or zeros: as new") {
    for (const std::uintmax_t size : {std::size_t{0}, std::size_t{100}}) {
      {
        Writer w = open_writer(d);
      }
      fs::resize_file(d.file(), 0);
      fs::resize_file(d.file(), size);
      CAPTURE(size);
      CHECK(open_writer(d).newest().serial == 0);
      CHECK(size_of(d.file()) == kFileBytes);
      std::size_t damaged = 99;
      CHECK(open_reader(d).all(&damaged).empty());
      CHECK(damaged == 0);
    }
  }
  SUBCASE("cut at 100 bytes: slot 1 whole, slot 2 cut in two") {
    {
      Writer w = open_writer(d);
      write_records(w, 1, 3);
    }
    fs::resize_file(d.file(), 100);
    Writer w = open_writer(d);
    CHECK(size_of(d.file()) == kFileBytes);
    CHECK(w.newest() == nth(1));
    {
      const Reader r = open_reader(d);
      std::size_t damaged = 99;
      const auto all = r.all(&damaged);
      REQUIRE(all.size() == 1);
      CHECK(all[0] == nth(1));
      CHECK(damaged == 1);
      Record out;
      CHECK(r.read(2, out) == Reader::Slot::damaged);
      CHECK(r.read(3, out) == Reader::Slot::empty);
    }
    // The writer goes on from serial 2 and its slot is whole again.
    REQUIRE(w.write(nth(2)));
    std::size_t damaged = 99;
    CHECK(open_reader(d).all(&damaged).size() == 2);
    CHECK(damaged == 0);
  }
}

// Nothing but damage makes a journal longer than kFileBytes (the writer never writes past it).
// Its records are where a journal of kFileBytes has them: cutting it back keeps them, and the
// serials go on from the newest (a follower of the journal must not see serials repeat).
TEST_CASE("a journal longer than kFileBytes is cut back to it, keeping its records") {
  CacheDir d;
  {
    Writer w = open_writer(d);
    write_records(w, 1, 3);
  }
  fs::resize_file(d.file(), kFileBytes + 4096);
  Writer w = open_writer(d);
  CHECK(size_of(d.file()) == kFileBytes);
  CHECK(w.newest() == nth(3));
  const auto all = open_reader(d).all();
  REQUIRE(all.size() == 3);
  CHECK(all[2] == nth(3));
}
