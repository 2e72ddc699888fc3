// robustmq-test-producer: a separate application process for the crash tests. It publishes
// sequence numbers as fast as it can and, after every publish() that returned success, records
// how many were confirmed in a small shared file, which survives its kill -9:
//   offset 0: u64 confirmed count   offset 8: u64 worker pid   offset 16: u64 "connected" flag
//   offset 24: u64 "flushed" flag (with ROBUSTMQ_TEST_FLUSH and a COUNT)
//   offset 32: u64 "large publish started" flag (with ROBUSTMQ_TEST_LARGE=<bytes> and a COUNT:
//              after the COUNT small messages, one payload of that many 'L' bytes; then it
//              waits to be killed)
//   offset 40: u64 stats().handed_off (with ROBUSTMQ_TEST_HAND_OFF and a COUNT: after the COUNT
//              messages, stop(StopMode::hand_off) and exit 0)
//   offset 48: u64 "all COUNT published" flag (with ROBUSTMQ_TEST_PAUSE and a COUNT: then it
//              waits to be killed)
//   offset 56: u64 stats().took_over_from       offset 64: u64 stats().carried_over
//   offset 72: u64 errno of a failed connect_async() (it then exits 4)
//   offset 80: u64 microseconds connect_async() took
//   offset 88: u64 the sequence number publish() returned for the last confirmed message
//   offset 128: the failed connect_async()'s message, NUL-terminated (up to 1024 bytes)
// ROBUSTMQ_TEST_UNTHROTTLED: publish as fast as publish() allows (else at most ~10,000/s).

//   robustmq-test-producer HOST PORT CACHE_DIR CLIENT_ID TOPIC RECORD_FILE CACHE_TYPE [COUNT]
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <robustmq/client.hpp>
#include <testkit/sequence.hpp>

#include "helpers.hpp"

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: %s HOST PORT CACHE_DIR CLIENT_ID TOPIC RECORD_FILE sqlite|file "
                         "[COUNT]\n", argv[0]);
    return 2;
  }
  const int fd = ::open(argv[6], O_RDWR | O_CREAT, 0600);
  if (fd < 0 || ::ftruncate(fd, 4096) != 0) return 3;
  auto* rec = static_cast<std::atomic<std::uint64_t>*>(
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  if (rec == MAP_FAILED) return 3;
  const std::uint64_t count = argc > 8 ? std::strtoull(argv[8], nullptr, 10) : UINT64_MAX;

  robustmq::Options o;
  o.client_id = argv[4];
  o.cache_path = argv[3];
  o.cache_type = std::string(argv[7]) == "file" ? robustmq::CacheType::file
                                                : robustmq::CacheType::sqlite;
  o.reconnect_min = std::chrono::milliseconds(50);
  o.reconnect_max = std::chrono::milliseconds(500);
  o.connect_timeout = std::chrono::seconds(2);
  o.publish_wait = std::chrono::seconds(5);
  if (const char* d = std::getenv("ROBUSTMQ_TEST_DURABILITY"); d && std::string(d) == "journal")
    o.durability = robustmq::Durability::journal;
  robustmq::RobustClient client(o);
  // The previous producer's worker may still be delivering what it left: this takes over.
  const auto t0 = std::chrono::steady_clock::now();
  try {
    client.connect_async(argv[1], std::atoi(argv[2]));
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "producer: %s\n", e.what());
    std::strncpy(reinterpret_cast<char*>(rec + 16), e.what(), 1023);
    rec[9].store(static_cast<std::uint64_t>(e.code().value()));
    return 4;
  }
  rec[10].store(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::steady_clock::now() - t0)
                                               .count()));
  rec[7].store(static_cast<std::uint64_t>(client.stats().took_over_from));
  rec[8].store(client.stats().carried_over);
  rec[1].store(static_cast<std::uint64_t>(client.stats().worker_pid));
  rec[2].store(1);
  const std::string topic = argv[5];
  const bool unthrottled = std::getenv("ROBUSTMQ_TEST_UNTHROTTLED") != nullptr;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t seq = 0;
    if (auto ec = client.publish(topic, robustmq::testkit::sequence_payload(i, 64), 1, false, seq)) {
      std::fprintf(stderr, "producer: publish %llu: %s\n", static_cast<unsigned long long>(i),
                   ec.message().c_str());
      return 5;
    }
    rec[11].store(seq, std::memory_order_relaxed);
    rec[0].store(i + 1, std::memory_order_release);
    // At most ~10,000 messages/s, so that a test's backlog drains in seconds.
    if (!unthrottled && i % 10 == 9) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if ((i & 1023) == 0) rec[1].store(static_cast<std::uint64_t>(client.stats().worker_pid));
  }
  if (const char* large = std::getenv("ROBUSTMQ_TEST_LARGE")) {
    const std::string payload(std::strtoull(large, nullptr, 10), 'L');
    rec[4].store(1);
    if (auto ec = client.publish(topic, payload, 1)) {
      std::fprintf(stderr, "producer: large publish: %s\n", ec.message().c_str());
      return 7;
    }
    while (true) ::pause();
  }
  if (std::getenv("ROBUSTMQ_TEST_HAND_OFF") != nullptr) {
    client.stop(robustmq::StopMode::hand_off);
    rec[5].store(client.stats().handed_off);
    return 0;
  }
  if (std::getenv("ROBUSTMQ_TEST_PAUSE") != nullptr) {
    rec[6].store(1);
    while (true) ::pause();
  }
  // ROBUSTMQ_TEST_FLUSH: make everything durable, say so (offset 24), then wait to be killed,
  // as a device does until its power is cut.
  if (std::getenv("ROBUSTMQ_TEST_FLUSH") != nullptr) {
    if (auto ec = client.flush(std::chrono::seconds(60))) {
      std::fprintf(stderr, "producer: flush: %s\n", ec.message().c_str());
      return 6;
    }
    rec[3].store(1);
    while (true) ::pause();
  }
  client.stop();
  return 0;
}
