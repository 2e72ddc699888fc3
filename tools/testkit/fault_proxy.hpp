// FaultProxy: a TCP proxy between a client and the broker that injects network faults.
//
//   robustmq::testkit::FaultProxy proxy(broker.port());   // client connects to proxy.port()
//   proxy.set_latency(50ms);  proxy.blackhole(true);  proxy.reset_all();
//   proxy.rewrite_pubacks(3, 0x97);  // MQTT 5: the broker seems to refuse the next three
//
// One thread runs a poll() loop over all connections; the fault settings may be changed from any
// thread at any time and apply from the next loop iteration (reset_all() returns only once every
// connection is gone). Listens on 127.0.0.1 only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace robustmq::testkit {

struct FaultProxyOptions {
  int target_port = 0;                      // the broker
  std::string target_host = "127.0.0.1";    // an IPv4 address
  int listen_port = 0;                      // 0: free_port()
};

class FaultProxy {
 public:
  explicit FaultProxy(int target_port);
  explicit FaultProxy(FaultProxyOptions options);
  ~FaultProxy();  // closes every connection and the listener
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const noexcept;  // where clients connect

  // Delays every byte by this much, in each direction (a round trip gains twice this).
  // Applies to bytes read from now on.
  void set_latency(std::chrono::milliseconds one_way);
  // Limits each direction to this many bytes per second; 0: unlimited.
  void set_bandwidth(std::size_t bytes_per_second);
  // On: every byte read, in either direction, is dropped (also those waiting for latency);
  // connections stay open, so only keepalive timeouts notice. The MQTT stream of a connection
  // that lived through a blackhole is broken; clients are expected to reconnect.
  void blackhole(bool on);
  // On: stop reading from the sockets; bytes wait in kernel buffers and flow on stall(false),
  // like a partition that heals before TCP gives up.
  void stall(bool on);
  // On: accept new connections and reset them at once (RST), as a host with a dead broker does.
  void refuse_new(bool on);
  // On: what the broker sends (its acknowledgements) is held back, up to 4 MiB per connection,
  // while the client's bytes still reach it; held bytes flow on hold_replies(false), to
  // connections that are still open. The broker then has messages the client never saw
  // acknowledged.
  void hold_replies(bool on);
  // Closes every open connection on both sides with RST (SO_LINGER 0). Returns once done.
  void reset_all();
  // MQTT 5: the next `count` PUBACK packets from the broker to a client, on any connection, get
  // reason code `reason_code` (e.g. 0x97 quota exceeded, 0x87 not authorized), while the broker
  // itself accepted the message: a refusal on demand. Replaces what is left of an earlier
  // count; 0 disarms. A PUBACK counts from its first byte read after the call. The proxy
  // follows the broker→client stream of every connection packet by packet (mqtt_framing.hpp);
  // bytes pass unchanged and without delay unless a PUBACK is being rewritten. Only for
  // MQTT 5 clients: a 3.1.1 PUBACK has no reason code, and the rewritten one would be malformed
  // for them. A connection that lost bytes to a blackhole is no longer followed.
  void rewrite_pubacks(std::size_t count, std::uint8_t reason_code);

  std::size_t connections() const;      // open right now
  std::uint64_t accepted() const;       // accepted so far, refused ones included
  std::uint64_t bytes_forwarded() const;
  std::uint64_t bytes_dropped() const;  // by blackhole
  std::uint64_t pubacks_rewritten() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace robustmq::testkit
