// The `sqlite` cache backend: dir/cache.sqlite3 in WAL mode. Internal to the cache library.
//
// Schema (PRAGMA user_version = kSchemaVersion):
//   messages(id INTEGER PRIMARY KEY, size, seq, enqueue_ns, flags, topic BLOB, payload BLOB)
//   meta(one = 1, next_id, messages, bytes, removed_id)   -- one row: the totals
//
// Invariants:
//   1. meta always equals the messages table: next_id > max(id), messages = count(*),
//      bytes = sum(size). Both change in the same transaction, so opening reads the totals in
//      O(1) instead of scanning a backlog that may hold millions of rows.
//   2. One append() is one transaction (group commit); with Config::sync the commit fsyncs the
//      WAL (synchronous=FULL). Without it, synchronous=NORMAL: a power cut may roll back the
//      last commits but never corrupts the database.
//   3. remove_through() only records the id (pending_removed_). The DELETE runs inside the next
//      append's transaction, or in its own at most every kRemoveInterval, or at close: the
//      worker acknowledges up to tens of thousands of messages a second, and an fsync each
//      would cap it at the disk's sync rate. read() and counts() already treat pending ids as
//      gone; after a power cut they may come back once (at-least-once allows it).
//   4. After a failed commit failed_ is set and every later append throws it (SQLite has rolled
//      the transaction back; the committed rows are untouched). Reopen to retry.
//   5. Opening does not scan the database (a 1 GB cache opens in milliseconds): it checks the
//      header, the schema, the meta row and both ends of the messages b-tree. Damage found
//      later (SQLITE_CORRUPT from read or append) leaves a `.suspect` marker beside the file;
//      the next open then runs the full PRAGMA quick_check. A database that fails any of these
//      is renamed aside with its -wal/-shm (never deleted), its readable rows are copied, with
//      their ids, into a fresh database (sqlite_salvage.cpp), and the rows lost are counted.
//   6. A salvage is finished before the cache is used. Its database's name is written to
//      `cache.sqlite3.salvaging` (durably) before the rename and removed once every readable
//      row was copied; each open resumes what that file names (a kill, a power cut or a full
//      disk may have cut the copy short). Resuming is idempotent: rows already present, or
//      acknowledged since (id <= removed_id), are skipped. A salvage that cannot finish (the
//      disk is full, the scratch copy cannot be written) makes the open throw CacheError; only
//      damage of the old database's content is skipped and counted.
//   7. Ids are never given out twice, even when the meta row is lost: every id given out is
//      below the bound in `cache.sqlite3.ids`, which append() raises by kIdBlock (before its
//      commit, fsynced as the commit is) when the batch would reach it. A salvage continues at
//      or above that bound, above max(id) of the copied rows and above the old meta row's
//      next_id, so a reader's cursors from before the damage stay valid.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <sqlite3.h>

#include "worker/cache/cache.hpp"

namespace robustmq::cache::sqlite {

inline constexpr int kSchemaVersion = 1;
inline constexpr std::chrono::milliseconds kRemoveInterval{100};
inline constexpr std::uint64_t kIdBlock = std::uint64_t{1} << 20;  // invariant 7

std::filesystem::path with_suffix(const std::filesystem::path& p, std::string_view suffix);

// Small files beside the database (invariants 6 and 7): replaced whole (a `.tmp` written,
// fsynced with `sync`, renamed), with a CRC32C line after the body. read_side_file() returns
// the body, or nothing when the CRC does not match; it throws CacheError when the file cannot
// be read.
void write_side_file(const std::filesystem::path& file, std::string_view body, bool sync);
std::optional<std::string> read_side_file(const std::filesystem::path& file);

// The database cannot be used as it is: move it aside and start fresh.
class Corrupt : public CacheError {
 public:
  using CacheError::CacheError;
};

// Throws Corrupt for SQLITE_CORRUPT/SQLITE_NOTADB, CacheError for anything else.
[[noreturn]] void throw_error(sqlite3* db, int rc, const std::filesystem::path& path,
                              const char* what);

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, const char* sql, const std::filesystem::path& path);
  Statement(Statement&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept;
  ~Statement() { sqlite3_finalize(s_); }
  sqlite3_stmt* get() const noexcept { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

class SqliteCache final : public Cache {
 public:
  // Opens and checks the database; throws Corrupt when it must be moved aside.
  SqliteCache(const std::filesystem::path& path, const Config& config);
  ~SqliteCache() override;

  std::uint64_t append(std::span<const record::MessageView> batch) override;
  void read(std::uint64_t after_id, std::size_t max_messages,
            std::vector<CachedMessage>& out) override;
  void remove_through(std::uint64_t id) override;
  void commit_removals() override;
  Counts counts() const override;
  Backend backend() const noexcept override { return Backend::sqlite; }
  std::optional<std::uint64_t> newest_seq() override;

  // sqlite_salvage.cpp: copies the readable rows of a database moved aside (invariant 6).
  // Throws CacheError when the copy cannot be finished; a later call resumes it.
  void salvage(const std::filesystem::path& aside);
  void add_damaged(std::uint64_t n) noexcept { damaged_skipped_ += n; }

 private:
  void exec(const char* sql);
  void check(int rc, const char* what) const;
  void create_schema();
  void prepare();
  // Inside a transaction: deletes ids up to pending_removed_ and updates the totals.
  void apply_removal();
  void write_meta();
  // Raises the bound of invariant 7 above `through` (before the ids below it are given out).
  void reserve_ids(std::uint64_t through);
  void commit_or_fail(const char* what);
  [[noreturn]] void fail(const CacheError& e);
  void mark_suspect() noexcept;

  std::filesystem::path path_;
  Config config_;
  sqlite3* db_ = nullptr;
  Statement insert_, select_after_, range_totals_, delete_through_, write_meta_;
  Statement begin_, commit_, rollback_;

  std::uint64_t next_id_ = 1, messages_ = 0, bytes_ = 0;  // = meta (invariant 1)
  std::uint64_t removed_id_ = 0;                          // applied in the database
  std::uint64_t reserved_id_ = 0;                         // invariant 7 (0: no bound read)
  std::uint64_t pending_removed_ = 0;                     // invariant 3
  std::chrono::steady_clock::time_point removal_applied_{};
  // Totals of the rows in (removed_id_, pending_counted_]: counts() sums only the rows
  // acknowledged since its last call, as the worker asks for counts after every message.
  mutable std::uint64_t pending_counted_ = 0, pending_messages_ = 0, pending_bytes_ = 0;
  void count_pending() const;
  std::uint64_t damaged_skipped_ = 0;
  std::optional<std::string> failed_;  // invariant 4
};

}  // namespace robustmq::cache::sqlite
