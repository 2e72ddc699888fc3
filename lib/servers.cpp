#include "lib/servers.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "lib/fail.hpp"
#include "proto/server_uri.hpp"

namespace robustmq {

namespace {

// The first of the environment variables that is set and not empty. getenv: a host that
// setenv()s while threads run is already undefined; this only reads, once per connect_async().
std::string from_env(const char* name, const char* other = nullptr) {
  for (const char* n : {name, other}) {
    if (n == nullptr) continue;
    // NOLINTNEXTLINE(concurrency-mt-unsafe)
    if (const char* v = std::getenv(n); v != nullptr && *v != '\0') return v;
  }
  return {};
}

// Whether a broker of `config` would go through the proxy of its kind (tls: https_proxy, else
// http_proxy) when no_proxy is `no_proxy`.
bool proxied(const WorkerConfig& config, bool tls, const std::string& no_proxy) {
  if (config.servers.empty()) return config.tls == tls && !no_proxy_matches(no_proxy, config.host);
  for (const auto& s : config.servers) {
    std::string error;
    auto uri = parse_server_uri(s, error);
    if (uri && uri->tls() == tls && !no_proxy_matches(no_proxy, uri->host)) return true;
  }
  return false;
}

// The proxy in effect: the option, else the variable. Checked either way; a malformed variable
// is an error too (it names the variable), rather than a connection that silently goes direct.
// A variable that no broker would use (none of its kind, or no_proxy exempts each) is not read.
std::string proxy(const std::string& option, const char* option_name, const char* var,
                  const char* other_var, bool used) {
  std::string value = option;
  std::string source = fmt::format("Options::{}", option_name);
  if (value.empty()) {
    if (!used) return value;
    value = from_env(var, other_var);
    source = fmt::format("the environment variable {}", var);
    if (other_var != nullptr && from_env(var).empty() && !value.empty())
      source = fmt::format("the environment variable {}", other_var);
  }
  if (value.empty()) return value;
  std::string error;
  if (!parse_proxy_url(value, error))
    fail(EINVAL, fmt::format("{}: {}; fix it, or set Options::no_proxy = \"*\" to connect "
                             "directly", source, error));
  return value;
}

}  // namespace

bool uses_tls(const Options& o, bool from_servers) {
  if (!from_servers) return o.tls.enabled;
  std::string error;
  for (const auto& s : o.servers)
    if (auto uri = parse_server_uri(s, error); uri && uri->tls()) return true;
  return false;
}

void apply_servers(const Options& o, bool from_servers, WorkerConfig& config) {
  config.servers.clear();
  if (from_servers) {
    if (o.servers.empty())
      fail(EINVAL, "connect_async() without arguments needs Options::servers, a list of broker "
                   "URIs (tcp://host:1883, ssl://host:8883, ws://host:80/mqtt, wss://host:443); "
                   "or call connect_async(host, port)");
    for (std::size_t i = 0; i < o.servers.size(); ++i) {
      std::string error;
      auto uri = parse_server_uri(o.servers[i], error);
      if (!uri) fail(EINVAL, fmt::format("Options::servers[{}]: {}", i, error));
      config.servers.push_back(uri->text());
      if (i == 0) {
        config.host = uri->host;
        config.port = uri->port;
        config.tls = uri->tls();
      }
    }
  } else if (!o.servers.empty()) {
    fail(EINVAL, "connect_async(host, port) with a non-empty Options::servers: both name "
                 "brokers. Call connect_async() without arguments to use the list, or clear it");
  }
  // curl's rule: only the lower-case http_proxy (HTTP_PROXY may come from a CGI request header).
  config.no_proxy = o.no_proxy.empty() ? from_env("no_proxy", "NO_PROXY") : o.no_proxy;
  config.http_proxy = proxy(o.http_proxy, "http_proxy", "http_proxy", nullptr,
                            proxied(config, false, config.no_proxy));
  config.https_proxy = proxy(o.https_proxy, "https_proxy", "https_proxy", "HTTPS_PROXY",
                             proxied(config, true, config.no_proxy));
  const auto& alpn = o.tls.alpn;
  std::size_t at = 0;
  while (!alpn.empty() && at <= alpn.size()) {
    const auto end = std::min(alpn.find(',', at), alpn.size());
    if (end == at || end - at > 255)
      fail(EINVAL, fmt::format("Options::tls.alpn '{}': each protocol must be 1..255 bytes, "
                               "comma-separated (e.g. \"mqtt\")", alpn));
    at = end + 1;
  }
  if ((!alpn.empty() || !o.tls.ciphers.empty()) && !uses_tls(o, from_servers))
    fail(EINVAL, "Options::tls.alpn and tls.ciphers need a TLS broker (tls.enabled, or an "
                 "ssl:// or wss:// URI in Options::servers)");
}

}  // namespace robustmq
