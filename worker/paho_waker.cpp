#include "worker/paho_waker.hpp"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "worker/log.hpp"

namespace robustmq::worker {

namespace {

enum Tag : std::uint32_t { kControl, kListener, kPeer, kWatched };

constexpr std::array<unsigned char, 4> kConnack = {0x20, 0x02, 0x00, 0x00};  // accepted
constexpr std::array<unsigned char, 2> kPingresp = {0xD0, 0x00};

std::string errno_text(const char* what) {
  return fmt::format("{}: {}", what, std::generic_category().message(errno));
}

bool add(int epoll, int fd, std::uint32_t events, Tag tag) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u32 = tag;
  return ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) == 0;
}

int int_option(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  return ::getsockopt(fd, level, name, &v, &len) == 0 ? v : -1;
}

bool is_loopback_port(const sockaddr_storage& a, std::uint16_t port) {
  if (a.ss_family != AF_INET) return false;
  const auto& in = reinterpret_cast<const sockaddr_in&>(a);
  return ntohs(in.sin_port) == port && ntohl(in.sin_addr.s_addr) == INADDR_LOOPBACK;
}

// Calls f(fd, local, peer) for every established TCP socket of this process.
template <typename F>
void for_each_established_tcp(F&& f) {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return;
  while (const dirent* e = ::readdir(d)) {  // NOLINT(concurrency-mt-unsafe): one DIR, one thread
    char* end = nullptr;
    const long n = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || n == ::dirfd(d)) continue;
    const int fd = static_cast<int>(n);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (int_option(fd, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_TCP ||
        int_option(fd, SOL_SOCKET, SO_ACCEPTCONN) != 0)
      continue;
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
        info.tcpi_state != TCP_ESTABLISHED)
      continue;
    sockaddr_storage local{}, peer{};
    socklen_t llen = sizeof local, plen = sizeof peer;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) != 0 ||
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0)
      continue;
    f(fd, local, peer);
  }
  ::closedir(d);
}

}  // namespace

PahoWaker::PahoWaker(Report report) : report_(std::move(report)) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener_ < 0) {
    fail(errno_text("socket"));
    return;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listener_, 1) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    fail(errno_text("listen on 127.0.0.1"));
    return;
  }
  port_ = ntohs(a.sin_port);
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  control_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_ < 0 || control_ < 0 || !add(epoll_, control_, EPOLLIN, kControl) ||
      !add(epoll_, listener_, EPOLLIN, kListener)) {
    fail(errno_text("epoll"));
    return;
  }

  // Keepalive 0: the waker client sends nothing after its CONNECT.
  MQTTAsync handle = nullptr;
  const std::string uri = fmt::format("tcp://127.0.0.1:{}", port_);
  const std::string id = fmt::format("robustmq-waker-{}", ::getpid());
  int rc = MQTTAsync_create(&handle, uri.c_str(), id.c_str(), MQTTCLIENT_PERSISTENCE_NONE, nullptr);
  if (rc != MQTTASYNC_SUCCESS) {
    fail(fmt::format("MQTTAsync_create: {}", rc));
    return;
  }
  client_ = handle;
  thread_ = std::thread([this] { run(); });
  MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
  co.keepAliveInterval = 0;
  co.cleansession = 1;
  co.MQTTVersion = MQTTVERSION_3_1_1;
  rc = MQTTAsync_connect(handle, &co);
  if (rc != MQTTASYNC_SUCCESS) {
    stopping_.store(true);
    notify();
    thread_.join();
    fail(fmt::format("MQTTAsync_connect: {}", rc));
  }
}

PahoWaker::~PahoWaker() {
  // The thread first: destroying the client closes the waker's connection, which the thread
  // would take for a failure.
  if (thread_.joinable()) {
    stopping_.store(true);
    notify();
    thread_.join();
  }
  if (client_ != nullptr) {
    MQTTAsync handle = client_;
    MQTTAsync_destroy(&handle);
  }
  for (int fd : {peer_, listener_, control_, epoll_})
    if (fd >= 0) ::close(fd);
}

void PahoWaker::fail(std::string why) {
  why_not_ = std::move(why);
  if (client_ != nullptr) {
    MQTTAsync handle = client_;
    MQTTAsync_destroy(&handle);
    client_ = nullptr;
  }
}

void PahoWaker::notify() noexcept {
  if (control_ < 0) return;
  const std::uint64_t one = 1;
  (void)!::write(control_, &one, sizeof one);
}

void PahoWaker::watch_connection() noexcept {
  connecting_.store(false);
  rewatch_.store(true);
  notify();
}

void PahoWaker::connecting() noexcept {
  connecting_.store(true);
  notify();
}

void PahoWaker::connect_ended() noexcept {
  connecting_.store(false);
  notify();
}

void PahoWaker::run() {
  std::array<epoll_event, 8> events{};
  while (!stopping_.load()) {
    const int timeout = connecting_.load() ? delay_ms_ : -1;
    const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout);
    if (n < 0 && errno != EINTR) {
      report_(Level::warning,
              fmt::format("large messages go at Paho's own pace (a few MB/s) from now: the "
                          "waker of its I/O thread stopped: epoll_wait: {}",
                          std::error_code(errno, std::generic_category()).message()));
      return;
    }
    if (n == 0 && connecting_.load()) {
      ring();
      delay_ms_ = std::min(delay_ms_ * 2, 256);
    }
    for (int i = 0; i < n; ++i) {
      switch (events[static_cast<std::size_t>(i)].data.u32) {
        case kControl: {
          std::uint64_t v = 0;
          (void)!::read(control_, &v, sizeof v);
          if (connecting_.load()) delay_ms_ = 1;  // a new attempt: from the start
          if (rewatch_.exchange(false) && !stopping_.load()) rewatch();
          break;
        }
        case kListener: on_accept(); break;
        case kPeer: on_peer_input(); break;
        case kWatched: ring(); break;
        default: break;
      }
    }
  }
}

// The first connection whose other end is a socket of this process (the waker client) is the
// one; anything else on the port is turned away.
void PahoWaker::on_accept() {
  for (;;) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    const int fd = ::accept4(listener_, reinterpret_cast<sockaddr*>(&from), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    bool ours = false;
    for_each_established_tcp([&](int, const sockaddr_storage& local, const sockaddr_storage&) {
      if (from.ss_family == AF_INET && local.ss_family == AF_INET &&
          std::memcmp(&from, &local, sizeof(sockaddr_in)) == 0)
        ours = true;
    });
    if (!ours || peer_ >= 0 || !add(epoll_, fd, EPOLLIN | EPOLLRDHUP, kPeer)) {
      ::close(fd);
      continue;
    }
    peer_ = fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, listener_, nullptr);
    ::close(listener_);
    listener_ = -1;
    return;
  }
}

// The waker client's CONNECT gets its CONNACK; nothing else it sends matters. Its end closed:
// no more rings (Paho goes at its own pace).
void PahoWaker::on_peer_input() {
  std::array<char, 512> buf{};
  for (;;) {
    const ssize_t r = ::read(peer_, buf.data(), buf.size());
    if (r > 0) {
      if (!connacked_)
        connacked_ = ::send(peer_, kConnack.data(), kConnack.size(), MSG_NOSIGNAL) ==
                     static_cast<ssize_t>(kConnack.size());
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, peer_, nullptr);
    ::close(peer_);
    peer_ = -1;
    connacked_ = false;
    report_(Level::warning, "large messages go at Paho's own pace (a few MB/s) from now: the "
                            "waker's own connection closed");
    return;
  }
}

// The MQTT socket: the one established TCP socket that is neither end of the waker's
// connection. Several (not expected in the worker): none is watched.
void PahoWaker::rewatch() {
  if (watched_ >= 0) ::epoll_ctl(epoll_, EPOLL_CTL_DEL, watched_, nullptr);  // ENOENT if closed
  watched_ = -1;
  int found = -1, count = 0;
  for_each_established_tcp([&](int fd, const sockaddr_storage& local, const sockaddr_storage& peer) {
    if (fd == peer_ || is_loopback_port(peer, port_) || is_loopback_port(local, port_)) return;
    found = fd;
    ++count;
  });
  // Registering reports the socket's current state once: a write already pending is woken too.
  if (count == 1 && add(epoll_, found, EPOLLOUT | EPOLLET, kWatched)) watched_ = found;
  watching_.store(watched_ >= 0);
  if (count != 1 && !unclear_logged_) {
    unclear_logged_ = true;
    report_(Level::info,
            fmt::format("large messages on this connection go at Paho's own pace (a few MB/s): "
                        "{} TCP connections of this process could be the broker's (e.g. stderr "
                        "is a socket), so the waker watches none",
                        count));
  }
}

void PahoWaker::ring() {
  if (peer_ < 0 || !connacked_) return;
  if (::send(peer_, kPingresp.data(), kPingresp.size(), MSG_NOSIGNAL) > 0)
    rings_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace robustmq::worker
