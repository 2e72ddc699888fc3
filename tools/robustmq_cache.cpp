// robustmq-cache: inspect a RobustMQ disk cache without changing it; list, re-send or delete its
// dead letters (tools/cache_dead.hpp: dead, dead-delete, resend — the two that write take the
// cache directory's locks).
//
//   robustmq-cache stats DIR            backend, messages, bytes, oldest/newest enqueue time,
//                                       damaged regions found while reading
//   robustmq-cache dump DIR [--payload] one line per message: id, seq, topic, qos, size, age
//   robustmq-cache drops DIR            one line per record of the drop journal, oldest first
//
// Options (anywhere on the line): -h/--help (stdout, exit 0), -V/--version, --json: stats as
// one JSON object, dump and drops as JSON Lines (one object per message / record; payloads,
// with --payload, in base64), for scripts.
//
// `drops` reads DIR/robustmq.drops (proto/drop_journal.hpp), the sequence numbers that left
// without being delivered, and needs no cache. A line is
//   SERIAL FIRST-LAST REASON [code=0xNN] time=YYYY-MM-DDTHH:MM:SSZ count=N
// e.g. "12 5001-5100 refused code=0x87 time=2026-12-06T05:51:07Z count=100": the first three
// fields by position (REASON is expired, overflow, damaged, refused or unknown), the rest
// key=value; code (the broker's MQTT 5 reason code) only for refused, time that of the newest
// drop of the range (UTC). No journal: nothing on stdout, a note on stderr, exit 0. Damaged
// records are skipped and counted on stderr's last line.
//
// A large message (its payload in a file of DIR/large/, proto/large_message.hpp) shows as
// "large=<file> size=<payload bytes>", and "file=missing" or "file=<bytes> (truncated)" when
// the file is not what the reference says; stats counts large messages and their bytes apart.
//
// The backend is detected from DIR's content (cache.sqlite3 or log/). The cache is opened with
// Config::read_only: nothing is truncated, repaired, renamed or deleted, so it is safe to run
// on a cache a worker is using or on one kept for a post-mortem.
// Exit codes: 0 ok, 1 usage, 2 cannot open or read the cache (drops: the journal, or DIR is
// not a directory).
#include <getopt.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "tools/cache_dead.hpp"
#include "tools/cache_text.hpp"
#include "worker/cache/cache.hpp"
#include "proto/drop_journal.hpp"
#include "proto/large_message.hpp"
#include "robustmq_config.h"

namespace fs = std::filesystem;
using namespace robustmq::cache;

namespace {

constexpr const char* kUsage =
    "usage: robustmq-cache [--json] stats DIR\n"
    "       robustmq-cache [--json] dump DIR [--payload]\n"
    "       robustmq-cache [--json] drops DIR\n"
    "       robustmq-cache dead DIR\n"
    "       robustmq-cache dead-delete DIR (--all | SEQ...)\n"
    "       robustmq-cache resend DIR (--all | SEQ...)\n"
    "       robustmq-cache --help | --version\n";

constexpr const char* kHelp =
    "Inspects a RobustMQ cache directory without changing it (stats, dump, drops, dead), and\n"
    "deletes or re-sends its dead letters (dead-delete, resend: not while a client or its\n"
    "worker uses the directory).\n"
    "\n"
    "  stats DIR         backend, messages, bytes, large messages, oldest and newest, damage\n"
    "  dump DIR          one line per cached message, oldest first (--payload: with payloads)\n"
    "  drops DIR         the drop journal: sequence numbers that left undelivered, and why\n"
    "  dead DIR          the dead letters (messages the broker refused for good)\n"
    "  dead-delete DIR   delete dead letters: --all, or the sequence numbers given\n"
    "  resend DIR        move dead letters back into the cache: the next client sends them\n"
    "\n"
    "  --json            stats: one JSON object; dump, drops: one JSON object per line\n"
    "  -h, --help        this text;  -V, --version  the version\n"
    "\n"
    "Exit codes: 0 ok, 1 usage, 2 cannot open, read or write, 3 a client or its worker uses\n"
    "DIR (dead-delete, resend).\n";

int usage(const std::string& why = {}) {
  if (!why.empty()) fmt::print(stderr, "robustmq-cache: {}\n", why);
  fmt::print(stderr, "{}", kUsage);
  return 1;
}

using robustmq::tools::age;
using robustmq::tools::base64;
using robustmq::tools::json_string;
using robustmq::tools::printable;
using robustmq::tools::when;

namespace journal = robustmq::journal;

const char* reason_name(journal::Reason r) {
  switch (r) {
    case journal::Reason::expired: return "expired";
    case journal::Reason::overflow: return "overflow";
    case journal::Reason::damaged: return "damaged";
    case journal::Reason::refused: return "refused";
    case journal::Reason::unknown: return "unknown";
  }
  return "?";  // decode() refuses other numbers
}

// Why Reader::open refused `file`, in words: its error says only ELOOP or EINVAL.
std::string refusal(const fs::path& file, const std::error_code& ec) {
  struct stat st{};
  if (::lstat(file.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) return "it is a symbolic link (not followed)";
    if (!S_ISREG(st.st_mode)) return "it is not a regular file";
    if (st.st_size != static_cast<off_t>(journal::kFileBytes))
      return fmt::format("it is {} bytes, not {} (the worker sets its size right when it next "
                         "opens it)", st.st_size, journal::kFileBytes);
  }
  return ec.message();
}

int drops(const fs::path& dir, bool json) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fmt::print(stderr, "robustmq-cache: {} is not a directory\n", dir.string());
    return 2;
  }
  const auto reader = journal::Reader::open(dir, ec);
  if (!reader) {
    if (ec == std::errc::no_such_file_or_directory) {
      fmt::print(stderr, "robustmq-cache: no drop journal in {} (nothing was ever dropped)\n",
                 dir.string());
      return 0;
    }
    const fs::path file = journal::file_path(dir);
    fmt::print(stderr, "robustmq-cache: cannot read the drop journal {}: {}\n", file.string(),
               refusal(file, ec));
    return 2;
  }
  // A record the worker is extending in place right now reads as damaged: read again, a few
  // times, before calling it damaged.
  std::size_t damaged = 0;
  auto records = reader->all(&damaged);
  for (int again = 0; again < 3 && damaged > 0; ++again) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    records = reader->all(&damaged);
  }
  for (const auto& r : records) {
    if (json) {
      fmt::print("{{\"serial\":{},\"first\":{},\"last\":{},\"count\":{},\"reason\":\"{}\","
                 "\"code\":{},\"time\":\"{}\",\"time_ns\":{}}}\n",
                 r.serial, r.first, r.last, r.last - r.first + 1, reason_name(r.reason),
                 r.reason == journal::Reason::refused ? std::to_string(r.code) : "null",
                 when(r.time_ns), r.time_ns);
      continue;
    }
    fmt::print("{} {}-{} {}{} time={} count={}\n", r.serial, r.first, r.last,
               reason_name(r.reason),
               r.reason == journal::Reason::refused ? fmt::format(" code={:#04x}", r.code)
                                                    : std::string(),
               when(r.time_ns), r.last - r.first + 1);
  }
  if (damaged > 0)
    fmt::print(stderr, "robustmq-cache: {} damaged record(s) skipped in {}\n", damaged,
               journal::file_path(dir).string());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  enum { kJson = 1000, kPayload, kAll };
  static const option longs[] = {{"help", no_argument, nullptr, 'h'},
                                 {"version", no_argument, nullptr, 'V'},
                                 {"json", no_argument, nullptr, kJson},
                                 {"payload", no_argument, nullptr, kPayload},
                                 {"all", no_argument, nullptr, kAll},
                                 {nullptr, 0, nullptr, 0}};
  bool json = false, payload = false, all = false;
  opterr = 0;
  int c = 0;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): one thread
  while ((c = getopt_long(argc, argv, "hV", longs, nullptr)) != -1) {
    switch (c) {
      case 'h': fmt::print("{}\n{}", kUsage, kHelp); return 0;
      case 'V': fmt::print("robustmq-cache {}\n", ROBUSTMQ_VERSION); return 0;
      case kJson: json = true; break;
      case kPayload: payload = true; break;
      case kAll: all = true; break;
      default: return usage(fmt::format("unknown option {}", argv[optind - 1]));
    }
  }
  if (argc - optind < 2) return usage();
  const std::string_view cmd = argv[optind];
  const fs::path dir = argv[optind + 1];
  std::vector<char*> rest(argv + optind + 2, argv + argc);
  const bool dead = cmd == "dead" || cmd == "dead-delete" || cmd == "resend";
  if (json && dead) return usage("--json is for stats, dump and drops");
  if (payload && cmd != "dump") return usage("--payload is for dump");
  if (all && cmd != "dead-delete" && cmd != "resend") return usage("--all is for dead-delete and resend");
  if (dead) {
    static char all_arg[] = "--all";
    if (all) rest.insert(rest.begin(), all_arg);
    const int rc = robustmq::tools::dead_command(cmd, dir, rest);
    return rc == 1 ? usage() : rc;
  }
  if (!rest.empty()) return usage(fmt::format("unexpected argument {}", rest.front()));
  if (cmd == "drops") return drops(dir, json);
  if (cmd != "stats" && cmd != "dump") return usage(fmt::format("unknown command {}", cmd));

  std::unique_ptr<Cache> cache;
  const char* name = nullptr;
  try {
    Backend backend;
    if (fs::exists(dir / "cache.sqlite3")) {
      backend = Backend::sqlite;
      name = "sqlite";
    } else if (fs::is_directory(dir / "log")) {
      backend = Backend::file;
      name = "file";
    } else {
      fmt::print(stderr, "robustmq-cache: no cache in {} (no cache.sqlite3, no log/)\n",
                 dir.string());
      return 2;
    }
    Config config;
    config.read_only = true;
    cache = open(backend, dir, config);

    std::uint64_t n = 0, bytes = 0, after = 0, large_n = 0, large_bytes = 0, large_bad = 0;
    std::int64_t oldest = 0, newest = 0;
    std::vector<CachedMessage> batch;
    for (;;) {
      batch.clear();
      cache->read(after, 1024, batch);
      if (batch.empty()) break;
      for (const auto& m : batch) {
        if (n == 0 || m.enqueue_ns < oldest) oldest = m.enqueue_ns;
        if (n == 0 || m.enqueue_ns > newest) newest = m.enqueue_ns;
        ++n;
        bytes += m.topic.size() + m.payload.size();
        std::string size = std::to_string(m.payload.size());
        // JSON: the payload's size (a large message's from its reference; null if damaged), and
        // a large message's file and what is wrong with it.
        std::string json_size = size, json_large;
        if (m.large) {
          // The reference, and what is on disk for it.
          const auto ref = robustmq::large::decode(m.payload);
          ++large_n;
          if (!ref) {
            ++large_bad;
            size = "? large=damaged-reference";
            json_size = "null";
            json_large = R"(,"large_file":null,"large_problem":"damaged reference")";
          } else {
            large_bytes += ref->size;
            std::error_code ec;
            const auto on_disk = fs::file_size(robustmq::large::dir_of(dir) / ref->name, ec);
            std::string file, problem;
            if (ec) {
              file = " file=missing";
              problem = "missing";
            } else if (on_disk != ref->size) {
              file = fmt::format(" file={} (truncated)", on_disk);
              problem = fmt::format("truncated to {} bytes", on_disk);
            }
            if (!file.empty()) ++large_bad;
            size = fmt::format("{} large={}{}", ref->size, ref->name, file);
            json_size = std::to_string(ref->size);
            json_large = fmt::format(R"(,"large_file":{},"large_problem":{})",
                                     json_string(ref->name),
                                     problem.empty() ? "null" : json_string(problem));
          }
        }
        if (cmd == "dump" && json) {
          fmt::print("{{\"id\":{},\"seq\":{},\"qos\":{},\"retain\":{},\"size\":{},"
                     "\"enqueue_ns\":{},\"topic\":{}{}{}}}\n",
                     m.id, m.seq, m.qos, m.retain, json_size, m.enqueue_ns, json_string(m.topic),
                     json_large,
                     payload && !m.large
                         ? fmt::format(",\"payload_base64\":\"{}\"", base64(m.payload))
                         : std::string());
        } else if (cmd == "dump") {
          fmt::print("{} seq={} qos={}{} size={} age={} topic={}{}\n", m.id, m.seq, m.qos,
                     m.retain ? " retain" : "", size, age(m.enqueue_ns), printable(m.topic),
                     payload && !m.large ? " payload=" + printable(m.payload) : "");
        }
      }
      after = batch.back().id;
    }
    if (cmd == "stats" && json) {
      const Counts totals = cache->counts();
      fmt::print("{{\"backend\":\"{}\",\"messages\":{},\"bytes\":{},\"cache_messages\":{},"
                 "\"cache_bytes\":{},\"large_messages\":{},\"large_bytes\":{},"
                 "\"large_damaged\":{},\"oldest_ns\":{},\"newest_ns\":{},"
                 "\"damaged_regions\":{}}}\n",
                 name, n, bytes, totals.messages, totals.bytes, large_n, large_bytes, large_bad,
                 n > 0 ? std::to_string(oldest) : "null", n > 0 ? std::to_string(newest) : "null",
                 totals.damaged_skipped);
    } else if (cmd == "stats") {
      const Counts c = cache->counts();
      fmt::print("backend:   {}\nmessages:  {} (cache totals: {})\nbytes:     {} (cache totals: {})\n",
                 name, n, c.messages, bytes, c.bytes);
      fmt::print("large:     {} message(s), {} bytes in files of {}{}\n", large_n, large_bytes,
                 robustmq::large::dir_of(dir).string(),
                 large_bad > 0 ? fmt::format(" ({} missing, truncated or damaged)", large_bad)
                               : std::string());
      if (n > 0) fmt::print("oldest:    {}\nnewest:    {}\n", when(oldest), when(newest));
      fmt::print("damaged:   {} region(s) skipped\n", c.damaged_skipped);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "robustmq-cache: {}: {}\n", dir.string(), e.what());
    return 2;
  }
  return 0;
}
