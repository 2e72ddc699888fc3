// robustmq-pub's command line: the options, --help, the exit codes, parse(). The publishing is
// robustmq_pub.cpp.
#pragma once

#include <chrono>
#include <string>
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
  std::string message;  // -m text, or -f file name
};

// Parses argv (and ROBUSTMQ_PASSWORD, which it removes from the environment). Exits with kUsage
// on a usage error, kDelivered after --help or --version. Call before any thread starts.
Args parse(int argc, char** argv);

}  // namespace robustmq::pub
