// The fields of WorkerConfig, each once: its key in the encoding, its name for the application,
// where Options holds it, and the values it may take. Everything that handles the worker's
// configuration reads this table: worker_config() (Options -> WorkerConfig), encode() and
// decode_worker_config(), range_error() (which connect_async() and the decoder call) and the C
// API's setters (limits_of()).
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "proto/worker_config.hpp"

namespace robustmq {

inline constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint64_t>::max();
// The largest Options::drain_rate.
inline constexpr std::uint64_t kMaxDrainMessages = 1'000'000;
inline constexpr std::uint64_t kMaxDrainBytes = 1'000'000'000'000;

// The values a field may take: numbers and durations (their count()) min..max; text its length
// in bytes; enumerations and flags their numeric value (set by their names).
struct Limits {
  std::int64_t min = 0;
  std::uint64_t max = kUnbounded;

  template <typename V>
  constexpr bool admits(V v) const noexcept {
    return std::cmp_greater_equal(v, min) && std::cmp_less_equal(v, max);
  }
};

// What connect_async() fills in itself: the segment's name, the canonical cache directory, the
// producer of Options::dedup_property (lib/producer_id.hpp).
struct Computed {};

template <typename T>
constexpr Limits natural_limits() {
  if constexpr (Named<T>)
    return {0, names_of(std::type_identity<T>{}).size() - 1};
  else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>)
    return {std::numeric_limits<T>::min(), std::numeric_limits<T>::max()};
  else
    return {};
}

template <typename T, typename From>
struct Field {
  std::string_view key;     // in the encoding
  std::string_view option;  // in connect_async()'s error messages
  T WorkerConfig::*member;
  From from;                // reads the value from Options (a member pointer or a function)
  Limits limits = natural_limits<T>();
};
// Clang before 17 deduces no template arguments of an aggregate by itself.
template <typename T, typename From>
Field(std::string_view, std::string_view, T WorkerConfig::*, From) -> Field<T, From>;
template <typename T, typename From>
Field(std::string_view, std::string_view, T WorkerConfig::*, From, Limits) -> Field<T, From>;

// CacheType and OverflowPolicy become CacheBackend and Overflow by their numeric values.
static_assert(static_cast<int>(CacheType::sqlite) == static_cast<int>(CacheBackend::sqlite) &&
              static_cast<int>(CacheType::file) == static_cast<int>(CacheBackend::file));
static_assert(static_cast<int>(OverflowPolicy::drop_oldest) ==
                  static_cast<int>(Overflow::drop_oldest) &&
              static_cast<int>(OverflowPolicy::reject_new) == static_cast<int>(Overflow::reject_new));

// Calls visit(field) for each field, in the order of the encoding.
template <typename Visit>
constexpr void for_each_field(Visit&& visit) {
  using W = WorkerConfig;
  using O = Options;
  visit(Field{"segment", "the segment name", &W::segment_name, Computed{}, {1}});
  visit(Field{"client_id", "Options::client_id", &W::client_id, &O::client_id, {1, 65535}});
  visit(Field{"host", "connect_async(): mqtt_host", &W::host, &O::host, {1}});
  visit(Field{"port", "connect_async(): mqtt_port", &W::port, &O::port, {1, 65535}});
  visit(Field{"cache_dir", "Options::cache_path", &W::cache_dir, Computed{}, {1}});
  visit(Field{"cache_type", "Options::cache_type", &W::cache_type,
              [](const O& o) { return static_cast<CacheBackend>(o.cache_type); }});
  visit(Field{"durability", "Options::durability", &W::durability, &O::durability});
  visit(Field{"cache_timeout_ms", "Options::cache_timeout", &W::cache_timeout, &O::cache_timeout,
              {1}});
  visit(Field{"queue_cache_threshold", "Options::queue_cache_threshold",
              &W::queue_cache_threshold, &O::queue_cache_threshold});
  visit(Field{"keepalive_s", "Options::keepalive", &W::keepalive, &O::keepalive, {0, 65535}});
  visit(Field{"connect_timeout_s", "Options::connect_timeout", &W::connect_timeout,
              &O::connect_timeout, {1}});
  visit(Field{"reconnect_min_ms", "Options::reconnect_min", &W::reconnect_min, &O::reconnect_min,
              {1}});
  // At least reconnect_min, too (range_error()).
  visit(Field{"reconnect_max_ms", "Options::reconnect_max", &W::reconnect_max, &O::reconnect_max,
              {1}});
  visit(Field{"max_inflight", "Options::max_inflight", &W::max_inflight, &O::max_inflight,
              {1, 65535}});
  visit(Field{"username", "Options::username", &W::username, &O::username});
  visit(Field{"password", "Options::password", &W::password, &O::password});
  visit(Field{"cache_sync", "Options::cache_sync", &W::cache_sync, &O::cache_sync});
  visit(Field{"max_cache_bytes", "Options::max_cache_bytes", &W::max_cache_bytes,
              &O::max_cache_bytes});
  visit(Field{"overflow", "Options::overflow", &W::overflow,
              [](const O& o) { return static_cast<Overflow>(o.overflow); }});
  visit(Field{"message_ttl_s", "Options::message_ttl", &W::message_ttl, &O::message_ttl, {0}});
  // Added later: a worker given no value (an older client) keeps its default.
  visit(Field{"dead_letter_bytes", "Options::dead_letter_bytes", &W::dead_letter_bytes,
              &O::dead_letter_bytes});
  visit(Field{"mqtt_version", "Options::mqtt_version", &W::mqtt_version, &O::mqtt_version});
  visit(Field{"clean_session", "Options::clean_session", &W::clean_session, &O::clean_session});
  visit(Field{"tls", "Options::tls.enabled", &W::tls, [](const O& o) { return o.tls.enabled; }});
  visit(Field{"tls_ca_file", "Options::tls.ca_file", &W::tls_ca_file,
              [](const O& o) { return o.tls.ca_file.string(); }});
  visit(Field{"tls_ca_path", "Options::tls.ca_path", &W::tls_ca_path,
              [](const O& o) { return o.tls.ca_path.string(); }});
  visit(Field{"tls_cert_file", "Options::tls.cert_file", &W::tls_cert_file,
              [](const O& o) { return o.tls.cert_file.string(); }});
  visit(Field{"tls_key_file", "Options::tls.key_file", &W::tls_key_file,
              [](const O& o) { return o.tls.key_file.string(); }});
  visit(Field{"tls_key_password", "Options::tls.key_password", &W::tls_key_password,
              [](const O& o) { return o.tls.key_password; }});
  visit(Field{"tls_verify", "Options::tls.verify", &W::tls_verify,
              [](const O& o) { return o.tls.verify; }});
  visit(Field{"tls_verify_hostname", "Options::tls.verify_hostname", &W::tls_verify_hostname,
              [](const O& o) { return o.tls.verify_hostname; }});
  visit(Field{"will_topic", "Options::will.topic", &W::will_topic,
              [](const O& o) { return o.will.topic; }});
  visit(Field{"will_payload", "Options::will.payload", &W::will_payload,
              [](const O& o) { return o.will.payload; }});
  visit(Field{"will_qos", "Options::will.qos", &W::will_qos, [](const O& o) { return o.will.qos; },
              {0, 2}});
  visit(Field{"will_retain", "Options::will.retain", &W::will_retain,
              [](const O& o) { return o.will.retain; }});
  visit(Field{"content_type", "Options::content_type", &W::content_type, &O::content_type});
  visit(Field{"user_properties", "Options::user_properties", &W::user_properties,
              &O::user_properties});
  visit(Field{"dedup_producer", "Options::dedup_property", &W::dedup_producer, Computed{}});
  // At most ten years: a deadline that far ahead still fits the clock (-1: until delivered).
  visit(Field{"orphan_linger_ms", "Options::orphan_linger", &W::orphan_linger, &O::orphan_linger,
              {-1, 315'360'000'000}});
  visit(Field{"log_level", "Options::log_level", &W::log_level, &O::log_level});
  visit(Field{"log_syslog", "Options::log_to_syslog", &W::log_syslog, &O::log_to_syslog});
  // Added later (a worker given no value paces nothing). Beyond these bounds a rate paces
  // nothing a worker can reach, and is more likely a mistake (a negative number cast).
  visit(Field{"drain_rate_messages", "Options::drain_rate.messages_per_second",
              &W::drain_rate_messages,
              [](const O& o) { return o.drain_rate.messages_per_second; }, {0, kMaxDrainMessages}});
  visit(Field{"drain_rate_bytes", "Options::drain_rate.bytes_per_second", &W::drain_rate_bytes,
              [](const O& o) { return o.drain_rate.bytes_per_second; }, {0, kMaxDrainBytes}});
  // --- several brokers, WebSockets and proxies. Added later: a worker given no value (an
  // older client) keeps its default. connect_async() checks the URIs and fills in the
  // environment's proxies (lib/servers.cpp).
  visit(Field{"servers", "Options::servers", &W::servers, &O::servers});
  visit(Field{"http_proxy", "Options::http_proxy", &W::http_proxy, &O::http_proxy});
  visit(Field{"https_proxy", "Options::https_proxy", &W::https_proxy, &O::https_proxy});
  visit(Field{"no_proxy", "Options::no_proxy", &W::no_proxy, &O::no_proxy});
  visit(Field{"tls_alpn", "Options::tls.alpn", &W::tls_alpn,
              [](const O& o) { return o.tls.alpn; }});
  visit(Field{"tls_ciphers", "Options::tls.ciphers", &W::tls_ciphers,
              [](const O& o) { return o.tls.ciphers; }});
  visit(Field{"tls_min_version", "Options::tls.min_version", &W::tls_min_version,
              [](const O& o) { return o.tls.min_version; }});
  // Added later (token refresh); connect_async() makes it absolute.
  visit(Field{"password_file", "Options::password_file", &W::password_file,
              [](const O& o) { return o.password_file.string(); }});
  // Added later (robustmq-stat); connect_async() makes the file absolute.
  visit(Field{"metrics_file", "Options::metrics_file", &W::metrics_file,
              [](const O& o) { return o.metrics_file.string(); }});
  visit(Field{"metrics_interval_s", "Options::metrics_interval", &W::metrics_interval,
              &O::metrics_interval, {1, 86'400}});
  // Added later (-1: not set, what an older client means). connect_async() checks
  // Options::session_expiry itself, where -1 s is no value of its.
  visit(Field{"session_expiry_s", "Options::session_expiry", &W::session_expiry,
              [](const O& o) { return o.session_expiry.value_or(std::chrono::seconds(-1)); },
              {-1, static_cast<std::uint64_t>(kSessionNeverExpires.count())}});
}

// The limits of the field with this key, at compile time (an unknown key does not compile).
consteval Limits limits_of(std::string_view key) {
  Limits found;
  bool known = false;
  for_each_field([&](const auto& field) {
    if (field.key != key) return;
    found = field.limits;
    known = true;
  });
  if (!known) throw std::invalid_argument("no field has this key");
  return found;
}

}  // namespace robustmq
