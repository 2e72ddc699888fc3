// The loop's view of the broker: start a connection, hand over a message, end the connection.
// Every result arrives later as an Event in the loop's EventQueue (events.hpp), pushed from the
// transport's own threads, so the loop never blocks on the network.
//
// worker/mqtt.hpp implements it over Paho MQTT C; test/worker/fake_transport.hpp scripts it for
// the unit tests of the loop's rules (acknowledge, refuse, stall, drop the link on command).
//
// What every implementation guarantees the loop (loop.cpp, invariant 4):
//   - It never sends a message the loop did not hand it since the last connect: after a loss,
//     only the loop re-sends, oldest first.
//   - After connect() returned 0, exactly one of Event::connected / Event::connect_failed.
//   - At most one Event::connection_lost per established connection.
//   - Event::delivered and Event::send_failed carry the send id given to send(). A delivered
//     event with code != 0 is a refusal by the broker (MQTT 5 reason code >= 0x80), text says
//     why. QoS 0 messages are "delivered" once written.
//   - A staged message (stage()) is sent at most once, only right after the acknowledgement
//     (not a refusal) of the message it was staged after, and before that acknowledgement's
//     Event::delivered is pushed; unstage() says which were.
//   - Failure texts carry the reason a user can act on.
//   - An Event::connect_failed that retrying cannot cure by itself (bad credentials, not
//     authorized, banned, a certificate that does not verify) has `refused` set; an
//     Event::connected carries the broker's MQTT 5 Receive Maximum in `code` (0: none).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "worker/clock.hpp"

namespace robustmq::worker {

class Transport {
 public:
  struct Outgoing {
    std::string_view topic;
    std::string_view payload;
    int qos = 0;
    bool retain = false;
    std::int64_t enqueue_ns = 0;  // CLOCK_REALTIME of publish(), for MQTT 5 message expiry
    std::uint64_t seq = 0;        // its sequence number, for MQTT 5 robustmq-seq
  };

  virtual ~Transport() = default;

  // Starts a connection attempt; 0 = started, else an immediate error code (describe()).
  // start_clean: do not resume a persistent session (a QoS 2 handshake was cut).
  virtual int connect(bool start_clean) = 0;
  // Hands one message over (the transport copies what it needs). 0 = accepted.
  virtual int send(const Outgoing& m, std::uint64_t send_id) = 0;
  // With one message in flight, the next ones can go without waiting for the loop's thread:
  // `next` is handed over with `send_id` by the transport itself, on its own thread, as soon as
  // the message of `after_id` is acknowledged (not refused), before that acknowledgement's
  // Event::delivered is pushed. Called again, it stages a chain, each message after the one
  // staged before it. The views of `next` stay valid until unstage(); the loop calls unstage()
  // before it changes anything else. The default stages nothing.
  virtual void stage(const Outgoing& next, std::uint64_t send_id, std::uint64_t after_id) {
    (void)next, (void)send_id, (void)after_id;
  }
  // What unstage() found: the first `sent` staged messages were sent (accepted), in order, the
  // i-th at sent_at[i]; the one after them, if its send failed, failed with `failed` (send()'s
  // code), else 0. At most kMax messages are staged between two unstage() calls.
  struct Taken {
    static constexpr std::size_t kMax = 8;
    std::size_t sent = 0;
    int failed = 0;
    std::array<Clock::time_point, kMax> sent_at{};
  };
  // Takes the staged messages back: those not sent are not sent any more.
  virtual Taken unstage() { return {}; }
  // Ends the connection, waiting up to `timeout` for what is being written.
  virtual void disconnect(std::chrono::milliseconds timeout) = 0;
  // The user name and password of the next connect() and every one after, until changed
  // (the credentials handler's answer, Options::password_file).
  virtual void set_credentials(std::string username, std::string password) = 0;
  // The text of an error code returned by connect() or send().
  virtual std::string describe_error(int code) const = 0;
  // The broker URI of the current (or last) connection attempt, for stats() and error texts;
  // empty: the loop names the configuration's host:port.
  virtual std::string server() const { return {}; }
};

}  // namespace robustmq::worker
