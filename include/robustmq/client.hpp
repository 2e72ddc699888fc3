// RobustMQ: store-and-forward MQTT publishing that survives crashes, outages and power cuts.
//
//   robustmq::RobustClient client("sensor-7", robustmq::CacheType::sqlite, "/var/cache/sensor");
//   client.connect_async("broker.local", 1883);
//   if (auto ec = client.publish("dt/temp", "21.5", 1)) { /* ec.message() says why */ }
//   client.stop();
//
// connect_async() starts a worker process (robustmq-worker) that shares a message ring with this
// process in POSIX shared memory. publish() copies the message into the ring and returns; the
// worker publishes it through Paho MQTT C and, while the broker is slow or away, keeps it in a
// disk cache (SQLite or a raw-file log) and sends it later, oldest first.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <robustmq/errc.hpp>
#include <robustmq/stats.hpp>

namespace robustmq {

// The Python library's "sq3" and "pickle".
enum class CacheType { sqlite, file };

// When the worker writes messages to the disk cache. (std::uint8_t: the worker's configuration
// holds this very type.)
enum class Durability : std::uint8_t {
  on_trouble,  // only when the broker is slow or away, a backlog fills half the ring, on flush()
               // and stop()
  journal,     // every message is committed to the cache before it is sent (group commit)
};

// What the cache does when Options::max_cache_bytes is reached.
enum class OverflowPolicy {
  drop_oldest,  // make room by dropping the oldest cached messages (counted, logged)
  reject_new,   // keep the cache as it is; new messages wait in the ring (publish() then
                // reports queue_full once the ring is full too)
};

enum class MqttVersion { v3_1_1, v5 };

enum class LogLevel { debug, info, warning, error };

struct TlsOptions {
  bool enabled = false;             // ssl:// instead of tcp://
  std::filesystem::path ca_file;    // PEM bundle of trusted CAs; empty: the system's
  std::filesystem::path ca_path;    // a directory of hashed CA certificates
  std::filesystem::path cert_file;  // client certificate (PEM), for mutual TLS
  std::filesystem::path key_file;   // its private key (PEM)
  std::string key_password;         // passphrase of key_file; travels like Options::password
  bool verify = true;               // false: accept any broker certificate (insecure; tests only)
  // --- added with several brokers (README "WebSockets and proxies") ---
  std::string alpn;     // ALPN protocols offered, comma-separated ("mqtt", "x-amzn-mqtt-ca")
  std::string ciphers;  // OpenSSL cipher list for TLS 1.2 and below; empty: OpenSSL's default
                        // (a list of which OpenSSL has no cipher fails connect_async())
  // The lowest TLS version offered: "tlsv1.1", "tlsv1.2", "tlsv1.3" (mosquitto's spellings);
  // empty: OpenSSL's configuration decides. README "Several brokers" says how it is set.
  std::string min_version;
  // false: the broker's certificate must still be signed by a trusted CA (verify), but need
  // not name the host connected to (mosquitto_pub's --insecure). Moot when verify is false.
  bool verify_hostname = true;
};

struct WillOptions {
  std::string topic;  // empty: no last will
  std::string payload;
  int qos = 1;
  bool retain = false;
};

// Paced drains (Options::drain_rate): a token bucket for the backlog the disk cache sends after
// an outage, so that a fleet coming back does not flatten the broker or a metered link.
// 0: unlimited. Both set: whichever is tighter.
struct DrainRate {
  std::uint64_t messages_per_second = 0;  // 0..1,000,000
  std::uint64_t bytes_per_second = 0;     // topic + payload bytes, 0..10^12
};

inline constexpr std::chrono::seconds kSessionNeverExpires{0xFFFFFFFF};  // session_expiry: never

struct Options {
  std::string client_id;                        // MQTT client id; also names the shared segment
  CacheType cache_type = CacheType::sqlite;
  std::filesystem::path cache_path = "./cache";  // a directory, created 0700 if missing
  Durability durability = Durability::on_trouble;

  // Set by connect_async().
  std::string host = "localhost";
  int port = 1883;

  // --- when the worker spools to disk (the Python library's triggers) ---
  // Spool when an acknowledgement has not come within cache_timeout ...
  std::chrono::milliseconds cache_timeout{10'000};
  // ... or when more than this many messages wait in the ring and the ring is more than half
  // full. (The Python library spooled at this count alone: its queue was in memory. The ring
  // survives either process dying, so a healthy link spools only when the ring gets tight,
  // so that publish() need not wait for room.)
  std::size_t queue_cache_threshold = 100;

  // --- the disk cache ---
  bool cache_sync = true;              // fsync every commit: power-cut safe. false: leave it
                                       // to the OS (faster, loses the last seconds at power loss)
  std::uint64_t max_cache_bytes = 0;   // 0: limited only by the disk
  OverflowPolicy overflow = OverflowPolicy::drop_oldest;
  std::chrono::seconds message_ttl{0};  // 0: messages never expire; else older ones are dropped
                                        // before sending (and MQTT 5 message expiry is set)
  // Messages the broker refused for good (MQTT 5) are kept in <cache_path>/dead-letters/, up
  // to this many topic + payload bytes (+16 each); the oldest go beyond it. 0: none are kept
  // (the refusal is only recorded in the drop journal). README "Dead letters".
  std::uint64_t dead_letter_bytes = 16u << 20;

  // --- the shared ring ---
  std::size_t ring_bytes = 8u << 20;            // rounded up to a power of two (64 KiB..1 GiB)
  std::chrono::milliseconds publish_wait{1000};  // how long publish() waits for ring space
  // Payloads above this (or too large for the ring) are written by publish() to a file in
  // <cache_path>/large/ and only a small reference goes through the ring, in its place in the
  // order of messages; the worker sends the file's contents and deletes it once acknowledged.
  // 0: ring_bytes/8. Such files count against max_cache_bytes.
  std::size_t large_message_bytes = 0;

  // --- the MQTT connection ---
  // Messages handed to the broker without waiting for the previous acknowledgement (1..65535).
  // QoS 0 messages have no acknowledgement to wait for: up to max_inflight + 32 of them are
  // queued for the socket at once (QoS 1/2 messages among them at most max_inflight). With
  // MQTT 5 the broker's Receive Maximum (CONNACK) bounds it further.
  std::size_t max_inflight = 1;
  // How fast messages from the disk cache (the backlog of an outage) are sent; messages
  // published meanwhile wait behind them, so the order holds. README "Options".
  DrainRate drain_rate;
  MqttVersion mqtt_version = MqttVersion::v3_1_1;
  std::chrono::seconds keepalive{30};
  std::chrono::seconds connect_timeout{10};
  std::chrono::milliseconds reconnect_min{250};  // reconnect backoff bounds (with jitter)
  std::chrono::milliseconds reconnect_max{30'000};
  bool clean_session = true;
  // MQTT 5: how long the broker keeps the session after the connection ends (CONNECT's session
  // expiry interval), 0 s..kSessionNeverExpires (never); nullopt: never with clean_session =
  // false, else 0 (mosquitto_pub's -x defaults). Not with MQTT 3.1.1 (EINVAL).
  std::optional<std::chrono::seconds> session_expiry;
  std::string username;
  std::string password;  // handed to the worker over a socket: never argv, environment or disk
  // A file holding the password (one trailing newline is not part of it), read by the worker
  // before each connection attempt, so a token rotated in the file is used at the next one,
  // also by a worker whose application is gone. Instead of password (both set: EINVAL); must be
  // readable at connect_async(). See also RobustClient::set_credentials_handler().
  std::filesystem::path password_file;
  TlsOptions tls;
  WillOptions will;
  std::string content_type;  // MQTT 5: content type of every message
  std::vector<std::pair<std::string, std::string>> user_properties;  // MQTT 5, every message
  // MQTT 5: every message carries the user properties robustmq-producer
  // ("<client_id>/<stream>", <stream> being a random id kept in <cache_path>/robustmq.producer)
  // and robustmq-seq (its sequence number in decimal), by which a consumer drops duplicates
  // exactly (README "Deduplication for consumers").
  bool dedup_property = false;

  // --- the worker process ---
  std::filesystem::path worker_path;  // empty: $ROBUSTMQ_WORKER, else the installed one
  // How long stop() waits for the worker to put the ring on disk. If it cannot (a full or
  // failing disk), stop() returns anyway and the worker stays behind, holding the messages,
  // until it has written or sent them.
  std::chrono::milliseconds stop_timeout{10'000};
  // How long connect_async() (and a restart of a dead worker) waits for a new worker to report
  // ready. A worker that reports later is not used: it exits without touching the ring or the
  // cache (at most one worker per cache directory runs at any instant).
  std::chrono::milliseconds worker_start_timeout{15'000};
  // A worker whose application died (or handed off, stop(StopMode::hand_off)) goes on delivering
  // what it holds, connecting and reconnecting as usual, until everything is acknowledged or
  // this long has passed; then it commits what is left to the cache and exits. Negative: until
  // everything is delivered. 0: at once (what is not yet sent waits for the next client). At
  // most ten years.
  std::chrono::milliseconds orphan_linger{-1};
  // How long connect_async() waits for such a worker of an earlier life of this client_id and
  // cache_path to hand over: asked with SIGTERM, it commits the ring to the cache and exits,
  // and the new worker sends the earlier life's messages first. One that has not exited by
  // then is killed (SIGKILL), which loses nothing either: its messages are in the ring or the
  // cache, those in flight are sent again.
  std::chrono::milliseconds takeover_timeout{5'000};
  LogLevel log_level = LogLevel::info;
  bool log_to_syslog = false;         // false: the application's stderr
  // A file the worker writes the client's figures to (Prometheus text format, as robustmq-stat
  // --prometheus prints them) every metrics_interval and as it exits (README "robustmq-stat").
  std::filesystem::path metrics_file;
  std::chrono::seconds metrics_interval{10};  // 1..86400

  // --- several brokers, WebSockets and proxies (README "Several brokers") ---
  // Broker URIs, tried in this order, the next one (with the usual backoff) when the current
  // one cannot be reached: tcp://host[:1883], ssl://host[:8883], ws://host[:80][/mqtt],
  // wss://host[:443][/mqtt]. Used by connect_async() without arguments; connect_async(host,
  // port) with a non-empty list is refused (EINVAL). TLS settings (tls) apply to ssl:// and
  // wss://, whatever tls.enabled says.
  std::vector<std::string> servers;
  // HTTP proxies (CONNECT tunnels), http://[user:password@]host[:port]: http_proxy for tcp://
  // and ws://, https_proxy for ssl:// and wss://. Empty: the environment variable of the same
  // name when connect_async() runs (https_proxy also HTTPS_PROXY). no_proxy (empty: $no_proxy,
  // else $NO_PROXY): hosts reached directly, comma-separated; "*": every host, which also
  // keeps the environment's proxies out.
  std::string http_proxy;
  std::string https_proxy;
  std::string no_proxy;
};

// How stop() ends the client.
enum class StopMode {
  spool,     // the worker commits the ring to the disk cache, disconnects and exits; stop()
             // waits for it (Options::stop_timeout). The next client sends what is left.
  hand_off,  // returns at once: the worker goes on delivering in the background, like a worker
             // whose application died (Options::orphan_linger), and a later client with the
             // same client_id and cache_path takes over from it (Options::takeover_timeout).
             // Until then the messages are safe from a crash of either process, not from a
             // power cut: flush() first for that.
};


// Why messages left without being delivered (README "Delivery receipts").
enum class DropReason : std::uint8_t {
  expired,   // older than Options::message_ttl
  overflow,  // dropped to keep the cache within Options::max_cache_bytes (drop_oldest)
  damaged,   // a record found damaged, a large message whose file is missing or truncated
  refused,   // the broker refused it for good (MQTT 5 reason code >= 0x80, in reason_code)
  unknown,   // its fate is unknown: it was in a damaged stretch of the ring, in the ring
             // unflushed at a power cut, or its drop record was overwritten before it was read
};

// Consecutive sequence numbers dropped for one reason.
struct DroppedRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // >= first
  DropReason reason = DropReason::unknown;
  std::uint8_t reason_code = 0;  // refused: the broker's MQTT 5 reason code; else 0
  std::chrono::system_clock::time_point time{};  // when the newest of them was dropped
};

// Event handlers (RobustClient::set_*_handler()). They run on one thread of the library,
// never the worker's, never a signal handler, one at a time and in order; a slow handler
// delays only later events.
//   delivered: every message numbered first..last was acknowledged by the broker (QoS 0:
//              written to the connection).
//   dropped:   the messages of the range left without being delivered, for range.reason.
//   connection: the worker's connection changed state; reason says why (empty when there is
//              nothing to say, as for connected).
using DeliveredHandler = std::function<void(std::uint64_t first, std::uint64_t last)>;
using DroppedHandler = std::function<void(const DroppedRange& range)>;
using ConnectionHandler = std::function<void(ConnectionState state, std::string_view reason)>;

// A user name and password (or token) for the next connection attempt.
struct Credentials {
  std::string username;
  std::string password;  // binary data is allowed (MQTT)
};
// Called before each connection attempt of the worker (RobustClient::set_credentials_handler());
// std::nullopt keeps the last credentials.
using CredentialsHandler = std::function<std::optional<Credentials>()>;
using LogHandler = std::function<void(LogLevel level, std::string_view line)>;


ROBUSTMQ_EXPORT std::string_view to_string(DropReason r) noexcept;

class ROBUSTMQ_EXPORT RobustClient {
 public:
  RobustClient(std::string client_id, CacheType cache_type = CacheType::sqlite,
               std::filesystem::path cache_path = "./cache");
  explicit RobustClient(Options options);
  ~RobustClient();  // runs stop()
  RobustClient(const RobustClient&) = delete;
  RobustClient& operator=(const RobustClient&) = delete;

  // Creates the cache directory, maps (or adopts) the shared segment and starts the worker,
  // which connects in the background. Messages left by an earlier client with the same
  // client_id and cache_path are delivered before anything published now; a worker of that
  // earlier client still delivering them (its application died or handed off) is taken over
  // from within Options::takeover_timeout.
  // Throws std::system_error naming the path when the cache directory cannot be created, the
  // worker executable is missing, or another live client uses the cache path (EBUSY, naming its
  // pid).
  // Thread safety: call once, before publish(), from one thread.
  void connect_async(const std::string& mqtt_host, int mqtt_port = 1883);
  // The same with the brokers of Options::servers, tried in turn. Throws std::system_error
  // (EINVAL) when the list is empty or a URI or proxy is malformed, naming it.
  void connect_async();

  // Queues one message. Returns {} once the message is in shared memory (a large payload: in its
  // file, with the reference in shared memory), from where no crash of this process or of the
  // worker loses it. Errors: topic_* for invalid topics, invalid_qos, payload_too_large (a topic
  // too long for the ring), queue_full (no room within Options::publish_wait), not_connected,
  // stopped, payload_over_cache_limit (topic and payload larger than Options::max_cache_bytes);
  // for large payloads also payload_over_mqtt_limit and large_file_failed (stats().last_error
  // names the file and the cause).
  // Thread safety: may be called from many threads; each thread's messages keep their order.
  [[nodiscard]] std::error_code publish(std::string_view topic, std::string_view payload,
                                        int qos = 2, bool retain = false);
  [[nodiscard]] std::error_code publish(std::string_view topic,
                                        std::span<const std::byte> payload, int qos = 2,
                                        bool retain = false);
  // The same, and on success sets `sequence` to the message's sequence number (untouched on an
  // error). Sequence numbers start at 1 and increase with every accepted message of a
  // client_id and cache_path, across lives of the application: a restarted client continues
  // above its predecessor's numbers, after a crash or a reboot with a gap (README "Delivery
  // receipts"). Several threads get distinct numbers in the order their messages are queued.
  [[nodiscard]] std::error_code publish(std::string_view topic, std::string_view payload,
                                        int qos, bool retain, std::uint64_t& sequence);
  [[nodiscard]] std::error_code publish(std::string_view topic,
                                        std::span<const std::byte> payload, int qos, bool retain,
                                        std::uint64_t& sequence);

  // The highest sequence number such that every message numbered up to it has been delivered
  // (acknowledged by the broker; QoS 0: written to the connection) or dropped by a documented
  // rule (message_ttl, max_cache_bytes with drop_oldest, a damaged record, a message that was
  // in the ring unflushed at a power cut; for now also an MQTT 5 refusal). Covers the messages
  // of earlier lives too. 0: none yet, or connect_async() not called. After stop() the last
  // value; after stop(StopMode::hand_off) it follows the worker that goes on delivering.
  // Thread safety: any thread, once connect_async() has returned; it reads one counter.
  std::uint64_t delivered_through() const;

  // Waits until every message published before the call (by any thread, and by earlier lives)
  // is delivered or dropped: delivered_through() reached it. Returns {} then;
  // errc::delivery_timeout when timeout passed first (the messages are kept and sent later:
  // wait again). Also not_connected, stopped, forked_child. Unlike flush(), a message on disk
  // is not enough: the broker must have it.
  // Thread safety: any thread, any number at once.
  [[nodiscard]] std::error_code wait_delivered(std::chrono::milliseconds timeout);
  // Waits until delivered_through() >= sequence: that message and every one before it.
  // errc::unknown_sequence when no message has that number yet (above the last publish()).
  [[nodiscard]] std::error_code wait_delivered(std::uint64_t sequence,
                                               std::chrono::milliseconds timeout);

  // Event handlers: see DeliveredHandler. Each may be set (or replaced, or cleared with
  // nullptr) before or after connect_async(). Every sequence number above delivered_through()
  // at connect_async() is reported exactly once in this life of the application: delivered, or
  // dropped with its reason. A handler set later sees the events that come after it.
  // The library thread that runs them starts with connect_async() (or with the first handler
  // set after it) and ends in stop() after a last pass, so that what the worker did before it
  // exited is reported, then `stopped`; after stop(StopMode::hand_off) nothing more is
  // reported. A handler must not call stop() or the destructor of its client (it would wait for
  // itself); an exception it throws is dropped. No handler runs in a fork() child.
  // Thread safety: any thread; a handler being replaced may still be running.
  void set_delivered_handler(DeliveredHandler handler);
  void set_dropped_handler(DroppedHandler handler);
  void set_connection_handler(ConnectionHandler handler);

  // Credentials that outlive an outage (short-lived tokens): the handler is called before each
  // connection attempt of the worker, while this application runs, on the library's monitor
  // thread (robustmq-mon), one call at a time; its answer reaches the worker over the lifeline
  // socket (never argv, environment or disk) and stays in effect until the next. The worker
  // waits for it up to Options::connect_timeout, then connects with the last credentials it
  // has. Keep it short: while it runs, a worker that died is not restarted. A worker whose
  // application is gone keeps the last credentials (Options::password_file has no such limit).
  // May be set, replaced or cleared (nullptr) before or after connect_async(); an exception it
  // throws counts as std::nullopt. Must not call stop(). Thread safety: any thread.
  void set_credentials_handler(CredentialsHandler handler);

  // The worker's lines (Options::log_level and up), text only, go here instead of stderr or
  // syslog: on the monitor thread, in order; stop() hands over the last ones. Lines it is too
  // slow for or throws on go to stderr or syslog. Any thread may set, replace or clear (nullptr)
  // it, at any time. Must not call stop() (EDEADLK, then std::terminate): README "Logging".
  void set_log_handler(LogHandler handler);

  // The drop journal of this client's cache directory: the newest drops of this and earlier
  // lives, oldest first (README "Drop journal": at most 4,096 ranges). Works before
  // connect_async() and after stop(). Empty when nothing was ever dropped. Throws
  // std::system_error naming the file when it exists but cannot be read.
  std::vector<DroppedRange> drop_journal() const;

  // Returns {} once every message published before the call is acknowledged by the broker or
  // fsynced to the disk cache; errc::flush_timeout if that did not happen within timeout.
  // Thread safety: any thread.
  [[nodiscard]] std::error_code flush(std::chrono::milliseconds timeout);

  // Moves the dead letters (messages the broker refused for good, README "Dead letters") back
  // into the disk cache, behind every message published before the call, and waits until the
  // worker did: they are then sent again, oldest first, with their original sequence numbers
  // (no new receipt: their numbers were reported dropped when they were refused). Returns {}
  // and sets `moved` to how many it moved (0: there were none); errc::resend_timeout when the
  // worker has not done it within timeout (the request stays: it still will). Also
  // not_connected, stopped, forked_child. Without a running client, `robustmq-cache resend`
  // does the same. Thread safety: any thread; calls at the same time may be served together
  // and then each report the same count.
  [[nodiscard]] std::error_code resend_dead_letters(std::chrono::milliseconds timeout,
                                                    std::uint64_t& moved);

  // A snapshot of the worker's counters. Thread safety: any thread.
  Stats stats() const;

  // Spools what is queued to disk, disconnects and waits for the worker to exit. Idempotent.
  // Thread safety: any thread; publish() calls racing with stop() get errc::stopped.
  void stop();
  // stop() (StopMode::spool) or, with StopMode::hand_off, leaves the delivery to the worker and
  // returns at once. Only the first stop of a client counts.
  void stop(StopMode mode);

  const Options& options() const noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace robustmq
