// The C API's options (robustmq.h): robustmq_options_new/free and the robustmq_options_*
// setters over robustmq::Options. Every setter is noexcept and catches everything: no C++
// exception may unwind into a C caller.
#include <chrono>
#include <new>
#include <string>

#include "lib/c_options.hpp"
#include "proto/worker_config_fields.hpp"
#include "robustmq/client.hpp"
#include "robustmq/robustmq.h"

// The setters take these C constants as the numeric values of the C++ enumerations.
#define ROBUSTMQ_SAME(c, e) static_assert((c) == static_cast<int>(robustmq::e), #c " != " #e)
ROBUSTMQ_SAME(ROBUSTMQ_CACHE_SQLITE, CacheType::sqlite);
ROBUSTMQ_SAME(ROBUSTMQ_CACHE_FILE, CacheType::file);
ROBUSTMQ_SAME(ROBUSTMQ_DURABILITY_ON_TROUBLE, Durability::on_trouble);
ROBUSTMQ_SAME(ROBUSTMQ_DURABILITY_JOURNAL, Durability::journal);
ROBUSTMQ_SAME(ROBUSTMQ_OVERFLOW_DROP_OLDEST, OverflowPolicy::drop_oldest);
ROBUSTMQ_SAME(ROBUSTMQ_OVERFLOW_REJECT_NEW, OverflowPolicy::reject_new);
ROBUSTMQ_SAME(ROBUSTMQ_LOG_DEBUG, LogLevel::debug);
ROBUSTMQ_SAME(ROBUSTMQ_LOG_INFO, LogLevel::info);
ROBUSTMQ_SAME(ROBUSTMQ_LOG_WARNING, LogLevel::warning);
ROBUSTMQ_SAME(ROBUSTMQ_LOG_ERROR, LogLevel::error);
#undef ROBUSTMQ_SAME

namespace {

// Runs f (which sets a field of o) with the checks and catch every setter needs.
template <typename F>
int set(robustmq_options* o, F f) noexcept {
  if (o == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  try {
    return f(o->o);
  } catch (const std::bad_alloc&) {
    return ROBUSTMQ_ERR_NO_MEMORY;
  } catch (...) {
    return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  }
}

std::string str(const char* s) { return s == nullptr ? std::string() : std::string(s); }

}  // namespace

extern "C" {

robustmq_options* robustmq_options_new(void) {
  return new (std::nothrow) robustmq_options();
}

void robustmq_options_free(robustmq_options* options) { delete options; }

int robustmq_options_set_client_id(robustmq_options* o, const char* client_id) {
  return set(o, [&](robustmq::Options& x) {
    if (client_id == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.client_id = client_id;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_cache_type(robustmq_options* o, int cache_type) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("cache_type").admits(cache_type)) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.cache_type = static_cast<robustmq::CacheType>(cache_type);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_cache_path(robustmq_options* o, const char* dir) {
  return set(o, [&](robustmq::Options& x) {
    if (dir == nullptr || *dir == '\0') return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.cache_path = dir;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_durability(robustmq_options* o, int durability) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("durability").admits(durability)) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.durability = static_cast<robustmq::Durability>(durability);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_cache_timeout_ms(robustmq_options* o, int64_t ms) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("cache_timeout_ms").admits(ms)) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.cache_timeout = std::chrono::milliseconds(ms);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_queue_cache_threshold(robustmq_options* o, size_t n) {
  return set(o, [&](robustmq::Options& x) {
    x.queue_cache_threshold = n;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_cache_sync(robustmq_options* o, int on) {
  return set(o, [&](robustmq::Options& x) {
    x.cache_sync = on != 0;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_max_cache_bytes(robustmq_options* o, uint64_t bytes) {
  return set(o, [&](robustmq::Options& x) {
    x.max_cache_bytes = bytes;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_overflow(robustmq_options* o, int overflow) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("overflow").admits(overflow)) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.overflow = static_cast<robustmq::OverflowPolicy>(overflow);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_message_ttl_s(robustmq_options* o, int64_t seconds) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("message_ttl_s").admits(seconds)) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.message_ttl = std::chrono::seconds(seconds);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_dead_letter_bytes(robustmq_options* o, uint64_t bytes) {
  return set(o, [&](robustmq::Options& x) {
    x.dead_letter_bytes = bytes;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_ring_bytes(robustmq_options* o, size_t bytes) {
  return set(o, [&](robustmq::Options& x) {
    x.ring_bytes = bytes;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_large_message_bytes(robustmq_options* o, size_t bytes) {
  return set(o, [&](robustmq::Options& x) {
    x.large_message_bytes = bytes;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_publish_wait_ms(robustmq_options* o, int64_t ms) {
  return set(o, [&](robustmq::Options& x) {
    if (ms < 0) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.publish_wait = std::chrono::milliseconds(ms);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_drain_rate(robustmq_options* o, uint64_t messages_per_second,
                                    uint64_t bytes_per_second) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("drain_rate_messages").admits(messages_per_second) ||
        !robustmq::limits_of("drain_rate_bytes").admits(bytes_per_second))
      return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.drain_rate = {.messages_per_second = messages_per_second,
                    .bytes_per_second = bytes_per_second};
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_max_inflight(robustmq_options* o, size_t n) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("max_inflight").admits(n)) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.max_inflight = n;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_mqtt_version(robustmq_options* o, int version) {
  return set(o, [&](robustmq::Options& x) {
    if (version == ROBUSTMQ_MQTT_3_1_1)
      x.mqtt_version = robustmq::MqttVersion::v3_1_1;
    else if (version == ROBUSTMQ_MQTT_5)
      x.mqtt_version = robustmq::MqttVersion::v5;
    else
      return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_keepalive_s(robustmq_options* o, int64_t seconds) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("keepalive_s").admits(seconds)) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.keepalive = std::chrono::seconds(seconds);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_connect_timeout_s(robustmq_options* o, int64_t seconds) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("connect_timeout_s").admits(seconds))
      return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.connect_timeout = std::chrono::seconds(seconds);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_reconnect_ms(robustmq_options* o, int64_t min_ms, int64_t max_ms) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("reconnect_min_ms").admits(min_ms) ||
        !robustmq::limits_of("reconnect_max_ms").admits(max_ms) || max_ms < min_ms)
      return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.reconnect_min = std::chrono::milliseconds(min_ms);
    x.reconnect_max = std::chrono::milliseconds(max_ms);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_clean_session(robustmq_options* o, int on) {
  return set(o, [&](robustmq::Options& x) {
    x.clean_session = on != 0;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_credentials(robustmq_options* o, const char* username,
                                     const char* password) {
  return set(o, [&](robustmq::Options& x) {
    x.username = str(username);
    x.password = str(password);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_tls(robustmq_options* o, int enabled, int verify) {
  return set(o, [&](robustmq::Options& x) {
    x.tls.enabled = enabled != 0;
    x.tls.verify = verify != 0;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_tls_verify_hostname(robustmq_options* o, int on) {
  return set(o, [&](robustmq::Options& x) {
    x.tls.verify_hostname = on != 0;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_tls_files(robustmq_options* o, const char* ca_file, const char* ca_path,
                                   const char* cert_file, const char* key_file,
                                   const char* key_password) {
  return set(o, [&](robustmq::Options& x) {
    x.tls.ca_file = str(ca_file);
    x.tls.ca_path = str(ca_path);
    x.tls.cert_file = str(cert_file);
    x.tls.key_file = str(key_file);
    x.tls.key_password = str(key_password);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_will(robustmq_options* o, const char* topic, const void* payload,
                              size_t len, int qos, int retain) {
  return set(o, [&](robustmq::Options& x) {
    if ((payload == nullptr && len != 0) || !robustmq::limits_of("will_qos").admits(qos))
      return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.will.topic = str(topic);
    x.will.payload = len == 0 ? std::string() : std::string(static_cast<const char*>(payload), len);
    x.will.qos = qos;
    x.will.retain = retain != 0;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_log_level(robustmq_options* o, int level) {
  return set(o, [&](robustmq::Options& x) {
    if (!robustmq::limits_of("log_level").admits(level)) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.log_level = static_cast<robustmq::LogLevel>(level);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_log_to_syslog(robustmq_options* o, int on) {
  return set(o, [&](robustmq::Options& x) {
    x.log_to_syslog = on != 0;
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_worker_path(robustmq_options* o, const char* path) {
  return set(o, [&](robustmq::Options& x) {
    x.worker_path = str(path);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_stop_timeout_ms(robustmq_options* o, int64_t ms) {
  return set(o, [&](robustmq::Options& x) {
    if (ms < 0) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.stop_timeout = std::chrono::milliseconds(ms);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_worker_start_timeout_ms(robustmq_options* o, int64_t ms) {
  return set(o, [&](robustmq::Options& x) {
    if (ms < 1) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.worker_start_timeout = std::chrono::milliseconds(ms);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_orphan_linger_ms(robustmq_options* o, int64_t ms) {
  return set(o, [&](robustmq::Options& x) {
    if (ms < 0) ms = -1;
    if (!robustmq::limits_of("orphan_linger_ms").admits(ms)) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.orphan_linger = std::chrono::milliseconds(ms);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_takeover_timeout_ms(robustmq_options* o, int64_t ms) {
  return set(o, [&](robustmq::Options& x) {
    if (ms < 1) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.takeover_timeout = std::chrono::milliseconds(ms);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_content_type(robustmq_options* o, const char* type) {
  return set(o, [&](robustmq::Options& x) {
    x.content_type = str(type);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_add_user_property(robustmq_options* o, const char* name, const char* value) {
  return set(o, [&](robustmq::Options& x) {
    if (name == nullptr || value == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.user_properties.emplace_back(name, value);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_dedup_property(robustmq_options* o, int on) {
  return set(o, [&](robustmq::Options& x) {
    x.dedup_property = on != 0;
    return ROBUSTMQ_OK;
  });
}

// --- several brokers, WebSockets and proxies ---

int robustmq_options_add_server(robustmq_options* o, const char* uri) {
  return set(o, [&](robustmq::Options& x) {
    if (uri == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.servers.emplace_back(uri);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_clear_servers(robustmq_options* o) {
  return set(o, [&](robustmq::Options& x) {
    x.servers.clear();
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_http_proxy(robustmq_options* o, const char* url) {
  return set(o, [&](robustmq::Options& x) {
    x.http_proxy = str(url);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_https_proxy(robustmq_options* o, const char* url) {
  return set(o, [&](robustmq::Options& x) {
    x.https_proxy = str(url);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_no_proxy(robustmq_options* o, const char* hosts) {
  return set(o, [&](robustmq::Options& x) {
    x.no_proxy = str(hosts);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_tls_alpn(robustmq_options* o, const char* protocols) {
  return set(o, [&](robustmq::Options& x) {
    x.tls.alpn = str(protocols);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_tls_ciphers(robustmq_options* o, const char* ciphers) {
  return set(o, [&](robustmq::Options& x) {
    x.tls.ciphers = str(ciphers);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_tls_min_version(robustmq_options* o, const char* version) {
  return set(o, [&](robustmq::Options& x) {
    x.tls.min_version = str(version);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_session_expiry(robustmq_options* o, int64_t seconds) {
  return set(o, [&](robustmq::Options& x) {
    if (seconds < 0 || !robustmq::limits_of("session_expiry_s").admits(seconds))
      return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.session_expiry = std::chrono::seconds(seconds);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_password_file(robustmq_options* o, const char* path) {
  return set(o, [&](robustmq::Options& x) {
    x.password_file = str(path);
    return ROBUSTMQ_OK;
  });
}

int robustmq_options_set_metrics_file(robustmq_options* o, const char* path, int64_t interval_s) {
  return set(o, [&](robustmq::Options& x) {
    const bool none = path == nullptr || *path == '\0';
    if (!none && !robustmq::limits_of("metrics_interval_s").admits(interval_s))
      return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    x.metrics_file = str(path);
    if (!none) x.metrics_interval = std::chrono::seconds(interval_s);
    return ROBUSTMQ_OK;
  });
}

}  // extern "C"
