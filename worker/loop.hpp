// The worker's loop; the design block (invariants, states, where a message goes) is at the top
// of loop.cpp. Its parts: Window (window.hpp, the messages in flight), Spooler (spooler.hpp,
// the disk cache), Drops (drops.hpp, every way a message leaves unsent), and a Transport
// (transport.hpp: Paho in the worker, a scripted fake in the unit tests).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "proto/lifeline.hpp"
#include "proto/ring.hpp"
#include "proto/segment.hpp"
#include "proto/worker_config.hpp"
#include "worker/cache/cache.hpp"
#include "worker/clock.hpp"
#include "worker/dead_letters.hpp"
#include "worker/drops.hpp"
#include "worker/events.hpp"
#include "worker/large_file.hpp"
#include "worker/metrics_file.hpp"
#include "worker/pacer.hpp"
#include "worker/report.hpp"
#include "worker/spooler.hpp"
#include "worker/transport.hpp"
#include "worker/window.hpp"

namespace robustmq::worker {

class Loop {
 public:
  enum class Link : std::uint8_t { connecting, connected, backoff };

  // The transport pushes its results into `events`; both outlive the loop.
  Loop(WorkerConfig config, MappedSegment segment, std::unique_ptr<cache::Cache> cache,
       int lifeline, EventQueue& events, Transport& transport,
       const TimeSource& time = steady_time());
  // Takes back what is staged with the transport (loop_stage.cpp), which holds views of the
  // ring: also when the loop ends by an exception, before the segment is unmapped.
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Runs until stop() was requested and the ring is empty, or the application is gone and
  // everything is delivered (or Options::orphan_linger ran out). Returns the process exit code.
  int run();

  // The parts of run(), for the unit tests of the loop's rules:
  // Starts the first connection attempt.
  void start();
  // One pass: events, deadlines, the cache's retry, spooling, sending. False when the loop is
  // done (stop requested and the ring empty, or the application gone and the ring, the window
  // and the cache empty).
  bool step();
  // Sleeps until there is work or the next deadline, at most `at_most` if given. Notices the
  // application's exit (EOF on the lifeline).
  void wait_for_work(std::optional<std::chrono::milliseconds> at_most = std::nullopt);
  // After the last step: disconnects, commits the cache, cleans up.
  void finish();

  // The numbered invariants of loop.cpp, each checked; logs the first broken one. Runs after
  // every pass in builds with assertions (assert(invariants_hold())).
  bool invariants_hold();

  // When wait_for_work() wakes up at the latest with nothing happening; none: only an event
  // wakes it. Never a moment already past while nothing can be done about it (the loop would
  // spin).
  std::optional<Clock::time_point> next_deadline() const;

  // Called once the application is gone (the worker main detaches from its stderr).
  void on_orphaned(std::function<void()> f) { on_orphaned_ = std::move(f); }

  Link link() const noexcept { return link_; }
  const Window& window() const noexcept { return window_; }
  CacheHealth cache_health() const noexcept { return spooler_.health(); }
  bool producer_alive() const noexcept { return producer_alive_; }
  bool handed_off() const noexcept { return handed_off_; }
  const shm::ControlLine& control() const noexcept { return seg_.control; }

 private:
  // A message the send path considers: the cache's oldest unsent one or the ring's next record.
  struct Candidate {
    Inflight::Source source = Inflight::Source::ring;
    bool damaged = false;  // ring: the record failed validation; [read_pos_, head) is skipped
    record::MessageView message;
    std::uint64_t cache_id = 0;  // cache
    std::uint64_t ring_end = 0;  // ring: the tail once it retired
    std::string what() const;    // "cache id N" / "seq N", for messages
  };

  void handle_events();
  void on_connected(int receive_maximum);
  void on_connect_failed(const Event& e);
  void on_link_down(const std::string& why);
  // The broker of the current attempt, as the transport names it (a URI), else host:port.
  std::string server() const {
    auto uri = transport_.server();
    return uri.empty() ? fmt::format("{}:{}", config_.host, config_.port) : uri;
  }
  // A connection attempt is due: fresh credentials first (loop_credentials.cpp), then
  // start_connect(). Called again while the application's answer is awaited.
  void attempt();
  bool ask_for_credentials();
  void read_password_file();
  void start_connect();
  void schedule_reconnect();
  void check_timeouts();
  bool spool_wanted(std::string& why);
  void spool(const char* why);
  void fill_window();
  bool ring_sendable() const;
  bool ring_candidate(std::uint64_t pos, Candidate& c);  // the ring's record at pos; false: none
  // The one send path, for a cached and a ring message alike. False: the link went down.
  bool send(const Candidate& c);
  // The transport took `c`'s message with send id `id` at `at`: its window entry, its cursor,
  // its count.
  void sent(const Candidate& c, std::uint64_t id, std::size_t bytes,
            std::chrono::milliseconds ack_grace, Clock::time_point at);
  void publish_failed(int rc);  // the transport refused a message (send() != 0): the link is down
  // Staging (loop_stage.cpp): with one message in flight, the ring's next records are handed to
  // the transport ahead (Transport::stage()), which sends each from the acknowledgement of the
  // one before.
  void stage_next();
  // Before the events of a pass: the staged messages, taken back, and which of them the
  // transport sent (Transport::unstage()).
  struct Unstaged;
  Unstaged unstage();
  // The acknowledgement of `acknowledged_id` was handled: the staged message sent after it joins
  // the window. After every event of the pass: the transport sent some that did not join.
  void adopt_staged(Unstaged& u, std::uint64_t acknowledged_id);
  void staged_left(Unstaged& u);
  // `c` leaves without being sent: dropped for `reason`, retired in its place.
  void pass(const Candidate& c, DropReason reason);
  void passed(const Candidate& c);  // the cursor of c's source moves past it
  void retire();
  // The broker refused the message of `f` for now (refusal_is_temporary()): everything in
  // flight is sent again after a backoff, from that message on, in order.
  void hold_after_refusal(const Inflight& f, const std::string& why);
  // Whether the sequence numbers of messages from `source` are theirs: not those of a cache
  // whose numbers may overlap the new ones (ControlLine::seq_unknown 2).
  bool numbers_known(Inflight::Source source) const noexcept {
    return source == Inflight::Source::ring ||
           seg_.control.seq_unknown.load(std::memory_order_relaxed) != 2;
  }
  // The broker refused the message of `f` for good: it goes to the dead-letter store, read
  // back from the ring or the cache (loop_dead.cpp), before it retires.
  void keep_dead_letter(const Inflight& f, std::uint8_t code);
  // The application asked to re-send the dead letters (ControlLine::dead_resend_request).
  void serve_resend();
  void update_delivered_when_idle();
  void init_delivered();
  void init_sequence();
  std::size_t ring_waiting();
  bool settling() const;
  bool stop_wanted() const;
  bool delivered_all();  // the application is gone and nothing is left to deliver
  void update_oldest();
  void read_lifeline();
  bool sweep_large_orphans();

  WorkerConfig config_;
  const TimeSource& time_;
  MappedSegment segment_;
  shm::Segment& seg_;
  RingConsumer ring_;
  int lifeline_;
  EventQueue& events_;
  Transport& transport_;
  Report report_;
  LargeFiles large_;
  Drops drops_;
  Window window_;
  Spooler spooler_;
  DeadLetters dead_;
  MetricsFile metrics_;  // Options::metrics_file
  // A resend of the dead letters is asked for and not yet done (serve_resend()), and how many
  // it moved so far.
  bool resend_pending_ = false;
  std::uint64_t resend_moved_ = 0;

  // The connection.
  Link link_ = Link::connecting;
  Clock::time_point reconnect_at_{};
  std::chrono::milliseconds backoff_;
  bool qos2_cut_ = false;  // a QoS 2 message was in flight at the last loss: next connect clean
  // The last attempt was refused for good (Event::refused): the state is `refused`, attempts
  // come every reconnect_max.
  bool refused_ = false;
  bool numbering_bound_found_ = true;  // false: init_sequence() found no bound at this start
  // Permanent refusals in a row, each by the server then tried: `refused` once every server of
  // Options::servers refused (another may let the client in).
  std::size_t refusals_in_a_row_ = 0;
  // A temporary refusal: nothing is sent before this (and the backoff for the next one).
  std::optional<Clock::time_point> held_until_;
  std::chrono::milliseconds refusal_backoff_;

  // Credentials (loop_credentials.cpp): the application's bytes on the lifeline, the answers
  // asked for and received, and until when the current attempt waits for one.
  lifeline::Reader lifeline_in_;
  std::uint64_t credentials_asked_ = 0;
  std::uint64_t credentials_answered_ = 0;
  std::optional<Clock::time_point> credentials_until_;
  std::string username_;  // in effect: Options', then the handler's or the file's
  std::string password_;
  std::string file_password_;     // password_file's content when last read ("": not yet)
  bool file_unreadable_ = false;  // logged once per spell

  std::uint64_t read_pos_ = 0;  // ring index of the next record to send (>= tail)

  // The ring records from read_pos_ on staged with the transport (stage_next()), in ring order:
  // each goes with `send_id` once `after_id` is acknowledged, the first after the one message
  // in flight, every other after the one staged before it.
  struct Staged {
    Candidate c;
    std::uint64_t pos = 0;  // where its record starts
    std::uint64_t send_id = 0;
    std::uint64_t after_id = 0;
  };
  std::vector<Staged> staged_;
  struct Unstaged {
    std::vector<Staged> staged;
    Transport::Taken taken;     // which of them the transport sent
    std::size_t adopted = 0;    // of those, how many joined the window
    // A sent one whose failure was reported before the acknowledgement that sent it (Paho's
    // threads race): the link goes down when it joins the window. 0: none.
    std::uint64_t failed_id = 0;
    std::string failed_why;
    bool sent_not_adopted(std::uint64_t send_id) const;
  };

  // Options::drain_rate: the messages sent from the cache, and when the next may go if the
  // last fill_window() had to stop for it (none: it did not).
  Pacer pacer_;
  std::optional<Clock::time_point> paced_until_;

  // Deadlines of a stop, a flush and the application's exit.
  bool producer_alive_ = true;
  bool handed_off_ = false;  // the application left on purpose (stop(StopMode::hand_off))
  std::optional<Clock::time_point> drain_deadline_;   // the application exited: spool after it
  std::optional<Clock::time_point> linger_deadline_;  // ... and stop after it (orphan_linger)
  std::optional<Clock::time_point> settle_deadline_;  // stop/flush: let the window drain first

  std::function<void()> on_orphaned_;
  bool swept_ = false;  // sweep_large_orphans() ran in this process
  std::vector<Event> event_buf_;
  std::vector<std::string> retired_files_;  // retire(): released once the tail/cache moved
};

}  // namespace robustmq::worker
