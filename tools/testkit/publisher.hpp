// Publisher: a plain Paho MQTTAsync publisher for tests of the testkit itself and for baselines
// in benchmarks. No store-and-forward, no reconnect: that is what RobustMQ adds.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace robustmq::testkit {

struct PublisherOptions {
  std::string client_id;  // empty: "testkit-pub-<pid>-<n>"
  std::chrono::seconds keepalive{10};
  std::chrono::milliseconds connect_timeout{5000};
  bool mqtt5 = false;  // MQTT 5 instead of 3.1.1: publish() reports the broker's refusals
};

class Publisher {
 public:
  // Connects and waits for CONNACK; throws std::runtime_error if that fails within
  // connect_timeout.
  Publisher(const std::string& host, int port, PublisherOptions options = {});
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Publishes and waits until the broker acknowledged it (QoS 1/2) or it was written (QoS 0).
  // Returns 0 (MQTTASYNC_SUCCESS) or a Paho error code: MQTTASYNC_DISCONNECTED (-3), or
  // MQTTASYNC_FAILURE (-1) when no acknowledgement came within timeout. MQTT 5: the broker's
  // reason code (0x80 and above) when it refused the message.
  int publish(std::string_view topic, std::string_view payload, int qos = 1,
              std::chrono::milliseconds timeout = std::chrono::seconds(5));

  bool connected() const;
  // Waits until Paho reported the connection lost (connection_losses() > 0).
  bool wait_connection_lost(std::chrono::milliseconds timeout) const;
  std::uint64_t connection_losses() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace robustmq::testkit
