// TempDir: a fresh directory under /tmp that is removed, with everything in it, on destruction.
#pragma once

#include <filesystem>
#include <string>

namespace robustmq::testkit {

class TempDir {
 public:
  // Creates /tmp/<prefix>XXXXXX (mode 0700). Throws std::system_error if mkdtemp fails.
  explicit TempDir(const std::string& prefix = "robustmq-test-");
  ~TempDir();  // removes the tree; errors are ignored (a test must not die in a destructor)
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& rel) const { return path_ / rel; }

  // Leaves the directory on disk (for post-mortem of a failed test); returns its path.
  std::filesystem::path release() noexcept;

 private:
  void remove() noexcept;
  std::filesystem::path path_;
};

}  // namespace robustmq::testkit
