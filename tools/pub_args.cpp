#include "pub_args.hpp"

#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <robustmq/robustmq.h>

#include "pub_options_file.hpp"

namespace robustmq::pub {

namespace {

// Command-line and environment handling runs in main() before the client starts any thread:
// getenv, getopt_long, unsetenv and exit are safe there.
// NOLINTBEGIN(concurrency-mt-unsafe)

// The options file while parse() reads it, for usage_error(); "" otherwise.
std::string g_reading;

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

[[noreturn]] void usage_error(const std::string& what) {
  if (g_reading.empty())
    std::fprintf(stderr, "robustmq-pub: %s (see --help)\n", what.c_str());
  else
    std::fprintf(stderr, "robustmq-pub: %s, in the options file %s (see --help)\n", what.c_str(),
                 g_reading.c_str());
  std::exit(kUsage);
}

namespace {

constexpr option kLongOptions[] = {
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
    {"session-expiry", required_argument, nullptr, 'x'},
    {"property", required_argument, nullptr, 'D'},
    {"will-topic", required_argument, nullptr, kWillTopic},
    {"will-payload", required_argument, nullptr, kWillPayload},
    {"will-qos", required_argument, nullptr, kWillQos},
    {"will-retain", no_argument, nullptr, kWillRetain},
    {"max-inflight", required_argument, nullptr, kMaxInflight},
    {"ttl", required_argument, nullptr, kTtl},
    {"max-cache-bytes", required_argument, nullptr, kMaxCacheBytes},
    {"journal", no_argument, nullptr, kJournal},
    {"unix", required_argument, nullptr, kUnix},
    {"help", no_argument, nullptr, kHelpOpt},    {"version", no_argument, nullptr, kVersion},
    {nullptr, 0, nullptr, 0}};

// The option getopt_long() just stopped at, as given: a long one by its word up to any '=', a
// short one by its letter (optopt: av[optind - 1] may be the next word, or a cluster like -rZ).
std::string option_name(const std::vector<char*>& av) {
  const std::string_view word = av[static_cast<std::size_t>(optind - 1)];
  if (word.starts_with("--")) return std::string(word.substr(0, word.find('=')));
  return std::string("-") + static_cast<char>(optopt);
}

// Where apply() puts what it reads.
struct Pass {
  // Set for the options file: the options the command line gave. The file's values of those
  // (and of the options they exclude: replaced()) go to a scratch Args.
  const std::set<int>* command_line = nullptr;
  std::set<int>* given = nullptr;  // collects the options met
  // The command line that the words copy: the password of -P/--pw is blanked in it, in every
  // form (-P X, -PX, -dPX, --pw X, --pw=X), so that ps shows it for as short a time as we can
  // manage.
  char** argv = nullptr;
};

// Overwrites in pass.argv the value getopt_long() just read into optarg from av.
void blank_value(const std::vector<char*>& av, char** argv) {
  for (std::size_t i = 0; av[i] != nullptr; ++i) {
    const std::size_t length = std::strlen(av[i]);
    if (optarg >= av[i] && optarg <= av[i] + length) {
      const auto at = static_cast<std::size_t>(optarg - av[i]);
      std::memset(argv[i] + at, 'x', length - at);
      return;
    }
  }
}

// One option, to `t`; `av` (av[optind...]) holds -D's values.
void apply_option(int c, Args& t, const std::vector<char*>& av, bool in_file) {
  switch (c) {
    case 'h': t.host = optarg; t.host_given = true; break;
    case 'L': t.urls.emplace_back(optarg); break;
    case kProxy: t.proxy = optarg; break;
    case kCafile: t.cafile = optarg; break;
    case kInsecure: t.insecure = true; break;
    case kAlpn: t.alpn = optarg; break;
    case kCiphers: t.ciphers = optarg; break;
    case kTlsVersion: t.tls_version = optarg; break;
    case 'p': {
      const auto v = to_number(optarg);
      if (!v || *v < 1 || *v > 65535) usage_error("-p needs a port 1..65535");
      t.port = static_cast<int>(*v);
      t.host_given = t.port_given = true;
      break;
    }
    case 't': t.topic = optarg; break;
    case 'q': {
      const auto v = to_number(optarg);
      if (!v || *v < 0 || *v > 2) usage_error("-q needs 0, 1 or 2");
      t.qos = static_cast<int>(*v);
      break;
    }
    case 'r': t.retain = true; break;
    case 'i': t.client_id = optarg; break;
    case 'm': set_source(t, Source::message); t.message = optarg; break;
    case 'l': set_source(t, Source::lines); break;
    case 'f': set_source(t, Source::file); t.message = optarg; break;
    case 's': set_source(t, Source::stdin_whole); break;
    case kDrain: set_source(t, Source::drain); break;
    case 'u': t.username = optarg; break;
    case 'P': t.password = optarg; break;
    case 'n': set_source(t, Source::message); t.message.clear(); break;
    case kRepeat: t.repeat = number_at_least(optarg, 1, "--repeat"); break;
    case kRepeatDelay: {
      const auto v = to_decimal(optarg);
      if (!v) usage_error("--repeat-delay needs a number of seconds >= 0");
      t.repeat_delay_s = *v;
      break;
    }
    case kQuiet: t.quiet = true; break;
    case kCapath: t.capath = optarg; break;
    case kCert: t.cert = optarg; break;
    case kKey: t.key = optarg; break;
    case 'V': {
      const std::string_view v = optarg;
      if (v == "mqttv311" || v == "311") t.mqtt_version = 4;
      else if (v == "mqttv5" || v == "5") t.mqtt_version = 5;
      else if (v == "mqttv31" || v == "31") usage_error("MQTT 3.1 is not supported: -V mqttv311 or mqttv5");
      else usage_error("-V needs mqttv311 or mqttv5");
      break;
    }
    case 'k': {
      const long v = number_at_least(optarg, 0, "-k");
      if (v > 65535) usage_error("-k needs 0..65535 seconds");
      t.keepalive = static_cast<int>(v);
      break;
    }
    case 'c': t.clean_session = false; break;
    case 'x': {
      // mosquitto_pub's: -1, 4294967295 and the infinity sign mean never.
      const auto v = to_number(optarg);
      if (std::strcmp(optarg, "∞") == 0 || v == -1) t.session_expiry_s = 0xFFFFFFFF;
      else if (v && *v >= 0 && *v <= 0xFFFFFFFF) t.session_expiry_s = *v;
      else usage_error("-x needs 0..4294967294 seconds, or -1, 4294967295 or ∞ for a session "
                       "that never expires");
      break;
    }
    case 'D': add_property(t, optarg, av); break;
    case 'o':
      if (in_file) usage_error("-o cannot be in an options file");
      t.options_file = optarg;
      break;
    case kWillTopic: t.will.topic = optarg; break;
    case kWillPayload: t.will.payload = optarg; break;
    case kWillQos: {
      const long v = number_at_least(optarg, 0, "--will-qos");
      if (v > 2) usage_error("--will-qos needs 0, 1 or 2");
      t.will.qos = static_cast<int>(v);
      break;
    }
    case kWillRetain: t.will.retain = true; break;
    case kMaxInflight: t.max_inflight = number_at_least(optarg, 1, "--max-inflight"); break;
    case kTtl: t.ttl_s = number_at_least(optarg, 0, "--ttl"); break;
    case kMaxCacheBytes:
      t.max_cache_bytes = static_cast<std::uint64_t>(number_at_least(optarg, 0, "--max-cache-bytes"));
      break;
    case kJournal: t.journal = true; break;
    case kUnix:
      usage_error("--unix is not supported: Paho MQTT C, through which RobustMQ connects, has no "
                  "Unix-socket support in the version it is built with (Debian 12's 1.3.12 has "
                  "no unix://); let the broker listen on loopback TCP as well (mosquitto: "
                  "listener 1883 127.0.0.1) and give -h 127.0.0.1");
    case kPwFile: t.password_file = optarg; break;
    case 'd': t.debug = true; break;
    case kCacheDir: t.cache_dir = optarg; break;
    case kCacheType:
      if (std::strcmp(optarg, "sqlite") == 0 || std::strcmp(optarg, "sq3") == 0)
        t.cache_type = robustmq::CacheType::sqlite;
      else if (std::strcmp(optarg, "file") == 0 || std::strcmp(optarg, "pickle") == 0)
        t.cache_type = robustmq::CacheType::file;
      else
        usage_error("--cache-type is sqlite or file");
      break;
    case kTimeout: {
      const auto v = to_number(optarg);
      if (!v || *v < 0) usage_error("--timeout needs a number of seconds");
      t.timeout = std::chrono::seconds(*v);
      break;
    }
    case kDrainRate:
    case kDrainRateBytes: {
      // The upper bounds are connect_async()'s to check (it names the option and the range).
      const auto v = to_number(optarg);
      if (!v || *v < 0) usage_error("--drain-rate and --drain-rate-bytes need a number >= 0");
      (c == kDrainRate ? t.drain_rate.messages_per_second : t.drain_rate.bytes_per_second) =
          static_cast<std::uint64_t>(*v);
      break;
    }
    case kProgress: t.progress = true; break;
    case kHandOff: t.hand_off = true; break;
    case kHelpOpt: std::fputs(help_text(), stdout); std::exit(kDelivered);
    case kVersion: std::printf("robustmq-pub %s\n", robustmq_version()); std::exit(kDelivered);
    case ':': usage_error("option " + option_name(av) + " needs a value");
    default: usage_error("unknown option " + option_name(av));
  }
}

// Reads the options in `words` (words[0]: the program's name) into `a`.
void apply(std::vector<std::string> words, Args& a, const Pass& pass) {
  std::vector<char*> av;
  av.reserve(words.size() + 1);
  for (auto& w : words) av.push_back(w.data());
  av.push_back(nullptr);
  const int ac = static_cast<int>(words.size());
  Args scratch;
  optind = 0;  // a fresh getopt_long scan
  opterr = 0;
  int c;
  while ((c = getopt_long(ac, av.data(), "+:h:p:t:q:ri:m:lf:su:P:dL:nV:k:cx:D:o:", kLongOptions,
                          nullptr)) != -1) {
    // -D publish content-type and -D publish user-property replace only their own kind.
    const int option = c == 'D' && optind < ac && std::strcmp(av[optind], "content-type") == 0
                           ? kContentType : c;
    if (pass.given != nullptr) pass.given->insert(option);
    if (c == 'P' && pass.argv != nullptr) blank_value(av, pass.argv);
    const bool replaced_here = pass.command_line != nullptr && replaced(option, *pass.command_line);
    apply_option(c, replaced_here ? scratch : a, av, pass.command_line != nullptr);
  }
  if (optind < ac) usage_error(std::string("unexpected argument ") + av[optind]);
}

}  // namespace

Args parse(int argc, char** argv) {
  // The options file, then the command line: an option the command line gives replaces all the
  // file gave it (mosquitto_pub's rule, for repeatable options too: -D, -L).
  const std::vector<std::string> command_line(argv, argv + argc);
  Args given_here;
  std::set<int> given;
  apply(command_line, given_here, {.given = &given, .argv = argv});
  auto words = options_file_words(given_here.options_file, g_reading);
  Args a;
  if (!words.empty()) {
    words.insert(words.begin(), command_line[0]);
    apply(std::move(words), a, {.command_line = &given});
  }
  g_reading.clear();
  apply(command_line, a, {});
  if (a.client_id.empty()) usage_error("-i CLIENT_ID is required");
  if (a.source == Source::none) usage_error("give a message: -m, -l, -f, -s, -n or --drain");
  if ((!a.user_properties.empty() || !a.content_type.empty()) && a.mqtt_version != 5)
    usage_error("-D properties need -V mqttv5");
  if (a.session_expiry_s && a.mqtt_version != 5)
    usage_error("-x needs -V mqttv5 (MQTT 3.1.1 has no session expiry: -c alone keeps the "
                "session until a clean connect)");
  if (a.repeat > 1 && (a.source == Source::lines || a.source == Source::drain))
    usage_error("--repeat is for -m, -f, -n and -s");
  if (a.will.topic.empty() && (!a.will.payload.empty() || a.will.retain))
    usage_error("--will-payload and --will-retain need --will-topic");
  if (a.host_given && !a.urls.empty()) usage_error("give either -h/-p or -L, not both");
  if (a.cert.empty() != a.key.empty())
    usage_error("--cert and --key go together: give the client certificate and its key");
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
