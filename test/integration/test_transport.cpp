// The shared segment and the worker as the application sees them: ring full, idle cost,
// foreign or damaged segments and caches.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "crash_helpers.hpp"
#include "segment.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

long main_thread_switches(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/status");
  std::string line;
  long total = 0;
  while (std::getline(f, line))
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0 ||
        line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
      total += std::stol(line.substr(line.find(':') + 1));
  return total;
}

}  // namespace

TEST_CASE("a full ring makes publish() wait publish_wait, then return queue_full, losing nothing") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "full/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  Options o = client_options(dir / "cache", "full");
  o.ring_bytes = 64 << 10;
  o.publish_wait = 200ms;
  RobustClient client(o);
  client.connect_async(broker.host(), broker.port());
  const int worker = client.stats().worker_pid;
  ::kill(worker, SIGSTOP);  // a worker that cannot keep up
  std::uint64_t accepted = 0;
  std::error_code ec;
  while (!(ec = client.publish("full/seq", testkit::sequence_payload(accepted, 100), 1)))
    ++accepted;
  CHECK(ec == errc::queue_full);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(client.publish("full/seq", "x", 1) == errc::queue_full);
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= 190ms);
  CHECK(waited < 2s);
  CHECK(client.stats().queue_full == 2);
  CHECK(accepted > 300);
  ::kill(worker, SIGCONT);
  REQUIRE_FALSE(publish_range(client, "full/seq", accepted, accepted + 10, 1, 100));
  const auto problem = wait_in_order(sub, accepted + 10, 60s);
  CHECK_MESSAGE(problem.empty(), problem);
  client.stop();
}

TEST_CASE("an idle worker does not wake up and reacts to publish() at once") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "idle/#");
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  RobustClient client(client_options(dir / "cache", "idle"));
  client.connect_async(broker.host(), broker.port());
  REQUIRE_FALSE(client.publish("idle/seq", testkit::sequence_payload(0), 1));
  REQUIRE(sub.wait_for(1, 10s));
  const int pid = client.stats().worker_pid;
  std::this_thread::sleep_for(200ms);
  const long before = main_thread_switches(pid);
  std::this_thread::sleep_for(2s);
  const long after = main_thread_switches(pid);
  CHECK(after - before <= 1);  // the worker's loop slept through (Paho's threads are not counted)
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE_FALSE(client.publish("idle/seq", testkit::sequence_payload(1), 1));
  REQUIRE(sub.wait_for(2, 10s));
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  client.stop();
}

TEST_CASE("a segment with a wrong magic is moved aside, never mapped") {
  testkit::Mosquitto broker;
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  std::filesystem::create_directories(cache);
  const std::string name = segment_name(std::filesystem::canonical(cache), "foreign");
  const std::string path = "/dev/shm/" + name;
  {
    std::ofstream f(path, std::ios::binary);
    f << std::string(8192 + (64 << 10), 'Z');
  }
  ::chmod(path.c_str(), 0600);
  RobustClient client(client_options(cache, "foreign"));
  client.connect_async(broker.host(), broker.port());
  CHECK(client.stats().last_error.find("moved it to") != std::string::npos);
  REQUIRE_FALSE(client.publish("seg/x", "1", 1));
  REQUIRE_FALSE(client.flush(10s));
  client.stop();
  bool moved = false;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
    if (e.path().filename().string().rfind(name + ".bad-", 0) == 0) {
      moved = true;
      std::filesystem::remove(e.path());
    }
  CHECK(moved);
}

TEST_CASE("a segment or cache directory owned by another user is refused") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: changing a file's owner needs root");
    return;
  }
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  std::filesystem::create_directories(cache);
  {
    const std::string name = segment_name(std::filesystem::canonical(cache), "owned");
    const std::string path = "/dev/shm/" + name;
    { std::ofstream f(path, std::ios::binary); f << std::string(4096 + (64 << 10), '\0'); }
    REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
    RobustClient client(client_options(cache, "owned"));
    CHECK_THROWS_WITH_AS(client.connect_async("127.0.0.1", 1883),
                         doctest::Contains("owned by uid 65534"), std::system_error);
    std::filesystem::remove(path);
  }
  {
    const auto other = dir / "other";
    std::filesystem::create_directories(other);
    REQUIRE(::chown(other.c_str(), 65534, 65534) == 0);
    RobustClient client(client_options(other, "owned"));
    CHECK_THROWS_WITH_AS(client.connect_async("127.0.0.1", 1883),
                         doctest::Contains("belongs to uid 65534"), std::system_error);
  }
}
