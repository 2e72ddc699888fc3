#include "pub_args.hpp"

#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <robustmq/robustmq.h>

namespace robustmq::pub {

namespace {

constexpr const char* kHelp = R"(robustmq-pub: publish MQTT messages that survive crashes and broker outages.

Usage: robustmq-pub -i CLIENT_ID -t TOPIC (-m MESSAGE | -l | -f FILE | -s) [options]
       robustmq-pub -i CLIENT_ID --drain [options]

Messages:
  -m, --message TEXT     publish TEXT as one message
  -l, --stdin-line       publish every line read from stdin as one message (without the newline;
                         an empty line is a zero-length message), as soon as it is read
  -f, --file FILE        publish the contents of FILE as one message
  -s, --stdin-file       publish all of stdin as one message
  -n, --null-message     publish a zero-length message
      --drain            publish nothing new: deliver what an earlier run left in the cache
      --repeat N         publish the -m/-f/-n/-s message N times (default 1)
      --repeat-delay S   ... waiting S seconds (a decimal number) between them

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
      --tls-version VER  the lowest TLS version offered: tlsv1.3, tlsv1.2 or tlsv1.1
      --capath DIR       a directory of hashed CA certificates
      --cert FILE, --key FILE   client certificate and key (PEM), for mutual TLS
  -V, --protocol-version mqttv311|mqttv5   MQTT version (default mqttv311; also 311, 5)
  -k, --keepalive SECONDS   MQTT keepalive (default 30)
  -c, --disable-clean-session   resume the broker's session on reconnects
  -D, --property publish user-property NAME VALUE | publish content-type TYPE
                         MQTT 5 properties of every message (needs -V mqttv5; repeatable)
      --will-topic TOPIC, --will-payload TEXT, --will-qos 0|1|2, --will-retain
                         the last will the broker publishes if the connection dies
  -t, --topic TOPIC      topic to publish to
  -q, --qos 0|1|2        QoS (default 1)
  -r, --retain           set the retain flag
  -i, --id CLIENT_ID     MQTT client id; required: together with the cache directory it names
                         what a later run picks up after a crash
  -u, --username USER
  -P, --pw PASSWORD      prefer the environment variable ROBUSTMQ_PASSWORD: argv is visible to
                         every user of the machine (ps); the variable is removed before the
                         worker starts
      --pw-file FILE     the password is FILE's content (less one trailing newline), read
                         again before each connection attempt (a rotated token)
      --cache-dir DIR    where undelivered messages wait (default
                         $XDG_CACHE_HOME/robustmq-pub/CLIENT_ID, else ~/.cache/robustmq-pub/...)
      --cache-type sqlite|file   the disk cache (default sqlite)
      --timeout SECONDS  how long to wait for delivery once the input is queued (default 10)
      --drain-rate N     send what earlier runs left in the cache at most N messages per
                         second (default 0: as fast as the broker takes them); new messages
                         wait behind that backlog
      --drain-rate-bytes N   ... and at most N bytes (topic + payload) per second
      --max-inflight N   messages sent before the first is acknowledged (default 1)
      --ttl SECONDS      drop messages older than this before sending (default 0: never)
      --max-cache-bytes N    cap of the disk cache (default 0: the disk's)
      --journal          write every message to the disk cache before sending it
      --progress         print "queued N" on stdout once the Nth message is queued
      --hand-off         return as soon as every message is queued: the worker goes on
                         delivering in the background, reconnecting as needed, and exits once
                         everything is acknowledged; the next run with the same -i and
                         --cache-dir takes over from it. Exit code 0 then means "queued"
  -d, --debug            the worker logs at debug level (on stderr)
      --quiet            print no error messages (the exit code still says what happened)
  -o FILE                read options from FILE instead of $XDG_CONFIG_HOME/robustmq-pub (else
                         ~/.config/robustmq-pub): one option per line, then its arguments,
                         separated by blanks, # for comments; the command line overrides it
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

void set_source(Args& a, Source s) {
  if (a.source != Source::none) usage_error("give only one of -m, -l, -f, -s, -n, --drain");
  a.source = s;
}

// The options file's words: -o FILE's (which must be readable), else the default file's (if
// there is one).
std::vector<std::string> options_file(int argc, char** argv) {
  std::string path;
  bool given = false;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "-o") == 0) {
      path = argv[i + 1];
      given = true;
    }
  if (!given) {
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x != nullptr && *x == '/')
      path = std::string(x) + "/robustmq-pub";
    else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0')
      path = std::string(h) + "/.config/robustmq-pub";
    else
      return {};
  }
  std::ifstream in(path);
  if (!in) {
    if (given) usage_error("cannot read the options file " + path);
    return {};
  }
  std::vector<std::string> words;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string word;
    if (!(fields >> word) || word[0] == '#') continue;
    if (word == "-o") usage_error("-o in an options file (" + path + ")");
    do words.push_back(word);
    while (fields >> word);
  }
  return words;
}

// Blanks the password of -P/--pw in our argv, so that ps shows it for as short a time as we can
// manage.
void blank_passwords(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if ((a == "-P" || a == "--pw") && i + 1 < argc)
      std::memset(argv[i + 1], 'x', std::strlen(argv[i + 1]));
    else if (a.starts_with("--pw="))
      std::memset(argv[i] + 5, 'x', a.size() - 5);
    else if (a.starts_with("-P") && a.size() > 2)
      std::memset(argv[i] + 2, 'x', a.size() - 2);
  }
}

// -D COMMAND IDENTIFIER VALUE [VALUE]: mosquitto_pub's form; av[optind...] holds what follows
// the command.
void add_property(Args& a, const std::string& command, const std::vector<char*>& av) {
  const auto next = [&av]() -> std::string {
    if (optind >= static_cast<int>(av.size()) - 1) usage_error("-D needs more values");
    return av[static_cast<std::size_t>(optind++)];
  };
  if (command != "publish")
    usage_error("-D " + command + ": RobustMQ sends properties with PUBLISH only (-D publish ...)");
  const std::string what = next();
  if (what == "user-property") {
    std::string name = next();
    a.user_properties.emplace_back(std::move(name), next());
  } else if (what == "content-type") {
    a.content_type = next();
  } else {
    usage_error("-D publish " + what + " is not supported: user-property and content-type are "
                "(message expiry: --ttl)");
  }
}

std::optional<double> to_decimal(const char* s) {
  if (s == nullptr || *s == '\0') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (errno != 0 || *end != '\0' || !(v >= 0) || v > 1e9) return std::nullopt;
  return v;
}

// A number >= `low`, or a usage error naming the option.
long number_at_least(const char* value, long low, const char* option) {
  const auto v = to_number(value);
  if (!v || *v < low) usage_error(std::string(option) + " needs a whole number >= " + std::to_string(low));
  return *v;
}

}  // namespace

Args parse(int argc, char** argv) {
  enum {
    kCacheDir = 1000, kCacheType, kTimeout, kProgress, kHelpOpt, kVersion, kDrain, kHandOff,
    kDrainRate, kDrainRateBytes, kProxy, kCafile, kInsecure, kAlpn, kCiphers, kPwFile, kTlsVersion,
    kRepeat, kRepeatDelay, kQuiet, kCapath, kCert, kKey, kWillTopic, kWillPayload, kWillQos,
    kWillRetain, kMaxInflight, kTtl, kMaxCacheBytes, kJournal
  };
  static const option longs[] = {
      {"host", required_argument, nullptr, 'h'},   {"port", required_argument, nullptr, 'p'},
      {"topic", required_argument, nullptr, 't'},  {"qos", required_argument, nullptr, 'q'},
      {"retain", no_argument, nullptr, 'r'},       {"id", required_argument, nullptr, 'i'},
      {"message", required_argument, nullptr, 'm'}, {"stdin-line", no_argument, nullptr, 'l'},
      {"file", required_argument, nullptr, 'f'},   {"stdin-file", no_argument, nullptr, 's'},
      {"username", required_argument, nullptr, 'u'}, {"pw", required_argument, nullptr, 'P'},
      {"pw-file", required_argument, nullptr, kPwFile}, {"debug", no_argument, nullptr, 'd'},
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
      {"tls-version", required_argument, nullptr, kTlsVersion},
      {"null-message", no_argument, nullptr, 'n'},
      {"repeat", required_argument, nullptr, kRepeat},
      {"repeat-delay", required_argument, nullptr, kRepeatDelay},
      {"quiet", no_argument, nullptr, kQuiet},
      {"capath", required_argument, nullptr, kCapath},
      {"cert", required_argument, nullptr, kCert}, {"key", required_argument, nullptr, kKey},
      {"protocol-version", required_argument, nullptr, 'V'},
      {"keepalive", required_argument, nullptr, 'k'},
      {"disable-clean-session", no_argument, nullptr, 'c'},
      {"property", required_argument, nullptr, 'D'},
      {"will-topic", required_argument, nullptr, kWillTopic},
      {"will-payload", required_argument, nullptr, kWillPayload},
      {"will-qos", required_argument, nullptr, kWillQos},
      {"will-retain", no_argument, nullptr, kWillRetain},
      {"max-inflight", required_argument, nullptr, kMaxInflight},
      {"ttl", required_argument, nullptr, kTtl},
      {"max-cache-bytes", required_argument, nullptr, kMaxCacheBytes},
      {"journal", no_argument, nullptr, kJournal},
      {"help", no_argument, nullptr, kHelpOpt},    {"version", no_argument, nullptr, kVersion},
      {nullptr, 0, nullptr, 0}};
  // The options file first, then the command line (which wins where an option is given twice).
  std::vector<std::string> words{argv[0]};
  for (auto& w : options_file(argc, argv)) words.push_back(std::move(w));
  for (int i = 1; i < argc; ++i) words.emplace_back(argv[i]);
  blank_passwords(argc, argv);
  std::vector<char*> av;
  av.reserve(words.size() + 1);
  for (auto& w : words) av.push_back(w.data());
  av.push_back(nullptr);
  const int ac = static_cast<int>(words.size());
  Args a;
  opterr = 0;
  int c;
  while ((c = getopt_long(ac, av.data(), "+:h:p:t:q:ri:m:lf:su:P:dL:nV:k:cD:o:", longs,
                          nullptr)) != -1) {
    switch (c) {
      case 'h': a.host = optarg; a.host_given = true; break;
      case 'L': a.urls.emplace_back(optarg); break;
      case kProxy: a.proxy = optarg; break;
      case kCafile: a.cafile = optarg; break;
      case kInsecure: a.insecure = true; break;
      case kAlpn: a.alpn = optarg; break;
      case kCiphers: a.ciphers = optarg; break;
      case kTlsVersion: a.tls_version = optarg; break;
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
      case 'P': a.password = optarg; break;
      case 'n': set_source(a, Source::message); a.message.clear(); break;
      case kRepeat: a.repeat = number_at_least(optarg, 1, "--repeat"); break;
      case kRepeatDelay: {
        const auto v = to_decimal(optarg);
        if (!v) usage_error("--repeat-delay needs a number of seconds >= 0");
        a.repeat_delay_s = *v;
        break;
      }
      case kQuiet: a.quiet = true; break;
      case kCapath: a.capath = optarg; break;
      case kCert: a.cert = optarg; break;
      case kKey: a.key = optarg; break;
      case 'V': {
        const std::string_view v = optarg;
        if (v == "mqttv311" || v == "311") a.mqtt_version = 4;
        else if (v == "mqttv5" || v == "5") a.mqtt_version = 5;
        else if (v == "mqttv31" || v == "31") usage_error("MQTT 3.1 is not supported: -V mqttv311 or mqttv5");
        else usage_error("-V needs mqttv311 or mqttv5");
        break;
      }
      case 'k': {
        const long v = number_at_least(optarg, 0, "-k");
        if (v > 65535) usage_error("-k needs 0..65535 seconds");
        a.keepalive = static_cast<int>(v);
        break;
      }
      case 'c': a.clean_session = false; break;
      case 'D': add_property(a, optarg, av); break;
      case 'o': break;  // read before (options_file())
      case kWillTopic: a.will.topic = optarg; break;
      case kWillPayload: a.will.payload = optarg; break;
      case kWillQos: {
        const long v = number_at_least(optarg, 0, "--will-qos");
        if (v > 2) usage_error("--will-qos needs 0, 1 or 2");
        a.will.qos = static_cast<int>(v);
        break;
      }
      case kWillRetain: a.will.retain = true; break;
      case kMaxInflight: a.max_inflight = number_at_least(optarg, 1, "--max-inflight"); break;
      case kTtl: a.ttl_s = number_at_least(optarg, 0, "--ttl"); break;
      case kMaxCacheBytes:
        a.max_cache_bytes = static_cast<std::uint64_t>(number_at_least(optarg, 0, "--max-cache-bytes"));
        break;
      case kJournal: a.journal = true; break;
      case kPwFile: a.password_file = optarg; break;
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
      case ':': usage_error(std::string("option ") + av[optind - 1] + " needs a value");
      default: usage_error(std::string("unknown option ") + av[optind - 1]);
    }
  }
  if (optind < ac) usage_error(std::string("unexpected argument ") + av[optind]);
  if (a.client_id.empty()) usage_error("-i CLIENT_ID is required");
  if (a.source == Source::none) usage_error("give a message: -m, -l, -f, -s, -n or --drain");
  if ((!a.user_properties.empty() || !a.content_type.empty()) && a.mqtt_version != 5)
    usage_error("-D properties need -V mqttv5");
  if (a.repeat > 1 && (a.source == Source::lines || a.source == Source::drain))
    usage_error("--repeat is for -m, -f, -n and -s");
  if (a.will.topic.empty() && (!a.will.payload.empty() || a.will.retain))
    usage_error("--will-payload and --will-retain need --will-topic");
  if (a.host_given && !a.urls.empty()) usage_error("give either -h/-p or -L, not both");
  if (a.source != Source::drain && a.topic.empty()) usage_error("-t TOPIC is required");
  if (!a.password.empty() && !a.password_file.empty()) usage_error("give either -P or --pw-file");
  if (a.password.empty() && a.password_file.empty()) {
    if (const char* p = std::getenv("ROBUSTMQ_PASSWORD"); p != nullptr) a.password = p;
  }
  ::unsetenv("ROBUSTMQ_PASSWORD");  // the worker inherits our environment
  if (a.cache_dir.empty()) a.cache_dir = default_cache_dir(a.client_id);
  return a;
}
// NOLINTEND(concurrency-mt-unsafe)

}  // namespace robustmq::pub
