// What the client tells its worker at start-up. It travels over the lifeline socket, never on
// the command line or in the environment (other users can read /proc/*/cmdline), so it can
// carry credentials.
//
// Encoding, version 1: "RMQC" u32 total_bytes, then entries of
//   u16 key_bytes, key, u32 value_bytes, value
// Values are text: numbers in decimal (durations in the unit their key ends in: _ms, _s),
// flags "0" or "1", enumerations by their names below, user properties as
// name NUL value NUL name NUL value NUL ... (every name and value NUL-terminated), lists of
// text (servers) as item NUL item NUL ...
// Unknown keys are ignored (forward compatibility); a malformed blob is refused.
// proto/worker_config_fields.hpp lists the keys, with the range of each value.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "robustmq/client.hpp"  // Options; Durability, MqttVersion and LogLevel are shared

namespace robustmq {

enum class CacheBackend : std::uint8_t { sqlite, file };
enum class Overflow : std::uint8_t { drop_oldest, reject_new };

struct WorkerConfig {
  std::string segment_name;
  std::string client_id;
  std::string host;
  int port = 1883;
  std::string cache_dir;
  CacheBackend cache_type = CacheBackend::sqlite;
  Durability durability = Durability::on_trouble;
  std::chrono::milliseconds cache_timeout{10'000};
  std::size_t queue_cache_threshold = 100;
  std::chrono::seconds keepalive{30};
  std::chrono::seconds connect_timeout{10};
  std::chrono::milliseconds reconnect_min{250};
  std::chrono::milliseconds reconnect_max{30'000};
  std::size_t max_inflight = 1;
  std::string username;
  std::string password;
  // Options::password_file, absolute: read before each connection attempt; empty: none.
  std::string password_file;
  // disk cache
  bool cache_sync = true;
  std::uint64_t max_cache_bytes = 0;
  Overflow overflow = Overflow::drop_oldest;
  std::chrono::seconds message_ttl{0};
  std::uint64_t dead_letter_bytes = 16u << 20;  // the dead-letter store's bound; 0: none
  // connection
  MqttVersion mqtt_version = MqttVersion::v3_1_1;
  bool clean_session = true;
  // MQTT 5: Options::session_expiry; negative: not set (by clean_session: never, or 0).
  std::chrono::seconds session_expiry{-1};
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_ca_path;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_key_password;
  bool tls_verify = true;
  bool tls_verify_hostname = true;
  std::string will_topic;
  std::string will_payload;
  int will_qos = 1;
  bool will_retain = false;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> user_properties;  // MQTT 5, every message
  // MQTT 5, Options::dedup_property: the value of every message's robustmq-producer property,
  // which robustmq-seq then follows; empty: neither is sent.
  std::string dedup_producer;
  // After the application died or handed off: how long the worker goes on delivering before it
  // commits what is left to the cache and exits. Negative: until everything is delivered.
  std::chrono::milliseconds orphan_linger{-1};
  // logging
  LogLevel log_level = LogLevel::info;
  bool log_syslog = false;
  // Options::drain_rate: messages and bytes per second sent from the disk cache; 0: unlimited.
  std::uint64_t drain_rate_messages = 0;
  std::uint64_t drain_rate_bytes = 0;
  // --- several brokers, WebSockets and proxies (README "Several brokers") ---
  // The brokers, tried in turn (proto/server_uri.hpp, normalised: every URI with its port);
  // empty: the one of host, port and tls (an older client).
  std::vector<std::string> servers;
  // The proxies in effect, Options or the application's environment at connect_async(), as
  // http://[user:password@]host:port; empty: none. http_proxy for tcp:// and ws://,
  // https_proxy for ssl:// and wss://; no_proxy names the hosts reached directly.
  std::string http_proxy;
  std::string https_proxy;
  std::string no_proxy;
  std::string tls_alpn;     // ALPN protocols, comma-separated; empty: no ALPN
  std::string tls_ciphers;  // OpenSSL cipher list (TLS 1.2 and below); empty: OpenSSL's
  std::string tls_min_version;  // "tlsv1.1".."tlsv1.3"; empty: OpenSSL's configuration
  // Options::metrics_file, absolute (empty: none), written every metrics_interval.
  std::string metrics_file;
  std::chrono::seconds metrics_interval{10};

  bool operator==(const WorkerConfig&) const = default;
};

// How enumerations and flags are written in the encoding: names_of(...)[numeric value]. The
// static_asserts pin the numeric values this indexing relies on.
constexpr std::array<std::string_view, 2> names_of(std::type_identity<CacheBackend>) {
  return {"sqlite", "file"};
}
static_assert(static_cast<int>(CacheBackend::sqlite) == 0 &&
              static_cast<int>(CacheBackend::file) == 1);
constexpr std::array<std::string_view, 2> names_of(std::type_identity<Durability>) {
  return {"on_trouble", "journal"};
}
static_assert(static_cast<int>(Durability::on_trouble) == 0 &&
              static_cast<int>(Durability::journal) == 1);
constexpr std::array<std::string_view, 2> names_of(std::type_identity<Overflow>) {
  return {"drop_oldest", "reject_new"};
}
static_assert(static_cast<int>(Overflow::drop_oldest) == 0 &&
              static_cast<int>(Overflow::reject_new) == 1);
// The MQTT protocol levels: 4 is MQTT 3.1.1.
constexpr std::array<std::string_view, 2> names_of(std::type_identity<MqttVersion>) {
  return {"4", "5"};
}
static_assert(static_cast<int>(MqttVersion::v3_1_1) == 0 && static_cast<int>(MqttVersion::v5) == 1);
constexpr std::array<std::string_view, 4> names_of(std::type_identity<LogLevel>) {
  return {"debug", "info", "warning", "error"};
}
static_assert(static_cast<int>(LogLevel::debug) == 0 && static_cast<int>(LogLevel::info) == 1 &&
              static_cast<int>(LogLevel::warning) == 2 && static_cast<int>(LogLevel::error) == 3);
constexpr std::array<std::string_view, 2> names_of(std::type_identity<bool>) { return {"0", "1"}; }

// A type written by name in the encoding.
template <typename T>
concept Named = requires { names_of(std::type_identity<T>{}); };

// The names of the MQTT 5 user properties of WorkerConfig::dedup_producer (README
// "Deduplication for consumers"); robustmq-seq's value has at most 20 digits.
inline constexpr std::string_view kProducerProperty = "robustmq-producer";
inline constexpr std::string_view kSeqProperty = "robustmq-seq";
inline constexpr std::size_t kMaxSeqDigits = 20;

inline constexpr std::uint32_t kConfigMagic = 0x43514d52;  // "RMQC"
inline constexpr std::size_t kMaxConfigBytes = 1u << 20;

std::string encode(const WorkerConfig& c);
// Returns nullopt and sets `error` when the blob is malformed or a value is out of range
// (range_error(), with the fields named by their keys).
std::optional<WorkerConfig> decode_worker_config(std::string_view blob, std::string& error);

// How an error message names a field: by its name for the application ("Options::max_inflight",
// "connect_async(): mqtt_port"), or by its key in the encoding ("max_inflight").
enum class FieldNames : std::uint8_t { options, keys };

// The configuration Options ask for; segment_name and cache_dir are left for connect_async().
WorkerConfig worker_config(const Options& options);

// The first value outside its range, as "Options::max_inflight 70000 is outside 1..65535"; or
// nullopt when every value is within its range. With FieldNames::options the fields that
// connect_async() fills in itself (segment_name, cache_dir) are not checked.
std::optional<std::string> range_error(const WorkerConfig& c, FieldNames names);

}  // namespace robustmq
