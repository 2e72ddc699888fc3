/* RobustMQ C API, continued: the client's figures for monitoring (README "robustmq-stat").
 * Included by robustmq.h; include that one. */
#ifndef ROBUSTMQ_ROBUSTMQ_METRICS_H
#define ROBUSTMQ_ROBUSTMQ_METRICS_H

#include "robustmq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A file the worker writes the client's figures to in the Prometheus text format (what
 * `robustmq-stat --prometheus` prints) every interval_s seconds (1..86400) and as it exits,
 * also after the application is gone; written beside it and renamed over it. Its directory
 * must exist at connect time. NULL or "": none (interval_s is then ignored).
 * ROBUSTMQ_ERR_INVALID_ARGUMENT for an interval out of range. */
ROBUSTMQ_EXPORT int robustmq_options_set_metrics_file(robustmq_options* o, const char* path,
                                                      int64_t interval_s);

#ifdef __cplusplus
}
#endif

#endif
