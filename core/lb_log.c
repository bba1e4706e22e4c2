#include "lb_log.h"
#include "lb_clock.h"
#include "lb_redact.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/common.h>
#include <libavutil/log.h>

static _Atomic int current_level = LB_LOG_INFO;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_line[LB_LOG_LINE_MAX + 96];
static int64_t last_line_us;
static int repeats;
static lb_log_level last_level;
static lb_log_sink_fn sink_fn;
static void *sink_opaque;

static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static int journal_stream;

static pthread_mutex_t lesson_lock = PTHREAD_MUTEX_INITIALIZER;
static char lesson_id[128];

static const char *const level_names[] = { "?", "ERROR", "WARN", "INFO", "DEBUG" };

/* Per-site limit: a site is a format string in a module.  A small table
 * is enough: sites that flood are few, and one evicted early only starts
 * a new window. */
#define NB_SITES 64
static int site_burst = LB_LOG_SITE_BURST;
static int64_t site_window_us = (int64_t)LB_LOG_SITE_WINDOW_S * 1000000;

typedef struct log_site {
    uint64_t key;                   /* 0: free */
    char module[48];
    lb_log_level level;
    int64_t window_start_us;
    int64_t last_us;
    int lines;                      /* shown in this window */
    uint64_t suppressed;
    char last_message[LB_LOG_LINE_MAX];     /* of the suppressed ones */
} log_site;

static log_site sites[NB_SITES];

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

int lb_log_priority(lb_log_level level)
{
    static const int prio[] = { 6, 3, 4, 6, 7 };
    return level > LB_LOG_INVALID && level <= LB_LOG_DEBUG ? prio[level] : 6;
}

/* systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected
 * to stdout and stderr; a stderr redirected elsewhere keeps the variable
 * but is another file, so both numbers must match. */
static void detect_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 && !fstat(STDERR_FILENO, &st) &&
        (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
        journal_stream = 1;
}

int lb_log_stderr_is_journal(void)
{
    pthread_once(&journal_once, detect_journal);
    return journal_stream;
}

void lb_log_set_sink(lb_log_sink_fn sink, void *opaque)
{
    pthread_mutex_lock(&sink_lock);
    sink_fn = sink;
    sink_opaque = opaque;
    pthread_mutex_unlock(&sink_lock);
}

void lb_log_set_lesson(const char *id)
{
    pthread_mutex_lock(&lesson_lock);
    snprintf(lesson_id, sizeof lesson_id, "%s", id ? id : "");
    pthread_mutex_unlock(&lesson_lock);
}

const char *lb_log_lesson(char *buf, int size)
{
    pthread_mutex_lock(&lesson_lock);
    snprintf(buf, (size_t)size, "%s", lesson_id);
    pthread_mutex_unlock(&lesson_lock);
    return buf;
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

/* Writes one line; sink_lock held. */
static void emit(lb_log_level level, const char *module, const char *message)
{
    if (sink_fn && sink_fn(sink_opaque, level, module, message) >= 0)
        return;
    if (lb_log_stderr_is_journal()) {
        fprintf(stderr, "<%d>%-5s [%s] %s\n", lb_log_priority(level), level_names[level], module, message);
    } else {
        char ts[32];
        stamp(ts, sizeof ts);
        fprintf(stderr, "%s %-5s [%s] %s\n", ts, level_names[level], module, message);
    }
}

/* 1,234,567 */
static void thousands(char *buf, size_t size, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < size; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
}

static void tell_suppressed(log_site *s, int64_t now)
{
    if (!s->suppressed)
        return;
    char count[40], line[LB_LOG_LINE_MAX + 64];
    thousands(count, sizeof count, s->suppressed);
    int64_t span_s = (FFMIN(now, s->window_start_us + site_window_us) - s->window_start_us + 999999) / 1000000;
    snprintf(line, sizeof line, "%s (%s similar suppressed in %lld s)", s->last_message, count,
             (long long)FFMAX(span_s, 1));
    emit(s->level, s->module, line);
    s->suppressed = 0;
}

/* Windows that ended with lines suppressed are told now; sink_lock held. */
static void tell_ended_windows(int64_t now, int all)
{
    for (int i = 0; i < NB_SITES; i++)
        if (sites[i].key && sites[i].suppressed && (all || now - sites[i].window_start_us >= site_window_us))
            tell_suppressed(&sites[i], now);
}

/* A site is its format string; a format that is little more than "%s"
 * (a library's message passed on) is no site: the message itself is, with
 * its numbers left out, so that different messages are not folded. */
static uint64_t site_key(const char *fmt, const char *message)
{
    int literal = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f == '%' && f[1]) {
            f++;
            while (*f && !strchr("sdiuxXfgecplz%", *f))
                f++;
            if (!*f)
                break;
            continue;
        }
        literal += *f != ' ' && *f != ':';
    }
    uint64_t h = 1469598103934665603ULL;        /* FNV-1a */
    if (literal >= 4) {
        uintptr_t v = (uintptr_t)fmt;
        for (size_t i = 0; i < sizeof v; i++, v >>= 8)
            h = (h ^ (v & 0xff)) * 1099511628211ULL;
    } else {
        for (const char *m = message; *m; m++)
            if (*m < '0' || *m > '9')
                h = (h ^ (unsigned char)*m) * 1099511628211ULL;
    }
    return h ? h : 1;
}

/* 1 when this line of the site is to be shown; sink_lock held. */
static int site_allows(lb_log_level level, const char *module, const char *fmt,
                       const char *message, int64_t now)
{
    uint64_t key = site_key(fmt, message);
    log_site *s = NULL, *oldest = &sites[0];
    for (int i = 0; i < NB_SITES && !s; i++) {
        log_site *c = &sites[i];
        if (c->key == key && !strcmp(c->module, module))
            s = c;
        else if (!c->key || (oldest->key && c->last_us < oldest->last_us))
            oldest = c;
    }
    if (!s) {
        s = oldest;
        tell_suppressed(s, now);
        memset(s, 0, sizeof *s);
        s->key = key;
        snprintf(s->module, sizeof s->module, "%s", module);
        s->window_start_us = now;
    }
    s->level = level;
    s->last_us = now;
    if (now - s->window_start_us >= site_window_us) {
        tell_suppressed(s, now);
        s->window_start_us = now;
        s->lines = 0;
    }
    if (s->lines < site_burst) {
        s->lines++;
        return 1;
    }
    s->suppressed++;
    snprintf(s->last_message, sizeof s->last_message, "%s", message);
    return 0;
}

void lb_logv(lb_log_level level, const char *module, const char *fmt, va_list ap)
{
    if (level <= LB_LOG_INVALID || level > lb_log_get_level())
        return;
    if (!module)
        module = "luobo";
    char raw[LB_LOG_LINE_MAX], msg[LB_LOG_LINE_MAX];
    /* every line, whoever wrote it (libavformat echoes the URLs it opens),
     * loses its credentials here, before it is cut to size */
    lb_redact_vformat(raw, sizeof raw, fmt, ap);
    size_t len = strlen(raw);
    while (len && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
        raw[--len] = 0;
    /* One call, one line: names, titles and URLs from the network reach
     * the log, and a newline or an ESC in them must not forge a line or
     * drive the operator's terminal. */
    lb_log_escape(raw, len, msg, sizeof msg);
    /* the fold compares level and module too */
    char key[sizeof last_line];
    snprintf(key, sizeof key, "%d %s %s", (int)level, module, msg);

    int64_t now = lb_clock_now();
    pthread_mutex_lock(&sink_lock);
    tell_ended_windows(now, 0);
    if (level <= LB_LOG_WARN && !site_allows(level, module, fmt, msg, now)) {
        pthread_mutex_unlock(&sink_lock);
        return;
    }
    /* a device that fails the same way every second says so once a minute */
    if (!strcmp(key, last_line) && now - last_line_us < 60000000) {
        repeats++;
    } else {
        if (repeats) {
            char note[64];
            snprintf(note, sizeof note, "last message repeated %d times", repeats);
            emit(last_level > LB_LOG_INFO ? last_level : LB_LOG_INFO, "log", note);
        }
        repeats = 0;
        emit(level, module, msg);
        snprintf(last_line, sizeof last_line, "%s", key);
        last_line_us = now;
        last_level = level;
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

void lb_log_set_site_limit(int burst, int window_ms)
{
    pthread_mutex_lock(&sink_lock);
    site_burst = burst > 0 ? burst : LB_LOG_SITE_BURST;
    site_window_us = window_ms > 0 ? (int64_t)window_ms * 1000 : (int64_t)LB_LOG_SITE_WINDOW_S * 1000000;
    pthread_mutex_unlock(&sink_lock);
}

void lb_log_flush(void)
{
    int64_t now = lb_clock_now();
    pthread_mutex_lock(&sink_lock);
    tell_ended_windows(now, 1);
    if (repeats) {
        char note[64];
        snprintf(note, sizeof note, "last message repeated %d times", repeats);
        emit(LB_LOG_INFO, "log", note);
        repeats = 0;
        last_line[0] = 0;
    }
    fflush(stderr);
    pthread_mutex_unlock(&sink_lock);
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
