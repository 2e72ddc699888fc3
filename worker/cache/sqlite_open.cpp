// Opening the sqlite cache, and what happens to a database that cannot be used: it is renamed
// aside with its -wal and -shm (never deleted), a fresh database is started, and every row that
// can still be read from the old one is copied over with its id (invariant 5, sqlite_cache.hpp).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "worker/cache/backends.hpp"
#include "worker/cache/posix_io.hpp"
#include "worker/cache/sqlite_cache.hpp"

namespace robustmq::cache::sqlite {

namespace fs = std::filesystem;

namespace {

fs::path with_suffix(const fs::path& p, std::string_view suffix) {
  fs::path out = p;
  out += std::string(suffix);
  return out;
}

std::int64_t query_int(sqlite3* db, const char* sql, const fs::path& path) {
  Statement s(db, sql, path);
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_ROW) throw_error(db, rc, path, sql);
  return sqlite3_column_int64(s.get(), 0);
}

}  // namespace

SqliteCache::SqliteCache(const fs::path& path, const Config& config)
    : path_(path), config_(config) {
  // NOFOLLOW: not through a link (posix_io.hpp); SQLite opens its -wal and -shm that way too.
  const int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
                    (config.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  try {
    if (rc != SQLITE_OK) throw_error(db_, rc, path_, "cannot open");
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 2000);  // robustmq-cache may be reading at the same time
    if (!config.read_only) {
      // The first statement reads the header: SQLITE_NOTADB here for a file of garbage.
      exec("PRAGMA journal_mode = WAL");
      exec(config.sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
      exec("PRAGMA journal_size_limit = 67108864");
    }
    const auto version = query_int(db_, "PRAGMA user_version", path_);
    if (version == 0 && !config.read_only &&
        query_int(db_, "SELECT count(*) FROM sqlite_master", path_) == 0) {
      create_schema();
    } else if (version != kSchemaVersion) {
      throw Corrupt(fmt::format("sqlite cache {}: schema version {} is not {}", path_.string(),
                                version, kSchemaVersion));
    }
    prepare();
    {
      Statement meta(db_, "SELECT next_id, messages, bytes, removed_id FROM meta WHERE one = 1",
                     path_);
      rc = sqlite3_step(meta.get());
      if (rc != SQLITE_ROW) throw Corrupt(fmt::format("sqlite cache {}: no totals", path_.string()));
      next_id_ = static_cast<std::uint64_t>(sqlite3_column_int64(meta.get(), 0));
      messages_ = static_cast<std::uint64_t>(sqlite3_column_int64(meta.get(), 1));
      bytes_ = static_cast<std::uint64_t>(sqlite3_column_int64(meta.get(), 2));
      removed_id_ = pending_removed_ =
          static_cast<std::uint64_t>(sqlite3_column_int64(meta.get(), 3));
    }
    // Both ends of the b-tree: O(log n) pages, finds a truncated file or a broken root.
    const auto max_id = query_int(db_, "SELECT coalesce(max(id), 0) FROM messages", path_);
    query_int(db_, "SELECT coalesce(min(id), 0) FROM messages", path_);
    if (static_cast<std::uint64_t>(max_id) >= next_id_)
      throw Corrupt(fmt::format("sqlite cache {}: totals behind the rows", path_.string()));
    const fs::path suspect = with_suffix(path_, ".suspect");
    if (fs::exists(suspect)) {
      Statement check(db_, "PRAGMA quick_check(1)", path_);
      rc = sqlite3_step(check.get());
      if (rc != SQLITE_ROW) throw_error(db_, rc, path_, "quick_check");
      const auto* result = reinterpret_cast<const char*>(sqlite3_column_text(check.get(), 0));
      if (!result || std::string_view(result) != "ok")
        throw Corrupt(fmt::format("sqlite cache {}: quick_check: {}", path_.string(),
                                  result ? result : "?"));
      if (!config.read_only) ::unlink(suspect.c_str());
    }
  } catch (...) {
    for (Statement* s : {&insert_, &select_after_, &range_totals_, &delete_through_,
                         &write_meta_, &begin_, &commit_, &rollback_})
      *s = Statement();
    sqlite3_close(db_);
    throw;
  }
}

void SqliteCache::create_schema() {
  exec("BEGIN IMMEDIATE;"
       "CREATE TABLE messages(id INTEGER PRIMARY KEY, size INTEGER NOT NULL,"
       " seq INTEGER NOT NULL, enqueue_ns INTEGER NOT NULL, flags INTEGER NOT NULL,"
       " topic BLOB NOT NULL, payload BLOB NOT NULL);"
       "CREATE TABLE meta(one INTEGER PRIMARY KEY CHECK (one = 1), next_id INTEGER NOT NULL,"
       " messages INTEGER NOT NULL, bytes INTEGER NOT NULL, removed_id INTEGER NOT NULL);"
       "INSERT INTO meta VALUES (1, 1, 0, 0, 0);"
       "PRAGMA user_version = 1;"
       "COMMIT;");
  static_assert(kSchemaVersion == 1, "update create_schema()");
}

// A scratch copy of the database moved aside, so that salvage never modifies the evidence. A
// truncated file is padded back to the size its header states: SQLite refuses a file shorter
// than that outright, while zero pages only make the rows on them unreadable.
fs::path scratch_copy(const fs::path& aside, const fs::path& scratch) {
  std::error_code ec;
  for (const char* part : {"", "-wal", "-shm"}) fs::remove(with_suffix(scratch, part), ec);
  fs::copy_file(aside, scratch, ec);
  if (ec) return {};
  if (fs::exists(with_suffix(aside, "-wal"))) fs::copy_file(with_suffix(aside, "-wal"), with_suffix(scratch, "-wal"), ec);
  unsigned char h[32] = {};
  std::FILE* f = std::fopen(scratch.c_str(), "rb");
  const bool have = f && std::fread(h, 1, sizeof h, f) == sizeof h;
  if (f) std::fclose(f);
  if (!have) return scratch;
  std::uint64_t page = (std::uint64_t{h[16]} << 8) | h[17];
  if (page == 1) page = 65536;
  const std::uint64_t pages = (std::uint64_t{h[28]} << 24) | (std::uint64_t{h[29]} << 16) |
                              (std::uint64_t{h[30]} << 8) | h[31];
  const std::uint64_t want = page * pages;
  if (want > fs::file_size(scratch) && want < (std::uint64_t{1} << 40)) fs::resize_file(scratch, want, ec);
  return scratch;
}

void SqliteCache::salvage(const fs::path& aside) {
  const fs::path scratch = scratch_copy(aside, with_suffix(path_, ".salvage"));
  sqlite3* old = nullptr;
  // Read-write without CREATE so the WAL can be read; nothing is checkpointed into the file.
  int rc = scratch.empty() ? SQLITE_CANTOPEN
                           : sqlite3_open_v2(scratch.c_str(), &old,
                                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
  std::uint64_t copied = 0, lost = 0, last = 0, max_id = 0;
  if (rc == SQLITE_OK) {
    sqlite3_db_config(old, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    sqlite3_exec(old, "PRAGMA query_only = 1", nullptr, nullptr, nullptr);
    sqlite3_stmt* hint = nullptr;
    if (sqlite3_prepare_v2(old, "SELECT next_id - 1, removed_id FROM meta", -1, &hint,
                           nullptr) == SQLITE_OK && sqlite3_step(hint) == SQLITE_ROW) {
      max_id = static_cast<std::uint64_t>(sqlite3_column_int64(hint, 0));
      last = static_cast<std::uint64_t>(sqlite3_column_int64(hint, 1));
    }
    sqlite3_finalize(hint);
    sqlite3_stmt* s = nullptr;
    rc = sqlite3_prepare_v2(old,
        "SELECT id, size, seq, enqueue_ns, flags, topic, payload FROM messages WHERE id > ?1 "
        "ORDER BY id", -1, &s, nullptr);
    if (rc == SQLITE_OK) {
      exec("BEGIN IMMEDIATE");
      std::uint64_t in_transaction = 0;
      for (;;) {
        sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(last));
        int step;
        while ((step = sqlite3_step(s)) == SQLITE_ROW) {
          const auto id = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
          if (id <= last) {  // a page of zeros decodes as rows with id 0: damage, not data
            step = SQLITE_CORRUPT;
            break;
          }
          for (int i = 0; i < 5; ++i)
            sqlite3_bind_int64(insert_.get(), i + 1, sqlite3_column_int64(s, i));
          for (int i = 5; i < 7; ++i) {
            const void* blob = sqlite3_column_blob(s, i);
            sqlite3_bind_blob64(insert_.get(), i + 1, blob ? blob : "",
                                static_cast<std::uint64_t>(sqlite3_column_bytes(s, i)),
                                SQLITE_TRANSIENT);
          }
          check(sqlite3_step(insert_.get()), "salvage");
          sqlite3_reset(insert_.get());
          ++messages_;
          bytes_ += static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
          next_id_ = std::max(next_id_, id + 1);
          last = id;
          ++copied;
          if (++in_transaction == 4096) {  // keep transactions and the WAL small
            write_meta();
            exec("COMMIT; BEGIN IMMEDIATE");
            in_transaction = 0;
          }
        }
        sqlite3_reset(s);
        if (step == SQLITE_DONE) break;
        // An unreadable page: probe ever further past it for rows that can still be read.
        std::uint64_t skip = 1;
        bool found = false;
        for (; skip <= (1ull << 40) && last + skip <= std::max<std::uint64_t>(max_id, last + (1ull << 32));
             skip *= 2) {
          // A sign change, not a widening: ids stay below 2^63 (SQLite rowids are int64).
          // NOLINTNEXTLINE(bugprone-misplaced-widening-cast)
          sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(last + skip));
          step = sqlite3_step(s);
          sqlite3_reset(s);
          if (step == SQLITE_ROW || step == SQLITE_DONE) {
            found = step == SQLITE_ROW;
            break;
          }
        }
        // An upper bound on the ids on unreadable pages (the old meta row knows the last id).
        lost += found || max_id <= last ? skip : max_id - last;
        last += skip;
        if (!found) break;
      }
      write_meta();
      exec("COMMIT");
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(old);
  std::error_code ec;
  for (const char* part : {"", "-wal", "-shm"}) fs::remove(with_suffix(scratch, part), ec);
  if (max_id + 1 > next_id_) {  // ids are never reused, even those of rows lost
    next_id_ = max_id + 1;
    exec("BEGIN IMMEDIATE");
    write_meta();
    exec("COMMIT");
  }
  damaged_skipped_ += lost > 0 || copied == 0 ? 1 : 0;
  fmt::print(stderr, "robustmq cache: {}: copied {} message(s) from the damaged database{}\n",
             path_.string(), copied,
             lost > 0 ? fmt::format(", up to {} lost", lost) : std::string());
}

}  // namespace robustmq::cache::sqlite

namespace robustmq::cache {

namespace fs = std::filesystem;

std::unique_ptr<Cache> open_sqlite(const fs::path& path, const Config& config) {
  using sqlite::SqliteCache;
  if (config.read_only) {
    if (!fs::exists(path)) throw CacheError(fmt::format("no sqlite cache at {}", path.string()));
    io::open_file(path, O_RDONLY);  // says so if it is a link
    return std::make_unique<SqliteCache>(path, config);
  }
  // Created here so that it is 0600 whatever the umask (SQLite gives -wal/-shm the same mode),
  // and refused here if it is a link.
  io::open_file(path, O_RDWR | O_CREAT);
  try {
    return std::make_unique<SqliteCache>(path, config);
  } catch (const sqlite::Corrupt& e) {
    const std::string stamp = fmt::format(".corrupt-{}", static_cast<long long>(std::time(nullptr)));
    fs::path aside = sqlite::with_suffix(path, stamp);
    for (int n = 1; fs::exists(aside); ++n) aside = sqlite::with_suffix(path, fmt::format("{}-{}", stamp, n));
    fmt::print(stderr, "robustmq cache: {}; moved aside to {}\n", e.what(), aside.string());
    for (const char* part : {"-wal", "-shm", ""}) {  // the main file last: it names the set
      const fs::path from = sqlite::with_suffix(path, part);
      const fs::path to = sqlite::with_suffix(aside, part);
      if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
        io::fail("cannot rename", from, errno);
    }
    if (config.sync) io::sync_dir(path.parent_path());
    io::open_file(path, O_RDWR | O_CREAT);
    auto fresh = std::make_unique<SqliteCache>(path, config);
    fresh->salvage(aside);
    return fresh;
  }
}

}  // namespace robustmq::cache
