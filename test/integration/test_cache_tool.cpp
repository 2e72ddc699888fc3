// robustmq-cache drops: the drop journal's records as lines, exactly, from a journal written
// with journal::Writer; a missing journal, a FIFO and a file of the wrong size in its place.
// --help, --version, usage errors, and --json parsed by a real JSON parser (python3's).
// The real tool, run through the shell (ROBUSTMQ_CACHE_TOOL); no broker.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "cache_tool.hpp"
#include "helpers.hpp"
#include "proto/drop_journal.hpp"

using namespace robustmq;
using namespace robustmq::test;
namespace fs = std::filesystem;

namespace {

using Ran = ToolRun;

// `robustmq-cache drops DIR`.
Ran drops(const fs::path& dir) {
  return run_cache_tool("drops '" + dir.string() + "'", dir.parent_path());
}

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kDec6 = 1'796'536'267 * kSecond;  // 2026-12-06T05:51:07Z

}  // namespace

TEST_CASE("robustmq-cache drops prints the journal's records oldest first, one line each, and "
          "counts damaged ones on stderr") {
  testkit::TempDir tmp;
  const fs::path dir = tmp / "cache";
  fs::create_directory(dir);
  {
    std::error_code ec;
    std::string what;
    auto w = journal::Writer::open(dir, ec, what);
    REQUIRE_MESSAGE(w, what);
    using R = journal::Reason;
    // Serials 4095..4101 go around the ring: slot order is not the order printed.
    REQUIRE(w->write({journal::kSlots - 1, 1, 100, kDec6 + 999'999'999, R::expired, 0}));
    REQUIRE(w->write({journal::kSlots, 101, 101, kDec6 + kSecond, R::refused, 0x87}));
    REQUIRE(w->write({journal::kSlots + 1, 102, 5101, kDec6 + 2 * kSecond, R::overflow, 0}));
    REQUIRE(w->write({journal::kSlots + 2, 5102, 5102, kDec6 + 3 * kSecond, R::damaged, 0}));
    REQUIRE(w->write({journal::kSlots + 3, 5103, 5110, kDec6 + 4 * kSecond, R::unknown, 0}));
    REQUIRE(w->write({journal::kSlots + 4, 5111, 5111, kDec6 + 5 * kSecond, R::refused, 0x05}));
    // The newest extended in place: the tool shows it as it is now.
    REQUIRE(w->write({journal::kSlots + 4, 5111, 5112, kDec6 + 6 * kSecond, R::refused, 0x05}));
    REQUIRE(w->write({journal::kSlots + 5, 5113, 5113, kDec6 + 7 * kSecond, R::expired, 0}));
  }
  Ran ran = drops(dir);
  CHECK(ran.status == 0);
  CHECK(ran.err == "");
  CHECK(ran.out ==
        "4095 1-100 expired time=2026-12-06T05:51:07Z count=100\n"
        "4096 101-101 refused code=0x87 time=2026-12-06T05:51:08Z count=1\n"
        "4097 102-5101 overflow time=2026-12-06T05:51:09Z count=5000\n"
        "4098 5102-5102 damaged time=2026-12-06T05:51:10Z count=1\n"
        "4099 5103-5110 unknown time=2026-12-06T05:51:11Z count=8\n"
        "4100 5111-5112 refused code=0x05 time=2026-12-06T05:51:13Z count=2\n"
        "4101 5113-5113 expired time=2026-12-06T05:51:14Z count=1\n");

  // Record 4097 (slot 1) damaged on the disk: skipped, and counted on stderr's last line.
  const int fd = ::open(journal::file_path(dir).c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, "\xff", 1, static_cast<off_t>(journal::kRecordBytes) + 20) == 1);
  ::close(fd);
  ran = drops(dir);
  CHECK(ran.status == 0);
  CHECK(ran.out.find("4096 101-101 refused code=0x87") != std::string::npos);
  CHECK(ran.out.find("4097 ") == std::string::npos);
  CHECK(ran.out.find("4098 5102-5102 damaged") != std::string::npos);
  CHECK(ran.err == "robustmq-cache: 1 damaged record(s) skipped in " +
                       journal::file_path(dir).string() + "\n");
}

TEST_CASE("robustmq-cache drops without a journal prints nothing and exits 0, with a note") {
  testkit::TempDir tmp;
  const fs::path dir = tmp / "cache";
  fs::create_directory(dir);
  const Ran ran = drops(dir);
  CHECK(ran.status == 0);
  CHECK(ran.out == "");
  CHECK(ran.err == "robustmq-cache: no drop journal in " + dir.string() +
                       " (nothing was ever dropped)\n");
  // A directory that is not there is no empty journal.
  CHECK(drops(tmp / "absent").status == 2);
}

TEST_CASE("robustmq-cache drops refuses a FIFO (without blocking) or a file of the wrong size, "
          "naming the file, and exits 2") {
  testkit::TempDir tmp;
  const fs::path dir = tmp / "cache";
  fs::create_directory(dir);
  const fs::path file = journal::file_path(dir);
  SUBCASE("a FIFO with no writer") {
    REQUIRE(::mkfifo(file.c_str(), 0600) == 0);
    const Ran ran = drops(dir);
    CHECK(ran.status == 2);  // 124: it blocked until timeout(1) killed it
    CHECK(ran.out == "");
    CHECK(ran.err == "robustmq-cache: cannot read the drop journal " + file.string() +
                         ": it is not a regular file\n");
  }
  SUBCASE("a file cut short") {
    { std::ofstream(file) << "short"; }
    const Ran ran = drops(dir);
    CHECK(ran.status == 2);
    CHECK(ran.out == "");
    CHECK(ran.err.find(file.string() + ": it is 5 bytes, not " +
                       std::to_string(journal::kFileBytes)) != std::string::npos);
  }
}

TEST_CASE("robustmq-cache --help prints on stdout and exits 0; --version; a wrong option, "
          "command or option for another command exits 1 with the usage on stderr") {
  testkit::TempDir tmp;
  Ran ran = run_cache_tool("--help", tmp.path());
  CHECK(ran.status == 0);
  CHECK(ran.out.find("usage: robustmq-cache [--json] stats DIR") == 0);
  CHECK(ran.out.find("Exit codes") != std::string::npos);
  CHECK(ran.err == "");
  ran = run_cache_tool("-V", tmp.path());
  CHECK(ran.status == 0);
  CHECK(ran.out.find("robustmq-cache ") == 0);
  for (const char* args : {"--bogus stats x", "stats", "frobnicate x", "--json dead x",
                           "--payload stats x", "--all stats x", "stats x y"}) {
    CAPTURE(args);
    ran = run_cache_tool(args, tmp.path());
    CHECK(ran.status == 1);
    CHECK(ran.out == "");
    CHECK(ran.err.find("usage: robustmq-cache") != std::string::npos);
  }
}

TEST_CASE("robustmq-cache --json: stats, dump (payloads in base64) and drops parse as JSON and "
          "carry what the cache and the journal hold") {
  testkit::TempDir tmp;
  const fs::path dir = tmp / "cache";
  const std::string topic = "t/\"q\"/\xC3\xA9";  // a quote and an e-acute
  const std::string payload("line\nbin\0\xff", 10);
  {
    // No broker on port 1: what is published is in the cache after stop().
    RobustClient c(client_options(dir, "cache-tool-json"));
    c.connect_async("127.0.0.1", 1);
    REQUIRE_FALSE(c.publish(topic, payload, 1));
    REQUIRE_FALSE(c.publish("t/2", "", 0, true));
    c.stop();
  }
  {
    std::error_code ec;
    std::string what;
    auto w = journal::Writer::open(dir, ec, what);
    REQUIRE_MESSAGE(w, what);
    REQUIRE(w->write({1, 7, 9, kDec6, journal::Reason::refused, 0x87}));
  }
  const std::string d = "'" + dir.string() + "'";
  Ran ran = run_cache_tool("--json stats " + d, tmp.path());
  REQUIRE(ran.status == 0);
  CHECK(parsed(tmp.path(), ran.out, false,
               "(d[\"messages\"], d[\"bytes\"], d[\"cache_messages\"], d[\"large_messages\"], "
               "d[\"damaged_regions\"], d[\"oldest_ns\"] <= d[\"newest_ns\"])") ==
        "(2, " + std::to_string(topic.size() + payload.size() + 3) + ", 2, 0, 0, True)");
  ran = run_cache_tool("dump " + d + " --json --payload", tmp.path());
  REQUIRE(ran.status == 0);
  CHECK(parsed(tmp.path(), ran.out, true,
               "[(m[\"seq\"], m[\"qos\"], m[\"retain\"], m[\"size\"], m[\"topic\"], "
               "base64.b64decode(m[\"payload_base64\"])) for m in d]") ==
        "[(1, 1, False, 10, 't/\"q\"/\xC3\xA9', b'line\\nbin\\x00\\xff'), (2, 0, True, 0, 't/2', "
        "b'')]");
  ran = run_cache_tool("drops --json " + d, tmp.path());
  REQUIRE(ran.status == 0);
  CHECK(parsed(tmp.path(), ran.out, true,
               "[(r[\"first\"], r[\"last\"], r[\"count\"], r[\"reason\"], r[\"code\"], "
               "r[\"time\"]) for r in d]") ==
        "[(7, 9, 3, 'refused', 135, '2026-12-06T05:51:07Z')]");
}
