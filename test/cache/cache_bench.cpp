// Append, drain and reopen figures for both cache backends, with sync on (one fdatasync per
// batch), as the worker uses them. Usage: cache_bench [messages] [batch] [payload] [dir]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "worker/cache/cache.hpp"

using namespace robustmq::cache;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const std::size_t batch = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256;
  const std::size_t size = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 256;
  const fs::path base = argc > 4 ? fs::path(argv[4]) : fs::temp_directory_path();
  const std::string topic = "bench/sensor/temperature";
  const std::string payload(size, 'p');
  std::vector<robustmq::record::MessageView> views(batch);
  for (auto backend : {Backend::sqlite, Backend::file}) {
    const char* name = backend == Backend::sqlite ? "sqlite" : "file";
    const fs::path dir = base / (std::string("robustmq-bench-") + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto t = Clock::now();
    {
      auto c = open(backend, dir, Config{});
      for (std::size_t done = 0; done < n;) {
        const std::size_t k = std::min(batch, n - done);
        for (std::size_t i = 0; i < k; ++i)
          views[i] = {done + i, 0, 1, false, topic, payload};
        c->append({views.data(), k});
        done += k;
      }
    }
    const double append_s = seconds_since(t);
    t = Clock::now();
    auto c = open(backend, dir, Config{});
    const double open_s = seconds_since(t);
    t = Clock::now();
    std::vector<CachedMessage> got;
    std::uint64_t after = 0, read = 0;
    for (;;) {
      got.clear();
      c->read(after, batch, got);
      if (got.empty()) break;
      for (const auto& m : got) c->remove_through(m.id);  // one acknowledgement per message
      after = got.back().id;
      read += got.size();
    }
    const double drain_s = seconds_since(t);
    std::printf("%-6s append %zu x %zu B in batches of %zu (sync): %.0f msg/s (%.1f MB/s); "
                "reopen %.1f ms; drain+ack one by one: %.0f msg/s (%llu read)\n",
                name, n, size, batch, n / append_s, n * (size + topic.size()) / append_s / 1e6,
                open_s * 1e3, read / drain_s, static_cast<unsigned long long>(read));
    c.reset();
    fs::remove_all(dir);
  }
}
