// A scripted Transport for the unit tests of the loop's rules: it records every message the
// loop hands it and answers only when the test says so (acknowledge, refuse, fail, drop the
// link), through the same EventQueue Paho's threads use in the worker. It stages as Mqtt does
// (Transport::stage()): acknowledging the message a staged one waits for sends the staged one
// first, from the views the loop gave (so a ring record moved meanwhile would show).
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "worker/clock.hpp"
#include "worker/events.hpp"
#include "worker/transport.hpp"

namespace robustmq::test {

class FakeTransport final : public worker::Transport {
 public:
  struct Sent {
    std::uint64_t id = 0;
    std::string topic;
    std::string payload;
    int qos = 0;
    bool retain = false;
    bool answered = false;  // acknowledged, refused or failed by the test
    bool staged = false;    // sent by the transport itself, staged (Transport::stage())
    int connection = 0;     // connect() calls before it: which connection it went on
  };

  explicit FakeTransport(worker::EventQueue& events) : events_(events) {}

  // --- what the loop did ---
  std::vector<Sent> sent;          // every send, in order
  int connects = 0;                // connect() calls
  bool last_start_clean = false;   // connect()'s argument the last time
  int disconnects = 0;
  // set_credentials(): the user name and password of each connect() since, in order.
  std::string username, password;
  std::vector<std::pair<std::string, std::string>> connect_credentials;

  // --- how the transport behaves ---
  bool accept_connects = true;  // connect() answers Event::connected at once
  int receive_maximum = 0;      // ... carrying this MQTT 5 Receive Maximum (0: none)
  int connect_rc = 0;           // connect() returns this (non-zero: cannot start)
  int send_rc = 0;              // send() returns this (non-zero: refused at once)
  // Called after each accepted send, with its index in `sent`: lets a test act at that instant
  // (e.g. the application publishing while the loop is still filling its window).
  std::function<void(std::size_t)> on_send;
  bool staging = true;  // false: stage() is ignored, as by a transport without staging
  // The clock a staged message's send is stamped with (Taken::sent_at): the test's.
  const worker::TimeSource* time = &worker::steady_time();
  // Options::message_ttl as Mqtt has it: a staged message older than this when its turn comes
  // is not sent, nor anything staged after it (0: messages do not expire).
  std::chrono::seconds message_ttl{0};
  int stages = 0;       // stage() calls taken

  int connect(bool start_clean) override {
    ++connects;
    last_start_clean = start_clean;
    connect_credentials.emplace_back(username, password);
    if (connect_rc != 0) return connect_rc;
    if (accept_connects) events_.push({worker::Event::Kind::connected, 0, receive_maximum, {}});
    return 0;
  }
  int send(const Outgoing& m, std::uint64_t send_id) override {
    if (send_rc != 0) return send_rc;
    sent.push_back({send_id, std::string(m.topic), std::string(m.payload), m.qos, m.retain});
    sent.back().connection = connects;
    if (on_send) on_send(sent.size() - 1);
    return 0;
  }
  void stage(const Outgoing& next, std::uint64_t send_id, std::uint64_t after_id) override {
    if (!staging) return;
    if (staged_.size() >= Taken::kMax) throw std::logic_error("more staged than Taken::kMax");
    ++stages;
    staged_.push_back({next, send_id, after_id});
  }
  Taken unstage() override {
    staged_.clear();
    return std::exchange(taken_, {});
  }
  // The payloads staged and not yet sent, in order.
  std::vector<std::string> staged_payloads() const {
    std::vector<std::string> out;
    for (std::size_t i = taken_.sent; i < staged_.size(); ++i)
      out.emplace_back(staged_[i].out.payload);
    return out;
  }
  void disconnect(std::chrono::milliseconds) override { ++disconnects; }
  void set_credentials(std::string u, std::string p) override {
    username = std::move(u);
    password = std::move(p);
  }
  std::string describe_error(int code) const override {
    return "fake transport error " + std::to_string(code);
  }

  // --- the test's commands ---
  void connect_failed(std::string why) {
    events_.push({worker::Event::Kind::connect_failed, 0, 0, std::move(why)});
  }
  // A refusal that retrying does not cure (bad credentials, a ban, a certificate).
  void refuse_connect(std::string why) {
    events_.push({worker::Event::Kind::connect_failed, 0, 0, std::move(why), true});
  }
  void connected() { events_.push({worker::Event::Kind::connected, 0, receive_maximum, {}}); }
  // The broker acknowledges the i-th send (index into `sent`); reason >= 0x80 is a refusal.
  // An acknowledgement (not a refusal) first sends the message staged after it, as Mqtt does.
  void ack(std::size_t i, int reason = 0) {
    sent.at(i).answered = true;
    const std::uint64_t id = sent[i].id;
    if (reason == 0 && taken_.sent < staged_.size() && staged_[taken_.sent].after_id == id &&
        taken_.failed == 0 && !expired(staged_[taken_.sent].out)) {
      const Staged& s = staged_[taken_.sent];
      if (const int rc = send(s.out, s.send_id); rc != 0) {
        taken_.failed = rc;
      } else {
        sent.back().staged = true;
        taken_.sent_at[taken_.sent++] = time->now();
      }
    }
    events_.push({worker::Event::Kind::delivered, id, reason,
                  reason != 0 ? "refused by the broker" : ""});
  }
  // Acknowledges every send not yet answered, oldest first (not those a staged message makes
  // meanwhile). Returns how many.
  std::size_t ack_all() {
    std::size_t n = 0;
    const std::size_t before = sent.size();
    for (std::size_t i = 0; i < before; ++i)
      if (!sent[i].answered) ack(i), ++n;
    return n;
  }
  void fail_send(std::size_t i, std::string why) {
    sent.at(i).answered = true;
    events_.push({worker::Event::Kind::send_failed, sent[i].id, 0, std::move(why)});
  }
  void drop_link(std::string why) {
    for (auto& s : sent) s.answered = true;  // nothing before the loss will be answered
    events_.push({worker::Event::Kind::connection_lost, 0, 0, std::move(why)});
  }
  // Payloads sent so far, in order.
  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (const auto& s : sent) out.push_back(s.payload);
    return out;
  }

 private:
  struct Staged {
    Outgoing out;  // views into the loop's ring, valid until unstage()
    std::uint64_t send_id = 0;
    std::uint64_t after_id = 0;
  };
  bool expired(const Outgoing& m) const {
    return message_ttl.count() > 0 &&
           time->realtime_ns() - m.enqueue_ns >
               std::chrono::duration_cast<std::chrono::nanoseconds>(message_ttl).count();
  }
  worker::EventQueue& events_;
  std::vector<Staged> staged_;
  Taken taken_;
};

}  // namespace robustmq::test
