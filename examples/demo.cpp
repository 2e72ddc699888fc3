// RobustMQ demo: 5000 QoS-1 messages through a two-second broker outage, checked on arrival.
//
// Starts a private mosquitto and a subscriber, publishes 5000 numbered messages at a steady pace
// through a RobustClient, stops the broker for about two seconds in the middle and starts it
// again, then waits until the subscriber has every message and checks the order.
// Exit status: 0 if every published message arrived, in order, and none was reported dropped;
// 1 otherwise.
//
//   scripts/demo.sh      (builds, then runs this with the worker from the build tree)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include <robustmq/client.hpp>
#include <testkit/mosquitto.hpp>
#include <testkit/sequence.hpp>
#include <testkit/subscriber.hpp>
#include <testkit/temp_dir.hpp>

namespace tk = robustmq::testkit;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kMessages = 5000;
constexpr auto kInterval = 500us;         // 5000 messages in about 2.5 s
constexpr auto kOutageStart = 700ms;      // after the first publish
constexpr auto kOutageLength = 2s;
constexpr auto kDeliveryTimeout = 30s;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Without ROBUSTMQ_WORKER, use the worker built next to this demo (build/worker/), if any.
std::filesystem::path build_tree_worker() {
  if (const char* env = std::getenv("ROBUSTMQ_WORKER"); env != nullptr && *env != '\0') return {};
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  auto worker = exe.parent_path().parent_path() / "worker" / "robustmq-worker";
  return std::filesystem::exists(worker) ? worker : std::filesystem::path{};
}

std::size_t unique_count(const tk::Subscriber& sub) {
  const auto seqs = tk::sequences(sub.messages());
  return std::set<std::uint64_t>(seqs.begin(), seqs.end()).size();
}

}  // namespace

int main() try {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep our lines in order with the worker's log
  tk::TempDir dir("robustmq-demo-");
  tk::Mosquitto broker;
  tk::Subscriber sub(broker.host(), broker.port(), "robustmq/demo/#");
  if (!sub.wait_subscribed(10s)) {
    std::fprintf(stderr, "demo: the subscriber could not subscribe; broker log:\n%s\n",
                 broker.log().c_str());
    return 1;
  }
  std::printf("broker: private mosquitto on 127.0.0.1:%d (dir %s)\n", broker.port(),
              broker.dir().c_str());

  robustmq::Options options;
  options.client_id = "robustmq-demo";
  options.cache_type = robustmq::CacheType::sqlite;
  options.cache_path = dir / "cache";
  options.reconnect_max = 1000ms;  // come back quickly after the outage
  options.worker_path = build_tree_worker();
  robustmq::RobustClient client(options);
  // Events run on a thread of the library; the connection's changes show the outage. No
  // message should be dropped here (no message_ttl, no max_cache_bytes reached).
  std::atomic<std::uint64_t> reported{0};
  std::atomic<std::uint64_t> dropped{0};
  client.set_delivered_handler([&](std::uint64_t first, std::uint64_t last) {
    reported.fetch_add(last - first + 1);
  });
  client.set_dropped_handler([&](const robustmq::DroppedRange& r) {
    dropped.fetch_add(r.last - r.first + 1);
    std::printf("dropped: %llu..%llu (%s)\n", static_cast<unsigned long long>(r.first),
                static_cast<unsigned long long>(r.last),
                std::string(robustmq::to_string(r.reason)).c_str());
  });
  client.set_connection_handler([&](robustmq::ConnectionState state, std::string_view reason) {
    std::printf("connection: %s%s%.*s (%llu delivered so far)\n",
                std::string(robustmq::to_string(state)).c_str(), reason.empty() ? "" : ": ",
                static_cast<int>(reason.size()), reason.data(),
                static_cast<unsigned long long>(reported.load()));
  });
  client.connect_async(broker.host(), broker.port());

  // The outage runs beside the publisher, which keeps its pace throughout.
  const auto t0 = Clock::now();
  Clock::duration outage{};
  std::thread outage_thread([&] {
    std::this_thread::sleep_until(t0 + kOutageStart);
    const auto down = Clock::now();
    broker.stop();
    std::printf("broker: stopped at %.2f s\n", seconds(Clock::now() - t0));
    std::this_thread::sleep_until(down + kOutageLength);
    broker.start();
    outage = Clock::now() - down;
    std::printf("broker: started again at %.2f s\n", seconds(Clock::now() - t0));
  });

  // A refused publish is retried with the same number, so the accepted ones are 0..N-1.
  std::uint64_t refused = 0;
  std::uint64_t published = 0;
  std::uint64_t last_sequence = 0;  // the library's number of the last message accepted
  for (std::uint64_t& seq = published; seq < kMessages;) {
    std::this_thread::sleep_until(t0 + seq * kInterval);
    if (auto ec = client.publish("robustmq/demo/seq", tk::sequence_payload(seq, 32), 1, false,
                                 last_sequence)) {
      if (refused++ == 0) std::fprintf(stderr, "publish %llu: %s\n",
                                       static_cast<unsigned long long>(seq), ec.message().c_str());
      if (refused > 1000) break;
      std::this_thread::sleep_for(10ms);
      continue;
    }
    ++seq;
  }
  std::printf("published: %llu messages in %.2f s (%llu publish() calls refused)\n",
              static_cast<unsigned long long>(published), seconds(Clock::now() - t0),
              static_cast<unsigned long long>(refused));
  outage_thread.join();

  // stop() would spool what is still queued to disk and end the worker: wait for delivery first
  // (the broker acknowledged every message up to the last one), then for the subscriber to have
  // them all.
  const auto deadline = Clock::now() + kDeliveryTimeout;
  const auto delivery = client.wait_delivered(last_sequence, kDeliveryTimeout);
  const auto delivered_at = Clock::now();
  while (unique_count(sub) < published && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  const auto flushed = client.flush(5s);
  const auto stats = client.stats();
  client.stop();

  const auto seqs = tk::sequences(sub.messages());
  const std::string problem = tk::check_in_order(seqs, published);
  std::printf("received: %zu messages (unique %zu), all delivered %.2f s after the first publish\n",
              seqs.size(), std::set<std::uint64_t>(seqs.begin(), seqs.end()).size(),
              seconds(delivered_at - t0));
  std::printf("in order: %s\n", problem.empty() ? "yes" : ("no: " + problem).c_str());
  std::printf("broker outage: %.2f s\n", seconds(outage));
  std::printf("wait_delivered(%llu): %s (delivered through sequence number %llu)\n",
              static_cast<unsigned long long>(last_sequence),
              delivery ? delivery.message().c_str() : "ok",
              static_cast<unsigned long long>(client.delivered_through()));
  std::printf("flush: %s\n", flushed ? flushed.message().c_str() : "ok");
  std::printf("handlers: %llu messages reported delivered, %llu dropped\n",
              static_cast<unsigned long long>(reported.load()),
              static_cast<unsigned long long>(dropped.load()));
  std::printf("client stats: state %s, published %llu, sent %llu, acknowledged %llu, cached %llu, "
              "reconnects %llu, cache backlog %llu%s%s\n",
              std::string(robustmq::to_string(stats.state)).c_str(),
              static_cast<unsigned long long>(stats.published),
              static_cast<unsigned long long>(stats.sent),
              static_cast<unsigned long long>(stats.acknowledged),
              static_cast<unsigned long long>(stats.cached),
              static_cast<unsigned long long>(stats.reconnects),
              static_cast<unsigned long long>(stats.cache_backlog),
              stats.last_error.empty() ? "" : ", last error: ", stats.last_error.c_str());
  const bool ok = problem.empty() && published == kMessages && dropped.load() == 0;
  if (!ok) {
    std::printf("subscriber: %s, %llu subscriptions; broker log (tail):\n%s\n",
                sub.connected() ? "connected" : "disconnected",
                static_cast<unsigned long long>(sub.subscribe_count()), broker.log(3000).c_str());
  }
  std::printf("%s\n", ok ? "OK: every message arrived, in order" : "FAILED");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "demo: %s\n", e.what());
  return 1;
}
