// The C API (robustmq.h) over RobustClient: the client functions, stats, error messages and
// robustmq_strerror(); the options setters are in c_options.cpp. Every entry point is noexcept
// and catches everything: no C++ exception may unwind into a C caller.
#include "robustmq/robustmq.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include "lib/c_client.hpp"
#include "lib/c_options.hpp"
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
ROBUSTMQ_SAME(ROBUSTMQ_ERR_DELIVERY_TIMEOUT, delivery_timeout);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_UNKNOWN_SEQUENCE, unknown_sequence);
ROBUSTMQ_SAME(ROBUSTMQ_ERR_RESEND_TIMEOUT, resend_timeout);
#undef ROBUSTMQ_SAME
static_assert(static_cast<int>(errc::resend_timeout) < ROBUSTMQ_ERR_INVALID_ARGUMENT);

namespace {

constexpr int kLastErrc = static_cast<int>(errc::resend_timeout);

int code_of(std::error_code ec) noexcept {
  if (!ec) return ROBUSTMQ_OK;
  if (ec.category() == robustmq::error_category()) return ec.value();
  return ROBUSTMQ_ERR_SYSTEM;
}

bool in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }

// What the function robustmq_stats() fills: struct robustmq_stats as it was before
// robustmq_stats_sized(), up to cache_error. The header's comment names the number.
constexpr std::size_t kUnsizedStatsBytes =
    offsetof(struct robustmq_stats, cache_error) + sizeof(robustmq_stats::cache_error);
static_assert(kUnsizedStatsBytes == 648);

template <std::size_t N>
void copy_cut(char (&to)[N], const std::string& from) {
  const std::size_t n = std::min(from.size(), N - 1);
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}

void fill_stats(struct robustmq_stats& out, const robustmq::Stats& s) {
  out.state = static_cast<int>(s.state);
  out.worker_pid = s.worker_pid;
  out.published = s.published;
  out.sent = s.sent;
  out.acknowledged = s.acknowledged;
  out.cached = s.cached;
  out.dropped_invalid = s.dropped_invalid;
  out.dropped_expired = s.dropped_expired;
  out.dropped_overflow = s.dropped_overflow;
  out.queue_full = s.queue_full;
  out.connect_attempts = s.connect_attempts;
  out.reconnects = s.reconnects;
  out.worker_restarts = s.worker_restarts;
  out.ring_backlog = s.ring_backlog;
  out.cache_backlog = s.cache_backlog;
  out.cache_backlog_bytes = s.cache_backlog_bytes;
  out.oldest_age_s = s.oldest_age.count();
  if (s.last_error_time.time_since_epoch().count() != 0)
    out.last_error_time_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(s.last_error_time.time_since_epoch())
            .count();
  copy_cut(out.last_error, s.last_error);
  copy_cut(out.cache_error, s.cache_error);
  out.worker_wakeups = s.worker_wakeups;
  out.carried_over = s.carried_over;
  out.handed_off = s.handed_off;
  out.took_over_from = s.took_over_from;
  out.refused = s.refused;
  out.refused_for_now = s.refused_for_now;
  out.dead_letters = s.dead_letters;
  copy_cut(out.server, s.server);
}

void fill_range(struct robustmq_dropped_range& out, const robustmq::DroppedRange& r) {
  out.first = r.first;
  out.last = r.last;
  out.reason = static_cast<int>(r.reason);
  out.reason_code = r.reason_code;
  out.time_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(r.time.time_since_epoch()).count();
}

// Copies `full` into the caller's struct of `size` bytes (versioned structs, robustmq.h): cut
// to it, or followed by zeros up to it.
void copy_sized(void* out, const void* full, std::size_t full_size, std::size_t size) {
  std::memcpy(out, full, std::min(size, full_size));
  if (size > full_size) std::memset(static_cast<unsigned char*>(out) + full_size, 0, size - full_size);
}


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
  return guarded(client, "robustmq_connect_async()",
                 [&] { client->client.connect_async(host, port); });
}

int robustmq_connect_async_servers(robustmq_client* client) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  return guarded(client, "robustmq_connect_async_servers()",
                 [&] { client->client.connect_async(); });
}

int robustmq_publish(robustmq_client* client, const char* topic, const void* payload, size_t len,
                     int qos, int retain) {
  return robustmq_publish_seq(client, topic, payload, len, qos, retain, nullptr);
}

int robustmq_publish_seq(robustmq_client* client, const char* topic, const void* payload,
                         size_t len, int qos, int retain, uint64_t* sequence) {
  if (client == nullptr || topic == nullptr || (payload == nullptr && len != 0))
    return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  try {
    const std::string_view body =
        len == 0 ? std::string_view() : std::string_view(static_cast<const char*>(payload), len);
    if (sequence == nullptr) return code_of(client->client.publish(topic, body, qos, retain != 0));
    std::uint64_t seq = 0;
    const int rc = code_of(client->client.publish(topic, body, qos, retain != 0, seq));
    if (rc == ROBUSTMQ_OK) *sequence = seq;
    return rc;
  } catch (const std::bad_alloc&) {
    return ROBUSTMQ_ERR_NO_MEMORY;
  } catch (const std::exception& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, e.what());
  } catch (...) {
    return ROBUSTMQ_ERR_SYSTEM;
  }
}

uint64_t robustmq_delivered_through(const robustmq_client* client) {
  if (client == nullptr) return 0;
  try {
    return client->client.delivered_through();
  } catch (...) {
    return 0;
  }
}

int robustmq_wait_delivered(robustmq_client* client, int64_t timeout_ms) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  try {
    return code_of(client->client.wait_delivered(std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0))));
  } catch (const std::exception& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, e.what());
  } catch (...) {
    return ROBUSTMQ_ERR_SYSTEM;
  }
}

int robustmq_wait_delivered_seq(robustmq_client* client, uint64_t sequence, int64_t timeout_ms) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  try {
    return code_of(client->client.wait_delivered(
        sequence, std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0))));
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

int robustmq_resend_dead_letters(robustmq_client* client, int64_t timeout_ms, uint64_t* moved) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  try {
    std::uint64_t n = 0;
    const int rc = code_of(client->client.resend_dead_letters(
        std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0)), n));
    if (rc == ROBUSTMQ_OK && moved != nullptr) *moved = n;
    return rc;
  } catch (const std::exception& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, e.what());
  } catch (...) {
    return ROBUSTMQ_ERR_SYSTEM;
  }
}

int robustmq_stats_sized(const robustmq_client* client, struct robustmq_stats* out, size_t size) {
  if (client == nullptr || out == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  struct robustmq_stats full {};
  try {
    fill_stats(full, client->client.stats());
  } catch (const std::bad_alloc&) {
    return ROBUSTMQ_ERR_NO_MEMORY;
  } catch (...) {
    return ROBUSTMQ_ERR_SYSTEM;
  }
  // The caller's struct is size bytes: shorter than ours (an older header), or longer (a newer
  // one), whose fields this library does not know.
  copy_sized(out, &full, sizeof full, size);
  return ROBUSTMQ_OK;
}

int (robustmq_stats)(const robustmq_client* client, struct robustmq_stats* out) {
  return robustmq_stats_sized(client, out, kUnsizedStatsBytes);
}

const char* robustmq_state_name(int state) {
  if (!in_range(state, ROBUSTMQ_STATE_IDLE, ROBUSTMQ_STATE_REFUSED)) return "unknown";
  static_assert(static_cast<int>(robustmq::ConnectionState::stopped) == ROBUSTMQ_STATE_STOPPED &&
                static_cast<int>(robustmq::ConnectionState::connected) ==
                    ROBUSTMQ_STATE_CONNECTED &&
                static_cast<int>(robustmq::ConnectionState::refused) == ROBUSTMQ_STATE_REFUSED);
  // to_string() returns views of string literals, so .data() is NUL-terminated.
  return robustmq::to_string(static_cast<robustmq::ConnectionState>(state)).data();
}

int robustmq_stop(robustmq_client* client) { return robustmq_stop_mode(client, ROBUSTMQ_STOP_SPOOL); }

int robustmq_stop_mode(robustmq_client* client, int mode) {
  if (client == nullptr || (mode != ROBUSTMQ_STOP_SPOOL && mode != ROBUSTMQ_STOP_HAND_OFF))
    return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  return guarded(client, "robustmq_stop()", [&] {
    client->client.stop(mode == ROBUSTMQ_STOP_HAND_OFF ? robustmq::StopMode::hand_off
                                                       : robustmq::StopMode::spool);
  });
}

const char* robustmq_drop_reason_name(int reason) {
  static_assert(static_cast<int>(robustmq::DropReason::expired) == ROBUSTMQ_DROP_EXPIRED &&
                static_cast<int>(robustmq::DropReason::overflow) == ROBUSTMQ_DROP_OVERFLOW &&
                static_cast<int>(robustmq::DropReason::damaged) == ROBUSTMQ_DROP_DAMAGED &&
                static_cast<int>(robustmq::DropReason::refused) == ROBUSTMQ_DROP_REFUSED &&
                static_cast<int>(robustmq::DropReason::unknown) == ROBUSTMQ_DROP_UNKNOWN);
  if (!in_range(reason, ROBUSTMQ_DROP_EXPIRED, ROBUSTMQ_DROP_UNKNOWN)) return "unknown";
  // Views of string literals: NUL-terminated.
  return robustmq::to_string(static_cast<robustmq::DropReason>(reason)).data();
}

int robustmq_set_delivered_callback(robustmq_client* client, robustmq_delivered_callback callback,
                                    void* ctx) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  return guarded(client, "robustmq_set_delivered_callback()", [&] {
    if (callback == nullptr) return client->client.set_delivered_handler(nullptr);
    client->client.set_delivered_handler(
        [callback, ctx](std::uint64_t first, std::uint64_t last) { callback(ctx, first, last); });
  });
}

int robustmq_set_dropped_callback_sized(robustmq_client* client,
                                        robustmq_dropped_callback callback, void* ctx,
                                        size_t size) {
  if (client == nullptr || size == 0) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  return guarded(client, "robustmq_set_dropped_callback()", [&] {
    if (callback == nullptr) return client->client.set_dropped_handler(nullptr);
    client->client.set_dropped_handler([callback, ctx, size](const robustmq::DroppedRange& r) {
      struct robustmq_dropped_range full {};
      fill_range(full, r);
      if (size <= sizeof full) return callback(ctx, &full);
      // A caller built against a newer header: its struct, with the fields we do not know 0.
      std::vector<unsigned char> bigger(size);
      copy_sized(bigger.data(), &full, sizeof full, size);
      callback(ctx, reinterpret_cast<const struct robustmq_dropped_range*>(bigger.data()));
    });
  });
}

int robustmq_set_connection_callback(robustmq_client* client,
                                     robustmq_connection_callback callback, void* ctx) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  return guarded(client, "robustmq_set_connection_callback()", [&] {
    if (callback == nullptr) return client->client.set_connection_handler(nullptr);
    client->client.set_connection_handler(
        [callback, ctx](robustmq::ConnectionState state, std::string_view reason) {
          const std::string text(reason);  // NUL-terminated
          callback(ctx, static_cast<int>(state), text.c_str());
        });
  });
}

int robustmq_read_drop_journal_sized(robustmq_client* client, struct robustmq_dropped_range* out,
                                     size_t capacity, size_t* count, size_t size) {
  if (client == nullptr || count == nullptr || (out == nullptr && capacity > 0) || size == 0)
    return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  std::vector<robustmq::DroppedRange> ranges;
  if (const int rc = guarded(client, "robustmq_read_drop_journal()",
                               [&] { ranges = client->client.drop_journal(); }); rc != 0)
    return rc;
  auto* bytes = reinterpret_cast<unsigned char*>(out);
  for (std::size_t i = 0; i < std::min(capacity, ranges.size()); ++i) {
    struct robustmq_dropped_range full {};
    fill_range(full, ranges[i]);
    copy_sized(bytes + i * size, &full, sizeof full, size);
  }
  *count = ranges.size();
  return ROBUSTMQ_OK;
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
