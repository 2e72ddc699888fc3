#include "proto/server_uri.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <utility>

#include <fmt/format.h>

namespace robustmq {

namespace {

struct SchemeName {
  std::string_view name;
  ServerUri::Scheme scheme;
  int default_port;
};
constexpr std::array<SchemeName, 6> kSchemes{{
    {"tcp", ServerUri::Scheme::tcp, 1883},
    {"mqtt", ServerUri::Scheme::tcp, 1883},
    {"ssl", ServerUri::Scheme::ssl, 8883},
    {"mqtts", ServerUri::Scheme::ssl, 8883},
    {"ws", ServerUri::Scheme::ws, 80},
    {"wss", ServerUri::Scheme::wss, 443},
}};

std::string_view scheme_text(ServerUri::Scheme s) {
  switch (s) {
    case ServerUri::Scheme::tcp: return "tcp";
    case ServerUri::Scheme::ssl: return "ssl";
    case ServerUri::Scheme::ws: return "ws";
    case ServerUri::Scheme::wss: return "wss";
  }
  return "tcp";
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool host_char_ok(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_' ||
         c == ':' || c == '%';  // ':' and '%' only inside brackets (IPv6, zone)
}

// host[:port] -> host (brackets removed), port (or `default_port`). An error says why.
std::optional<std::pair<std::string, int>> host_port(std::string_view hp, int default_port,
                                                     std::string& why) {
  std::string_view host;
  std::string_view port_text;
  if (!hp.empty() && hp.front() == '[') {
    const auto close = hp.find(']');
    if (close == std::string_view::npos) {
      why = "an IPv6 address lacks its closing ']'";
      return std::nullopt;
    }
    host = hp.substr(1, close - 1);
    const auto rest = hp.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      why = "unexpected text after the IPv6 address";
      return std::nullopt;
    }
    if (!rest.empty()) port_text = rest.substr(1);
    if (rest.size() == 1) port_text = ":";  // "[::1]:" : an empty port
  } else {
    const auto colon = hp.find(':');
    host = hp.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = hp.substr(colon + 1);
      if (port_text.empty()) port_text = ":";
      if (port_text.find(':') != std::string_view::npos && port_text != ":") {
        why = "an IPv6 address must be written in brackets, e.g. tcp://[::1]:1883";
        return std::nullopt;
      }
    }
  }
  if (host.empty()) {
    why = "the host is missing";
    return std::nullopt;
  }
  const bool bracketed = !hp.empty() && hp.front() == '[';
  for (const char c : host) {
    if (!host_char_ok(c) || (!bracketed && (c == ':' || c == '%'))) {
      why = fmt::format("the host contains '{}'", c);
      return std::nullopt;
    }
  }
  int port = default_port;
  if (!port_text.empty()) {
    long v = -1;
    const char* end = port_text.data() + port_text.size();
    const auto [stop, ec] = std::from_chars(port_text.data(), end, v);
    if (port_text == ":" || ec != std::errc() || stop != end || v < 1 || v > 65535) {
      why = fmt::format("the port '{}' is not a number in 1..65535",
                        port_text == ":" ? "" : port_text);
      return std::nullopt;
    }
    port = static_cast<int>(v);
  }
  return std::pair{std::string(host), port};
}

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

std::string ServerUri::text() const {
  return fmt::format("{}://{}:{}{}", scheme_text(scheme), bracketed(host), port, path);
}

std::optional<ServerUri> parse_server_uri(std::string_view uri, std::string& error) {
  auto bad = [&](std::string_view why) {
    error = fmt::format("server URI '{}': {}", uri, why);
    return std::nullopt;
  };
  const auto sep = uri.find("://");
  if (sep == std::string_view::npos)
    return bad("no scheme: write it as tcp://host:port (or ssl://, ws://, wss://)");
  const std::string scheme = lower(uri.substr(0, sep));
  const auto known = std::find_if(kSchemes.begin(), kSchemes.end(),
                                  [&](const SchemeName& s) { return s.name == scheme; });
  if (known == kSchemes.end())
    return bad(fmt::format("unknown scheme '{}': use tcp://, ssl://, ws:// or wss://", scheme));
  ServerUri out;
  out.scheme = known->scheme;
  std::string_view rest = uri.substr(sep + 3);
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos)
    return bad("a user name or password in the URI: use Options::username and password");
  if (rest.find_first_of("?# \t\r\n") != std::string_view::npos)
    return bad("a query, fragment or space in the URI");
  if (!out.path.empty() && !out.websocket())
    return bad("a path is only for ws:// and wss:// URIs");
  if (out.path == "/") out.path.clear();
  std::string why;
  auto hp = host_port(authority, known->default_port, why);
  if (!hp) return bad(why);
  out.host = std::move(hp->first);
  out.port = hp->second;
  return out;
}

std::optional<ServerUri> parse_server_reference(std::string_view text, const ServerUri& current) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  text = text.substr(0, text.find(' '));
  if (text.empty()) return std::nullopt;
  std::string error;
  if (text.find("://") != std::string_view::npos) return parse_server_uri(text, error);
  auto hp = host_port(text, current.port, error);
  if (!hp) return std::nullopt;
  ServerUri out = current;
  out.host = std::move(hp->first);
  out.port = hp->second;
  return out;
}

std::string ProxyUrl::paho_text() const {
  return fmt::format("{}{}{}:{}", userinfo, userinfo.empty() ? "" : "@", bracketed(host), port);
}

std::optional<ProxyUrl> parse_proxy_url(std::string_view url, std::string& error) {
  auto bad = [&](std::string_view why) {
    // The URL may carry a password: only its host part is quoted.
    error = fmt::format("proxy URL: {}", why);
    return std::nullopt;
  };
  std::string_view rest = url;
  const auto sep = url.find("://");
  if (sep != std::string_view::npos) {
    const std::string scheme = lower(url.substr(0, sep));
    if (scheme == "https")
      return bad("https:// (TLS to the proxy itself) is not supported by Paho 1.3.12: use "
                 "http://host:port (a TLS broker connection is still tunnelled end to end)");
    if (scheme != "http")
      return bad(fmt::format("unknown scheme '{}': use http://host:port", scheme));
    rest = url.substr(sep + 3);
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  ProxyUrl out;
  const auto at = rest.find('@');
  if (at != std::string_view::npos) {
    // Paho decodes %XX and ends the user info at its first '@': the rest must be encoded.
    const std::string_view userinfo = rest.substr(0, at);
    const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    bool encoded = rest.find('@', at + 1) == std::string_view::npos;
    for (std::size_t i = 0; encoded && i < userinfo.size(); ++i)
      if (userinfo[i] == '%')
        encoded = i + 2 < userinfo.size() && hex(userinfo[i + 1]) && hex(userinfo[i + 2]);
    if (!encoded)
      return bad("the user name or password holds a '%' or '@' that is not percent-encoded: "
                 "write '%' as %25 and '@' as %40");
    out.userinfo = std::string(userinfo);
    rest.remove_prefix(at + 1);
  }
  if (rest.find_first_of("/?# \t\r\n") != std::string_view::npos)
    return bad(fmt::format("'{}' is not host:port", rest));
  std::string why;
  auto hp = host_port(rest, 8080, why);
  if (!hp) return bad(fmt::format("'{}': {}", rest, why));
  out.host = std::move(hp->first);
  out.port = hp->second;
  return out;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host) {
  const std::string h = lower(host);
  std::size_t at = 0;
  while (at <= no_proxy.size()) {
    const auto end = std::min(no_proxy.find_first_of(", ", at), no_proxy.size());
    std::string entry = lower(no_proxy.substr(at, end - at));
    at = end + 1;
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry.front() == '[') {
      entry = entry.substr(1, entry.find(']') - 1);
    } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
      entry.resize(entry.find(':'));  // host:port
    }
    if (entry.front() == '.') entry.erase(0, 1);
    if (entry.empty()) continue;
    if (h == entry) return true;
    if (h.size() > entry.size() && h.ends_with(entry) && h[h.size() - entry.size() - 1] == '.')
      return true;
  }
  return false;
}

}  // namespace robustmq
