// robustmq-cache dead / dead-delete / resend (the commands and their rules are in cache_dead.hpp).
#include "tools/cache_dead.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lib/cache_dir.hpp"
#include "tools/cache_text.hpp"
#include "worker/cache/cache.hpp"
#include "worker/cache/dead_store.hpp"

namespace robustmq::tools {

namespace fs = std::filesystem;

namespace {

constexpr int kBusy = 3;
constexpr std::size_t kBatchBytes = 8u << 20;

int list(const fs::path& dir) {
  cache::Config config;
  config.read_only = true;
  const auto store = dead::open(dir, config, false);
  if (!store) {
    fmt::print(stderr, "robustmq-cache: no dead letters in {} (no {}/)\n", dir.string(),
               dead::kDirName);
    return 0;
  }
  std::size_t damaged = 0;
  for (const auto& l : dead::read_all(*store, &damaged)) {
    const auto& m = l.message;
    fmt::print("seq={} code={:#04x} qos={}{} size={} age={} refused={} topic={}\n", m.seq,
               l.code, m.qos, m.retain ? " retain" : "", m.payload.size(), age(m.enqueue_ns),
               when(l.refused_ns), printable(m.topic));
  }
  if (damaged > 0)
    fmt::print(stderr, "robustmq-cache: {} record(s) of the store are not dead letters\n",
               damaged);
  return 0;
}

// The client lock and the worker lock of `dir`, held until destruction.
class DirLocks {
 public:
  ~DirLocks() {
    if (worker_ >= 0) ::close(worker_);
    if (client_ >= 0) {
      (void)!::ftruncate(client_, 0);  // names no holder any more (cache_dir.hpp)
      ::close(client_);
    }
  }
  // Empty on success, else why not (the exit code is kBusy when someone uses `dir`).
  std::string take(const fs::path& dir, const char* hint, int& code) {
    try {
      client_ = lock_cache_dir(dir, std::chrono::milliseconds(200));
    } catch (const std::system_error& e) {
      code = e.code().value() == EBUSY ? kBusy : 2;
      return code == kBusy ? fmt::format("{}: {}", e.what(), hint) : e.what();
    }
    const auto path = dir / "robustmq.worker.lock";
    worker_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (worker_ < 0) return {};  // no worker ever ran here
    if (::flock(worker_, LOCK_EX | LOCK_NB) != 0) {
      code = kBusy;
      return fmt::format("a worker (pid {}) still delivers from {} for an application that "
                         "exited or handed off: wait for it to exit, or start the client and "
                         "call RobustClient::resend_dead_letters()",
                         pid_in(worker_), dir.string());
    }
    return {};
  }

 private:
  int client_ = -1;
  int worker_ = -1;
};

// The main cache of `dir`, as robustmq-cache stats detects it.
std::unique_ptr<cache::Cache> open_main(const fs::path& dir) {
  cache::Config config;  // sync: the store loses the messages once they are in
  if (fs::exists(dir / "cache.sqlite3")) return cache::open(cache::Backend::sqlite, dir, config);
  if (fs::is_directory(dir / "log")) return cache::open(cache::Backend::file, dir, config);
  throw cache::CacheError(fmt::format("no disk cache in {} (no cache.sqlite3, no log/) to move "
                                      "the dead letters into: run the client once first",
                                      dir.string()));
}

void append_all(cache::Cache& main, const std::vector<dead::Letter>& letters) {
  std::vector<record::MessageView> batch;
  std::size_t bytes = 0;
  for (const auto& l : letters) {
    batch.push_back(dead::as_message(l));
    bytes += l.message.payload.size();
    if (bytes >= kBatchBytes) {
      main.append(batch);
      batch.clear();
      bytes = 0;
    }
  }
  if (!batch.empty()) main.append(batch);
}

int change(std::string_view cmd, const fs::path& dir, std::span<char* const> args) {
  const bool all = args.size() == 1 && std::string_view(args[0]) == "--all";
  std::set<std::uint64_t> seqs;
  if (!all) {
    for (char* const a : args) {
      char* end = nullptr;
      errno = 0;
      const unsigned long long v = std::strtoull(a, &end, 10);
      if (end == a || *end != '\0' || errno != 0 || *a == '-') {
        fmt::print(stderr, "robustmq-cache: {}: not a sequence number (or give --all)\n", a);
        return 1;
      }
      seqs.insert(v);
    }
    if (seqs.empty()) {
      fmt::print(stderr, "robustmq-cache {}: give --all or the SEQs of the dead letters\n", cmd);
      return 1;
    }
  }
  const bool resend = cmd == "resend";
  DirLocks locks;
  int code = 0;
  const std::string busy = locks.take(
      dir, resend ? "stop the client, or call RobustClient::resend_dead_letters()"
                  : "stop the client first",
      code);
  if (!busy.empty()) {
    fmt::print(stderr, "robustmq-cache: {}\n", busy);
    return code;
  }
  cache::Config config;
  auto store = dead::open(dir, config, false);
  if (!store) {
    fmt::print(stderr, "robustmq-cache: no dead letters in {}\n", dir.string());
    return all ? 0 : 2;
  }
  std::size_t damaged = 0;
  auto letters = dead::read_all(*store, &damaged);
  std::vector<dead::Letter> chosen;
  std::vector<dead::Letter> kept;
  std::set<std::uint64_t> missing = seqs;
  for (auto& l : letters) {
    const bool pick = all || seqs.count(l.message.seq) > 0;
    if (pick) missing.erase(l.message.seq);
    (pick ? chosen : kept).push_back(std::move(l));
  }
  if (!missing.empty()) {
    fmt::print(stderr, "robustmq-cache: no dead letter has seq {}: nothing changed\n",
               fmt::join(missing, ", "));
    return 2;
  }
  if (resend && !chosen.empty()) append_all(*open_main(dir), chosen);
  if (kept.empty()) {
    // Everything goes (records that are not dead letters too): a removal, no rewrite.
    std::uint64_t last = 0;
    std::vector<cache::CachedMessage> probe;
    for (;;) {
      probe.clear();
      store->read(last, 256, probe);
      if (probe.empty()) break;
      last = probe.back().id;
    }
    if (last != 0) store->remove_through(last);
    store->commit_removals();
  } else {
    store.reset();
    dead::rewrite(dir, config, kept);
  }
  if (damaged > 0)
    fmt::print(stderr, "robustmq-cache: {} record(s) of the store that are not dead letters "
               "were removed\n", damaged);
  fmt::print("{} {} dead letter(s){}\n", resend ? "moved" : "deleted", chosen.size(),
             resend ? " into the disk cache: the next client sends them" : "");
  return 0;
}

}  // namespace

int dead_command(std::string_view cmd, const fs::path& dir, std::span<char* const> args) {
  try {
    if (cmd == "dead") return args.empty() ? list(dir) : 1;
    return change(cmd, dir, args);
  } catch (const std::exception& e) {
    fmt::print(stderr, "robustmq-cache: {}: {}\n", dir.string(), e.what());
    return 2;
  }
}

}  // namespace robustmq::tools
