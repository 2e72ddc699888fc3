/* RobustMQ C API, continued: credentials that outlive an outage (README "Token refresh").
 * Included by robustmq.h; include that one. */
#ifndef ROBUSTMQ_ROBUSTMQ_CREDENTIALS_H
#define ROBUSTMQ_ROBUSTMQ_CREDENTIALS_H

#include "robustmq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A file holding the password (one trailing newline is not part of it), read by the worker
 * before each connection attempt, also after the application is gone. Instead of the password
 * of robustmq_options_set_credentials() (both: connecting fails with EINVAL); must be readable
 * at connect time. NULL or "": none. */
ROBUSTMQ_EXPORT int robustmq_options_set_password_file(robustmq_options* o, const char* path);

/* What a credentials callback fills in. */
typedef struct robustmq_credentials robustmq_credentials;
/* Sets the user name (UTF-8, NUL-terminated; "" or NULL: none) and the password
 * (password_len bytes, binary allowed; NULL with 0: none), each at most 65535 bytes, for the
 * next connection attempt and the ones after it. Only inside the callback.
 * ROBUSTMQ_ERR_INVALID_ARGUMENT when a value is too long or the user name is not UTF-8. */
ROBUSTMQ_EXPORT int robustmq_credentials_set(robustmq_credentials* credentials,
                                             const char* username, const void* password,
                                             size_t password_len);
/* Called before each connection attempt of the worker while the application runs, on the
 * library's monitor thread, one call at a time. Returns nonzero to use what it set with
 * robustmq_credentials_set(), 0 to keep the last credentials (Paho's updateConnectOptions
 * convention). The worker waits for it up to the connect timeout; keep it short. */
typedef int (*robustmq_credentials_callback)(void* ctx, robustmq_credentials* credentials);
/* Sets, replaces or clears (NULL) the callback; before or after connecting; any thread. A
 * callback being replaced or cleared may still be running, or about to run once, when this
 * returns: keep its ctx alive until robustmq_stop() returned. */
ROBUSTMQ_EXPORT int robustmq_set_credentials_callback(robustmq_client* client,
                                                      robustmq_credentials_callback callback,
                                                      void* ctx);

#ifdef __cplusplus
}
#endif

#endif /* ROBUSTMQ_ROBUSTMQ_CREDENTIALS_H */
