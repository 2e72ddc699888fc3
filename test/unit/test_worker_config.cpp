// Rules of the start-up configuration the client sends its worker (proto/worker_config.hpp).
// The worker must treat the blob as untrusted: anything malformed is refused with an error and
// never read out of bounds (run under ASan: blobs are copied to exact-size heap buffers).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "printers.hpp"
#include "proto/worker_config.hpp"
#include "proto/worker_config_fields.hpp"

using namespace robustmq;
using namespace std::string_literals;

namespace {

// Every field away from its default (checked below), so a round trip covers each one.
WorkerConfig full_config() {
  WorkerConfig c;
  c.segment_name = "robustmq-0123456789abcdef";
  c.client_id = "edge-7/\xE2\x82\xAC";
  c.host = "broker.example.net";
  c.port = 8883;
  c.cache_dir = "/var/lib/robust mq/cache";
  c.cache_type = CacheBackend::file;
  c.durability = Durability::journal;
  c.cache_timeout = std::chrono::milliseconds::max();
  c.queue_cache_threshold = std::numeric_limits<std::size_t>::max();
  c.keepalive = std::chrono::seconds(0);
  c.connect_timeout = std::chrono::seconds(42);
  c.reconnect_min = std::chrono::milliseconds(1);
  c.reconnect_max = std::chrono::milliseconds(600'000);
  c.max_inflight = 65535;
  c.username = "user=name; with spaces";
  c.password = "pa\0ss\nword\r\n\"quoted\"\xC3\xA9\0"s;
  c.cache_sync = false;
  c.max_cache_bytes = std::numeric_limits<std::uint64_t>::max();
  c.overflow = Overflow::reject_new;
  c.message_ttl = std::chrono::seconds(86'400);
  c.dead_letter_bytes = 0;
  c.mqtt_version = MqttVersion::v5;
  c.clean_session = false;
  c.session_expiry = std::chrono::seconds(3600);
  c.tls = true;
  c.tls_ca_file = "/etc/ssl/ca.pem";
  c.tls_ca_path = "/etc/ssl/certs";
  c.tls_cert_file = "/etc/robustmq/client.pem";
  c.tls_key_file = "/etc/robustmq/client.key";
  c.tls_key_password = "key\0pass"s;
  c.tls_verify = false;
  c.tls_verify_hostname = false;
  c.will_topic = "sensors/edge-7/gone";
  c.will_payload = "\0bye\xFF"s;
  c.will_qos = 2;
  c.will_retain = true;
  c.content_type = "application/json";
  c.user_properties = {{"site", "north"}, {"", ""}, {"k", "v=\xE2\x82\xAC"}};
  c.dedup_producer = "edge-7/\xE2\x82\xAC/0123456789abcdef";
  c.log_level = LogLevel::error;
  c.log_syslog = true;
  c.orphan_linger = std::chrono::milliseconds(60'000);
  c.drain_rate_messages = 2'000;
  c.drain_rate_bytes = 1'000'000;
  c.servers = {"tcp://a:1883", "wss://[::1]:443/mqtt", ""};  // an empty item survives too
  c.http_proxy = "http://u:p@proxy:3128";
  c.https_proxy = "http://proxy:3129";
  c.no_proxy = ".local,10.0.0.1";
  c.tls_alpn = "mqtt,x-amzn-mqtt-ca";
  c.tls_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
  c.password_file = "/run/secrets/mqtt-token";
  c.tls_min_version = "tlsv1.3";
  c.metrics_file = "/run/robustmq/metrics.prom";
  c.metrics_interval = std::chrono::seconds(15);
  return c;
}

// Field by field (naming the key of any that differs), then as a whole: the whole comparison
// also covers a field the table might lack.
void check_same(const WorkerConfig& a, const WorkerConfig& b) {
  for_each_field([&](const auto& field) {
    CHECK_MESSAGE(a.*field.member == b.*field.member, std::string(field.key));
  });
  CHECK(a == b);
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

TEST_CASE("the test configuration sets every field away from its default") {
  // Else the round trip above could not notice a field that encode() or decode drops.
  const WorkerConfig full = full_config();
  const WorkerConfig defaults;
  std::size_t fields = 0;
  for_each_field([&](const auto& field) {
    CHECK_MESSAGE(!(full.*field.member == defaults.*field.member), std::string(field.key));
    ++fields;
  });
  CHECK(fields == entries(encode(full)).size());
}

TEST_CASE("the defaults survive encode and decode") {
  WorkerConfig sent;  // only what decode insists on is set
  sent.segment_name = "robustmq-fedcba9876543210";
  sent.client_id = "c";
  sent.host = "localhost";
  sent.cache_dir = "/tmp";
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
  add("a negative number where no sign is allowed", with_value(c, "max_inflight", "-1"));
  add("a number of 20 digits", with_value(c, "cache_timeout_ms", "18446744073709552616"));
  add("a flag that is not 0 or 1", with_value(c, "tls", "yes"));
  add("user properties with a value not NUL-terminated",
      with_value(c, "user_properties", std::string("k\0v", 3)));
  add("user properties with a name and no value",
      with_value(c, "user_properties", std::string("k\0", 2)));
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

// --- ranges: proto/worker_config_fields.hpp defines them once; the decoder, connect_async()
// (range_error() with FieldNames::options) and the C setters (limits_of()) apply them.

TEST_CASE("every value outside its range is refused, naming the key, the value and the range") {
  const WorkerConfig c = full_config();
  struct Row {
    std::string blob;
    std::string says;  // part of the error
  };
  const Row rows[] = {
      {with_value(c, "port", "0"), "port 0 is outside 1..65535"},
      {with_value(c, "port", "65536"), "port 65536 is outside 1..65535"},
      {with_value(c, "port", "88a3"), "port '88a3' is not a number in 1..65535"},
      {with_value(c, "max_inflight", "0"), "max_inflight 0 is outside 1..65535"},
      {with_value(c, "max_inflight", "65536"), "max_inflight 65536 is outside 1..65535"},
      {with_value(c, "keepalive_s", "65536"), "keepalive_s 65536 s is outside 0..65535 s"},
      {with_value(c, "keepalive_s", "-1"), "keepalive_s -1 s is outside 0..65535 s"},
      {with_value(c, "cache_timeout_ms", "0"),
       "cache_timeout_ms 0 ms is below the minimum of 1 ms"},
      {with_value(c, "connect_timeout_s", "0"),
       "connect_timeout_s 0 s is below the minimum of 1 s"},
      {with_value(c, "reconnect_min_ms", "0"),
       "reconnect_min_ms 0 ms is below the minimum of 1 ms"},
      {with_value(c, "reconnect_max_ms", "0"),
       "reconnect_max_ms 0 ms is below the minimum of 1 ms"},
      {with_value(c, "message_ttl_s", "-1"), "message_ttl_s -1 s is below the minimum of 0 s"},
      {with_value(c, "will_qos", "3"), "will_qos 3 is outside 0..2"},
      {with_value(c, "will_qos", "-1"), "will_qos -1 is outside 0..2"},
      {with_value(c, "client_id", std::string(65536, 'c')),
       "client_id is 65536 bytes long, outside 1..65535 bytes"},
      {with_value(c, "client_id", ""), "client_id is empty"},
      {with_value(c, "host", ""), "host is empty"},
      {without(c, "segment"), "segment is empty"},
      {without(c, "cache_dir"), "cache_dir is empty"},
      {with_value(c, "cache_type", "pickle"), "cache_type 'pickle' is not one of sqlite, file"},
      {with_value(c, "durability", "sometimes"),
       "durability 'sometimes' is not one of on_trouble, journal"},
      {with_value(c, "overflow", "drop_newest"),
       "overflow 'drop_newest' is not one of drop_oldest, reject_new"},
      {with_value(c, "mqtt_version", "3"), "mqtt_version '3' is not one of 4, 5"},
      {with_value(c, "log_level", "verbose"),
       "log_level 'verbose' is not one of debug, info, warning, error"},
      {with_value(c, "clean_session", "2"), "clean_session '2' is not one of 0, 1"},
      {with_value(c, "tls", std::string(100, '1')), "tls (100 bytes) is not one of 0, 1"},
      {with_value(c, "reconnect_min_ms", "600001"),
       "reconnect_max_ms 600000 ms is below reconnect_min_ms 600001 ms"},
  };
  for (const Row& row : rows) {
    INFO(row.says);
    std::string error;
    CHECK_FALSE(decode_exact(row.blob, error).has_value());
    CHECK(error == "configuration: " + row.says);
  }
}

TEST_CASE("each bound of each number is enforced by the decoder and the bound itself accepted") {
  WorkerConfig c = full_config();
  c.reconnect_min = std::chrono::milliseconds(1);  // any reconnect_max is then in order
  std::size_t bounds = 0;
  for_each_field([&](const auto& field) {
    using T = std::remove_cvref_t<decltype(c.*field.member)>;
    if constexpr (std::is_integral_v<T> || std::is_same_v<T, std::chrono::milliseconds> ||
                  std::is_same_v<T, std::chrono::seconds>) {
      if constexpr (!std::is_same_v<T, bool>) {
        const std::string key(field.key);
        const Limits limits = field.limits;
        const auto check_key = [&](std::string value, bool accepted) {
          INFO(key, " = ", value);
          std::string error;
          const auto got = decode_exact(with_value(c, key, value), error);
          CHECK(got.has_value() == accepted);
          if (accepted) return;
          CHECK(error.find(key + " ") != std::string::npos);
          CHECK(error.find(value) != std::string::npos);
        };
        check_key(std::to_string(limits.min), true);
        REQUIRE(limits.min > std::numeric_limits<std::int64_t>::min());
        check_key(std::to_string(limits.min - 1), false);
        if (limits.max != kUnbounded) {
          check_key(std::to_string(limits.max), true);
          check_key(std::to_string(limits.max + 1), false);
        }
        ++bounds;
      }
    }
  });
  CHECK(bounds == 17);
}

TEST_CASE("each enumeration and flag is written by its names and accepts no other") {
  const WorkerConfig c = full_config();
  for_each_field([&](const auto& field) {
    using T = std::remove_cvref_t<decltype(c.*field.member)>;
    if constexpr (Named<T>) {
      const std::string key(field.key);
      const auto names = names_of(std::type_identity<T>{});
      CHECK(field.limits.min == 0);
      CHECK(field.limits.max == names.size() - 1);
      for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string name(names[i]);
        INFO(key, " = ", name);
        std::string error;
        const auto got = decode_exact(with_value(c, key, name), error);
        REQUIRE_MESSAGE(got.has_value(), error);
        CHECK(static_cast<std::size_t>((*got).*field.member) == i);
        WorkerConfig one = c;
        one.*field.member = static_cast<T>(i);
        CHECK(with_value(one, key, name) == encode(one));  // encoded by that name
      }
      std::string error;
      CHECK_FALSE(decode_exact(with_value(c, key, std::string(names[0]) + " "), error));
      CHECK(error.find(key) != std::string::npos);
    }
  });
}

TEST_CASE("worker_config() carries every option to its field") {
  WorkerConfig want = full_config();  // every field away from its default
  want.segment_name.clear();          // connect_async() fills in these three
  want.cache_dir.clear();
  want.dedup_producer.clear();
  Options o;
  o.client_id = want.client_id;
  o.host = want.host;
  o.port = want.port;
  o.cache_type = CacheType::file;
  o.durability = want.durability;
  o.cache_timeout = want.cache_timeout;
  o.queue_cache_threshold = want.queue_cache_threshold;
  o.keepalive = want.keepalive;
  o.connect_timeout = want.connect_timeout;
  o.reconnect_min = want.reconnect_min;
  o.reconnect_max = want.reconnect_max;
  o.max_inflight = want.max_inflight;
  o.username = want.username;
  o.password = want.password;
  o.cache_sync = want.cache_sync;
  o.max_cache_bytes = want.max_cache_bytes;
  o.overflow = OverflowPolicy::reject_new;
  o.message_ttl = want.message_ttl;
  o.dead_letter_bytes = want.dead_letter_bytes;
  o.mqtt_version = want.mqtt_version;
  o.clean_session = want.clean_session;
  o.session_expiry = want.session_expiry;
  o.tls = {want.tls,          want.tls_ca_file,      want.tls_ca_path, want.tls_cert_file,
           want.tls_key_file, want.tls_key_password, want.tls_verify, want.tls_alpn,
           want.tls_ciphers, want.tls_min_version, want.tls_verify_hostname};
  o.servers = want.servers;
  o.http_proxy = want.http_proxy;
  o.https_proxy = want.https_proxy;
  o.no_proxy = want.no_proxy;
  o.password_file = want.password_file;
  o.metrics_file = want.metrics_file;
  o.metrics_interval = want.metrics_interval;
  o.will = {want.will_topic, want.will_payload, want.will_qos, want.will_retain};
  o.content_type = want.content_type;
  o.user_properties = want.user_properties;
  o.log_level = want.log_level;
  o.log_to_syslog = want.log_syslog;
  o.orphan_linger = want.orphan_linger;
  o.drain_rate = {.messages_per_second = want.drain_rate_messages,
                  .bytes_per_second = want.drain_rate_bytes};
  const WorkerConfig got = worker_config(o);
  check_same(got, want);
  CHECK_FALSE(range_error(got, FieldNames::options).has_value());
}

TEST_CASE("connect_async()'s range errors name the option, the value and the range") {
  struct Row {
    void (*change)(Options&);
    std::string says;
  };
  const Row rows[] = {
      {[](Options& o) { o.max_inflight = 70000; },
       "Options::max_inflight 70000 is outside 1..65535"},
      {[](Options& o) { o.max_inflight = 0; }, "Options::max_inflight 0 is outside 1..65535"},
      {[](Options& o) { o.keepalive = std::chrono::seconds(70000); },
       "Options::keepalive 70000 s is outside 0..65535 s"},
      {[](Options& o) { o.cache_timeout = {}; },
       "Options::cache_timeout 0 ms is below the minimum of 1 ms"},
      {[](Options& o) { o.connect_timeout = {}; },
       "Options::connect_timeout 0 s is below the minimum of 1 s"},
      {[](Options& o) { o.message_ttl = std::chrono::seconds(-1); },
       "Options::message_ttl -1 s is below the minimum of 0 s"},
      {[](Options& o) { o.reconnect_min = {}; },
       "Options::reconnect_min 0 ms is below the minimum of 1 ms"},
      {[](Options& o) {
         o.reconnect_min = std::chrono::milliseconds(500);
         o.reconnect_max = std::chrono::milliseconds(50);
       },
       "Options::reconnect_max 50 ms is below Options::reconnect_min 500 ms"},
      {[](Options& o) { o.will.qos = 3; }, "Options::will.qos 3 is outside 0..2"},
      {[](Options& o) { o.drain_rate.messages_per_second = 1'000'001; },
       "Options::drain_rate.messages_per_second 1000001 is outside 0..1000000"},
      {[](Options& o) { o.drain_rate.bytes_per_second = static_cast<std::uint64_t>(-1); },
       "Options::drain_rate.bytes_per_second 18446744073709551615 is outside 0..1000000000000"},
      {[](Options& o) { o.client_id.clear(); }, "Options::client_id is empty"},
      {[](Options& o) { o.client_id.assign(65536, 'c'); },
       "Options::client_id is 65536 bytes long, outside 1..65535 bytes"},
      {[](Options& o) { o.host.clear(); }, "connect_async(): mqtt_host is empty"},
      {[](Options& o) { o.port = 0; }, "connect_async(): mqtt_port 0 is outside 1..65535"},
      {[](Options& o) { o.log_level = static_cast<LogLevel>(9); },
       "Options::log_level 9 is not one of debug, info, warning, error"},
      {[](Options& o) { o.cache_type = static_cast<CacheType>(2); },
       "Options::cache_type 2 is not one of sqlite, file"},
  };
  for (const Row& row : rows) {
    Options o;
    o.client_id = "c";
    row.change(o);
    CHECK(range_error(worker_config(o), FieldNames::options) == row.says);
  }
}

TEST_CASE("the ranges of the C setters are the table's") {
  static_assert(limits_of("max_inflight").min == 1 && limits_of("max_inflight").max == 65535);
  static_assert(limits_of("keepalive_s").min == 0 && limits_of("keepalive_s").max == 65535);
  static_assert(limits_of("cache_timeout_ms").min == 1 &&
                limits_of("cache_timeout_ms").max == kUnbounded);
  static_assert(limits_of("will_qos").admits(2) && !limits_of("will_qos").admits(3) &&
                !limits_of("will_qos").admits(-1));
  static_assert(limits_of("log_level").max == 3 && limits_of("cache_type").max == 1);
  CHECK(limits_of("max_inflight").admits(std::size_t{65535}));
  CHECK_FALSE(limits_of("max_inflight").admits(std::size_t{65536}));
  CHECK_FALSE(limits_of("max_inflight").admits(std::numeric_limits<std::size_t>::max()));
  CHECK_FALSE(limits_of("message_ttl_s").admits(std::numeric_limits<std::int64_t>::min()));
}
