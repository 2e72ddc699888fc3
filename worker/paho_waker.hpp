// PahoWaker: wakes Paho's I/O thread each time the MQTT socket has room again while Paho may
// hold a partly written packet, so a large PUBLISH goes at the pace of the link.
//
// Why (Paho MQTT C 1.3.12, the Debian library the worker links; 1.3.13 is the same): Paho writes
// a packet with one non-blocking writev() on its send thread; what does not fit into the socket
// becomes a "pending write" (Socket_putdatas(), the write_pending list). Only the receive
// thread continues it, once per cycle (MQTTAsync_receiveThread -> MQTTAsync_cycle ->
// Socket_getReadySocket): poll(POLLOUT, 0) and one Socket_continueWrites(), then
// poll(POLLIN, 1000 ms) over Paho's sockets, then 100 ms of sleep if no socket was ready. A
// socket with a pending write never counts as ready, so its own incoming bytes do not help:
// with the worker's one connection a pending write moves on once per 1.1 s, a socket buffer
// (about 4-8 MB on loopback) at a time — 4-5 MB/s whatever the link. Paho has no call or option
// that makes that poll return; only input on another of its sockets, which is ready, does
// (Paho's sockets are process-wide; one receive thread serves every client).
//
// So the worker gives Paho another socket: a second Paho client ("waker") connected to a
// listener of this class on 127.0.0.1, which answers its CONNECT with a CONNACK and otherwise
// only writes PINGRESPs (2 bytes, which Paho reads and ignores) to wake the receive thread.
// It rings on write space: the worker's MQTT socket is watched with EPOLLOUT|EPOLLET, which
// reports exactly when a write that filled the socket buffer (Paho's partial writev) is followed
// by room again (tcp_check_space). Then Paho's next cycle continues the write. No timer, no busy
// loop: a ring per refill of the socket buffer while a write is pending, nothing otherwise (a
// completed write leaves room and reports no new edge; a stalled or failed link reports none, or
// one for the error, after which Paho closes the socket and epoll forgets it).
//
// The waker never touches a message, the connection or Paho's state: without it (setup failed,
// the waker's connection dropped) Paho keeps its own pace and nothing else changes.
// Thread safety: watch_connection() from any thread; the rest from the owner's thread. The
// waker's thread writes no log line itself (the worker's log is its main thread's): it hands
// each line to the owner's Report, on the waker's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "worker/log.hpp"

namespace robustmq::worker {

class PahoWaker {
 public:
  // What the waker's thread has to say (it stopped helping, and why): called on that thread.
  using Report = std::function<void(Level, std::string)>;

  // Starts the listener, the thread and the waker's Paho client (MQTTAsync_global_init() done).
  // On a failure the waker stays off: enabled() is false and why_not() says why.
  explicit PahoWaker(Report report);
  // Stops the thread, then the waker's client: an orderly end says nothing.
  ~PahoWaker();
  PahoWaker(const PahoWaker&) = delete;
  PahoWaker& operator=(const PahoWaker&) = delete;

  bool enabled() const noexcept { return thread_.joinable(); }
  const std::string& why_not() const noexcept { return why_not_; }

  // The worker's MQTT connection is established (called from Paho's connected callback): the
  // waker finds its socket, the one established TCP socket of this process that is not the
  // waker's, and watches it from now on.
  void watch_connection() noexcept;

  // A connection attempt starts (after MQTTAsync_connect()) or ended without a connection. Paho
  // adds the new socket to its poll set, but a receive thread already waiting in poll() (for up
  // to 1 s, on the waker's socket) sees it, and the TCP connect completing, only in its next
  // cycle: while an attempt lasts, the waker rings after 1, 2, 4 ... 256 ms, then every 256 ms,
  // until watch_connection() or connect_ended().
  void connecting() noexcept;
  void connect_ended() noexcept;

  // Wake-ups so far, and whether the last search found the MQTT socket (diagnostics).
  std::uint64_t rings() const noexcept { return rings_.load(std::memory_order_relaxed); }
  bool watching() const noexcept { return watching_.load(std::memory_order_relaxed); }

 private:
  void run();
  void on_accept();
  void on_peer_input();
  void rewatch();
  void ring();
  void fail(std::string why);

  int listener_ = -1;
  int epoll_ = -1;
  int control_ = -1;  // eventfd: look at rewatch_, connecting_ and stopping_
  int delay_ms_ = 1;  // the next ring while connecting_ (the waker thread's)
  int peer_ = -1;     // the accepted connection of the waker client
  int watched_ = -1;  // the MQTT socket's descriptor (the waker thread's)
  bool connacked_ = false;
  bool unclear_logged_ = false;  // rewatch() found no single MQTT socket: said once
  std::uint16_t port_ = 0;
  void* client_ = nullptr;  // the waker's MQTTAsync handle
  std::string why_not_;
  Report report_;
  std::atomic<std::uint64_t> rings_{0};
  std::atomic<bool> watching_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> rewatch_{false};
  std::atomic<bool> connecting_{false};
  void notify() noexcept;
  std::thread thread_;
};

}  // namespace robustmq::worker
