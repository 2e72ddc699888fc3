// robustmq-pub's mosquitto_pub options (-V, -D, -n, --repeat, -k, -c, --will-*, --capath/--cert/
// --key, --quiet, the options file and -o) and RobustMQ's own (--journal, --max-cache-bytes,
// --ttl, --max-inflight): usage errors, and what reaches a real broker.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <testkit/fault_proxy.hpp>

#include "helpers.hpp"
#include "pub_tool.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

// A subscriber that sees MQTT 5 properties.
testkit::SubscriberOptions mqtt5() {
  testkit::SubscriberOptions so;
  so.mqtt5 = true;
  return so;
}

}  // namespace

TEST_CASE("robustmq-pub: the mosquitto_pub options refuse what they cannot do, exit 1") {
  testkit::TempDir dir;
  const std::vector<std::string> base = {"-i", "x", "-t", "y", "--cache-dir",
                                         (dir / "cache").string()};
  const std::vector<std::vector<std::string>> bad = {
      {"-V", "mqttv31", "-m", "a"},                       // MQTT 3.1
      {"-V", "4", "-m", "a"},
      {"-D", "publish", "user-property", "k", "v", "-m", "a"},  // properties need -V mqttv5
      {"-V", "5", "-D", "connect", "session-expiry-interval", "5", "-m", "a"},
      {"-V", "5", "-D", "publish", "response-topic", "r", "-m", "a"},
      {"-V", "5", "-D", "publish", "user-property", "k"},  // a value short
      {"--will-qos", "3", "--will-topic", "w", "-m", "a"},
      {"--will-payload", "p", "-m", "a"},                 // no --will-topic
      {"--repeat", "0", "-m", "a"},
      {"--repeat", "2", "-l"},
      {"--repeat-delay", "-1", "-m", "a"},
      {"-k", "70000", "-m", "a"},
      {"--max-inflight", "0", "-m", "a"},
      {"-n", "-m", "a"},                                   // two messages
      {"-o", (dir / "missing").string(), "-m", "a"},
      {"--unix", "/run/mosquitto/mosquitto.sock", "-m", "a"},  // Paho 1.3.12 has no unix://
      {"-m", "a", "stray"},
  };
  for (const auto& extra : bad) {
    const auto args = plus(base, extra);
    std::string line;
    for (const auto& a : args) line += a + " ";
    CAPTURE(line);
    const auto [code, out] = run_output(args);
    CHECK(code == 1);
    CHECK(out.find("robustmq-pub: ") != std::string::npos);  // says what is wrong
  }
}

TEST_CASE("robustmq-pub --unix says that Paho on this system has no Unix sockets, and what to do") {
  const auto [code, out] =
      run_output({"--unix", "/run/mosquitto/mosquitto.sock", "-i", "x", "-t", "y", "-m", "a"});
  CHECK(code == 1);
  CHECK_MESSAGE(out.find("has no Unix-socket support") != std::string::npos, out);
  CHECK(out.find("-h 127.0.0.1") != std::string::npos);
}

TEST_CASE("robustmq-pub -V mqttv5 -D publish user-property / content-type, -n and --repeat "
          "reach the broker") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "pub/opt/#", mqtt5());
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const std::string cache = (dir / "cache").string();
  CHECK(run(plus(base_args(broker, cache, "pub/opt/props"),
                 {"-V", "mqttv5", "-D", "publish", "user-property", "site", "north", "-D",
                  "publish", "content-type", "text/plain", "-m", "with properties"})) == 0);
  CHECK(run(plus(base_args(broker, cache, "pub/opt/null"),
                 {"-n", "--repeat", "3", "--repeat-delay", "0.01", "-q", "0"})) == 0);
  REQUIRE(wait_until([&] { return sub.count() >= 4; }, 30s));
  const auto got = sub.messages();
  REQUIRE(got.size() == 4);
  CHECK(got[0].topic == "pub/opt/props");
  CHECK(got[0].payload == "with properties");
  CHECK(got[0].user_properties ==
        std::vector<std::pair<std::string, std::string>>{{"site", "north"}});
  CHECK(got[0].content_type == "text/plain");
  for (std::size_t i = 1; i < 4; ++i) {
    CHECK(got[i].topic == "pub/opt/null");
    CHECK(got[i].payload.empty());
    CHECK(got[i].qos == 0);
  }
}

TEST_CASE("robustmq-pub reads its options file ($XDG_CONFIG_HOME/robustmq-pub, or -o FILE); the "
          "command line overrides it") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "pub/conf/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const std::string cache = (dir / "cache").string();
  std::ofstream(dir / "robustmq-pub") << "# defaults\n-t pub/conf/default\n  -q   0\n--retain\n";
  std::ofstream(dir / "other") << "-t pub/conf/other\n";
  // The child inherits the environment (this test's thread is the only one that reads it).
  ::setenv("XDG_CONFIG_HOME", dir.path().c_str(), 1);
  const std::vector<std::string> conn = {"-h", broker.host(), "-p", std::to_string(broker.port()),
                                         "-i", "pub-conf", "--cache-dir", cache};
  const int from_file = run(plus(conn, {"-m", "a"}));
  const int overridden = run(plus(conn, {"-m", "b", "-t", "pub/conf/cli"}));
  const int other = run(plus(conn, {"-m", "c", "-o", (dir / "other").string()}));
  const int attached = run(plus(conn, {"-m", "d", "-o" + (dir / "other").string()}));
  ::unsetenv("XDG_CONFIG_HOME");
  CHECK(from_file == 0);
  CHECK(overridden == 0);
  CHECK(other == 0);
  CHECK(attached == 0);
  REQUIRE(wait_until([&] { return sub.count() >= 4; }, 30s));
  const auto got = sub.messages();
  REQUIRE(got.size() == 4);
  CHECK(got[0].topic == "pub/conf/default");
  CHECK(got[0].qos == 0);
  // --retain from the file: a later subscriber gets the message as retained.
  testkit::Subscriber late(broker.host(), broker.port(), "pub/conf/default");
  REQUIRE(late.wait_subscribed());
  REQUIRE(wait_until([&] { return late.count() >= 1; }, 30s));
  CHECK(late.messages()[0].retained);
  CHECK(late.messages()[0].payload == "a");
  CHECK(got[1].topic == "pub/conf/cli");
  CHECK(got[2].topic == "pub/conf/other");
  CHECK(got[2].qos == 1);  // -o FILE instead of the default file: its -q 0 does not apply
  CHECK(got[3].topic == "pub/conf/other");  // -oFILE as -o FILE
  CHECK(got[3].qos == 1);
}

TEST_CASE("robustmq-pub: an option given on the command line replaces every value the options "
          "file gave it, repeatable ones (-D, -L) too") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "pub/merge/#", mqtt5());
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  // A broker that is not there, and properties the command line replaces (user-property) or
  // keeps (content-type).
  std::ofstream(dir / "props") << "-h 127.0.0.1\n-p 1\n-V mqttv5\n-t pub/merge/file\n"
                               << "-D publish user-property from file\n"
                               << "-D publish user-property also file\n"
                               << "-D publish content-type text/file\n";
  std::ofstream(dir / "url") << "-L tcp://127.0.0.1:1\n-t pub/merge/url\n";
  const std::vector<std::string> common = {"-i", "pub-merge", "--cache-dir",
                                           (dir / "cache").string(), "--timeout", "30"};
  const std::string url = "tcp://127.0.0.1:" + std::to_string(broker.port());
  CHECK(run(plus(common, {"-o", (dir / "props").string(), "-L", url, "-D", "publish",
                          "user-property", "from", "cli", "-m", "a"})) == 0);
  CHECK(run(plus(common, {"-o", (dir / "url").string(), "-h", "127.0.0.1", "-p",
                          std::to_string(broker.port()), "-m", "b"})) == 0);
  REQUIRE(wait_until([&] { return sub.count() >= 2; }, 30s));
  const auto got = sub.messages();
  CHECK(got[0].topic == "pub/merge/file");
  CHECK(got[0].user_properties ==
        std::vector<std::pair<std::string, std::string>>{{"from", "cli"}});
  CHECK(got[0].content_type == "text/file");
  CHECK(got[1].topic == "pub/merge/url");
  CHECK(got[1].payload == "b");
}

TEST_CASE("robustmq-pub names an unknown option or one without its value as it was given") {
  const std::vector<std::string> base = {"-i", "x", "-t", "y", "-m", "a"};
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-Zr"}, "unknown option -Z "},
      {{"-rZ"}, "unknown option -Z "},
      {{"--bogus=3"}, "unknown option --bogus "},
      {{"-rq"}, "option -q needs a value"},
      {{"--qos"}, "option --qos needs a value"},
  };
  for (const auto& [extra, says] : cases) {
    CAPTURE(extra[0]);
    const auto [code, out] = run_output(plus(base, extra));
    CHECK(code == 1);
    CHECK_MESSAGE(out.find("robustmq-pub: " + says) != std::string::npos, out);
  }
}

TEST_CASE("robustmq-pub blanks the password of -P in every form in its command line (ps)") {
  testkit::TempDir dir;
  // No broker: the messages wait in the ring while the run reads stdin (-l).
  Run r = start({"-h", "127.0.0.1", "-p", std::to_string(testkit::free_port()), "-i", "pub-pw",
                 "--cache-dir", (dir / "cache").string(), "-t", "pub/pw", "-l", "--progress",
                 "--timeout", "0", "-dPs3cretA", "--pw=s3cretB", "-P", "s3cretC", "-Ps3cretD", "--pw",
                 "s3cretE"});
  REQUIRE(::write(r.in, "x\n", 2) == 2);
  std::string out;
  char buf[256];
  while (out.find("queued 1\n") == std::string::npos) {  // parsed and publishing
    const ssize_t n = ::read(r.out, buf, sizeof buf);
    REQUIRE(n > 0);
    out.append(buf, static_cast<std::size_t>(n));
  }
  std::ifstream in("/proc/" + std::to_string(r.pid) + "/cmdline");
  std::string cmdline(std::istreambuf_iterator<char>(in), {});
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  CHECK_MESSAGE(cmdline.find("s3cret") == std::string::npos, cmdline);
  CHECK_MESSAGE(cmdline.find("-dP") != std::string::npos, cmdline);  // only the password went
  ::close(r.in);
  ::close(r.out);
  CHECK(wait_exit(r.pid) == 4);  // no broker: left in the cache
}

TEST_CASE("robustmq-pub: -k, -c, --will-*, --journal, --max-cache-bytes, --ttl, --max-inflight "
          "go through; --quiet keeps stderr silent, not the exit code") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "pub/flags/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const std::string cache = (dir / "cache").string();
  CHECK(run(plus(base_args(broker, cache, "pub/flags/seq"),
                 {"-k", "5", "-c", "--will-topic", "pub/flags/will", "--will-payload", "gone",
                  "--will-qos", "1", "--will-retain", "--journal", "--max-cache-bytes", "1000000",
                  "--ttl", "60", "--max-inflight", "8", "-l"}),
            lines(0, 200)) == 0);
  CHECK(wait_in_order(sub, 200, 30s) == "");
  // A graceful end publishes no will.
  CHECK(sub.count() == 200);
  // A refused topic: exit 3, and nothing on stderr with --quiet (without: the reason).
  const auto loud = run_output(plus(base_args(broker, cache, "pub/flags/+"), {"-m", "x"}));
  CHECK(loud.first == 3);
  CHECK(loud.second.find("refused") != std::string::npos);
  const auto quiet =
      run_output(plus(base_args(broker, cache, "pub/flags/+"), {"-m", "x", "--quiet"}));
  CHECK(quiet.first == 3);
  CHECK(quiet.second.empty());
}

TEST_CASE("robustmq-pub -k and -c show at the broker, and the broker publishes the --will-* "
          "will when the connection drops") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "pub/will/#");
  REQUIRE(sub.wait_subscribed());
  // Between robustmq-pub and the broker: reset_all() drops the connection as a network would,
  // without a DISCONNECT packet.
  testkit::FaultProxy proxy(broker.port());
  testkit::TempDir dir;
  Run r = start(plus(base_args(broker.host(), proxy.port(), (dir / "cache").string(),
                               "pub/will/data"),
                     {"-k", "7", "-c", "--will-topic", "pub/will/gone", "--will-payload", "lost",
                      "--will-qos", "1", "--will-retain", "-l"}));
  const auto topic_count = [&](const std::string& topic) {
    const auto got = sub.messages();
    return std::count_if(got.begin(), got.end(), [&](const auto& m) { return m.topic == topic; });
  };
  REQUIRE(::write(r.in, "0\n", 2) == 2);
  REQUIRE(wait_until([&] { return topic_count("pub/will/data") >= 1; }, 30s));
  // mosquitto logs each connection: "(p2, c1, k7)", protocol 3.1.1, clean session, keepalive.
  // The first connect of a worker starts clean (worker/mqtt_options.cpp); -c shows on the
  // reconnect.
  CHECK_MESSAGE(contains(broker.log(), "as pub-test (p2, c1, k7)"), broker.log());
  proxy.reset_all();
  REQUIRE(wait_until([&] { return topic_count("pub/will/gone") >= 1; }, 30s));
  REQUIRE(::write(r.in, "1\n", 2) == 2);
  REQUIRE(wait_until([&] { return topic_count("pub/will/data") >= 2; }, 30s));
  CHECK_MESSAGE(contains(broker.log(), "as pub-test (p2, c0, k7)"), broker.log());
  ::close(r.in);
  ::close(r.out);
  CHECK(wait_exit(r.pid) == 0);
  for (const auto& m : sub.messages())
    if (m.topic == "pub/will/gone") {
      CHECK(m.payload == "lost");
      CHECK(m.qos == 1);
    }
  // --will-retain: a later subscriber gets the will as retained. The end of the run, a graceful
  // disconnect, published no second will.
  testkit::Subscriber late(broker.host(), broker.port(), "pub/will/gone");
  REQUIRE(late.wait_subscribed());
  REQUIRE(wait_until([&] { return late.count() >= 1; }, 30s));
  CHECK(late.messages()[0].retained);
  CHECK(topic_count("pub/will/gone") == 1);
}

TEST_CASE("worker log lines name the client id; when stderr is $JOURNAL_STREAM (systemd) each "
          "starts with its priority, <6> info, <7> debug") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  const auto log = dir / "stderr";
  const auto run_logged = [&](const std::string& journal_stream) {
    // The shell opens the file for stderr, then JOURNAL_STREAM names it (or not).
    const std::string cmd =
        "f='" + log.string() + "'; : >\"$f\"; JOURNAL_STREAM=" + journal_stream + " \"$ROBUSTMQ_PUB\" -h " +
        broker.host() + " -p " + std::to_string(broker.port()) + " -i log-test --cache-dir '" +
        (dir / "cache").string() + "' -t pub/log -m x -d 2>>\"$f\"";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ifstream in(log);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string journal = run_logged("$(stat -c %d:%i \"$f\")");
  CHECK_MESSAGE(journal.find("<6>robustmq-worker[") != std::string::npos, journal);
  CHECK(journal.find("<7>robustmq-worker[") != std::string::npos);
  CHECK(journal.find("[log-test] info: ") != std::string::npos);
  CHECK(journal.find("\nrobustmq-worker[") == std::string::npos);  // no line without its <N>
  const std::string plain = run_logged("1:1");  // another stream: no prefix
  CHECK_MESSAGE(plain.find("robustmq-worker[") == 0, plain);
  CHECK(plain.find("<6>") == std::string::npos);
  CHECK(plain.find("[log-test] info: ") != std::string::npos);
}
