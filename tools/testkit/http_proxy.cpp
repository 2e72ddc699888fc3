#include "testkit/http_proxy.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

namespace robustmq::testkit {

class HttpConnectProxy::Impl {
 public:
  Impl() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        ::pipe2(wake_, O_CLOEXEC) != 0) {
      const int err = errno;
      if (listener_ >= 0) ::close(listener_);
      throw std::system_error(err, std::generic_category(), "HttpConnectProxy: listen");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~Impl() {
    stopping_.store(true);
    (void)!::write(wake_[1], "x", 1);
    acceptor_.join();
    {
      std::lock_guard lock(mu_);
      for (const int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : tunnels_) t.join();
    ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  int port_ = 0;
  mutable std::mutex mu_;
  std::vector<std::string> log_;
  std::vector<std::string> opened_;  // targets answered 200

 private:
  void note(std::string line) {
    std::lock_guard lock(mu_);
    log_.push_back(std::move(line));
  }

  void accept_loop() {
    while (!stopping_.load()) {
      pollfd p[2] = {{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
      if (stopping_.load()) return;
      if ((p[0].revents & POLLIN) == 0) continue;
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      open_.insert(fd);
      tunnels_.emplace_back([this, fd] { serve(fd); });
    }
  }

  // Reads the request head (up to the blank line): at most 8 KiB.
  static bool read_head(int fd, std::string& head) {
    char c = 0;
    while (head.size() < 8192 && head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::read(fd, &c, 1);  // byte by byte: nothing of the tunnel is read ahead
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      head += c;
    }
    return head.find("\r\n\r\n") != std::string::npos;
  }

  static int connect_to(const std::string& target, std::string& why) {
    const auto colon = target.rfind(':');
    if (colon == std::string::npos) {
      why = "no port";
      return -1;
    }
    std::string host = target.substr(0, colon);
    if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), target.substr(colon + 1).c_str(), &hints, &res);
        rc != 0) {
      why = ::gai_strerror(rc);
      return -1;
    }
    int fd = -1;
    for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
      fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
        why = std::system_category().message(errno);
        ::close(fd);
        fd = -1;
      }
    }
    ::freeaddrinfo(res);
    return fd;
  }

  static bool write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  void serve(int client) {
    std::string head;
    int upstream = -1;
    if (read_head(client, head)) {
      const std::string line = head.substr(0, head.find("\r\n"));
      const auto sp1 = line.find(' ');
      const auto sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
      const std::string method = line.substr(0, sp1);
      const std::string target =
          sp1 == std::string::npos ? std::string() : line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::string why;
      if (method != "CONNECT") {
        note(method + " " + target + " -> 405");
        const std::string r = "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n";
        write_all(client, r.data(), r.size());
      } else if ((upstream = connect_to(target, why)) < 0) {
        note("CONNECT " + target + " -> 502 (" + why + ")");
        const std::string r = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
        write_all(client, r.data(), r.size());
      } else {
        {
          std::lock_guard lock(mu_);
          log_.push_back("CONNECT " + target + " -> 200");
          opened_.push_back(target);
          open_.insert(upstream);
        }
        // One write: Paho reads the status line and then whatever else is there at once.
        const std::string r = "HTTP/1.1 200 Connection established\r\n\r\n";
        if (write_all(client, r.data(), r.size())) splice(client, upstream, target);
      }
    }
    std::lock_guard lock(mu_);
    open_.erase(client);
    ::close(client);
    if (upstream >= 0) {
      open_.erase(upstream);
      ::close(upstream);
    }
  }

  void splice(int client, int upstream, const std::string& target) {
    std::size_t up = 0;
    std::size_t down = 0;
    char buf[16384];
    while (!stopping_.load()) {
      pollfd p[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (p[i].revents == 0) continue;
        const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || !write_all(i == 0 ? upstream : client, buf, static_cast<std::size_t>(n))) {
          done = true;
          break;
        }
        (i == 0 ? up : down) += static_cast<std::size_t>(n);
      }
      if (done) break;
    }
    note("closed " + target + " (" + std::to_string(up) + " bytes up, " + std::to_string(down) +
         " down)");
  }

  int listener_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::set<int> open_;                // under mu_
  std::vector<std::thread> tunnels_;  // under mu_ while the acceptor runs
};

HttpConnectProxy::HttpConnectProxy() : impl_(std::make_unique<Impl>()) {}
HttpConnectProxy::~HttpConnectProxy() = default;

int HttpConnectProxy::port() const noexcept { return impl_->port_; }
std::string HttpConnectProxy::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port_);
}

std::vector<std::string> HttpConnectProxy::log() const {
  std::lock_guard lock(impl_->mu_);
  return impl_->log_;
}

std::size_t HttpConnectProxy::tunnels_to(const std::string& target) const {
  std::lock_guard lock(impl_->mu_);
  return static_cast<std::size_t>(
      std::count(impl_->opened_.begin(), impl_->opened_.end(), target));
}

}  // namespace robustmq::testkit
