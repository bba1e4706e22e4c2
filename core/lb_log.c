#include "lb_log.h"
#include "lb_clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libavutil/log.h>

static _Atomic int current_level = LB_LOG_INFO;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_line[512];
static int64_t last_line_us;
static int repeats;

static const char *const level_names[] = { "?", "ERROR", "WARN", "INFO", "DEBUG" };

void lb_log_set_level(lb_log_level level) { atomic_store(&current_level, level); }
lb_log_level lb_log_get_level(void) { return (lb_log_level)atomic_load(&current_level); }

lb_log_level lb_log_level_from_name(const char *name)
{
    static const char *const names[] = { NULL, "error", "warn", "info", "debug" };
    for (int i = LB_LOG_ERROR; i <= LB_LOG_DEBUG; i++)
        if (!strcasecmp(name, names[i]))
            return (lb_log_level)i;
    return LB_LOG_INVALID;
}

static void stamp(char *buf, size_t size)
{
    int64_t now = lb_clock_wall_us();
    time_t t = (time_t)(now / 1000000);
    struct tm tm;
    localtime_r(&t, &tm);
    size_t n = strftime(buf, size, "%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03d", (int)(now / 1000 % 1000));
}

void lb_logv(lb_log_level level, const char *module, const char *fmt, va_list ap)
{
    if (level <= LB_LOG_INVALID || level > lb_log_get_level())
        return;
    char msg[512];
    int n = snprintf(msg, sizeof msg, "%-5s [%s] ", level_names[level], module ? module : "luobo");
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = 0;

    char ts[32];
    stamp(ts, sizeof ts);
    int64_t now = lb_clock_now();
    pthread_mutex_lock(&sink_lock);
    /* a device that fails the same way every second says so once a minute */
    if (!strcmp(msg, last_line) && now - last_line_us < 60000000) {
        repeats++;
    } else {
        if (repeats)
            fprintf(stderr, "%s INFO  [log] last message repeated %d times\n", ts, repeats);
        repeats = 0;
        fprintf(stderr, "%s %s\n", ts, msg);
        snprintf(last_line, sizeof last_line, "%s", msg);
        last_line_us = now;
    }
    pthread_mutex_unlock(&sink_lock);
}

void lb_log(lb_log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lb_logv(level, module, fmt, ap);
    va_end(ap);
}

static void av_callback(void *avcl, int av_level, const char *fmt, va_list ap)
{
    lb_log_level level;
    if (av_level <= AV_LOG_ERROR)
        level = LB_LOG_ERROR;
    else if (av_level <= AV_LOG_WARNING)
        level = LB_LOG_WARN;
    else if (av_level <= AV_LOG_INFO)
        level = LB_LOG_DEBUG;     /* FFmpeg's info is chatty: ours is for operators */
    else
        return;
    if (level > lb_log_get_level())
        return;
    char module[64] = "ffmpeg";
    AVClass *cls = avcl ? *(AVClass **)avcl : NULL;
    if (cls)
        snprintf(module, sizeof module, "ffmpeg:%s", cls->item_name(avcl));
    lb_logv(level, module, fmt, ap);
}

void lb_log_route_av(void)
{
    av_log_set_callback(av_callback);
}
