#include "lb_queue.h"
#include "lb_clock.h"
#include "lb_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavutil/error.h>

struct lb_queue {
    lb_queue_params p;
    char name[64];
    void **items;
    size_t head, count;
    int closed;
    lb_queue_stats stats;
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
};

lb_queue *lb_queue_alloc(const lb_queue_params *params)
{
    if (!params || !params->capacity || params->policy <= LB_QUEUE_INVALID ||
        params->policy > LB_QUEUE_DROP_OLDEST_GOP ||
        (params->policy == LB_QUEUE_DROP_OLDEST_GOP && !params->is_sync) ||
        (params->max_duration_us && (!params->item_time_us || params->policy == LB_QUEUE_BLOCK)))
        return NULL;
    lb_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->items = calloc(params->capacity, sizeof *q->items);
    if (!q->items) {
        free(q);
        return NULL;
    }
    q->p = *params;
    snprintf(q->name, sizeof q->name, "%s", params->name ? params->name : "queue");
    q->p.name = q->name;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_cond_init(&q->not_full, &ca);
    pthread_condattr_destroy(&ca);
    return q;
}

static void release(lb_queue *q, void *item)
{
    if (q->p.free_item)
        q->p.free_item(item);
}

void lb_queue_free(lb_queue **pq)
{
    lb_queue *q = pq ? *pq : NULL;
    if (!q)
        return;
    for (size_t i = 0; i < q->count; i++)
        release(q, q->items[(q->head + i) % q->p.capacity]);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->items);
    free(q);
    *pq = NULL;
}

/* Waits on cond until deadline_us (< 0: for ever). Returns ETIMEDOUT or 0. */
static int wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t deadline_us)
{
    if (deadline_us < 0)
        return pthread_cond_wait(cond, lock);
    struct timespec ts = { deadline_us / 1000000, (deadline_us % 1000000) * 1000 };
    return pthread_cond_timedwait(cond, lock, &ts);
}

static void *take_head(lb_queue *q)
{
    void *item = q->items[q->head];
    q->head = (q->head + 1) % q->p.capacity;
    q->count--;
    return item;
}

/* Makes room for one item according to the policy; lock held, queue full. */
static void drop_for_room(lb_queue *q)
{
    size_t dropped = 0;
    if (q->p.policy == LB_QUEUE_DROP_OLDEST_GOP) {
        /* drop the head and everything up to (not including) the next sync
         * point; if there is none the whole queue goes */
        do {
            release(q, take_head(q));
            dropped++;
        } while (q->count && !q->p.is_sync(q->items[q->head]));
    } else {
        release(q, take_head(q));
        dropped = 1;
    }
    q->stats.dropped += dropped;
    q->stats.drop_events++;
    if (q->stats.drop_events == 1 || q->stats.drop_events % 100 == 0)
        LB_LOGW("queue", "%s: consumer too slow, dropped %zu item(s) (%llu so far)",
                q->name, dropped, (unsigned long long)q->stats.dropped);
}

int lb_queue_push(lb_queue *q, void *item, int64_t timeout_us)
{
    int64_t deadline = timeout_us < 0 ? -1 : lb_clock_now() + timeout_us;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (q->closed) {
            pthread_mutex_unlock(&q->lock);
            return AVERROR_EOF;
        }
        if (q->count < q->p.capacity)
            break;
        if (q->p.policy != LB_QUEUE_BLOCK) {
            drop_for_room(q);
            break;
        }
        if (timeout_us == 0 || wait_until(&q->not_full, &q->lock, deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&q->lock);
            return AVERROR(EAGAIN);
        }
    }
    q->items[(q->head + q->count) % q->p.capacity] = item;
    q->count++;
    q->stats.pushed++;
    /* bounded by duration: the oldest go while the items span too long */
    if (q->p.max_duration_us) {
        int64_t newest = q->p.item_time_us(item);
        while (q->count > 1 && newest - q->p.item_time_us(q->items[q->head]) > q->p.max_duration_us)
            drop_for_room(q);
    }
    if (q->count > q->stats.max_depth)
        q->stats.max_depth = q->count;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int lb_queue_pop(lb_queue *q, void **item, int64_t timeout_us)
{
    int64_t deadline = timeout_us < 0 ? -1 : lb_clock_now() + timeout_us;
    pthread_mutex_lock(&q->lock);
    while (!q->count) {
        if (q->closed) {
            pthread_mutex_unlock(&q->lock);
            return AVERROR_EOF;
        }
        if (timeout_us == 0 || wait_until(&q->not_empty, &q->lock, deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&q->lock);
            return AVERROR(EAGAIN);
        }
    }
    *item = take_head(q);
    q->stats.popped++;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void *lb_queue_peek(lb_queue *q)
{
    pthread_mutex_lock(&q->lock);
    void *item = q->count ? q->items[q->head] : NULL;
    pthread_mutex_unlock(&q->lock);
    return item;
}

void lb_queue_close(lb_queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

int lb_queue_is_closed(lb_queue *q)
{
    pthread_mutex_lock(&q->lock);
    int closed = q->closed;
    pthread_mutex_unlock(&q->lock);
    return closed;
}

void lb_queue_get_stats(lb_queue *q, lb_queue_stats *stats)
{
    pthread_mutex_lock(&q->lock);
    *stats = q->stats;
    stats->depth = q->count;
    pthread_mutex_unlock(&q->lock);
}
