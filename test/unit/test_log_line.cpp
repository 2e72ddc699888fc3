// The worker's log lines (proto/log_line.hpp): their stderr form, and the log socket's
// datagrams: one line each, the level apart, and a send that fails instead of waiting when the
// socket is full or the application shut its end.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "proto/log_line.hpp"

namespace robustmq::log_line {

namespace {

struct Pair {
  int fd[2] = {-1, -1};
  Pair() { REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fd) == 0); }
  ~Pair() {
    ::close(fd[0]);
    ::close(fd[1]);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  // The next datagram on the application's end, or "" when there is none.
  std::string receive() const {
    std::string buf(1 + kMaxText + 1, '\0');
    const ssize_t n = ::recv(fd[0], buf.data(), buf.size(), MSG_DONTWAIT);
    buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return buf;
  }
};

}  // namespace

TEST_CASE("a line on stderr reads robustmq-worker[pid] [client] level: text, <N> first for the "
          "journal") {
  CHECK(stderr_line(2, 42, "sensor-7", false, "connection lost") ==
        "robustmq-worker[42] [sensor-7] warning: connection lost\n");
  CHECK(stderr_line(0, 42, "sensor-7", true, "x") ==
        "<7>robustmq-worker[42] [sensor-7] debug: x\n");
  CHECK(stderr_line(3, 1, "c", true, "y") == "<3>robustmq-worker[1] [c] error: y\n");
}

TEST_CASE("each line is one datagram: its level in the first byte, then the text alone") {
  Pair p;
  REQUIRE(send(p.fd[1], 1, "connected to tcp://broker:1883"));
  REQUIRE(send(p.fd[1], 3, ""));
  const std::string first = p.receive();
  const auto line = parse(first);
  REQUIRE(line);
  CHECK(line->first == 1);
  CHECK(line->second == "connected to tcp://broker:1883");
  const auto empty = parse(p.receive());
  REQUIRE(empty);
  CHECK(empty->first == 3);
  CHECK(empty->second.empty());
  CHECK(p.receive().empty());
}

TEST_CASE("what is not a line of this protocol is not sent, or not read as one") {
  Pair p;
  CHECK_FALSE(send(p.fd[1], 4, "x"));
  CHECK_FALSE(send(p.fd[1], -1, "x"));
  CHECK_FALSE(send(-1, 1, "x"));
  CHECK_FALSE(send(p.fd[1], 1, std::string(kMaxText + 1, 'x')));
  CHECK(send(p.fd[1], 1, std::string(kMaxText, 'x')));
  CHECK(parse(p.receive())->second.size() == kMaxText);
  CHECK_FALSE(parse(""));
  CHECK_FALSE(parse(std::string("\x04text")));
}

TEST_CASE("a send never waits: false when the socket is full, or once the application shut its "
          "end, while the lines sent before stay readable") {
  Pair p;
  std::size_t sent = 0;
  while (send(p.fd[1], 2, "a line the handler is too slow for")) ++sent;
  CHECK(sent > 10);
  CHECK(!p.receive().empty());
  CHECK(send(p.fd[1], 2, "room for one"));
  REQUIRE(::shutdown(p.fd[0], SHUT_RD) == 0);
  p.receive();  // room again, yet the application's end is shut
  CHECK_FALSE(send(p.fd[1], 2, "after the shutdown"));
  std::size_t received = 2;  // the two above
  std::string last;
  for (std::string d; !(d = p.receive()).empty(); ++received) last = d;
  CHECK(received == sent + 1);
  CHECK(parse(last)->second == "room for one");
}

}  // namespace robustmq::log_line
