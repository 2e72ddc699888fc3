#include "proto/segment.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <chrono>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace robustmq {

namespace bip = boost::interprocess;

// The mapping of a whole segment. A mapped_region unmaps on destruction; forget() must not
// unmap, so the region lives in a union member that ~Mapping() destroys only if not forgotten.
struct MappedSegment::Mapping {
  explicit Mapping(bip::mapped_region&& r) : region(std::move(r)) {}
  ~Mapping() {
    if (!forgotten) region.~mapped_region();
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  union {
    bip::mapped_region region;
  };
  bool forgotten = false;
};

namespace {

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

[[noreturn]] void fail(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

int native_error(const bip::interprocess_exception& e, int otherwise) {
  return e.get_native_error() != 0 ? e.get_native_error() : otherwise;
}

std::size_t total_bytes(std::size_t ring_bytes) { return shm::kRingOffset + ring_bytes; }

bool is_pow2(std::uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// The descriptor behind a Boost object, for what Boost has no call for: the owner (fstat),
// the mode whatever the umask (fchmod) and the file's name.
int native_fd(const bip::shared_memory_object& obj) {
  return static_cast<int>(obj.get_mapping_handle().handle);
}

// The file behind a shared memory object Boost opened, as the kernel names its descriptor.
// Boost has no public call for the directory of its objects: on Linux it hands shm_open()
// "/<name>" and the C library picks the directory (/dev/shm), while
// bip::ipcdetail::get_shared_dir() names only the directory of Boost's file-based emulation
// (/tmp/boost_interprocess), which POSIX shared memory objects do not use. The descriptor's
// name is right either way. Empty if the kernel does not say (no /proc).
std::filesystem::path file_of(const bip::shared_memory_object& obj) {
  std::error_code ec;
  auto file = std::filesystem::read_symlink(fmt::format("/proc/self/fd/{}", native_fd(obj)), ec);
  if (ec) return {};
  return file;
}

// The file for messages, or the object's name if the kernel does not say.
std::string shown(const bip::shared_memory_object& obj) {
  const auto file = file_of(obj);
  return file.empty() ? std::string(obj.get_name()) : file.string();
}

// What is wrong with a segment's header, "" if nothing: its claims against the file's size.
std::string header_problem(const shm::SegmentHeader& h, std::size_t file_bytes,
                           std::size_t& ring_bytes_out) {
  if (h.magic.load(std::memory_order_acquire) != shm::kMagic)
    return "wrong magic (not a RobustMQ segment, or its creator died while creating it)";
  if (h.layout_version < shm::kOldestLayoutVersion || h.layout_version > shm::kLayoutVersion)
    return fmt::format("layout version {} (this library reads versions {} to {})",
                       h.layout_version, shm::kOldestLayoutVersion, shm::kLayoutVersion);
  if (h.ring_offset != shm::kRingOffset || !is_pow2(h.ring_bytes) ||
      h.ring_bytes < shm::kMinRingBytes || h.ring_bytes > shm::kMaxRingBytes ||
      total_bytes(h.ring_bytes) != file_bytes)
    return fmt::format("inconsistent sizes (ring {} bytes, file {} bytes)", h.ring_bytes,
                       file_bytes);
  ring_bytes_out = h.ring_bytes;
  return {};
}

// Checks what an existing segment claims against what its file really is, mapping nothing
// but its header, read-only. Returns "" if usable. Throws std::system_error (EACCES) for a
// segment of another user: neither moved aside nor used.
std::string check_existing(const bip::shared_memory_object& obj, std::size_t& ring_bytes_out) {
  struct stat st {};
  if (::fstat(native_fd(obj), &st) != 0)
    return fmt::format("fstat failed: {}", std::generic_category().message(errno));
  if (st.st_uid != ::geteuid())
    fail(EACCES, fmt::format("shared segment is owned by uid {}, not by us (uid {}): refusing "
                             "to use it; remove {} or run as its owner",
                             st.st_uid, ::geteuid(), shown(obj)));
  const auto file_bytes = static_cast<std::size_t>(st.st_size);
  if (file_bytes < shm::kRingOffset + shm::kMinRingBytes)
    return fmt::format("size {} is too small", file_bytes);
  try {
    const bip::mapped_region header(obj, bip::read_only, 0, shm::kRingOffset);
    return header_problem(*static_cast<const shm::SegmentHeader*>(header.get_address()),
                          file_bytes, ring_bytes_out);
  } catch (const bip::interprocess_exception& e) {
    return fmt::format("cannot map its header: {}", e.what());
  }
}

// Maps a checked segment read-write. MADV_DONTFORK from the first instant (Boost's advise()
// has no such advice): a fork() child of the host never gets the mapping, so it cannot
// scribble on the ring.
bip::mapped_region map_segment(const bip::shared_memory_object& obj, std::size_t bytes) {
  try {
    bip::mapped_region region(obj, bip::read_write, 0, bytes);
    if (::madvise(region.get_address(), region.get_size(), MADV_DONTFORK) != 0) {
      const int err = errno;
      fail(err, fmt::format("cannot keep shared segment {} out of fork() children", shown(obj)));
    }
    return region;
  } catch (const bip::interprocess_exception& e) {
    fail(native_error(e, EIO), fmt::format("cannot map shared segment {}: {}", shown(obj), e.what()));
  }
}

// Renames an unusable segment aside, next to itself (<file>.bad-<ns>), for inspection; it is
// removed only if it cannot be renamed. Returns the note for the application.
std::string move_aside(const bip::shared_memory_object& obj, const std::string& problem) {
  const std::filesystem::path from = file_of(obj);
  const std::string what = fmt::format("shared segment {} was unusable ({})",
                                       from.empty() ? obj.get_name() : from.string(), problem);
  std::error_code ec;
  if (!from.empty()) {
    // Nanoseconds: two segments moved aside within one second keep distinct names.
    const auto stamp = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
    auto to = from;
    to += fmt::format(".bad-{}", stamp);
    std::filesystem::rename(from, to, ec);
    if (!ec) return fmt::format("{}; moved it to {}", what, to.string());
  }
  bip::shared_memory_object::remove(obj.get_name());
  return fmt::format("{}; removed it, as it could not be moved aside{}", what,
                     ec ? ": " + ec.message() : std::string());
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

std::filesystem::path segment_file(const std::string& name) {
  try {
    const bip::shared_memory_object obj(bip::open_only, name.c_str(), bip::read_only);
    return file_of(obj);
  } catch (const bip::interprocess_exception&) {
    return {};
  }
}

MappedSegment::MappedSegment(std::unique_ptr<Mapping> mapping) noexcept
    : mapping_(std::move(mapping)) {
  auto* base = static_cast<std::byte*>(mapping_->region.get_address());
  segment_ = reinterpret_cast<shm::Segment*>(base);
  ring_ = base + shm::kRingOffset;
  ring_bytes_ = mapping_->region.get_size() - shm::kRingOffset;
}

MappedSegment::MappedSegment(MappedSegment&& o) noexcept
    : mapping_(std::move(o.mapping_)),
      segment_(std::exchange(o.segment_, nullptr)),
      ring_(std::exchange(o.ring_, nullptr)),
      ring_bytes_(std::exchange(o.ring_bytes_, 0)) {}

MappedSegment& MappedSegment::operator=(MappedSegment&& o) noexcept {
  if (this != &o) {
    mapping_ = std::move(o.mapping_);
    segment_ = std::exchange(o.segment_, nullptr);
    ring_ = std::exchange(o.ring_, nullptr);
    ring_bytes_ = std::exchange(o.ring_bytes_, 0);
  }
  return *this;
}

MappedSegment::~MappedSegment() = default;

void MappedSegment::forget() noexcept {
  if (mapping_) mapping_->forgotten = true;
  mapping_.reset();
  segment_ = nullptr;
  ring_ = nullptr;
  ring_bytes_ = 0;
}

MappedSegment MappedSegment::create_or_adopt(const std::string& name, std::size_t ring_bytes,
                                             Origin& origin, std::string& note) {
  ring_bytes = ring_size_for(ring_bytes);
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      const bip::shared_memory_object obj(bip::open_only, name.c_str(), bip::read_write);
      std::size_t existing_ring = 0;
      const std::string problem = check_existing(obj, existing_ring);
      if (problem.empty()) {
        MappedSegment seg(std::make_unique<Mapping>(map_segment(obj, total_bytes(existing_ring))));
        // An older version this library reads is a subset of the current one (see
        // kLayoutVersion): from now on the segment may hold what only the current one allows.
        auto& version = seg.segment().header.layout_version;
        if (version != shm::kLayoutVersion) version = shm::kLayoutVersion;
        origin = Origin::adopted;
        return seg;
      }
      // Never map a segment we cannot trust; keep it for inspection instead of deleting it.
      note = move_aside(obj, problem);
    } catch (const bip::interprocess_exception& e) {
      if (e.get_error_code() != bip::not_found_error)
        fail(native_error(e, EIO),
             fmt::format("cannot open shared segment {}: {}", name, e.what()));
    }
    try {
      // Exclusive (O_EXCL): a segment someone else made in the meantime is never taken over.
      const bip::permissions perm(0600);
      bip::shared_memory_object obj(bip::create_only, name.c_str(), bip::read_write, perm);
      // The mode is 0600 & ~umask now; exactly 0600 whatever the umask (Boost's own fchmod
      // after creating ignores a failure, and not every Boost version makes it).
      ::fchmod(native_fd(obj), 0600);
      obj.truncate(static_cast<bip::offset_t>(total_bytes(ring_bytes)));
      MappedSegment seg(std::make_unique<Mapping>(map_segment(obj, total_bytes(ring_bytes))));
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
        fail(native_error(e, EIO),
             fmt::format("cannot create shared segment {}: {}", name, e.what()));
      // Lost a race with another creator: adopt on the next turn.
    }
  }
  fail(EAGAIN, fmt::format("shared segment {} keeps changing under us", name));
}

MappedSegment MappedSegment::open_existing(const std::string& name) {
  try {
    const bip::shared_memory_object obj(bip::open_only, name.c_str(), bip::read_write);
    std::size_t ring_bytes = 0;
    const std::string problem = check_existing(obj, ring_bytes);
    if (!problem.empty())
      fail(EINVAL, fmt::format("shared segment {} is unusable: {}", shown(obj), problem));
    return MappedSegment(std::make_unique<Mapping>(map_segment(obj, total_bytes(ring_bytes))));
  } catch (const bip::interprocess_exception& e) {
    fail(native_error(e, ENOENT),
         fmt::format("cannot open shared segment {}: {}", name, e.what()));
  }
}

struct SegmentView::Mapping {
  bip::mapped_region region;
};

SegmentView SegmentView::open(const std::string& name) {
  try {
    const bip::shared_memory_object obj(bip::open_only, name.c_str(), bip::read_only);
    std::size_t ring_bytes = 0;
    const std::string problem = check_existing(obj, ring_bytes);
    if (!problem.empty())
      fail(EPROTO, fmt::format("shared segment {} is unusable: {}", shown(obj), problem));
    SegmentView view;
    view.mapping_ = std::make_shared<Mapping>(
        Mapping{bip::mapped_region(obj, bip::read_only, 0, shm::kRingOffset)});
    view.file_ = shown(obj);
    return view;
  } catch (const bip::interprocess_exception& e) {
    fail(native_error(e, ENOENT), fmt::format("cannot open shared segment {}: {}", name, e.what()));
  }
}

const shm::Segment& SegmentView::segment() const noexcept {
  return *static_cast<const shm::Segment*>(mapping_->region.get_address());
}

void MappedSegment::unlink(const std::string& name) noexcept {
  bip::shared_memory_object::remove(name.c_str());
}

}  // namespace robustmq
