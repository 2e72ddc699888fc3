/* RobustMQ C API: store-and-forward MQTT publishing for C programs.
 * (One header for the core API, a little over the project's 450 lines: its parts are one
 * client's life in order; the servers/proxy, credentials, metrics and log setters live in
 * robustmq_servers.h, robustmq_credentials.h, robustmq_metrics.h and robustmq_log.h.)
 *
 *   robustmq_options* o = robustmq_options_new();
 *   robustmq_options_set_client_id(o, "sensor-7");
 *   robustmq_options_set_cache_path(o, "/var/cache/sensor");
 *   robustmq_client* c = robustmq_client_new(o);
 *   robustmq_options_free(o);                     // the client keeps a copy
 *   if (robustmq_connect_async(c, "broker.local", 1883) != ROBUSTMQ_OK) {
 *     char why[512];
 *     robustmq_last_error(c, why, sizeof why);    // says what to do
 *   }
 *   int rc = robustmq_publish(c, "dt/temp", "21.5", 4, 1, 0);
 *   if (rc != ROBUSTMQ_OK) fprintf(stderr, "%s\n", robustmq_strerror(rc));
 *   robustmq_client_free(c);                      // stops: what is queued waits on disk
 *
 * A thin layer over robustmq::RobustClient (client.hpp): the same worker process, the same
 * guarantees (every message whose robustmq_publish() returned ROBUSTMQ_OK reaches the broker at
 * least once, in order, across crashes of this program or of the worker). No C++ exception and
 * no C++ type crosses this interface; every function reports failure through its return value.
 *
 * Return values: functions returning int return ROBUSTMQ_OK (0) or a value of
 * enum robustmq_error. Values 1..99 are exactly robustmq::errc; values from 100 up are C-only.
 *
 * Structs across the interface are versioned. The options and the client are opaque (set and
 * read through functions); the structs the library fills, struct robustmq_stats and struct
 * robustmq_dropped_range, only ever gain fields at their end, and every call that fills one is
 * told the size of the caller's struct: robustmq_stats(c, &s) is a macro that passes sizeof s. The library writes that many bytes and
 * nothing after them. So a program built against an older header, whose struct is shorter, gets
 * the fields it knows and keeps the memory after its struct; one built against a newer header
 * than the library it runs with reads 0 in the fields this library does not know. A struct added
 * later follows the same rule, with a size from the caller whether the library fills it or reads
 * it (then the fields past that size take their defaults).
 *
 * Thread safety, in general: an options object may be used by one thread at a time. A client's
 * robustmq_publish/flush/stats/stop/last_error and the callback setters may be called from many
 * threads at once (callbacks run on a thread of the library: robustmq_set_delivered_callback());
 * robustmq_connect_async once, before publishing; robustmq_client_free once, when no other call
 * on the client is running or will start. Link with -lrobustmq (pkg-config robustmq). */
#ifndef ROBUSTMQ_ROBUSTMQ_H
#define ROBUSTMQ_ROBUSTMQ_H

#include <stddef.h>
#include <stdint.h>

/* The library is built with hidden visibility; the public functions are exported with this
 * (the same definition as in errc.hpp). */
#ifndef ROBUSTMQ_EXPORT
#define ROBUSTMQ_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* --- errors ----------------------------------------------------------------------------- */

enum robustmq_error {
  ROBUSTMQ_OK = 0,
  /* robustmq_publish(): the message was refused, nothing was queued. */
  ROBUSTMQ_ERR_TOPIC_EMPTY = 1,         /* MQTT forbids a zero-length topic name */
  ROBUSTMQ_ERR_TOPIC_WILDCARD = 2,      /* '+' or '#' are for subscriptions only */
  ROBUSTMQ_ERR_TOPIC_TOO_LONG = 3,      /* over 65535 bytes */
  ROBUSTMQ_ERR_TOPIC_INVALID_UTF8 = 4,  /* not well-formed UTF-8 */
  ROBUSTMQ_ERR_TOPIC_CONTAINS_NUL = 5,  /* (cannot happen through a NUL-terminated topic) */
  ROBUSTMQ_ERR_INVALID_QOS = 6,         /* QoS outside 0..2 */
  ROBUSTMQ_ERR_PAYLOAD_TOO_LARGE = 7,   /* the topic is too long for even a reference record */
  ROBUSTMQ_ERR_QUEUE_FULL = 8,          /* no room in the ring within publish_wait_ms */
  ROBUSTMQ_ERR_NOT_CONNECTED = 9,       /* publish/flush before robustmq_connect_async() */
  ROBUSTMQ_ERR_STOPPED = 10,            /* publish/flush after robustmq_stop() */
  ROBUSTMQ_ERR_FORKED_CHILD = 11,       /* called in a fork() child of the connecting process */
  ROBUSTMQ_ERR_FLUSH_TIMEOUT = 12,      /* robustmq_flush(): not all done in time */
  ROBUSTMQ_ERR_WORKER_UNAVAILABLE = 13, /* the worker could not be (re)started */
  ROBUSTMQ_ERR_PAYLOAD_OVER_MQTT_LIMIT = 14,  /* a PUBLISH packet over 268,435,455 bytes */
  ROBUSTMQ_ERR_PAYLOAD_OVER_CACHE_LIMIT = 15, /* payload larger than max_cache_bytes */
  ROBUSTMQ_ERR_LARGE_FILE_FAILED = 16,  /* a large payload's file could not be written */
  ROBUSTMQ_ERR_DELIVERY_TIMEOUT = 17,   /* robustmq_wait_delivered(): not all delivered in time */
  ROBUSTMQ_ERR_UNKNOWN_SEQUENCE = 18,   /* a sequence number not given out by publish */
  ROBUSTMQ_ERR_RESEND_TIMEOUT = 19,     /* robustmq_resend_dead_letters(): not done in time */
  /* C API only. */
  ROBUSTMQ_ERR_INVALID_ARGUMENT = 100,  /* a NULL pointer or an out-of-range enum value */
  ROBUSTMQ_ERR_NO_MEMORY = 101,
  ROBUSTMQ_ERR_SYSTEM = 102 /* robustmq_connect_async() failed (cache directory, lock, worker,
                               an invalid option): robustmq_last_error() says why and
                               robustmq_last_errno() gives the errno value */
};

/* A message for any code this library returns: what happened and what to do. Never NULL; the
 * string is static. Unknown codes get "unknown robustmq error". Thread safety: any thread. */
ROBUSTMQ_EXPORT const char* robustmq_strerror(int code);

/* The library's version, e.g. "0.1.0". Static string. */
ROBUSTMQ_EXPORT const char* robustmq_version(void);

/* --- options ---------------------------------------------------------------------------- */

/* The counterparts of robustmq::CacheType, Durability, OverflowPolicy, MqttVersion, LogLevel. */
enum robustmq_cache_type { ROBUSTMQ_CACHE_SQLITE = 0, ROBUSTMQ_CACHE_FILE = 1 };
enum robustmq_durability { ROBUSTMQ_DURABILITY_ON_TROUBLE = 0, ROBUSTMQ_DURABILITY_JOURNAL = 1 };
enum robustmq_overflow { ROBUSTMQ_OVERFLOW_DROP_OLDEST = 0, ROBUSTMQ_OVERFLOW_REJECT_NEW = 1 };
enum robustmq_mqtt_version { ROBUSTMQ_MQTT_3_1_1 = 4, ROBUSTMQ_MQTT_5 = 5 };
enum robustmq_log_level {
  ROBUSTMQ_LOG_DEBUG = 0,
  ROBUSTMQ_LOG_INFO = 1,
  ROBUSTMQ_LOG_WARNING = 2,
  ROBUSTMQ_LOG_ERROR = 3
};

typedef struct robustmq_options robustmq_options;

/* A new options object with the defaults of robustmq::Options (client.hpp documents each one);
 * NULL when out of memory. Free it with robustmq_options_free(). */
ROBUSTMQ_EXPORT robustmq_options* robustmq_options_new(void);
/* Frees; NULL is ignored. */
ROBUSTMQ_EXPORT void robustmq_options_free(robustmq_options* options);

/* Setters. Each returns ROBUSTMQ_OK, ROBUSTMQ_ERR_INVALID_ARGUMENT (options or a string is
 * NULL, an enum value is unknown, a number is outside the option's range) or
 * ROBUSTMQ_ERR_NO_MEMORY. Strings are copied. The ranges: cache_timeout_ms >= 1,
 * message_ttl_s >= 0, max_inflight 1..65535, keepalive_s 0..65535, connect_timeout_s >= 1,
 * reconnect 1 <= min_ms <= max_ms, will qos 0..2; publish_wait_ms and stop_timeout_ms >= 0.
 * What depends on other options or on the system (a will topic, TLS files, content type, user
 * properties and dedup_property without MQTT 5) is checked by robustmq_connect_async(), which
 * names the option in robustmq_last_error(). */
ROBUSTMQ_EXPORT int robustmq_options_set_client_id(robustmq_options* o, const char* client_id);
ROBUSTMQ_EXPORT int robustmq_options_set_cache_type(robustmq_options* o, int cache_type);
ROBUSTMQ_EXPORT int robustmq_options_set_cache_path(robustmq_options* o, const char* dir);
ROBUSTMQ_EXPORT int robustmq_options_set_durability(robustmq_options* o, int durability);
ROBUSTMQ_EXPORT int robustmq_options_set_cache_timeout_ms(robustmq_options* o, int64_t ms);
ROBUSTMQ_EXPORT int robustmq_options_set_queue_cache_threshold(robustmq_options* o, size_t n);
ROBUSTMQ_EXPORT int robustmq_options_set_cache_sync(robustmq_options* o, int on);
ROBUSTMQ_EXPORT int robustmq_options_set_max_cache_bytes(robustmq_options* o, uint64_t bytes);
ROBUSTMQ_EXPORT int robustmq_options_set_overflow(robustmq_options* o, int overflow);
ROBUSTMQ_EXPORT int robustmq_options_set_message_ttl_s(robustmq_options* o, int64_t seconds);
/* The bound of the dead-letter store (default 16 MiB); 0: refused messages are not kept. */
ROBUSTMQ_EXPORT int robustmq_options_set_dead_letter_bytes(robustmq_options* o, uint64_t bytes);
ROBUSTMQ_EXPORT int robustmq_options_set_ring_bytes(robustmq_options* o, size_t bytes);
/* Payloads above this go to a file in the cache directory; 0: ring_bytes / 8. */
ROBUSTMQ_EXPORT int robustmq_options_set_large_message_bytes(robustmq_options* o, size_t bytes);
ROBUSTMQ_EXPORT int robustmq_options_set_publish_wait_ms(robustmq_options* o, int64_t ms);
ROBUSTMQ_EXPORT int robustmq_options_set_max_inflight(robustmq_options* o, size_t n);
/* Paced drains: at most this many messages (0..1000000) and topic + payload bytes
 * (0..10^12) per second from the disk cache after an outage; 0: unlimited. Messages published
 * meanwhile wait behind the backlog (README "Options", drain_rate). */
ROBUSTMQ_EXPORT int robustmq_options_set_drain_rate(robustmq_options* o,
                                                    uint64_t messages_per_second,
                                                    uint64_t bytes_per_second);
ROBUSTMQ_EXPORT int robustmq_options_set_mqtt_version(robustmq_options* o, int version);
ROBUSTMQ_EXPORT int robustmq_options_set_keepalive_s(robustmq_options* o, int64_t seconds);
ROBUSTMQ_EXPORT int robustmq_options_set_connect_timeout_s(robustmq_options* o, int64_t seconds);
ROBUSTMQ_EXPORT int robustmq_options_set_reconnect_ms(robustmq_options* o, int64_t min_ms,
                                                      int64_t max_ms);
ROBUSTMQ_EXPORT int robustmq_options_set_clean_session(robustmq_options* o, int on);
/* username may be "" (none). The password is handed to the worker over a socket, never argv,
 * environment or disk; this object keeps a copy until robustmq_options_free(). */
ROBUSTMQ_EXPORT int robustmq_options_set_credentials(robustmq_options* o, const char* username,
                                                     const char* password);
/* TLS: enabled switches to ssl://; verify=0 accepts any broker certificate (tests only). Any
 * of the paths may be NULL or "" (unset); the files must be readable at connect time. */
ROBUSTMQ_EXPORT int robustmq_options_set_tls(robustmq_options* o, int enabled, int verify);
ROBUSTMQ_EXPORT int robustmq_options_set_tls_files(robustmq_options* o, const char* ca_file,
                                                   const char* ca_path, const char* cert_file,
                                                   const char* key_file,
                                                   const char* key_password);
/* Last will; topic NULL or "" removes it. */
ROBUSTMQ_EXPORT int robustmq_options_set_will(robustmq_options* o, const char* topic,
                                              const void* payload, size_t len, int qos,
                                              int retain);
ROBUSTMQ_EXPORT int robustmq_options_set_log_level(robustmq_options* o, int level);
/* 1: the worker logs to syslog; 0: to this program's stderr. */
ROBUSTMQ_EXPORT int robustmq_options_set_log_to_syslog(robustmq_options* o, int on);
/* The robustmq-worker executable; NULL or "": $ROBUSTMQ_WORKER, else the one the library was
 * built for (installed in libexecdir, or the build tree's when RobustMQ is a Meson subproject). */
ROBUSTMQ_EXPORT int robustmq_options_set_worker_path(robustmq_options* o, const char* path);
/* How long robustmq_stop() waits for the worker to put the ring on disk (default 10000 ms). */
ROBUSTMQ_EXPORT int robustmq_options_set_stop_timeout_ms(robustmq_options* o, int64_t ms);
/* How long robustmq_connect_async() (and a restart of a dead worker) waits for a new worker to
 * report ready (default 15000 ms, at least 1). A worker that reports later exits unused. */
ROBUSTMQ_EXPORT int robustmq_options_set_worker_start_timeout_ms(robustmq_options* o,
                                                                int64_t ms);
/* After the application died or handed off (robustmq_stop_mode ROBUSTMQ_STOP_HAND_OFF): how
 * long its worker goes on delivering before it commits what is left to the cache and exits.
 * Negative (the default): until everything is delivered. */
ROBUSTMQ_EXPORT int robustmq_options_set_orphan_linger_ms(robustmq_options* o, int64_t ms);
/* How long robustmq_connect_async() waits for such a worker of an earlier life to hand over
 * before it kills it (default 5000 ms, at least 1). */
ROBUSTMQ_EXPORT int robustmq_options_set_takeover_timeout_ms(robustmq_options* o, int64_t ms);
/* MQTT 5 (robustmq_options_set_mqtt_version 5): the content type of every message; NULL or "":
 * none. */
ROBUSTMQ_EXPORT int robustmq_options_set_content_type(robustmq_options* o, const char* type);
/* MQTT 5: adds a user property (name, value) sent with every message; both UTF-8, not NULL. */
ROBUSTMQ_EXPORT int robustmq_options_add_user_property(robustmq_options* o, const char* name,
                                                       const char* value);
/* MQTT 5: 1 sends every message's producer and sequence number as the user properties
 * robustmq-producer ("<client_id>/<16 hex digits>") and robustmq-seq (decimal), by which a
 * consumer drops duplicates exactly (README "Deduplication for consumers"); 0 (the default):
 * neither. */
ROBUSTMQ_EXPORT int robustmq_options_set_dedup_property(robustmq_options* o, int on);

/* --- the client ------------------------------------------------------------------------- */

typedef struct robustmq_client robustmq_client;

/* A new, unconnected client with a copy of options (which the caller may free at once). NULL if
 * options is NULL or memory ran out. Nothing is started until robustmq_connect_async(). */
ROBUSTMQ_EXPORT robustmq_client* robustmq_client_new(const robustmq_options* options);

/* Stops the client (like robustmq_stop()) and frees it; NULL is ignored. In a fork() child of
 * the connecting process it frees the child's copy only and leaves the parent's worker alone.
 * Thread safety: no other call on this client may run or follow. */
ROBUSTMQ_EXPORT void robustmq_client_free(robustmq_client* client);

/* Creates the cache directory, maps (or adopts) the shared segment and starts the worker, which
 * connects to host:port in the background (an unreachable broker is not an error: messages wait
 * on disk). Messages an earlier client with the same client_id and cache_path left behind are
 * delivered before anything published now.
 * Errors: ROBUSTMQ_ERR_INVALID_ARGUMENT (client or host NULL); ROBUSTMQ_ERR_SYSTEM for
 * everything robustmq::RobustClient::connect_async() throws: an invalid option, a cache
 * directory that cannot be created or is in use by another live client (errno EBUSY), a missing
 * worker, a second call. robustmq_last_error() has the message, robustmq_last_errno() the errno.
 * Thread safety: call once, before any publish, from one thread. */
ROBUSTMQ_EXPORT int robustmq_connect_async(robustmq_client* client, const char* host, int port);

/* Queues one message: topic is NUL-terminated, payload is len bytes (payload may be NULL if len
 * is 0). ROBUSTMQ_OK once the message is in shared memory, from where no crash loses it.
 * A payload above large_message_bytes is first written to a file in the cache directory.
 * Errors: ROBUSTMQ_ERR_TOPIC_*, _INVALID_QOS, _PAYLOAD_TOO_LARGE, _QUEUE_FULL (no room within
 * publish_wait_ms; retry), _NOT_CONNECTED, _STOPPED, _FORKED_CHILD, _INVALID_ARGUMENT (NULL),
 * _PAYLOAD_OVER_CACHE_LIMIT (topic and payload larger than max_cache_bytes); for large payloads
 * _PAYLOAD_OVER_MQTT_LIMIT, _LARGE_FILE_FAILED.
 * Thread safety: any number of threads; each thread's messages keep their order. */
ROBUSTMQ_EXPORT int robustmq_publish(robustmq_client* client, const char* topic,
                                     const void* payload, size_t len, int qos, int retain);

/* robustmq_publish(), and on ROBUSTMQ_OK sets *sequence (if not NULL) to the message's sequence
 * number: from 1, increasing with every accepted message of a client_id and cache_path, across
 * lives of the application (robustmq::RobustClient::publish() explains the gaps a reboot
 * leaves). Thread safety: as robustmq_publish(). */
ROBUSTMQ_EXPORT int robustmq_publish_seq(robustmq_client* client, const char* topic,
                                         const void* payload, size_t len, int qos, int retain,
                                         uint64_t* sequence);

/* The highest sequence number such that every message numbered up to it was delivered
 * (acknowledged by the broker; QoS 0: written to the connection) or dropped by a documented
 * rule (README "Delivery receipts"); earlier lives' messages included. 0: none yet, not
 * connected, or client NULL. Thread safety: any thread. */
ROBUSTMQ_EXPORT uint64_t robustmq_delivered_through(const robustmq_client* client);

/* Waits until every message published before the call is delivered or dropped
 * (robustmq_delivered_through() reached it): ROBUSTMQ_OK; ROBUSTMQ_ERR_DELIVERY_TIMEOUT when
 * timeout_ms passed first (the messages are kept and sent later). Also _NOT_CONNECTED, _STOPPED,
 * _FORKED_CHILD, _INVALID_ARGUMENT. Unlike robustmq_flush(), being on disk is not enough.
 * Thread safety: any thread, any number at once. */
ROBUSTMQ_EXPORT int robustmq_wait_delivered(robustmq_client* client, int64_t timeout_ms);
/* The same, up to the message numbered sequence (and every one before it);
 * ROBUSTMQ_ERR_UNKNOWN_SEQUENCE when no message has that number yet. */
ROBUSTMQ_EXPORT int robustmq_wait_delivered_seq(robustmq_client* client, uint64_t sequence,
                                                int64_t timeout_ms);

/* Returns ROBUSTMQ_OK once every message published before the call is acknowledged by the
 * broker or fsynced to the disk cache; ROBUSTMQ_ERR_FLUSH_TIMEOUT if that took longer than
 * timeout_ms. Also _NOT_CONNECTED, _STOPPED, _FORKED_CHILD, _INVALID_ARGUMENT.
 * Thread safety: any thread. */
ROBUSTMQ_EXPORT int robustmq_flush(robustmq_client* client, int64_t timeout_ms);

/* Moves the dead letters (messages the broker refused for good, kept in the cache directory)
 * back into the disk cache behind every message published before the call, and waits until the
 * worker did: they are sent again with their original sequence numbers. ROBUSTMQ_OK and
 * *moved (if not NULL) the number moved; ROBUSTMQ_ERR_RESEND_TIMEOUT when the worker has not done
 * it within timeout_ms (it still will). Also _NOT_CONNECTED, _STOPPED, _FORKED_CHILD,
 * _INVALID_ARGUMENT. Thread safety: any thread. */
ROBUSTMQ_EXPORT int robustmq_resend_dead_letters(robustmq_client* client, int64_t timeout_ms,
                                                 uint64_t* moved);

enum robustmq_state {
  ROBUSTMQ_STATE_IDLE = 0,
  ROBUSTMQ_STATE_CONNECTING = 1,
  ROBUSTMQ_STATE_CONNECTED = 2,
  ROBUSTMQ_STATE_DISCONNECTED = 3,
  ROBUSTMQ_STATE_STOPPED = 4,
  /* refused for good (bad credentials, not authorized, banned, a certificate that does not
   * verify): retried every reconnect_max, messages kept; last_error says why */
  ROBUSTMQ_STATE_REFUSED = 5
};

/* robustmq::Stats; client.hpp documents each counter. Versioned (see the top of this file):
 * fields are only ever added at the end. */
struct robustmq_stats {
  int state; /* enum robustmq_state */
  int worker_pid;
  uint64_t published;
  uint64_t sent;
  uint64_t acknowledged;
  uint64_t cached;
  uint64_t dropped_invalid;
  uint64_t dropped_expired;
  uint64_t dropped_overflow;
  uint64_t queue_full;
  uint64_t connect_attempts;
  uint64_t reconnects;
  uint64_t worker_restarts;
  uint64_t ring_backlog;
  uint64_t cache_backlog;
  uint64_t cache_backlog_bytes;
  int64_t oldest_age_s;
  int64_t last_error_time_ms; /* Unix time in ms; 0: no error */
  char last_error[256];       /* NUL-terminated, cut to fit; "" if none */
  char cache_error[256];      /* why the disk cache refuses writes now (disk full...); "" if it
                                 works */
  uint64_t worker_wakeups;    /* times the worker woke from its wait for work */
  uint64_t carried_over;      /* messages an earlier life left, counted at connect */
  uint64_t handed_off;        /* messages left to the worker by ROBUSTMQ_STOP_HAND_OFF */
  int took_over_from;         /* pid of the earlier life's worker taken over from; 0: none */
  uint64_t refused;           /* refused by the broker for good (MQTT 5 reason code >= 0x80) */
  uint64_t refused_for_now;   /* refusals meaning "not now" (0x89, 0x91, 0x97): sent again */
  uint64_t dead_letters;      /* messages in the dead-letter store now */
  char server[256];           /* the broker URI in use (or being tried); "" before the first */
};

/* Writes a snapshot of the counters to the first size bytes of *out, the caller's struct
 * robustmq_stats of that size: the first size bytes of this library's struct, then 0 up to size
 * if the caller's struct is longer. Nothing after out + size is written. Call it through
 * robustmq_stats(), which passes the size. ROBUSTMQ_OK, or ROBUSTMQ_ERR_INVALID_ARGUMENT (a NULL
 * pointer); *out is written only on ROBUSTMQ_OK. Works in every state (an unconnected client
 * reports zeros). Thread safety: any thread. */
ROBUSTMQ_EXPORT int robustmq_stats_sized(const robustmq_client* client,
                                         struct robustmq_stats* out, size_t size);

/* The function that programs built against a robustmq.h without robustmq_stats_sized() call:
 * robustmq_stats_sized() with the size their struct had, 648 bytes (up to cache_error). In
 * programs compiled against this header the macro below replaces calls to it. */
ROBUSTMQ_EXPORT int robustmq_stats(const robustmq_client* client, struct robustmq_stats* out);

/* robustmq_stats(client, &s): fills s, a struct robustmq_stats, through robustmq_stats_sized()
 * with sizeof s. */
#define robustmq_stats(client, out) robustmq_stats_sized((client), (out), sizeof *(out))

/* "idle", "connecting", "connected", "disconnected", "stopped" or "unknown". Static string. */
ROBUSTMQ_EXPORT const char* robustmq_state_name(int state);

/* Spools what is queued to disk, disconnects and waits for the worker to exit. Idempotent;
 * afterwards publish returns ROBUSTMQ_ERR_STOPPED. ROBUSTMQ_OK, ROBUSTMQ_ERR_INVALID_ARGUMENT
 * (NULL) or ROBUSTMQ_ERR_SYSTEM (robustmq_last_error() says why).
 * Thread safety: any thread; concurrent publishes get ROBUSTMQ_ERR_STOPPED. */
ROBUSTMQ_EXPORT int robustmq_stop(robustmq_client* client);

/* How robustmq_stop_mode() ends the client (robustmq::StopMode). */
enum robustmq_stop_mode {
  ROBUSTMQ_STOP_SPOOL = 0,    /* robustmq_stop(): commit the ring to disk, wait for the worker */
  ROBUSTMQ_STOP_HAND_OFF = 1  /* return at once; the worker delivers in the background and a
                                 later client takes over from it */
};
/* robustmq_stop() (ROBUSTMQ_STOP_SPOOL) or a hand-off (ROBUSTMQ_STOP_HAND_OFF). Only the first
 * stop of a client counts. ROBUSTMQ_OK, ROBUSTMQ_ERR_INVALID_ARGUMENT (NULL, another mode) or
 * ROBUSTMQ_ERR_SYSTEM. Thread safety: as robustmq_stop(). */
ROBUSTMQ_EXPORT int robustmq_stop_mode(robustmq_client* client, int mode);

/* --- events and the drop journal --------------------------------------------------------- */

/* Why messages left without being delivered (robustmq::DropReason). */
enum robustmq_drop_reason {
  ROBUSTMQ_DROP_EXPIRED = 0,  /* older than message_ttl_s */
  ROBUSTMQ_DROP_OVERFLOW = 1, /* dropped to keep the cache within max_cache_bytes (drop oldest) */
  ROBUSTMQ_DROP_DAMAGED = 2,  /* a damaged record, a large message whose file is gone */
  ROBUSTMQ_DROP_REFUSED = 3,  /* the broker refused it for good (MQTT 5 code in reason_code) */
  ROBUSTMQ_DROP_UNKNOWN = 4   /* its fate is unknown (README "Events") */
};

/* Consecutive sequence numbers dropped for one reason (robustmq::DroppedRange). Versioned (see
 * the top of this file): fields are only ever added at the end. */
struct robustmq_dropped_range {
  uint64_t first;
  uint64_t last;       /* >= first */
  int reason;          /* enum robustmq_drop_reason */
  int reason_code;     /* ROBUSTMQ_DROP_REFUSED: the broker's MQTT 5 reason code; else 0 */
  int64_t time_ms;     /* Unix time in ms when the newest of them was dropped */
};

/* "expired", "overflow", "damaged", "refused", "unknown" (also for values out of range). Static
 * string. */
ROBUSTMQ_EXPORT const char* robustmq_drop_reason_name(int reason);

/* Callbacks (robustmq::RobustClient::set_delivered_handler() and the others). They run on one
 * thread of the library, one at a time and in order, never the worker's, never a signal
 * handler, never in a fork() child; a slow callback delays only later ones. Every sequence
 * number above robustmq_delivered_through() at robustmq_connect_async() is reported once in
 * this life of the program: delivered, or dropped with its reason. A callback set later sees
 * what comes after. robustmq_stop() reports what the worker did before it exited, then
 * ROBUSTMQ_STATE_STOPPED, then no more. A callback must not call robustmq_stop(),
 * robustmq_stop_mode() or robustmq_client_free() on its own client.
 * Each setter replaces the callback and its ctx (NULL clears it; one being replaced may still
 * be running). ROBUSTMQ_OK, ROBUSTMQ_ERR_INVALID_ARGUMENT (client NULL) or
 * ROBUSTMQ_ERR_NO_MEMORY. Thread safety: any thread, before or after connecting. */
typedef void (*robustmq_delivered_callback)(void* ctx, uint64_t first, uint64_t last);
typedef void (*robustmq_dropped_callback)(void* ctx, const struct robustmq_dropped_range* range);
/* state: enum robustmq_state; reason: why (for ROBUSTMQ_STATE_DISCONNECTED the error), "" when
 * there is nothing to say; never NULL, valid during the call only. */
typedef void (*robustmq_connection_callback)(void* ctx, int state, const char* reason);

ROBUSTMQ_EXPORT int robustmq_set_delivered_callback(robustmq_client* client,
                                                    robustmq_delivered_callback callback,
                                                    void* ctx);
/* Through the macro robustmq_set_dropped_callback(), which passes the size of the caller's
 * struct robustmq_dropped_range: the callback gets a struct of that size (its fields past this
 * library's struct 0). */
ROBUSTMQ_EXPORT int robustmq_set_dropped_callback_sized(robustmq_client* client,
                                                        robustmq_dropped_callback callback,
                                                        void* ctx, size_t size);
#define robustmq_set_dropped_callback(client, callback, ctx) \
  robustmq_set_dropped_callback_sized((client), (callback), (ctx), \
                                      sizeof(struct robustmq_dropped_range))
ROBUSTMQ_EXPORT int robustmq_set_connection_callback(robustmq_client* client,
                                                     robustmq_connection_callback callback,
                                                     void* ctx);

/* The most ranges the drop journal holds (README "Drop journal"). */
#define ROBUSTMQ_DROP_JOURNAL_RECORDS 4096

/* Reads the drop journal of the client's cache directory (robustmq::RobustClient::
 * drop_journal()): the newest drops of this and earlier lives, oldest first. Works before
 * robustmq_connect_async() (then the options' cache path) and after robustmq_stop(). Writes the
 * first min(capacity, *count) ranges to out and sets *count to how many the journal holds, like
 * snprintf: *count > capacity means out was cut (capacity ROBUSTMQ_DROP_JOURNAL_RECORDS is
 * always enough; capacity 0 with out NULL asks for the count). Call it through the macro
 * robustmq_read_drop_journal(), which passes the size of the caller's struct
 * robustmq_dropped_range (each element is written with that size, as robustmq_stats() does).
 * ROBUSTMQ_OK (a journal that does not exist yet: *count 0); ROBUSTMQ_ERR_INVALID_ARGUMENT
 * (client or count NULL, out NULL with capacity > 0); ROBUSTMQ_ERR_SYSTEM (the file exists but
 * cannot be read: robustmq_last_error() names it). Thread safety: any thread. */
ROBUSTMQ_EXPORT int robustmq_read_drop_journal_sized(robustmq_client* client,
                                                     struct robustmq_dropped_range* out,
                                                     size_t capacity, size_t* count,
                                                     size_t size);
#define robustmq_read_drop_journal(client, out, capacity, count) \
  robustmq_read_drop_journal_sized((client), (out), (capacity), (count), \
                                   sizeof(struct robustmq_dropped_range))

/* Copies the message of the last ROBUSTMQ_ERR_SYSTEM or _NO_MEMORY this client returned into
 * buf (NUL-terminated, cut to size; "" if there was none) and returns the message's full length
 * (like snprintf: a result >= size means it was cut). buf may be NULL if size is 0.
 * Thread safety: any thread; it reports the most recent such failure of any thread. */
ROBUSTMQ_EXPORT size_t robustmq_last_error(const robustmq_client* client, char* buf, size_t size);
/* The errno value (EBUSY, ENOENT, EINVAL, ...) of the last ROBUSTMQ_ERR_SYSTEM; 0 if none. */
ROBUSTMQ_EXPORT int robustmq_last_errno(const robustmq_client* client);

#ifdef __cplusplus
}
#endif

/* Several brokers, WebSockets and proxies; credentials that outlive an outage; the log. */
#include "robustmq_servers.h"
#include "robustmq_credentials.h"
#include "robustmq_metrics.h"
#include "robustmq_log.h"

#endif /* ROBUSTMQ_ROBUSTMQ_H */
