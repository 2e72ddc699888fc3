// The Paho baselines: MQTTAsync used directly, the way an application would without RobustMQ.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common.hpp"

namespace robustmq::bench {

struct PahoOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  int max_inflight = 10;
  // Empty: MQTTCLIENT_PERSISTENCE_NONE; else MQTTCLIENT_PERSISTENCE_DEFAULT (one file per
  // message) in this directory.
  std::filesystem::path persistence_dir;
  // Offline buffering: sendWhileDisconnected=1, allowDisconnectedSendAtAnyTime=1, no connect.
  bool offline = false;
  int max_buffered = 100;
};

class PahoClient {
 public:
  explicit PahoClient(PahoOptions o);  // connects (unless offline); throws on failure
  ~PahoClient();
  PahoClient(const PahoClient&) = delete;
  PahoClient& operator=(const PahoClient&) = delete;

  // Publishes n messages of run `run` keeping `window` unacknowledged at most: each onSuccess
  // sends the next one (window 1: the next publish after onSuccess). Returns when all are
  // acknowledged (QoS 1/2) or written (QoS 0); false on a failure or a timeout
  // (transfer_timeout()).
  bool publish_window(std::size_t n, std::size_t payload_bytes, int qos, std::size_t window,
                      std::uint32_t run);

  // Calls MQTTAsync_sendMessage n times back to back and returns each call's duration in ns;
  // then waits (up to 60 s) until all are acknowledged.
  std::vector<std::uint32_t> send_latencies(std::size_t n, std::size_t payload_bytes, int qos,
                                            std::uint32_t run);

  // Offline: sends n messages while disconnected (buffered, persisted); returns the number
  // accepted.
  std::size_t send_offline(std::size_t n, std::size_t payload_bytes, int qos, std::uint32_t run);

  // Public for the C callbacks.
  void on_success();
  void on_failure();

 private:
  int send_one(std::uint64_t seq);

  void* client_ = nullptr;
  PahoOptions options_;
  std::string topic_ = "bench/paho";
  std::size_t payload_bytes_ = 0;
  int qos_ = 1;
  std::uint32_t run_ = 0;
  std::size_t total_ = 0;
  std::atomic<std::uint64_t> next_{0};
  std::atomic<std::uint64_t> acked_{0};
  std::atomic<std::uint64_t> failed_{0};
  bool chain_ = false;  // on_success sends the next message
};

}  // namespace robustmq::bench
