/* One log sink for the whole daemon.
 *
 * Lines go to stderr as "HH:MM:SS.mmm LEVEL [module:instance] message".
 * When stderr is the systemd journal (JOURNAL_STREAM names stderr's
 * device and inode), the time is left to the journal and each line starts
 * with its priority instead: "<3>" error, "<4>" warning, "<6>" info, "<7>"
 * debug.  A sink set with lb_log_set_sink() (the daemon's journal writer,
 * with fields) takes the lines first; what it refuses goes to stderr.
 *
 * av_log, x264, libsrt, libwebsockets and ALSA are routed here by their
 * modules.  Two folds keep a flapping device from flooding the log:
 *   - an identical line repeated within a minute becomes one "last
 *     message repeated N times" line;
 *   - warnings and errors are limited per site (format string and module):
 *     at most LB_LOG_SITE_BURST lines per LB_LOG_SITE_WINDOW_S, the rest
 *     counted and told in one line when the window is over, e.g.
 *     "audio placed anew (off by 3.2 ms) (1,234 similar suppressed in 10 s)".
 *     The count is told at the next line logged after the window, or by
 *     lb_log_flush().
 * Every line is redacted (lb_redact.h): passwords in URLs and secret
 * parameters never reach the log (nor the journal).  Thread-safe.
 *
 * One call is one line: control characters in the formatted message (C0,
 * DEL, C1, bytes that are not UTF-8) are written as \n, \r, \t or \xNN,
 * so values from outside (user names, titles, URLs) can neither forge a
 * line nor send escape sequences to a terminal.  Trailing newlines are
 * dropped first.  Messages are cut at LB_LOG_LINE_MAX - 1 bytes, never
 * inside an escape or a UTF-8 character. */
#ifndef LB_LOG_H
#define LB_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LB_LOG_LINE_MAX 1024

typedef enum lb_log_level {
    LB_LOG_INVALID = 0,
    LB_LOG_ERROR,
    LB_LOG_WARN,
    LB_LOG_INFO,
    LB_LOG_DEBUG,
} lb_log_level;

#define LB_LOG_SITE_BURST 5
#define LB_LOG_SITE_WINDOW_S 10

void lb_log_set_level(lb_log_level level);
lb_log_level lb_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns LB_LOG_INVALID otherwise. */
lb_log_level lb_log_level_from_name(const char *name);
/* syslog(3) priority of a level: 3, 4, 6, 7. */
int lb_log_priority(lb_log_level level);

void lb_log(lb_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void lb_logv(lb_log_level level, const char *module, const char *fmt, va_list ap);

/* The escaping the sink applies: writes in[0..in_len) to out as text
 * without control characters (see above), NUL-terminated, cut to fit
 * out_size.  Returns the length written. */
size_t lb_log_escape(const char *in, size_t in_len, char *out, size_t out_size);

/* Routes FFmpeg's av_log into lb_log (module "ffmpeg:<class>"). */
void lb_log_route_av(void);

/* 1 when stderr is the journal's stream (checked once, at the first line). */
int lb_log_stderr_is_journal(void);

/* A sink for lines before stderr: called under the log's lock with the
 * level, the module and the message (no time, level or module in it);
 * returns 0 when it took the line, < 0 to let stderr have it.  NULL
 * removes it.  Set before threads start. */
typedef int (*lb_log_sink_fn)(void *opaque, lb_log_level level, const char *module,
                              const char *message);
void lb_log_set_sink(lb_log_sink_fn sink, void *opaque);

/* The lesson being recorded, for sinks that tag lines with it (the
 * journal's LUOBO_LESSON=); NULL or "" when none.  lb_log_lesson() copies
 * it into buf (size bytes) and returns buf. */
void lb_log_set_lesson(const char *id);
const char *lb_log_lesson(char *buf, int size);

/* Changes the per-site limit (tests; 0, 0: the defaults above). */
void lb_log_set_site_limit(int burst, int window_ms);

/* Tells what the per-site limit has suppressed so far (at exit). */
void lb_log_flush(void);

#define LB_LOGE(mod, ...) lb_log(LB_LOG_ERROR, mod, __VA_ARGS__)
#define LB_LOGW(mod, ...) lb_log(LB_LOG_WARN,  mod, __VA_ARGS__)
#define LB_LOGI(mod, ...) lb_log(LB_LOG_INFO,  mod, __VA_ARGS__)
#define LB_LOGD(mod, ...) lb_log(LB_LOG_DEBUG, mod, __VA_ARGS__)

#endif
