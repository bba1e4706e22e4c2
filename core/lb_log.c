#include "lb_log.h"
#include "lb_clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libavutil/log.h>

static _Atomic int current_level = LB_LOG_INFO;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_line[LB_LOG_LINE_MAX];
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

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if none.
 * Overlong forms, surrogates and C1 controls (U+0080..U+009F, which some
 * terminals obey like ESC sequences) count as invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    uint32_t cp;
    size_t len;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2;
        cp = p[0] & 0x1F;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3;
        cp = p[0] & 0x0F;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F))
        return 0;
    return len;
}

size_t lb_log_escape(const char *in, size_t in_len, char *out, size_t out_size)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;

    if (!out_size)
        return 0;
    for (size_t i = 0; i < in_len;) {
        char esc[8];
        const char *piece = esc;
        size_t n;
        unsigned char ch = p[i];
        if (ch >= 0x20 && ch < 0x7F) {
            esc[0] = (char)ch;
            n = 1;
            i++;
        } else if (ch >= 0x80 && (n = utf8_len(p + i, in_len - i))) {
            piece = (const char *)p + i;
            i += n;
        } else {
            if (ch == '\n')
                memcpy(esc, "\\n", n = 2);
            else if (ch == '\r')
                memcpy(esc, "\\r", n = 2);
            else if (ch == '\t')
                memcpy(esc, "\\t", n = 2);
            else
                n = (size_t)snprintf(esc, sizeof esc, "\\x%02X", ch);
            i++;
        }
        if (o + n >= out_size)
            break;                      /* never half an escape or a character */
        memcpy(out + o, piece, n);
        o += n;
    }
    out[o] = 0;
    return o;
}

void lb_logv(lb_log_level level, const char *module, const char *fmt, va_list ap)
{
    if (level <= LB_LOG_INVALID || level > lb_log_get_level())
        return;
    char raw[LB_LOG_LINE_MAX], msg[LB_LOG_LINE_MAX];
    int n = snprintf(raw, sizeof raw, "%-5s [%s] ", level_names[level], module ? module : "luobo");
    if (n < 0 || (size_t)n >= sizeof raw)
        n = 0;
    vsnprintf(raw + n, sizeof raw - (size_t)n, fmt, ap);
    size_t len = strlen(raw);
    while (len && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
        raw[--len] = 0;
    /* One call, one line: names, titles and URLs from the network reach
     * the log, and a newline or an ESC in them must not forge a line or
     * drive the operator's terminal. */
    lb_log_escape(raw, len, msg, sizeof msg);

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
