// Real processes for the crash tests: the producer program, its record file, kill -9.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "helpers.hpp"

extern char** environ;

namespace robustmq::test {

// The shared record a producer process keeps (see producer_main.cpp).
class ProducerRecord {
 public:
  explicit ProducerRecord(const std::filesystem::path& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ::ftruncate(fd, 4096) != 0) throw std::runtime_error("record file");
    rec_ = static_cast<std::atomic<std::uint64_t>*>(
        ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    ::close(fd);
  }
  ~ProducerRecord() { ::munmap(rec_, 4096); }
  std::uint64_t confirmed() const { return rec_[0].load(); }
  pid_t worker_pid() const { return static_cast<pid_t>(rec_[1].load()); }
  bool connected() const { return rec_[2].load() != 0; }
  bool flushed() const { return rec_[3].load() != 0; }
  bool large_started() const { return rec_[4].load() != 0; }
  std::uint64_t handed_off() const { return rec_[5].load(); }
  bool published_all() const { return rec_[6].load() != 0; }
  pid_t took_over_from() const { return static_cast<pid_t>(rec_[7].load()); }
  std::uint64_t carried_over() const { return rec_[8].load(); }
  int connect_errno() const { return static_cast<int>(rec_[9].load()); }
  std::chrono::microseconds connect_took() const {
    return std::chrono::microseconds(rec_[10].load());
  }
  std::uint64_t last_sequence() const { return rec_[11].load(); }
  std::string connect_error() const {
    const char* text = reinterpret_cast<const char*>(rec_ + 16);
    return std::string(text, ::strnlen(text, 1024));
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::atomic<std::uint64_t>* rec_ = nullptr;
};

// Starts robustmq-test-producer against host:port; `env` adds ROBUSTMQ_TEST_* variables
// ("NAME=value") for this producer only.
inline pid_t spawn_producer_at(const std::string& host, int port, const std::filesystem::path& cache,
                               const std::string& id, const std::string& topic,
                               const ProducerRecord& rec, const char* cache_type,
                               std::uint64_t count = 0, std::vector<std::string> env = {}) {
  const char* exe = std::getenv("ROBUSTMQ_TEST_PRODUCER");
  if (exe == nullptr) throw std::runtime_error("ROBUSTMQ_TEST_PRODUCER is not set");
  std::vector<std::string> args = {exe, host, std::to_string(port),
                                   cache.string(), id, topic, rec.path().string(), cache_type};
  if (count > 0) args.push_back(std::to_string(count));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, exe, nullptr, nullptr, argv.data(), envp.data()) != 0)
    throw std::runtime_error("cannot spawn the producer");
  return pid;
}

inline pid_t spawn_producer(const testkit::Mosquitto& broker, const std::filesystem::path& cache,
                            const std::string& id, const std::string& topic,
                            const ProducerRecord& rec, const char* cache_type,
                            std::uint64_t count = 0) {
  return spawn_producer_at(broker.host(), broker.port(), cache, id, topic, rec, cache_type, count);
}

inline void kill9(pid_t pid) {
  if (pid > 0) ::kill(pid, SIGKILL);
}

inline bool process_alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

// Checks a stream that spans several producer lifetimes, one topic per lifetime ("<prefix>N"):
// every confirmed message of each lifetime arrived, and the first arrivals of all messages are
// in publication order, lifetime by lifetime (a later lifetime's message never overtakes an
// earlier one's). Returns "" or the first problem.
inline std::string check_lifetimes(const std::vector<testkit::ReceivedMessage>& msgs,
                                   const std::string& prefix,
                                   const std::vector<std::uint64_t>& confirmed) {
  std::map<std::pair<std::uint64_t, std::uint64_t>, bool> seen;
  std::pair<std::uint64_t, std::uint64_t> last{0, 0};
  bool any = false;
  for (const auto& m : msgs) {
    if (m.topic.rfind(prefix, 0) != 0) continue;
    const std::uint64_t life = std::stoull(m.topic.substr(prefix.size()));
    const auto seq = testkit::parse_seq(m.payload);
    if (!seq) return "unparsable payload on " + m.topic;
    const auto key = std::make_pair(life, *seq);
    if (seen.count(key)) continue;  // a re-send
    if (any && key < last)
      return "lifetime " + std::to_string(life) + " seq " + std::to_string(*seq) +
             " arrived after lifetime " + std::to_string(last.first) + " seq " +
             std::to_string(last.second);
    seen[key] = true;
    last = key;
    any = true;
  }
  for (std::uint64_t life = 0; life < confirmed.size(); ++life)
    for (std::uint64_t s = 0; s < confirmed[life]; ++s)
      if (!seen.count({life, s}))
        return "lifetime " + std::to_string(life) + " lost confirmed seq " + std::to_string(s) +
               " of " + std::to_string(confirmed[life]);
  return "";
}

// Every message of each lifetime of one client, ("<prefix><life>"), arrived, first arrivals in
// order lifetime by lifetime; waits up to `timeout` for it. "" or the first problem.
inline std::string wait_lifetimes(const testkit::Subscriber& sub, const std::string& prefix,
                           const std::vector<std::uint64_t>& confirmed,
                           std::chrono::milliseconds timeout) {
  std::string problem;
  wait_until(
      [&] {
        problem = check_lifetimes(sub.messages(), prefix, confirmed);
        return problem.empty();
      },
      timeout, 100ms);
  return problem;
}

inline std::uint64_t total(const std::vector<std::uint64_t>& v) {
  std::uint64_t t = 0;
  for (auto x : v) t += x;
  return t;
}

}  // namespace robustmq::test
