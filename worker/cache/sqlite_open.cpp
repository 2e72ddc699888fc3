// Opening the sqlite cache, and what happens to a database that cannot be used: its name is
// written to the list of pending salvages, it is renamed aside with its -wal and -shm (never
// deleted), a fresh database is started, and every row that can still be read from the old one
// is copied over with its id (sqlite_salvage.cpp). Every open finishes the salvages that list
// names (invariants 5 to 7, sqlite_cache.hpp).
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "worker/cache/backends.hpp"
#include "worker/cache/crc32c.hpp"
#include "worker/cache/posix_io.hpp"
#include "worker/cache/sqlite_cache.hpp"

namespace robustmq::cache::sqlite {

namespace fs = std::filesystem;

fs::path with_suffix(const fs::path& p, std::string_view suffix) {
  fs::path out = p;
  out += std::string(suffix);
  return out;
}

namespace {

constexpr std::size_t kSideFileMax = 1 << 20;

std::string crc_line(std::string_view body) {
  return fmt::format("{:08x}", crc32c::value(body.data(), body.size()));
}

}  // namespace

void write_side_file(const fs::path& file, std::string_view body, bool sync) {
  const std::string content = fmt::format("{}\n{}\n", body, crc_line(body));
  const fs::path tmp = with_suffix(file, ".tmp");
  {
    io::Fd fd = io::open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    io::pwrite_all(fd.get(), content.data(), content.size(), 0, tmp);
    if (sync) io::sync_data(fd.get(), tmp);
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) io::fail("cannot rename", tmp, errno);
  if (sync) io::sync_dir(file.parent_path());
}

std::optional<std::string> read_side_file(const fs::path& file) {
  io::Fd fd = io::open_file(file, O_RDONLY);
  const std::uint64_t size = io::file_size(fd.get(), file);
  if (size > kSideFileMax) return std::nullopt;
  std::string content(static_cast<std::size_t>(size), '\0');
  content.resize(io::pread_some(fd.get(), content.data(), content.size(), 0, file));
  if (content.empty() || content.back() != '\n') return std::nullopt;
  content.pop_back();
  const auto nl = content.rfind('\n');
  if (nl == std::string::npos) return std::nullopt;
  std::string body = content.substr(0, nl);
  if (std::string_view(content).substr(nl + 1) != crc_line(body)) return std::nullopt;
  return body;
}

namespace {

// The bound of invariant 7 in `cache.sqlite3.ids`; 0 when there is none to be trusted (the
// next append writes a new one).
std::uint64_t read_reserved_id(const fs::path& db_path) {
  const fs::path file = with_suffix(db_path, ".ids");
  std::error_code ec;
  if (!fs::exists(file, ec)) return 0;
  std::optional<std::string> body;
  try {
    body = read_side_file(file);
  } catch (const CacheError& e) {
    fmt::print(stderr, "robustmq cache: {}: ignored\n", e.what());
    return 0;
  }
  const std::string_view text = body ? std::string_view(*body) : std::string_view();
  const char* const end = text.data() + text.size();
  std::uint64_t bound = 0;
  if (const auto parsed = std::from_chars(text.data(), end, bound);
      text.empty() || parsed.ec != std::errc{} || parsed.ptr != end) {
    fmt::print(stderr, "robustmq cache: {}: damaged, ignored\n", file.string());
    return 0;
  }
  return bound;
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
  if (!config.read_only) reserved_id_ = read_reserved_id(path_);
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
      // 512 KiB of page cache instead of 2 MiB: the worker appends at one end of the id b-tree
      // and reads at the other, so few pages are worth keeping (resident memory, README
      // Performance).
      exec("PRAGMA cache_size = -512");
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

namespace {

// The databases moved aside whose rows are still to be copied, oldest first, as file names in
// `cache.sqlite3.salvaging` (invariant 6). An entry is written before its database is renamed
// and removed once the salvage is done.
class PendingSalvages {
 public:
  PendingSalvages(const fs::path& db_path, bool sync)
      : db_path_(db_path), file_(with_suffix(db_path, ".salvaging")), sync_(sync) {
    std::error_code ec;
    if (!fs::exists(file_, ec)) return;
    if (const auto body = read_side_file(file_)) {
      for (std::size_t at = 0; at < body->size();) {
        const std::size_t nl = std::min(body->find('\n', at), body->size());
        std::string name = body->substr(at, nl - at);
        if (is_aside_name(name)) names_.push_back(std::move(name));
        at = nl + 1;
      }
    } else {
      // Which salvages were done is unknown: redo every one (they skip what is present).
      fmt::print(stderr, "robustmq cache: {}: damaged; every database moved aside is salvaged "
                         "again\n", file_.string());
      for (const auto& e : fs::directory_iterator(db_path_.parent_path()))
        if (std::string name = e.path().filename().string();
            is_aside_name(name) && !name.ends_with("-wal") && !name.ends_with("-shm"))
          names_.push_back(std::move(name));
      std::sort(names_.begin(), names_.end());
      save();
    }
    finish_moves();
  }

  bool empty() const noexcept { return names_.empty(); }
  const std::string& front() const { return names_.front(); }
  bool holds(const std::string& name) const {
    return std::find(names_.begin(), names_.end(), name) != names_.end();
  }

  // Durable before it returns: the rename that follows may be cut short.
  void add(const std::string& name) {
    names_.push_back(name);
    save();
  }
  void pop_front() {
    names_.erase(names_.begin());
    save();
  }

 private:
  bool is_aside_name(const std::string& name) const {
    return name.starts_with(db_path_.filename().string() + ".corrupt-") &&
           name.find('/') == std::string::npos;
  }

  // An entry whose main file is missing was written by an open cut short before its rename
  // was done (the main file is renamed last): what is still at the database's path is the
  // damaged database, so the move is finished.
  void finish_moves() {
    bool moved = false;
    for (const auto& name : names_) {
      const fs::path aside = db_path_.parent_path() / name;
      std::error_code ec;
      if (fs::exists(aside, ec)) continue;
      for (const char* part : {"-wal", "-shm", ""}) {
        const fs::path from = with_suffix(db_path_, part);
        const fs::path to = with_suffix(aside, part);
        if (fs::exists(to, ec) || !fs::exists(from, ec)) continue;
        if (::rename(from.c_str(), to.c_str()) != 0) io::fail("cannot rename", from, errno);
        moved = true;
      }
    }
    if (moved && sync_) io::sync_dir(db_path_.parent_path());
  }

  void save() {
    if (!names_.empty()) {
      std::string body;
      for (const auto& name : names_) body += (body.empty() ? "" : "\n") + name;
      write_side_file(file_, body, sync_);
    } else if (::unlink(file_.c_str()) == 0) {
      if (sync_) io::sync_dir(file_.parent_path());
    } else if (errno != ENOENT) {
      io::fail("cannot remove", file_, errno);
    }
  }

  fs::path db_path_, file_;
  bool sync_;
  std::vector<std::string> names_;
};

// Renames the database with its -wal and -shm; the main file last, as it names the set.
void move_aside(const fs::path& path, const fs::path& aside, bool sync) {
  for (const char* part : {"-wal", "-shm", ""}) {
    const fs::path from = with_suffix(path, part);
    const fs::path to = with_suffix(aside, part);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
      io::fail("cannot rename", from, errno);
  }
  if (sync) io::sync_dir(path.parent_path());
}

}  // namespace

}  // namespace robustmq::cache::sqlite

namespace robustmq::cache {

namespace fs = std::filesystem;

std::unique_ptr<Cache> open_sqlite(const fs::path& path, const Config& config) {
  using sqlite::SqliteCache;
  if (config.read_only) {
    if (!fs::exists(path)) throw CacheError(fmt::format("no sqlite cache at {}", path.string()));
    io::open_file(path, O_RDONLY);  // says so if it is a link
    if (const auto list = sqlite::with_suffix(path, ".salvaging"); fs::exists(list))
      fmt::print(stderr, "robustmq cache: {}: a salvage is unfinished ({}); the next open that "
                         "may write finishes it\n", path.string(), list.string());
    return std::make_unique<SqliteCache>(path, config);
  }
  sqlite::PendingSalvages pending(path, config.sync);
  // Created here so that it is 0600 whatever the umask (SQLite gives -wal/-shm the same mode),
  // and refused here if it is a link.
  io::open_file(path, O_RDWR | O_CREAT);
  std::unique_ptr<SqliteCache> cache;
  try {
    cache = std::make_unique<SqliteCache>(path, config);
  } catch (const sqlite::Corrupt& e) {
    const std::string stamp = fmt::format(".corrupt-{}", static_cast<long long>(std::time(nullptr)));
    fs::path aside = sqlite::with_suffix(path, stamp);
    for (int n = 1; fs::exists(aside) || pending.holds(aside.filename().string()); ++n)
      aside = sqlite::with_suffix(path, fmt::format("{}-{}", stamp, n));
    fmt::print(stderr, "robustmq cache: {}; moved aside to {}\n", e.what(), aside.string());
    pending.add(aside.filename().string());
    sqlite::move_aside(path, aside, config.sync);
    io::open_file(path, O_RDWR | O_CREAT);
    cache = std::make_unique<SqliteCache>(path, config);
  }
  for (; !pending.empty(); pending.pop_front()) cache->salvage(path.parent_path() / pending.front());
  return cache;
}

}  // namespace robustmq::cache
