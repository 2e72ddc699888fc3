// Options::servers and the HTTP proxies at connect_async(): checking them, and filling the
// worker's configuration (the brokers to try, the proxies in effect with the application's
// environment applied). The worker's side is worker/servers.hpp.
#pragma once

#include <string>

#include "proto/worker_config.hpp"
#include "robustmq/client.hpp"

namespace robustmq {

// Whether any broker of this connect_async() is reached over TLS: tls.enabled for
// connect_async(host, port), an ssl:// or wss:// URI for the list. Malformed URIs count as not.
bool uses_tls(const Options& o, bool from_servers);

// Checks Options::servers, the proxies and the ALPN list, and fills config.servers,
// config.host / port (the first server, for older workers and the range check), the proxies
// (an empty option: the environment's variable) and no_proxy. `from_servers`: connect_async()
// without arguments. Throws std::system_error (EINVAL) naming the option and the value.
void apply_servers(const Options& o, bool from_servers, WorkerConfig& config);

}  // namespace robustmq
