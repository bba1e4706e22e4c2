#include "lb_thread.h"
#include "lb_clock.h"
#include "lb_log.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/error.h>

typedef struct start_ctx {
    void *(*fn)(void *);
    void *arg;
    char name[16];
} start_ctx;

/* CPU of luobo's threads that have ended, so that a summary at the end of
 * a run still counts a thread that finished its work early. */
static pthread_mutex_t ended_lock = PTHREAD_MUTEX_INITIALIZER;
static lb_thread_cpu ended[64];
static int nb_ended;

static void add_cpu(lb_thread_cpu *table, int *n, int max, const char *name, int threads,
                    int64_t cpu_us)
{
    int i = 0;
    while (i < *n && strcmp(table[i].name, name))
        i++;
    if (i == *n) {
        if (*n == max)
            return;
        table[(*n)++] = (lb_thread_cpu){ .cpu_us = 0 };
        snprintf(table[i].name, sizeof table[i].name, "%s", name);
    }
    table[i].threads += threads;
    table[i].cpu_us += cpu_us;
}

static void *trampoline(void *opaque)
{
    start_ctx ctx = *(start_ctx *)opaque;
    free(opaque);
    pthread_setname_np(pthread_self(), ctx.name);
    void *ret = ctx.fn(ctx.arg);
    struct timespec ts;
    if (!clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)) {
        pthread_mutex_lock(&ended_lock);
        add_cpu(ended, &nb_ended, 64, ctx.name, 1, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
        pthread_mutex_unlock(&ended_lock);
    }
    return ret;
}

int lb_thread_start(lb_thread *t, const char *name, void *(*fn)(void *), void *arg)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    start_ctx *ctx = malloc(sizeof *ctx);
    if (!ctx)
        return AVERROR(ENOMEM);
    ctx->fn = fn;
    ctx->arg = arg;
    memcpy(ctx->name, t->name, sizeof ctx->name);
    int rc = pthread_create(&t->tid, NULL, trampoline, ctx);
    if (rc) {
        free(ctx);
        LB_LOGE("thread", "cannot start %s: %s", name, strerror(rc));
        return AVERROR(rc);
    }
    t->started = 1;
    return 0;
}

void lb_thread_join(lb_thread *t)
{
    if (!t || !t->started)
        return;
    pthread_join(t->tid, NULL);
    t->started = 0;
}

int lb_thread_join_timeout(lb_thread *t, int64_t timeout_us)
{
    struct timespec deadline;
    if (!t || !t->started)
        return 0;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_us / 1000000;
    deadline.tv_nsec += (timeout_us % 1000000) * 1000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    int rc = pthread_timedjoin_np(t->tid, NULL, &deadline);
    if (rc)
        return AVERROR(rc);
    t->started = 0;
    return 0;
}

int64_t lb_thread_cpu_us(const lb_thread *t)
{
    clockid_t cid;
    struct timespec ts;
    if (!t->started || pthread_getcpuclockid(t->tid, &cid) || clock_gettime(cid, &ts))
        return -1;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reads utime + stime of one task from /proc/self/task/<tid>/stat; the
 * name is in parentheses and may itself contain spaces or parentheses. */
static int read_task(const char *tid, char name[16], int64_t *cpu_us)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    char *open = strchr(line, '('), *close = strrchr(line, ')');
    if (!open || !close || close < open)
        return -1;
    snprintf(name, 16, "%.*s", (int)(close - open - 1), open + 1);
    unsigned long long utime, stime;
    /* after the name: state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &utime, &stime) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    *cpu_us = (int64_t)(utime + stime) * 1000000 / (hz > 0 ? hz : 100);
    return 0;
}

static int by_cpu_desc(const void *a, const void *b)
{
    const lb_thread_cpu *x = a, *y = b;
    return (y->cpu_us > x->cpu_us) - (y->cpu_us < x->cpu_us);
}

int lb_thread_cpu_by_name(lb_thread_cpu *out, int max)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return AVERROR(errno);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char name[16];
        int64_t cpu;
        if (e->d_name[0] != '.' && !read_task(e->d_name, name, &cpu))
            add_cpu(out, &n, max, name, 1, cpu);
    }
    closedir(d);
    pthread_mutex_lock(&ended_lock);
    for (int i = 0; i < nb_ended; i++)
        add_cpu(out, &n, max, ended[i].name, ended[i].threads, ended[i].cpu_us);
    pthread_mutex_unlock(&ended_lock);
    qsort(out, (size_t)n, sizeof *out, by_cpu_desc);
    return n;
}

void lb_thread_rename_self(const char *name, char saved[16])
{
    if (pthread_getname_np(pthread_self(), saved, 16))
        saved[0] = 0;
    char buf[16];
    snprintf(buf, sizeof buf, "%s", name);
    pthread_setname_np(pthread_self(), buf);
}

void lb_thread_restore_name(const char saved[16])
{
    if (saved[0])
        pthread_setname_np(pthread_self(), saved);
}

static pthread_mutex_t shutdown_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t shutdown_cond;
static atomic_int shutdown_flag;
static void (*shutdown_hook)(void *);
static void *shutdown_hook_opaque;
static void (*reload_hook)(void *);
static void *reload_hook_opaque;
static lb_thread signal_thread;
static sigset_t signal_set;
static int initialised;
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

static void init_cond(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&shutdown_cond, &ca);
    pthread_condattr_destroy(&ca);
}

static void *signal_loop(void *unused)
{
    for (int count = 0;;) {
        int sig;
        if (sigwait(&signal_set, &sig))
            continue;
        if (sig == SIGUSR2)                 /* lb_shutdown_uninit's wake-up */
            return NULL;
        if (sig == SIGHUP) {
            pthread_mutex_lock(&shutdown_lock);
            void (*hook)(void *) = reload_hook;
            void *opaque = reload_hook_opaque;
            pthread_mutex_unlock(&shutdown_lock);
            if (hook)
                hook(opaque);
            else
                LB_LOGW("luobo", "SIGHUP ignored: nothing to reload");
            continue;
        }
        if (++count > 1) {
            LB_LOGE("luobo", "second %s: exiting without finishing", strsignal(sig));
            _exit(1);
        }
        char why[64];
        snprintf(why, sizeof why, "received %s", strsignal(sig));
        lb_shutdown_request(why);
    }
}

int lb_shutdown_init(void)
{
    if (initialised)
        return 0;
    pthread_once(&cond_once, init_cond);
    sigemptyset(&signal_set);
    sigaddset(&signal_set, SIGINT);
    sigaddset(&signal_set, SIGTERM);
    sigaddset(&signal_set, SIGHUP);
    sigaddset(&signal_set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &signal_set, NULL);
    signal(SIGPIPE, SIG_IGN);     /* a closed socket is an error code, not a death */
    int ret = lb_thread_start(&signal_thread, "lb-signals", signal_loop, NULL);
    if (ret < 0)
        return ret;
    initialised = 1;
    return 0;
}

void lb_shutdown_uninit(void)
{
    if (!initialised)
        return;
    pthread_kill(signal_thread.tid, SIGUSR2);
    lb_thread_join(&signal_thread);
    initialised = 0;
}

void lb_shutdown_set_hook(void (*hook)(void *), void *opaque)
{
    pthread_mutex_lock(&shutdown_lock);
    shutdown_hook = hook;
    shutdown_hook_opaque = opaque;
    pthread_mutex_unlock(&shutdown_lock);
}

void lb_reload_set_hook(void (*hook)(void *), void *opaque)
{
    pthread_mutex_lock(&shutdown_lock);
    reload_hook = hook;
    reload_hook_opaque = opaque;
    pthread_mutex_unlock(&shutdown_lock);
}

void lb_shutdown_request(const char *reason)
{
    pthread_once(&cond_once, init_cond);
    pthread_mutex_lock(&shutdown_lock);
    int first = !atomic_exchange(&shutdown_flag, 1);
    void (*hook)(void *) = shutdown_hook;
    void *opaque = shutdown_hook_opaque;
    pthread_cond_broadcast(&shutdown_cond);
    pthread_mutex_unlock(&shutdown_lock);
    if (first) {
        LB_LOGI("luobo", "shutting down: %s", reason ? reason : "requested");
        if (hook)
            hook(opaque);
    }
}

int lb_shutdown_requested(void)
{
    return atomic_load(&shutdown_flag);
}

int lb_shutdown_wait(int64_t timeout_us)
{
    int64_t deadline = lb_clock_now() + timeout_us;
    struct timespec ts = { deadline / 1000000, (deadline % 1000000) * 1000 };
    pthread_once(&cond_once, init_cond);
    pthread_mutex_lock(&shutdown_lock);
    while (!atomic_load(&shutdown_flag)) {
        if (timeout_us < 0)
            pthread_cond_wait(&shutdown_cond, &shutdown_lock);
        else if (pthread_cond_timedwait(&shutdown_cond, &shutdown_lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&shutdown_lock);
    return atomic_load(&shutdown_flag);
}
