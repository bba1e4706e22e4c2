/* Bounded queues between threads, each with a stated policy.
 *
 * Items are opaque pointers (in luobo: AVFrame* or AVPacket*), owned by the
 * queue while inside it; free_item releases what the queue drops or still
 * holds when freed.  Thread-safe for any number of producers and consumers.
 *
 * Policies when full:
 *   LB_QUEUE_BLOCK            the producer waits (paths to the archive: a
 *                             recording is never lossy);
 *   LB_QUEUE_DROP_OLDEST      the oldest item is dropped;
 *   LB_QUEUE_DROP_OLDEST_GOP  items are dropped from the head up to the next
 *                             item for which is_sync() is true, so that the
 *                             consumer resumes on a key frame (live network
 *                             edges).  Every drop is counted; consumers see
 *                             a gap as a change of stats.drops.
 *
 * A dropping queue may also be bounded by duration (realtime queues of
 * frames: what they hold is then a time, e.g. 250 ms, whatever the rate):
 * with item_time_us and max_duration_us set, a push drops from the head (by
 * the policy) while the items span more than max_duration_us; capacity
 * stays the hard limit.
 *
 * lb_queue_close() wakes every waiter: pushes then fail with AVERROR_EOF,
 * pops drain what is left and then return AVERROR_EOF. */
#ifndef LB_QUEUE_H
#define LB_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef enum lb_queue_policy {
    LB_QUEUE_INVALID = 0,
    LB_QUEUE_BLOCK,
    LB_QUEUE_DROP_OLDEST,
    LB_QUEUE_DROP_OLDEST_GOP,
} lb_queue_policy;

typedef struct lb_queue lb_queue;

typedef struct lb_queue_stats {
    uint64_t pushed, popped, dropped;
    uint64_t drop_events;    /* how many times the policy had to drop */
    size_t depth, max_depth;
} lb_queue_stats;

typedef struct lb_queue_params {
    const char *name;                   /* for logs */
    size_t capacity;
    lb_queue_policy policy;
    void (*free_item)(void *item);
    int (*is_sync)(const void *item);   /* LB_QUEUE_DROP_OLDEST_GOP */
    int64_t (*item_time_us)(const void *item);  /* optional, dropping policies */
    int64_t max_duration_us;            /* with item_time_us; 0 = no bound */
} lb_queue_params;

/* Returns NULL on bad parameters or no memory. */
lb_queue *lb_queue_alloc(const lb_queue_params *params);
/* Frees remaining items; accepts NULL; sets *q to NULL. */
void lb_queue_free(lb_queue **q);

/* On success the queue owns item and 0 is returned.  On failure
 * (AVERROR_EOF after close, or AVERROR(EAGAIN) when a blocking push timed
 * out) the caller still owns it.  timeout_us < 0 waits for ever. */
int lb_queue_push(lb_queue *q, void *item, int64_t timeout_us);
/* 0 with *item set, AVERROR(EAGAIN) on timeout, AVERROR_EOF when closed
 * and empty.  timeout_us < 0 waits for ever, 0 polls. */
int lb_queue_pop(lb_queue *q, void **item, int64_t timeout_us);
/* Looks at the head without taking it; NULL when empty. The pointer is
 * valid only while no other thread pops. */
void *lb_queue_peek(lb_queue *q);
void lb_queue_close(lb_queue *q);          /* accepts NULL */
int lb_queue_is_closed(lb_queue *q);
void lb_queue_get_stats(lb_queue *q, lb_queue_stats *stats);

#endif
