#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "worker/cache/crc32c.hpp"

using namespace robustmq::cache;

TEST_CASE("crc32c matches the published check values") {
  CHECK(crc32c::value("123456789", 9) == 0xE3069283u);
  const std::string zeros(32, '\0'), ones(32, '\xff');
  CHECK(crc32c::value(zeros.data(), 32) == 0x8A9136AAu);  // RFC 3720 B.4
  CHECK(crc32c::value(ones.data(), 32) == 0x62A8AB43u);
  CHECK(crc32c::extend(crc32c::value("1234", 4), "56789", 5) == 0xE3069283u);
}

TEST_CASE("crc32c gives the same result with the CPU's instructions as without") {
  // Random data at every alignment of the start (the instructions take 8 or 4 bytes a step and
  // a byte at a time for the rest), every length to a few hundred bytes and some long ones,
  // random initial values.
  std::mt19937 rng(20260101);
  std::vector<unsigned char> data(70000 + 16);
  for (auto& b : data) b = static_cast<unsigned char>(rng());
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 300; ++n) lengths.push_back(n);
  for (std::size_t n : {511u, 1024u, 4093u, 4096u, 65536u, 65537u, 70000u}) lengths.push_back(n);
  for (std::size_t offset = 0; offset < 16; ++offset)
    for (std::size_t n : lengths) {
      const std::uint32_t seed = static_cast<std::uint32_t>(rng());
      CAPTURE(offset);
      CAPTURE(n);
      REQUIRE(crc32c::extend(seed, data.data() + offset, n) ==
              crc32c::extend_software(seed, data.data() + offset, n));
    }
  MESSAGE("crc32c implementation: " << crc32c::implementation());
}

TEST_CASE("crc32c uses the CPU's instructions where the CPU has them") {
  // The choice made at start-up is the one the CPU offers now (cpuid, the kernel's HWCAP bits).
  CHECK(crc32c::implementation() == crc32c::expected_implementation());
  CHECK(crc32c::hardware_accelerated() == (crc32c::implementation() != "portable"));
  // A run that knows its CPU says which path must run (scripts/arm-test.sh under qemu, whose
  // CPU has the ARMv8 CRC32 instructions): a build or a kernel that hid them fails here.
  if (const char* want = std::getenv("ROBUSTMQ_EXPECT_CRC32C")) {
    CHECK(crc32c::implementation() == std::string_view(want));
  }
  MESSAGE("crc32c implementation: " << crc32c::implementation());
}

TEST_CASE("a masked crc unmasks to itself and differs from it") {
  for (std::uint32_t v : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu}) {
    CHECK(crc32c::unmask(crc32c::mask(v)) == v);
    CHECK(crc32c::mask(v) != v);
  }
}
