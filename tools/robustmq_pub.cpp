// robustmq-pub: a command-line publisher in the spirit of mosquitto_pub, with RobustMQ's
// store-and-forward underneath: what it accepted survives its own crash and the broker's absence.
// The command line (options, --help, exit codes) is pub_args.cpp.
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <robustmq/client.hpp>
#include <robustmq/robustmq.h>

#include "pub_args.hpp"

namespace {

using namespace robustmq::pub;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;


class Publisher {
 public:
  explicit Publisher(const Args& a) : args_(a) {}

  // Connects. The worker of an earlier run that still delivers (it was killed, or handed off)
  // hands over to this run within Options::takeover_timeout; EBUSY means another run is alive.
  bool connect() {
    robustmq::Options o;
    o.client_id = args_.client_id;
    o.cache_type = args_.cache_type;
    o.cache_path = args_.cache_dir;
    o.username = args_.username;
    o.password = args_.password;
    o.password_file = args_.password_file;
    o.reconnect_min = 100ms;
    o.reconnect_max = 2s;
    o.drain_rate = args_.drain_rate;
    o.log_level = args_.debug ? robustmq::LogLevel::debug : robustmq::LogLevel::warning;
    o.servers = args_.urls;
    o.http_proxy = o.https_proxy = args_.proxy;
    o.tls.ca_file = args_.cafile;
    o.tls.verify_hostname = !args_.insecure;  // as mosquitto_pub's: the chain is still verified
    o.tls.alpn = args_.alpn;
    o.tls.ciphers = args_.ciphers;
    o.tls.min_version = args_.tls_version;
    o.tls.ca_path = args_.capath;
    o.tls.cert_file = args_.cert;
    o.tls.key_file = args_.key;
    // As mosquitto_pub: a TLS option with -h means TLS, on port 8883 unless -p says otherwise.
    o.tls.enabled = o.servers.empty() &&
                    (!args_.cafile.empty() || args_.insecure || !args_.alpn.empty() ||
                     !args_.ciphers.empty() || !args_.tls_version.empty() ||
                     !args_.capath.empty() || !args_.cert.empty() || !args_.key.empty());
    o.mqtt_version = args_.mqtt_version == 5 ? robustmq::MqttVersion::v5
                                             : robustmq::MqttVersion::v3_1_1;
    if (args_.keepalive) o.keepalive = std::chrono::seconds(*args_.keepalive);
    o.clean_session = args_.clean_session;
    if (args_.session_expiry_s) o.session_expiry = std::chrono::seconds(*args_.session_expiry_s);
    o.will = args_.will;
    o.user_properties = args_.user_properties;
    o.content_type = args_.content_type;
    if (args_.journal) o.durability = robustmq::Durability::journal;
    if (args_.max_cache_bytes) o.max_cache_bytes = *args_.max_cache_bytes;
    if (args_.ttl_s) o.message_ttl = std::chrono::seconds(*args_.ttl_s);
    if (args_.max_inflight) o.max_inflight = static_cast<std::size_t>(*args_.max_inflight);
    const int port = o.tls.enabled && !args_.port_given ? 8883 : args_.port;
    client_.emplace(o);
    // The state `refused` lasts until an attempt connects: it is not missed.
    client_->set_connection_handler([this](robustmq::ConnectionState s, std::string_view) {
      if (s != robustmq::ConnectionState::stopped)
        refused_.store(s == robustmq::ConnectionState::refused);
    });
    try {
      if (o.servers.empty())
        client_->connect_async(args_.host, port);
      else
        client_->connect_async();
      return true;
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "robustmq-pub: %s\n", e.what());
      return false;
    }
  }

  // Queues one message, retrying while the ring is full (the worker is behind) up to --timeout.
  bool publish(std::string_view payload) {
    const auto deadline = Clock::now() + args_.timeout;
    while (true) {
      const auto ec = client_->publish(args_.topic, payload, args_.qos, args_.retain);
      if (!ec) break;
      if (ec != robustmq::errc::queue_full || Clock::now() >= deadline) {
        std::fprintf(stderr, "robustmq-pub: message %llu refused: %s\n",
                     static_cast<unsigned long long>(queued_) + 1, ec.message().c_str());
        return false;
      }
    }
    ++queued_;
    if (args_.progress) std::printf("queued %llu\n", static_cast<unsigned long long>(queued_));
    return true;
  }

  // The broker refused the connection for good (ConnectionState::refused).
  bool refused() const { return refused_.load(); }

  // Waits up to --timeout until every message is delivered (this run's and any an earlier run
  // left, which are numbered below them), or until the broker refused the connection, then
  // stops. Returns the exit code.
  int finish() {
    const auto deadline = Clock::now() + args_.timeout;
    bool delivered = false;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      delivered = !client_->wait_delivered(std::clamp(left, 0ms, kRefusalCheck));
      if (delivered || refused() || Clock::now() >= deadline) break;
    }
    const bool was_refused = !delivered && refused();
    client_->stop();
    const robustmq::Stats s = client_->stats();
    // The server of the last attempt (an -L URI, the TLS port -h chose), else -h and -p.
    const std::string where =
        s.server.empty() ? args_.host + ":" + std::to_string(args_.port) : s.server;
    if (was_refused) {
      // A certificate refusal says "TLS: ..." (README "What happens when").
      const char* fix = s.last_error.find("TLS: ") != std::string::npos
                            ? "fix the TLS settings (--cafile, --capath, --cert, --key, "
                              "--tls-version) or the broker's certificate"
                            : "fix the credentials";
      std::fprintf(stderr,
                   "robustmq-pub: the broker %s refused the connection: %s; %s undelivered "
                   "messages wait in %s: %s, then run robustmq-pub -i %s --cache-dir %s "
                   "--drain (or publish again) to send them\n",
                   where.c_str(), s.last_error.c_str(),
                   s.cache_backlog > 0 ? std::to_string(s.cache_backlog).c_str() : "the",
                   args_.cache_dir.c_str(), fix, args_.client_id.c_str(), args_.cache_dir.c_str());
      return kConnectionRefused;
    }
    if (!delivered) {
      std::fprintf(stderr,
                   "robustmq-pub: the broker %s did not take every message within %llds; "
                   "%s undelivered messages wait in %s: run robustmq-pub -i %s --cache-dir %s "
                   "--drain (or publish again) to send them%s%s\n",
                   where.c_str(), static_cast<long long>(args_.timeout.count()),
                   s.cache_backlog > 0 ? std::to_string(s.cache_backlog).c_str() : "the",
                   args_.cache_dir.c_str(), args_.client_id.c_str(), args_.cache_dir.c_str(),
                   s.last_error.empty() ? "" : "; last error: ", s.last_error.c_str());
    }
    return delivered ? kDelivered : kLeftCached;
  }

  void stop() { client_->stop(); }

  // --hand-off: the worker delivers in the background.
  void hand_off() { client_->stop(robustmq::StopMode::hand_off); }

 private:
  // How often finish() looks for a refusal while it waits for delivery.
  static constexpr std::chrono::milliseconds kRefusalCheck{50};

  const Args& args_;
  std::atomic<bool> refused_{false};
  std::optional<robustmq::RobustClient> client_;  // after refused_: its handler uses refused_
  std::uint64_t queued_ = 0;
};

bool read_all(std::istream& in, std::string& out) {
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (args.quiet) {
    // No error messages, ours or the worker's (it inherits stderr); the exit code stays.
    if (const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC); null >= 0) {
      ::dup2(null, STDERR_FILENO);
      ::close(null);
    }
  }

  // Read a whole-file payload before connecting: a missing file is a setup error.
  std::string payload;
  if (args.source == Source::message) payload = args.message;
  if (args.source == Source::file) {
    std::ifstream f(args.message, std::ios::binary);
    if (!f || !read_all(f, payload)) {
      std::fprintf(stderr, "robustmq-pub: cannot read %s: %s\n", args.message.c_str(),
                   std::generic_category().message(errno).c_str());
      return kSetup;
    }
  }
  if (args.source == Source::stdin_whole && !read_all(std::cin, payload)) {
    std::fprintf(stderr, "robustmq-pub: cannot read stdin\n");
    return kSetup;
  }

  Publisher pub(args);
  if (!pub.connect()) return kSetup;

  bool ok = true;
  switch (args.source) {
    case Source::message:
    case Source::file:
    case Source::stdin_whole:
      for (long i = 0; ok && i < args.repeat; ++i) {
        if (i > 0 && args.repeat_delay_s > 0)
          std::this_thread::sleep_for(std::chrono::duration<double>(args.repeat_delay_s));
        ok = pub.publish(payload);
      }
      break;
    case Source::lines: {
      std::string line;
      while (ok && std::getline(std::cin, line)) ok = pub.publish(line);
      break;
    }
    case Source::drain:
    case Source::none: break;
  }
  if (!ok) {
    pub.stop();  // what was queued before the refused message is delivered or cached as usual
    return kRefused;
  }
  if (args.hand_off) {
    pub.hand_off();
    return kDelivered;
  }
  return pub.finish();
}
