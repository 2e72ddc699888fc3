// File log: recovery from torn tails, damage, stale bytes, lost cursors; segment lifecycle.
#include <sys/resource.h>
#include <csignal>

#include "file_log_fixture.hpp"

using namespace robustmq::cache;
using namespace robustmq::cache::test;

namespace {

constexpr std::size_t kPayload = 21;
const std::string kTopic = "t/x";

std::uint64_t append_fixed(Cache& c, std::uint64_t first, std::uint64_t n) {
  std::uint64_t last = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    Batch b;
    b.add(first + i, kTopic, payload_for(first + i, kPayload));
    last = c.append(b.span());
  }
  return last;
}

Config no_sync() {
  Config c;
  c.sync = false;
  return c;
}

}  // namespace

TEST_CASE("a torn tail at end of log is a clean end") {
  TempDir src;
  { append_fixed(*open(Backend::file, src.path(), Config{}), 1, 8); }
  const auto seg = segments(src.path()).at(0);
  const std::string whole = slurp(seg);
  const auto starts = record_starts(whole);
  REQUIRE(starts.size() == 9);

  // Every cut inside the last three records (and at their boundaries).
  for (std::size_t cut = starts[5]; cut <= whole.size(); ++cut) {
    CAPTURE(cut);
    TempDir dir;
    fs::create_directory(dir.path() / "log");
    spit(dir.path() / "log" / seg.filename(), whole.substr(0, cut));
    const auto complete = static_cast<std::size_t>(
        std::upper_bound(starts.begin() + 1, starts.end(), cut) - (starts.begin() + 1));
    auto c = open(Backend::file, dir.path(), Config{});
    auto all = read_all(*c);
    REQUIRE(all.size() == complete);
    CHECK(all.back().payload == payload_for(complete, kPayload));
    CHECK(c->counts().messages == complete);
    CHECK(c->counts().damaged_skipped == 0);
    // The torn bytes were cut: the next record follows the last good one and survives reopen.
    CHECK(append_fixed(*c, 100, 1) == complete + 1);
    c.reset();
    auto again = open(Backend::file, dir.path(), Config{});
    auto after = read_all(*again);
    REQUIRE(after.size() == complete + 1);
    CHECK(after.back().seq == 100);
  }
}

TEST_CASE("a damaged record in the middle is skipped and counted, the rest are read") {
  TempDir dir;
  { append_fixed(*open(Backend::file, dir.path(), Config{}), 1, 10); }
  const auto seg = segments(dir.path()).at(0);
  std::string bytes = slurp(seg);
  const auto starts = record_starts(bytes);
  bytes[starts[5] - 3] ^= 0x20;  // a payload byte of id 5
  spit(seg, bytes);

  auto c = open(Backend::file, dir.path(), Config{});
  auto all = read_all(*c);
  REQUIRE(all.size() == 9);
  CHECK(all[3].id == 4);
  CHECK(all[4].id == 6);
  CHECK(all.back().id == 10);
  CHECK(c->counts().damaged_skipped == 1);
  CHECK(c->counts().messages == 9);
  CHECK(c->counts().bytes == 9 * (kTopic.size() + kPayload));
  CHECK(append_fixed(*c, 11, 1) == 11);  // appends go after the last good record
}

TEST_CASE("a damaged length field is skipped like any other damage") {
  TempDir dir;
  { append_fixed(*open(Backend::file, dir.path(), Config{}), 1, 10); }
  const auto seg = segments(dir.path()).at(0);
  std::string bytes = slurp(seg);
  bytes[record_starts(bytes)[2] + 5] = '\x7f';  // the body length of id 3
  spit(seg, bytes);
  auto c = open(Backend::file, dir.path(), Config{});
  auto all = read_all(*c);
  REQUIRE(all.size() == 9);
  CHECK(all[2].id == 4);
  CHECK(c->counts().damaged_skipped == 1);
}

TEST_CASE("records of another log never validate, even with larger ids") {
  TempDir old_log, dir;
  { append_fixed(*open(Backend::file, old_log.path(), Config{}), 1, 100); }
  { append_fixed(*open(Backend::file, dir.path(), Config{}), 1, 10); }
  // Blocks of the old log appear after the new log's tail (a reused disk block, a reset).
  const std::string old_bytes = slurp(segments(old_log.path()).at(0));
  const std::string stale = old_bytes.substr(record_starts(old_bytes)[50]);
  const auto seg = segments(dir.path()).at(0);
  const std::size_t clean = fs::file_size(seg);
  spit(seg, slurp(seg) + stale);

  auto c = open(Backend::file, dir.path(), Config{});
  auto all = read_all(*c);
  CHECK(all.size() == 10);
  CHECK(c->counts().damaged_skipped == 0);  // a torn tail, cut
  CHECK(fs::file_size(seg) == clean);
}

TEST_CASE("a record decodes only with the salt of its segment") {
  Batch b;
  b.add(1, "a/b", "payload");
  std::vector<unsigned char> buf;
  const fl::SegmentBase seg{fl::kVersion, 0x1234, 5, 0};
  fl::Chain chain;
  fl::encode_record(seg, chain, true, 7, 10, b.span()[0], buf);
  const fl::Chain none;
  const fl::Decoded d = fl::decode_record(seg, none, buf);
  REQUIRE(d.status == fl::Decode::ok);
  CHECK(d.header.id == 7);
  CHECK(d.header.end_bytes == 10);
  CHECK(d.topic == "a/b");
  CHECK(d.payload == "payload");
  fl::SegmentBase other = seg;
  other.salt = 0x1235;
  CHECK(fl::decode_record(other, none, buf).status == fl::Decode::bad);
  CHECK(fl::decode_record(seg, none, fl::Bytes(buf).first(buf.size() - 1)).status ==
        fl::Decode::truncated);

  std::vector<unsigned char> v1;
  fl::encode_record_v1(0x1234, 7, 10, b.span()[0], v1);
  CHECK(fl::decode_record_v1(0x1234, v1).status == fl::Decode::ok);
  CHECK(fl::decode_record_v1(0x1235, v1).status == fl::Decode::bad);
  CHECK(fl::decode_record_v1(0x1234, fl::Bytes(v1).first(v1.size() - 1)).status ==
        fl::Decode::truncated);
}

TEST_CASE("a damaged cursor only makes acknowledged messages come back") {
  TempDir dir;
  {
    auto c = open(Backend::file, dir.path(), Config{});
    append_fixed(*c, 1, 10);
    read_all(*c);
    c->remove_through(4);
  }
  CHECK(read_all(*open(Backend::file, dir.path(), Config{})).front().id == 5);
  spit(dir.path() / "log" / "cursor", "garbage garbage garbage garbage!");
  auto c = open(Backend::file, dir.path(), Config{});
  auto all = read_all(*c);
  REQUIRE(all.size() == 10);  // at least once: the acknowledged ones are sent again
  CHECK(c->counts().messages == 10);
}

TEST_CASE("a segment torn while being created is removed and the log goes on") {
  TempDir dir;
  { append_fixed(*open(Backend::file, dir.path(), Config{}), 1, 3); }
  spit(dir.path() / "log" / fl::segment_name(4), "RMQL\x01");
  auto c = open(Backend::file, dir.path(), Config{});
  CHECK(segments(dir.path()).size() == 1);
  CHECK(append_fixed(*c, 4, 1) == 4);
  CHECK(read_all(*c).size() == 4);
}

TEST_CASE("full segments roll, and fully acknowledged segments are deleted") {
  TempDir dir;
  const std::string big(1 << 20, 'b');
  auto c = open(Backend::file, dir.path(), no_sync());
  for (int i = 0; i < 70; ++i) {
    Batch b;
    b.add(static_cast<std::uint64_t>(i + 1), "big", big);
    c->append(b.span());
  }
  auto segs = segments(dir.path());
  REQUIRE(segs.size() == 2);
  CHECK(fs::file_size(segs[0]) <= fl::kSegmentTargetBytes);
  const auto second_first = fl::parse_segment_name(segs[1].filename().string()).value();
  std::vector<CachedMessage> got;
  c->read(0, second_first, got);
  c->remove_through(second_first - 2);
  CHECK(segments(dir.path()).size() == 2);
  c->remove_through(second_first - 1);
  CHECK(segments(dir.path()).size() == 1);
  CHECK(c->counts().messages == 71 - second_first);
  CHECK(c->counts().bytes == (71 - second_first) * (3 + big.size()));
}

TEST_CASE("damage in an older segment is found while reading, counted and skipped") {
  TempDir dir;
  const std::string big(1 << 20, 'b');
  {
    auto c = open(Backend::file, dir.path(), no_sync());
    for (int i = 0; i < 70; ++i) {
      Batch b;
      b.add(static_cast<std::uint64_t>(i + 1), "big", big);
      c->append(b.span());
    }
  }
  const auto seg = segments(dir.path()).at(0);
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(record_starts(slurp(seg))[10] + 1000));
    f.put('X');
  }
  auto c = open(Backend::file, dir.path(), Config{});
  CHECK(c->counts().damaged_skipped == 0);  // open reads only the last segment
  auto all = read_all(*c, 0, 16);
  CHECK(all.size() == 69);
  CHECK(all[10].id == 12);
  CHECK(c->counts().damaged_skipped == 1);
  CHECK(c->counts().messages == 69);
}

TEST_CASE("a failed write is sticky and leaves committed messages intact") {
  TempDir dir;
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ::getrlimit(RLIMIT_FSIZE, &old);
  {
    auto c = open(Backend::file, dir.path(), Config{});
    append_fixed(*c, 1, 5);
    rlimit small = old;
    small.rlim_cur = fs::file_size(segments(dir.path()).at(0)) + 1000;
    ::setrlimit(RLIMIT_FSIZE, &small);
    Batch b;
    b.add(6, "big", std::string(100000, 'x'));
    CHECK_THROWS_WITH_AS(c->append(b.span()), doctest::Contains("log-"), CacheError);
    ::setrlimit(RLIMIT_FSIZE, &old);
    CHECK_THROWS_AS(append_fixed(*c, 7, 1), CacheError);  // until reopened
    CHECK(read_all(*c).size() == 5);
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  auto c = open(Backend::file, dir.path(), Config{});
  CHECK(read_all(*c).size() == 5);
  CHECK(append_fixed(*c, 7, 1) == 6);
}
