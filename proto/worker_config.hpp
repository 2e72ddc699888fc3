// What the client tells its worker at start-up. It travels over the lifeline socket, never on
// the command line or in the environment (other users can read /proc/*/cmdline), so it can
// carry credentials.
//
// Encoding, version 1: "RMQC" u32 total_bytes, then entries of
//   u16 key_bytes, key, u32 value_bytes, value
// Unknown keys are ignored (forward compatibility); a malformed blob is refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace robustmq {

struct WorkerConfig {
  std::string segment_name;
  std::string client_id;
  std::string host;
  int port = 1883;
  std::string cache_dir;
  std::string cache_type;   // "sqlite" | "file"
  std::string durability;   // "on_trouble" | "journal"
  std::int64_t cache_timeout_ms = 10'000;
  std::int64_t queue_cache_threshold = 100;
  std::int64_t keepalive_s = 30;
  std::int64_t connect_timeout_s = 10;
  std::int64_t reconnect_min_ms = 250;
  std::int64_t reconnect_max_ms = 30'000;
  std::int64_t max_inflight = 1;
  std::string username;
  std::string password;
  // disk cache
  std::int64_t cache_sync = 1;
  std::int64_t max_cache_bytes = 0;
  std::string overflow = "drop_oldest";  // | "reject_new"
  std::int64_t message_ttl_s = 0;
  // connection
  std::int64_t mqtt_version = 4;  // 4: MQTT 3.1.1, 5: MQTT 5
  std::int64_t clean_session = 1;
  std::int64_t tls = 0;
  std::string tls_ca_file;
  std::string tls_ca_path;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_key_password;
  std::int64_t tls_verify = 1;
  std::string will_topic;
  std::string will_payload;
  std::int64_t will_qos = 1;
  std::int64_t will_retain = 0;
  std::string content_type;
  std::string user_properties;  // key NUL value NUL key NUL value NUL ...
  // logging
  std::string log_level = "info";
  std::int64_t log_syslog = 0;
};

inline constexpr std::uint32_t kConfigMagic = 0x43514d52;  // "RMQC"
inline constexpr std::size_t kMaxConfigBytes = 1u << 20;

std::string encode(const WorkerConfig& c);
// Returns nullopt and sets `error` when the blob is malformed or a value is out of range.
std::optional<WorkerConfig> decode_worker_config(std::string_view blob, std::string& error);

}  // namespace robustmq
