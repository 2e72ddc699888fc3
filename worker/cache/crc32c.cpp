// Two implementations with identical results: slicing-by-8 tables (portable), and the SSE4.2
// crc32 instruction on x86-64 when the CPU has it (checked once at run time, so the same binary
// runs on an old Atom and a new Xeon). test/cache checks both against known vectors.
#include "worker/cache/crc32c.hpp"

#include <array>
#include <cstring>

namespace robustmq::cache::crc32c {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;

struct Tables {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  constexpr Tables() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i)
      for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
};
constexpr Tables kTables;

std::uint32_t extend_portable(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  const auto& t = kTables.t;
  std::uint32_t c = ~crc;
  while (n >= 8) {
    std::uint32_t lo, hi;
    std::memcpy(&lo, p, 4);  // little-endian hosts only; static_assert'ed in file_log_format.hpp
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ROBUSTMQ_CRC32C_SSE42 1
__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc,
                                                              const unsigned char* p,
                                                              std::size_t n) noexcept {
  std::uint64_t c = ~crc;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return ~c32;
}
#endif

using ExtendFn = std::uint32_t (*)(std::uint32_t, const unsigned char*, std::size_t) noexcept;

ExtendFn choose() noexcept {
#ifdef ROBUSTMQ_CRC32C_SSE42
  __builtin_cpu_init();  // we may run from a static initializer, before libgcc's own
  if (__builtin_cpu_supports("sse4.2")) return extend_sse42;
#endif
  return extend_portable;
}

const ExtendFn kExtend = choose();

}  // namespace

std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return kExtend(crc, static_cast<const unsigned char*>(data), n);
}

bool hardware_accelerated() noexcept { return kExtend != extend_portable; }

// Exposed for the test that checks both paths agree.
std::uint32_t extend_software(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return extend_portable(crc, static_cast<const unsigned char*>(data), n);
}

}  // namespace robustmq::cache::crc32c
