#include "lb_clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t lb_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void lb_clock_sleep_until(int64_t deadline_us)
{
    struct timespec ts = {
        .tv_sec  = deadline_us / 1000000,
        .tv_nsec = (deadline_us % 1000000) * 1000,
    };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

int64_t lb_clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *lb_clock_iso8601(int64_t wall_us, char *buf, int size)
{
    time_t t = (time_t)(wall_us / 1000000);
    struct tm tm;
    localtime_r(&t, &tm);
    char zone[8];
    strftime(zone, sizeof zone, "%z", &tm);            /* +0800 */
    int n = (int)strftime(buf, (size_t)size, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n > 0 && n + 7 < size)
        snprintf(buf + n, (size_t)(size - n), "%.3s:%.2s", zone, zone + 3);
    return buf;
}

int64_t lb_clock_parse_iso8601(const char *s)
{
    struct tm tm = { 0 };
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    if (*rest == '.')
        for (rest++; *rest >= '0' && *rest <= '9'; rest++)
            ;
    if (!*rest) {
        tm.tm_isdst = -1;
        return (int64_t)mktime(&tm);
    }
    int64_t t = (int64_t)timegm(&tm);
    if (!strcmp(rest, "Z"))
        return t;
    int hh, mm;
    char tail;
    if ((rest[0] == '+' || rest[0] == '-') &&
        (sscanf(rest + 1, "%2d:%2d%c", &hh, &mm, &tail) == 2 || sscanf(rest + 1, "%2d%2d%c", &hh, &mm, &tail) == 2) &&
        hh <= 23 && mm <= 59)
        return t - (rest[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
    return -1;
}

/* The latency trace (LUOBO_LATENCY_TRACE): a diagnostic, not a log.  One
 * line per stage a program frame passes, written through stdio's own lock
 * (one fprintf per line, line-buffered) and only ever closed by the
 * process's exit. */
static FILE *trace_file;
static pthread_once_t trace_once = PTHREAD_ONCE_INIT;

static void trace_open(void)
{
    const char *path = getenv("LUOBO_LATENCY_TRACE");
    if (path && *path && (trace_file = fopen(path, "w"))) {
        /* a line at a time: readable while luobo runs, whole after a crash */
        setvbuf(trace_file, NULL, _IOLBF, 0);
        fprintf(trace_file, "clock %lld %lld\n", (long long)lb_clock_now(), (long long)lb_clock_wall_us());
    }
}

int lb_clock_trace_on(void)
{
    pthread_once(&trace_once, trace_open);
    return trace_file != NULL;
}

void lb_clock_trace(const char *stage, int64_t pts_us, int64_t extra)
{
    if (lb_clock_trace_on())
        fprintf(trace_file, "%s %lld %lld %lld\n", stage, (long long)pts_us, (long long)lb_clock_now(),
                (long long)extra);
}
