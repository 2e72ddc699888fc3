// Salvage: the readable rows of a database moved aside are copied, with their ids, into the
// fresh one (invariants 5 to 7, sqlite_cache.hpp). The damaged database itself is never
// modified: the copy reads a scratch copy of it.
//
// Two kinds of trouble are told apart. Damage of the old content (unreadable pages, a lost meta
// row, blocks the disk cannot read) is skipped, counted and reported: rows on it are lost. A
// failure of this machine (a full disk, an I/O error writing, no memory) stops the salvage with
// CacheError; what was committed stays, and the next open resumes the copy.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <memory>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "worker/cache/posix_io.hpp"
#include "worker/cache/sqlite_cache.hpp"

namespace robustmq::cache::sqlite {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kCopyChunk = 1 << 16;
constexpr std::size_t kCopyBlock = 4096;      // what a read error costs at most
constexpr std::uint64_t kRowsPerCommit = 4096;  // keeps transactions and the WAL small

struct CloseDb {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct Finalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, CloseDb>;
using Stmt = std::unique_ptr<sqlite3_stmt, Finalize>;

// Result codes that say this machine failed, not that the old database is damaged.
bool is_failure(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_INTERRUPT:
      return true;
    default:
      return false;
  }
}

void remove_scratch(const fs::path& scratch) {
  std::error_code ec;
  for (const char* part : {"", "-wal", "-shm"}) fs::remove(with_suffix(scratch, part), ec);
}

// Reads up to n bytes at offset. A range the disk cannot read (EIO) comes back as zeros, one
// kCopyBlock at a time, and is added to `unreadable`; any other read error throws.
std::size_t read_or_zero(int fd, char* buf, std::size_t n, std::uint64_t offset,
                         const fs::path& path, std::uint64_t& unreadable) {
  for (;;) {
    const ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(offset));
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno == EINTR) continue;
    if (errno != EIO) io::fail("cannot read", path, errno);
    if (n > kCopyBlock) {
      n = kCopyBlock;  // retry a single block: the error may be in a later one
      continue;
    }
    std::fill(buf, buf + n, '\0');
    unreadable += n;
    return n;
  }
}

// Copies `from` to `to` (created 0600); returns the bytes that could not be read. Throws
// CacheError when `to` cannot be written.
std::uint64_t copy_readable(const fs::path& from, const fs::path& to, std::vector<char>& head) {
  io::Fd in = io::open_file(from, O_RDONLY);
  io::Fd out = io::open_file(to, O_WRONLY | O_CREAT | O_TRUNC);
  const std::uint64_t size = io::file_size(in.get(), from);
  std::vector<char> buf(kCopyChunk);
  std::uint64_t unreadable = 0;
  for (std::uint64_t offset = 0; offset < size;) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - offset));
    const std::size_t got = read_or_zero(in.get(), buf.data(), want, offset, from, unreadable);
    if (got == 0) break;  // the file is shorter than it was
    if (offset == 0) head.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(got, 100)));
    io::pwrite_all(out.get(), buf.data(), got, offset, to);
    offset += got;
  }
  return unreadable;
}

// A scratch copy of the database moved aside (and its WAL), so that salvage never modifies
// the evidence. A truncated file is padded back to the size its header states: SQLite refuses
// a file shorter than that outright, while zero pages only make the rows on them unreadable.
// Returns the bytes that could not be read; throws CacheError when the copy cannot be written.
std::uint64_t scratch_copy(const fs::path& aside, const fs::path& scratch) {
  remove_scratch(scratch);
  std::vector<char> head;
  std::uint64_t unreadable = copy_readable(aside, scratch, head);
  std::error_code ec;
  if (fs::exists(with_suffix(aside, "-wal"), ec)) {
    std::vector<char> wal_head;
    unreadable += copy_readable(with_suffix(aside, "-wal"), with_suffix(scratch, "-wal"), wal_head);
  }
  if (head.size() < 32) return unreadable;
  const auto byte = [&](std::size_t i) { return std::uint64_t{static_cast<unsigned char>(head[i])}; };
  std::uint64_t page = (byte(16) << 8) | byte(17);
  if (page == 1) page = 65536;
  const std::uint64_t pages = (byte(28) << 24) | (byte(29) << 16) | (byte(30) << 8) | byte(31);
  const std::uint64_t want = page * pages;
  const std::uint64_t size = fs::file_size(scratch, ec);
  if (ec) io::fail("cannot stat", scratch, ec.value());
  if (want > size && want < (std::uint64_t{1} << 40)) {
    fs::resize_file(scratch, want, ec);
    if (ec) io::fail("cannot extend", scratch, ec.value());
  }
  return unreadable;
}

}  // namespace

void SqliteCache::salvage(const fs::path& aside) {
  std::error_code ec;
  if (!fs::exists(aside, ec)) {
    fmt::print(stderr, "robustmq cache: {}: nothing to copy, {} is gone\n", path_.string(),
               aside.string());
    return;
  }
  const fs::path scratch = with_suffix(path_, ".salvage");
  struct RemoveScratch {  // declared before the handle on it, so that it runs after the close
    const fs::path& p;
    explicit RemoveScratch(const fs::path& scratch) : p(scratch) {}
    RemoveScratch(const RemoveScratch&) = delete;
    RemoveScratch& operator=(const RemoveScratch&) = delete;
    ~RemoveScratch() { remove_scratch(p); }
  } remove_at_exit{scratch};
  const std::uint64_t unreadable = scratch_copy(aside, scratch);

  const auto failed = [&](sqlite3* db, int rc, const char* what) {
    throw CacheError(fmt::format("sqlite cache {}: salvage of {}: {}: {} ({})", path_.string(),
                                 aside.string(), what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                                 rc));
  };
  Db old;
  {
    sqlite3* handle = nullptr;
    // Read-write without CREATE so the WAL can be read; nothing is checkpointed into the file.
    const int rc = sqlite3_open_v2(scratch.c_str(), &handle,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
    old.reset(handle);  // a handle comes back even when the open fails
    if (rc != SQLITE_OK) failed(old.get(), rc, "cannot open the scratch copy");
  }
  sqlite3_db_config(old.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_exec(old.get(), "PRAGMA query_only = 1", nullptr, nullptr, nullptr);
  const auto prepare = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v2(old.get(), sql, -1, &s, nullptr);
    Stmt owned(s);
    if (is_failure(rc)) failed(old.get(), rc, "cannot read");
    return owned;  // empty: the schema is unreadable
  };

  // The old totals: the rows acknowledged before the damage are not brought back, and no id
  // at or below the last one given out is given out again.
  bool totals = false;
  std::uint64_t last = 0, max_id = 0;
  if (const Stmt hint = prepare("SELECT next_id - 1, removed_id FROM meta WHERE one = 1")) {
    const int rc = sqlite3_step(hint.get());
    if (rc == SQLITE_ROW) {
      totals = true;
      max_id = static_cast<std::uint64_t>(sqlite3_column_int64(hint.get(), 0));
      last = static_cast<std::uint64_t>(sqlite3_column_int64(hint.get(), 1));
    } else if (is_failure(rc)) {
      failed(old.get(), rc, "cannot read the totals");
    }
  }
  last = std::max(last, removed_id_);  // acknowledged since an earlier part of this salvage

  std::uint64_t copied = 0, present = 0, lost = 0;
  const Stmt s = prepare(
      "SELECT id, size, seq, enqueue_ns, flags, topic, payload FROM messages WHERE id > ?1 "
      "ORDER BY id");
  // Rows copied by an earlier, interrupted salvage are already there: kept as they are.
  const Statement put(db_,
      "INSERT OR IGNORE INTO messages(id, size, seq, enqueue_ns, flags, topic, payload) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", path_);
  try {
    exec("BEGIN IMMEDIATE");
    std::uint64_t in_transaction = 0;
    for (bool more = s != nullptr; more;) {
      sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(last));
      int step;
      while ((step = sqlite3_step(s.get())) == SQLITE_ROW) {
        const auto id = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
        if (id <= last) {  // a page of zeros decodes as rows with id 0: damage, not data
          step = SQLITE_CORRUPT;
          break;
        }
        for (int i = 0; i < 5; ++i)
          sqlite3_bind_int64(put.get(), i + 1, sqlite3_column_int64(s.get(), i));
        for (int i = 5; i < 7; ++i) {
          const void* blob = sqlite3_column_blob(s.get(), i);
          sqlite3_bind_blob64(put.get(), i + 1, blob ? blob : "",
                              static_cast<std::uint64_t>(sqlite3_column_bytes(s.get(), i)),
                              SQLITE_TRANSIENT);
        }
        check(sqlite3_step(put.get()), "salvage");
        sqlite3_reset(put.get());
        if (sqlite3_changes(db_) > 0) {
          ++messages_;
          bytes_ += static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 1));
          ++copied;
        } else {
          ++present;
        }
        next_id_ = std::max(next_id_, id + 1);
        last = id;
        if (++in_transaction == kRowsPerCommit) {
          write_meta();
          exec("COMMIT; BEGIN IMMEDIATE");
          in_transaction = 0;
        }
      }
      sqlite3_reset(s.get());
      if (step == SQLITE_DONE) break;
      if (is_failure(step)) failed(old.get(), step, "cannot read");
      // An unreadable page: probe ever further past it for rows that can still be read.
      std::uint64_t skip = 1;
      bool found = false;
      for (; skip <= (1ull << 40) && last + skip <= std::max<std::uint64_t>(max_id, last + (1ull << 32));
           skip *= 2) {
        // A sign change, not a widening: ids stay below 2^63 (SQLite rowids are int64).
        // NOLINTNEXTLINE(bugprone-misplaced-widening-cast)
        sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(last + skip));
        step = sqlite3_step(s.get());
        sqlite3_reset(s.get());
        if (step == SQLITE_ROW || step == SQLITE_DONE) {
          found = step == SQLITE_ROW;
          break;
        }
        if (is_failure(step)) failed(old.get(), step, "cannot read");
      }
      // An upper bound on the ids on unreadable pages (the old meta row knows the last id).
      lost += found || max_id <= last ? skip : max_id - last;
      last += skip;
      more = found;
    }
    // Ids are never reused, even those of rows lost (invariant 7).
    next_id_ = std::max({next_id_, max_id + 1, reserved_id_});
    write_meta();
    exec("COMMIT");
  } catch (const CacheError&) {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    failed_ = "salvage cut short";  // the totals in memory include rows rolled back
    throw;
  }
  const bool damaged = lost > 0 || !totals || unreadable > 0 || copied + present == 0;
  damaged_skipped_ += damaged ? 1 : 0;
  std::string notes;
  if (present > 0) notes += fmt::format(", {} copied before", present);
  if (lost > 0) notes += fmt::format(", up to {} lost", lost);
  if (!totals) notes += ", its totals unreadable";
  if (unreadable > 0) notes += fmt::format(", {} bytes of it unreadable", unreadable);
  fmt::print(stderr, "robustmq cache: {}: copied {} message(s) from the damaged database {}{}\n",
             path_.string(), copied, aside.filename().string(), notes);
}

}  // namespace robustmq::cache::sqlite
