#include "lb_clock.h"

#include <errno.h>
#include <stdio.h>
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
