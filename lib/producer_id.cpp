#include "lib/producer_id.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "proto/durable_file.hpp"

namespace robustmq::producer_id {

namespace {

constexpr std::size_t kDigits = 16;

std::uint64_t new_id() {
  std::uint64_t v = 0;
  // GRND_NONBLOCK: connect_async() must not wait for the entropy pool of a device that has just
  // booted. The id only has to differ from the ids earlier lives of this client_id had, which
  // the clocks and the pid see to as well.
  if (::getrandom(&v, sizeof v, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof v)) return v;
  timespec real{}, mono{};
  ::clock_gettime(CLOCK_REALTIME, &real);
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  v = static_cast<std::uint64_t>(real.tv_sec) * 1'000'000'000u +
      static_cast<std::uint64_t>(real.tv_nsec);
  v ^= (static_cast<std::uint64_t>(mono.tv_nsec) << 32) ^
       (static_cast<std::uint64_t>(::getpid()) << 16);
  // splitmix64's finaliser: nearby inputs give unrelated ids.
  v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9u;
  v = (v ^ (v >> 27)) * 0x94d049bb133111ebu;
  return v ^ (v >> 31);
}

bool well_formed(std::string_view text) {
  return text.size() == kDigits + 1 && text.back() == '\n' &&
         std::all_of(text.begin(), text.end() - 1,
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The id in the file; nullopt when there is none (`errno_out` ENOENT) or it cannot be read or
// is damaged (`why` says which).
std::optional<std::string> read_id(const std::filesystem::path& path, std::string& why,
                                   int& errno_out) {
  errno_out = 0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    errno_out = errno;
    if (errno_out != ENOENT)
      why = fmt::format("cannot read {}: {}", path.string(),
                        std::generic_category().message(errno_out));
    return std::nullopt;
  }
  char buf[kDigits + 2];  // one byte more than a well-formed file holds
  std::size_t got = 0;
  while (got < sizeof buf) {
    const ssize_t n = ::read(fd, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  const std::string_view text(buf, got);
  if (!well_formed(text)) {
    why = fmt::format("{} is damaged (it does not hold 16 lowercase hex digits)", path.string());
    return std::nullopt;
  }
  return std::string(text.substr(0, kDigits));
}

// Creates the file with `id`: O_EXCL, so that nothing else of that name (a link) is written
// through; synced with its directory. Returns the error, with `why`.
std::error_code create(const std::filesystem::path& dir, const std::filesystem::path& path,
                       std::string_view id, std::string& why) {
  const std::string line = std::string(id) + "\n";
  std::error_code ec;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    ec = {errno, std::generic_category()};
    why = fmt::format("cannot create {}: {}", path.string(), ec.message());
    return ec;
  }
  std::size_t done = 0;
  while (!ec && done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ec = {n == 0 ? ENOSPC : errno, std::generic_category()};
    else done += static_cast<std::size_t>(n);
  }
  if (!ec && ::fsync(fd) != 0) ec = {errno, std::generic_category()};
  if (::close(fd) != 0 && !ec) ec = {errno, std::generic_category()};
  if (!ec) ec = sync_dir(dir);
  if (ec) {
    why = fmt::format("cannot write {}: {}", path.string(), ec.message());
    ::unlink(path.c_str());  // a later life must not trust a half-written id
  }
  return ec;
}

}  // namespace

std::string stream(const std::filesystem::path& dir, bool renew, std::string& note) {
  const auto path = dir / kName;
  std::string why;
  int err = 0;
  const auto old = read_id(path, why, err);
  if (old && !renew) return *old;
  if (old)
    why = fmt::format("no bound of the sequence numbers was found (they may repeat numbers an "
                      "earlier life sent under stream id {})", *old);
  // The cache directory is locked: no other client writes here meanwhile. A file that cannot
  // be removed makes create() fail, which says so.
  if (err != ENOENT) ::unlink(path.c_str());
  const std::string fresh = fmt::format("{:016x}", new_id());
  std::string id = fresh;
  std::string lost;  // why the id in use is not the one on disk
  if (!create(dir, path, fresh, lost)) {
    std::string read_why;
    if (auto back = read_id(path, read_why, err)) id = *back;
    else lost = read_why.empty() ? fmt::format("{} vanished", path.string()) : read_why;
  }
  if (!why.empty())
    note = fmt::format("{}: Options::dedup_property goes on under the new stream id {}", why, id);
  if (!lost.empty())
    note = fmt::format("{}{}{}: this life's messages carry the stream id {}, which no later life "
                       "uses (consumers may take the messages it leaves undelivered for new "
                       "ones)",
                       note, note.empty() ? "" : "; ", lost, id);
  return id;
}

}  // namespace robustmq::producer_id
