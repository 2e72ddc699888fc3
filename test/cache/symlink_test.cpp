// Symbolic links planted in the cache directory: no cache file is opened, created, written,
// truncated or renamed through one, so the file a link points to stays as it was.
#include <sys/stat.h>

#include "cache_fixture.hpp"

using namespace robustmq::cache;
using namespace robustmq::cache::test;

namespace {

// A cache directory and, beside it (outside the cache), a file that must stay untouched.
struct Planted {
  TempDir dir;
  fs::path cache = dir.path() / "cache";
  fs::path outside = dir.path() / "outside";
  Planted() { fs::create_directories(cache); }
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("a link planted at the file log's cursor.tmp: the cursor is written in the cache, "
          "not through the link") {
  Planted p;
  spit(p.outside, "precious");
  {
    auto c = open(Backend::file, p.cache, Config{});
    append_n(*c, 1, 10);
    REQUIRE(read_all(*c).size() == 10);
    c->remove_through(5);
    fs::create_symlink(p.outside, p.cache / "log" / "cursor.tmp");
  }  // closing writes the cursor through cursor.tmp
  CHECK(slurp(p.outside) == "precious");
  CHECK(fs::is_regular_file(fs::symlink_status(p.cache / "log" / "cursor")));
  auto c = open(Backend::file, p.cache, Config{});
  const auto all = read_all(*c);
  REQUIRE(all.size() == 5);
  CHECK(all.front().seq == 6);  // the removal was kept
}

TEST_CASE("a link planted in place of the file log's last segment is refused, its target not "
          "truncated") {
  Planted p;
  { append_n(*open(Backend::file, p.cache, Config{}), 1, 5); }
  const fs::path seg = segments(p.cache).at(0);
  // The target looks like a segment with a torn tail, which opening would cut.
  const std::string bytes = slurp(seg) + std::string(100, 'Z');
  spit(p.outside, bytes);
  fs::remove(seg);
  fs::create_symlink(p.outside, seg);
  CHECK_THROWS_WITH_AS(open(Backend::file, p.cache, Config{}),
                       doctest::Contains("symbolic link"), CacheError);
  CHECK(slurp(p.outside) == bytes);
}

TEST_CASE("the file log's directory as a link is refused, nothing is written where it points") {
  Planted p;
  fs::create_directories(p.outside);
  fs::create_symlink(p.outside, p.cache / "log");
  CHECK_THROWS_WITH_AS(append_n(*open(Backend::file, p.cache, Config{}), 1, 5),
                       doctest::Contains("symbolic link"), CacheError);
  CHECK(fs::is_empty(p.outside));
}

TEST_CASE("a link planted at cache.sqlite3 is refused, its target neither written nor "
          "chmod'ed") {
  Planted p;
  spit(p.outside, "");
  fs::permissions(p.outside, fs::perms(0644));
  fs::create_symlink(p.outside, p.cache / "cache.sqlite3");
  CHECK_THROWS_WITH_AS(open(Backend::sqlite, p.cache, Config{}),
                       doctest::Contains("symbolic link"), CacheError);
  CHECK(fs::file_size(p.outside) == 0);
  CHECK(mode_of(p.outside) == 0644);
}
