#include "proto/segment.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace robustmq {

namespace bip = boost::interprocess;

namespace {

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

[[noreturn]] void fail(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

std::size_t total_bytes(std::size_t ring_bytes) { return shm::kRingOffset + ring_bytes; }

bool is_pow2(std::uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Checks what an existing segment claims against what its file really is. Returns "" if usable.
std::string check_existing(int fd, std::size_t& ring_bytes_out) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return fmt::format("fstat failed: {}", std::generic_category().message(errno));
  if (st.st_uid != ::geteuid())
    fail(EACCES, fmt::format("shared segment is owned by uid {}, not by us (uid {}): refusing "
                             "to use it; remove it or run as its owner",
                             st.st_uid, ::geteuid()));
  if (static_cast<std::size_t>(st.st_size) < shm::kRingOffset + shm::kMinRingBytes)
    return fmt::format("size {} is too small", st.st_size);
  void* p = ::mmap(nullptr, shm::kRingOffset, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return fmt::format("mmap failed: {}", std::generic_category().message(errno));
  const auto* h = static_cast<const shm::SegmentHeader*>(p);
  std::string problem;
  if (h->magic.load(std::memory_order_acquire) != shm::kMagic)
    problem = "wrong magic (not a RobustMQ segment, or its creator died while creating it)";
  else if (h->layout_version != shm::kLayoutVersion)
    problem = fmt::format("layout version {} (this library speaks {})", h->layout_version,
                          shm::kLayoutVersion);
  else if (h->ring_offset != shm::kRingOffset || !is_pow2(h->ring_bytes) ||
           h->ring_bytes < shm::kMinRingBytes || h->ring_bytes > shm::kMaxRingBytes ||
           total_bytes(h->ring_bytes) != static_cast<std::size_t>(st.st_size))
    problem = fmt::format("inconsistent sizes (ring {} bytes, file {} bytes)", h->ring_bytes,
                          st.st_size);
  else
    ring_bytes_out = h->ring_bytes;
  ::munmap(p, shm::kRingOffset);
  return problem;
}

int shm_fd(const bip::shared_memory_object& obj) {
  return static_cast<int>(obj.get_mapping_handle().handle);
}

}  // namespace

std::string segment_name(const std::filesystem::path& canonical_cache_dir,
                         std::string_view client_id) {
  std::uint64_t h = fnv1a(canonical_cache_dir.native());
  h = fnv1a(std::string_view("\0", 1), h);
  h = fnv1a(client_id, h);
  return fmt::format("robustmq-{:016x}", h);
}

std::size_t ring_size_for(std::size_t requested) noexcept {
  std::size_t n = shm::kMinRingBytes;
  while (n < requested && n < shm::kMaxRingBytes) n <<= 1;
  return n;
}

MappedSegment::MappedSegment(void* base, std::size_t bytes) : base_(base), bytes_(bytes) {
  segment_ = static_cast<shm::Segment*>(base);
  ring_ = static_cast<std::byte*>(base) + shm::kRingOffset;
  ring_bytes_ = bytes - shm::kRingOffset;
}

MappedSegment::MappedSegment(MappedSegment&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      bytes_(std::exchange(o.bytes_, 0)),
      segment_(std::exchange(o.segment_, nullptr)),
      ring_(std::exchange(o.ring_, nullptr)),
      ring_bytes_(std::exchange(o.ring_bytes_, 0)) {}

MappedSegment& MappedSegment::operator=(MappedSegment&& o) noexcept {
  if (this != &o) {
    this->~MappedSegment();
    new (this) MappedSegment(std::move(o));
  }
  return *this;
}

MappedSegment::~MappedSegment() {
  if (base_ != nullptr) ::munmap(base_, bytes_);
}

// The mapping is made with mmap on Boost's descriptor rather than with bip::mapped_region so
// that it outlives the shared_memory_object (which closes its descriptor on destruction).
static void* map_fd(int fd, std::size_t bytes, const std::string& name) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) fail(errno, fmt::format("cannot map shared segment /dev/shm/{}", name));
  return p;
}

MappedSegment MappedSegment::create_or_adopt(const std::string& name, std::size_t ring_bytes,
                                             Origin& origin, std::string& note) {
  ring_bytes = ring_size_for(ring_bytes);
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      bip::shared_memory_object obj(bip::open_only, name.c_str(), bip::read_write);
      std::size_t existing_ring = 0;
      std::string problem = check_existing(shm_fd(obj), existing_ring);
      if (problem.empty()) {
        origin = Origin::adopted;
        return MappedSegment(map_fd(shm_fd(obj), total_bytes(existing_ring), name),
                             total_bytes(existing_ring));
      }
      // Never map a segment we cannot trust; keep it for inspection instead of deleting it.
      // Nanoseconds: two segments moved aside within one second keep distinct names.
      const auto stamp = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
      const std::string from = "/dev/shm/" + name;
      const std::string to = fmt::format("{}.bad-{}", from, stamp);
      if (::rename(from.c_str(), to.c_str()) != 0) bip::shared_memory_object::remove(name.c_str());
      note = fmt::format("shared segment {} was unusable ({}); moved it to {}", from, problem, to);
    } catch (const bip::interprocess_exception& e) {
      if (e.get_error_code() != bip::not_found_error)
        fail(e.get_native_error() ? e.get_native_error() : EIO,
             fmt::format("cannot open shared segment /dev/shm/{}: {}", name, e.what()));
    }
    try {
      bip::permissions perm(0600);
      bip::shared_memory_object obj(bip::create_only, name.c_str(), bip::read_write, perm);
      ::fchmod(shm_fd(obj), 0600);  // whatever the umask
      obj.truncate(static_cast<bip::offset_t>(total_bytes(ring_bytes)));
      void* base = map_fd(shm_fd(obj), total_bytes(ring_bytes), name);
      MappedSegment seg(base, total_bytes(ring_bytes));
      auto& h = seg.segment().header;  // fresh pages are zero: every counter starts at 0
      h.layout_version = shm::kLayoutVersion;
      h.ring_offset = shm::kRingOffset;
      h.ring_bytes = ring_bytes;
      h.creator_uid = ::geteuid();
      h.magic.store(shm::kMagic, std::memory_order_release);
      origin = Origin::created;
      return seg;
    } catch (const bip::interprocess_exception& e) {
      if (e.get_error_code() != bip::already_exists_error)
        fail(e.get_native_error() ? e.get_native_error() : EIO,
             fmt::format("cannot create shared segment /dev/shm/{}: {}", name, e.what()));
      // Lost a race with another creator: adopt on the next turn.
    }
  }
  fail(EAGAIN, fmt::format("shared segment /dev/shm/{} keeps changing under us", name));
}

MappedSegment MappedSegment::open_existing(const std::string& name) {
  try {
    bip::shared_memory_object obj(bip::open_only, name.c_str(), bip::read_write);
    std::size_t ring_bytes = 0;
    std::string problem = check_existing(shm_fd(obj), ring_bytes);
    if (!problem.empty())
      fail(EINVAL, fmt::format("shared segment /dev/shm/{} is unusable: {}", name, problem));
    return MappedSegment(map_fd(shm_fd(obj), total_bytes(ring_bytes), name),
                         total_bytes(ring_bytes));
  } catch (const bip::interprocess_exception& e) {
    fail(e.get_native_error() ? e.get_native_error() : ENOENT,
         fmt::format("cannot open shared segment /dev/shm/{}: {}", name, e.what()));
  }
}

void MappedSegment::unlink(const std::string& name) noexcept {
  bip::shared_memory_object::remove(name.c_str());
}

}  // namespace robustmq
