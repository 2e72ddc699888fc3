// robustmq-stat against a running client: --json, --prometheus (checked by a parser of the
// exposition format) and --watch follow a backlog through a broker outage and its drain;
// Options::metrics_file writes the same exposition; usage errors, no client, another user.
// The real tool (ROBUSTMQ_STAT), a real broker stopped and started again.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "cache_tool.hpp"
#include "helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A parser of the Prometheus text format (version 0.0.4) as far as RobustMQ writes it: every
// line a comment (# HELP, # TYPE) or `name{labels} value`, every sample's metric typed before
// it, no sample twice. Prints repr() of the value of `sample` (name with its labels, exactly).
constexpr const char* kExpositionParser = R"(
import re, sys
typed, values = set(), {}
for line in sys.stdin.read().splitlines():
    if line.startswith("# TYPE "):
        name, kind = line.split()[2:4]
        assert kind in ("counter", "gauge"), line
        typed.add(name)
        continue
    if line.startswith("# HELP "):
        continue
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="(?:[^"\\\n]|\\.)*"(?:,[a-z_]+="(?:[^"\\\n]|\\.)*")*\})? (-?[0-9]+(?:\.[0-9]+)?)', line)
    assert m, "not a sample: " + line
    assert m.group(1) in typed, "untyped: " + line
    key = m.group(1) + (m.group(2) or "")
    assert key not in values, "twice: " + line
    values[key] = float(m.group(3))
print(repr(values[sys.argv[1]]))
)";

// The value of `sample` in the exposition `text`; a text the parser refuses fails the test.
double sample(const fs::path& scratch, const std::string& text, const std::string& name) {
  const auto script = scratch / "exposition.py";
  const auto in = scratch / "exposition.txt";
  { std::ofstream(script) << kExpositionParser; }
  { std::ofstream(in) << text; }
  const std::string cmd = "python3 '" + script.string() + "' '" + name + "' <'" + in.string() +
                          "' 2>&1";
  const auto [out, st] = command_output(cmd);
  REQUIRE_MESSAGE(st == 0, "exposition refused (", out, "):\n", text);
  return std::stod(out);
}

std::string read_file(const fs::path& f) {
  std::ifstream in(f);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

ToolRun stat(const std::string& args, const fs::path& scratch) {
  return run_tool("ROBUSTMQ_STAT", args, scratch);
}

}  // namespace

TEST_CASE("robustmq-stat --json, --prometheus and --watch, and Options::metrics_file, follow a "
          "backlog through an outage and its drain") {
  testkit::Mosquitto broker;
  testkit::TempDir tmp;
  const fs::path cache = tmp / "cache";
  fs::create_directory(tmp / "metrics");
  const fs::path metrics = tmp / "metrics" / "robustmq.prom";
  const std::string id = "stat-client";
  const std::string who = "-d '" + cache.string() + "' -i " + id;
  const std::string label = "{client_id=\"" + id + "\"}";
  Options o = client_options(cache, id);
  o.metrics_file = metrics;
  o.metrics_interval = 1s;
  RobustClient c(o);
  c.connect_async(broker.host(), broker.port());
  REQUIRE(wait_connected(c, 30s));

  broker.stop();
  const std::uint64_t n = scaled<std::uint64_t>(300, 30);
  REQUIRE_FALSE(publish_range(c, "stat/t", 0, n));
  REQUIRE_MESSAGE(wait_until([&] { return c.stats().cache_backlog == n; }, 60s),
                  describe(c.stats()));

  ToolRun ran = stat("--json " + who, tmp.path());
  REQUIRE_MESSAGE(ran.status == 0, ran.err);
  auto json = [&](const std::string& expr) { return parsed(tmp.path(), ran.out, false, expr); };
  CHECK(json("d[\"client_id\"]") == "'stat-client'");
  CHECK(json("d[\"state\"] in (\"connecting\", \"disconnected\")") == "True");
  CHECK(json("d[\"published\"]") == std::to_string(n));
  CHECK(json("d[\"cache_backlog\"]") == std::to_string(n));
  CHECK(json("d[\"ring_backlog\"]") == "0");
  CHECK(json("d[\"cache_backlog_bytes\"] > 0") == "True");
  CHECK(json("d[\"acknowledged\"]") == "0");
  CHECK(json("d[\"worker_pid\"]") == std::to_string(c.stats().worker_pid));
  CHECK(json("d[\"worker_running\"]") == "True");
  CHECK(json("d[\"application_pid\"]") == std::to_string(::getpid()));
  CHECK(json("d[\"application_running\"]") == "True");
  CHECK(json("d[\"connect_attempts\"] >= 1") == "True");
  CHECK(json("\"rates\" in d") == "False");  // one sample has no rates

  ran = stat("--prometheus " + who, tmp.path());
  REQUIRE_MESSAGE(ran.status == 0, ran.err);
  CHECK(sample(tmp.path(), ran.out, "robustmq_cache_backlog_messages" + label) == n);
  CHECK(sample(tmp.path(), ran.out, "robustmq_published_total" + label) == n);
  CHECK(sample(tmp.path(), ran.out, "robustmq_worker_up" + label) == 1);
  CHECK(sample(tmp.path(), ran.out,
               "robustmq_state{client_id=\"" + id + "\",state=\"connected\"}") == 0);
  CHECK(sample(tmp.path(), ran.out,
               "robustmq_dropped_total{client_id=\"" + id + "\",reason=\"overflow\"}") == 0);

  // The worker's file catches up within its interval.
  const std::string cached_line = "robustmq_cache_backlog_messages" + label + " " +
                                  std::to_string(n) + "\n";
  REQUIRE_MESSAGE(wait_until([&] { return contains(read_file(metrics), cached_line); }, 30s),
                  read_file(metrics));
  CHECK(sample(tmp.path(), read_file(metrics), "robustmq_published_total" + label) == n);

  broker.start();
  REQUIRE_MESSAGE(wait_until([&] {
                    const Stats s = c.stats();
                    return s.acknowledged >= n && s.cache_backlog == 0;
                  }, 120s),
                  describe(c.stats()));
  ran = stat("--json " + who, tmp.path());
  REQUIRE_MESSAGE(ran.status == 0, ran.err);
  CHECK(json("d[\"state\"]") == "'connected'");
  CHECK(json("d[\"cache_backlog\"]") == "0");
  CHECK(json("d[\"acknowledged\"] >= " + std::to_string(n)) == "True");
  CHECK(json("d[\"server\"]") == "'tcp://127.0.0.1:" + std::to_string(broker.port()) + "'");

  // --watch: one JSON object per sample; rates from the second on.
  ran = stat("--watch --json --interval 0.2 -n 3 " + who, tmp.path());
  REQUIRE_MESSAGE(ran.status == 0, ran.err);
  auto lines = [&](const std::string& expr) { return parsed(tmp.path(), ran.out, true, expr); };
  CHECK(lines("len(d)") == "3");
  CHECK(lines("[\"rates\" in x for x in d]") == "[False, True, True]");
  CHECK(lines("sorted(d[2][\"rates\"])") ==
        "['acknowledged_per_s', 'cached_per_s', 'published_per_s', 'sent_per_s']");

  ran = stat(who, tmp.path());
  REQUIRE_MESSAGE(ran.status == 0, ran.err);
  CHECK(contains(ran.out, "state         connected, tcp://127.0.0.1:"));
  CHECK(contains(ran.out, "published     " + std::to_string(n) + "\n"));

  const std::string drained = "robustmq_cache_backlog_messages" + label + " 0\n";
  REQUIRE_MESSAGE(wait_until([&] { return contains(read_file(metrics), drained); }, 30s),
                  read_file(metrics));

  // The worker's last write says it stopped; then no client runs.
  c.stop();
  const std::string text = read_file(metrics);
  CHECK(sample(tmp.path(), text, "robustmq_worker_up" + label) == 0);
  CHECK(sample(tmp.path(), text, "robustmq_state{client_id=\"" + id + "\",state=\"stopped\"}") ==
        1);
  ran = stat(who, tmp.path());
  CHECK(ran.status == 2);
  CHECK(contains(ran.err, "no client runs with cache directory"));
}

TEST_CASE("robustmq-stat: --help, --version, usage errors, no such client, another user's "
          "client") {
  testkit::TempDir tmp;
  ToolRun ran = stat("--help", tmp.path());
  CHECK(ran.status == 0);
  CHECK(ran.out.rfind("usage: robustmq-stat", 0) == 0);
  ran = stat("--version", tmp.path());
  CHECK(ran.status == 0);
  CHECK(ran.out.rfind("robustmq-stat ", 0) == 0);
  for (const char* args : {"", "-d x", "--bogus -d x -i y", "-q -d x -i y", "-d x -i y extra",
                           "--prometheus --watch -d x -i y", "-n 2 -d x -i y",
                           "--watch --interval 0 -d x -i y", "-d"}) {
    ran = stat(args, tmp.path());
    CHECK_MESSAGE(ran.status == 1, args);
    CHECK_MESSAGE(contains(ran.err, "Try 'robustmq-stat --help'"), args, ": ", ran.err);
    CHECK_MESSAGE(ran.out.empty(), args);
  }
  CHECK(contains(stat("-q -d x -i y", tmp.path()).err, "unknown option -q"));
  CHECK(contains(stat("--bogus -d x -i y", tmp.path()).err, "unknown option --bogus"));

  const fs::path cache = tmp / "cache";
  ran = stat("-d '" + cache.string() + "' -i nobody-runs", tmp.path());
  CHECK(ran.status == 2);

  // A client (connecting to a port where no broker listens) whose segment another user tries.
  Options o = client_options(cache, "stat-owner");
  RobustClient c(o);
  c.connect_async("127.0.0.1", testkit::free_port());
  REQUIRE(wait_until([&] { return c.stats().connect_attempts >= 1; }, 30s));
  ran = stat("-d '" + cache.string() + "' -i nobody-runs", tmp.path());
  CHECK(ran.status == 2);
  CHECK(contains(ran.err, "no client runs"));
  ran = stat("--json -d '" + cache.string() + "' -i stat-owner", tmp.path());
  CHECK_MESSAGE(ran.status == 0, ran.err);
  if (::geteuid() != 0) {
    MESSAGE("not checked here: robustmq-stat run as another user (needs root to switch users)");
    return;
  }
  const std::string as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
  // A cache directory inside another user's private directory (a home directory is 0700):
  // the path itself is closed to this user.
  ran = run_tool("ROBUSTMQ_STAT", "--json -d '" + cache.string() + "' -i stat-owner", tmp.path(),
                 as_nobody);
  CHECK(ran.status == 3);
  CHECK(contains(ran.err, "run robustmq-stat as the user the application runs as"));
  CHECK(ran.out.empty());
  // The path to the cache directory is open to all; the segment (mode 0600) is not.
  fs::permissions(tmp.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  ran = run_tool("ROBUSTMQ_STAT", "--json -d '" + cache.string() + "' -i stat-owner", tmp.path(),
                 as_nobody);
  CHECK(ran.status == 3);
  CHECK(contains(ran.err, "belongs to another user"));
  CHECK(ran.out.empty());
}

TEST_CASE("Options::metrics_file is written though a file of its temporary name is in the way; "
          "robustmq-stat reports a worker that is gone as stopped, and an application that let "
          "go of its cache directory as gone") {
  testkit::TempDir tmp;
  const fs::path metrics = tmp / "m.prom";
  fs::create_directory(tmp / "m.prom.tmp");  // another writer's, or a squatter's
  Options o = client_options(tmp / "cache", "stat-tmp");
  o.metrics_file = metrics;
  RobustClient c(o);
  c.connect_async("127.0.0.1", testkit::free_port());
  REQUIRE_MESSAGE(wait_until([&] { return fs::exists(metrics); }, 30s),
                  "no metrics file beside a directory named like its temporary file");
  // The worker hands off and is killed: the segment stays, with the last state the worker
  // wrote (connecting); the application runs on, but no longer holds the cache directory.
  REQUIRE_FALSE(c.publish("stat/t", "x", 1));
  const pid_t worker = worker_of(c);
  REQUIRE(worker > 0);
  c.stop(StopMode::hand_off);
  REQUIRE(::kill(worker, SIGKILL) == 0);
  REQUIRE(wait_until([&] { return ::kill(worker, 0) != 0; }, 30s));
  const std::string who = "--json -d '" + (tmp / "cache").string() + "' -i stat-tmp";
  ToolRun ran = stat(who, tmp.path());
  REQUIRE_MESSAGE(ran.status == 0, ran.err);
  auto json = [&](const std::string& expr) { return parsed(tmp.path(), ran.out, false, expr); };
  CHECK(json("d[\"worker_running\"]") == "False");
  CHECK(json("d[\"state\"]") == "'stopped'");
  CHECK(json("d[\"application_running\"]") == "False");
  CHECK(json("d[\"ring_backlog\"] + d[\"cache_backlog\"]") == "1");
  ran = stat("--prometheus " + who.substr(7), tmp.path());
  REQUIRE_MESSAGE(ran.status == 0, ran.err);
  const std::string label = "{client_id=\"stat-tmp\"}";
  CHECK(sample(tmp.path(), ran.out, "robustmq_worker_up" + label) == 0);
  CHECK(sample(tmp.path(), ran.out,
               "robustmq_state{client_id=\"stat-tmp\",state=\"stopped\"}") == 1);
}
