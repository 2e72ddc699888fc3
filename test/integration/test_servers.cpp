// Several brokers (Options::servers): failover between two real mosquittos in the middle of a
// stream, the checks of connect_async() on the list, and MQTT 5 Server References followed to
// another broker. Every wait is for a condition, never for a time.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "helpers.hpp"

using namespace robustmq;
using namespace robustmq::test;

namespace {

// The first arrivals of each sequence number, in arrival order.
std::vector<std::uint64_t> first_arrivals(const testkit::Subscriber& sub) {
  std::vector<std::uint64_t> out;
  std::set<std::uint64_t> seen;
  for (auto n : testkit::sequences(sub.messages()))
    if (seen.insert(n).second) out.push_back(n);
  return out;
}

std::size_t distinct_across(const testkit::Subscriber& a, const testkit::Subscriber& b) {
  std::set<std::uint64_t> all;
  for (auto n : testkit::sequences(a.messages())) all.insert(n);
  for (auto n : testkit::sequences(b.messages())) all.insert(n);
  return all.size();
}

std::string connect_error(Options o) {
  try {
    RobustClient c(std::move(o));
    c.connect_async();
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == EINVAL);
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("failover: the first broker stops mid-stream, then the second, then the first returns") {
  const std::uint64_t total = scaled<std::uint64_t>(20'000, 4'000);
  testkit::Mosquitto a;
  testkit::Mosquitto b;
  testkit::Subscriber sub_a(a.host(), a.port(), "servers/#");
  testkit::Subscriber sub_b(b.host(), b.port(), "servers/#");
  REQUIRE(sub_a.wait_subscribed());
  REQUIRE(sub_b.wait_subscribed());
  testkit::TempDir cache;
  Options o = client_options(cache.path(), "failover");
  o.max_inflight = 16;
  o.servers = {a.uri(), b.uri()};
  RobustClient c(o);
  c.connect_async();
  REQUIRE(wait_connected(c, 20s));
  CHECK(c.stats().server == a.uri());

  // Half the stream; once a quarter of it arrived at the first broker, it stops.
  REQUIRE_FALSE(publish_range(c, "servers/t", 0, total / 2));
  REQUIRE(sub_a.wait_for(total / 4, 60s));
  a.stop();
  // The rest of the second quarter and a third one go to the second broker.
  REQUIRE_FALSE(publish_range(c, "servers/t", total / 2, total * 3 / 4));
  REQUIRE_MESSAGE(wait_until([&] { return c.delivered_through() >= total * 3 / 4; }, 120s),
                  c.stats().last_error);
  CHECK(c.stats().server == b.uri());
  CHECK(sub_b.count() > 0);
  // The second stops too: the last quarter waits on disk until the first returns.
  b.stop();
  REQUIRE_FALSE(publish_range(c, "servers/t", total * 3 / 4, total));
  REQUIRE(wait_until([&] { return c.stats().state != ConnectionState::connected; }, 30s));
  const auto subscribed = sub_a.subscribe_count();
  a.start();
  REQUIRE(sub_a.wait_subscribed(20s, subscribed + 1));
  REQUIRE_FALSE(c.wait_delivered(120s));
  // What the second broker acknowledged but had not yet passed to its subscriber when it
  // stopped waits in its persistence file (the subscriber's session is persistent): it comes
  // when that broker returns. The client stays on the first.
  const auto subscribed_b = sub_b.subscribe_count();
  b.start();
  REQUIRE(sub_b.wait_subscribed(20s, subscribed_b + 1));
  REQUIRE_MESSAGE(wait_until([&] { return distinct_across(sub_a, sub_b) >= total; }, 60s),
                  "distinct arrivals: " << distinct_across(sub_a, sub_b) << " of " << total);

  // First arrivals in order at each broker; every number in 0..total-1 at one or the other.
  for (const testkit::Subscriber* sub : {&sub_a, &sub_b}) {
    const auto firsts = first_arrivals(*sub);
    CHECK(std::is_sorted(firsts.begin(), firsts.end()));
    for (auto n : firsts) CHECK(n < total);
  }
  const Stats s = c.stats();
  CHECK(s.state == ConnectionState::connected);
  CHECK(s.server == a.uri());  // the one alive
  CHECK(s.reconnects >= 2);
}

TEST_CASE("connect_async() checks the list and names a bad URI") {
  testkit::TempDir cache;
  Options o = client_options(cache.path(), "bad-uri");
  CHECK(connect_error(o).find("needs Options::servers") != std::string::npos);
  o.servers = {"tcp://127.0.0.1:1883", "http://broker:80"};
  auto e = connect_error(o);
  CHECK(e.find("Options::servers[1]") != std::string::npos);
  CHECK(e.find("'http://broker:80'") != std::string::npos);
  CHECK(e.find("unknown scheme 'http'") != std::string::npos);
  o.servers = {"tcp://:1883"};
  CHECK(connect_error(o).find("the host is missing") != std::string::npos);
  o.servers = {"ssl://broker:70000"};
  CHECK(connect_error(o).find("not a number in 1..65535") != std::string::npos);
  o.servers = {"tcp://broker:1883"};
  o.http_proxy = "https://proxy:3128";
  CHECK(connect_error(o).find("Paho 1.3.12") != std::string::npos);
  o.http_proxy.clear();
  o.tls.alpn = "mqtt";
  CHECK(connect_error(o).find("need a TLS broker") != std::string::npos);

  // Both forms at once: refused, the list is not silently ignored.
  o.tls.alpn.clear();
  RobustClient c(o);
  try {
    c.connect_async("127.0.0.1", 1883);
    FAIL("connect_async(host, port) with Options::servers was accepted");
  } catch (const std::system_error& err) {
    CHECK(std::string(err.what()).find("both name brokers") != std::string::npos);
  }
}

namespace {

// A broker that is not one: it accepts MQTT 5 connections, answers CONNACK success, then
// DISCONNECT 0x9C ("use another server") with a Server Reference, and closes.
class ReferringBroker {
 public:
  explicit ReferringBroker(std::string reference) : reference_(std::move(reference)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ReferringBroker() {
    stop_.store(true);
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  int referred() const { return referred_.load(); }

 private:
  static bool read_n(int fd, std::uint8_t* p, std::size_t n) {
    while (n > 0) {
      const ssize_t r = ::read(fd, p, n);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  void serve() {
    while (!stop_.load()) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      // CONNECT: fixed header, remaining length (varint), body.
      std::uint8_t b = 0;
      std::size_t len = 0;
      bool ok = read_n(c, &b, 1) && (b >> 4) == 1;
      for (int shift = 0; ok && shift < 28; shift += 7) {
        ok = read_n(c, &b, 1);
        len |= static_cast<std::size_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) break;
      }
      std::vector<std::uint8_t> body(len);
      if (ok && read_n(c, body.data(), len)) {
        std::string out = {'\x20', '\x03', '\x00', '\x00', '\x00'};  // CONNACK, success
        const std::string props = std::string("\x1c", 1) + static_cast<char>(0) +
                                  static_cast<char>(reference_.size()) + reference_;
        out += '\xe0';  // DISCONNECT
        out += static_cast<char>(2 + props.size());
        out += '\x9c';
        out += static_cast<char>(props.size());
        out += props;
        (void)!::send(c, out.data(), out.size(), MSG_NOSIGNAL);
        referred_.fetch_add(1);
        pollfd p{c, POLLIN, 0};
        while (::poll(&p, 1, 2000) > 0 && ::read(c, &b, 1) > 0) {
        }  // until the client closes
      }
      ::close(c);
    }
  }
  std::string reference_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> referred_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("MQTT 5: a DISCONNECT with a Server Reference is followed to the other broker") {
  testkit::Mosquitto broker;
  testkit::Subscriber sub(broker.host(), broker.port(), "referred/#");
  REQUIRE(sub.wait_subscribed());
  ReferringBroker referring("127.0.0.1:" + std::to_string(broker.port()));
  testkit::TempDir cache;
  Options o = client_options(cache.path(), "referred");
  o.mqtt_version = MqttVersion::v5;
  o.servers = {referring.uri()};
  RobustClient c(o);
  c.connect_async();
  REQUIRE_FALSE(publish_range(c, "referred/t", 0, 200));
  CHECK(wait_in_order(sub, 200, 60s) == "");
  CHECK(referring.referred() >= 1);
  CHECK(c.stats().server == broker.uri());
  CHECK(c.stats().state == ConnectionState::connected);
}
