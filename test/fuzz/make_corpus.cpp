// Writes the seed corpora under test/fuzz/corpus/ with the real encoders, so the seeds are
// well-formed inputs the fuzzers then mutate. Run it when a format changes:
//   ./build-fuzz/test/fuzz/make_corpus test/fuzz/corpus
// Each seed is small (< 2 KiB): the fuzzers find the large cases themselves.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "worker/cache/file_log_codec.hpp"
#include "proto/record_format.hpp"
#include "proto/ring.hpp"
#include "proto/segment_layout.hpp"
#include "proto/worker_config.hpp"

using namespace robustmq;
namespace fs = std::filesystem;
namespace fl = robustmq::cache::file_log;

namespace {

void write(const fs::path& dir, const std::string& name, const void* data, std::size_t n) {
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  if (!f) throw std::runtime_error("cannot write " + (dir / name).string());
}

void append64(std::string& out, std::uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }

// fuzz_ring input: size exponent, tail, head - tail, extra position, ring bytes.
void ring_seed(const fs::path& dir, const std::string& name, unsigned exponent,
               std::uint64_t start, int messages, std::size_t payload) {
  const std::size_t ring_bytes = std::size_t{64} << exponent;
  auto segment = std::make_unique<shm::Segment>();
  segment->producer.head.store(start);
  segment->consumer.tail.store(start);
  std::vector<std::byte> ring(ring_bytes, std::byte{0});
  RingProducer producer(segment->producer, segment->consumer, ring.data(), ring.size());
  RingConsumer consumer(segment->producer, segment->consumer, ring.data(), ring.size());
  const std::string body(payload, 'p');
  std::uint64_t seq = 0;
  for (int i = 0; i < messages; ++i) {
    record::MessageView m;
    m.seq = seq++;
    m.enqueue_ns = 1'700'000'000'000'000'000 + i;
    m.qos = i % 3;
    m.retain = i % 2 == 1;
    m.topic = "sensors/t";
    m.payload = body;
    while (!producer.try_push(m)) {  // full: consume one record to make room (and wrap)
      RingConsumer::Item item;
      if (consumer.read_at(consumer.tail(), item) != RingConsumer::Status::item)
        throw std::runtime_error("ring seed: cannot make room");
      consumer.advance_tail(item.end);
    }
  }
  const std::uint64_t tail = segment->consumer.tail.load();
  std::string out(1, static_cast<char>(exponent));
  append64(out, tail);
  append64(out, segment->producer.head.load() - tail);
  append64(out, tail);
  out.append(reinterpret_cast<const char*>(ring.data()), ring.size());
  write(dir, name, out.data(), out.size());
}

void config_seeds(const fs::path& dir) {
  WorkerConfig c;
  c.segment_name = "robustmq-0123456789abcdef";
  c.client_id = "sensor-1";
  c.host = "broker.example";
  c.cache_dir = "/var/cache/robustmq";
  std::string blob = encode(c);
  write(dir, "minimal", blob.data(), blob.size());

  c.cache_type = CacheBackend::file;
  c.durability = Durability::journal;
  c.username = "user";
  c.password = "secret";
  c.mqtt_version = MqttVersion::v5;
  c.tls = true;
  c.tls_ca_file = "/etc/ssl/ca.pem";
  c.will_topic = "sensors/gone";
  c.will_payload = "bye";
  c.user_properties = {{"k", "v"}};
  c.max_inflight = 10;
  c.log_level = LogLevel::debug;
  blob = encode(c);
  write(dir, "full", blob.data(), blob.size());

  // An unknown key (ignored) and a bad number (refused).
  std::string extra = blob;
  const std::string key = "future_option", value = "1";
  const auto klen = static_cast<std::uint16_t>(key.size());
  const auto vlen = static_cast<std::uint32_t>(value.size());
  extra.append(reinterpret_cast<const char*>(&klen), 2).append(key);
  extra.append(reinterpret_cast<const char*>(&vlen), 4).append(value);
  const auto total = static_cast<std::uint32_t>(extra.size());
  std::memcpy(extra.data() + 4, &total, 4);
  write(dir, "unknown_key", extra.data(), extra.size());
  c.port = 0;
  blob = encode(c);
  write(dir, "bad_port", blob.data(), blob.size());
}

// fuzz_file_log input: the salt, a version byte (1 or 2), then a segment's bytes. Version 1
// seeds are written with the version 1 encoder the reader still has to understand.
void file_log_seeds(const fs::path& dir, std::uint16_t version) {
  const std::uint64_t salt = 0x5eed5eed12345678ULL;
  const fl::SegmentBase seg{version, salt, 1, 0};
  const std::string prefix = version == fl::kVersion1 ? "v1_" : "v2_";
  std::vector<unsigned char> records;
  std::vector<std::size_t> starts;
  std::uint64_t end_bytes = 0;
  fl::Chain chain;
  for (std::uint64_t id = 1; id <= 6; ++id) {
    record::MessageView m;
    m.seq = 100 + id;
    m.enqueue_ns = 1'700'000'000'000'000'000 + static_cast<std::int64_t>(id * 1000);
    m.qos = static_cast<int>(id % 3);
    m.retain = id == 2;
    m.large = id == 5;
    m.topic = id % 2 == 0 ? "cache/t" : "cache/u";
    m.payload = std::string_view("payload-bytes").substr(0, 2 * id);
    end_bytes += m.topic.size() + m.payload.size();
    starts.push_back(records.size());
    if (version == fl::kVersion1) {
      fl::encode_record_v1(salt, id, end_bytes, m, records);
    } else {
      fl::encode_record(seg, chain, id == 1 || id == 4, id, end_bytes, m, records);  // two runs
    }
  }
  std::vector<unsigned char> out(8);
  std::memcpy(out.data(), &salt, 8);
  out.push_back(static_cast<unsigned char>(version));
  auto with = [&](std::vector<unsigned char> tail) {
    std::vector<unsigned char> v = out;
    v.insert(v.end(), tail.begin(), tail.end());
    return v;
  };
  auto v = with(records);
  write(dir, prefix + "records", v.data(), v.size());
  auto torn = records;
  torn.resize(torn.size() - 5);
  v = with(torn);
  write(dir, prefix + "torn_tail", v.data(), v.size());
  auto damaged = records;
  damaged[starts[1] + 6] ^= 0x40;  // inside the second record: damage, then valid records
  v = with(damaged);
  write(dir, prefix + "damaged_middle", v.data(), v.size());
  auto segment = fl::encode_segment_header(salt, 1, 0, version);
  segment.insert(segment.end(), records.begin(), records.end());
  v = with(segment);
  write(dir, prefix + "segment", v.data(), v.size());
  if (version == fl::kVersion) {
    v = with(fl::encode_cursor(3, 30));
    write(dir, "cursor", v.data(), v.size());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  ring_seed(root / "ring", "empty", 0, 0, 0, 0);
  ring_seed(root / "ring", "three", 2, 0, 3, 5);
  ring_seed(root / "ring", "wrapped", 2, 1'000'000, 9, 40);
  ring_seed(root / "ring", "full", 1, 64, 6, 0);
  config_seeds(root / "worker_config");
  fs::remove_all(root / "file_log");
  file_log_seeds(root / "file_log", fl::kVersion1);
  file_log_seeds(root / "file_log", fl::kVersion);
  return 0;
}
