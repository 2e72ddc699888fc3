// File log, format version 2: runs of delta records (damage, torn batches, topics by
// reference, the bytes it costs) and logs of version 1 segments, alone or followed by version 2.
#include "file_log_fixture.hpp"

using namespace robustmq::cache;
using namespace robustmq::cache::test;

namespace {

// One batch of `n` messages, seq first.., on `topic` (or on "many/<seq % topics>").
std::uint64_t append_batch(Cache& c, std::uint64_t first, std::size_t n, std::size_t payload,
                           std::size_t topics = 1) {
  Batch b;
  for (std::uint64_t s = first; s < first + n; ++s)
    b.add(s, topics == 1 ? "bench/spool" : "many/" + std::to_string(s % topics),
          payload_for(s, payload), static_cast<int>(s % 3), s % 5 == 0);
  return c.append(b.span());
}

void check_in_order(const std::vector<CachedMessage>& all, std::uint64_t first_seq,
                    std::size_t payload, std::size_t topics = 1) {
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::uint64_t s = first_seq + i;
    CAPTURE(i);
    REQUIRE(all[i].seq == s);
    CHECK(all[i].id == i + 1);
    CHECK(all[i].enqueue_ns == static_cast<std::int64_t>(s) * 1000 + 7);
    CHECK(all[i].topic == (topics == 1 ? "bench/spool" : "many/" + std::to_string(s % topics)));
    CHECK(all[i].payload == payload_for(s, payload));
    CHECK(all[i].qos == static_cast<int>(s % 3));
    CHECK(all[i].retain == (s % 5 == 0));
  }
}

}  // namespace

TEST_CASE("a 256-byte payload costs at most 1.1 bytes on disk per payload byte") {
  TempDir dir;
  auto c = open(Backend::file, dir.path(), Config{});
  for (std::uint64_t i = 0; i < 100; ++i) append_batch(*c, 1 + i * 100, 100, 256);
  const auto seg = segments(dir.path()).at(0);
  const double ratio = static_cast<double>(fs::file_size(seg)) / (10000.0 * 256);
  CAPTURE(ratio);
  CHECK(ratio <= 1.07);  // version 1: 1.25
  check_in_order(read_all(*c), 1, 256);
}

TEST_CASE("runs: delta records round-trip topics, sequence numbers and times") {
  TempDir dir;
  {
    auto c = open(Backend::file, dir.path(), Config{});
    append_batch(*c, 1, 1000, 40, 100);  // more topics than a run's table holds
    append_batch(*c, 1001, 3, 0, 100);   // empty payloads
  }
  auto c = open(Backend::file, dir.path(), Config{});
  const auto all = read_all(*c, 0, 77);
  REQUIRE(all.size() == 1003);
  check_in_order(std::vector<CachedMessage>(all.begin(), all.begin() + 1000), 1, 40, 100);
  CHECK(all.back().seq == 1003);
  CHECK(all.back().id == 1003);
  CHECK(all.back().payload.empty());
  CHECK(c->counts().messages == 1003);
}

TEST_CASE("runs: a damaged delta record costs the rest of its run, counted once") {
  TempDir dir;
  { append_batch(*open(Backend::file, dir.path(), Config{}), 1, 200, 100); }
  const auto seg = segments(dir.path()).at(0);
  std::string bytes = slurp(seg);
  const auto starts = record_starts(bytes);
  bytes[starts[5] + 20] ^= 0x01;  // id 6, a delta record in the first run (4 KiB)
  spit(seg, bytes);

  auto c = open(Backend::file, dir.path(), Config{});
  const auto all = read_all(*c);
  REQUIRE(all.size() > 150);
  CHECK(all.size() < 200);
  CHECK(all[4].id == 5);
  const std::uint64_t resumed = all[5].id;  // the next run's anchor
  CHECK(resumed > 6);
  CHECK(all.back().id == 200);
  CHECK(c->counts().damaged_skipped == 1);
  CHECK(c->counts().messages == all.size());
  std::uint64_t bytes_left = 0;
  for (const auto& m : all) bytes_left += m.topic.size() + m.payload.size();
  CHECK(c->counts().bytes == bytes_left);
  CHECK(append_batch(*c, 201, 1, 100) == 201);
}

TEST_CASE("runs: a batch torn mid-way keeps the records before the tear") {
  TempDir src;
  { append_batch(*open(Backend::file, src.path(), Config{}), 1, 50, 100); }
  const auto seg = segments(src.path()).at(0);
  const std::string whole = slurp(seg);
  const auto starts = record_starts(whole);
  for (std::size_t k : {1u, 17u, 30u, 49u}) {
    for (std::size_t cut : {starts[k] + 1, starts[k] + 9, starts[k + 1] - 1}) {
      CAPTURE(cut);
      TempDir dir;
      fs::create_directory(dir.path() / "log");
      spit(dir.path() / "log" / seg.filename(), whole.substr(0, cut));
      auto c = open(Backend::file, dir.path(), Config{});
      const auto all = read_all(*c);
      CHECK(all.size() == k);
      CHECK(c->counts().damaged_skipped == 0);
      CHECK(fs::file_size(dir.path() / "log" / seg.filename()) == starts[k]);
      CHECK(append_batch(*c, 500, 2, 100) == k + 2);
    }
  }
}

TEST_CASE("version 1 segments are read, acknowledged and followed by version 2 segments") {
  TempDir dir;
  Batch first, second;
  for (std::uint64_t s = 1; s <= 10; ++s) first.add(s, "bench/spool", payload_for(s, 256), 1);
  for (std::uint64_t s = 11; s <= 20; ++s) second.add(s, "bench/spool", payload_for(s, 256), 1);
  std::uint64_t end = write_v1_segment(dir.path(), 1, 0, first.span());
  end = write_v1_segment(dir.path(), 11, end, second.span(), 0x5a5a);
  {
    auto c = open(Backend::file, dir.path(), Config{});
    CHECK(c->counts().messages == 20);
    CHECK(c->counts().bytes == end);
    auto all = read_all(*c, 0, 7);
    REQUIRE(all.size() == 20);
    for (std::size_t i = 0; i < 20; ++i) CHECK(all[i].seq == i + 1);
    c->remove_through(4);
    // Appends go to a new segment of version 2, after the version 1 ones.
    Batch b;
    for (std::uint64_t s = 21; s <= 30; ++s) b.add(s, "bench/spool", payload_for(s, 256), 1);
    CHECK(c->append(b.span()) == 30);
    const auto segs = segments(dir.path());
    REQUIRE(segs.size() == 3);
    const auto h = fl::decode_segment_header(bytes_of(slurp(segs[2])));
    REQUIRE(h);
    CHECK(h->version == fl::kVersion);
    CHECK(h->first_id == 21);
  }
  auto c = open(Backend::file, dir.path(), Config{});
  auto all = read_all(*c, 0, 6);
  REQUIRE(all.size() == 26);  // 5..30, in order across both versions
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].id == i + 5);
    CHECK(all[i].seq == i + 5);
    CHECK(all[i].payload == payload_for(i + 5, 256));
  }
  CHECK(c->counts().messages == 26);
  CHECK(c->counts().bytes == 26 * (11 + 256));
  c->remove_through(10);  // the first version 1 segment is done: deleted
  CHECK(segments(dir.path()).size() == 2);
  c->remove_through(30);
  c.reset();
  CHECK(segments(dir.path()).empty());
  CHECK(read_all(*open(Backend::file, dir.path(), Config{})).empty());
}

TEST_CASE("version 1 segments: a damaged record is skipped, a torn tail cut") {
  TempDir dir;
  Batch b;
  for (std::uint64_t s = 1; s <= 10; ++s) b.add(s, "t/x", payload_for(s, 21), 1);
  write_v1_segment(dir.path(), 1, 0, b.span());
  const auto seg = segments(dir.path()).at(0);
  std::string bytes = slurp(seg);
  const std::size_t rec = fl::record_bytes_v1(3, 21);
  bytes[fl::kSegmentDataStart + 4 * rec + 50] ^= 0x20;  // id 5
  bytes.resize(bytes.size() - 3);                       // id 10 torn
  spit(seg, bytes);
  auto c = open(Backend::file, dir.path(), Config{});
  const auto all = read_all(*c);
  REQUIRE(all.size() == 8);
  CHECK(all[4].id == 6);
  CHECK(all.back().id == 9);
  CHECK(c->counts().damaged_skipped == 1);
  CHECK(fs::file_size(seg) == fl::kSegmentDataStart + 9 * rec);
  CHECK(append_batch(*c, 10, 1, 21) == 10);
  CHECK(segments(dir.path()).size() == 2);
}

TEST_CASE("an empty version 1 segment left by a crash is replaced by a version 2 one") {
  TempDir dir;
  Batch b;
  for (std::uint64_t s = 1; s <= 3; ++s) b.add(s, "t/x", payload_for(s, 21), 1);
  const std::uint64_t end = write_v1_segment(dir.path(), 1, 0, b.span());
  write_v1_segment(dir.path(), 4, end, {});
  auto c = open(Backend::file, dir.path(), Config{});
  CHECK(append_batch(*c, 4, 2, 21) == 5);
  const auto segs = segments(dir.path());
  REQUIRE(segs.size() == 2);
  CHECK(fl::decode_segment_header(bytes_of(slurp(segs[1])))->version == fl::kVersion);
  const auto all = read_all(*c);
  REQUIRE(all.size() == 5);
  CHECK(all[3].seq == 4);
}

TEST_CASE("a log of version 1 segments opened read-only (robustmq-cache) is read, not changed") {
  TempDir dir;
  Batch b;
  for (std::uint64_t s = 1; s <= 10; ++s) b.add(s, "t/x", payload_for(s, 21), 1);
  write_v1_segment(dir.path(), 1, 0, b.span());
  const auto seg = segments(dir.path()).at(0);
  const std::string before = slurp(seg);
  Config ro;
  ro.read_only = true;
  auto c = open(Backend::file, dir.path(), ro);
  const auto all = read_all(*c, 0, 3);
  REQUIRE(all.size() == 10);
  CHECK(all[9].payload == payload_for(10, 21));
  CHECK(c->counts().messages == 10);
  c.reset();
  CHECK(segments(dir.path()).size() == 1);
  CHECK(slurp(seg) == before);
}
