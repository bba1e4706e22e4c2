/* One log sink for the whole daemon.
 *
 * Lines go to stderr as "HH:MM:SS.mmm LEVEL [module:instance] message".
 * av_log, x264, libsrt, libwebsockets and ALSA are routed here by their
 * modules.  An identical line repeated within a minute is folded into a
 * "last message repeated N times" line (written when a different line
 * comes) so that a flapping device cannot flood the log.  Thread-safe.
 *
 * One call is one line: control characters in the formatted message (C0,
 * DEL, C1, bytes that are not UTF-8) are written as \n, \r, \t or \xNN,
 * so values from outside (user names, titles, URLs) can neither forge a
 * line nor send escape sequences to a terminal.  Trailing newlines are
 * dropped first.  Lines are cut at LB_LOG_LINE_MAX - 1 bytes, never inside
 * an escape or a UTF-8 character. */
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

void lb_log_set_level(lb_log_level level);
lb_log_level lb_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns LB_LOG_INVALID otherwise. */
lb_log_level lb_log_level_from_name(const char *name);

void lb_log(lb_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void lb_logv(lb_log_level level, const char *module, const char *fmt, va_list ap);

/* The escaping the sink applies: writes in[0..in_len) to out as text
 * without control characters (see above), NUL-terminated, cut to fit
 * out_size.  Returns the length written. */
size_t lb_log_escape(const char *in, size_t in_len, char *out, size_t out_size);

/* Routes FFmpeg's av_log into lb_log (module "ffmpeg:<class>"). */
void lb_log_route_av(void);

#define LB_LOGE(mod, ...) lb_log(LB_LOG_ERROR, mod, __VA_ARGS__)
#define LB_LOGW(mod, ...) lb_log(LB_LOG_WARN,  mod, __VA_ARGS__)
#define LB_LOGI(mod, ...) lb_log(LB_LOG_INFO,  mod, __VA_ARGS__)
#define LB_LOGD(mod, ...) lb_log(LB_LOG_DEBUG, mod, __VA_ARGS__)

#endif
