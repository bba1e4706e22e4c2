#include <stdlib.h>

#include <libavutil/error.h>

#include "check.h"
#include "lb_clock.h"
#include "lb_queue.h"
#include "lb_thread.h"

typedef struct item {
    int value;
    int key;
} item;

static int freed;

static void free_item(void *p)
{
    freed++;
    free(p);
}

static int is_key(const void *p)
{
    return ((const item *)p)->key;
}

static int64_t item_time(const void *p)
{
    return ((const item *)p)->value;        /* the value is a time here */
}

static item *make(int value, int key)
{
    item *it = malloc(sizeof *it);
    it->value = value;
    it->key = key;
    return it;
}

static void *close_later(void *q)
{
    lb_clock_sleep_until(lb_clock_now() + 50000);
    lb_queue_close(q);
    return NULL;
}

static void *pop_later(void *q)
{
    lb_clock_sleep_until(lb_clock_now() + 50000);
    void *it;
    if (lb_queue_pop(q, &it, -1) == 0)
        free_item(it);
    return NULL;
}

int main(void)
{
    void *got;
    lb_queue_stats st;

    /* drop oldest: the newest items survive, drops are counted */
    lb_queue *q = lb_queue_alloc(&(lb_queue_params){ .name = "t", .capacity = 3,
                                 .policy = LB_QUEUE_DROP_OLDEST, .free_item = free_item });
    for (int i = 0; i < 5; i++)
        CHECK(lb_queue_push(q, make(i, 0), 0) == 0);
    lb_queue_get_stats(q, &st);
    CHECK(st.dropped == 2 && st.depth == 3 && freed == 2);
    CHECK(lb_queue_pop(q, &got, 0) == 0 && ((item *)got)->value == 2);
    free_item(got);
    lb_queue_free(&q);
    CHECK(q == NULL && freed == 5);

    /* drop oldest GOP: the queue resumes at the next key item */
    freed = 0;
    q = lb_queue_alloc(&(lb_queue_params){ .name = "gop", .capacity = 5,
                       .policy = LB_QUEUE_DROP_OLDEST_GOP, .free_item = free_item, .is_sync = is_key });
    int keys[] = { 1, 0, 0, 1, 0, 1 };
    for (int i = 0; i < 6; i++)
        CHECK(lb_queue_push(q, make(i, keys[i]), 0) == 0);
    lb_queue_get_stats(q, &st);
    CHECK(st.dropped == 3 && st.drop_events == 1);
    CHECK(lb_queue_pop(q, &got, 0) == 0 && ((item *)got)->value == 3 && ((item *)got)->key);
    free_item(got);
    lb_queue_free(&q);

    /* blocking: a full queue times out the producer, who keeps the item */
    q = lb_queue_alloc(&(lb_queue_params){ .name = "block", .capacity = 1,
                       .policy = LB_QUEUE_BLOCK, .free_item = free_item });
    CHECK(lb_queue_push(q, make(1, 0), 0) == 0);
    item *extra = make(2, 0);
    CHECK(lb_queue_push(q, extra, 10000) == AVERROR(EAGAIN));
    lb_queue_get_stats(q, &st);
    CHECK(st.dropped == 0);
    /* ... and is released when a consumer makes room */
    lb_thread t;
    CHECK(lb_thread_start(&t, "popper", pop_later, q) == 0);
    CHECK(lb_queue_push(q, extra, -1) == 0);
    lb_thread_join(&t);
    CHECK(lb_queue_pop(q, &got, 0) == 0 && ((item *)got)->value == 2);
    free_item(got);

    /* shutdown wake-up: a consumer blocked for ever returns EOF on close */
    CHECK(lb_thread_start(&t, "closer", close_later, q) == 0);
    CHECK(lb_queue_pop(q, &got, -1) == AVERROR_EOF);
    lb_thread_join(&t);
    extra = make(3, 0);
    CHECK(lb_queue_push(q, extra, -1) == AVERROR_EOF);   /* after close: refused, not taken */
    free_item(extra);
    lb_queue_free(&q);

    /* a closed queue still drains what it holds */
    q = lb_queue_alloc(&(lb_queue_params){ .name = "drain", .capacity = 2,
                       .policy = LB_QUEUE_BLOCK, .free_item = free_item });
    CHECK(lb_queue_push(q, make(7, 0), 0) == 0);
    lb_queue_close(q);
    CHECK(lb_queue_pop(q, &got, -1) == 0 && ((item *)got)->value == 7);
    free_item(got);
    CHECK(lb_queue_pop(q, &got, -1) == AVERROR_EOF);
    lb_queue_free(&q);

    /* bounded by duration: items 10 ms apart, at most 25 ms held (3 items),
     * whatever the capacity */
    freed = 0;
    q = lb_queue_alloc(&(lb_queue_params){ .name = "time", .capacity = 12, .policy = LB_QUEUE_DROP_OLDEST,
                       .free_item = free_item, .item_time_us = item_time, .max_duration_us = 25000 });
    for (int i = 0; i < 8; i++)
        CHECK(lb_queue_push(q, make(i * 10000, 0), 0) == 0);
    lb_queue_get_stats(q, &st);
    CHECK(st.depth == 3 && st.dropped == 5 && freed == 5);
    CHECK(lb_queue_pop(q, &got, 0) == 0 && ((item *)got)->value == 50000);
    free_item(got);
    /* a burst of items with one time is held whole (up to capacity): 70 ms
     * and six at 90 ms */
    for (int i = 0; i < 6; i++)
        CHECK(lb_queue_push(q, make(90000, 0), 0) == 0);
    lb_queue_get_stats(q, &st);
    CHECK(st.depth == 7);
    lb_queue_free(&q);

    /* bad parameters */
    CHECK(lb_queue_alloc(&(lb_queue_params){ .capacity = 2, .policy = LB_QUEUE_DROP_OLDEST,
                                             .max_duration_us = 1000 }) == NULL);
    CHECK(lb_queue_alloc(&(lb_queue_params){ .capacity = 2, .policy = LB_QUEUE_BLOCK, .item_time_us = item_time,
                                             .max_duration_us = 1000 }) == NULL);
    CHECK(lb_queue_alloc(&(lb_queue_params){ .capacity = 0, .policy = LB_QUEUE_BLOCK }) == NULL);
    CHECK(lb_queue_alloc(&(lb_queue_params){ .capacity = 2, .policy = LB_QUEUE_DROP_OLDEST_GOP }) == NULL);
    return CHECK_DONE();
}
