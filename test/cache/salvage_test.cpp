// SQLite backend: a salvage cut short (a kill, a full disk, a scratch copy that cannot be
// written) is finished by the next open, and a reopened cache never gives out an id at or
// below one it gave out before, even when the meta row that kept the totals is unreadable.
#include <csignal>
#include <cstring>
#include <string_view>

#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache_fixture.hpp"
#include "worker/cache/sqlite_cache.hpp"

using namespace robustmq::cache;
using namespace robustmq::cache::test;

namespace {

// --- a default VFS that fails or kills at a chosen write ----------------------------------------

// Watches the writes to the files whose path ends with `suffix`: once more than `budget` bytes
// were written to them, a write is refused as on a full disk (SQLITE_FULL) or the process is
// killed at that write (SIGKILL), as by the OOM killer or a power cut.
struct FaultState {
  std::string suffix;
  std::uint64_t budget = 0;
  std::uint64_t written = 0;
  bool kill = false;
  sqlite3_vfs* real = nullptr;
};
FaultState g_fault;
sqlite3_vfs g_fault_vfs;

struct FaultFile {
  sqlite3_file base;
  sqlite3_file* real;  // the real VFS's file, allocated right after this struct
  bool watched;
};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f)->real; }

const sqlite3_io_methods kFaultMethods = {
    3,
    [](sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); },
    [](sqlite3_file* f, void* b, int n, sqlite3_int64 off) {
      return real_of(f)->pMethods->xRead(real_of(f), b, n, off);
    },
    [](sqlite3_file* f, const void* b, int n, sqlite3_int64 off) {
      if (reinterpret_cast<FaultFile*>(f)->watched) {
        g_fault.written += static_cast<std::uint64_t>(n);
        if (g_fault.written > g_fault.budget) {
          if (g_fault.kill) ::raise(SIGKILL);
          return SQLITE_FULL;
        }
      }
      return real_of(f)->pMethods->xWrite(real_of(f), b, n, off);
    },
    [](sqlite3_file* f, sqlite3_int64 size) {
      return real_of(f)->pMethods->xTruncate(real_of(f), size);
    },
    [](sqlite3_file* f, int flags) { return real_of(f)->pMethods->xSync(real_of(f), flags); },
    [](sqlite3_file* f, sqlite3_int64* size) {
      return real_of(f)->pMethods->xFileSize(real_of(f), size);
    },
    [](sqlite3_file* f, int lock) { return real_of(f)->pMethods->xLock(real_of(f), lock); },
    [](sqlite3_file* f, int lock) { return real_of(f)->pMethods->xUnlock(real_of(f), lock); },
    [](sqlite3_file* f, int* out) {
      return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
    },
    [](sqlite3_file* f, int op, void* arg) {
      return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
    },
    [](sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); },
    [](sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); },
    [](sqlite3_file* f, int page, int size, int extend, void volatile** out) {
      return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
    },
    [](sqlite3_file* f, int offset, int n, int flags) {
      return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
    },
    [](sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); },
    [](sqlite3_file* f, int remove) { return real_of(f)->pMethods->xShmUnmap(real_of(f), remove); },
    [](sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
      return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
    },
    [](sqlite3_file* f, sqlite3_int64 off, void* p) {
      return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
    },
};

int fault_open(sqlite3_vfs* /*vfs*/, const char* name, sqlite3_file* file, int flags, int* out) {
  auto* f = reinterpret_cast<FaultFile*>(file);
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->real->pMethods = nullptr;
  f->watched = name != nullptr && std::string_view(name).ends_with(g_fault.suffix);
  const int rc = g_fault.real->xOpen(g_fault.real, name, f->real, flags, out);
  // SQLite closes a file whose pMethods is set, whether the open worked or not.
  f->base.pMethods = f->real->pMethods ? &kFaultMethods : nullptr;
  return rc;
}

// While it lives, every new SQLite connection of this process goes through the fault VFS.
class FaultVfs {
 public:
  FaultVfs(std::string suffix, std::uint64_t budget, bool kill) {
    g_fault = FaultState{std::move(suffix), budget, 0, kill, sqlite3_vfs_find(nullptr)};
    REQUIRE(g_fault.real != nullptr);
    g_fault_vfs = *g_fault.real;
    g_fault_vfs.pNext = nullptr;
    g_fault_vfs.zName = "robustmq-fault";
    g_fault_vfs.szOsFile = static_cast<int>(sizeof(FaultFile)) + g_fault.real->szOsFile;
    g_fault_vfs.xOpen = fault_open;
    REQUIRE(sqlite3_vfs_register(&g_fault_vfs, 1) == SQLITE_OK);
  }
  ~FaultVfs() { sqlite3_vfs_unregister(&g_fault_vfs); }
  FaultVfs(const FaultVfs&) = delete;
  FaultVfs& operator=(const FaultVfs&) = delete;
  std::uint64_t written() const { return g_fault.written; }
};

// While it lives, no file of this process may grow past `bytes` (RLIMIT_FSIZE): a write past
// it fails with EFBIG instead of raising SIGXFSZ.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGXFSZ, &ignore, &saved_action_) == 0);
    rlimit lower = saved_;
    lower.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lower) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::sigaction(SIGXFSZ, &saved_action_, nullptr);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  struct sigaction saved_action_ {};
};

// --- damaged databases ----------------------------------------------------------------------------

std::int64_t query(const fs::path& db_path, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  const std::int64_t v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

void exec(const fs::path& db_path, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);  // the last connection checkpoints the WAL into the file
}

void overwrite(const fs::path& file, std::uint64_t offset, const std::string& bytes) {
  std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
  REQUIRE(f.good());
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

constexpr std::uint64_t kRows = 12000;
constexpr std::size_t kPayload = 500;

// A cache of kRows messages (ids 1..kRows) whose database the next open moves aside (its schema
// version is not ours), with eight pages of zeros two fifths into the file: some rows can be
// read back, some cannot.
void make_damaged(const fs::path& dir) {
  { append_n(*open(Backend::sqlite, dir, Config{}), 1, kRows, 256, kPayload); }
  const fs::path db = dir / "cache.sqlite3";
  exec(db, "PRAGMA user_version = 99");
  REQUIRE(!fs::exists(dir / "cache.sqlite3-wal"));
  const auto page = static_cast<std::uint64_t>(query(db, "PRAGMA page_size"));
  const std::uint64_t pages = fs::file_size(db) / page;
  overwrite(db, page * (pages * 2 / 5), std::string(8 * page, '\0'));
}

std::vector<std::uint64_t> ids_of(Cache& c) {
  std::vector<std::uint64_t> ids;
  for (const auto& m : read_all(c)) ids.push_back(m.id);
  return ids;
}

// The ids an uninterrupted salvage of make_damaged() recovers.
std::vector<std::uint64_t> salvaged_ids() {
  TempDir dir;
  make_damaged(dir.path());
  auto ids = ids_of(*open(Backend::sqlite, dir.path(), Config{}));
  REQUIRE(ids.size() > kRows / 2);  // the damage leaves most rows readable
  REQUIRE(ids.size() < kRows);      // and some not
  return ids;
}

std::size_t missing(const std::vector<std::uint64_t>& want, const std::vector<std::uint64_t>& got) {
  std::size_t n = 0;
  for (const auto id : want) n += std::binary_search(got.begin(), got.end(), id) ? 0 : 1;
  return n;
}

std::size_t moved_aside(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (const auto name = e.path().filename().string();
        name.starts_with("cache.sqlite3.corrupt-") && !name.ends_with("-wal") &&
        !name.ends_with("-shm"))
      ++n;
  return n;
}

// Writes to the fresh database's WAL before the salvage is cut short: past its first commit
// of copied rows (about 2.4 MB of WAL for 4,096 rows of this size), before its last.
constexpr std::uint64_t kWalBudget = 3'500'000;

// An open of the damaged cache in `dir` that finds the disk full part way through the salvage.
void open_on_full_disk(const fs::path& dir) {
  FaultVfs full(".sqlite3-wal", kWalBudget, false);
  CHECK_THROWS_AS(open(Backend::sqlite, dir, Config{}), CacheError);
}

void check_every_row_arrived(Cache& c, const std::vector<std::uint64_t>& want) {
  const auto got = ids_of(c);
  CHECK(got.size() == want.size());
  CHECK(missing(want, got) == 0);
  CHECK(c.counts().messages == want.size());
}

}  // namespace

TEST_CASE("a salvage killed part way is finished by the next open: every readable row arrives") {
  const auto want = salvaged_ids();
  TempDir dir;
  make_damaged(dir.path());

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    FaultVfs kill_at(".sqlite3-wal", kWalBudget, true);
    try {
      open(Backend::sqlite, dir.path(), Config{});
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);  // the salvage finished within the budget: the test proves nothing
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  REQUIRE(moved_aside(dir.path()) == 1);
  const auto copied = query(dir.path() / "cache.sqlite3", "SELECT count(*) FROM messages");
  MESSAGE("rows copied before the kill: " << copied << " of " << want.size());
  REQUIRE(copied > 0);  // killed after a commit of copied rows
  REQUIRE(static_cast<std::size_t>(copied) < want.size());  // and before the last

  auto c = open(Backend::sqlite, dir.path(), Config{});
  check_every_row_arrived(*c, want);
  CHECK(moved_aside(dir.path()) == 1);  // finished, not moved aside again
  CHECK_FALSE(fs::exists(dir.path() / "cache.sqlite3.salvaging"));  // nothing left to resume
  CHECK(append_n(*c, kRows + 1, 1) > kRows);
}

TEST_CASE("a salvage cut short by a full disk fails the open; the next open finishes it") {
  const auto want = salvaged_ids();
  TempDir dir;
  make_damaged(dir.path());
  open_on_full_disk(dir.path());
  const auto copied = query(dir.path() / "cache.sqlite3", "SELECT count(*) FROM messages");
  MESSAGE("rows copied before the disk was full: " << copied << " of " << want.size());
  REQUIRE(static_cast<std::size_t>(copied) < want.size());

  auto c = open(Backend::sqlite, dir.path(), Config{});
  check_every_row_arrived(*c, want);
  CHECK(moved_aside(dir.path()) == 1);
}

TEST_CASE("a scratch copy that cannot be written fails the open; the next open copies the rows") {
  const auto want = salvaged_ids();
  TempDir dir;
  make_damaged(dir.path());
  {
    // Room for a fresh database, not for the copy of the damaged one.
    FileSizeLimit limit(fs::file_size(dir.path() / "cache.sqlite3") / 2);
    CHECK_THROWS_AS(open(Backend::sqlite, dir.path(), Config{}), CacheError);
  }
  REQUIRE(moved_aside(dir.path()) == 1);

  auto c = open(Backend::sqlite, dir.path(), Config{});
  check_every_row_arrived(*c, want);
  CHECK(c->counts().damaged_skipped >= 1);
}

TEST_CASE("a damaged meta row does not let new ids restart at or below ids given out") {
  TempDir dir;
  const fs::path db = dir.path() / "cache.sqlite3";
  std::uint64_t last = 0;
  {
    auto c = open(Backend::sqlite, dir.path(), Config{});
    last = append_n(*c, 1, 300);
    c->remove_through(last);  // every message acknowledged: no row keeps the highest id
  }
  const auto page = static_cast<std::uint64_t>(query(db, "PRAGMA page_size"));
  const auto meta_page = static_cast<std::uint64_t>(
      query(db, "SELECT rootpage FROM sqlite_master WHERE name = 'meta'"));
  REQUIRE(query(db, "SELECT count(*) FROM messages") == 0);
  std::string garbage(page, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 37 % 253);
  overwrite(db, page * (meta_page - 1), garbage);

  // A worker that reopens its cache keeps its cursors (sent and acknowledged through `last`).
  auto c = open(Backend::sqlite, dir.path(), Config{});
  REQUIRE(moved_aside(dir.path()) == 1);
  const auto id = append_n(*c, 1000, 1);
  CHECK(id > last);
  CHECK(read_all(*c, last).size() == 1);  // the worker's next read finds the new message
  c.reset();
  CHECK(append_n(*open(Backend::sqlite, dir.path(), Config{}), 1001, 1) > id);
}

TEST_CASE("an open killed between listing a salvage and the rename: the next open finishes both") {
  const auto want = salvaged_ids();
  TempDir dir;
  make_damaged(dir.path());
  // What such an open leaves: the list names a database not yet renamed.
  robustmq::cache::sqlite::write_side_file(dir.path() / "cache.sqlite3.salvaging",
                                           "cache.sqlite3.corrupt-1", true);
  auto c = open(Backend::sqlite, dir.path(), Config{});
  CHECK(fs::exists(dir.path() / "cache.sqlite3.corrupt-1"));
  CHECK(moved_aside(dir.path()) == 1);
  check_every_row_arrived(*c, want);
  CHECK_FALSE(fs::exists(dir.path() / "cache.sqlite3.salvaging"));
}

TEST_CASE("a damaged list of pending salvages: every database moved aside is salvaged again") {
  const auto want = salvaged_ids();
  TempDir dir;
  make_damaged(dir.path());
  open_on_full_disk(dir.path());
  spit(dir.path() / "cache.sqlite3.salvaging", "cache.sqlite3.corrupt-0\n00000000\n");
  auto c = open(Backend::sqlite, dir.path(), Config{});
  check_every_row_arrived(*c, want);
}
