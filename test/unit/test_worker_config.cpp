// Rules of the start-up configuration the client sends its worker (proto/worker_config.hpp).
// The worker must treat the blob as untrusted: anything malformed is refused with an error and
// never read out of bounds (run under ASan: blobs are copied to exact-size heap buffers).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "printers.hpp"
#include "proto/worker_config.hpp"

using namespace robustmq;
using namespace std::string_literals;

namespace {

WorkerConfig full_config() {
  WorkerConfig c;
  c.segment_name = "robustmq-0123456789abcdef";
  c.client_id = "edge-7/\xE2\x82\xAC";
  c.host = "broker.example.net";
  c.port = 8883;
  c.cache_dir = "/var/lib/robust mq/cache";
  c.cache_type = "file";
  c.durability = "journal";
  c.cache_timeout_ms = std::numeric_limits<std::int64_t>::max();
  c.queue_cache_threshold = 12345;
  c.keepalive_s = 0;
  c.connect_timeout_s = 42;
  c.reconnect_min_ms = 1;
  c.reconnect_max_ms = 600'000;
  c.max_inflight = 65535;
  c.username = "user=name; with spaces";
  c.password = "pa\0ss\nword\r\n\"quoted\"\xC3\xA9\0"s;
  return c;
}

void check_same(const WorkerConfig& a, const WorkerConfig& b) {
  CHECK(a.segment_name == b.segment_name);
  CHECK(a.client_id == b.client_id);
  CHECK(a.host == b.host);
  CHECK(a.port == b.port);
  CHECK(a.cache_dir == b.cache_dir);
  CHECK(a.cache_type == b.cache_type);
  CHECK(a.durability == b.durability);
  CHECK(a.cache_timeout_ms == b.cache_timeout_ms);
  CHECK(a.queue_cache_threshold == b.queue_cache_threshold);
  CHECK(a.keepalive_s == b.keepalive_s);
  CHECK(a.connect_timeout_s == b.connect_timeout_s);
  CHECK(a.reconnect_min_ms == b.reconnect_min_ms);
  CHECK(a.reconnect_max_ms == b.reconnect_max_ms);
  CHECK(a.max_inflight == b.max_inflight);
  CHECK(a.username == b.username);
  CHECK(a.password == b.password);
}

// Decodes from a heap buffer of exactly blob.size() bytes, so ASan sees any read past its end.
std::optional<WorkerConfig> decode_exact(std::string_view blob, std::string& error) {
  std::unique_ptr<char[]> copy(new char[blob.size() == 0 ? 1 : blob.size()]);
  if (!blob.empty()) std::memcpy(copy.get(), blob.data(), blob.size());
  return decode_worker_config(std::string_view(copy.get(), blob.size()), error);
}

std::uint32_t get_u32(std::string_view s, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}
void set_u32(std::string& s, std::size_t at, std::uint32_t v) { std::memcpy(&s[at], &v, 4); }
void set_u16(std::string& s, std::size_t at, std::uint16_t v) { std::memcpy(&s[at], &v, 2); }

void fix_total(std::string& blob) { set_u32(blob, 4, static_cast<std::uint32_t>(blob.size())); }

std::string entry(std::string_view key, std::string_view value) {
  std::string out(2, '\0');
  set_u16(out, 0, static_cast<std::uint16_t>(key.size()));
  out += key;
  std::string len(4, '\0');
  set_u32(len, 0, static_cast<std::uint32_t>(value.size()));
  return out + len + std::string(value);
}

struct Entry {
  std::size_t begin, value_begin, end;  // offsets in the blob
  std::string key;
};

// Walks a well-formed blob as the header describes it (magic, u32 total, then entries of
// u16 key length, key, u32 value length, value).
std::vector<Entry> entries(std::string_view blob) {
  std::vector<Entry> out;
  std::size_t at = 8;
  while (at < blob.size()) {
    Entry e;
    e.begin = at;
    std::uint16_t klen;
    std::memcpy(&klen, blob.data() + at, 2);
    e.key = std::string(blob.substr(at + 2, klen));
    e.value_begin = at + 2 + klen + 4;
    e.end = e.value_begin + get_u32(blob, at + 2 + klen);
    out.push_back(e);
    at = e.end;
  }
  return out;
}

// The blob of `c` with `key`'s value replaced, total_bytes fixed up.
std::string with_value(const WorkerConfig& c, std::string_view key, std::string_view value) {
  std::string blob = encode(c);
  for (const auto& e : entries(blob)) {
    if (e.key != key) continue;
    blob = blob.substr(0, e.begin) + entry(key, value) + blob.substr(e.end);
    fix_total(blob);
    return blob;
  }
  FAIL("the encoding has no key '", std::string(key), "'");
  return {};
}

// The blob of `c` without `key`'s entry.
std::string without(const WorkerConfig& c, std::string_view key) {
  std::string blob = encode(c);
  for (const auto& e : entries(blob)) {
    if (e.key != key) continue;
    blob = blob.substr(0, e.begin) + blob.substr(e.end);
    fix_total(blob);
    return blob;
  }
  FAIL("the encoding has no key '", std::string(key), "'");
  return {};
}

}  // namespace

TEST_CASE("a configuration survives encode and decode with every field") {
  const WorkerConfig sent = full_config();
  const std::string blob = encode(sent);
  CHECK(get_u32(blob, 0) == kConfigMagic);
  CHECK(blob.substr(0, 4) == "RMQC");
  CHECK(get_u32(blob, 4) == blob.size());
  std::string error;
  const auto got = decode_exact(blob, error);
  REQUIRE_MESSAGE(got.has_value(), error);
  check_same(*got, sent);
  CHECK(got->password.size() == sent.password.size());
}

TEST_CASE("the defaults survive encode and decode") {
  WorkerConfig sent;  // only what decode insists on is set
  sent.segment_name = "robustmq-fedcba9876543210";
  sent.client_id = "c";
  sent.cache_dir = "/tmp";
  sent.cache_type = "sqlite";
  sent.durability = "on_trouble";
  std::string error;
  const auto got = decode_exact(encode(sent), error);
  REQUIRE_MESSAGE(got.has_value(), error);
  check_same(*got, sent);
}

TEST_CASE("unknown keys are ignored") {
  const WorkerConfig sent = full_config();
  const std::string blob = encode(sent);
  for (const std::string& extra :
       {entry("future_option", "42"), entry("", ""), entry("x", std::string(1000, '\0'))}) {
    for (const bool at_front : {false, true}) {
      CAPTURE(at_front);
      std::string changed = at_front ? blob.substr(0, 8) + extra + blob.substr(8) : blob + extra;
      fix_total(changed);
      std::string error;
      const auto got = decode_exact(changed, error);
      REQUIRE_MESSAGE(got.has_value(), error);
      check_same(*got, sent);
    }
  }
}

TEST_CASE("a blob cut short at any byte is refused") {
  const std::string blob = encode(full_config());
  for (std::size_t cut = 0; cut < blob.size(); ++cut) {
    CAPTURE(cut);
    std::string error;
    CHECK_FALSE(decode_exact(std::string_view(blob).substr(0, cut), error).has_value());
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("a blob cut inside an entry is refused even when its length field agrees") {
  // Unlike the test above, total_bytes is fixed up, so the entry parser itself must notice.
  const std::string blob = encode(full_config());
  const auto list = entries(blob);
  REQUIRE(list.size() >= 16);
  REQUIRE(list.back().end == blob.size());
  std::size_t refused = 0;
  for (const auto& e : list) {
    for (std::size_t cut = e.begin + 1; cut < e.end; ++cut) {
      CAPTURE(e.key);
      CAPTURE(cut);
      std::string changed = blob.substr(0, cut);
      fix_total(changed);
      std::string error;
      CHECK_FALSE(decode_exact(changed, error).has_value());
      CHECK_FALSE(error.empty());
      ++refused;
    }
  }
  CHECK(refused > blob.size() / 2);
}

TEST_CASE("a malformed blob is refused with an error") {
  const WorkerConfig c = full_config();
  const std::string good = encode(c);
  const auto first = entries(good).front();
  struct Row {
    const char* rule;
    std::string blob;
  };
  std::vector<Row> table;
  auto add = [&](const char* rule, std::string blob) { table.push_back({rule, std::move(blob)}); };
  auto patched = [&](auto f) {
    std::string b = good;
    f(b);
    return b;
  };

  add("an empty blob", "");
  add("only the magic", "RMQC");
  add("a header without entries is missing the required keys", patched([](std::string& b) {
        b.resize(8);
        fix_total(b);
      }));
  add("a wrong magic", patched([](std::string& b) { b[0] = 'X'; }));
  add("the magic in the other byte order", patched([](std::string& b) { b.replace(0, 4, "CQMR"); }));
  add("total_bytes one more than the blob", patched([](std::string& b) { set_u32(b, 4, b.size() + 1); }));
  add("total_bytes one less than the blob", patched([](std::string& b) { set_u32(b, 4, b.size() - 1); }));
  add("total_bytes zero", patched([](std::string& b) { set_u32(b, 4, 0); }));
  add("total_bytes 2^32-1", patched([](std::string& b) { set_u32(b, 4, 0xFFFF'FFFFu); }));
  add("a key length beyond the blob", patched([&](std::string& b) { set_u16(b, first.begin, 0xFFFF); }));
  add("a value length beyond the blob",
      patched([&](std::string& b) { set_u32(b, first.value_begin - 4, b.size()); }));
  add("a value length of 2^32-1",
      patched([&](std::string& b) { set_u32(b, first.value_begin - 4, 0xFFFF'FFFFu); }));
  add("a trailing byte that cannot hold an entry", patched([](std::string& b) {
        b += 'x';
        fix_total(b);
      }));
  {
    std::string oversized = good + entry("padding", std::string(kMaxConfigBytes, 'p'));
    fix_total(oversized);
    add("a blob over kMaxConfigBytes", std::move(oversized));
  }
  add("a port that is not a number", with_value(c, "port", "88a3"));
  add("an empty number", with_value(c, "port", ""));
  add("a number with a sign", with_value(c, "port", "+8883"));
  add("a number with a space", with_value(c, "port", " 8883"));
  add("a negative number", with_value(c, "keepalive_s", "-1"));
  add("port 0", with_value(c, "port", "0"));
  add("port 65536", with_value(c, "port", "65536"));
  add("a number of 20 digits", with_value(c, "cache_timeout_ms", "18446744073709552616"));
  add("max_inflight 0", with_value(c, "max_inflight", "0"));
  add("max_inflight 65536", with_value(c, "max_inflight", "65536"));
  add("an unknown cache_type", with_value(c, "cache_type", "pickle"));
  add("an unknown durability", with_value(c, "durability", "sometimes"));
  add("no segment name", without(c, "segment"));
  add("no client id", without(c, "client_id"));
  add("no cache dir", without(c, "cache_dir"));

  for (const auto& row : table) {
    const std::string rule = row.rule;
    INFO(rule);
    std::string error;
    const auto got = decode_exact(row.blob, error);
    CHECK_FALSE(got.has_value());
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("a number too large for its field is refused, not wrapped into range") {
  // 4294968179 = 2^32 + 883: cast to int it becomes a valid-looking port 883.
  const WorkerConfig c = full_config();
  for (const auto& [key, value] :
       {std::pair{"port", "4294968179"}, std::pair{"port", "2147483648"},
        std::pair{"max_inflight", "18446744073709551617"},
        // Past INT64_MAX: must be refused without signed overflow (checked under UBSan).
        std::pair{"cache_timeout_ms", "9223372036854775808"},
        std::pair{"cache_timeout_ms", "9999999999999999999"}}) {
    const std::string key_name = key;
    const std::string value_text = value;
    INFO(key_name, " = ", value_text);
    std::string error;
    const auto got = decode_exact(with_value(c, key, value), error);
    CHECK_FALSE(got.has_value());
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("a blob of exactly kMaxConfigBytes is accepted") {
  // Control for the "over kMaxConfigBytes" row: the limit is the size, not something else.
  const WorkerConfig c = full_config();
  std::string blob = encode(c);
  const std::size_t overhead = blob.size() + 2 + 7 + 4;
  blob += entry("padding", std::string(kMaxConfigBytes - overhead, 'p'));
  fix_total(blob);
  REQUIRE(blob.size() == kMaxConfigBytes);
  std::string error;
  const auto got = decode_exact(blob, error);
  REQUIRE_MESSAGE(got.has_value(), error);
  check_same(*got, c);
}

TEST_CASE("a refused configuration's error never quotes the password") {
  WorkerConfig c = full_config();
  c.password = "hunter2-secret";
  for (const auto& [key, value] : {std::pair{"port", "x"}, std::pair{"cache_type", "?"},
                                   std::pair{"durability", "?"}, std::pair{"max_inflight", "0"}}) {
    const std::string key_name = key;
    INFO(key_name);
    std::string error;
    REQUIRE_FALSE(decode_exact(with_value(c, key, value), error).has_value());
    CHECK(error.find("hunter2") == std::string::npos);
  }
}

TEST_CASE("random damage to a blob never crashes the decoder") {
  const std::string good = encode(full_config());
  std::uint64_t x = 0x243F'6A88'85A3'08D3ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::size_t accepted = 0;
  for (int trial = 0; trial < 20'000; ++trial) {
    std::string blob = good;
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int i = 0; i < flips; ++i) blob[8 + next() % (blob.size() - 8)] = static_cast<char>(next());
    if (next() % 2) fix_total(blob);
    std::string error;
    const auto got = decode_exact(blob, error);
    if (got) ++accepted;
    else CHECK_FALSE(error.empty());
  }
  MESSAGE(accepted, " of 20000 damaged blobs still decoded");
}
