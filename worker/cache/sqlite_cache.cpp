// The sqlite backend at run time. Invariants: sqlite_cache.hpp.
#include "worker/cache/sqlite_cache.hpp"

#include <cassert>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

namespace robustmq::cache::sqlite {

namespace fs = std::filesystem;

void throw_error(sqlite3* db, int rc, const fs::path& path, const char* what) {
  const int primary = rc & 0xFF;
  std::string msg = fmt::format("sqlite cache {}: {}: {} ({})", path.string(), what,
                                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) throw Corrupt(msg);
  throw CacheError(msg);
}

Statement::Statement(sqlite3* db, const char* sql, const fs::path& path) {
  const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  if (rc != SQLITE_OK) throw_error(db, rc, path, "cannot prepare a statement");
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(s_);
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}

namespace {

// Runs a statement that returns no rows; leaves it reset.
void run(sqlite3* db, const Statement& s, const fs::path& path, const char* what) {
  const int rc = sqlite3_step(s.get());
  sqlite3_reset(s.get());
  if (rc != SQLITE_DONE) throw_error(db, rc, path, what);
}

sqlite3_int64 i64(std::uint64_t v) { return static_cast<sqlite3_int64>(v); }

}  // namespace

void SqliteCache::check(int rc, const char* what) const {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) throw_error(db_, rc, path_, what);
}

void SqliteCache::exec(const char* sql) { check(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr), sql); }

void SqliteCache::prepare() {
  insert_ = Statement(db_,
      "INSERT INTO messages(id, size, seq, enqueue_ns, flags, topic, payload) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", path_);
  select_after_ = Statement(db_,
      "SELECT id, seq, enqueue_ns, flags, topic, payload FROM messages "
      "WHERE id > ?1 ORDER BY id LIMIT ?2", path_);
  range_totals_ = Statement(db_,
      "SELECT count(*), total(size) FROM messages WHERE id > ?1 AND id <= ?2", path_);
  delete_through_ = Statement(db_, "DELETE FROM messages WHERE id <= ?1", path_);
  write_meta_ = Statement(db_,
      "UPDATE meta SET next_id = ?1, messages = ?2, bytes = ?3, removed_id = ?4 WHERE one = 1",
      path_);
  begin_ = Statement(db_, "BEGIN IMMEDIATE", path_);
  commit_ = Statement(db_, "COMMIT", path_);
  rollback_ = Statement(db_, "ROLLBACK", path_);
}

SqliteCache::~SqliteCache() {
  if (!config_.read_only && !failed_ && pending_removed_ > removed_id_) {
    try {
      run(db_, begin_, path_, "cannot begin");
      apply_removal();
      write_meta();
      commit_or_fail("cannot commit removals");
    } catch (const CacheError& e) {
      fmt::print(stderr, "robustmq cache: closing {}: {}\n", path_.string(), e.what());
    }
  }
  for (Statement* s : {&insert_, &select_after_, &range_totals_,
                       &delete_through_, &write_meta_, &begin_, &commit_, &rollback_})
    *s = Statement();
  sqlite3_close(db_);  // the last connection checkpoints the WAL into the database
}

void SqliteCache::fail(const CacheError& e) {
  if (sqlite3_get_autocommit(db_) == 0) {  // SQLite may have rolled back already
    sqlite3_step(rollback_.get());
    sqlite3_reset(rollback_.get());
  }
  if (dynamic_cast<const Corrupt*>(&e)) mark_suspect();
  if (!failed_) failed_ = e.what();
  throw CacheError(e.what());
}

void SqliteCache::mark_suspect() noexcept {
  fs::path marker = path_;
  marker += ".suspect";
  const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
}

void SqliteCache::count_pending() const {
  if (pending_counted_ < removed_id_) pending_counted_ = removed_id_;
  if (pending_removed_ <= pending_counted_) return;
  sqlite3_stmt* t = range_totals_.get();
  sqlite3_bind_int64(t, 1, i64(pending_counted_));
  sqlite3_bind_int64(t, 2, i64(pending_removed_));
  const int rc = sqlite3_step(t);
  const auto n = static_cast<std::uint64_t>(sqlite3_column_int64(t, 0));
  const auto bytes = static_cast<std::uint64_t>(sqlite3_column_double(t, 1));
  sqlite3_reset(t);
  if (rc != SQLITE_ROW) throw_error(db_, rc, path_, "cannot total acknowledged messages");
  pending_messages_ += n;
  pending_bytes_ += bytes;
  pending_counted_ = pending_removed_;
}

void SqliteCache::apply_removal() {
  if (pending_removed_ <= removed_id_) return;
  count_pending();
  sqlite3_bind_int64(delete_through_.get(), 1, i64(pending_removed_));
  run(db_, delete_through_, path_, "cannot delete acknowledged messages");
  assert(pending_messages_ <= messages_ && pending_bytes_ <= bytes_);
  messages_ -= std::min(messages_, pending_messages_);
  bytes_ -= std::min(bytes_, pending_bytes_);
  removed_id_ = pending_removed_;
  pending_messages_ = pending_bytes_ = 0;
  removal_applied_ = std::chrono::steady_clock::now();
}

void SqliteCache::write_meta() {
  sqlite3_stmt* s = write_meta_.get();
  sqlite3_bind_int64(s, 1, i64(next_id_));
  sqlite3_bind_int64(s, 2, i64(messages_));
  sqlite3_bind_int64(s, 3, i64(bytes_));
  sqlite3_bind_int64(s, 4, i64(removed_id_));
  run(db_, write_meta_, path_, "cannot update totals");
}

void SqliteCache::reserve_ids(std::uint64_t through) {
  const std::uint64_t bound = through + kIdBlock;
  write_side_file(with_suffix(path_, ".ids"), fmt::format("{}", bound), config_.sync);
  reserved_id_ = bound;
}

void SqliteCache::commit_or_fail(const char* what) { run(db_, commit_, path_, what); }

std::uint64_t SqliteCache::append(std::span<const record::MessageView> batch) {
  if (config_.read_only) throw CacheError(fmt::format("{}: opened read-only", path_.string()));
  if (failed_) throw CacheError(*failed_);
  for (const auto& m : batch) {  // the caller's error: reject before writing, not sticky
    if (m.topic.empty() || m.qos < 0 || m.qos > 2)
      throw CacheError(fmt::format("cannot cache a message with topic '{}' and QoS {}", m.topic,
                                   m.qos));
  }
  if (batch.empty()) return next_id_ - 1;
  const auto saved = std::tuple(next_id_, messages_, bytes_, removed_id_);
  try {
    if (next_id_ + batch.size() > reserved_id_) reserve_ids(next_id_ + batch.size());
    run(db_, begin_, path_, "cannot begin a transaction");
    apply_removal();
    sqlite3_stmt* s = insert_.get();
    for (const auto& m : batch) {
      const std::uint64_t size = m.topic.size() + m.payload.size();
      sqlite3_bind_int64(s, 1, i64(next_id_));
      sqlite3_bind_int64(s, 2, i64(size));
      sqlite3_bind_int64(s, 3, i64(m.seq));
      sqlite3_bind_int64(s, 4, m.enqueue_ns);
      sqlite3_bind_int(s, 5, m.qos | (m.retain ? 4 : 0) | (m.large ? 8 : 0));
      sqlite3_bind_blob64(s, 6, m.topic.data(), m.topic.size(), SQLITE_STATIC);
      // A zero-length blob must still be a blob, not NULL: bind a non-null pointer.
      sqlite3_bind_blob64(s, 7, m.payload.empty() ? "" : m.payload.data(), m.payload.size(),
                          SQLITE_STATIC);
      run(db_, insert_, path_, "cannot insert a message");
      ++next_id_;
      ++messages_;
      bytes_ += size;
    }
    sqlite3_clear_bindings(s);
    write_meta();
    commit_or_fail("cannot commit");
  } catch (const CacheError& e) {
    std::tie(next_id_, messages_, bytes_, removed_id_) = saved;
    pending_counted_ = pending_messages_ = pending_bytes_ = 0;
    fail(e);
  }
  return next_id_ - 1;
}

void SqliteCache::read(std::uint64_t after_id, std::size_t max_messages,
                       std::vector<CachedMessage>& out) {
  sqlite3_stmt* s = select_after_.get();
  sqlite3_bind_int64(s, 1, i64(std::max(after_id, pending_removed_)));
  sqlite3_bind_int64(s, 2, i64(max_messages));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    CachedMessage m;
    m.id = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    m.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    m.enqueue_ns = sqlite3_column_int64(s, 2);
    const int flags = sqlite3_column_int(s, 3);
    m.qos = flags & 3;
    m.retain = (flags & 4) != 0;
    m.large = (flags & 8) != 0;
    m.topic.assign(static_cast<const char*>(sqlite3_column_blob(s, 4)),
                   static_cast<std::size_t>(sqlite3_column_bytes(s, 4)));
    if (const void* p = sqlite3_column_blob(s, 5))
      m.payload.assign(static_cast<const char*>(p),
                       static_cast<std::size_t>(sqlite3_column_bytes(s, 5)));
    out.push_back(std::move(m));
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) {
    try {
      throw_error(db_, rc, path_, "cannot read messages");
    } catch (const Corrupt&) {
      mark_suspect();  // the next open checks the whole file
      throw;
    }
  }
}

void SqliteCache::remove_through(std::uint64_t id) {
  if (config_.read_only) throw CacheError(fmt::format("{}: opened read-only", path_.string()));
  id = std::min(id, next_id_ - 1);
  if (id <= pending_removed_) return;
  pending_removed_ = id;
  if (std::chrono::steady_clock::now() - removal_applied_ < kRemoveInterval) return;
  commit_removals();
}

void SqliteCache::commit_removals() {
  if (config_.read_only || failed_ || pending_removed_ <= removed_id_) return;
  const auto saved = std::tuple(messages_, bytes_, removed_id_);
  // A removal may become durable lazily (invariant 3 of cache.hpp): its commit does not wait
  // for an fsync (synchronous=NORMAL; the next append's FULL commit syncs the WAL, removals
  // included). A power cut may bring the acknowledged messages back once, never lose any.
  try {
    if (config_.sync) exec("PRAGMA synchronous = NORMAL");
    run(db_, begin_, path_, "cannot begin a transaction");
    apply_removal();
    write_meta();
    commit_or_fail("cannot commit removals");
  } catch (const CacheError& e) {
    std::tie(messages_, bytes_, removed_id_) = saved;
    pending_counted_ = pending_messages_ = pending_bytes_ = 0;
    fail(e);  // the worker reopens the cache, which sets synchronous again
  }
  try {
    if (config_.sync) exec("PRAGMA synchronous = FULL");
  } catch (const CacheError& e) {
    fail(e);  // no append may commit without its fsync: refuse until reopened
  }
}

Counts SqliteCache::counts() const {
  Counts c{messages_, bytes_, damaged_skipped_};
  if (pending_removed_ > removed_id_) {  // not yet deleted, but gone for the caller
    try {
      count_pending();
    } catch (const CacheError&) {
      return c;  // the next append or removal reports the error
    }
    c.messages -= std::min(c.messages, pending_messages_);
    c.bytes -= std::min(c.bytes, pending_bytes_);
  }
  return c;
}

// The last row of the id b-tree: O(log n) pages.
std::optional<std::uint64_t> SqliteCache::newest_seq() {
  Statement last(db_, "SELECT id, seq FROM messages ORDER BY id DESC LIMIT 1", path_);
  const int rc = sqlite3_step(last.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    try {
      throw_error(db_, rc, path_, "cannot read the newest message");
    } catch (const Corrupt&) {
      mark_suspect();  // the next open checks the whole file, as after a failed read()
      throw;
    }
  }
  if (static_cast<std::uint64_t>(sqlite3_column_int64(last.get(), 0)) <= pending_removed_)
    return std::nullopt;  // acknowledged, its removal pending
  return static_cast<std::uint64_t>(sqlite3_column_int64(last.get(), 1));
}

}  // namespace robustmq::cache::sqlite
