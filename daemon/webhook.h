/* [alerts] webhook: alert events POSTed as JSON to a receiver, in order,
 * retried with backoff until it takes them (see webhook.c). */
#ifndef LB_WEBHOOK_H
#define LB_WEBHOOK_H

#include <stdint.h>

#include "lb_config.h"

typedef struct lb_webhook lb_webhook;

/* Events waiting at most; beyond, the oldest not being sent is dropped
 * (counted in lb_webhook_stats.dropped). */
#define LB_WEBHOOK_MAX_PENDING 10000

typedef struct lb_webhook_stats {
    int pending;
    uint64_t sent, failures, dropped;
} lb_webhook_stats;

extern const lb_option lb_alerts_options[];

/* Applies [alerts] (sec may be NULL) and reads the credentials file, which
 * must not be readable by others.  *w stays NULL when no webhook is set.
 * Returns 0 or AVERROR(EINVAL) with a config-style message. */
int lb_webhook_create(lb_webhook **w, const lb_config_section *sec, char *err, size_t err_size);
int lb_webhook_start(lb_webhook *w);            /* the lb-webhook thread; NULL: nothing */
/* Any thread: queues a copy of json (one event) for delivery. */
void lb_webhook_post(lb_webhook *w, const char *json);
void lb_webhook_get_stats(lb_webhook *w, lb_webhook_stats *st);
/* Stops the thread (what was not delivered is lost, and said) and frees. */
void lb_webhook_free(lb_webhook **w);

#endif
