#include "proto/worker_config.hpp"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include <fmt/format.h>

namespace robustmq {

namespace {

void put_u16(std::string& out, std::uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); }
void put_u32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

void put(std::string& out, std::string_view key, std::string_view value) {
  put_u16(out, static_cast<std::uint16_t>(key.size()));
  out.append(key);
  put_u32(out, static_cast<std::uint32_t>(value.size()));
  out.append(value);
}

// One table drives both directions, so a field cannot be encoded and forgotten on decode.
template <typename F>
void for_each_field(WorkerConfig& c, F&& f) {
  f("segment", c.segment_name);
  f("client_id", c.client_id);
  f("host", c.host);
  f("port", c.port);
  f("cache_dir", c.cache_dir);
  f("cache_type", c.cache_type);
  f("durability", c.durability);
  f("cache_timeout_ms", c.cache_timeout_ms);
  f("queue_cache_threshold", c.queue_cache_threshold);
  f("keepalive_s", c.keepalive_s);
  f("connect_timeout_s", c.connect_timeout_s);
  f("reconnect_min_ms", c.reconnect_min_ms);
  f("reconnect_max_ms", c.reconnect_max_ms);
  f("max_inflight", c.max_inflight);
  f("username", c.username);
  f("password", c.password);
  f("cache_sync", c.cache_sync);
  f("max_cache_bytes", c.max_cache_bytes);
  f("overflow", c.overflow);
  f("message_ttl_s", c.message_ttl_s);
  f("mqtt_version", c.mqtt_version);
  f("clean_session", c.clean_session);
  f("tls", c.tls);
  f("tls_ca_file", c.tls_ca_file);
  f("tls_ca_path", c.tls_ca_path);
  f("tls_cert_file", c.tls_cert_file);
  f("tls_key_file", c.tls_key_file);
  f("tls_key_password", c.tls_key_password);
  f("tls_verify", c.tls_verify);
  f("will_topic", c.will_topic);
  f("will_payload", c.will_payload);
  f("will_qos", c.will_qos);
  f("will_retain", c.will_retain);
  f("content_type", c.content_type);
  f("user_properties", c.user_properties);
  f("log_level", c.log_level);
  f("log_syslog", c.log_syslog);
}

bool parse_int(std::string_view s, std::int64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  std::int64_t v = 0;
  bool neg = false;
  std::size_t i = 0;
  if (s[0] == '-') { neg = true; i = 1; if (s.size() == 1) return false; }
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const int d = s[i] - '0';
    if (v > (INT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = neg ? -v : v;
  return true;
}

}  // namespace

std::string encode(const WorkerConfig& config) {
  WorkerConfig c = config;
  std::string body;
  for_each_field(c, [&](std::string_view key, auto& value) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::string>)
      put(body, key, value);
    else
      put(body, key, std::to_string(value));
  });
  std::string out;
  put_u32(out, kConfigMagic);
  put_u32(out, static_cast<std::uint32_t>(8 + body.size()));
  out += body;
  return out;
}

std::optional<WorkerConfig> decode_worker_config(std::string_view blob, std::string& error) {
  auto get32 = [&](std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, blob.data() + at, 4);
    return v;
  };
  if (blob.size() < 8 || blob.size() > kMaxConfigBytes) {
    error = fmt::format("configuration of {} bytes is malformed", blob.size());
    return std::nullopt;
  }
  if (get32(0) != kConfigMagic || get32(4) != blob.size()) {
    error = "configuration has a wrong magic or length";
    return std::nullopt;
  }
  WorkerConfig c;
  std::size_t at = 8;
  while (at < blob.size()) {
    if (blob.size() - at < 2) { error = "configuration entry truncated"; return std::nullopt; }
    std::uint16_t klen;
    std::memcpy(&klen, blob.data() + at, 2);
    at += 2;
    if (blob.size() - at < std::size_t{klen} + 4) {
      error = "configuration key truncated";
      return std::nullopt;
    }
    std::string_view key = blob.substr(at, klen);
    at += klen;
    const std::uint32_t vlen = get32(at);
    at += 4;
    if (blob.size() - at < vlen) { error = "configuration value truncated"; return std::nullopt; }
    std::string_view value = blob.substr(at, vlen);
    at += vlen;
    bool bad = false;
    for_each_field(c, [&](std::string_view name, auto& field) {
      if (name != key) return;
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::string>) {
        field.assign(value);
      } else {
        std::int64_t v;
        using Field = std::decay_t<decltype(field)>;
        if (!parse_int(value, v) || v < 0 ||
            static_cast<std::uint64_t>(v) >
                static_cast<std::uint64_t>(std::numeric_limits<Field>::max()))
          bad = true;
        else
          field = static_cast<Field>(v);
      }
    });
    if (bad) {
      error = fmt::format("configuration value for '{}' is not a non-negative number", key);
      return std::nullopt;
    }
  }
  if (c.port < 1 || c.port > 65535) { error = fmt::format("port {} is out of range", c.port); return std::nullopt; }
  if (c.segment_name.empty() || c.client_id.empty() || c.cache_dir.empty()) {
    error = "configuration lacks segment, client_id or cache_dir";
    return std::nullopt;
  }
  if (c.cache_type != "sqlite" && c.cache_type != "file") {
    error = fmt::format("unknown cache_type '{}'", c.cache_type);
    return std::nullopt;
  }
  if (c.durability != "on_trouble" && c.durability != "journal") {
    error = fmt::format("unknown durability '{}'", c.durability);
    return std::nullopt;
  }
  if (c.max_inflight < 1 || c.max_inflight > 65535) {
    error = fmt::format("max_inflight {} is outside 1..65535", c.max_inflight);
    return std::nullopt;
  }
  if (c.overflow != "drop_oldest" && c.overflow != "reject_new") {
    error = fmt::format("unknown overflow policy '{}'", c.overflow);
    return std::nullopt;
  }
  if (c.mqtt_version != 4 && c.mqtt_version != 5) {
    error = fmt::format("mqtt_version {} is neither 4 (3.1.1) nor 5", c.mqtt_version);
    return std::nullopt;
  }
  if (c.will_qos > 2) {
    error = fmt::format("will_qos {} is outside 0..2", c.will_qos);
    return std::nullopt;
  }
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warning" &&
      c.log_level != "error") {
    error = fmt::format("unknown log_level '{}'", c.log_level);
    return std::nullopt;
  }
  return c;
}

}  // namespace robustmq
