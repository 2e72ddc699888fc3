// Helpers for the cache tests: a real temporary directory, message batches, byte-damaging
// helpers on real files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "worker/cache/cache.hpp"

namespace robustmq::cache::test {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "robustmq-cache-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Owns the strings the views of a batch point into.
struct Batch {
  std::vector<std::string> topics, payloads;
  std::vector<record::MessageView> views;

  void add(std::uint64_t seq, std::string topic, std::string payload, int qos = 1,
           bool retain = false) {
    topics.push_back(std::move(topic));
    payloads.push_back(std::move(payload));
    views.push_back(record::MessageView{seq, static_cast<std::int64_t>(seq) * 1000 + 7, qos,
                                        retain, {}, {}});
  }
  std::span<const record::MessageView> span() {
    for (std::size_t i = 0; i < views.size(); ++i) {
      views[i].topic = topics[i];
      views[i].payload = payloads[i];
    }
    return views;
  }
};

inline std::string payload_for(std::uint64_t seq, std::size_t size = 24) {
  std::string p = "payload-" + std::to_string(seq) + "-";
  while (p.size() < size) p += static_cast<char>('a' + seq % 26);
  p.resize(size);
  return p;
}

// Appends messages seq first..first+n-1 in batches of batch_size; returns the last id.
inline std::uint64_t append_n(Cache& c, std::uint64_t first, std::uint64_t n,
                              std::size_t batch_size = 256, std::size_t payload = 24) {
  std::uint64_t last = 0;
  for (std::uint64_t done = 0; done < n;) {
    Batch b;
    for (std::size_t i = 0; i < batch_size && done < n; ++i, ++done)
      b.add(first + done, "sensors/" + std::to_string((first + done) % 7), payload_for(first + done, payload));
    last = c.append(b.span());
  }
  return last;
}

inline std::vector<CachedMessage> read_all(Cache& c, std::uint64_t after = 0,
                                           std::size_t batch = 256) {
  std::vector<CachedMessage> all;
  for (;;) {
    std::vector<CachedMessage> got;
    c.read(after, batch, got);
    if (got.empty()) return all;
    after = got.back().id;
    for (auto& m : got) all.push_back(std::move(m));
  }
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<fs::path> segments(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir / "log"))
    if (e.path().extension() == ".rml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace robustmq::cache::test
