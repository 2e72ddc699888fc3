// robustmq-stat: a running client's live figures, from outside the application. It maps the
// control and status lines of the client's shared segment read-only (never the ring) and prints
// them as text, JSON or the Prometheus text format; --watch samples them every second, with
// rates. Only the segment's owner can open it (mode 0600).
//
// Exit codes: 0 printed; 1 usage; 2 no client runs with this cache directory and id (no
// segment); 3 the segment, or the path to the directory, belongs to another user; 4 the segment
// cannot be read (another version's, or being created).
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "lib/cache_dir.hpp"
#include "proto/segment.hpp"
#include "proto/segment_stats.hpp"
#include "robustmq_config.h"
#include "tools/cache_text.hpp"

namespace {

using namespace robustmq;
using tools::json_string;

constexpr const char* kUsage =
    "usage: robustmq-stat -d DIR -i ID [--json | --prometheus] [--watch [--interval S] [-n N]]\n";

void usage(std::FILE* to) {
  fmt::print(to, "{}", kUsage);
  if (to != stdout) {
    fmt::print(to, "Try 'robustmq-stat --help'.\n");
    return;
  }
  fmt::print(
      "Shows the live figures of a running RobustMQ client (or of its orphaned worker), read-only,\n"
      "from outside the application: state, backlogs, oldest age, drops, and with --watch rates.\n"
      "  -d, --cache-dir DIR  the client's Options::cache_path\n"
      "  -i, --id ID          the client's Options::client_id\n"
      "  -j, --json           one JSON object (with --watch: one per line, JSON Lines)\n"
      "  -p, --prometheus     the Prometheus text exposition format (node_exporter's textfile\n"
      "                       collector, or a scrape through a small HTTP responder)\n"
      "  -w, --watch          sample again every interval, with rates, until interrupted\n"
      "      --interval S     seconds between samples with --watch (default 1)\n"
      "  -n, --count N        with --watch: stop after N samples\n"
      "  -h, --help           this text;  --version  the version\n"
      "Exit codes: 0 printed; 1 usage; 2 no client runs with this cache directory and id;\n"
      "3 its segment or directory belongs to another user (run as the application's user);\n"
      "4 its segment cannot be read (another RobustMQ version, or being created: try again).\n");
}

struct Args {
  std::string dir;
  std::string id;
  enum class Format { text, json, prometheus } format = Format::text;
  bool watch = false;
  double interval = 1.0;
  long count = -1;  // -1: until interrupted
};

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int /*sig*/) { g_interrupted.store(true); }

// The pid of the process holding an flock on `file`, from /proc/locks (lines like
// "1: FLOCK  ADVISORY  WRITE 1234 08:01:123456 0 EOF", device numbers in hex); 0 if none holds
// one. A lock is held exactly while its holder lives, whatever pid a file names or the kernel
// has since given to another process; and looking takes no lock, which could make a client
// starting now fail with EBUSY.
long lock_holder(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return 0;
  std::ifstream in("/proc/locks");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string number, type, advisory, mode, dev_ino;
    long pid = 0;
    if (!(fields >> number >> type >> advisory >> mode >> pid >> dev_ino) || type != "FLOCK")
      continue;  // a POSIX lock, or "->": a process waiting for a lock
    char* end = nullptr;
    const char* at = dev_ino.c_str();
    const unsigned long major_dev = std::strtoul(at, &end, 16);
    if (end == at || *end != ':') continue;
    at = end + 1;
    const unsigned long minor_dev = std::strtoul(at, &end, 16);
    if (end == at || *end != ':') continue;
    at = end + 1;
    const unsigned long long inode = std::strtoull(at, &end, 10);
    if (end == at || *end != '\0') continue;
    if (inode == st.st_ino && ::makedev(major_dev, minor_dev) == st.st_dev) return pid;
  }
  return 0;
}

// The pid robustmq.lock names: the last application's, whether or not it still runs.
long application_pid(const std::filesystem::path& lock) {
  const int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  const long pid = robustmq::pid_in(fd);
  ::close(fd);
  return pid;
}

struct Sample {
  Stats stats;
  std::chrono::steady_clock::time_point at;
  long app_pid = 0;
  bool app_up = false;     // holds the cache directory's lock (robustmq.lock)
  bool worker_up = false;  // holds the worker's lock (robustmq.worker.lock)
};

// The figures now. A segment no worker serves (it died with its application, or was killed
// after a hand-off) keeps the state its worker last wrote: it is reported as stopped.
Sample take_sample(const shm::Segment& segment, const std::filesystem::path& dir) {
  Sample s{stats_of(segment), std::chrono::steady_clock::now()};
  s.worker_up = lock_holder(dir / "robustmq.worker.lock") != 0;
  if (!s.worker_up) s.stats.state = ConnectionState::stopped;
  const long holder = lock_holder(dir / "robustmq.lock");
  s.app_up = holder != 0;
  s.app_pid = s.app_up ? holder : application_pid(dir / "robustmq.lock");
  return s;
}

double per_second(std::uint64_t now, std::uint64_t before, double seconds) {
  return now >= before && seconds > 0 ? static_cast<double>(now - before) / seconds : 0.0;
}

std::string render(const Args& a, const std::string& segment, const Sample& s,
                   const std::optional<Sample>& prev) {
  const Stats& st = s.stats;
  const bool worker_up = s.worker_up;
  const bool app_up = s.app_up;
  if (a.format == Args::Format::prometheus) {
    return prometheus_text(st, a.id, worker_up);
  }
  double secs = 0;
  if (prev) secs = std::chrono::duration<double>(s.at - prev->at).count();
  auto rate = [&](std::uint64_t Stats::*m) {
    return per_second(st.*m, prev->stats.*m, secs);
  };
  const bool rates = prev && st.published >= prev->stats.published;
  if (a.format == Args::Format::json) {
    std::string out = fmt::format(
        "{{\"client_id\":{},\"cache_dir\":{},\"segment\":{},\"state\":\"{}\",\"server\":{},"
        "\"worker_pid\":{},\"worker_running\":{},\"application_pid\":{},"
        "\"application_running\":{},\"published\":{},\"sent\":{},\"acknowledged\":{},"
        "\"cached\":{},\"refused\":{},\"refused_for_now\":{},\"dropped_invalid\":{},"
        "\"dropped_expired\":{},\"dropped_overflow\":{},\"queue_full\":{},"
        "\"connect_attempts\":{},\"reconnects\":{},\"worker_restarts\":{},\"ring_backlog\":{},"
        "\"cache_backlog\":{},\"cache_backlog_bytes\":{},\"dead_letters\":{},"
        "\"oldest_age_s\":{},\"last_error\":{},\"cache_error\":{}",
        json_string(a.id), json_string(a.dir), json_string(segment), to_string(st.state),
        json_string(st.server), st.worker_pid, worker_up, s.app_pid, app_up, st.published,
        st.sent, st.acknowledged, st.cached, st.refused, st.refused_for_now, st.dropped_invalid,
        st.dropped_expired, st.dropped_overflow, st.queue_full, st.connect_attempts,
        st.reconnects, st.worker_restarts, st.ring_backlog, st.cache_backlog,
        st.cache_backlog_bytes, st.dead_letters, st.oldest_age.count(),
        json_string(st.last_error), json_string(st.cache_error));
    if (rates)
      out += fmt::format(",\"rates\":{{\"published_per_s\":{:.3f},\"sent_per_s\":{:.3f},"
                         "\"acknowledged_per_s\":{:.3f},\"cached_per_s\":{:.3f}}}",
                         rate(&Stats::published), rate(&Stats::sent),
                         rate(&Stats::acknowledged), rate(&Stats::cached));
    return out + "}\n";
  }
  std::string out = fmt::format("client        {} (cache {})\n", a.id, a.dir);
  out += fmt::format("state         {}{}\n", to_string(st.state),
                     st.server.empty() ? "" : fmt::format(", {}", st.server));
  out += fmt::format("worker        pid {} {}; application pid {} {}\n", st.worker_pid,
                     worker_up ? "running" : "not running", s.app_pid,
                     app_up ? "running" : "gone (the worker delivers as an orphan)");
  auto counter = [&](const char* name, std::uint64_t Stats::*m) {
    out += fmt::format("{:<13} {}", name, st.*m);
    if (rates) out += fmt::format("  ({:.1f}/s)", rate(m));
    out += '\n';
  };
  counter("published", &Stats::published);
  counter("sent", &Stats::sent);
  counter("acknowledged", &Stats::acknowledged);
  counter("cached", &Stats::cached);
  out += fmt::format("backlog       ring {} messages, cache {} messages ({} bytes), oldest {} s\n",
                     st.ring_backlog, st.cache_backlog, st.cache_backlog_bytes,
                     st.oldest_age.count());
  out += fmt::format("dropped       invalid {}, expired {}, overflow {}; refused {} (and {} for "
                     "now); dead letters {}; queue full {}\n",
                     st.dropped_invalid, st.dropped_expired, st.dropped_overflow, st.refused,
                     st.refused_for_now, st.dead_letters, st.queue_full);
  out += fmt::format("connection    attempts {}, lost {}, worker restarts {}\n",
                     st.connect_attempts, st.reconnects, st.worker_restarts);
  if (!st.last_error.empty()) out += fmt::format("last error    {}\n", st.last_error);
  if (!st.cache_error.empty()) out += fmt::format("cache error   {}\n", st.cache_error);
  return out;
}

int parse(int argc, char** argv, Args& a) {
  static const option kLong[] = {{"cache-dir", required_argument, nullptr, 'd'},
                                 {"id", required_argument, nullptr, 'i'},
                                 {"json", no_argument, nullptr, 'j'},
                                 {"prometheus", no_argument, nullptr, 'p'},
                                 {"watch", no_argument, nullptr, 'w'},
                                 {"interval", required_argument, nullptr, 'I'},
                                 {"count", required_argument, nullptr, 'n'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {"version", no_argument, nullptr, 'v'},
                                 {nullptr, 0, nullptr, 0}};
  opterr = 0;
  int c = 0;
  auto bad = [](const std::string& why) {
    fmt::print(stderr, "robustmq-stat: {}\n", why);
    usage(stderr);
    return 1;
  };
  // NOLINTNEXTLINE(concurrency-mt-unsafe): one thread
  while ((c = ::getopt_long(argc, argv, ":d:i:jpwn:h", kLong, nullptr)) != -1) {
    switch (c) {
      case 'd': a.dir = optarg; break;
      case 'i': a.id = optarg; break;
      case 'j': a.format = Args::Format::json; break;
      case 'p': a.format = Args::Format::prometheus; break;
      case 'w': a.watch = true; break;
      case 'I': {
        char* end = nullptr;
        a.interval = std::strtod(optarg, &end);
        if (end == optarg || *end != '\0' || !(a.interval >= 0.1 && a.interval <= 3600))
          return bad(fmt::format("--interval {}: give seconds from 0.1 to 3600", optarg));
        break;
      }
      case 'n': {
        char* end = nullptr;
        a.count = std::strtol(optarg, &end, 10);
        if (end == optarg || *end != '\0' || a.count < 1)
          return bad(fmt::format("--count {}: give a number of samples, at least 1", optarg));
        break;
      }
      case 'h': usage(stdout); return 0;
      case 'v': fmt::print("robustmq-stat {}\n", ROBUSTMQ_VERSION); return 0;
      case ':': return bad(fmt::format("{} needs a value", argv[optind - 1]));
      default:
        return bad(optopt != 0 ? fmt::format("unknown option -{}", static_cast<char>(optopt))
                               : fmt::format("unknown option {}", argv[optind - 1]));
    }
  }
  if (optind < argc) return bad(fmt::format("unexpected argument '{}'", argv[optind]));
  if (a.dir.empty() || a.id.empty())
    return bad("give the client's cache directory (-d DIR) and client id (-i ID), as the "
               "application sets them in Options::cache_path and Options::client_id");
  if (a.format == Args::Format::prometheus && a.watch)
    return bad("--prometheus takes one sample (a scrape): leave out --watch");
  if (!a.watch && (a.count >= 0)) return bad("--count goes with --watch");
  if (!a.watch) a.count = 1;
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (const int rc = parse(argc, argv, a); rc >= 0) return rc;
  std::error_code ec;
  const auto dir = std::filesystem::canonical(a.dir, ec);
  if (ec == std::errc::permission_denied) {
    fmt::print(stderr, "robustmq-stat: cache directory {}: {}: run robustmq-stat as the user "
                       "the application runs as\n", a.dir, ec.message());
    return 3;
  }
  if (ec) {
    fmt::print(stderr, "robustmq-stat: cache directory {}: {}\n", a.dir, ec.message());
    return 2;
  }
  a.dir = dir.string();
  const std::string name = segment_name(dir, a.id);
  ::signal(SIGINT, on_signal);
  ::signal(SIGTERM, on_signal);
  std::optional<Sample> prev;
  for (long n = 0; a.count < 0 || n < a.count; ++n) {
    if (n > 0) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.interval);
      while (!g_interrupted.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (g_interrupted.load()) break;
    std::string text;
    try {
      const SegmentView view = SegmentView::open(name);
      const Sample s = take_sample(view.segment(), dir);
      text = render(a, view.file(), s, prev);
      prev = s;
    } catch (const std::system_error& e) {
      const int err = e.code().value();
      std::string why;
      int rc = 4;
      if (err == ENOENT) {
        why = fmt::format("no client runs with cache directory {} and client id '{}' (no shared "
                          "segment {}): is the application started with these?",
                          a.dir, a.id, name);
        rc = 2;
      } else if (err == EACCES) {
        why = fmt::format("the client's shared segment {} belongs to another user: run "
                          "robustmq-stat as the user the application runs as", name);
        rc = 3;
      } else {
        why = e.what();
      }
      if (!a.watch) {
        fmt::print(stderr, "robustmq-stat: {}\n", why);
        return rc;
      }
      prev.reset();
      text = a.format == Args::Format::json
                 ? fmt::format("{{\"client_id\":{},\"cache_dir\":{},\"state\":\"absent\","
                               "\"error\":{}}}\n", json_string(a.id), json_string(a.dir),
                               json_string(why))
                 : fmt::format("robustmq-stat: {}\n", why);
    }
    if (a.watch && a.format == Args::Format::text) {
      // A terminal gets the text redrawn in place; anything else a blank line between samples.
      if (::isatty(STDOUT_FILENO) != 0) std::fputs("\x1b[H\x1b[2J", stdout);
      else if (n > 0) std::fputs("\n", stdout);
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  return 0;
}
