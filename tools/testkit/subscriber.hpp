// Subscriber: a Paho MQTTAsync client that records every message it receives on a topic filter
// (MQTT 3.1.1, or MQTT 5 with the messages' user properties and content type:
// SubscriberOptions::mqtt5).
//
//   robustmq::testkit::Subscriber sub("127.0.0.1", broker.port(), "robustmq/test/#");
//   REQUIRE(sub.wait_subscribed());
//   ... publish ...
//   CHECK(sub.wait_for(100, 5s));
//
// It reconnects on its own (every reconnect_interval, not Paho's one-second automatic reconnect)
// and subscribes again after every connect. Its session is persistent (cleansession=false, a
// fixed client id), so a broker with persistence keeps its subscription and queues QoS>0
// messages for it while it is away, also across a broker restart.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace robustmq::testkit {

struct ReceivedMessage {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retained = false;
  bool duplicate = false;  // the broker set the DUP flag
  std::vector<std::pair<std::string, std::string>> user_properties;  // MQTT 5, in order
  std::string content_type;                                          // MQTT 5
  std::chrono::steady_clock::time_point received;
};

struct SubscriberOptions {
  int qos = 1;
  std::string client_id;  // empty: "testkit-sub-<pid>-<n>", unique in this process
  bool clean_session = false;
  std::chrono::milliseconds reconnect_interval{100};
  std::chrono::seconds keepalive{10};
  // MQTT 5 instead of 3.1.1: the messages keep their user properties and content type. A persistent session
  // (clean_session = false) then expires an hour after a disconnect.
  bool mqtt5 = false;
};

class Subscriber {
 public:
  // Starts connecting in the background; throws std::runtime_error if Paho rejects the client.
  Subscriber(const std::string& host, int port, std::string topic_filter, SubscriberOptions options = {});
  ~Subscriber();  // disconnects
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Waits until at least min_subscribes subscriptions were acknowledged (one per connect).
  // After a broker restart, pass subscribe_count() + 1 as read before the restart.
  bool wait_subscribed(std::chrono::milliseconds timeout = std::chrono::seconds(10),
                       std::uint64_t min_subscribes = 1) const;
  // Waits until at least count messages were received in total.
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout) const;

  std::vector<ReceivedMessage> messages() const;  // a snapshot, in arrival order
  std::size_t count() const;
  void clear();                                   // forget what was received so far

  bool connected() const;
  std::uint64_t subscribe_count() const;  // acknowledged subscriptions so far
  std::uint64_t connection_losses() const;
  const std::string& client_id() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace robustmq::testkit
