#include "worker/cache/posix_io.hpp"

#include <cerrno>
#include <cstring>
#include <dirent.h>
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

namespace {

// Throws for a failed open of `name` in `dir`: that it is a symbolic link when one stands there
// (the caches never make one and do not follow it), else the cause.
[[noreturn]] void fail_open(int dir, const char* name, const std::filesystem::path& shown,
                            int err) {
  struct stat st {};
  if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
    throw CacheError(fmt::format("cannot open {}: it is a symbolic link, which the cache does "
                                 "not follow (remove it, or point cache_path at the real place)",
                                 shown.string()));
  fail("cannot open", shown, err);
}

}  // namespace

Fd open_at(int dir, const char* name, int flags, const std::filesystem::path& shown) {
  int fd;
  do {
    fd = ::openat(dir, name, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail_open(dir, name, shown, errno);
  Fd out(fd);
  // The umask may have widened nothing (0600 is already narrow), but a file created earlier by
  // an older build or by hand may be wider: data on disk is only for this user.
  if ((flags & O_CREAT) && (flags & O_ACCMODE) != O_RDONLY && ::fchmod(fd, 0600) != 0)
    fail("cannot chmod", shown, errno);
  return out;
}

Fd open_file(const std::filesystem::path& path, int flags) {
  return open_at(AT_FDCWD, path.c_str(), flags, path);
}

Fd open_dir(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory", path, errno);
  return Fd(fd);
}

Fd open_dir_at(int dir, const char* name, const std::filesystem::path& shown) {
  const int fd = ::openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail_open(dir, name, shown, errno);
  return Fd(fd);
}

bool make_dir_at(int dir, const char* name, const std::filesystem::path& shown) {
  if (::mkdirat(dir, name, 0700) == 0) return true;
  if (errno == EEXIST) return false;
  fail("cannot create directory", shown, errno);
}

bool remove_at(int dir, const char* name, const std::filesystem::path& shown) {
  if (::unlinkat(dir, name, 0) == 0) return true;
  if (errno == ENOENT) return false;
  fail("cannot remove", shown, errno);
}

void rename_at(int dir, const char* from, const char* to, const std::filesystem::path& shown) {
  if (::renameat(dir, from, dir, to) != 0) fail("cannot rename", shown, errno);
}

void sync_dir(int dir, const std::filesystem::path& shown) {
  if (::fsync(dir) != 0) fail("cannot sync directory", shown, errno);
}

std::vector<std::string> list_dir(int dir, const std::filesystem::path& shown) {
  // A descriptor of its own: readdir() moves the offset of the open file it reads.
  const int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory", shown, errno);
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    fail("cannot open directory", shown, err);
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {  // NOLINT(concurrency-mt-unsafe): a DIR of our own
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) fail("cannot list directory", shown, err);
  return names;
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
  sync_dir(d.get(), dir);
}

std::uint64_t file_size(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("cannot stat", path, errno);
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace robustmq::cache::io
