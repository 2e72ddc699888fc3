// Rules of proto/large_message.hpp: the reference format, the MQTT limit, the file lifecycle.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "proto/large_message.hpp"

namespace fs = std::filesystem;
using namespace robustmq;

namespace {

struct Dir {
  Dir() {
    char tmpl[] = "/tmp/robustmq-large-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

}  // namespace

TEST_CASE("a reference decodes to what was encoded") {
  large::Reference r{209'715'200, "1795736567185391005-3595-7.msg"};
  const auto back = large::decode(large::encode(r));
  REQUIRE(back);
  CHECK(back->size == r.size);
  CHECK(back->name == r.name);
}

TEST_CASE("a reference naming anything outside large/ or not a .msg file is damage") {
  auto with_name = [](std::string name) {
    return large::decode(large::encode({1, std::move(name)}));
  };
  CHECK_FALSE(with_name("../cache.sqlite3"));
  CHECK_FALSE(with_name("a/b.msg"));
  CHECK_FALSE(with_name("x.tmp"));
  CHECK_FALSE(with_name(".msg"));
  CHECK_FALSE(with_name(std::string(large::kMaxNameBytes, 'a') + ".msg"));
  CHECK_FALSE(large::decode("short"));
  CHECK(with_name("1-2-3.msg"));
}

TEST_CASE("a reference of a size no MQTT message can carry is damage") {
  // Such a size can only come from damage, and on 32-bit ARM one past 4 GiB would be cut to
  // size_t where the worker maps the file: a file of that size would go out truncated.
  auto with_size = [](std::uint64_t size) {
    return large::decode(large::encode({size, "1-2-3.msg"}));
  };
  CHECK(with_size(large::kMqttMaxRemainingLength));
  CHECK_FALSE(with_size(large::kMqttMaxRemainingLength + 1));
  CHECK_FALSE(with_size((std::uint64_t{1} << 32) + 100));
  CHECK_FALSE(with_size(~std::uint64_t{0}));
}

TEST_CASE("the MQTT limit leaves room for the topic, its length and the packet id") {
  CHECK(large::max_mqtt_payload(10, 0) == 268'435'455 - 14);
  CHECK(large::max_mqtt_payload(10, 20) == 268'435'455 - 34);
  CHECK(large::max_mqtt_payload(300'000'000, 0) == 0);
}

TEST_CASE("write_file leaves one complete 0600 .msg file and no temporary file") {
  Dir d;
  large::prepare_dir(d.path);
  std::error_code ec;
  std::string what;
  const std::string payload(100'000, 'p');
  const auto r = large::write_file(d.path, payload, 42, true, ec, what);
  REQUIRE_MESSAGE(r, what);
  CHECK(r->size == payload.size());
  const auto file = large::dir_of(d.path) / r->name;
  CHECK(fs::file_size(file) == payload.size());
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(large::dir_of(d.path).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(large::dir_of(d.path))) {
    ++files;
    CHECK(e.path().extension() == ".msg");
  }
  CHECK(files == 1);
  CHECK_FALSE(large::remove_file(d.path, *r));
  CHECK_FALSE(fs::exists(file));
  CHECK_FALSE(large::remove_file(d.path, *r));  // already gone: not an error
}

TEST_CASE("prepare_dir deletes half-written temporary files and keeps complete ones") {
  Dir d;
  large::prepare_dir(d.path);
  const auto dir = large::dir_of(d.path);
  std::ofstream(dir / "1-2-3.tmp") << "half";
  std::ofstream(dir / "1-2-4.msg") << "whole";
  CHECK(large::prepare_dir(d.path) == 1);
  CHECK_FALSE(fs::exists(dir / "1-2-3.tmp"));
  CHECK(fs::exists(dir / "1-2-4.msg"));
}

TEST_CASE("write_file into a directory that cannot be written reports the file and leaves nothing") {
  Dir d;
  std::error_code ec;
  std::string what;
  // No large/ directory: creating the temporary file fails.
  const auto r = large::write_file(d.path, "x", 1, false, ec, what);
  CHECK_FALSE(r);
  CHECK(ec);
  CHECK(what.find("large") != std::string::npos);
}
