// Options::session_expiry in the worker's configuration (proto/worker_config.hpp): unset, 0 and
// "never" each arrive as such, a configuration without the key (an older client) means unset,
// and the decoder refuses what MQTT 5 cannot carry.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>

#include "proto/worker_config.hpp"
#include "proto/worker_config_fields.hpp"

using namespace robustmq;
using std::chrono::seconds;

namespace {

// What the worker reads for these Options.
std::optional<WorkerConfig> through(const Options& o, std::string& error) {
  WorkerConfig c = worker_config(o);
  c.segment_name = "robustmq-session";
  c.cache_dir = "/tmp/cache";
  return decode_worker_config(encode(c), error);
}

// `c` encoded with the value of session_expiry_s replaced by `value`, or without it.
std::string with_expiry(WorkerConfig c, std::optional<std::string> value) {
  c.segment_name = "robustmq-session";
  c.cache_dir = "/tmp/cache";
  const std::string blob = encode(c);
  const std::string key = "session_expiry_s";
  // The entry: u16 key length, key, u32 value length, value; it is the last one.
  const auto at = blob.find(key) - 2;
  std::string out = blob.substr(0, at);
  if (value) {
    out += std::string{static_cast<char>(key.size()), '\0'} + key;
    const auto n = static_cast<std::uint32_t>(value->size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += *value;
  }
  const auto total = static_cast<std::uint32_t>(out.size());
  out.replace(4, 4, reinterpret_cast<const char*>(&total), 4);
  return out;
}

}  // namespace

TEST_CASE("Options::session_expiry reaches the worker: unset as -1, 0, an hour, never") {
  Options o;
  o.client_id = "c";
  std::string error;
  const std::pair<std::optional<seconds>, seconds> cases[] = {
      {std::nullopt, seconds(-1)},
      {seconds(0), seconds(0)},
      {seconds(3600), seconds(3600)},
      {kSessionNeverExpires, seconds(4294967295)},
  };
  for (const auto& [given, arrives] : cases) {
    o.session_expiry = given;
    const auto got = through(o, error);
    REQUIRE_MESSAGE(got.has_value(), error);
    CHECK(got->session_expiry == arrives);
    CHECK_FALSE(range_error(worker_config(o), FieldNames::options).has_value());
  }
}

TEST_CASE("a configuration without session_expiry_s (an older client) leaves it unset; the "
          "decoder refuses values MQTT 5 cannot carry") {
  WorkerConfig c;
  c.client_id = "c";
  c.host = "broker";
  c.session_expiry = seconds(60);
  std::string error;
  const auto older = decode_worker_config(with_expiry(c, std::nullopt), error);
  REQUIRE_MESSAGE(older.has_value(), error);
  CHECK(older->session_expiry == seconds(-1));
  const auto never = decode_worker_config(with_expiry(c, "4294967295"), error);
  REQUIRE_MESSAGE(never.has_value(), error);
  CHECK(never->session_expiry == kSessionNeverExpires);
  for (const char* bad : {"4294967296", "-2", "1h"}) {
    CAPTURE(bad);
    CHECK_FALSE(decode_worker_config(with_expiry(c, std::string(bad)), error).has_value());
    CHECK(error.find("session_expiry_s") != std::string::npos);
  }
}
