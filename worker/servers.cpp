#include "worker/servers.hpp"

#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace robustmq::worker {

ServerRotation::ServerRotation(std::vector<ServerUri> list) : list_(std::move(list)) {
  if (list_.empty()) throw std::invalid_argument("ServerRotation: no server");
}

bool ServerRotation::referred(std::string_view reference) {
  reference_seen_ = true;
  auto uri = parse_server_reference(reference, current());
  if (!uri) {
    ignored_because_ = "unreadable";
    return false;
  }
  if (follows_ >= kMaxReferences) {
    ignored_because_ = fmt::format("{} followed in a row, at most {}", follows_, kMaxReferences);
    return false;
  }
  if (uri->tls() != current().tls()) {
    ignored_because_ = current().tls() ? "it would leave TLS for a plain connection"
                                       : "it would switch a plain connection to TLS";
    return false;
  }
  pending_ = std::move(*uri);
  outcome_ = Outcome::referred;
  return true;
}

const ServerUri& ServerRotation::next_attempt() {
  const Outcome outcome = std::exchange(outcome_, Outcome::none);
  const bool reference_seen = std::exchange(reference_seen_, false);
  if (outcome == Outcome::referred) {
    ++follows_;
    referred_ = true;
    reference_ = std::move(pending_);
    lost_retried_ = false;
    return current();
  }
  // An end without a reference (not even an ignored one) ends a run of references.
  if ((outcome == Outcome::failed || outcome == Outcome::lost) && !reference_seen) follows_ = 0;
  const bool was_referred = std::exchange(referred_, false);
  switch (outcome) {
    case Outcome::none:
    case Outcome::connected:  // connect() again without a report: the same server
      referred_ = was_referred;
      break;
    case Outcome::lost:
      if (was_referred) {
        index_ = (index_ + 1) % list_.size();
      } else if (lost_retried_) {
        index_ = (index_ + 1) % list_.size();
        lost_retried_ = false;
      } else {
        lost_retried_ = true;  // once more at the same server
      }
      break;
    case Outcome::failed:
      // After a retry that followed a loss, and after any other failure: the next server.
      index_ = (index_ + 1) % list_.size();
      lost_retried_ = false;
      break;
    case Outcome::referred: break;
  }
  return current();
}

std::vector<ServerUri> servers_of(const WorkerConfig& c) {
  std::vector<ServerUri> out;
  for (const auto& text : c.servers) {
    std::string error;
    auto uri = parse_server_uri(text, error);
    if (!uri) throw std::runtime_error(error);
    out.push_back(std::move(*uri));
  }
  if (out.empty()) {
    ServerUri one;
    one.scheme = c.tls ? ServerUri::Scheme::ssl : ServerUri::Scheme::tcp;
    one.host = c.host;
    one.port = c.port;
    out.push_back(std::move(one));
  }
  return out;
}

std::string proxy_for(const ServerUri& server, const std::string& http_proxy,
                      const std::string& https_proxy, std::string_view no_proxy) {
  const std::string& url = server.tls() ? https_proxy : http_proxy;
  if (url.empty() || no_proxy_matches(no_proxy, server.host)) return {};
  std::string error;
  auto proxy = parse_proxy_url(url, error);
  return proxy ? proxy->paho_text() : std::string();
}

std::string alpn_wire(std::string_view list) {
  std::string out;
  std::size_t at = 0;
  while (at < list.size()) {
    const auto end = std::min(list.find(',', at), list.size());
    const auto name = list.substr(at, end - at);
    if (!name.empty() && name.size() <= 255) {
      out += static_cast<char>(name.size());
      out += name;
    }
    at = end + 1;
  }
  return out;
}

}  // namespace robustmq::worker
