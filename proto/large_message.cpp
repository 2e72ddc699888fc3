#include "proto/large_message.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "proto/durable_file.hpp"

namespace robustmq::large {

namespace {

bool valid_name(std::string_view name) {
  if (name.size() <= kFileSuffix.size() || name.size() > kMaxNameBytes ||
      !name.ends_with(kFileSuffix))
    return false;
  for (char c : name.substr(0, name.size() - kFileSuffix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-')) return false;
  return true;
}

std::error_code last_error() { return {errno, std::generic_category()}; }

std::atomic<std::uint64_t> g_counter{0};

}  // namespace

std::string encode(const Reference& r) {
  std::string out(kSizeBytes, '\0');
  std::memcpy(out.data(), &r.size, kSizeBytes);
  out += r.name;
  return out;
}

std::optional<Reference> decode(std::string_view payload) {
  if (payload.size() <= kSizeBytes || payload.size() > kMaxReferenceBytes) return std::nullopt;
  Reference r;
  std::memcpy(&r.size, payload.data(), kSizeBytes);
  // No MQTT message is larger: a size above it is damage (and past 4 GiB it would not fit the
  // size_t of a 32-bit worker's mapping of the file).
  if (r.size > kMqttMaxRemainingLength) return std::nullopt;
  r.name.assign(payload.substr(kSizeBytes));
  if (!valid_name(r.name)) return std::nullopt;
  return r;
}

std::size_t prepare_dir(const std::filesystem::path& cache_dir) {
  const auto dir = dir_of(cache_dir);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::system_error(errno, std::generic_category(),
                            fmt::format("cannot create {}", dir.string()));
  ::chmod(dir.c_str(), 0700);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    throw std::system_error(errno, std::generic_category(),
                            fmt::format("cannot read {}", dir.string()));
  std::size_t removed = 0;
  while (const dirent* e = ::readdir(d)) {  // NOLINT(concurrency-mt-unsafe): one DIR, one thread
    const std::string_view name = e->d_name;
    if (name.ends_with(kTempSuffix) && ::unlinkat(::dirfd(d), e->d_name, 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

std::optional<Reference> write_file(const std::filesystem::path& cache_dir,
                                    std::string_view payload, std::int64_t enqueue_ns, bool sync,
                                    std::error_code& ec, std::string& what) {
  const auto dir = dir_of(cache_dir);
  const std::string stem = fmt::format("{}-{}-{}", enqueue_ns, ::getpid(), g_counter.fetch_add(1));
  const auto tmp = dir / (stem + std::string(kTempSuffix));
  Reference r;
  r.size = payload.size();
  r.name = stem + std::string(kFileSuffix);
  const auto final_path = dir / r.name;
  auto failed = [&](const char* step) {
    ec = last_error();
    what = fmt::format("cannot {} {}: {}", step, tmp.string(), ec.message());
    ::unlink(tmp.c_str());
    return std::nullopt;
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    ec = last_error();
    what = fmt::format("cannot create {}: {}", tmp.string(), ec.message());
    return std::nullopt;
  }
  std::size_t done = 0;
  while (done < payload.size()) {
    const ssize_t n = ::write(fd, payload.data() + done, payload.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      const int err = errno;
      ::close(fd);
      errno = err;
      return failed("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (sync && ::fdatasync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return failed("fdatasync");
  }
  if (::close(fd) != 0) return failed("close");
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) return failed("rename");
  if (sync) {
    if (auto e = sync_dir(dir)) {
      ::unlink(final_path.c_str());
      ec = e;
      what = fmt::format("cannot fsync {}: {}", dir.string(), e.message());
      return std::nullopt;
    }
  }
  return r;
}

std::error_code remove_file(const std::filesystem::path& cache_dir, const Reference& r) {
  const auto path = dir_of(cache_dir) / r.name;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return last_error();
  return {};
}

}  // namespace robustmq::large
