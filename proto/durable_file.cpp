#include "proto/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace robustmq {

namespace {
std::error_code last_error() { return {errno, std::generic_category()}; }
}  // namespace

std::error_code sync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return last_error();
  std::error_code ec;
  if (::fsync(fd) != 0) ec = last_error();
  ::close(fd);
  return ec;
}

std::error_code replace_file(const std::filesystem::path& dir, std::string_view name,
                             std::string_view contents, bool sync, std::string& what) {
  const auto path = dir / name;
  const auto tmp = dir / (std::string(name) + ".tmp");
  std::error_code ec;
  auto failed = [&](const char* step, const std::filesystem::path& file) {
    if (!ec) ec = last_error();
    what = fmt::format("cannot {} {}: {}", step, file.string(), ec.message());
    ::unlink(tmp.c_str());
    return ec;
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return failed("create", tmp);
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ec = n == 0 ? std::error_code(ENOSPC, std::generic_category()) : last_error();
      ::close(fd);
      return failed("write", tmp);
    }
    done += static_cast<std::size_t>(n);
  }
  if (sync && ::fdatasync(fd) != 0) {
    ec = last_error();
    ::close(fd);
    return failed("fdatasync", tmp);
  }
  if (::close(fd) != 0) return failed("close", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return failed("rename", tmp);
  if (sync) {
    if ((ec = sync_dir(dir))) {
      what = fmt::format("cannot fsync {}: {}", dir.string(), ec.message());
      return ec;
    }
  }
  return {};
}

}  // namespace robustmq
