// The worker's loop; the design block is at the top of loop.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "worker/cache/cache.hpp"
#include "worker/events.hpp"
#include "worker/large_file.hpp"
#include "worker/mqtt.hpp"
#include "proto/ring.hpp"
#include "proto/segment.hpp"
#include "proto/worker_config.hpp"

namespace robustmq::worker {

class Loop {
 public:
  Loop(WorkerConfig config, MappedSegment segment, std::unique_ptr<cache::Cache> cache,
       int lifeline);
  // Runs until stop() was requested or the application died and the ring is empty. Returns the
  // process exit code.
  int run();

 private:
  using Clock = std::chrono::steady_clock;
  enum class Link { connecting, connected, backoff };

  struct Inflight {
    enum class Source : std::uint8_t { ring, cache } source;
    bool acked = false;
    std::uint8_t records = 1;    // ring: messages the tail passes (0 for a skipped damaged range)
    std::uint64_t send_id = 0;   // increasing along inflight_
    std::uint64_t ring_end = 0;  // ring: the tail once this message is acknowledged
    std::uint64_t cache_id = 0;  // cache: the id to remove once acknowledged
    Clock::time_point sent_at;
    std::int64_t enqueue_ns = 0;
    std::uint8_t qos = 0;        // sent messages: QoS 1/2 count against window_, QoS 0 not
    std::size_t bytes = 0;       // sent messages: payload bytes
    // Added to cache_timeout for this message's acknowledgement: a large payload needs time on
    // the wire (LargeFiles::ack_grace()).
    std::chrono::milliseconds ack_grace{0};
  };

  // Transitions (see the diagram in loop.cpp).
  void handle_events();
  void on_delivered(std::uint64_t send_id);
  void retire_acked();
  void remove_acked();
  void skip(Inflight::Source source, std::uint64_t ring_end, std::uint64_t cache_id,
            std::uint8_t records);
  void on_link_down(const std::string& why, bool count_reconnect);
  void start_connect();
  bool spool_ring(const char* why);  // true when the whole ring went to the cache
  void fill_window();
  bool cache_unsent();
  bool settling() const;
  bool window_open() const;
  bool stop_wanted() const;
  bool send_from_cache();
  bool send_from_ring();
  void check_timeouts();
  bool expired(std::int64_t enqueue_ns) const;
  void count_expired(std::uint64_t n);
  void note_refused(const std::string& why);
  // Frees room for `incoming` bytes under max_cache_bytes (drop_oldest), or says there is none
  // (reject_new). May drop the oldest messages of spool_batch_ itself.
  bool make_room(std::size_t incoming);
  std::uint64_t drop_oldest_cached(std::uint64_t bytes, const char* why);
  void update_oldest();
  void wait_for_work();

  bool spool_wanted(std::string& why);
  std::size_t ring_waiting();
  bool cache_has_backlog() const;
  void publish_cache_counts();
  void advance_tail(std::uint64_t to, std::uint64_t messages);
  void notify_client();
  void set_state(std::uint32_t state);
  void set_error(const std::string& e);
  void set_cache_error(const std::string& e);
  void schedule_reconnect();
  // Maps a large message's file for sending; nullopt (logged, last_error set) when it is
  // damaged, missing or truncated: the caller skips the record (worker/large_file.hpp).
  std::optional<LargeFiles::Mapped> map_large(std::string_view reference, const std::string& what);

  WorkerConfig config_;
  MappedSegment segment_;
  shm::Segment& seg_;
  RingConsumer ring_;
  std::unique_ptr<cache::Cache> cache_;
  int lifeline_;
  EventQueue events_;
  std::unique_ptr<Mqtt> mqtt_;
  const std::size_t window_;
  const bool journal_;

  Link link_ = Link::connecting;
  Clock::time_point reconnect_at_{};
  std::chrono::milliseconds backoff_;
  std::deque<Inflight> inflight_;
  std::size_t awaiting_ack_ = 0;      // sent QoS 1/2 messages of inflight_ not yet acknowledged
  std::size_t qos0_bytes_ = 0;        // payload bytes of sent QoS 0 messages not yet written
  std::uint64_t next_send_id_ = 1;
  std::uint64_t read_pos_ = 0;        // ring index of the next record to send (>= tail)
  std::uint64_t cache_sent_id_ = 0;   // last cache id handed to the broker
  std::uint64_t cache_acked_id_ = 0;  // every cache id <= this was acknowledged and removed
  std::vector<cache::CachedMessage> cache_buf_;
  std::size_t cache_buf_pos_ = 0;
  bool cache_more_ = true;           // the cache may hold messages after cache_sent_id_
  bool cache_counts_dirty_ = false;  // status.cache_backlog* are behind the cache
  bool producer_alive_ = true;
  bool qos2_cut_ = false;
  bool swept_ = false;     // sweep_large_orphans() ran in this process
  bool sweep_large_orphans();  // a QoS 2 message was in flight at the last loss: next connect clean
  std::optional<Clock::time_point> drain_deadline_;
  std::optional<Clock::time_point> settle_deadline_;
  std::optional<Clock::time_point> cache_retry_at_;
  bool cache_failed_ = false;   // the last spool could not write (error or reject_new)
  bool cache_broken_ = false;   // ... because of an I/O error: reopen before the next try
  void reopen_cache();
  std::vector<Event> event_buf_;
  const std::int64_t ttl_ns_;
  const std::uint64_t max_cache_bytes_;
  const bool reject_new_;
  std::uint64_t expired_unlogged_ = 0;
  std::size_t batch_dropped_ = 0;  // make_room() took these from the front of spool_batch_
  Clock::time_point expired_logged_at_{};
  std::uint64_t refused_unlogged_ = 0;
  Clock::time_point refused_logged_at_{};
  Clock::time_point oldest_updated_at_{};
  std::vector<record::MessageView> spool_batch_;
  LargeFiles large_;
};

}  // namespace robustmq::worker
