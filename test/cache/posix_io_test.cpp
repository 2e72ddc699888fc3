// The cache's file helpers with offsets past 4 GiB: a SQLite database or a file log that grows
// that large is read and written where the offset says, on 32-bit ARM too (where off_t is 32
// bits unless the build asks for 64: meson.build's _FILE_OFFSET_BITS).
#include <fcntl.h>

#include <array>
#include <cstdint>

#include "cache_fixture.hpp"
#include "worker/cache/posix_io.hpp"

using namespace robustmq::cache;
using namespace robustmq::cache::test;

TEST_CASE("bytes written past 4 GiB are read back at that offset") {
  TempDir dir;
  const fs::path path = dir.path() / "sparse";
  io::Fd fd = io::open_file(path, O_RDWR | O_CREAT | O_EXCL);
  // 4 GiB and 8 bytes (a hole in between): an offset cut to 32 bits is 8.
  constexpr std::uint64_t kFar = (std::uint64_t{1} << 32) + 8;
  const std::array<char, 4> far{'f', 'a', 'r', '!'}, zeros{};
  io::pwrite_all(fd.get(), "near", 4, 0, path);
  io::pwrite_all(fd.get(), far.data(), far.size(), kFar, path);
  CHECK(io::file_size(fd.get(), path) == kFar + far.size());
  std::array<char, 4> out{};
  REQUIRE(io::pread_some(fd.get(), out.data(), out.size(), kFar, path) == out.size());
  CHECK(out == far);
  REQUIRE(io::pread_some(fd.get(), out.data(), out.size(), 8, path) == out.size());
  CHECK(out == zeros);  // the hole
}
