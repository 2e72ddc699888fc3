// The dead-letter store (the format and the rules are in dead_store.hpp).
#include "worker/cache/dead_store.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "worker/cache/posix_io.hpp"

namespace robustmq::dead {

namespace io = cache::io;

namespace {

constexpr char kMagic[4] = {'R', 'M', 'Q', 'D'};
constexpr std::string_view kNewName = "dead-letters.new";
constexpr std::string_view kOldName = "dead-letters.old";
// Appends of a rewrite: at most this many payload bytes per commit.
constexpr std::size_t kRewriteBatchBytes = 8u << 20;

bool present(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::symlink_status(p, ec).type() != std::filesystem::file_type::not_found;
}

void remove_tree(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::remove_all(p, ec);  // never follows a link: removes the link itself
  if (ec) throw cache::CacheError(io::describe("cannot remove", p, ec.value()));
}

}  // namespace

std::string encode(std::string_view payload, std::uint8_t code, std::int64_t refused_ns) {
  std::string out(kHeaderBytes, '\0');
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  out[4] = static_cast<char>(kVersion);
  out[5] = static_cast<char>(code);
  std::memcpy(out.data() + 8, &refused_ns, sizeof refused_ns);  // little-endian machines only
  out.append(payload);
  return out;
}

std::optional<Letter> decode(cache::CachedMessage record) {
  const std::string& p = record.payload;
  if (record.large || p.size() < kHeaderBytes || std::memcmp(p.data(), kMagic, 4) != 0 ||
      static_cast<std::uint8_t>(p[4]) != kVersion)
    return std::nullopt;
  Letter l;
  l.code = static_cast<std::uint8_t>(p[5]);
  std::memcpy(&l.refused_ns, p.data() + 8, sizeof l.refused_ns);
  record.payload.erase(0, kHeaderBytes);
  l.message = std::move(record);
  return l;
}

void recover(const std::filesystem::path& cache_dir) {
  const auto store = dir_of(cache_dir);
  const auto fresh = cache_dir / kNewName;
  const auto old = cache_dir / kOldName;
  if (!present(store) && present(fresh)) {
    // Cut between the two renames: the new store is complete.
    const io::Fd dir = io::open_dir(cache_dir);
    io::rename_at(dir.get(), std::string(kNewName).c_str(), std::string(kDirName).c_str(),
                  fresh);
    io::sync_dir(dir.get(), cache_dir);
  }
  if (present(fresh)) remove_tree(fresh);
  if (present(old)) remove_tree(old);
}

std::unique_ptr<cache::Cache> open(const std::filesystem::path& cache_dir,
                                   const cache::Config& config, bool create) {
  if (!config.read_only) recover(cache_dir);
  const auto store = dir_of(cache_dir);
  if (!present(store)) {
    if (!create || config.read_only) return nullptr;
    const io::Fd dir = io::open_dir(cache_dir);
    io::make_dir_at(dir.get(), std::string(kDirName).c_str(), store);
    if (config.sync) io::sync_dir(dir.get(), cache_dir);
  }
  return cache::open(cache::Backend::file, store, config);
}

std::vector<Letter> read_all(cache::Cache& store, std::size_t* damaged) {
  std::vector<Letter> out;
  std::vector<cache::CachedMessage> batch;
  std::uint64_t after = 0;
  for (;;) {
    batch.clear();
    store.read(after, 256, batch);
    if (batch.empty()) break;
    after = batch.back().id;
    for (auto& m : batch) {
      if (auto l = decode(std::move(m))) out.push_back(std::move(*l));
      else if (damaged != nullptr) ++*damaged;
    }
  }
  return out;
}

void rewrite(const std::filesystem::path& cache_dir, const cache::Config& config,
             std::span<const Letter> keep) {
  recover(cache_dir);  // a leftover .new/ of a cut rewrite goes first
  const auto fresh = cache_dir / kNewName;
  const io::Fd dir = io::open_dir(cache_dir);
  io::make_dir_at(dir.get(), std::string(kNewName).c_str(), fresh);
  {
    cache::Config c = config;
    c.sync = true;  // complete on disk before the renames make it the store
    const auto log = cache::open(cache::Backend::file, fresh, c);
    std::vector<std::string> payloads;
    std::vector<record::MessageView> batch;
    std::size_t bytes = 0;
    auto commit = [&] {
      if (batch.empty()) return;
      log->append(batch);
      batch.clear();
      payloads.clear();
      bytes = 0;
    };
    payloads.reserve(keep.size());  // views into it stay valid until the commit
    for (const Letter& l : keep) {
      if (bytes > kRewriteBatchBytes) commit();
      payloads.push_back(encode(l.message.payload, l.code, l.refused_ns));
      record::MessageView m = as_message(l);
      m.payload = payloads.back();
      batch.push_back(m);
      bytes += m.payload.size();
    }
    commit();
  }
  io::sync_dir(dir.get(), cache_dir);
  const auto store = dir_of(cache_dir);
  if (present(store)) io::rename_at(dir.get(), std::string(kDirName).c_str(),
                                   std::string(kOldName).c_str(), store);
  io::rename_at(dir.get(), std::string(kNewName).c_str(), std::string(kDirName).c_str(), fresh);
  io::sync_dir(dir.get(), cache_dir);
  remove_tree(cache_dir / kOldName);
}

record::MessageView as_message(const Letter& letter) {
  const auto& m = letter.message;
  return {.seq = m.seq, .enqueue_ns = m.enqueue_ns, .qos = m.qos, .retain = m.retain,
          .topic = m.topic, .payload = m.payload, .large = false};
}

}  // namespace robustmq::dead
