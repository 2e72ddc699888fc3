// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4 and leveldb.
// Check value: crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

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

// True when a CPU instruction is used (SSE4.2 on x86-64, ARMv8 CRC32 on ARM), chosen at run
// time; for tests and the stats tool.
bool hardware_accelerated() noexcept;

// The implementation in use: "sse4.2", "armv8-crc32" or "portable".
std::string_view implementation() noexcept;
// The one this build would use on this CPU, asked of the CPU anew (cpuid, the kernel's HWCAP
// bits): tests check that the choice made at start-up is it.
std::string_view expected_implementation() noexcept;

}  // namespace robustmq::cache::crc32c
