/* One log sink for the whole daemon.
 *
 * Lines go to stderr as "HH:MM:SS.mmm LEVEL [module:instance] message".
 * av_log, x264, libsrt, libwebsockets and ALSA are routed here by their
 * modules.  An identical line repeated within a second is folded into a
 * "last message repeated N times" line so that a flapping device cannot
 * flood the log.  Thread-safe. */
#ifndef LB_LOG_H
#define LB_LOG_H

#include <stdarg.h>

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

/* Routes FFmpeg's av_log into lb_log (module "ffmpeg:<class>"). */
void lb_log_route_av(void);

#define LB_LOGE(mod, ...) lb_log(LB_LOG_ERROR, mod, __VA_ARGS__)
#define LB_LOGW(mod, ...) lb_log(LB_LOG_WARN,  mod, __VA_ARGS__)
#define LB_LOGI(mod, ...) lb_log(LB_LOG_INFO,  mod, __VA_ARGS__)
#define LB_LOGD(mod, ...) lb_log(LB_LOG_DEBUG, mod, __VA_ARGS__)

#endif
