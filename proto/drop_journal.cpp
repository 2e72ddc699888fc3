#include "proto/drop_journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "proto/durable_file.hpp"

namespace robustmq::journal {

namespace {

constexpr std::size_t kCheckedBytes = 40;

std::uint64_t fnv1a(const unsigned char* p, std::size_t n) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

template <typename T>
void put(unsigned char* p, T v) noexcept {
  std::memcpy(p, &v, sizeof v);
}
template <typename T>
T get(const unsigned char* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

off_t slot_offset(std::uint64_t serial) noexcept {
  return static_cast<off_t>((serial % kSlots) * kRecordBytes);
}

bool all_zero(const unsigned char (&b)[kRecordBytes]) noexcept {
  for (unsigned char c : b)
    if (c != 0) return false;
  return true;
}

// Reads slot `slot` into `b`; false when pread failed or came short.
bool read_slot(int fd, std::size_t slot, unsigned char (&b)[kRecordBytes]) noexcept {
  ssize_t n;
  do {
    n = ::pread(fd, b, kRecordBytes, static_cast<off_t>(slot * kRecordBytes));
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(kRecordBytes);
}

// Accepts only a regular file of kFileBytes; else sets `error`.
bool right_kind(int fd, std::error_code& error) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    error.assign(errno, std::generic_category());
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = std::make_error_code(std::errc::invalid_argument);
    return false;
  }
  if (st.st_size != static_cast<off_t>(kFileBytes)) {
    error = std::make_error_code(std::errc::invalid_argument);
    return false;
  }
  return true;
}

}  // namespace

void encode(const Record& r, unsigned char (&out)[kRecordBytes]) noexcept {
  std::memset(out, 0, kRecordBytes);
  put(out + 0, r.serial);
  put(out + 8, r.first);
  put(out + 16, r.last);
  put(out + 24, r.time_ns);
  out[32] = static_cast<unsigned char>(r.reason);
  out[33] = kRecordVersion;
  out[34] = r.code;
  put(out + 40, fnv1a(out, kCheckedBytes));
}

bool decode(const unsigned char (&in)[kRecordBytes], Record& r) noexcept {
  if (get<std::uint64_t>(in + 40) != fnv1a(in, kCheckedBytes)) return false;
  if (in[33] != kRecordVersion || in[32] > static_cast<unsigned char>(Reason::unknown))
    return false;
  Record d;
  d.serial = get<std::uint64_t>(in + 0);
  d.first = get<std::uint64_t>(in + 8);
  d.last = get<std::uint64_t>(in + 16);
  d.time_ns = get<std::int64_t>(in + 24);
  d.reason = static_cast<Reason>(in[32]);
  d.code = in[34];
  if (d.serial == 0 || d.last < d.first) return false;
  r = d;
  return true;
}

std::filesystem::path file_path(const std::filesystem::path& cache_dir) {
  return cache_dir / kFileName;
}

// --- Reader ---

std::optional<Reader> Reader::open(const std::filesystem::path& cache_dir,
                                   std::error_code& error) {
  error.clear();
  const int fd = ::open(file_path(cache_dir).c_str(),
                        O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error.assign(errno, std::generic_category());
    return std::nullopt;
  }
  if (!right_kind(fd, error)) {
    ::close(fd);
    return std::nullopt;
  }
  return Reader(fd);
}

Reader::Reader(Reader&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
Reader& Reader::operator=(Reader&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}
Reader::~Reader() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<Record> Reader::all(std::size_t* damaged) const {
  std::vector<Record> out;
  std::size_t bad = 0;
  unsigned char b[kRecordBytes];
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    if (!read_slot(fd_, slot, b)) {
      ++bad;
      continue;
    }
    if (all_zero(b)) continue;
    Record r;
    if (decode(b, r) && r.serial % kSlots == slot)
      out.push_back(r);
    else
      ++bad;
  }
  std::sort(out.begin(), out.end(),
            [](const Record& a, const Record& b) { return a.serial < b.serial; });
  if (damaged != nullptr) *damaged = bad;
  return out;
}

Reader::Slot Reader::read(std::uint64_t serial, Record& r) const {
  unsigned char b[kRecordBytes];
  if (!read_slot(fd_, serial % kSlots, b)) return Slot::unreadable;
  if (all_zero(b)) return Slot::empty;
  Record d;
  if (!decode(b, d) || d.serial % kSlots != serial % kSlots) return Slot::damaged;
  if (d.serial < serial) return Slot::empty;
  if (d.serial > serial) return Slot::overwritten;
  r = d;
  return Slot::intact;
}

// --- Writer ---

std::optional<Writer> Writer::open(const std::filesystem::path& cache_dir,
                                   std::error_code& error, std::string& what) {
  error.clear();
  const auto path = file_path(cache_dir);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                        0600);
  if (fd < 0) {
    error.assign(errno, std::generic_category());
    what = fmt::format("cannot open the drop journal {}: {}", path.string(), error.message());
    return std::nullopt;
  }
  Writer w(fd);
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = std::make_error_code(std::errc::invalid_argument);
    what = fmt::format("the drop journal {} is not a regular file: move it away",
                       path.string());
    return std::nullopt;
  }
  w.found_whole_ = st.st_size == static_cast<off_t>(kFileBytes);
  if (!w.found_whole_) {
    // New (size 0), or cut short by a crash during its creation: allocate it whole, so that a
    // full disk cannot keep a drop from being recorded later; the whole records it holds stay.
    // Longer only by damage: its slots are where they belong, so cutting it back to kFileBytes
    // keeps them, and the serials go on from its newest instead of starting again at 1 under
    // a follower of the journal.
    if (st.st_size > static_cast<off_t>(kFileBytes) &&
        ::ftruncate(fd, static_cast<off_t>(kFileBytes)) != 0) {
      error.assign(errno, std::generic_category());
      what = fmt::format("cannot truncate the drop journal {}: {}", path.string(),
                         error.message());
      return std::nullopt;
    }
    const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(kFileBytes));
    if (rc != 0) {
      error.assign(rc, std::generic_category());
      what = fmt::format("cannot allocate the drop journal {} ({} bytes): {}", path.string(),
                         kFileBytes, error.message());
      return std::nullopt;
    }
    if (::fsync(fd) != 0 || sync_dir(cache_dir)) {
      error.assign(errno != 0 ? errno : EIO, std::generic_category());
      what = fmt::format("cannot sync the new drop journal {}: {}", path.string(),
                         error.message());
      return std::nullopt;
    }
  }
  unsigned char b[kRecordBytes];
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    Record r;
    if (read_slot(fd, slot, b) && !all_zero(b) && decode(b, r) && r.serial % kSlots == slot &&
        r.serial > w.newest_.serial)
      w.newest_ = r;
  }
  return w;
}

Writer::Writer(Writer&& o) noexcept : fd_(o.fd_), newest_(o.newest_), found_whole_(o.found_whole_) {
  o.fd_ = -1;
}
Writer& Writer::operator=(Writer&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    newest_ = o.newest_;
    found_whole_ = o.found_whole_;
    o.fd_ = -1;
  }
  return *this;
}
Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
}

bool Writer::write(const Record& r) {
  unsigned char b[kRecordBytes];
  encode(r, b);
  ssize_t n;
  do {
    n = ::pwrite(fd_, b, kRecordBytes, slot_offset(r.serial));
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(kRecordBytes)) {
    if (n >= 0) errno = EIO;
    return false;
  }
  if (r.serial >= newest_.serial) newest_ = r;
  return true;
}

std::optional<Record> Writer::overwrites(std::uint64_t serial) const {
  unsigned char b[kRecordBytes];
  Record r;
  // A record in another serial's slot is damage (as all() and read() say), not a record.
  if (read_slot(fd_, serial % kSlots, b) && !all_zero(b) && decode(b, r) &&
      r.serial % kSlots == serial % kSlots && r.serial < serial)
    return r;
  return std::nullopt;
}

bool Writer::sync() { return ::fdatasync(fd_) == 0; }

}  // namespace robustmq::journal
