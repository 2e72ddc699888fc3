// SQLite backend: what happens to a database that cannot be used.
#include <sqlite3.h>
#include <unistd.h>

#include "cache_fixture.hpp"

using namespace robustmq::cache;
using namespace robustmq::cache::test;

namespace {

std::vector<fs::path> moved_aside(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (const auto name = e.path().filename().string();
        name.starts_with("cache.sqlite3.corrupt-") && !name.ends_with("-wal") &&
        !name.ends_with("-shm"))
      out.push_back(e.path());
  return out;
}

}  // namespace

TEST_CASE("a database overwritten with garbage is moved aside and a fresh one works") {
  TempDir dir;
  { append_n(*open(Backend::sqlite, dir.path(), Config{}), 1, 10); }
  const fs::path db = dir.path() / "cache.sqlite3";
  std::string garbage(8192, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 37 % 253);
  spit(db, garbage);

  auto c = open(Backend::sqlite, dir.path(), Config{});
  auto aside = moved_aside(dir.path());
  REQUIRE(aside.size() == 1);
  CHECK(slurp(aside[0]) == garbage);  // kept as it was, for a human to look at
  CHECK(c->counts().damaged_skipped >= 1);
  const auto id = append_n(*c, 100, 3);
  auto all = read_all(*c);
  REQUIRE(all.size() == 3);
  CHECK(all.back().id == id);
  CHECK(all.back().seq == 102);
}

TEST_CASE("a truncated database is moved aside and its readable rows are kept") {
  TempDir dir;
  const fs::path db = dir.path() / "cache.sqlite3";
  {
    auto c = open(Backend::sqlite, dir.path(), Config{});
    append_n(*c, 1, 2000, 100, 1000);
  }  // closing checkpoints the WAL into the database file
  REQUIRE(!fs::exists(dir.path() / "cache.sqlite3-wal"));
  fs::resize_file(db, fs::file_size(db) / 2);

  auto c = open(Backend::sqlite, dir.path(), Config{});
  REQUIRE(moved_aside(dir.path()).size() == 1);
  auto all = read_all(*c);
  CHECK(all.size() < 2000);
  bool intact = true;
  for (std::size_t i = 0; i < all.size(); ++i)
    intact = intact && all[i].payload == payload_for(all[i].seq, 1000) &&
             all[i].id == all[i].seq && (i == 0 || all[i].id > all[i - 1].id);
  CHECK(intact);
  MESSAGE("rows recovered from the truncated database: " << all.size());
  CHECK(c->counts().messages == all.size());
  CHECK(append_n(*c, 5000, 1) > 2000);  // ids of lost rows are not reused
}

TEST_CASE("a database of another schema version is moved aside, not reused") {
  TempDir dir;
  { append_n(*open(Backend::sqlite, dir.path(), Config{}), 1, 1); }
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir.path() / "cache.sqlite3").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto c = open(Backend::sqlite, dir.path(), Config{});
  CHECK(moved_aside(dir.path()).size() == 1);
  CHECK(append_n(*c, 1, 1) >= 1);
}
