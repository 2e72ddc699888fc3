// Creating, adopting and mapping the shared segment (layout in segment_layout.hpp).
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

class MappedSegment {
 public:
  enum class Origin { created, adopted };

  // Client side. Creates the segment (O_EXCL, mode 0600) or adopts an existing one left by dead
  // owners; the caller holds the cache directory lock, so no live client uses it. A segment with
  // a wrong magic, version or size is renamed aside in /dev/shm and a fresh one is created; one
  // owned by another user is refused (std::system_error, EACCES).
  static MappedSegment create_or_adopt(const std::string& name, std::size_t ring_bytes,
                                       Origin& origin, std::string& note);
  // Worker side: maps an existing, valid segment or throws std::system_error.
  static MappedSegment open_existing(const std::string& name);
  // Removes the name; the mapping stays valid until destruction.
  static void unlink(const std::string& name) noexcept;

  MappedSegment(MappedSegment&&) noexcept;
  MappedSegment& operator=(MappedSegment&&) noexcept;
  ~MappedSegment();

  // Drops the mapping's bookkeeping without unmapping: in a fork() child the range was never
  // inherited (MADV_DONTFORK) and may hold something else.
  void forget() noexcept { base_ = nullptr; }

  shm::Segment& segment() const noexcept { return *segment_; }
  std::byte* ring() const noexcept { return ring_; }
  std::size_t ring_bytes() const noexcept { return ring_bytes_; }

 private:
  MappedSegment(void* base, std::size_t bytes);
  void* base_ = nullptr;
  std::size_t bytes_ = 0;
  shm::Segment* segment_ = nullptr;
  std::byte* ring_ = nullptr;
  std::size_t ring_bytes_ = 0;
};

}  // namespace robustmq
