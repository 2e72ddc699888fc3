#include "worker/large_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "worker/log.hpp"

namespace robustmq::worker {

LargeFiles::Mapped::~Mapped() {
  if (data_ != nullptr) ::munmap(const_cast<void*>(data_), size_);
}

std::optional<LargeFiles::Mapped> LargeFiles::map(std::string_view reference,
                                                  std::string& why) const {
  const auto ref = large::decode(reference);
  if (!ref) {
    why = "damaged large-message reference";
    return std::nullopt;
  }
  const auto path = large::dir_of(cache_dir_) / ref->name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    why = fmt::format("large-message file {} cannot be opened: {}", path.string(),
                      std::generic_category().message(errno));
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) != ref->size || ref->size == 0) {
    ::close(fd);
    why = fmt::format("large-message file {} holds {} bytes, its reference says {}: deleted",
                      path.string(), st.st_size, ref->size);
    release(reference);
    return std::nullopt;
  }
  void* p = ::mmap(nullptr, ref->size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    why = fmt::format("cannot map large-message file {}: {}", path.string(),
                      std::generic_category().message(err));
    return std::nullopt;
  }
  ::madvise(p, ref->size, MADV_SEQUENTIAL);
  return Mapped(p, ref->size);
}

void LargeFiles::release(std::string_view reference) const {
  const auto ref = large::decode(reference);
  if (!ref) return;
  if (auto ec = large::remove_file(cache_dir_, *ref))
    log(Level::warning, "cannot delete large-message file {}: {}", ref->name, ec.message());
}

bool LargeFiles::exists(std::string_view reference) const {
  const auto ref = large::decode(reference);
  struct stat st {};
  return ref && ::stat((large::dir_of(cache_dir_) / ref->name).c_str(), &st) == 0;
}

void LargeFiles::sync(std::span<const record::MessageView> batch) const {
  bool any = false;
  for (const auto& m : batch) {
    if (!m.large) continue;
    any = true;
    const auto ref = large::decode(m.payload);
    if (!ref) continue;  // damaged: skipped when it is sent
    const auto path = large::dir_of(cache_dir_) / ref->name;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;  // missing: counted as damaged when it is sent
    const int rc = ::fdatasync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0)
      throw std::runtime_error(fmt::format("cannot fdatasync {}: {}", path.string(),
                                           std::generic_category().message(err)));
  }
  if (!any) return;
  // The files' names (publish() renamed them into place) must survive a power cut too.
  const auto dir = large::dir_of(cache_dir_);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(fmt::format("cannot fsync {}: {}", dir.string(),
                                         std::generic_category().message(err)));
  }
  ::close(fd);
}

std::uint64_t LargeFiles::payload_bytes(std::string_view reference) {
  const auto ref = large::decode(reference);
  return ref ? ref->size : 0;
}

namespace {
// The producer's pid in "<enqueue_ns>-<pid>-<n>.msg", or 0 if the name is not of that form.
pid_t producer_of(std::string_view name) {
  const auto a = name.find('-');
  const auto b = a == std::string_view::npos ? a : name.find('-', a + 1);
  if (b == std::string_view::npos || b == a + 1 || b - a - 1 > 9) return 0;
  pid_t pid = 0;
  for (const char c : name.substr(a + 1, b - a - 1)) {
    if (c < '0' || c > '9') return 0;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}
}  // namespace

std::pair<std::size_t, std::uint64_t> LargeFiles::sweep_orphans() const {
  const auto dir = large::dir_of(cache_dir_);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return {0, 0};
  std::size_t files = 0;
  std::uint64_t bytes = 0;
  while (const dirent* e = ::readdir(d)) {  // NOLINT(concurrency-mt-unsafe): one DIR, one thread
    const std::string_view name = e->d_name;
    if (!name.ends_with(large::kFileSuffix)) continue;
    const pid_t producer = producer_of(name);
    if (producer <= 0 || ::kill(producer, 0) == 0 || errno != ESRCH) continue;  // alive, or unsure
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) {
      ++files;
      bytes += static_cast<std::uint64_t>(st.st_size);
    }
  }
  ::closedir(d);
  return {files, bytes};
}

std::uint64_t LargeFiles::disk_bytes() const {
  const auto dir = large::dir_of(cache_dir_);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::uint64_t total = 0;
  while (const dirent* e = ::readdir(d)) {  // NOLINT(concurrency-mt-unsafe): one DIR, one thread
    const std::string_view name = e->d_name;
    if (!name.ends_with(large::kFileSuffix)) continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
      total += static_cast<std::uint64_t>(st.st_size);
  }
  ::closedir(d);
  return total;
}

}  // namespace robustmq::worker
