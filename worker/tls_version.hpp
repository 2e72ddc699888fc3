// Options::tls.min_version (and the check of Options::tls.ciphers). Paho MQTT C 1.3.12 ignores
// its own sslVersion when built with OpenSSL 1.1 or later (it always asks for
// TLS_client_method(), any version) and offers no hook to the SSL_CTX it creates. What it
// cannot set per context the worker sets for its whole process: before Paho first initialises
// OpenSSL, it loads an OpenSSL configuration of its own whose system_default section sets
// MinProtocol, which every SSL_CTX created afterwards takes over. That configuration replaces the system's openssl.cnf for the worker, so it is refused
// when the system's configures anything at start-up (a non-empty openssl_conf section:
// providers, crypto policies, its own system_default); Debian's configures nothing. It lives in
// a memfd: nothing is written to disk.
#pragma once

#include <string>

namespace robustmq::worker {

// "tlsv1.1", "tlsv1.2", "tlsv1.3" (mosquitto's spellings), or "": nothing to do. Returns "" on
// success (checked on a context created afterwards), else why not. Call once, before Paho
// creates its first client.
std::string apply_tls_min_version(const std::string& version);

// Options::tls.ciphers: "" if OpenSSL takes the list (or it is empty), else why not. Paho would
// fail every connection attempt alike, with no reason. After apply_tls_min_version().
std::string check_tls_ciphers(const std::string& ciphers);

}  // namespace robustmq::worker
