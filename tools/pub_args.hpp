// robustmq-pub's command line: the options, --help, the exit codes, parse(). The publishing is
// robustmq_pub.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <robustmq/client.hpp>

namespace robustmq::pub {

// Exit codes (also in --help).
constexpr int kDelivered = 0;
constexpr int kUsage = 1;
constexpr int kSetup = 2;
constexpr int kRefused = 3;
constexpr int kLeftCached = 4;
constexpr int kConnectionRefused = 5;

enum class Source { none, message, lines, file, stdin_whole, drain };

struct Args {
  std::string host = "localhost";
  int port = 1883;
  bool host_given = false;  // -h or -p
  bool port_given = false;
  std::vector<std::string> urls;  // -L
  std::string proxy, cafile, alpn, ciphers, tls_version;
  bool insecure = false;
  std::string topic;
  int qos = 1;
  bool retain = false;
  std::string client_id;
  std::string username;
  std::string password;
  std::string password_file;
  std::string cache_dir;
  robustmq::CacheType cache_type = robustmq::CacheType::sqlite;
  std::chrono::seconds timeout{10};
  robustmq::DrainRate drain_rate;
  bool progress = false;
  bool hand_off = false;
  bool debug = false;
  Source source = Source::none;
  std::string message;  // -m text (-n: empty), or -f file name
  // mosquitto_pub's options
  int mqtt_version = 4;                    // -V: 4 (MQTT 3.1.1) or 5
  std::optional<int> keepalive;            // -k, seconds
  bool clean_session = true;               // -c: false
  std::optional<std::int64_t> session_expiry_s;  // -x: 0..4294967295 (never)
  robustmq::WillOptions will;              // --will-*
  std::vector<std::pair<std::string, std::string>> user_properties;  // -D publish user-property
  std::string content_type;                                          // -D publish content-type
  long repeat = 1;                         // --repeat: how many times -m/-f/-n/-s is published
  double repeat_delay_s = 0;               // --repeat-delay
  bool quiet = false;                      // --quiet
  std::string capath, cert, key;           // --capath, --cert, --key
  // RobustMQ's own
  bool journal = false;                    // --journal: Durability::journal
  std::optional<std::uint64_t> max_cache_bytes;
  std::optional<long> ttl_s;               // --ttl, seconds
  std::optional<long> max_inflight;
  std::optional<std::string> options_file;  // -o
};

// --help's text (pub_help.cpp).
const char* help_text();

// Parses the options file (-o FILE, else $XDG_CONFIG_HOME/robustmq-pub, else
// ~/.config/robustmq-pub: one option per line, then its arguments, separated by blanks; # starts
// a comment line), then argv, whose options replace what the file gave them
// (pub_options_file.hpp), and ROBUSTMQ_PASSWORD (removed from the environment). Exits with kUsage on a usage error, kDelivered after --help or --version. Call
// before any thread starts.
Args parse(int argc, char** argv);

}  // namespace robustmq::pub
