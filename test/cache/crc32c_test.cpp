#include <string>

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

TEST_CASE("crc32c gives the same result with and without SSE4.2") {
  std::string data(1000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7919 % 256);
  for (std::size_t offset : {0u, 1u, 3u, 7u})
    for (std::size_t n = 0; n + offset <= data.size(); n += 13) {
      CAPTURE(offset);
      CAPTURE(n);
      REQUIRE(crc32c::extend(5, data.data() + offset, n) ==
              crc32c::extend_software(5, data.data() + offset, n));
    }
  MESSAGE("hardware crc32c: " << crc32c::hardware_accelerated());
}

TEST_CASE("a masked crc unmasks to itself and differs from it") {
  for (std::uint32_t v : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu}) {
    CHECK(crc32c::unmask(crc32c::mask(v)) == v);
    CHECK(crc32c::mask(v) != v);
  }
}
