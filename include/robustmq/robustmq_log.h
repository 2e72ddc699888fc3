/* RobustMQ C API, continued: the worker's log lines to the program instead of stderr or syslog
 * (README "Logging"). Included by robustmq.h; include that one. */
#ifndef ROBUSTMQ_ROBUSTMQ_LOG_H
#define ROBUSTMQ_ROBUSTMQ_LOG_H

#include "robustmq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One line the worker logs at the options' log level or above: level is enum
 * robustmq_log_level (ROBUSTMQ_LOG_DEBUG .. ROBUSTMQ_LOG_ERROR); line is its text without the
 * "robustmq-worker[pid] [client_id] level: " prefix, NUL-terminated, valid during the call
 * only. Called on the library's monitor thread, one line at a time, in order (while it runs, a
 * worker that died is not restarted: keep it short); robustmq_stop() hands over the worker's
 * last lines on its own thread. Lines it is too slow for (the worker never waits), those from
 * before the worker's loop began, and every line while no callback is set, go to stderr or
 * syslog as without one. Must not call robustmq_stop(), robustmq_stop_mode() or
 * robustmq_client_free() on its own client. */
typedef void (*robustmq_log_callback)(void* ctx, int level, const char* line);
/* Sets, replaces or clears (NULL) the callback; before or after connecting; any thread. A
 * callback being replaced or cleared may still be running, or about to run once, when this
 * returns: keep its ctx alive until robustmq_stop() returned. ROBUSTMQ_OK,
 * ROBUSTMQ_ERR_INVALID_ARGUMENT (client NULL) or ROBUSTMQ_ERR_NO_MEMORY. */
ROBUSTMQ_EXPORT int robustmq_set_log_callback(robustmq_client* client,
                                              robustmq_log_callback callback, void* ctx);

#ifdef __cplusplus
}
#endif

#endif /* ROBUSTMQ_ROBUSTMQ_LOG_H */
