// The rules of cache.hpp, checked against both backends.
#include <sys/stat.h>

#include "cache_fixture.hpp"

using namespace robustmq::cache;
using namespace robustmq::cache::test;

namespace {
struct Sqlite { static constexpr Backend kBackend = Backend::sqlite; };
struct File { static constexpr Backend kBackend = Backend::file; };
}  // namespace

#define BACKENDS Sqlite, File

TEST_CASE_TEMPLATE("messages are read back in append order with every field", B, BACKENDS) {
  TempDir dir;
  auto c = open(B::kBackend, dir.path(), Config{});
  Batch b;
  b.add(10, "a/b", "one", 0, false);
  b.add(11, "a/c", "two", 1, true);
  b.add(12, "a/d", "three", 2, false);
  CHECK(c->append(b.span()) == 3);
  std::vector<CachedMessage> got;
  c->read(0, 10, got);
  REQUIRE(got.size() == 3);
  CHECK(got[0].id == 1);
  CHECK(got[1].id == 2);
  CHECK(got[2].id == 3);
  CHECK(got[1].seq == 11);
  CHECK(got[1].enqueue_ns == 11007);
  CHECK(got[1].qos == 1);
  CHECK(got[1].retain);
  CHECK(got[2].qos == 2);
  CHECK(got[1].topic == "a/c");
  CHECK(got[2].payload == "three");
  CHECK(c->backend() == B::kBackend);
}

TEST_CASE_TEMPLATE("the large flag of a message survives a reopen", B, BACKENDS) {
  TempDir dir;
  {
    auto c = open(B::kBackend, dir.path(), Config{});
    Batch b;
    b.add(1, "a/b", "small");
    b.add(2, "a/b", "reference-bytes");
    auto views = b.span();
    std::vector<robustmq::record::MessageView> v(views.begin(), views.end());
    v[1].large = true;
    c->append(v);
  }
  auto c = open(B::kBackend, dir.path(), Config{});
  std::vector<CachedMessage> got;
  c->read(0, 10, got);
  REQUIRE(got.size() == 2);
  CHECK_FALSE(got[0].large);
  CHECK(got[1].large);
  CHECK(got[1].payload == "reference-bytes");
}

TEST_CASE_TEMPLATE("read honours after_id and max_messages and appends to out", B, BACKENDS) {
  TempDir dir;
  auto c = open(B::kBackend, dir.path(), Config{});
  append_n(*c, 1, 10);
  std::vector<CachedMessage> got(1);  // existing content is kept
  c->read(4, 3, got);
  REQUIRE(got.size() == 4);
  CHECK(got[1].id == 5);
  CHECK(got[3].id == 7);
  got.clear();
  c->read(2, 1, got);  // going back repositions
  REQUIRE(got.size() == 1);
  CHECK(got[0].id == 3);
  got.clear();
  c->read(10, 5, got);
  CHECK(got.empty());
}

TEST_CASE_TEMPLATE("removed messages are gone after reopen and the rest is intact", B, BACKENDS) {
  TempDir dir;
  {
    auto c = open(B::kBackend, dir.path(), Config{});
    append_n(*c, 1, 1000, 100);
    auto first = read_all(*c);
    REQUIRE(first.size() == 1000);
    for (std::uint64_t id = 1; id <= 400; ++id) c->remove_through(id);  // one ack at a time
    CHECK(c->counts().messages == 600);
    std::vector<CachedMessage> got;
    c->read(0, 1, got);
    REQUIRE(got.size() == 1);
    CHECK(got[0].id == 401);
  }
  auto c = open(B::kBackend, dir.path(), Config{});
  auto all = read_all(*c);
  REQUIRE(all.size() == 600);
  CHECK(all.front().id == 401);
  CHECK(all.front().payload == payload_for(401));
  CHECK(all.back().id == 1000);
  CHECK(c->counts().messages == 600);
}

TEST_CASE_TEMPLATE("reopening keeps everything and ids keep increasing", B, BACKENDS) {
  TempDir dir;
  {
    auto c = open(B::kBackend, dir.path(), Config{});
    CHECK(append_n(*c, 1, 50) == 50);
  }
  {
    auto c = open(B::kBackend, dir.path(), Config{});
    CHECK(c->counts().messages == 50);
    CHECK(append_n(*c, 51, 50) == 100);
    c->remove_through(100);  // everything acknowledged
    CHECK(c->counts().messages == 0);
  }
  auto c = open(B::kBackend, dir.path(), Config{});
  CHECK(c->counts().messages == 0);
  CHECK(read_all(*c).empty());
  CHECK(append_n(*c, 101, 1) == 101);  // never reused, even after the cache emptied
  auto all = read_all(*c);
  REQUIRE(all.size() == 1);
  CHECK(all[0].seq == 101);
}

TEST_CASE_TEMPLATE("newest_seq is the last appended message's number, kept across a reopen", B,
                   BACKENDS) {
  TempDir dir;
  {
    auto c = open(B::kBackend, dir.path(), Config{});
    CHECK_FALSE(c->newest_seq());  // empty
    append_n(*c, 7, 3);            // numbers 7..9
    CHECK(c->newest_seq() == std::optional<std::uint64_t>(9));
    c->remove_through(2);
    CHECK(c->newest_seq() == std::optional<std::uint64_t>(9));
  }
  {
    auto c = open(B::kBackend, dir.path(), Config{});
    CHECK(c->newest_seq() == std::optional<std::uint64_t>(9));
    c->remove_through(3);  // everything acknowledged
    CHECK_FALSE(c->newest_seq());
    append_n(*c, 40, 1);
    CHECK(c->newest_seq() == std::optional<std::uint64_t>(40));
  }
  auto c = open(B::kBackend, dir.path(), Config{});
  CHECK(c->newest_seq() == std::optional<std::uint64_t>(40));
}

TEST_CASE_TEMPLATE("counts follow appends and removals, and survive reopen", B, BACKENDS) {
  TempDir dir;
  std::uint64_t bytes = 0;
  {
    auto c = open(B::kBackend, dir.path(), Config{});
    CHECK(c->counts().messages == 0);
    CHECK(c->counts().bytes == 0);
    Batch b;
    for (int i = 0; i < 20; ++i) {
      b.add(static_cast<std::uint64_t>(i), "t/" + std::to_string(i), std::string(static_cast<std::size_t>(i) * 3, 'x'));
      bytes += b.topics.back().size() + b.payloads.back().size();
    }
    c->append(b.span());
    CHECK(c->counts().messages == 20);
    CHECK(c->counts().bytes == bytes);
    read_all(*c);
    c->remove_through(5);
    bytes -= (3 + 0) + (3 + 3) + (3 + 6) + (3 + 9) + (3 + 12);
    CHECK(c->counts().messages == 15);
    CHECK(c->counts().bytes == bytes);
    CHECK(c->counts().damaged_skipped == 0);
  }
  auto c = open(B::kBackend, dir.path(), Config{});
  CHECK(c->counts().messages == 15);
  CHECK(c->counts().bytes == bytes);
}

TEST_CASE_TEMPLATE("100k messages appended in batches are read back in order", B, BACKENDS) {
  TempDir dir;
  Config config;
  config.sync = false;  // the durability path is tested elsewhere; this checks volume
  auto c = open(B::kBackend, dir.path(), config);
  CHECK(append_n(*c, 1, 100000, 256, 100) == 100000);
  auto all = read_all(*c, 0, 256);
  REQUIRE(all.size() == 100000);
  bool ordered = true;
  for (std::size_t i = 0; i < all.size(); ++i)
    ordered = ordered && all[i].id == i + 1 && all[i].seq == i + 1 &&
              all[i].payload == payload_for(i + 1, 100);
  CHECK(ordered);
}

TEST_CASE_TEMPLATE("empty and 1 MiB payloads are kept exactly", B, BACKENDS) {
  TempDir dir;
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  {
    auto c = open(B::kBackend, dir.path(), Config{});
    Batch b;
    b.add(1, "empty", "");
    b.add(2, "big", big);
    b.add(3, "t", std::string("\0\1\0", 3));
    c->append(b.span());
  }
  auto c = open(B::kBackend, dir.path(), Config{});
  auto all = read_all(*c);
  REQUIRE(all.size() == 3);
  CHECK(all[0].payload.empty());
  CHECK(all[1].payload == big);
  CHECK(all[2].payload == std::string("\0\1\0", 3));
}

TEST_CASE_TEMPLATE("a malformed message is rejected without poisoning the cache", B, BACKENDS) {
  TempDir dir;
  auto c = open(B::kBackend, dir.path(), Config{});
  Batch bad;
  bad.add(1, "", "no topic");
  CHECK_THROWS_AS(c->append(bad.span()), CacheError);
  CHECK(append_n(*c, 1, 1) == 1);
}

TEST_CASE_TEMPLATE("cache files are created 0600 whatever the umask", B, BACKENDS) {
  TempDir dir;
  const mode_t old = ::umask(0);
  {
    auto c = open(B::kBackend, dir.path(), Config{});
    append_n(*c, 1, 1);
    for (const auto& e : fs::recursive_directory_iterator(dir.path())) {
      if (!e.is_regular_file()) continue;
      CAPTURE(e.path());
      CHECK((fs::status(e.path()).permissions() & fs::perms::all) ==
            (fs::perms::owner_read | fs::perms::owner_write));
    }
  }
  ::umask(old);
}

TEST_CASE_TEMPLATE("a read-only cache refuses changes and finds what was written", B, BACKENDS) {
  TempDir dir;
  CHECK_THROWS_AS(open(B::kBackend, dir.path(), Config{true, true}), CacheError);
  { append_n(*open(B::kBackend, dir.path(), Config{}), 1, 5); }
  auto c = open(B::kBackend, dir.path(), Config{true, true});
  CHECK(read_all(*c).size() == 5);
  CHECK_THROWS_AS(append_n(*c, 6, 1), CacheError);
}
