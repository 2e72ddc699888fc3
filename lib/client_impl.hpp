// RobustClient::Impl, shared by the parts of a client: client.cpp (connect_async, stop, the fork
// registry), worker_monitor.cpp (starting the worker and restarting it when it dies) and
// publish.cpp (publish, flush, stats).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "lib/events.hpp"
#include "lib/flagged_handler.hpp"
#include "proto/ring.hpp"
#include "proto/segment.hpp"
#include "robustmq/client.hpp"

namespace robustmq {

// Options::password_file made absolute, checked readable; "" when unset. Throws
// std::system_error (credentials.cpp).
std::string checked_password_file(const Options& o);

class RobustClient::Impl {
 public:
  explicit Impl(Options o) : options(std::move(o)) {}
  ~Impl() { stop(); }

  // from_servers: connect_async() without arguments (Options::servers; host and port unused).
  void connect_async(const std::string& host, int port, bool from_servers = false);
  // `sequence`, if given, receives the message's sequence number on success.
  std::error_code publish(std::string_view topic, std::string_view payload, int qos, bool retain,
                          std::uint64_t* sequence = nullptr);
  std::error_code flush(std::chrono::milliseconds timeout);
  std::uint64_t delivered_through() const;
  // nullopt: every message published before the call.
  std::error_code wait_delivered(std::optional<std::uint64_t> sequence,
                                 std::chrono::milliseconds timeout);
  std::error_code resend_dead_letters(std::chrono::milliseconds timeout, std::uint64_t& moved);
  Stats stats() const;
  std::vector<DroppedRange> drop_journal() const;  // events.cpp
  void stop(StopMode mode = StopMode::spool);
  void set_credentials_handler(CredentialsHandler handler) {
    credentials_.set(std::move(handler));
  }
  void set_log_handler(LogHandler handler) { log_handler_.set(std::move(handler)); }

  Options options;

 private:
  shm::Segment& seg() const { return segment_->segment(); }
  // Wakes a sleeping worker, P1-P2 of the wake-up handshake (proto/segment_layout.hpp).
  void wake_worker() noexcept;
  // Waits until pred() holds or the deadline passes, C1-C6 of the same handshake.
  template <typename Pred>
  bool wait_for_worker(Pred pred, std::chrono::steady_clock::time_point deadline);
  void monitor_loop();
  // Writes to the worker (proto/lifeline.hpp), under lifeline_send_mu_; wait: all of it, or
  // give up after 2 s (an answer with credentials), else what fits now (a wake-up byte). False
  // when only a part went.
  bool send_lifeline(std::string_view bytes, bool wait = false) noexcept;
  void send_lifeline(char c) noexcept { (void)send_lifeline(std::string_view(&c, 1)); }
  // The segment's flags follow the handlers (null: no segment, or a stopped client).
  void attach_handlers(shm::ControlLine* control) {
    credentials_.attach(control);
    log_handler_.attach(control);
  }
  // credentials.cpp: the monitor thread answers the worker's questions.
  void answer_credentials(std::size_t questions);
  // log_handler.cpp: the worker's lines on the log socket, up to `at_most` of them (0: all
  // there are) to the log handler, on the monitor thread (or the thread of stop()).
  void read_log(std::size_t at_most) noexcept;
  void deliver_log(int level, std::string_view text) noexcept;
  // stop(): the worker's later lines fail to send (it writes them itself); those sent before
  // go to the handler, and the socket closes.
  void finish_log() noexcept;
  void start_worker();
  void hand_off();  // stop(StopMode::hand_off), after the monitor has stopped
  void release_lock() noexcept;
  // connect_async(): continues the numbering of earlier lives (sequence_file.hpp).
  void start_sequence(bool new_segment);
  // publish(), under publish_mu_: `seq` is about to be given out; records a new bound first if
  // it reaches the recorded one.
  void lease_sequence(std::uint64_t seq);
  // connect_async(), once the worker runs: records the bound start_sequence() could not.
  void finish_sequence();
  // stop(): records the exact next number once the segment is gone.
  void save_sequence() noexcept;
  void set_error(std::string e) {
    std::lock_guard lock(error_mu_);
    error_ = std::move(e);
  }

  bool in_forked_child() const noexcept { return ::getpid() != owner_pid_; }
  // Descriptors a fork() child of the host must not keep: the lifeline (its EOF tells the worker
  // that the application died) and the cache lock (which would outlive the application).
  void close_inherited_fds() noexcept {
    if (lifeline_ >= 0) ::close(lifeline_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
    if (monitor_wake_ >= 0) ::close(monitor_wake_);
    if (log_socket_ >= 0) ::close(log_socket_);
    credentials_.forget();
    log_handler_.forget();
  }

  pid_t owner_pid_ = 0;
  std::mutex publish_mu_;  // serialises producer threads; the ring has one producer
  std::optional<MappedSegment> segment_;
  std::optional<RingProducer> producer_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> stopping_{false};
  std::filesystem::path cache_dir_;
  std::filesystem::path worker_path_;
  std::string segment_name_;
  std::string config_blob_;
  std::size_t large_threshold_ = 0;    // payloads above go to a file (large_message.hpp)
  std::size_t mqtt_properties_bytes_ = 0;  // MQTT 5 properties on every PUBLISH
  bool large_sync_ = false;            // fsync large files in publish() (journal durability)
  int lock_fd_ = -1;
  int lifeline_ = -1;  // replaced in place with dup2 when the worker is restarted
  int monitor_wake_ = -1;
  int log_socket_ = -1;  // proto/log_line.hpp; replaced in place with dup3 like the lifeline
  bool log_journal_ = false;  // stderr is the journal's stream: lines written there carry "<N>"
  int took_over_from_ = 0;             // Stats::took_over_from
  std::uint64_t carried_over_ = 0;     // Stats::carried_over
  std::atomic<std::uint64_t> handed_off_{0};  // Stats::handed_off
  std::uint64_t seq_bound_ = 0;  // numbers below it may be given out (publish_mu_)
  std::thread monitor_;
  std::mutex lifeline_send_mu_;
  FlaggedHandler<CredentialsHandler> credentials_{&shm::ControlLine::credentials_handler};
  std::mutex credentials_mu_;
  std::optional<Credentials> last_credentials_;  // the last good answer, under credentials_mu_
  FlaggedHandler<LogHandler> log_handler_{&shm::ControlLine::log_handler};
  mutable std::mutex error_mu_;
  std::string error_;

 public:
  // The handlers and their thread (events.hpp). Declared last, so destroyed first: its thread
  // reads the segment.
  EventThread events;
};

}  // namespace robustmq
