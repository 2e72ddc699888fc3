// RobustClient: the application side. connect_async() checks the options, prepares and locks the
// cache directory, maps the shared segment and starts the worker and its monitor thread; stop()
// has the worker spool the ring to disk and exit. A fork() child of the host drops what it
// inherited. Publishing is in publish.cpp, the worker's monitor in worker_monitor.cpp.
#include "robustmq/client.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <cerrno>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "lib/cache_dir.hpp"
#include "lib/client_impl.hpp"
#include "proto/lifeline.hpp"
#include "lib/deadline.hpp"
#include "lib/fail.hpp"
#include "lib/producer_id.hpp"
#include "lib/servers.hpp"
#include "lib/spawn.hpp"
#include "lib/takeover.hpp"
#include "proto/large_message.hpp"
#include "proto/log_line.hpp"
#include "proto/segment.hpp"
#include "proto/validate.hpp"
#include "proto/worker_config.hpp"

namespace robustmq {

namespace {

// Keeps, never joined nor destroyed, a thread object that a fork() child inherited from its
// parent (the thread itself exists only in the parent). Held from a static pointer: neither a
// std::terminate at destruction nor a leak for LeakSanitizer.
void abandon(std::thread t) {
  static auto* abandoned = new std::vector<std::thread>();
  abandoned->push_back(std::move(t));
}

void require_readable(const std::filesystem::path& p, const char* option) {
  if (p.empty()) return;
  if (::access(p.c_str(), R_OK) != 0)
    fail(errno, fmt::format("Options::{} {} cannot be read", option, p.string()));
}

// Checks what the ranges of the worker's configuration (range_error()) do not: contents and
// combinations of options the worker would only trip over later. The message names the option.
void validate_options(const Options& o, bool from_servers) {
  if (!valid_mqtt_string(o.client_id))
    fail(EINVAL, "Options::client_id must be UTF-8 without NUL");
  if (o.ring_bytes > shm::kMaxRingBytes)
    fail(EINVAL, fmt::format("Options::ring_bytes {} is above the limit of {}", o.ring_bytes,
                             shm::kMaxRingBytes));
  if (o.worker_start_timeout.count() < 1)
    fail(EINVAL, "Options::worker_start_timeout must be at least 1 ms");
  if (o.takeover_timeout.count() < 1)
    fail(EINVAL, "Options::takeover_timeout must be at least 1 ms");
  if (o.large_message_bytes > large::kMaxInlinePayloadBytes)
    fail(EINVAL, fmt::format("Options::large_message_bytes {} is above the limit of {} (a "
                             "larger payload could not be cached in one record)",
                             o.large_message_bytes, large::kMaxInlinePayloadBytes));
  if (!o.will.topic.empty() && validate_topic(o.will.topic))
    fail(EINVAL, fmt::format("Options::will.topic: {}", validate_topic(o.will.topic).message()));
  for (const auto& [name, value] : o.user_properties)
    if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos)
      fail(EINVAL, "Options::user_properties: a name or value contains NUL");
  if (o.mqtt_version != MqttVersion::v5 && (!o.content_type.empty() || !o.user_properties.empty()))
    fail(EINVAL, "Options::content_type and Options::user_properties need "
                 "Options::mqtt_version = MqttVersion::v5");
  if (o.session_expiry && o.mqtt_version != MqttVersion::v5)
    fail(EINVAL, "Options::session_expiry needs Options::mqtt_version = MqttVersion::v5 (MQTT "
                 "3.1.1 has no session expiry: clean_session = false keeps the session until a "
                 "clean connect)");
  if (o.session_expiry && (*o.session_expiry < std::chrono::seconds(0) ||
                           *o.session_expiry > kSessionNeverExpires))
    fail(EINVAL, fmt::format("Options::session_expiry {} s is outside 0..{} s ({}: never expires)",
                             o.session_expiry->count(), kSessionNeverExpires.count(),
                             kSessionNeverExpires.count()));
  if (o.mqtt_version != MqttVersion::v5 && o.dedup_property)
    fail(EINVAL, "Options::dedup_property needs Options::mqtt_version = MqttVersion::v5 (it sends "
                 "user properties)");
  // "<client_id>/<16 hex digits>" must fit an MQTT string.
  if (o.dedup_property && o.client_id.size() > 65535 - 17)
    fail(EINVAL, "Options::dedup_property needs an Options::client_id of at most 65518 bytes");
  const auto& t = o.tls;
  const bool tls = uses_tls(o, from_servers);
  if (!t.min_version.empty() && t.min_version != "tlsv1.1" && t.min_version != "tlsv1.2" &&
      t.min_version != "tlsv1.3")
    fail(EINVAL, fmt::format("Options::tls.min_version '{}' is not tlsv1.1, tlsv1.2 or tlsv1.3",
                             t.min_version));
  if (!tls && (!t.ca_file.empty() || !t.ca_path.empty() || !t.cert_file.empty() ||
               !t.key_file.empty() || !t.key_password.empty() || !t.min_version.empty()))
    fail(EINVAL, "Options::tls file options (or min_version) are set but no broker is reached "
                 "over TLS (tls.enabled is false, no ssl:// or wss:// server; a plain connection "
                 "would ignore them): enable TLS or clear them");
  if (tls) {
    require_readable(t.ca_file, "tls.ca_file");
    require_readable(t.ca_path, "tls.ca_path");
    require_readable(t.cert_file, "tls.cert_file");
    require_readable(t.key_file, "tls.key_file");
    if (t.cert_file.empty() != t.key_file.empty())
      fail(EINVAL, "Options::tls.cert_file and Options::tls.key_file go together");
  }
}

// Options::metrics_file made absolute, its directory checked; "" when unset.
std::string checked_metrics_file(const Options& o) {
  if (o.metrics_file.empty()) return {};
  const auto path = std::filesystem::absolute(o.metrics_file);
  const auto dir = path.parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    fail(ENOENT, fmt::format("Options::metrics_file {}: its directory {} does not exist; create "
                             "it (the worker writes the file there)", path.string(), dir.string()));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    fail(EACCES, fmt::format("Options::metrics_file {}: its directory {} is not writable by this "
                             "user", path.string(), dir.string()));
  if (path.filename().empty() || std::filesystem::is_directory(path, ec))
    fail(EINVAL, fmt::format("Options::metrics_file {} names a directory: name a file in it",
                             path.string()));
  return path.string();
}

}  // namespace

// Every connected client, so that a fork() child of the host can drop their descriptors.
std::mutex& registry_mu() {
  static std::mutex mu;
  return mu;
}
// Keyed by client; the value closes that client's inherited descriptors.
std::map<const void*, std::function<void()>>& registry() {
  static std::map<const void*, std::function<void()>> clients;
  return clients;
}
void robustmq_atfork_prepare() noexcept { registry_mu().lock(); }
void robustmq_atfork_parent() noexcept { registry_mu().unlock(); }
void robustmq_atfork_child() noexcept;

void RobustClient::Impl::connect_async(const std::string& host, int port, bool from_servers) {
  if (connected_.load() || stopped_.load())
    fail(EALREADY, "connect_async() was already called on this client");
  WorkerConfig config = worker_config(options);
  if (!from_servers) {
    config.host = host;
    config.port = port;
  }
  apply_servers(options, from_servers, config);  // the list, the proxies (lib/servers.hpp)
  validate_options(options, from_servers);
  config.password_file = checked_password_file(options);
  config.metrics_file = checked_metrics_file(options);
  if (auto error = range_error(config, FieldNames::options)) fail(EINVAL, *error);
  options.host = config.host;
  options.port = config.port;
  worker_path_ = find_worker(options.worker_path);
  if (::access(worker_path_.c_str(), X_OK) != 0)
    fail(ENOENT, fmt::format("robustmq-worker not found or not executable at {}: install "
                             "RobustMQ, or set Options::worker_path or ROBUSTMQ_WORKER",
                             worker_path_.string()));
  cache_dir_ = prepare_cache_dir(options.cache_path);
  // A moment of a lock held by a gone owner (cache_dir.hpp) lasts microseconds: a second at
  // least, whatever takeover_timeout says.
  lock_fd_ = lock_cache_dir(cache_dir_, std::max(options.takeover_timeout,
                                                 std::chrono::milliseconds(1000)));
  try {
    // No publish() of this cache path runs now (we hold the lock): a .tmp file is a dead
    // producer's half-written payload.
    if (const auto removed = large::prepare_dir(cache_dir_); removed > 0)
      set_error(fmt::format("deleted {} half-written large-message files left by a producer "
                            "that died while writing them", removed));
    segment_name_ = segment_name(cache_dir_, options.client_id);
    MappedSegment::Origin origin{};
    std::string note;
    segment_.emplace(MappedSegment::create_or_adopt(segment_name_, options.ring_bytes, origin,
                                                    note));
    if (!note.empty()) set_error(note);
    // A worker of an earlier life may still be delivering from this segment and the cache: it
    // hands over first (takeover.hpp), before anything below changes what it reads.
    took_over_from_ = take_over_worker(cache_dir_, worker_path_, seg().control,
                                       options.takeover_timeout);
    // An adopted segment may carry its dead owner's stop request or flush target.
    seg().control.stop_requested.store(0);
    seg().control.flush_target.store(0);
    attach_handlers(&seg().control);
    start_sequence(origin == MappedSegment::Origin::created);
    if (options.dedup_property) {
      // Without a bound the numbering may repeat an earlier life's: a new stream then.
      std::string note;
      config.dedup_producer = fmt::format(
          "{}/{}", options.client_id,
          producer_id::stream(cache_dir_, seg().control.seq_unknown.load() != 0, note));
      if (!note.empty()) set_error(note);
    }
    producer_.emplace(seg().producer, seg().consumer, segment_->ring(), segment_->ring_bytes());
    large_threshold_ = options.large_message_bytes != 0 ? options.large_message_bytes
                                                        : producer_->size() / 8;
    // In journal mode a message is on disk before it is sent: so is a large payload's file.
    // Otherwise the worker fsyncs the file when it spools the reference to the cache.
    large_sync_ = options.durability == Durability::journal && options.cache_sync;
    if (options.mqtt_version == MqttVersion::v5) {
      // Property length (up to 4) + message expiry (5) + content type + user properties, with
      // robustmq-producer and robustmq-seq among them.
      mqtt_properties_bytes_ = 4 + 5;
      if (!options.content_type.empty()) mqtt_properties_bytes_ += 3 + options.content_type.size();
      for (const auto& [k, v] : options.user_properties) mqtt_properties_bytes_ += 5 + k.size() + v.size();
      if (options.dedup_property)
        mqtt_properties_bytes_ += 5 + kProducerProperty.size() + config.dedup_producer.size() +
                                  5 + kSeqProperty.size() + kMaxSeqDigits;
    }

    config.segment_name = segment_name_;
    config.cache_dir = cache_dir_.string();
    config_blob_ = encode(config);

    monitor_wake_ = ::eventfd(0, EFD_CLOEXEC);
    if (monitor_wake_ < 0) fail(errno, "eventfd");
    log_journal_ = log_line::stderr_is_journal();
    start_worker();
    finish_sequence();
    // The worker said "running" once its counts were in the segment.
    const auto& st = seg().status;
    const std::uint64_t published = st.published.load();
    const std::uint64_t read = st.ring_messages_read.load();
    carried_over_ = (published > read ? published - read : 0) + st.cache_backlog.load();
  } catch (...) {
    if (lifeline_ >= 0) ::close(lifeline_);
    if (monitor_wake_ >= 0) ::close(monitor_wake_);
    if (log_socket_ >= 0) ::close(log_socket_);
    lifeline_ = monitor_wake_ = log_socket_ = -1;
    producer_.reset();
    attach_handlers(nullptr);
    segment_.reset();
    release_lock();
    throw;
  }
  owner_pid_ = ::getpid();
  // A fork() child of the host gets no mapping of the segment (MappedSegment maps it
  // MADV_DONTFORK), no lifeline and no lock.
  {
    static std::once_flag once;
    std::call_once(once, [] {
      ::pthread_atfork(robustmq_atfork_prepare, robustmq_atfork_parent, robustmq_atfork_child);
    });
    std::lock_guard lock(registry_mu());
    registry()[this] = [this] {
      close_inherited_fds();
      events.forked();  // its thread exists only in the parent: no handler runs in a child
    };
  }
  connected_.store(true);
  monitor_ = std::thread([this] { monitor_loop(); });
  // The worker runs and reported its counts: the event thread starts (if a handler is set)
  // above the delivered_through of now.
  events.attach(seg(), cache_dir_);
}

void robustmq_atfork_child() noexcept {
  for (auto& [client, close_fds] : registry()) close_fds();
  registry_mu().unlock();
}

void RobustClient::Impl::stop(StopMode mode) {
  if (connected_.load() && in_forked_child()) {
    // The parent's client: leave its worker, segment and lock alone.
    connected_.store(false);
    stopped_.store(true);
    producer_.reset();
    segment_->forget();
    segment_.reset();
    // The monitor thread exists only in the parent; its std::thread object must not be joined
    // or destroyed here (that would terminate the child).
    if (monitor_.joinable()) abandon(std::move(monitor_));
    if (std::thread t = events.release_in_child(); t.joinable()) abandon(std::move(t));
    return;
  }
  if (stopped_.exchange(true) || !connected_.load()) return;
  {
    std::lock_guard lock(registry_mu());
    registry().erase(this);
  }
  {
    std::lock_guard lock(publish_mu_);  // no publish() is half-way through after this
  }
  stopping_.store(true);
  const std::uint64_t one = 1;
  (void)!::write(monitor_wake_, &one, sizeof one);
  if (monitor_.joinable()) monitor_.join();
  if (mode == StopMode::hand_off) {
    hand_off();
    return;
  }

  // Ask the worker to spool the ring to disk and exit; wait for its end of the lifeline to
  // close. A worker that died meanwhile is replaced once so the ring still reaches the disk.
  seg().control.stop_requested.store(1);
  for (int attempt = 0; attempt < 2; ++attempt) {
    send_lifeline(lifeline::kStop);
    const auto deadline = deadline_after(options.stop_timeout);
    bool eof = false;
    while (!eof && std::chrono::steady_clock::now() < deadline) {
      pollfd p{lifeline_, POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 1000) <= 0) continue;
      char buf[256];
      ssize_t n = ::recv(lifeline_, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) eof = true;
    }
    const bool empty = seg().consumer.tail.load() == seg().producer.head.load();
    if (empty || !eof) break;
    try {
      start_worker();
    } catch (const std::exception& e) {
      set_error(e.what());
      break;
    }
  }
  // The worker has exited (or is past waiting for): a last pass reports all it did.
  finish_log();
  attach_handlers(nullptr);  // a fork() child of a stopped client has no mapping
  events.finish();
  connected_.store(false);
  if (seg().consumer.tail.load() == seg().producer.head.load()) {
    MappedSegment::unlink(segment_name_);
    save_sequence();
  }
  ::close(lifeline_);
  ::close(monitor_wake_);
  release_lock();
  lifeline_ = monitor_wake_ = -1;
}

// The worker becomes an orphan on purpose: it reads 'h', then EOF, and goes on delivering
// (worker/loop.cpp). The segment stays, and so do the messages in it; the client lock goes
// with our descriptor, so that a later client can take over at once (takeover.hpp).
void RobustClient::Impl::hand_off() {
  // A worker that died (the monitor may have been between restarts) is replaced first, so that
  // someone delivers.
  pollfd p{lifeline_, POLLIN | POLLRDHUP, 0};
  char probe = 0;
  if (::poll(&p, 1, 0) > 0 && ::recv(lifeline_, &probe, 1, MSG_DONTWAIT) == 0) {
    try {
      start_worker();
    } catch (const std::exception& e) {
      set_error(fmt::format("no worker to hand off to ({}): the messages wait in the ring and "
                            "the cache for the next client",
                            e.what()));
    }
  }
  const Stats s = stats();
  handed_off_.store(s.ring_backlog + s.cache_backlog);
  finish_log();  // the worker's lines go to stderr or syslog from now on
  send_lifeline(lifeline::kHandOff);
  attach_handlers(nullptr);
  // What the worker does from now on is not reported in this life (README "Events"): the
  // next client sees it through delivered_through() and drop_journal().
  events.finish("handed off: the worker delivers on without this client");
  connected_.store(false);
  ::close(lifeline_);
  ::close(monitor_wake_);
  release_lock();
  lifeline_ = monitor_wake_ = -1;
}

// The lock file stops naming this process before the lock goes: an orphan that holds the lock
// for a moment (unlink_segment_unless_claimed()) must not make a later client of this very
// process, which is alive, read EBUSY naming it (cache_dir.hpp).
void RobustClient::Impl::release_lock() noexcept {
  if (lock_fd_ < 0) return;
  (void)!::ftruncate(lock_fd_, 0);
  ::close(lock_fd_);
  lock_fd_ = -1;
}

RobustClient::RobustClient(std::string client_id, CacheType cache_type,
                           std::filesystem::path cache_path)
    : RobustClient([&] {
        Options o;
        o.client_id = std::move(client_id);
        o.cache_type = cache_type;
        o.cache_path = std::move(cache_path);
        return o;
      }()) {}

RobustClient::RobustClient(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
RobustClient::~RobustClient() = default;

void RobustClient::connect_async(const std::string& mqtt_host, int mqtt_port) {
  impl_->connect_async(mqtt_host, mqtt_port);
}
void RobustClient::connect_async() { impl_->connect_async({}, 0, true); }
std::error_code RobustClient::publish(std::string_view topic, std::string_view payload, int qos,
                                      bool retain) {
  return impl_->publish(topic, payload, qos, retain);
}
std::error_code RobustClient::publish(std::string_view topic, std::span<const std::byte> payload,
                                      int qos, bool retain) {
  return impl_->publish(
      topic, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()), qos,
      retain);
}
std::error_code RobustClient::publish(std::string_view topic, std::string_view payload, int qos,
                                      bool retain, std::uint64_t& sequence) {
  return impl_->publish(topic, payload, qos, retain, &sequence);
}
std::error_code RobustClient::publish(std::string_view topic, std::span<const std::byte> payload,
                                      int qos, bool retain, std::uint64_t& sequence) {
  return impl_->publish(
      topic, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()), qos,
      retain, &sequence);
}
std::error_code RobustClient::flush(std::chrono::milliseconds timeout) {
  return impl_->flush(timeout);
}
std::uint64_t RobustClient::delivered_through() const { return impl_->delivered_through(); }
std::error_code RobustClient::wait_delivered(std::chrono::milliseconds timeout) {
  return impl_->wait_delivered(std::nullopt, timeout);
}
std::error_code RobustClient::wait_delivered(std::uint64_t sequence,
                                             std::chrono::milliseconds timeout) {
  return impl_->wait_delivered(sequence, timeout);
}
std::error_code RobustClient::resend_dead_letters(std::chrono::milliseconds timeout,
                                                  std::uint64_t& moved) {
  return impl_->resend_dead_letters(timeout, moved);
}
Stats RobustClient::stats() const { return impl_->stats(); }
void RobustClient::stop() { impl_->stop(); }
void RobustClient::stop(StopMode mode) { impl_->stop(mode); }
const Options& RobustClient::options() const noexcept { return impl_->options; }

}  // namespace robustmq
