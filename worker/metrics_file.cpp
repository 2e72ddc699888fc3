#include "worker/metrics_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "proto/segment_stats.hpp"
#include "worker/log.hpp"

namespace robustmq::worker {

MetricsFile::MetricsFile(std::string path, std::chrono::seconds interval, std::string client_id)
    : path_(std::move(path)), interval_(interval), client_id_(std::move(client_id)) {}

std::optional<Clock::time_point> MetricsFile::due() const {
  if (path_.empty()) return std::nullopt;
  return due_ ? *due_ : Clock::time_point{};
}

void MetricsFile::tick(Clock::time_point now, const shm::Segment& segment) {
  if (path_.empty() || (due_ && now < *due_)) return;
  due_ = now + interval_;
  write(segment, true);
}

void MetricsFile::write(const shm::Segment& segment, bool running) {
  if (path_.empty()) return;
  const std::string text = prometheus_text(stats_of(segment), client_id_, running);
  // A reader sees the old file or the new one whole: written beside it, then renamed over it.
  // The temporary file is this process's alone (<file>.tmp.<pid>, created exclusively): another
  // worker writing the same file cannot truncate it under us, nor anything else in the way stop
  // us. One left by a dead process of the same pid is removed first. No fsync: figures a power
  // cut takes are rewritten by the next worker, and a file written every few seconds must not
  // wear a flash disk's blocks.
  const std::string tmp = fmt::format("{}.tmp.{}", path_, ::getpid());
  int err = 0;
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    err = errno;
  } else {
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : EIO;
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err == 0 && std::rename(tmp.c_str(), path_.c_str()) != 0) err = errno;
    if (err != 0) ::unlink(tmp.c_str());
  }
  if (err != 0) {
    if (!failing_)
      log(Level::warning, "cannot write the metrics file {}: {} (tried again every {} s)", path_,
          std::generic_category().message(err), interval_.count());
    failing_ = true;
    return;
  }
  if (failing_) log(Level::info, "metrics file {} written again", path_);
  failing_ = false;
}

}  // namespace robustmq::worker
