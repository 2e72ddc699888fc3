// Tests of the testkit itself: if these fail, every integration test built on it is suspect.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>
#include <string>
#include <vector>

#include <testkit/mosquitto.hpp>
#include <testkit/sequence.hpp>
#include <testkit/subscriber.hpp>
#include <testkit/temp_dir.hpp>

extern char** environ;

using namespace std::chrono_literals;
namespace tk = robustmq::testkit;

namespace {

// Runs mosquitto_pub -l: one QoS-1 message per line of the file `lines`. Returns its exit status.
int mosquitto_pub_lines(int port, const std::string& topic, const std::filesystem::path& lines) {
  const std::string port_s = std::to_string(port);
  std::vector<std::string> args = {"mosquitto_pub", "-h", "127.0.0.1", "-p", port_s, "-t", topic,
                                   "-q", "1", "-l"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, lines.c_str(), O_RDONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "mosquitto_pub", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Publishes the sequence numbers [first, first + count) on topic with mosquitto_pub.
void publish_range(const tk::Mosquitto& broker, const tk::TempDir& dir, const std::string& topic,
                   std::uint64_t first, std::uint64_t count) {
  const auto file = dir / ("lines-" + std::to_string(first));
  {
    std::ofstream out(file);
    for (std::uint64_t i = first; i < first + count; ++i) out << tk::sequence_payload(i) << "\n";
  }
  REQUIRE_MESSAGE(mosquitto_pub_lines(broker.port(), topic, file) == 0, broker.log());
}

}  // namespace

TEST_CASE("check_in_order accepts every number once, in order") {
  CHECK(tk::check_in_order({0, 1, 2, 3}, 4) == "");
  CHECK(tk::check_in_order({}, 0) == "");
}

TEST_CASE("check_in_order accepts re-sends of numbers already seen") {
  CHECK(tk::check_in_order({0, 1, 2, 1, 2, 3, 4}, 5) == "");
  CHECK(tk::check_in_order({0, 0, 1, 1}, 2) == "");
}

TEST_CASE("check_in_order names numbers that never arrived") {
  const auto gap = tk::check_in_order({0, 1, 4, 5}, 6);
  CHECK(gap.find("2 missing: 2-3") != std::string::npos);
  const auto tail = tk::check_in_order({0, 1}, 4);
  CHECK(tail.find("2 missing: 2-3") != std::string::npos);
  CHECK(tk::check_in_order({}, 3).find("3 missing: 0-2") != std::string::npos);
}

TEST_CASE("check_in_order reports a number that arrives before its predecessor") {
  const auto r = tk::check_in_order({0, 2, 1, 3}, 4);
  CHECK(r.find("out of order at index 1: got 2, expected 1") != std::string::npos);
}

TEST_CASE("check_in_order rejects numbers beyond the expected count") {
  CHECK(tk::check_in_order({0, 1, 7}, 3).find("out of range") != std::string::npos);
}

TEST_CASE("sequence payloads parse back to their number") {
  CHECK(tk::parse_seq(tk::sequence_payload(12345)) == 12345u);
  const auto padded = tk::sequence_payload(7, 100);
  CHECK(padded.size() == 100);
  CHECK(tk::parse_seq(padded) == 7u);
  CHECK_FALSE(tk::parse_seq("x12").has_value());
  CHECK_FALSE(tk::parse_seq("").has_value());
}

TEST_CASE("a TempDir exists while alive and is removed with its contents") {
  std::filesystem::path p;
  {
    tk::TempDir dir("testkit-test-");
    p = dir.path();
    CHECK(std::filesystem::is_directory(p));
    CHECK(p.string().rfind("/tmp/testkit-test-", 0) == 0);
    std::filesystem::create_directories(dir / "a" / "b");
    std::ofstream(dir / "a" / "b" / "f") << "x";
    tk::TempDir moved = std::move(dir);
    CHECK(moved.path() == p);
  }
  CHECK_FALSE(std::filesystem::exists(p));
}

TEST_CASE("free_port returns a loopback port nobody listens on") {
  const int port = tk::free_port();
  CHECK(port > 0);
  CHECK_FALSE(tk::accepts_connections(port));
}

TEST_CASE("a private mosquitto listens on its own loopback port and stops on request") {
  tk::Mosquitto broker;
  CHECK(broker.running());
  CHECK(broker.port() != 1883);
  CHECK(tk::accepts_connections(broker.port()));
  std::ifstream conf(broker.config_path());
  std::string text((std::istreambuf_iterator<char>(conf)), {});
  CHECK(text.find("listener " + std::to_string(broker.port()) + " 127.0.0.1") != std::string::npos);
  CHECK(broker.log().find("running") != std::string::npos);

  const auto dir = broker.dir();
  broker.stop();
  CHECK_FALSE(broker.running());
  CHECK_FALSE(tk::accepts_connections(broker.port()));
  CHECK(std::filesystem::exists(dir / "mosquitto.db"));  // persistence saved on SIGTERM
}

TEST_CASE("a broker started from a thread that has ended keeps running") {
  // PR_SET_PDEATHSIG is tied to the forking thread; the testkit forks from a thread of its own.
  tk::Mosquitto broker;
  broker.stop();
  std::thread([&] { broker.start(); }).join();
  std::this_thread::sleep_for(200ms);
  CHECK(::kill(broker.pid(), 0) == 0);
  CHECK(tk::accepts_connections(broker.port()));
}

TEST_CASE("the subscriber records what mosquitto_pub publishes, in order") {
  tk::Mosquitto broker;
  tk::TempDir dir;
  tk::Subscriber sub(broker.host(), broker.port(), "testkit/#");
  REQUIRE_MESSAGE(sub.wait_subscribed(10s), broker.log());
  publish_range(broker, dir, "testkit/a", 0, 200);
  REQUIRE_MESSAGE(sub.wait_for(200, 10s), "received " << sub.count());
  const auto msgs = sub.messages();
  CHECK(msgs.front().topic == "testkit/a");
  CHECK(msgs.front().qos == 1);
  CHECK(tk::check_in_order(tk::sequences(msgs), 200) == "");
}

TEST_CASE("after stop and start on the same port the subscriber subscribes again and receives") {
  tk::Mosquitto broker;
  tk::TempDir dir;
  tk::Subscriber sub(broker.host(), broker.port(), "testkit/#");
  REQUIRE(sub.wait_subscribed(10s));
  publish_range(broker, dir, "testkit/r", 0, 10);
  REQUIRE(sub.wait_for(10, 10s));

  const int port = broker.port();
  const auto subscribes = sub.subscribe_count();
  broker.stop();
  broker.start();
  CHECK(broker.port() == port);
  CHECK(broker.starts() == 2);
  REQUIRE_MESSAGE(sub.wait_subscribed(10s, subscribes + 1), broker.log());
  CHECK(sub.connection_losses() >= 1);
  publish_range(broker, dir, "testkit/r", 10, 10);
  REQUIRE_MESSAGE(sub.wait_for(20, 10s), "received " << sub.count());
  CHECK(tk::check_in_order(tk::sequences(sub.messages()), 20) == "");
}

TEST_CASE("after a broker crash (SIGKILL) start brings it back on the same port") {
  tk::Mosquitto broker;
  tk::TempDir dir;
  tk::Subscriber sub(broker.host(), broker.port(), "testkit/#");
  REQUIRE(sub.wait_subscribed(10s));
  const auto subscribes = sub.subscribe_count();
  const pid_t old_pid = broker.pid();
  broker.kill();
  CHECK_FALSE(broker.running());
  CHECK(::kill(old_pid, 0) != 0);  // reaped, not a zombie we still own
  broker.start();
  CHECK(broker.pid() != old_pid);
  REQUIRE(sub.wait_subscribed(10s, subscribes + 1));
  publish_range(broker, dir, "testkit/k", 0, 5);
  CHECK(sub.wait_for(5, 10s));
}

TEST_CASE("a persistent session survives a broker restart and gets what was sent meanwhile") {
  tk::Mosquitto broker;
  tk::TempDir dir;
  tk::SubscriberOptions options;
  options.client_id = "testkit-persistent";
  {
    tk::Subscriber sub(broker.host(), broker.port(), "testkit/#", options);
    REQUIRE(sub.wait_subscribed(10s));
  }  // disconnected; the broker keeps the session (clean_session = false)
  broker.stop();   // saves the session to mosquitto.db
  broker.start();  // restores it
  publish_range(broker, dir, "testkit/p", 0, 50);  // queued for the absent subscriber
  tk::Subscriber sub(broker.host(), broker.port(), "testkit/#", options);
  REQUIRE_MESSAGE(sub.wait_for(50, 10s), "received " << sub.count() << "\n" << broker.log());
  CHECK(tk::check_in_order(tk::sequences(sub.messages()), 50) == "");
}
