/* systemd integration: notifications, the watchdog fed by the program
 * thread's heartbeat, and the journal with fields.  See service.h. */
#include "service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifdef LUOBO_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_thread.h"

static _Atomic int64_t heartbeat_us;    /* lb_clock time of the program thread's last tick */
static atomic_int ready;                /* the program thread is expected to tick */
static int notify_started;              /* READY=1 was sent once */
static int64_t watchdog_us;             /* 0: systemd asked for none */
static const char *stall_file;          /* LUOBO_TEST_STALL_FILE */
static lb_thread watchdog_thread;
static pthread_mutex_t watchdog_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watchdog_cond;
static int watchdog_stop;
static char last_status[256];

static void notify(const char *state)
{
#ifdef LUOBO_HAVE_SYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

#ifdef LUOBO_HAVE_SYSTEMD
/* "capture:teacher" and "capture:mic:teacher" are a camera's and a mic's
 * lines, "iso:teacher" a camera's recording: they name a source. */
static const char *source_of(const char *module, char *kind, size_t kind_size)
{
    const char *colon = strchr(module, ':');
    size_t n = colon ? (size_t)(colon - module) : strlen(module);
    snprintf(kind, kind_size, "%.*s", (int)n, module);
    if (!colon || (strcmp(kind, "capture") && strcmp(kind, "iso")))
        return NULL;
    return colon + 1;
}

/* sd_journal_send() drops lines silently when the journal's socket is
 * missing (journald not running): then the stream takes them. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static int journal_sink(void *opaque, lb_log_level level, const char *module, const char *message)
{
    if (access(JOURNAL_SOCKET, F_OK))
        return -1;
    char msg[700], prio[16], mod[80], src[96], lesson[160], id[128], kind[48];
    struct iovec iov[6];
    int n = 0;
#define FIELD(buf, ...) do { int len_ = snprintf(buf, sizeof buf, __VA_ARGS__); \
        iov[n++] = (struct iovec){ buf, (size_t)(len_ < (int)sizeof buf ? len_ : (int)sizeof buf - 1) }; } while (0)
    FIELD(msg, "MESSAGE=[%s] %s", module, message);
    FIELD(prio, "PRIORITY=%d", lb_log_priority(level));
    const char *source = source_of(module, kind, sizeof kind);
    FIELD(mod, "LUOBO_MODULE=%s", kind);
    if (source)
        FIELD(src, "LUOBO_SOURCE=%s", source);
    if (*lb_log_lesson(id, sizeof id))
        FIELD(lesson, "LUOBO_LESSON=%s", id);
    iov[n++] = (struct iovec){ "SYSLOG_IDENTIFIER=luobo", strlen("SYSLOG_IDENTIFIER=luobo") };
#undef FIELD
    return sd_journal_sendv(iov, n) < 0 ? -1 : 0;
}
#endif

void lb_service_init(void)
{
    stall_file = getenv("LUOBO_TEST_STALL_FILE");
    if (stall_file && !*stall_file)
        stall_file = NULL;
#ifdef LUOBO_HAVE_SYSTEMD
    if (lb_log_stderr_is_journal())
        lb_log_set_sink(journal_sink, NULL);
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
        watchdog_us = (int64_t)usec;
#endif
}

static void *watchdog_loop(void *unused)
{
    int stalled = 0;
    pthread_mutex_lock(&watchdog_lock);
    while (!watchdog_stop) {
        int64_t now = lb_clock_now(), age = now - atomic_load(&heartbeat_us);
        if (age <= watchdog_us / 2 || !atomic_load(&ready) || lb_shutdown_requested()) {
            if (stalled)
                LB_LOGI("service", "the program thread ticks again: the watchdog is fed");
            stalled = 0;
            notify("WATCHDOG=1");
        } else if (!stalled) {
            stalled = 1;
            LB_LOGE("service", "the program thread has not ticked for %.1f s: the watchdog is no "
                    "longer fed, systemd will restart luobo", age / 1e6);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wake_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + watchdog_us / 4 * 1000;
        ts.tv_sec = (time_t)(wake_ns / 1000000000);
        ts.tv_nsec = (long)(wake_ns % 1000000000);
        pthread_cond_timedwait(&watchdog_cond, &watchdog_lock, &ts);
    }
    pthread_mutex_unlock(&watchdog_lock);
    return NULL;
}

void lb_service_ready(void)
{
    /* the program thread has just been started: its first tick is due */
    atomic_store(&heartbeat_us, lb_clock_now());
    atomic_store(&ready, 1);
    notify_started = 1;
    notify("READY=1");
    if (!watchdog_us || watchdog_thread.started)
        return;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&watchdog_cond, &ca);
    pthread_condattr_destroy(&ca);
    LB_LOGI("service", "watchdog: fed every %.1f s while the program thread ticks", watchdog_us / 4e6);
    if (lb_thread_start(&watchdog_thread, "lb-watchdog", watchdog_loop, NULL) < 0)
        LB_LOGE("service", "cannot start the watchdog thread: systemd will restart luobo");
}

void lb_service_heartbeat(void)
{
    while (stall_file && !access(stall_file, F_OK))
        lb_clock_sleep_until(lb_clock_now() + 50000);
    atomic_store(&heartbeat_us, lb_clock_now());
}

static void format_duration(char *buf, size_t size, double s)
{
    long long t = (long long)(s > 0 ? s : 0);
    snprintf(buf, size, "%02lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
}

void lb_service_status(const cJSON *status)
{
    if (!status)
        return;
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(status, "recording");
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(status, "sources");
    int total = 0, live = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, sources) {
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(s, "state");
        total++;
        live += cJSON_IsString(state) && !strcmp(state->valuestring, "live");
    }
    char cameras[64];
    if (live == total)
        snprintf(cameras, sizeof cameras, "%d camera%s live", live, live == 1 ? "" : "s");
    else
        snprintf(cameras, sizeof cameras, "%d of %d cameras live", live, total);
    char line[sizeof last_status];
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(rec, "title");
    const cJSON *elapsed = cJSON_GetObjectItemCaseSensitive(rec, "elapsed_s");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "active"))) {
        char t[32];
        format_duration(t, sizeof t, cJSON_IsNumber(elapsed) ? elapsed->valuedouble : 0);
        snprintf(line, sizeof line, "recording '%s' %s%s%s", cJSON_IsString(title) ? title->valuestring : "",
                 t, live == total ? "" : ", ", live == total ? "" : cameras);
    } else {
        snprintf(line, sizeof line, "idle, %s", cameras);
    }
    /* the title is the teacher's text: a newline in it would start a
     * notify assignment of its own (WATCHDOG=trigger kills us) */
    for (unsigned char *ch = (unsigned char *)line; *ch; ch++)
        if (*ch < 0x20 || *ch == 0x7f)
            *ch = ' ';
    if (!strcmp(line, last_status))
        return;
    snprintf(last_status, sizeof last_status, "%s", line);
    char msg[sizeof line + 8];
    snprintf(msg, sizeof msg, "STATUS=%s", line);
    notify(msg);
}

void lb_service_reloading(void)
{
    /* the pipeline restarts with the new configuration: no ticks until
     * the next READY */
    atomic_store(&ready, 0);
    notify("RELOADING=1\nSTATUS=reloading: restarting the pipeline with the new configuration");
}

void lb_service_stopping(void)
{
    if (notify_started)
        notify("STOPPING=1\nSTATUS=stopping: finishing the lesson and the outputs");
}

void lb_service_uninit(void)
{
    if (watchdog_thread.started) {
        pthread_mutex_lock(&watchdog_lock);
        watchdog_stop = 1;
        pthread_cond_signal(&watchdog_cond);
        pthread_mutex_unlock(&watchdog_lock);
        lb_thread_join(&watchdog_thread);
    }
}
