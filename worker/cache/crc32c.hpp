// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4 and leveldb.
// Check value: crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstddef>
#include <cstdint>

namespace robustmq::cache::crc32c {

// Continues a CRC: extend(extend(0, a), b) == value(a ‖ b).
std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n) noexcept;
inline std::uint32_t value(const void* data, std::size_t n) noexcept { return extend(0, data, n); }

// A CRC stored next to the data it covers is masked so that the CRC of a buffer holding CRCs
// (a log inside a log, a record that embeds its own frame) is not degenerate. Same as leveldb.
inline constexpr std::uint32_t kMaskDelta = 0xa282ead8u;
inline constexpr std::uint32_t mask(std::uint32_t crc) noexcept {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}
inline constexpr std::uint32_t unmask(std::uint32_t masked) noexcept {
  std::uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

// The portable table implementation, whatever the CPU; for tests that compare both paths.
std::uint32_t extend_software(std::uint32_t crc, const void* data, std::size_t n) noexcept;

// True when the SSE4.2 instruction is used (runtime check); for tests and the stats tool.
bool hardware_accelerated() noexcept;

}  // namespace robustmq::cache::crc32c
