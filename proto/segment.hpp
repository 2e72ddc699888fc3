// Creating, adopting and mapping the shared segment (layout in segment_layout.hpp), through
// Boost.Interprocess: shared_memory_object opens, creates and removes it, mapped_region maps it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "proto/segment_layout.hpp"

namespace robustmq {

// "robustmq-<16 hex digits>": a hash of the canonical cache directory and the client id, so a
// restarted application finds the segment its predecessor left.
std::string segment_name(const std::filesystem::path& canonical_cache_dir,
                         std::string_view client_id);

// Rounds up to a power of two within [kMinRingBytes, kMaxRingBytes].
std::size_t ring_size_for(std::size_t requested) noexcept;

// The file behind the shared memory object `name` (/dev/shm/<name> on Linux), found as
// MappedSegment finds it to rename an unusable segment aside; empty if it cannot be opened.
std::filesystem::path segment_file(const std::string& name);

class MappedSegment {
 public:
  enum class Origin { created, adopted };

  // Client side. Creates the segment (exclusively, mode 0600 whatever the umask) or adopts an
  // existing one left by dead owners; the caller holds the cache directory lock, so no live
  // client uses it. A segment with a wrong magic, layout version or size is renamed aside
  // (<file>.bad-<ns>, next to it) and a fresh one is created; one owned by another user is
  // refused (std::system_error, EACCES). An adopted segment of an older layout version that
  // this library still reads (shm::kOldestLayoutVersion) is marked with the current one.
  static MappedSegment create_or_adopt(const std::string& name, std::size_t ring_bytes,
                                       Origin& origin, std::string& note);
  // Worker side: maps an existing, valid segment or throws std::system_error.
  static MappedSegment open_existing(const std::string& name);
  // Removes the name; the mapping stays valid until destruction.
  static void unlink(const std::string& name) noexcept;

  MappedSegment(MappedSegment&&) noexcept;
  MappedSegment& operator=(MappedSegment&&) noexcept;
  ~MappedSegment();

  // Drops the mapping without unmapping it: in a fork() child the range was never inherited
  // (every mapping is MADV_DONTFORK from its first instant) and may hold something else.
  void forget() noexcept;

  shm::Segment& segment() const noexcept { return *segment_; }
  std::byte* ring() const noexcept { return ring_; }
  std::size_t ring_bytes() const noexcept { return ring_bytes_; }

 private:
  struct Mapping;  // the Boost.Interprocess mapping (segment.cpp)
  explicit MappedSegment(std::unique_ptr<Mapping> mapping) noexcept;
  std::unique_ptr<Mapping> mapping_;
  shm::Segment* segment_ = nullptr;
  std::byte* ring_ = nullptr;
  std::size_t ring_bytes_ = 0;
};

// Another process's look at a segment: its control and status lines, mapped read-only (never the
// ring), for robustmq-stat. Throws std::system_error: ENOENT (no such segment: no client or
// orphan runs), EACCES (another user's), EPROTO (not a segment this library reads).
class SegmentView {
 public:
  static SegmentView open(const std::string& name);
  const shm::Segment& segment() const noexcept;
  const std::string& file() const noexcept { return file_; }  // /dev/shm/<name>

 private:
  struct Mapping;
  SegmentView() = default;
  std::shared_ptr<Mapping> mapping_;
  std::string file_;
};

}  // namespace robustmq
