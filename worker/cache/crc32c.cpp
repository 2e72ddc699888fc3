// Implementations with identical results: slicing-by-8 tables (portable), the SSE4.2 crc32
// instruction on x86-64 and the ARMv8 CRC32 instructions (crc32cx/crc32cw, crc32cb) on aarch64 and
// 32-bit ARM, each when the CPU has it. The choice is made once at run time, so the same binary
// runs on an old Atom and a new Xeon, or on a Cortex-A7 (ARMv7, no CRC32) and a Cortex-A53; only
// the accelerated function is compiled for the newer instruction set, the rest of the file stays
// at the toolchain's baseline. test/cache checks each path against known vectors and the portable
// one.
#include "worker/cache/crc32c.hpp"

#include <array>
#include <cstring>

#if (defined(__aarch64__) || defined(__arm__)) && defined(__GNUC__)
#include <sys/auxv.h>  // getauxval: the kernel's HWCAP bits, set only for what the CPU has
#endif
#if defined(__aarch64__) && defined(__GNUC__)
#include <arm_acle.h>
#endif

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

#if defined(__aarch64__) && defined(__GNUC__)
#define ROBUSTMQ_CRC32C_ARMV8 1
// GCC's <arm_acle.h> declares the CRC32 intrinsics whatever the baseline; Clang's only for a
// CRC32 baseline, but its builtins are always there. The target attribute lets this function,
// and only it, use them.
#ifdef __clang__
#define ROBUSTMQ_CRC32C_A64_TARGET "crc"
#define ROBUSTMQ_CRC32CD __builtin_arm_crc32cd
#define ROBUSTMQ_CRC32CB __builtin_arm_crc32cb
#else
#define ROBUSTMQ_CRC32C_A64_TARGET "+crc"
#define ROBUSTMQ_CRC32CD __crc32cd
#define ROBUSTMQ_CRC32CB __crc32cb
#endif
__attribute__((target(ROBUSTMQ_CRC32C_A64_TARGET))) std::uint32_t extend_armv8(
    std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  std::uint32_t c = ~crc;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = ROBUSTMQ_CRC32CD(c, v);
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = ROBUSTMQ_CRC32CB(c, *p++);
  return ~c;
}
bool cpu_has_armv8_crc32() noexcept { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }
#elif defined(__arm__) && defined(__GNUC__)
#define ROBUSTMQ_CRC32C_ARMV8 1
// 32-bit ARM (an ARMv7 build running on an ARMv8 core in AArch32): 4 bytes a step. GCC's
// <arm_acle.h> declares the intrinsics here only when the baseline has CRC32 (ARMv8), so the
// instructions are written out; the target attribute lets the assembler accept them.
// A hard-float build keeps an FPU in the target (as <arm_acle.h> itself does): ARMv8 cores
// with CRC32 have FP and SIMD, and the function's calling convention must stay the file's.
#ifdef __clang__
#define ROBUSTMQ_CRC32C_ARM_TARGET "armv8-a,crc"
#elif defined(__ARM_FP)
#define ROBUSTMQ_CRC32C_ARM_TARGET "arch=armv8-a+crc+simd"
#else
#define ROBUSTMQ_CRC32C_ARM_TARGET "arch=armv8-a+crc"
#endif
__attribute__((target(ROBUSTMQ_CRC32C_ARM_TARGET))) std::uint32_t extend_armv8(
    std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  std::uint32_t c = ~crc;
  while (n >= 4) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    __asm__("crc32cw %0, %0, %1" : "+r"(c) : "r"(v));
    p += 4;
    n -= 4;
  }
  while (n-- > 0) __asm__("crc32cb %0, %0, %1" : "+r"(c) : "r"(static_cast<std::uint32_t>(*p++)));
  return ~c;
}
// <asm/hwcap.h> of 32-bit ARM; not in <sys/auxv.h> of every libc.
#ifndef HWCAP2_CRC32
#define HWCAP2_CRC32 (1 << 4)
#endif
bool cpu_has_armv8_crc32() noexcept { return (getauxval(AT_HWCAP2) & HWCAP2_CRC32) != 0; }
#endif

using ExtendFn = std::uint32_t (*)(std::uint32_t, const unsigned char*, std::size_t) noexcept;

ExtendFn choose() noexcept {
#ifdef ROBUSTMQ_CRC32C_SSE42
  __builtin_cpu_init();  // we may run from a static initializer, before libgcc's own
  if (__builtin_cpu_supports("sse4.2")) return extend_sse42;
#endif
#ifdef ROBUSTMQ_CRC32C_ARMV8
  if (cpu_has_armv8_crc32()) return extend_armv8;
#endif
  return extend_portable;
}

const ExtendFn kExtend = choose();

}  // namespace

std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return kExtend(crc, static_cast<const unsigned char*>(data), n);
}

bool hardware_accelerated() noexcept { return kExtend != extend_portable; }

std::string_view implementation() noexcept {
#ifdef ROBUSTMQ_CRC32C_SSE42
  if (kExtend == extend_sse42) return "sse4.2";
#endif
#ifdef ROBUSTMQ_CRC32C_ARMV8
  if (kExtend == extend_armv8) return "armv8-crc32";
#endif
  return "portable";
}

std::string_view expected_implementation() noexcept {
#if defined(ROBUSTMQ_CRC32C_SSE42)
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") ? "sse4.2" : "portable";
#elif defined(ROBUSTMQ_CRC32C_ARMV8)
  return cpu_has_armv8_crc32() ? "armv8-crc32" : "portable";
#else
  return "portable";
#endif
}

// Exposed for the test that checks both paths agree.
std::uint32_t extend_software(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return extend_portable(crc, static_cast<const unsigned char*>(data), n);
}

}  // namespace robustmq::cache::crc32c
