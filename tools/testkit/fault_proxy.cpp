#include "testkit/fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "testkit/mosquitto.hpp"
#include "testkit/mqtt_framing.hpp"

namespace robustmq::testkit {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;
constexpr std::size_t kMaxQueued = 4 << 20;  // per direction; beyond it we stop reading

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), std::string("FaultProxy: ") + what);
}

// Close with RST instead of FIN: the peer sees "connection reset by peer".
void close_with_rst(int fd) {
  if (fd < 0) return;
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(fd);
}

struct Settings {
  std::chrono::milliseconds latency{0};
  std::size_t bandwidth = 0;
  bool blackhole = false;
  bool stall = false;
  bool refuse = false;
  std::size_t rewrites_left = 0;  // PUBACKs still to rewrite
  std::uint8_t rewrite_code = 0;
  bool hold_replies = false;
};

struct Chunk {
  Clock::time_point due;
  std::string data;
  std::size_t off = 0;
};

// Bytes read from `from`, waiting to be written to `to`.
struct Direction {
  int from = -1, to = -1;
  std::deque<Chunk> queue;
  std::size_t queued = 0;
  bool eof = false;        // `from` said FIN
  bool shut = false;       // FIN passed on to `to`
  bool want_out = false;   // `to` was full: wait for POLLOUT
  double tokens = 0;
  Clock::time_point refilled = Clock::now();
};

struct Conn {
  int client = -1, upstream = -1;
  Direction up, down;  // client→broker, broker→client
  PubackRewriter pubacks;  // follows `down`
  bool dead = false;   // an error: reset both sides
};

}  // namespace

class FaultProxy::Impl {
 public:
  explicit Impl(FaultProxyOptions options) : options_(std::move(options)) {
    port_ = options_.listen_port != 0 ? options_.listen_port : free_port();
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) fail("socket");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
    if (::listen(listen_fd_, 64) != 0) fail("listen");
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) fail("eventfd");
    thread_ = std::thread([this] { run(); });
  }

  ~Impl() {
    stop_ = true;
    wake();
    thread_.join();
    for (auto& c : conns_) {
      ::close(c.client);
      ::close(c.upstream);
    }
    ::close(listen_fd_);
    ::close(wake_fd_);
  }

  template <typename F>
  void update(F&& f) {
    {
      std::lock_guard lk(mu_);
      f(settings_);
    }
    wake();
  }

  void reset_all() {
    std::unique_lock lk(mu_);
    const std::uint64_t gen = ++reset_requested_;
    wake();
    done_cv_.wait(lk, [&] { return reset_done_ >= gen; });
  }

  int port_ = 0;
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> accepted_{0}, forwarded_{0}, dropped_{0}, rewritten_{0};

 private:
  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }

  void run() {
    std::vector<pollfd> fds;
    while (!stop_) {
      Settings s;
      std::uint64_t reset_gen;
      {
        std::lock_guard lk(mu_);
        s = settings_;
        reset_gen = reset_requested_;
      }
      if (reset_gen > reset_seen_) {
        for (auto& c : conns_) c.dead = true;
        reap();
        reset_seen_ = reset_gen;
        {
          std::lock_guard lk(mu_);
          reset_done_ = reset_gen;
        }
        done_cv_.notify_all();
      }

      const auto now = Clock::now();
      for (auto& c : conns_) {
        flush(c, c.up, s, now);
        if (!s.hold_replies) flush(c, c.down, s, now);
      }
      reap();

      fds.clear();
      fds.push_back({wake_fd_, POLLIN, 0});
      fds.push_back({listen_fd_, POLLIN, 0});
      for (auto& c : conns_) {
        auto events = [&](const Direction& in, const Direction& out) -> short {
          short e = 0;
          if (!in.eof && !s.stall && in.queued < kMaxQueued) e |= POLLIN;
          if (out.want_out) e |= POLLOUT;
          return e;
        };
        // poll() skips negative fds: a stalled or finished socket must not wake us with POLLHUP.
        const short ec = events(c.up, c.down), eu = events(c.down, c.up);
        fds.push_back({ec ? c.client : -1, ec, 0});
        fds.push_back({eu ? c.upstream : -1, eu, 0});
      }

      ::poll(fds.data(), fds.size(), timeout_ms(s, Clock::now()));
      {
        std::lock_guard lk(mu_);
        s = settings_;  // a command may have come while we slept: it applies to what woke us
      }
      if (fds[0].revents & POLLIN) {
        std::uint64_t v;
        [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
      }
      std::size_t i = 2;
      for (auto& c : conns_) {
        const short rc = fds[i].revents, ru = fds[i + 1].revents;
        i += 2;
        if (rc & POLLOUT) c.down.want_out = false;
        if (ru & POLLOUT) c.up.want_out = false;
        if (rc & (POLLIN | POLLHUP | POLLERR)) receive(c, c.up, s);
        if (ru & (POLLIN | POLLHUP | POLLERR)) receive(c, c.down, s);
      }
      if (fds[1].revents & POLLIN) accept_all(s);  // after the loop above: it appends to conns_
    }
  }

  void accept_all(const Settings& s) {
    while (true) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      ++accepted_;
      if (s.refuse) {
        close_with_rst(fd);
        continue;
      }
      int up = connect_upstream();
      if (up < 0) {
        close_with_rst(fd);  // what the client would see connecting to a dead broker
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Conn c;
      c.client = fd;
      c.upstream = up;
      c.up.from = c.down.to = fd;
      c.down.from = c.up.to = up;
      conns_.push_back(std::move(c));
      open_ = conns_.size();
    }
  }

  // A blocking connect: on loopback it completes or is refused at once.
  int connect_upstream() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(options_.target_port));
    if (::inet_pton(AF_INET, options_.target_host.c_str(), &addr.sin_addr) != 1 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
  }

  void receive(Conn& c, Direction& d, const Settings& s) {
    if (d.eof || c.dead || s.stall) return;  // stall may have begun while we polled
    char buf[kReadChunk];
    ssize_t n = ::recv(d.from, buf, sizeof buf, 0);
    if (n > 0) {
      if (s.blackhole) {
        dropped_ += static_cast<std::uint64_t>(n);
        if (&d == &c.down) dropped_ += c.pubacks.lose();
        return;
      }
      const std::string_view got(buf, static_cast<std::size_t>(n));
      std::string data;
      if (&d == &c.down) {
        c.pubacks.feed(got, data, s.rewrites_left > 0, [this] { return take_rewrite(); });
        if (data.empty()) return;  // all of it part of a PUBACK being rewritten
      } else {
        data.assign(got);
      }
      d.queued += data.size();
      d.queue.push_back({Clock::now() + s.latency, std::move(data), 0});
    } else if (n == 0) {
      d.eof = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      c.dead = true;
    }
  }

  // The reason code for the next PUBACK, if one is still to be rewritten. Asked from the loop
  // thread with the live settings: a count may run out between two reads.
  std::optional<std::uint8_t> take_rewrite() {
    std::lock_guard lk(mu_);
    if (settings_.rewrites_left == 0) return std::nullopt;
    --settings_.rewrites_left;
    ++rewritten_;
    return settings_.rewrite_code;
  }

  void flush(Conn& c, Direction& d, const Settings& s, Clock::time_point now) {
    if (c.dead) return;
    if (s.blackhole && d.queued > 0) {
      dropped_ += d.queued;
      d.queue.clear();
      d.queued = 0;
      if (&d == &c.down) dropped_ += c.pubacks.lose();
    }
    if (s.bandwidth > 0) {
      const double rate = static_cast<double>(s.bandwidth);
      d.tokens = std::min(std::max(rate / 50, 1.0),
                          d.tokens + rate * std::chrono::duration<double>(now - d.refilled).count());
    }
    d.refilled = now;
    while (!d.queue.empty() && d.queue.front().due <= now && !d.want_out) {
      Chunk& ch = d.queue.front();
      std::size_t len = ch.data.size() - ch.off;
      if (s.bandwidth > 0) len = std::min(len, static_cast<std::size_t>(d.tokens));
      if (len == 0) break;
      ssize_t n = ::send(d.to, ch.data.data() + ch.off, len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          d.want_out = true;
        } else if (errno != EINTR) {
          c.dead = true;
        }
        break;
      }
      const auto sent = static_cast<std::size_t>(n);
      forwarded_ += sent;
      d.queued -= sent;
      if (s.bandwidth > 0) d.tokens -= static_cast<double>(sent);
      ch.off += sent;
      if (ch.off == ch.data.size()) d.queue.pop_front();
    }
    if (d.eof && d.queue.empty() && !d.shut) {
      ::shutdown(d.to, SHUT_WR);
      d.shut = true;
    }
  }

  // Removes connections that failed (RST both sides) or finished (both directions shut).
  void reap() {
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->dead) {
        close_with_rst(it->client);
        close_with_rst(it->upstream);
      } else if (it->up.shut && it->down.shut) {
        ::close(it->client);
        ::close(it->upstream);
      } else {
        ++it;
        continue;
      }
      it = conns_.erase(it);
    }
    open_ = conns_.size();
  }

  // Until the next chunk falls due or the next byte of bandwidth is available; -1: no timer.
  int timeout_ms(const Settings& s, Clock::time_point now) const {
    Clock::time_point next = Clock::time_point::max();
    for (const auto& c : conns_) {
      for (const Direction* d : {&c.up, &c.down}) {
        if (d->queue.empty() || d->want_out || (d == &c.down && s.hold_replies)) continue;
        auto due = d->queue.front().due;
        if (s.bandwidth > 0 && d->tokens < 1.0) {
          due = std::max(due, now + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(
                                            (1.0 - d->tokens) / static_cast<double>(s.bandwidth))));
        }
        next = std::min(next, due);
      }
    }
    if (next == Clock::time_point::max()) return -1;
    if (next <= now) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    return static_cast<int>(std::min<decltype(ms)>(ms, 1000));
  }

  const FaultProxyOptions options_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::list<Conn> conns_;  // stable addresses; only the loop thread touches it
  std::thread thread_;
  std::atomic<bool> stop_{false};

  std::mutex mu_;
  std::condition_variable done_cv_;
  Settings settings_;
  std::uint64_t reset_requested_ = 0, reset_done_ = 0;
  std::uint64_t reset_seen_ = 0;  // loop thread only
};

FaultProxy::FaultProxy(int target_port) : FaultProxy(FaultProxyOptions{target_port, "127.0.0.1", 0}) {}
FaultProxy::FaultProxy(FaultProxyOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
FaultProxy::~FaultProxy() = default;

int FaultProxy::port() const noexcept { return impl_->port_; }

void FaultProxy::set_latency(std::chrono::milliseconds one_way) {
  impl_->update([&](Settings& s) { s.latency = one_way; });
}
void FaultProxy::set_bandwidth(std::size_t bytes_per_second) {
  impl_->update([&](Settings& s) { s.bandwidth = bytes_per_second; });
}
void FaultProxy::blackhole(bool on) {
  impl_->update([&](Settings& s) { s.blackhole = on; });
}
void FaultProxy::stall(bool on) {
  impl_->update([&](Settings& s) { s.stall = on; });
}
void FaultProxy::refuse_new(bool on) {
  impl_->update([&](Settings& s) { s.refuse = on; });
}
void FaultProxy::hold_replies(bool on) {
  impl_->update([&](Settings& s) { s.hold_replies = on; });
}
void FaultProxy::reset_all() { impl_->reset_all(); }
void FaultProxy::rewrite_pubacks(std::size_t count, std::uint8_t reason_code) {
  impl_->update([&](Settings& s) {
    s.rewrites_left = count;
    s.rewrite_code = reason_code;
  });
}

std::size_t FaultProxy::connections() const { return impl_->open_; }
std::uint64_t FaultProxy::accepted() const { return impl_->accepted_; }
std::uint64_t FaultProxy::bytes_forwarded() const { return impl_->forwarded_; }
std::uint64_t FaultProxy::bytes_dropped() const { return impl_->dropped_; }
std::uint64_t FaultProxy::pubacks_rewritten() const { return impl_->rewritten_; }

}  // namespace robustmq::testkit
