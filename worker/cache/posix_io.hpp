// Thin POSIX file helpers for the caches: every failure becomes a CacheError that names the
// file and the cause, so an operator reading the worker's log knows which disk to look at.
//
// Files are created mode 0600 and fchmod'ed to 0600 whatever the umask (README.md, Security).
// Nothing inside the cache directory is opened, created, renamed or removed through a symbolic
// link: files are named relative to a descriptor of their directory (openat, renameat,
// unlinkat, mkdirat), so the directory cannot be swapped between a check and a use, and every
// open adds O_NOFOLLOW | O_CLOEXEC. A link found where a cache file belongs is refused with an
// error that says so (the caches never make one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

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

// Opens `path` with `flags` (O_CLOEXEC and O_NOFOLLOW are added). With O_CREAT the file is
// made 0600.
Fd open_file(const std::filesystem::path& path, int flags);
// Opens the directory `path` as given (the cache directory, as configured), for the *_at calls
// and fsync.
Fd open_dir(const std::filesystem::path& path);

// The *_at calls name a file `name` (no '/') in the directory open as `dir`; `shown` is its
// full path, for messages.
// Opens a file (O_CLOEXEC and O_NOFOLLOW are added; with O_CREAT it is made 0600).
Fd open_at(int dir, const char* name, int flags, const std::filesystem::path& shown);
// Opens a subdirectory, not through a link. ENOENT is thrown like any other error.
Fd open_dir_at(int dir, const char* name, const std::filesystem::path& shown);
// Creates a subdirectory 0700; false if something of that name exists already.
bool make_dir_at(int dir, const char* name, const std::filesystem::path& shown);
// Removes a file (a link itself, never its target); false if there was none.
bool remove_at(int dir, const char* name, const std::filesystem::path& shown);
// Renames a file within `dir`, replacing `to`.
void rename_at(int dir, const char* from, const char* to, const std::filesystem::path& shown);
// fsync of the directory open as `dir`.
void sync_dir(int dir, const std::filesystem::path& shown);
// The names in the directory open as `dir`, without "." and "..".
std::vector<std::string> list_dir(int dir, const std::filesystem::path& shown);

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
