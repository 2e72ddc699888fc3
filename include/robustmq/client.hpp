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
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <robustmq/errc.hpp>

namespace robustmq {

// The Python library's "sq3" and "pickle".
enum class CacheType { sqlite, file };

// When the worker writes messages to the disk cache.
enum class Durability {
  on_trouble,  // only when the broker is slow or away, the backlog grows, on flush() and stop()
  journal,     // every message is committed to the cache before it is sent (group commit)
};

struct Options {
  std::string client_id;                        // MQTT client id; also names the shared segment
  CacheType cache_type = CacheType::sqlite;
  std::filesystem::path cache_path = "./cache";  // a directory, created 0700 if missing
  Durability durability = Durability::on_trouble;

  // Set by connect_async().
  std::string host = "localhost";
  int port = 1883;

  // Spool to disk when an acknowledgement has not come within cache_timeout ...
  std::chrono::milliseconds cache_timeout{10'000};
  // ... or when more than this many messages wait in the ring.
  std::size_t queue_cache_threshold = 100;
  // Messages handed to the broker without waiting for the previous acknowledgement (1..65535).
  std::size_t max_inflight = 1;

  std::size_t ring_bytes = 8u << 20;            // shared ring size, rounded up to a power of two
  std::chrono::milliseconds publish_wait{1000};  // how long publish() waits for ring space
  std::chrono::seconds keepalive{30};
  std::chrono::seconds connect_timeout{10};
  std::chrono::milliseconds reconnect_min{250};  // reconnect backoff bounds
  std::chrono::milliseconds reconnect_max{30'000};
  std::string username;
  std::string password;                          // handed to the worker over a socket, never argv

  // Path of robustmq-worker; empty: $ROBUSTMQ_WORKER, else the installed one.
  std::filesystem::path worker_path;
};

enum class ConnectionState : std::uint8_t { idle, connecting, connected, disconnected, stopped };

struct Stats {
  ConnectionState state = ConnectionState::idle;
  std::uint64_t published = 0;   // accepted by publish()
  std::uint64_t sent = 0;        // handed to the broker (including re-sends)
  std::uint64_t acknowledged = 0;
  std::uint64_t cached = 0;      // written to the disk cache
  std::uint64_t dropped_invalid = 0;  // records the worker found damaged and skipped
  std::uint64_t queue_full = 0;  // publish() calls refused with errc::queue_full
  std::uint64_t reconnects = 0;
  std::uint64_t worker_restarts = 0;
  std::uint64_t ring_backlog = 0;     // messages in the ring not yet acknowledged or cached
  std::uint64_t cache_backlog = 0;    // messages in the disk cache
  std::uint64_t cache_backlog_bytes = 0;
  int worker_pid = 0;
  std::string last_error;        // empty if none
};

ROBUSTMQ_EXPORT std::string_view to_string(ConnectionState s) noexcept;

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
  // client_id and cache_path are delivered before anything published now.
  // Throws std::system_error naming the path when the cache directory cannot be created, the
  // worker executable is missing, or another live client uses the cache path (naming its pid).
  // Thread safety: call once, before publish(), from one thread.
  void connect_async(const std::string& mqtt_host, int mqtt_port = 1883);

  // Queues one message. Returns {} once the message is in shared memory, from where no crash of
  // this process or of the worker loses it. Errors: topic_* for invalid topics, invalid_qos,
  // payload_too_large, queue_full (no room within Options::publish_wait), not_connected, stopped.
  // Thread safety: may be called from many threads; each thread's messages keep their order.
  [[nodiscard]] std::error_code publish(std::string_view topic, std::string_view payload,
                                        int qos = 2, bool retain = false);
  [[nodiscard]] std::error_code publish(std::string_view topic,
                                        std::span<const std::byte> payload, int qos = 2,
                                        bool retain = false);

  // Returns {} once every message published before the call is acknowledged by the broker or
  // fsynced to the disk cache; errc::flush_timeout if that did not happen within timeout.
  // Thread safety: any thread.
  [[nodiscard]] std::error_code flush(std::chrono::milliseconds timeout);

  // A snapshot of the worker's counters. Thread safety: any thread.
  Stats stats() const;

  // Spools what is queued to disk, disconnects and waits for the worker to exit. Idempotent.
  // Thread safety: any thread; publish() calls racing with stop() get errc::stopped.
  void stop();

  const Options& options() const noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace robustmq
