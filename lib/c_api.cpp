// The C API (robustmq.h) over RobustClient. Every entry point is noexcept and catches
// everything: no C++ exception may unwind into a C caller.
#include "robustmq/robustmq.h"

#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <system_error>

#include "proto/worker_config_fields.hpp"
#include "robustmq/client.hpp"
#include "robustmq_config.h"

using robustmq::errc;

// The C codes 1..99 are robustmq::errc: a new errc value needs its C twin here and in the
// header (test/consumption/test_c_api.cpp checks every message too).
#define ROBUSTMQ_SAME(c, e) static_assert((c) == static_cast<int>(errc::e), #c " != errc::" #e)
ROBUSTMQ_SAME(ROBUSTMQ_OK, ok);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_TOPIC_EMPTY, topic_empty);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_TOPIC_WILDCARD, topic_wildcard);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_TOPIC_TOO_LONG, topic_too_long);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_TOPIC_INVALID_UTF8, topic_invalid_utf8);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_TOPIC_CONTAINS_NUL, topic_contains_nul);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_INVALID_QOS, invalid_qos);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_PAYLOAD_TOO_LARGE, payload_too_large);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_QUEUE_FULL, queue_full);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_NOT_CONNECTED, not_connected);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_STOPPED, stopped);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_FORKED_CHILD, forked_child);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_FLUSH_TIMEOUT, flush_timeout);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_WORKER_UNAVAILABLE, worker_unavailable);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_PAYLOAD_OVER_MQTT_LIMIT, payload_over_mqtt_limit);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_PAYLOAD_OVER_CACHE_LIMIT, payload_over_cache_limit);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_LARGE_FILE_FAILED, large_file_failed);
#undef ROBUSTMQ_SAME
static_assert(static_cast<int>(errc::large_file_failed) < ROBUSTMQ_ERR_INVALID_ARGUMENT);
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

struct robustmq_options {
  robustmq::Options o;
};

struct robustmq_client {
  explicit robustmq_client(robustmq::Options o) : client(std::move(o)) {}
  robustmq::RobustClient client;
  mutable std::mutex mu;  // guards the two fields below
  std::string last_error;
  int last_errno = 0;

  int fail(int code, int err, const char* what) noexcept {
    try {
      std::lock_guard lock(mu);
      last_error = what;
      last_errno = err;
    } catch (...) {
    }
    return code;
  }
};

namespace {

constexpr int kLastErrc = static_cast<int>(errc::large_file_failed);

int code_of(std::error_code ec) noexcept {
  if (!ec) return ROBUSTMQ_OK;
  if (ec.category() == robustmq::error_category()) return ec.value();
  return ROBUSTMQ_ERR_SYSTEM;
}

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

bool in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }

std::string str(const char* s) { return s == nullptr ? std::string() : std::string(s); }

}  // namespace

extern "C" {

const char* robustmq_strerror(int code) {
  // The category's messages are std::strings; keep one static copy of each.
  struct Table {
    std::string errc_messages[kLastErrc + 1];
    Table() {
      for (int i = 0; i <= kLastErrc; ++i)
        errc_messages[i] = robustmq::error_category().message(i);
    }
  };
  try {
    static const Table table;
    if (code >= 0 && code <= kLastErrc) return table.errc_messages[code].c_str();
  } catch (...) {
    return "out of memory";
  }
  switch (code) {
    case ROBUSTMQ_ERR_INVALID_ARGUMENT:
      return "invalid argument: a NULL pointer, an enum value out of range or a number outside "
             "the option's range was passed";
    case ROBUSTMQ_ERR_NO_MEMORY: return "out of memory";
    case ROBUSTMQ_ERR_SYSTEM:
      return "the operation failed: robustmq_last_error() on the client says why and what to do";
    default: return "unknown robustmq error";
  }
}

const char* robustmq_version(void) { return ROBUSTMQ_VERSION; }

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

robustmq_client* robustmq_client_new(const robustmq_options* options) {
  if (options == nullptr) return nullptr;
  try {
    return new robustmq_client(options->o);
  } catch (...) {
    return nullptr;
  }
}

void robustmq_client_free(robustmq_client* client) {
  if (client == nullptr) return;
  try {
    client->client.stop();
  } catch (...) {
    // The destructor's stop() is then a no-op or fails the same way; nothing to report to.
  }
  delete client;
}

int robustmq_connect_async(robustmq_client* client, const char* host, int port) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  if (host == nullptr)
    return client->fail(ROBUSTMQ_ERR_INVALID_ARGUMENT, EINVAL, "robustmq_connect_async(): host is NULL");
  try {
    client->client.connect_async(host, port);
    return ROBUSTMQ_OK;
  } catch (const std::system_error& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, e.code().value(), e.what());
  } catch (const std::bad_alloc&) {
    return client->fail(ROBUSTMQ_ERR_NO_MEMORY, ENOMEM, "out of memory");
  } catch (const std::exception& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, e.what());
  } catch (...) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, "robustmq_connect_async(): unknown failure");
  }
}

int robustmq_publish(robustmq_client* client, const char* topic, const void* payload, size_t len,
                     int qos, int retain) {
  if (client == nullptr || topic == nullptr || (payload == nullptr && len != 0))
    return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  try {
    const std::string_view body =
        len == 0 ? std::string_view() : std::string_view(static_cast<const char*>(payload), len);
    return code_of(client->client.publish(topic, body, qos, retain != 0));
  } catch (const std::bad_alloc&) {
    return ROBUSTMQ_ERR_NO_MEMORY;
  } catch (const std::exception& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, e.what());
  } catch (...) {
    return ROBUSTMQ_ERR_SYSTEM;
  }
}

int robustmq_flush(robustmq_client* client, int64_t timeout_ms) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  try {
    return code_of(client->client.flush(std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms)));
  } catch (const std::exception& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, e.what());
  } catch (...) {
    return ROBUSTMQ_ERR_SYSTEM;
  }
}

int robustmq_stats(const robustmq_client* client, struct robustmq_stats* out) {
  if (client == nullptr || out == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  std::memset(out, 0, sizeof *out);
  try {
    const robustmq::Stats s = client->client.stats();
    out->state = static_cast<int>(s.state);
    out->worker_pid = s.worker_pid;
    out->published = s.published;
    out->sent = s.sent;
    out->acknowledged = s.acknowledged;
    out->cached = s.cached;
    out->dropped_invalid = s.dropped_invalid;
    out->dropped_expired = s.dropped_expired;
    out->dropped_overflow = s.dropped_overflow;
    out->queue_full = s.queue_full;
    out->connect_attempts = s.connect_attempts;
    out->reconnects = s.reconnects;
    out->worker_restarts = s.worker_restarts;
    out->ring_backlog = s.ring_backlog;
    out->cache_backlog = s.cache_backlog;
    out->cache_backlog_bytes = s.cache_backlog_bytes;
    out->oldest_age_s = s.oldest_age.count();
    if (s.last_error_time.time_since_epoch().count() != 0)
      out->last_error_time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    s.last_error_time.time_since_epoch())
                                    .count();
    const std::size_t n = std::min(s.last_error.size(), sizeof out->last_error - 1);
    std::memcpy(out->last_error, s.last_error.data(), n);
    out->last_error[n] = '\0';
    const std::size_t m = std::min(s.cache_error.size(), sizeof out->cache_error - 1);
    std::memcpy(out->cache_error, s.cache_error.data(), m);
    out->cache_error[m] = '\0';
    return ROBUSTMQ_OK;
  } catch (const std::bad_alloc&) {
    return ROBUSTMQ_ERR_NO_MEMORY;
  } catch (...) {
    return ROBUSTMQ_ERR_SYSTEM;
  }
}

const char* robustmq_state_name(int state) {
  if (!in_range(state, ROBUSTMQ_STATE_IDLE, ROBUSTMQ_STATE_STOPPED)) return "unknown";
  static_assert(static_cast<int>(robustmq::ConnectionState::stopped) == ROBUSTMQ_STATE_STOPPED &&
                static_cast<int>(robustmq::ConnectionState::connected) ==
                    ROBUSTMQ_STATE_CONNECTED);
  // to_string() returns views of string literals, so .data() is NUL-terminated.
  return robustmq::to_string(static_cast<robustmq::ConnectionState>(state)).data();
}

int robustmq_stop(robustmq_client* client) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  try {
    client->client.stop();
    return ROBUSTMQ_OK;
  } catch (const std::system_error& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, e.code().value(), e.what());
  } catch (const std::exception& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, e.what());
  } catch (...) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, "robustmq_stop(): unknown failure");
  }
}

size_t robustmq_last_error(const robustmq_client* client, char* buf, size_t size) {
  if (buf != nullptr && size > 0) buf[0] = '\0';
  if (client == nullptr) return 0;
  std::lock_guard lock(client->mu);
  const std::size_t n = client->last_error.size();
  if (buf != nullptr && size > 0) {
    const std::size_t m = std::min(n, size - 1);
    std::memcpy(buf, client->last_error.data(), m);
    buf[m] = '\0';
  }
  return n;
}

int robustmq_last_errno(const robustmq_client* client) {
  if (client == nullptr) return 0;
  std::lock_guard lock(client->mu);
  return client->last_errno;
}

}  // extern "C"
