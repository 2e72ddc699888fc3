// The worker's one MQTT connection, through Paho's asynchronous C API. Every result arrives as
// an Event; this class keeps no delivery state of its own (the loop does).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "events.hpp"

namespace robustmq::worker {

struct MqttSettings {
  std::string uri;  // tcp://host:port
  std::string client_id;
  std::chrono::seconds keepalive{30};
  std::chrono::seconds connect_timeout{10};
  std::string username;
  std::string password;
  int max_inflight = 1;
};

class Mqtt {
 public:
  // Throws std::runtime_error with Paho's reason when the client cannot be created.
  Mqtt(MqttSettings settings, EventQueue& events);
  ~Mqtt();
  Mqtt(const Mqtt&) = delete;
  Mqtt& operator=(const Mqtt&) = delete;

  // Starts a connection attempt; Event::connected or Event::connect_failed follows.
  // Returns Paho's immediate error code (0 = started).
  int connect();
  struct Outgoing {
    std::string_view topic;
    std::string_view payload;
    int qos = 0;
    bool retain = false;
    std::int64_t enqueue_ns = 0;  // CLOCK_REALTIME of publish(), for MQTT 5 message expiry
  };
  // Hands one message to Paho (which copies it). Event::delivered(send_id) follows when the
  // broker acknowledged it (QoS 1/2) or it was written (QoS 0); Event::send_failed otherwise.
  int send(const Outgoing& m, std::uint64_t send_id);
  // Ends the connection, waiting up to `timeout` for Paho to finish what it has.
  void disconnect(std::chrono::milliseconds timeout);
  bool is_connected() const;

  static std::string describe(int paho_code);

 private:
  MqttSettings settings_;
  EventQueue& events_;
  void* client_ = nullptr;  // MQTTAsync
  std::string topic_buf_;   // Paho wants a NUL-terminated topic
};

}  // namespace robustmq::worker
