// Hand-over between lives of an application (lib/takeover.hpp): a restarted application takes
// over from the orphaned worker of its predecessor at once, an orphan delivers what it holds
// without any restart, and a program can hand its messages off on purpose. Real producer
// processes killed with SIGKILL, a real mosquitto, a fault proxy in front of it.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <random>
#include <thread>

#include <testkit/fault_proxy.hpp>

#include "crash_helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

using Clock = std::chrono::steady_clock;

// A child of ours has ended (or is no child of ours), without reaping it: kill9() and reap()
// stay safe. (process_alive() is true for a zombie.)
bool ended(pid_t child) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return true;
  return info.si_pid == child;
}

// A broker, a fault proxy in front of it, a subscriber to `filter` and a directory.
struct Setup {
  explicit Setup(const std::string& filter)
      : proxy(broker.port()), sub(broker.host(), broker.port(), filter) {
    REQUIRE(sub.wait_subscribed());
  }
  testkit::Mosquitto broker;
  testkit::FaultProxy proxy;
  testkit::Subscriber sub;
  testkit::TempDir dir;
};

// The worker's exit, seen from outside: its pid is gone (it is nobody's child: no zombie).
bool exits(pid_t worker, std::chrono::milliseconds timeout) {
  return wait_until([&] { return !process_alive(worker); }, timeout, 20ms);
}

}  // namespace

TEST_CASE("an application restarted while its worker drains a large backlog takes over at once; "
          "the old life's messages go first, nothing is lost") {
  Setup t("to/drain/#");
  const auto cache = t.dir / "cache";
  const std::uint64_t backlog = scaled<std::uint64_t>(150'000, 20'000);
  // Life 0 publishes its backlog while the broker refuses it: everything goes to the cache.
  t.proxy.refuse_new(true);
  ProducerRecord rec(t.dir / "record-0");
  const pid_t producer =
      spawn_producer_at("127.0.0.1", t.proxy.port(), cache, "drain", "to/drain/0", rec, "sqlite",
                        backlog, {"ROBUSTMQ_TEST_UNTHROTTLED=1", "ROBUSTMQ_TEST_PAUSE=1"});
  REQUIRE(wait_until([&] { return rec.published_all() || ended(producer); }, 300s));
  REQUIRE(rec.confirmed() == backlog);
  const pid_t orphan = rec.worker_pid();
  // The broker comes back; once the worker is well into its drain the application dies.
  t.proxy.refuse_new(false);
  REQUIRE(wait_distinct(t.sub, 1000, 60s));
  kill9(producer);
  reap(producer);
  REQUIRE(process_alive(orphan));

  // Restarted at once, directly to the broker this time.
  RobustClient client(client_options(cache, "drain"));
  const auto t0 = Clock::now();
  REQUIRE_NOTHROW(client.connect_async(t.broker.host(), t.broker.port()));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  MESSAGE("connect_async() took ", took.count(), " ms with ", backlog - t.sub.count(),
          " old messages still undelivered");
  const Stats s = client.stats();
  CHECK(s.took_over_from == orphan);
  CHECK(s.carried_over > 0);  // it did not wait for the drain
  CHECK(s.carried_over < backlog);
  CHECK(took < 1s);
  CHECK(exits(orphan, 10s));
  REQUIRE_FALSE(publish_range(client, "to/drain/1", 0, 2000));
  const auto problem = wait_lifetimes(t.sub, "to/drain/", {backlog, 2000}, 300s);
  CHECK_MESSAGE(problem.empty(), problem);
  client.stop();
}

TEST_CASE("applications killed while their workers still connect: every accepted message "
          "arrives without any restart") {
  // A slow broker link (300 ms each way) keeps each worker connecting for over half a second;
  // each application is killed at a random moment of its first second.
  Setup t("to/conn/#");
  t.proxy.set_latency(300ms);
  std::mt19937 rng(14);
  const int apps = scaled(20, 5);
  std::vector<std::unique_ptr<ProducerRecord>> recs;
  std::vector<pid_t> producers;
  std::vector<Clock::time_point> started;
  for (int i = 0; i < apps; ++i) {
    recs.push_back(std::make_unique<ProducerRecord>(t.dir / ("record-" + std::to_string(i))));
    producers.push_back(spawn_producer_at(
        "127.0.0.1", t.proxy.port(), t.dir / ("cache-" + std::to_string(i)),
        "conn-" + std::to_string(i), "to/conn/" + std::to_string(i) + "/0", *recs.back(),
        i % 2 == 0 ? "sqlite" : "file", 2000, {"ROBUSTMQ_TEST_PAUSE=1"}));
    started.push_back(Clock::now());
  }
  std::vector<std::pair<Clock::time_point, int>> deaths;
  for (int i = 0; i < apps; ++i)
    deaths.emplace_back(started[static_cast<std::size_t>(i)] + std::chrono::milliseconds(rng() % 1000), i);
  std::sort(deaths.begin(), deaths.end());
  for (const auto& [when, i] : deaths) {
    std::this_thread::sleep_until(when);
    kill9(producers[static_cast<std::size_t>(i)]);
  }
  t.proxy.set_latency(0ms);  // the orphans deliver at full speed
  std::vector<pid_t> workers;
  std::uint64_t accepted = 0;
  for (int i = 0; i < apps; ++i) {
    reap(producers[static_cast<std::size_t>(i)]);
    const auto& rec = *recs[static_cast<std::size_t>(i)];
    accepted += rec.confirmed();
    if (rec.connected()) workers.push_back(rec.worker_pid());
  }
  MESSAGE(accepted, " messages accepted by ", apps, " applications before they died");
  for (int i = 0; i < apps; ++i) {
    const auto problem =
        wait_lifetimes(t.sub, "to/conn/" + std::to_string(i) + "/",
                       {recs[static_cast<std::size_t>(i)]->confirmed()}, 120s);
    CHECK_MESSAGE(problem.empty(), "application ", i, ": ", problem);
  }
  // Delivered, each orphan exits on its own.
  for (const pid_t w : workers) CHECK(exits(w, 30s));
}

TEST_CASE("an application killed while the broker is down: its worker delivers everything once "
          "the broker is back, 30 s later, without any restart") {
  Setup t("to/down/#");
  t.broker.stop();
  ProducerRecord rec(t.dir / "record-0");
  const pid_t producer = spawn_producer(t.broker, t.dir / "cache", "down", "to/down/0", rec, "sqlite",
                                        3000);
  // Not yet published everything: it dies mid-way.
  REQUIRE(wait_until([&] { return rec.confirmed() >= 1000 || ended(producer); }, 60s));
  kill9(producer);
  reap(producer);
  const pid_t orphan = rec.worker_pid();
  REQUIRE(orphan > 0);
  std::this_thread::sleep_for(std::chrono::seconds(scaled(30, 10)));  // the outage
  REQUIRE(process_alive(orphan));  // still waiting for the broker
  t.broker.start();
  const auto problem = wait_lifetimes(t.sub, "to/down/", {rec.confirmed()}, 120s);
  CHECK_MESSAGE(problem.empty(), problem);
  CHECK(exits(orphan, 30s));
}

TEST_CASE("a one-shot program hands its messages off and exits at once; they all arrive") {
  Setup t("to/hand/#");
  // The broker refuses it while it runs: every message is still undelivered at the hand-off.
  t.proxy.refuse_new(true);
  ProducerRecord rec(t.dir / "record-0");
  const pid_t program = spawn_producer_at("127.0.0.1", t.proxy.port(), t.dir / "cache", "hand",
                                          "to/hand/0", rec, "file", 10'000,
                                          {"ROBUSTMQ_TEST_UNTHROTTLED=1", "ROBUSTMQ_TEST_HAND_OFF=1"});
  const int status = reap(program);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(rec.confirmed() == 10'000);
  // Every message was undelivered (ring or cache). A spool under way at that moment may count
  // its batch in both (stats() reads the two counters one after the other): at least.
  CHECK(rec.handed_off() >= 10'000);
  const pid_t worker = rec.worker_pid();
  REQUIRE(process_alive(worker));
  t.proxy.refuse_new(false);
  const auto problem = wait_lifetimes(t.sub, "to/hand/", {10'000}, 120s);
  CHECK_MESSAGE(problem.empty(), problem);
  CHECK(exits(worker, 30s));
}

TEST_CASE("two applications restarted at the same moment: one takes over, the other gets EBUSY "
          "naming it") {
  Setup t("to/two/#");
  const auto cache = t.dir / "cache";
  t.proxy.refuse_new(true);
  ProducerRecord first(t.dir / "record-0");
  const pid_t dead = spawn_producer_at("127.0.0.1", t.proxy.port(), cache, "two", "to/two/0", first,
                                       "sqlite", 1000, {"ROBUSTMQ_TEST_PAUSE=1"});
  REQUIRE(wait_until([&] { return first.published_all() || ended(dead); }, 60s));
  kill9(dead);
  reap(dead);
  const pid_t orphan = first.worker_pid();

  ProducerRecord a(t.dir / "record-a");
  ProducerRecord b(t.dir / "record-b");
  const pid_t pa = spawn_producer_at("127.0.0.1", t.proxy.port(), cache, "two", "to/two/1", a,
                                     "sqlite", 500, {"ROBUSTMQ_TEST_PAUSE=1"});
  const pid_t pb = spawn_producer_at("127.0.0.1", t.proxy.port(), cache, "two", "to/two/1", b,
                                     "sqlite", 500, {"ROBUSTMQ_TEST_PAUSE=1"});
  const auto settled = [&](const ProducerRecord& r, pid_t p) {
    return r.published_all() || ended(p);
  };
  REQUIRE(wait_until([&] { return settled(a, pa) && settled(b, pb); }, 60s));
  const bool a_won = a.connected();
  CHECK(a.connected() != b.connected());  // exactly one
  const ProducerRecord& loser = a_won ? b : a;
  const pid_t winner = a_won ? pa : pb;
  CHECK(loser.connect_errno() == EBUSY);
  CHECK_MESSAGE(loser.connect_error().find("pid " + std::to_string(winner)) != std::string::npos,
                loser.connect_error());
  CHECK((a_won ? a : b).took_over_from() == orphan);
  t.proxy.refuse_new(false);
  const auto problem = wait_lifetimes(t.sub, "to/two/", {1000, (a_won ? a : b).confirmed()}, 120s);
  CHECK_MESSAGE(problem.empty(), problem);
  kill9(pa);
  kill9(pb);
  reap(pa);
  reap(pb);
}

TEST_CASE("a takeover interrupted by kill -9 of either side at random moments loses nothing and "
          "keeps the order") {
  const char* cache_type = "sqlite";
  SUBCASE("sqlite cache") {}
  SUBCASE("file cache") { cache_type = "file"; }
  // Lives of one client id and cache. Each new life takes over from the previous one's orphan,
  // and at a random moment of that takeover either the new application or the orphan is
  // killed. Every other life runs while the broker refuses connections, so that orphans hold
  // cache backlogs as well as ring records. A last life in this process delivers the rest.
  Setup t("to/cut/#");
  const auto cache = t.dir / "cache";
  std::mt19937 rng(1414);
  const int rounds = scaled(20, 5);
  std::vector<std::uint64_t> confirmed;
  pid_t orphan = 0;
  for (int life = 0; life < rounds; ++life) {
    t.proxy.refuse_new(life % 2 == 0);
    ProducerRecord rec(t.dir / ("record-" + std::to_string(life)));
    const pid_t app = spawn_producer_at("127.0.0.1", t.proxy.port(), cache, "cut",
                                        "to/cut/" + std::to_string(life), rec, cache_type, 400,
                                        {"ROBUSTMQ_TEST_PAUSE=1"});
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    const bool kill_app = rng() % 2 == 0;
    if (kill_app) {
      kill9(app);
    } else {
      if (orphan > 0 && runs_worker(orphan)) kill9(orphan);
      wait_until([&] { return rec.published_all() || ended(app); }, 60s);
    }
    kill9(app);
    reap(app);
    confirmed.push_back(rec.confirmed());
    if (rec.connected()) orphan = rec.worker_pid();
  }
  t.proxy.refuse_new(false);
  RobustClient client(client_options(cache, "cut", std::string(cache_type) == "file"
                                                       ? CacheType::file
                                                       : CacheType::sqlite));
  REQUIRE_NOTHROW(client.connect_async(t.broker.host(), t.broker.port()));
  const auto problem = wait_lifetimes(t.sub, "to/cut/", confirmed, 180s);
  CHECK_MESSAGE(problem.empty(), problem, " (", total(confirmed), " confirmed in ", rounds,
                " lives)");
  CHECK(total(confirmed) > 0);
  client.stop();
}
