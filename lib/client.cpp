// RobustClient: the application side. publish() copies a record into the shared ring; a monitor
// thread watches the worker through the lifeline socket and restarts it when it dies.
#include "robustmq/client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "proto/futex.hpp"
#include "proto/large_message.hpp"
#include "proto/ring.hpp"
#include "proto/segment.hpp"
#include "lib/spawn.hpp"
#include "proto/status_text.hpp"
#include "proto/validate.hpp"
#include "proto/worker_config.hpp"

namespace robustmq {

namespace {

[[noreturn]] void fail(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

constexpr std::chrono::milliseconds kWorkerStartTimeout{15'000};

// Keeps, never joined nor destroyed, a thread object that a fork() child inherited from its
// parent (the thread itself exists only in the parent). Held from a static pointer: neither a
// std::terminate at destruction nor a leak for LeakSanitizer.
void abandon(std::thread t) {
  static auto* abandoned = new std::vector<std::thread>();
  abandoned->push_back(std::move(t));
}

// Creates the cache directory (0700) if needed and checks that it is ours.
std::filesystem::path prepare_cache_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  // Parents as create_directories() makes them; the cache directory itself 0700 from the first
  // instant (a chmod afterwards would leave a window in which others could open it).
  const std::filesystem::path own = dir.has_filename() ? dir : dir.parent_path();  // "a/b/"
  if (!own.parent_path().empty()) std::filesystem::create_directories(own.parent_path(), ec);
  if (ec)
    fail(ec.value(), fmt::format("cannot create the parent of cache directory {}: {}",
                                 dir.string(), ec.message()));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    fail(errno, fmt::format("cannot create cache directory {}", dir.string()));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    fail(errno, fmt::format("cannot access cache directory {}", dir.string()));
  if (!S_ISDIR(st.st_mode))
    fail(ENOTDIR, fmt::format("cache path {} is not a directory", dir.string()));
  if (st.st_uid != ::geteuid())
    fail(EACCES, fmt::format("cache directory {} belongs to uid {}, not to us (uid {}): use a "
                             "directory of your own",
                             dir.string(), st.st_uid, ::geteuid()));
  if ((st.st_mode & 0777) != 0700) ::chmod(dir.c_str(), 0700);
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    fail(errno, fmt::format("cache directory {} is not writable", dir.string()));
  return std::filesystem::canonical(dir);
}

// One live client per cache directory: an flock held by the client and (through the inherited
// descriptor) by its worker. Whoever of them lives keeps the lock.
int lock_cache_dir(const std::filesystem::path& dir) {
  const auto path = dir / "robustmq.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail(errno, fmt::format("cannot open lock file {}", path.string()));
  ::fchmod(fd, 0600);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[64] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string owner = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
    while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) owner.pop_back();
    if (err == EWOULDBLOCK)
      fail(EBUSY, fmt::format("cache path {} is in use by another live RobustMQ client (pid "
                              "{}): stop it or use another cache_path",
                              dir.string(), owner));
    fail(err, fmt::format("cannot lock {}", path.string()));
  }
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid is only informational; the lock itself is what matters.
  }
  return fd;
}

void require_readable(const std::filesystem::path& p, const char* option) {
  if (p.empty()) return;
  if (::access(p.c_str(), R_OK) != 0)
    fail(errno, fmt::format("Options::{} {} cannot be read", option, p.string()));
}

// Checks what the ranges of the worker's configuration (range_error()) do not: contents and
// combinations of options the worker would only trip over later. The message names the option.
void validate_options(const Options& o) {
  if (validate_topic(o.client_id) == errc::topic_invalid_utf8 ||
      o.client_id.find('\0') != std::string::npos)
    fail(EINVAL, "Options::client_id must be UTF-8 without NUL");
  if (o.ring_bytes > shm::kMaxRingBytes)
    fail(EINVAL, fmt::format("Options::ring_bytes {} is above the limit of {}", o.ring_bytes,
                             shm::kMaxRingBytes));
  if (!o.will.topic.empty() && validate_topic(o.will.topic))
    fail(EINVAL, fmt::format("Options::will.topic: {}", validate_topic(o.will.topic).message()));
  for (const auto& [name, value] : o.user_properties)
    if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos)
      fail(EINVAL, "Options::user_properties: a name or value contains NUL");
  if (o.mqtt_version != MqttVersion::v5 && (!o.content_type.empty() || !o.user_properties.empty()))
    fail(EINVAL, "Options::content_type and Options::user_properties need "
                 "Options::mqtt_version = MqttVersion::v5");
  const auto& t = o.tls;
  if (!t.enabled && (!t.ca_file.empty() || !t.ca_path.empty() || !t.cert_file.empty() ||
                     !t.key_file.empty() || !t.key_password.empty()))
    fail(EINVAL, "Options::tls file options are set but Options::tls.enabled is false (a plain "
                 "tcp:// connection would ignore them): enable TLS or clear them");
  if (t.enabled) {
    require_readable(t.ca_file, "tls.ca_file");
    require_readable(t.ca_path, "tls.ca_path");
    require_readable(t.cert_file, "tls.cert_file");
    require_readable(t.key_file, "tls.key_file");
    if (t.cert_file.empty() != t.key_file.empty())
      fail(EINVAL, "Options::tls.cert_file and Options::tls.key_file go together");
  }
}

}  // namespace

std::string_view to_string(ConnectionState s) noexcept {
  switch (s) {
    case ConnectionState::idle: return "idle";
    case ConnectionState::connecting: return "connecting";
    case ConnectionState::connected: return "connected";
    case ConnectionState::disconnected: return "disconnected";
    case ConnectionState::stopped: return "stopped";
  }
  return "unknown";
}

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

class RobustClient::Impl {
 public:
  explicit Impl(Options o) : options(std::move(o)) {}
  ~Impl() { stop(); }

  void connect_async(const std::string& host, int port);
  std::error_code publish(std::string_view topic, std::string_view payload, int qos, bool retain);
  std::error_code flush(std::chrono::milliseconds timeout);
  Stats stats() const;
  void stop();

  Options options;

 private:
  shm::Segment& seg() const { return segment_->segment(); }
  // Wakes a sleeping worker, P1-P2 of the wake-up handshake (proto/segment_layout.hpp).
  void wake_worker() noexcept;
  // Waits until pred() holds or the deadline passes, C1-C6 of the same handshake.
  template <typename Pred>
  bool wait_for_worker(Pred pred, std::chrono::steady_clock::time_point deadline);
  void monitor_loop();
  void start_worker();
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
  std::thread monitor_;
  mutable std::mutex error_mu_;
  std::string error_;
};

void RobustClient::Impl::connect_async(const std::string& host, int port) {
  if (connected_.load() || stopped_.load())
    fail(EALREADY, "connect_async() was already called on this client");
  validate_options(options);
  WorkerConfig config = worker_config(options);
  config.host = host;
  config.port = port;
  if (auto error = range_error(config, FieldNames::options)) fail(EINVAL, *error);
  options.host = host;
  options.port = port;
  worker_path_ = find_worker(options.worker_path);
  if (::access(worker_path_.c_str(), X_OK) != 0)
    fail(ENOENT, fmt::format("robustmq-worker not found or not executable at {}: install "
                             "RobustMQ, or set Options::worker_path or ROBUSTMQ_WORKER",
                             worker_path_.string()));
  cache_dir_ = prepare_cache_dir(options.cache_path);
  lock_fd_ = lock_cache_dir(cache_dir_);
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
    // An adopted segment may carry its dead owner's stop request or flush target.
    seg().control.stop_requested.store(0);
    seg().control.flush_target.store(0);
    producer_.emplace(seg().producer, seg().consumer, segment_->ring(), segment_->ring_bytes());
    large_threshold_ = options.large_message_bytes != 0 ? options.large_message_bytes
                                                        : producer_->size() / 8;
    // In journal mode a message is on disk before it is sent: so is a large payload's file.
    // Otherwise the worker fsyncs the file when it spools the reference to the cache.
    large_sync_ = options.durability == Durability::journal && options.cache_sync;
    if (options.mqtt_version == MqttVersion::v5) {
      // Property length (up to 4) + message expiry (5) + content type + user properties.
      mqtt_properties_bytes_ = 4 + 5;
      if (!options.content_type.empty()) mqtt_properties_bytes_ += 3 + options.content_type.size();
      for (const auto& [k, v] : options.user_properties) mqtt_properties_bytes_ += 5 + k.size() + v.size();
    }

    config.segment_name = segment_name_;
    config.cache_dir = cache_dir_.string();
    config_blob_ = encode(config);

    monitor_wake_ = ::eventfd(0, EFD_CLOEXEC);
    if (monitor_wake_ < 0) fail(errno, "eventfd");
    start_worker();
  } catch (...) {
    if (lifeline_ >= 0) ::close(lifeline_);
    if (monitor_wake_ >= 0) ::close(monitor_wake_);
    lifeline_ = monitor_wake_ = -1;
    producer_.reset();
    segment_.reset();
    ::close(lock_fd_);
    lock_fd_ = -1;
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
    registry()[this] = [this] { close_inherited_fds(); };
  }
  connected_.store(true);
  monitor_ = std::thread([this] { monitor_loop(); });
}

void robustmq_atfork_child() noexcept {
  for (auto& [client, close_fds] : registry()) close_fds();
  registry_mu().unlock();
}

void RobustClient::Impl::start_worker() {
  SpawnResult r = spawn_worker(worker_path_, lock_fd_, config_blob_, kWorkerStartTimeout);
  if (lifeline_ < 0) {
    lifeline_ = r.lifeline;
  } else {
    ::dup3(r.lifeline, lifeline_, O_CLOEXEC);  // atomically swaps the socket under publish()
    ::close(r.lifeline);
  }
}

void RobustClient::Impl::monitor_loop() {
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping_.load()) {
    pollfd fds[2] = {{lifeline_, POLLIN | POLLRDHUP, 0}, {monitor_wake_, POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0) continue;
    if (fds[1].revents != 0 || stopping_.load()) return;
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLRDHUP | POLLERR)) == 0) continue;
    char buf[256];
    ssize_t n = ::recv(lifeline_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) continue;
    // EOF: the worker died. Everything it had not acknowledged or cached is still in the ring.
    while (!stopping_.load()) {
      try {
        start_worker();
        seg().status.worker_restarts.fetch_add(1, std::memory_order_relaxed);
        backoff = std::chrono::milliseconds(100);
        break;
      } catch (const std::exception& e) {
        set_error(fmt::format("restarting robustmq-worker failed: {}", e.what()));
        pollfd w{monitor_wake_, POLLIN, 0};
        ::poll(&w, 1, static_cast<int>(backoff.count()));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      }
    }
  }
}

void RobustClient::Impl::wake_worker() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  auto& sleeping = seg().wake.worker_sleeping;
  if (sleeping.load(std::memory_order_relaxed) != 0 && sleeping.exchange(0) != 0) {
    const char c = 'w';
    (void)::send(lifeline_, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
}

template <typename Pred>
bool RobustClient::Impl::wait_for_worker(Pred pred, std::chrono::steady_clock::time_point deadline) {
  auto& w = seg().wake;
  while (true) {
    w.client_waiters.fetch_add(1);
    const std::uint32_t word = w.client_word.load();
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (pred()) {
      w.client_waiters.fetch_sub(1);
      return true;
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      w.client_waiters.fetch_sub(1);
      return false;
    }
    wake_worker();
    futex_wait(w.client_word, word, std::min<std::chrono::nanoseconds>(left, std::chrono::milliseconds(200)));
    w.client_waiters.fetch_sub(1);
  }
}

std::error_code RobustClient::Impl::publish(std::string_view topic, std::string_view payload,
                                            int qos, bool retain) {
  if (connected_.load(std::memory_order_acquire) && in_forked_child()) return errc::forked_child;
  if (!connected_.load(std::memory_order_acquire))
    return stopped_.load() ? errc::stopped : errc::not_connected;
  record::MessageView m;
  m.enqueue_ns = now_ns();
  m.qos = qos;
  m.retain = retain;
  m.topic = topic;
  m.payload = payload;

  // A large payload goes to a file first (outside the lock: other threads keep publishing);
  // its reference takes the payload's place in the ring.
  std::optional<large::Reference> file;
  std::string reference;
  const std::size_t max_record = record::max_record_bytes(producer_->size());
  const bool reference_fits = record::record_bytes(topic.size(), large::kMaxReferenceBytes) <= max_record;
  if (reference_fits && (payload.size() > large_threshold_ ||
                         record::record_bytes(topic.size(), payload.size()) > max_record)) {
    if (auto ec = validate_topic(topic)) return ec;
    if (auto ec = validate_qos(qos)) return ec;
    if (payload.size() > large::max_mqtt_payload(topic.size(), mqtt_properties_bytes_))
      return errc::payload_over_mqtt_limit;
    if (options.max_cache_bytes != 0 && payload.size() + topic.size() > options.max_cache_bytes)
      return errc::payload_over_cache_limit;
    std::error_code io;
    std::string what;
    file = large::write_file(cache_dir_, payload, m.enqueue_ns, large_sync_, io, what);
    if (!file) {
      set_error(what);
      return errc::large_file_failed;
    }
    reference = large::encode(*file);
    m.payload = reference;
    m.large = true;
  }
  // Deletes the file of a message that did not make it into the ring.
  auto refused = [&](std::error_code ec) {
    if (file) (void)large::remove_file(cache_dir_, *file);
    return ec;
  };
  if (auto ec = validate_message(topic, m.payload.size(), qos, producer_->size()))
    return refused(ec);

  std::lock_guard lock(publish_mu_);
  if (stopped_.load(std::memory_order_relaxed)) return refused(errc::stopped);
  auto& prod = seg().producer;
  m.seq = prod.next_seq.load(std::memory_order_relaxed);
  if (!producer_->try_push(m)) {
    const auto deadline = std::chrono::steady_clock::now() + options.publish_wait;
    if (!wait_for_worker([&] { return producer_->try_push(m); }, deadline)) {
      seg().status.queue_full.fetch_add(1, std::memory_order_relaxed);
      return refused(errc::queue_full);
    }
  }
  prod.next_seq.store(m.seq + 1, std::memory_order_relaxed);
  seg().status.published.fetch_add(1, std::memory_order_relaxed);
  wake_worker();
  return {};
}

std::error_code RobustClient::Impl::flush(std::chrono::milliseconds timeout) {
  if (connected_.load() && in_forked_child()) return errc::forked_child;
  if (!connected_.load()) return stopped_.load() ? errc::stopped : errc::not_connected;
  const std::uint64_t target = seg().producer.head.load(std::memory_order_acquire);
  auto& ft = seg().control.flush_target;
  std::uint64_t cur = ft.load();
  while (cur < target && !ft.compare_exchange_weak(cur, target)) {
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const bool ok = wait_for_worker(
      [&] { return seg().consumer.tail.load(std::memory_order_acquire) >= target; }, deadline);
  return ok ? std::error_code{} : make_error_code(errc::flush_timeout);
}

Stats RobustClient::Impl::stats() const {
  Stats s;
  if (!segment_ || in_forked_child()) {
    s.state = stopped_.load() ? ConnectionState::stopped : ConnectionState::idle;
    return s;
  }
  const auto& st = seg().status;
  s.state = stopped_.load() ? ConnectionState::stopped
                            : static_cast<ConnectionState>(st.state.load());
  s.published = st.published.load();
  s.sent = st.sent.load();
  s.acknowledged = st.acknowledged.load();
  s.cached = st.cached.load();
  s.dropped_invalid = st.dropped_invalid.load();
  s.queue_full = st.queue_full.load();
  s.reconnects = st.reconnects.load();
  s.worker_restarts = st.worker_restarts.load();
  const auto read = st.ring_messages_read.load();
  s.ring_backlog = s.published > read ? s.published - read : 0;
  s.cache_backlog = st.cache_backlog.load();
  s.cache_backlog_bytes = st.cache_backlog_bytes.load();
  s.dropped_expired = st.dropped_expired.load();
  s.dropped_overflow = st.dropped_overflow.load();
  s.connect_attempts = st.connect_attempts.load();
  if (const auto oldest = st.oldest_enqueue_ns.load(); oldest > 0) {
    const auto age = now_ns() - oldest;
    s.oldest_age = std::chrono::seconds(age > 0 ? age / 1'000'000'000 : 0);
  }
  std::int64_t error_ns = 0;
  s.last_error = read_status_text(st.last_error, &error_ns);
  if (error_ns > 0)
    s.last_error_time = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(error_ns)));
  s.cache_error = read_status_text(st.cache_error);
  s.worker_pid = static_cast<int>(seg().control.worker_pid.load());
  std::lock_guard lock(error_mu_);
  if (s.last_error.empty()) s.last_error = error_;
  return s;
}

void RobustClient::Impl::stop() {
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

  // Ask the worker to spool the ring to disk and exit; wait for its end of the lifeline to
  // close. A worker that died meanwhile is replaced once so the ring still reaches the disk.
  seg().control.stop_requested.store(1);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const char c = 's';
    (void)::send(lifeline_, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    const auto deadline = std::chrono::steady_clock::now() + options.stop_timeout;
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
  connected_.store(false);
  if (seg().consumer.tail.load() == seg().producer.head.load())
    MappedSegment::unlink(segment_name_);
  ::close(lifeline_);
  ::close(monitor_wake_);
  ::close(lock_fd_);
  lifeline_ = monitor_wake_ = lock_fd_ = -1;
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
std::error_code RobustClient::flush(std::chrono::milliseconds timeout) {
  return impl_->flush(timeout);
}
Stats RobustClient::stats() const { return impl_->stats(); }
void RobustClient::stop() { impl_->stop(); }
const Options& RobustClient::options() const noexcept { return impl_->options; }

}  // namespace robustmq
