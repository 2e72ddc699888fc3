// robustmq-pub: a command-line publisher in the spirit of mosquitto_pub, with RobustMQ's
// store-and-forward underneath: what it accepted survives its own crash and the broker's absence.
// Over 450 lines: its option table grew with the fleet flags (-L, --proxy, TLS, --drain-rate);
// the next change to it moves argument parsing into a file of its own.
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
#include <vector>

#include <robustmq/client.hpp>
#include <robustmq/robustmq.h>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Exit codes (also in --help).
constexpr int kDelivered = 0;
constexpr int kUsage = 1;
constexpr int kSetup = 2;
constexpr int kRefused = 3;
constexpr int kLeftCached = 4;
constexpr int kConnectionRefused = 5;

constexpr const char* kHelp = R"(robustmq-pub: publish MQTT messages that survive crashes and broker outages.

Usage: robustmq-pub -i CLIENT_ID -t TOPIC (-m MESSAGE | -l | -f FILE | -s) [options]
       robustmq-pub -i CLIENT_ID --drain [options]

Messages:
  -m, --message TEXT     publish TEXT as one message
  -l, --stdin-line       publish every line read from stdin as one message (without the newline;
                         an empty line is a zero-length message), as soon as it is read
  -f, --file FILE        publish the contents of FILE as one message
  -s, --stdin-file       publish all of stdin as one message
      --drain            publish nothing new: deliver what an earlier run left in the cache

Connection and delivery:
  -h, --host HOST        broker host (default localhost)
  -p, --port PORT        broker port (default 1883)
  -L, --url URI          a broker URI instead of -h/-p: tcp://, ssl://, ws://, wss://HOST[:PORT];
                         repeat it for several brokers, tried in turn
      --proxy URL        HTTP CONNECT proxy for every broker: http://[USER:PASS@]HOST[:PORT]
                         (default: $http_proxy / $https_proxy, except $no_proxy hosts)
      --cafile FILE      CA certificates for ssl:// and wss:// (default: the system's); with
                         -h, this and the options below mean TLS (port 8883 unless -p)
      --insecure         do not verify the broker's certificate (tests only)
      --tls-alpn PROTO   ALPN protocols offered, comma-separated (e.g. x-amzn-mqtt-ca)
      --ciphers LIST     OpenSSL cipher list (TLS 1.2 and below)
  -t, --topic TOPIC      topic to publish to
  -q, --qos 0|1|2        QoS (default 1)
  -r, --retain           set the retain flag
  -i, --id CLIENT_ID     MQTT client id; required: together with the cache directory it names
                         what a later run picks up after a crash
  -u, --username USER
  -P, --pw PASSWORD      prefer the environment variable ROBUSTMQ_PASSWORD: argv is visible to
                         every user of the machine (ps); the variable is removed before the
                         worker starts
      --cache-dir DIR    where undelivered messages wait (default
                         $XDG_CACHE_HOME/robustmq-pub/CLIENT_ID, else ~/.cache/robustmq-pub/...)
      --cache-type sqlite|file   the disk cache (default sqlite)
      --timeout SECONDS  how long to wait for delivery once the input is queued (default 10)
      --drain-rate N     send what earlier runs left in the cache at most N messages per
                         second (default 0: as fast as the broker takes them); new messages
                         wait behind that backlog
      --drain-rate-bytes N   ... and at most N bytes (topic + payload) per second
      --progress         print "queued N" on stdout once the Nth message is queued
      --hand-off         return as soon as every message is queued: the worker goes on
                         delivering in the background, reconnecting as needed, and exits once
                         everything is acknowledged; the next run with the same -i and
                         --cache-dir takes over from it. Exit code 0 then means "queued"
  -d, --debug            the worker logs at debug level (on stderr)
      --help             this text
      --version          the RobustMQ version

What it waits for: every message is handed to RobustMQ (publish() returns once the message is in
shared memory, from where no crash of robustmq-pub loses it), then robustmq-pub waits up to
--timeout for the broker to acknowledge all of them, and stops: whatever is not acknowledged by
then is written to the disk cache.

Exit codes:
  0  every message was delivered (acknowledged by the broker, or sent at QoS 0); with
     --hand-off: every message was queued and handed to the worker
  1  usage error
  2  connect/setup error (cache directory, worker, options); nothing was published
  3  a message was refused (invalid topic, payload too large, queue full for --timeout); the
     messages before it are handled as usual
  4  messages are left in the cache because the broker was not reachable within --timeout;
     they are sent by the next robustmq-pub (or RobustMQ client) with the same -i and
     --cache-dir, e.g. robustmq-pub -i ID --cache-dir DIR --drain
  5  the broker refused the connection (bad user name or password, not authorized, banned):
     once the input is queued robustmq-pub stops as soon as it hears so, without waiting out
     --timeout (-l still reads and caches every line up to the end of its input), and the
     messages are left in the cache as for 4; fix the credentials, then --drain

After a crash or kill -9: the worker process of the dead run goes on delivering what was
queued, reconnecting as needed, and exits once everything is acknowledged. A robustmq-pub run
with the same -i and --cache-dir meanwhile takes over from it at once: the old worker commits
what is left to the cache and exits, and the new run delivers the leftovers first, oldest
first, then its own messages. Lines read from stdin but not yet queued when the process was
killed are lost with it; use --progress to know how far it got.
)";

// Command-line and environment handling runs in main() before the client starts any thread:
// getenv, getopt_long, unsetenv and exit are safe there.
// NOLINTBEGIN(concurrency-mt-unsafe)
[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "robustmq-pub: %s (see --help)\n", what.c_str());
  std::exit(kUsage);
}

std::optional<long> to_number(const char* s) {
  if (s == nullptr || *s == '\0') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return v;
}

std::string default_cache_dir(const std::string& client_id) {
  std::string base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x == '/') {
    base = x;
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    base = std::string(h) + "/.cache";
  } else {
    base = "/tmp";
  }
  std::string id = client_id;
  for (char& c : id)
    if (c == '/') c = '_';
  return base + "/robustmq-pub/" + id;
}

enum class Source { none, message, lines, file, stdin_whole, drain };

struct Args {
  std::string host = "localhost";
  int port = 1883;
  bool host_given = false;  // -h or -p
  bool port_given = false;
  std::vector<std::string> urls;  // -L
  std::string proxy, cafile, alpn, ciphers;
  bool insecure = false;
  std::string topic;
  int qos = 1;
  bool retain = false;
  std::string client_id;
  std::string username;
  std::string password;
  std::string cache_dir;
  robustmq::CacheType cache_type = robustmq::CacheType::sqlite;
  std::chrono::seconds timeout{10};
  robustmq::DrainRate drain_rate;
  bool progress = false;
  bool hand_off = false;
  bool debug = false;
  Source source = Source::none;
  std::string message;  // -m text, or -f file name
};

void set_source(Args& a, Source s) {
  if (a.source != Source::none) usage_error("give only one of -m, -l, -f, -s, --drain");
  a.source = s;
}

Args parse(int argc, char** argv) {
  enum {
    kCacheDir = 1000, kCacheType, kTimeout, kProgress, kHelpOpt, kVersion, kDrain, kHandOff,
    kDrainRate, kDrainRateBytes, kProxy, kCafile, kInsecure, kAlpn, kCiphers
  };
  static const option longs[] = {
      {"host", required_argument, nullptr, 'h'},   {"port", required_argument, nullptr, 'p'},
      {"topic", required_argument, nullptr, 't'},  {"qos", required_argument, nullptr, 'q'},
      {"retain", no_argument, nullptr, 'r'},       {"id", required_argument, nullptr, 'i'},
      {"message", required_argument, nullptr, 'm'}, {"stdin-line", no_argument, nullptr, 'l'},
      {"file", required_argument, nullptr, 'f'},   {"stdin-file", no_argument, nullptr, 's'},
      {"username", required_argument, nullptr, 'u'}, {"pw", required_argument, nullptr, 'P'},
      {"debug", no_argument, nullptr, 'd'},
      {"cache-dir", required_argument, nullptr, kCacheDir},
      {"cache-type", required_argument, nullptr, kCacheType},
      {"timeout", required_argument, nullptr, kTimeout},
      {"progress", no_argument, nullptr, kProgress},
      {"hand-off", no_argument, nullptr, kHandOff},
      {"drain", no_argument, nullptr, kDrain},
      {"drain-rate", required_argument, nullptr, kDrainRate},
      {"drain-rate-bytes", required_argument, nullptr, kDrainRateBytes},
      {"url", required_argument, nullptr, 'L'},    {"proxy", required_argument, nullptr, kProxy},
      {"cafile", required_argument, nullptr, kCafile},
      {"insecure", no_argument, nullptr, kInsecure},
      {"tls-alpn", required_argument, nullptr, kAlpn},
      {"ciphers", required_argument, nullptr, kCiphers},
      {"help", no_argument, nullptr, kHelpOpt},    {"version", no_argument, nullptr, kVersion},
      {nullptr, 0, nullptr, 0}};
  Args a;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h:p:t:q:ri:m:lf:su:P:dL:", longs, nullptr)) != -1) {
    switch (c) {
      case 'h': a.host = optarg; a.host_given = true; break;
      case 'L': a.urls.emplace_back(optarg); break;
      case kProxy: a.proxy = optarg; break;
      case kCafile: a.cafile = optarg; break;
      case kInsecure: a.insecure = true; break;
      case kAlpn: a.alpn = optarg; break;
      case kCiphers: a.ciphers = optarg; break;
      case 'p': {
        const auto v = to_number(optarg);
        if (!v || *v < 1 || *v > 65535) usage_error("-p needs a port 1..65535");
        a.port = static_cast<int>(*v);
        a.host_given = a.port_given = true;
        break;
      }
      case 't': a.topic = optarg; break;
      case 'q': {
        const auto v = to_number(optarg);
        if (!v || *v < 0 || *v > 2) usage_error("-q needs 0, 1 or 2");
        a.qos = static_cast<int>(*v);
        break;
      }
      case 'r': a.retain = true; break;
      case 'i': a.client_id = optarg; break;
      case 'm': set_source(a, Source::message); a.message = optarg; break;
      case 'l': set_source(a, Source::lines); break;
      case 'f': set_source(a, Source::file); a.message = optarg; break;
      case 's': set_source(a, Source::stdin_whole); break;
      case kDrain: set_source(a, Source::drain); break;
      case 'u': a.username = optarg; break;
      case 'P':
        a.password = optarg;
        // Blank it in our argv, so that ps shows it for as short a time as we can manage.
        std::memset(optarg, 'x', std::strlen(optarg));
        break;
      case 'd': a.debug = true; break;
      case kCacheDir: a.cache_dir = optarg; break;
      case kCacheType:
        if (std::strcmp(optarg, "sqlite") == 0 || std::strcmp(optarg, "sq3") == 0)
          a.cache_type = robustmq::CacheType::sqlite;
        else if (std::strcmp(optarg, "file") == 0 || std::strcmp(optarg, "pickle") == 0)
          a.cache_type = robustmq::CacheType::file;
        else
          usage_error("--cache-type is sqlite or file");
        break;
      case kTimeout: {
        const auto v = to_number(optarg);
        if (!v || *v < 0) usage_error("--timeout needs a number of seconds");
        a.timeout = std::chrono::seconds(*v);
        break;
      }
      case kDrainRate:
      case kDrainRateBytes: {
        // The upper bounds are connect_async()'s to check (it names the option and the range).
        const auto v = to_number(optarg);
        if (!v || *v < 0) usage_error("--drain-rate and --drain-rate-bytes need a number >= 0");
        (c == kDrainRate ? a.drain_rate.messages_per_second : a.drain_rate.bytes_per_second) =
            static_cast<std::uint64_t>(*v);
        break;
      }
      case kProgress: a.progress = true; break;
      case kHandOff: a.hand_off = true; break;
      case kHelpOpt: std::fputs(kHelp, stdout); std::exit(kDelivered);
      case kVersion: std::printf("robustmq-pub %s\n", robustmq_version()); std::exit(kDelivered);
      case ':': usage_error(std::string("option ") + argv[optind - 1] + " needs a value");
      default: usage_error(std::string("unknown option ") + argv[optind - 1]);
    }
  }
  if (optind < argc) usage_error(std::string("unexpected argument ") + argv[optind]);
  if (a.client_id.empty()) usage_error("-i CLIENT_ID is required");
  if (a.source == Source::none) usage_error("give a message: -m, -l, -f, -s or --drain");
  if (a.host_given && !a.urls.empty()) usage_error("give either -h/-p or -L, not both");
  if (a.source != Source::drain && a.topic.empty()) usage_error("-t TOPIC is required");
  if (a.password.empty()) {
    if (const char* p = std::getenv("ROBUSTMQ_PASSWORD"); p != nullptr) a.password = p;
  }
  ::unsetenv("ROBUSTMQ_PASSWORD");  // the worker inherits our environment
  if (a.cache_dir.empty()) a.cache_dir = default_cache_dir(a.client_id);
  return a;
}
// NOLINTEND(concurrency-mt-unsafe)

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
    o.reconnect_min = 100ms;
    o.reconnect_max = 2s;
    o.drain_rate = args_.drain_rate;
    o.log_level = args_.debug ? robustmq::LogLevel::debug : robustmq::LogLevel::warning;
    o.servers = args_.urls;
    o.http_proxy = o.https_proxy = args_.proxy;
    o.tls.ca_file = args_.cafile;
    o.tls.verify = !args_.insecure;
    o.tls.alpn = args_.alpn;
    o.tls.ciphers = args_.ciphers;
    // As mosquitto_pub: a TLS option with -h means TLS, on port 8883 unless -p says otherwise.
    o.tls.enabled = o.servers.empty() && (!args_.cafile.empty() || args_.insecure ||
                                          !args_.alpn.empty() || !args_.ciphers.empty());
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
    if (was_refused) {
      const robustmq::Stats s = client_->stats();
      std::fprintf(stderr,
                   "robustmq-pub: the broker %s:%d refused the connection: %s; %s undelivered "
                   "messages wait in %s: fix the credentials, then run robustmq-pub -i %s "
                   "--cache-dir %s --drain (or publish again) to send them\n",
                   args_.host.c_str(), args_.port, s.last_error.c_str(),
                   s.cache_backlog > 0 ? std::to_string(s.cache_backlog).c_str() : "the",
                   args_.cache_dir.c_str(), args_.client_id.c_str(), args_.cache_dir.c_str());
      return kConnectionRefused;
    }
    if (!delivered) {
      const robustmq::Stats s = client_->stats();
      const std::string where =
          s.server.empty() ? args_.host + ":" + std::to_string(args_.port) : s.server;
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
    case Source::stdin_whole: ok = pub.publish(payload); break;
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
