// Thin POSIX file helpers for the caches: every failure becomes a CacheError that names the
// file and the cause, so an operator reading the worker's log knows which disk to look at.
//
// Files are created mode 0600 and fchmod'ed to 0600 whatever the umask (README.md, Security).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace robustmq::cache::io {

// Throws CacheError("<what> <path>: <strerror(err)>").
[[noreturn]] void fail(std::string_view what, const std::filesystem::path& path, int err);
std::string describe(std::string_view what, const std::filesystem::path& path, int err);

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { int f = fd_; fd_ = -1; return f; }

 private:
  int fd_ = -1;
};

// Opens `path` with `flags` (O_CLOEXEC is added). With O_CREAT the file is made 0600.
Fd open_file(const std::filesystem::path& path, int flags);
// Opens a directory for fsync.
Fd open_dir(const std::filesystem::path& path);

// Writes all of [data, data+n) at `offset`, retrying short writes and EINTR.
void pwrite_all(int fd, const void* data, std::size_t n, std::uint64_t offset,
                const std::filesystem::path& path);
// Reads up to n bytes at offset; returns the count read (short only at end of file).
std::size_t pread_some(int fd, void* data, std::size_t n, std::uint64_t offset,
                       const std::filesystem::path& path);
// fdatasync; throws on failure. Callers make the failure sticky (see file_log.hpp).
void sync_data(int fd, const std::filesystem::path& path);
// fsync of a directory, so that a create, rename or unlink inside it survives a power cut.
void sync_dir(const std::filesystem::path& dir);
std::uint64_t file_size(int fd, const std::filesystem::path& path);

}  // namespace robustmq::cache::io
