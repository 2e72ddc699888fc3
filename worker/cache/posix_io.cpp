#include "worker/cache/posix_io.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <system_error>

#include <fmt/format.h>

#include "worker/cache/cache.hpp"

namespace robustmq::cache::io {

std::string describe(std::string_view what, const std::filesystem::path& path, int err) {
  return fmt::format("{} {}: {}", what, path.string(), std::generic_category().message(err));
}

void fail(std::string_view what, const std::filesystem::path& path, int err) {
  throw CacheError(describe(what, path, err));
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd open_file(const std::filesystem::path& path, int flags) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail("cannot open", path, errno);
  Fd out(fd);
  // The umask may have widened nothing (0600 is already narrow), but a file created earlier by
  // an older build or by hand may be wider: data on disk is only for this user.
  if ((flags & O_CREAT) && (flags & O_ACCMODE) != O_RDONLY && ::fchmod(fd, 0600) != 0)
    fail("cannot chmod", path, errno);
  return out;
}

Fd open_dir(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory", path, errno);
  return Fd(fd);
}

void pwrite_all(int fd, const void* data, std::size_t n, std::uint64_t offset,
                const std::filesystem::path& path) {
  auto p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path, errno);
    }
    if (w == 0) fail("cannot write", path, EIO);
    p += w;
    n -= static_cast<std::size_t>(w);
    offset += static_cast<std::uint64_t>(w);
  }
}

std::size_t pread_some(int fd, void* data, std::size_t n, std::uint64_t offset,
                       const std::filesystem::path& path) {
  auto p = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("cannot read", path, errno);
    }
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return done;
}

void sync_data(int fd, const std::filesystem::path& path) {
  // Not retried on EINTR or anything else: after a failed fsync the kernel may have dropped the
  // dirty pages, and a second fsync would report success for data that is gone.
  if (::fdatasync(fd) != 0) fail("cannot sync", path, errno);
}

void sync_dir(const std::filesystem::path& dir) {
  Fd d = open_dir(dir);
  if (::fsync(d.get()) != 0) fail("cannot sync directory", dir, errno);
}

std::uint64_t file_size(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("cannot stat", path, errno);
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace robustmq::cache::io
