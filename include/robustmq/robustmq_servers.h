/* RobustMQ C API, continued: several brokers, WebSockets and proxies (README "Several
 * brokers"), and connection options added later. Included by robustmq.h; include that one. */
#ifndef ROBUSTMQ_ROBUSTMQ_SERVERS_H
#define ROBUSTMQ_ROBUSTMQ_SERVERS_H

#include "robustmq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- options ---------------------------------------------------------------------------- */
/* Appends a broker URI to the list robustmq_connect_async_servers() tries in turn (Paho's
 * serverURIs): tcp://host[:1883], ssl://host[:8883], ws://host[:80][/mqtt],
 * wss://host[:443][/mqtt]; not NULL. Checked by robustmq_connect_async_servers(). */
ROBUSTMQ_EXPORT int robustmq_options_add_server(robustmq_options* o, const char* uri);
ROBUSTMQ_EXPORT int robustmq_options_clear_servers(robustmq_options* o);
/* HTTP proxies, http://[user:password@]host[:port]: http_proxy for tcp:// and ws://,
 * https_proxy for ssl:// and wss://. NULL or "": the environment variable of the same name at
 * connect time. no_proxy: hosts reached directly, comma-separated; "*": all (NULL or "": the
 * environment's no_proxy / NO_PROXY). */
ROBUSTMQ_EXPORT int robustmq_options_set_http_proxy(robustmq_options* o, const char* url);
ROBUSTMQ_EXPORT int robustmq_options_set_https_proxy(robustmq_options* o, const char* url);
ROBUSTMQ_EXPORT int robustmq_options_set_no_proxy(robustmq_options* o, const char* hosts);
/* TLS: the ALPN protocols offered, comma-separated ("mqtt", "x-amzn-mqtt-ca"); the OpenSSL
 * cipher list for TLS 1.2 and below. NULL or "": none / OpenSSL's default. */
ROBUSTMQ_EXPORT int robustmq_options_set_tls_alpn(robustmq_options* o, const char* protocols);
ROBUSTMQ_EXPORT int robustmq_options_set_tls_ciphers(robustmq_options* o, const char* ciphers);
/* The lowest TLS version offered: "tlsv1.1", "tlsv1.2" or "tlsv1.3"; NULL or "": OpenSSL's
 * configuration decides. Checked when connecting (EINVAL). */
ROBUSTMQ_EXPORT int robustmq_options_set_tls_min_version(robustmq_options* o, const char* version);
/* on=0: the broker's certificate must still be signed by a trusted CA, but need not name the
 * host connected to (mosquitto_pub's --insecure); default 1. */
ROBUSTMQ_EXPORT int robustmq_options_set_tls_verify_hostname(robustmq_options* o, int on);
/* MQTT 5: the session expiry interval of CONNECT, 0..4294967295 seconds (4294967295: never
 * expires); unset: never with clean session off, 0 with it on. With MQTT 3.1.1,
 * robustmq_connect_async() fails (EINVAL). */
ROBUSTMQ_EXPORT int robustmq_options_set_session_expiry(robustmq_options* o, int64_t seconds);

/* --- connecting ------------------------------------------------------------------------- */

/* Like robustmq_connect_async(), with the brokers of robustmq_options_add_server(), tried in
 * turn. An empty list, or a malformed URI or proxy, is ROBUSTMQ_ERR_SYSTEM with errno EINVAL
 * and a message naming it. robustmq_connect_async() with a non-empty list is refused the same way. */
ROBUSTMQ_EXPORT int robustmq_connect_async_servers(robustmq_client* client);

#ifdef __cplusplus
}
#endif

#endif /* ROBUSTMQ_ROBUSTMQ_SERVERS_H */
