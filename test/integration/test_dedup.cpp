// Deduplication for consumers (Options::dedup_property) against a real mosquitto: every message
// carries robustmq-producer and robustmq-seq; the stream id of robustmq.producer lasts as long
// as the cache directory; a consumer that drops what it has seen gets every message exactly
// once across 50 worker kills.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>

#include <charconv>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include <testkit/fault_proxy.hpp>

#include "crash_helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

// The consumer of README "Deduplication for consumers", as it is printed there.
class Deduplicator {
 public:
  // True the first time this producer's number comes; false for a duplicate.
  bool first_time(const std::string& producer, std::uint64_t seq) {
    Stream& s = streams_[producer];
    if (seq <= s.through || !s.above.insert(seq).second) return false;
    // Numbers up to `through` need no entry of their own; a gap that is never filled (a number
    // this consumer will not see) is given up once kWindow numbers wait above it.
    while (!s.above.empty() &&
           (*s.above.begin() == s.through + 1 || s.above.size() > kWindow)) {
      s.through = *s.above.begin();
      s.above.erase(s.above.begin());
    }
    return true;
  }

 private:
  static constexpr std::size_t kWindow = 100'000;
  struct Stream {
    std::uint64_t through = 0;       // every number up to here was seen
    std::set<std::uint64_t> above;   // the numbers seen above it
  };
  std::map<std::string, Stream> streams_;
};

testkit::SubscriberOptions mqtt5() {
  testkit::SubscriberOptions o;
  o.mqtt5 = true;
  return o;
}

Options dedup_options(const std::filesystem::path& cache, const std::string& id) {
  Options o = client_options(cache, id);
  o.mqtt_version = MqttVersion::v5;
  o.dedup_property = true;
  return o;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The stream id in robustmq.producer, which must be 16 lowercase hex digits and a newline.
std::string stream_id(const std::filesystem::path& cache) {
  const std::string text = read_text(cache / "robustmq.producer");
  REQUIRE_MESSAGE(text.size() == 17, text);
  CHECK(text.back() == '\n');
  CHECK(text.find_first_not_of("0123456789abcdef") == 16);
  return text.substr(0, 16);
}

// A new cache directory holding one file, as an earlier life could have left it.
void cache_with(const std::filesystem::path& cache, const std::string& name,
                const std::string& contents) {
  std::filesystem::remove_all(cache);
  std::filesystem::create_directories(cache);
  std::filesystem::permissions(cache, std::filesystem::perms::owner_all);
  std::ofstream(cache / name) << contents;
}

// A message's two properties; nullopt for either that is missing or appears twice.
struct Dedup {
  std::optional<std::string> producer;
  std::optional<std::uint64_t> seq;
};
Dedup dedup_of(const testkit::ReceivedMessage& m) {
  Dedup d;
  int producers = 0, seqs = 0;
  for (const auto& [name, value] : m.user_properties) {
    if (name == "robustmq-producer" && ++producers == 1) d.producer = value;
    if (name == "robustmq-seq" && ++seqs == 1) {
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && end == value.data() + value.size()) d.seq = n;
    }
  }
  if (producers != 1) d.producer.reset();
  if (seqs != 1) d.seq.reset();
  return d;
}

// The robustmq-seq numbers of the messages the subscriber has, from `first` on.
std::set<std::uint64_t> arrived(const testkit::Subscriber& sub, std::uint64_t first = 0) {
  std::set<std::uint64_t> seen;
  for (const auto& m : sub.messages())
    if (const auto d = dedup_of(m); d.seq && *d.seq >= first) seen.insert(*d.seq);
  return seen;
}

// The number publish() gave each payload.
using Numbers = std::map<std::string, std::uint64_t>;

// Publishes payloads first..first+n-1 (sequence_payload), records their numbers in `numbers`
// and returns them in order.
std::vector<std::uint64_t> publish_recorded(RobustClient& c, const std::string& topic,
                                            std::uint64_t first, std::uint64_t n,
                                            Numbers& numbers) {
  std::vector<std::uint64_t> seqs;
  for (std::uint64_t i = first; i < first + n; ++i) {
    std::uint64_t seq = 0;
    const std::string payload = testkit::sequence_payload(i);
    const auto ec = c.publish(topic, payload, 1, false, seq);
    REQUIRE_MESSAGE(!ec, ec.message());
    numbers[payload] = seq;
    seqs.push_back(seq);
  }
  return seqs;
}

// Waits until the subscriber has a message with each of the numbers, then checks that every
// message carries `producer` and the number publish() gave its payload.
void check_arrivals(const testkit::Subscriber& sub, const std::string& producer,
                    const Numbers& numbers) {
  CHECK(wait_until(
      [&] {
        const auto seen = arrived(sub);
        return std::all_of(numbers.begin(), numbers.end(),
                           [&](const auto& e) { return seen.count(e.second) != 0; });
      },
      60s));
  for (const auto& m : sub.messages()) {
    CAPTURE(m.payload);
    const Dedup d = dedup_of(m);
    CHECK(d.producer == producer);
    REQUIRE(numbers.count(m.payload) == 1);
    CHECK(d.seq == numbers.at(m.payload));
  }
}

}  // namespace

TEST_CASE("with dedup_property every message carries its producer and sequence number; the "
          "stream id lasts as long as the cache directory") {
  testkit::Mosquitto broker;
  testkit::FaultProxy proxy(broker.port());
  testkit::Subscriber sub(broker.host(), broker.port(), "dd/props/#", mqtt5());
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  Numbers numbers;

  // The first life cannot reach the broker: its messages go to the disk cache at stop(), and
  // the next life sends them from there.
  proxy.refuse_new(true);
  std::uint64_t last = 0;
  {
    RobustClient client(dedup_options(cache, "dd-props"));
    client.connect_async(broker.host(), proxy.port());
    last = publish_recorded(client, "dd/props/a", 0, 20, numbers).back();
    client.stop();
  }
  const std::string stream = stream_id(cache);
  struct stat st{};
  REQUIRE(::stat((cache / "robustmq.producer").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // The next life keeps the stream and numbers on above the first.
  {
    RobustClient client(dedup_options(cache, "dd-props"));
    client.connect_async(broker.host(), broker.port());
    CHECK(publish_recorded(client, "dd/props/a", 20, 10, numbers).front() > last);
    REQUIRE_FALSE(client.wait_delivered(60s));
    CHECK(client.stats().last_error.find("robustmq.producer") == std::string::npos);
    client.stop();
  }
  CHECK(stream_id(cache) == stream);
  check_arrivals(sub, "dd-props/" + stream, numbers);

  // A lost cache directory: the numbering starts over, under a new stream id.
  sub.clear();
  numbers.clear();
  std::filesystem::remove_all(cache);
  {
    RobustClient client(dedup_options(cache, "dd-props"));
    client.connect_async(broker.host(), broker.port());
    CHECK(publish_recorded(client, "dd/props/b", 0, 5, numbers).front() == 1);
    REQUIRE_FALSE(client.wait_delivered(60s));
    client.stop();
  }
  const std::string renewed = stream_id(cache);
  CHECK(renewed != stream);
  check_arrivals(sub, "dd-props/" + renewed, numbers);
}

TEST_CASE("robustmq-seq carries a 20-digit number whole") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "dd/long/#", mqtt5());
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  const auto cache = dir / "cache";
  // The bound an earlier life recorded (lib/sequence_file.cpp): numbering goes on from there.
  cache_with(cache, "robustmq.seq", "robustmq-seq 1 10000000000000000000\n");
  RobustClient client(dedup_options(cache, "dd-long"));
  client.connect_async(broker.host(), broker.port());
  Numbers numbers;
  CHECK(publish_recorded(client, "dd/long/a", 0, 3, numbers).front() ==
        10'000'000'000'000'000'000u);
  REQUIRE_FALSE(client.wait_delivered(60s));
  check_arrivals(sub, "dd-long/" + stream_id(cache), numbers);
  client.stop();
}

TEST_CASE("dedup_property without MQTT 5 is refused naming the option; a damaged "
          "robustmq.producer is replaced and reported") {
  testkit::TempDir dir;
  Options o = dedup_options(dir / "cache", "dd-bad");
  o.mqtt_version = MqttVersion::v3_1_1;
  RobustClient refused(o);
  try {
    refused.connect_async("127.0.0.1", 1883);
    FAIL("connect_async() did not throw");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == EINVAL);
    CHECK(std::string(e.what()).find("Options::dedup_property") != std::string::npos);
  }

  testkit::Mosquitto broker;
  for (const std::string damaged : {"", "0123456789abcde\n", "0123456789ABCDEF\n",
                                    "0123456789abcdef", "0123456789abcdef\n\n", "not an id\n"}) {
    CAPTURE(damaged);
    const auto cache = dir / "cache";
    cache_with(cache, "robustmq.producer", damaged);
    RobustClient client(dedup_options(cache, "dd-bad"));
    client.connect_async(broker.host(), broker.port());
    const std::string error = client.stats().last_error;
    CHECK_MESSAGE(error.find("robustmq.producer is damaged") != std::string::npos, error);
    const std::string id = stream_id(cache);  // replaced by a well-formed one
    CHECK_MESSAGE(error.find(id) != std::string::npos, error);
    client.stop();
    CHECK(stream_id(cache) == id);
  }
}

TEST_CASE("consumers deduplicating by the property see each message exactly once across 50 "
          "worker kills") {
  // The client reaches the broker through a proxy that can hold the broker's replies back; the
  // subscriber is connected directly.
  testkit::Mosquitto broker;
  testkit::FaultProxy proxy(broker.port());
  testkit::Subscriber sub(broker.host(), broker.port(), "dd/kill/#", mqtt5());
  REQUIRE(sub.wait_subscribed());
  testkit::TempDir dir;
  Options o = dedup_options(dir / "cache", "dd-kill");
  o.max_inflight = 16;
  // Only the kills end a connection: no acknowledgement timeout or keepalive while the
  // replies are held.
  o.cache_timeout = 120s;
  o.keepalive = 60s;
  RobustClient client(o);
  client.connect_async(broker.host(), proxy.port());
  REQUIRE(wait_connected(client, 30s));
  const std::string producer = "dd-kill/" + stream_id(dir / "cache");

  const int kills = scaled(50, 10);
  constexpr std::uint64_t kPerRound = 40;
  Numbers numbers;
  // Messages the broker had while their acknowledgement was held back from a worker that was
  // then killed: its successor must send them again, so each arrives at least twice.
  std::set<std::uint64_t> resent;
  for (int round = 0; round < kills; ++round) {
    CAPTURE(round);
    // Even rounds hold the replies, so that the kill is sure to cut acknowledgements off; odd
    // rounds kill while the worker sends, wherever it happens to be.
    const bool hold = round % 2 == 0;
    if (hold) {
      // Nothing is in flight, so that the batch can go out while replies are held. Delivered is
      // not enough: a successor sends again cached messages whose removal a kill cut short, and
      // those stay in the cache (and the window) until acknowledged once more.
      REQUIRE(wait_until(
          [&] {
            const Stats s = client.stats();
            return s.ring_backlog == 0 && s.cache_backlog == 0;
          },
          60s));
      proxy.hold_replies(true);
    }
    const std::uint64_t first = round * kPerRound;
    const auto seqs = publish_recorded(client, "dd/kill/n", first, kPerRound, numbers);
    // The worker is sending this round's messages: the broker has forwarded one of them.
    REQUIRE(wait_until([&] { return !arrived(sub, seqs.front()).empty(); }, 60s));
    const pid_t worker = worker_of(client);
    REQUIRE(worker > 0);
    if (hold) {
      const auto held = arrived(sub, seqs.front());
      resent.insert(held.begin(), held.end());
    }
    const Stats before = client.stats();
    kill9(worker);
    if (hold) {
      // Released only once the worker is gone: the held acknowledgements must never reach it.
      REQUIRE(wait_until([&] { return !runs_worker(worker); }, 30s));
      proxy.hold_replies(false);
    }
    // The library starts a successor by itself; it must be running and connected before the
    // next kill.
    REQUIRE(wait_successor(client, worker) > 0);
    REQUIRE(wait_until([&] { return client.stats().connect_attempts > before.connect_attempts; },
                       30s));
    REQUIRE(wait_connected(client, 30s));
  }
  REQUIRE_FALSE(client.wait_delivered(120s));
  CHECK(client.stats().worker_restarts >= static_cast<std::uint64_t>(kills));

  const std::uint64_t n = kills * kPerRound;
  REQUIRE(wait_until([&] { return arrived(sub).size() >= n; }, 60s));
  const auto raw = sub.messages();
  Deduplicator consumer;
  std::vector<std::uint64_t> accepted;
  std::map<std::uint64_t, int> arrivals;
  for (const auto& m : raw) {
    const Dedup d = dedup_of(m);
    REQUIRE(d.producer == producer);
    REQUIRE(d.seq.has_value());
    // A duplicate carries the number of its original, which is what makes dropping it exact.
    REQUIRE(numbers.count(m.payload) == 1);
    REQUIRE(*d.seq == numbers.at(m.payload));
    ++arrivals[*d.seq];
    if (consumer.first_time(*d.producer, *d.seq)) accepted.push_back(*d.seq);
  }
  // Every number publish() gave, exactly once, and nothing else.
  std::vector<std::uint64_t> published;
  for (const auto& [payload, seq] : numbers) published.push_back(seq);
  std::sort(published.begin(), published.end());
  std::vector<std::uint64_t> got = accepted;
  std::sort(got.begin(), got.end());
  CHECK(got == published);
  CHECK(std::adjacent_find(got.begin(), got.end()) == got.end());
  // The raw arrivals held duplicates: at least the messages whose acknowledgement was held.
  REQUIRE_FALSE(resent.empty());
  for (const std::uint64_t seq : resent) {
    CAPTURE(seq);
    CHECK(arrivals[seq] >= 2);
  }
  MESSAGE(raw.size(), " arrivals of ", n, " messages across ", kills, " kills; ", resent.size(),
          " were sure to be sent twice");
  client.stop();
}
