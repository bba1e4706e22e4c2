/* Named threads and the process-wide shutdown.
 *
 * lb_shutdown_init() must run in main() before any thread starts: it blocks
 * SIGINT and SIGTERM in the calling thread, so every thread inherits the
 * mask, and a dedicated "lb-signals" thread takes them with sigwait().  The
 * first signal requests a clean shutdown (recordings are finalised); a
 * second one exits at once with status 1.  SIGHUP (systemctl reload) calls
 * the reload hook on the lb-signals thread, or is ignored without one. */
#ifndef LB_THREAD_H
#define LB_THREAD_H

#include <pthread.h>
#include <stdint.h>

typedef struct lb_thread {
    pthread_t tid;
    int started;
    char name[16];          /* as shown by top -H and gdb (15 chars max) */
} lb_thread;

/* Starts fn(arg) in a thread named name.  Returns 0 or a negative AVERROR. */
int lb_thread_start(lb_thread *t, const char *name, void *(*fn)(void *), void *arg);
/* Joins if started; idempotent. */
void lb_thread_join(lb_thread *t);
/* Joins if started and the thread ends within timeout_us; returns 0, or
 * AVERROR(ETIMEDOUT) and leaves t started (the thread runs on). */
int lb_thread_join_timeout(lb_thread *t, int64_t timeout_us);
/* CPU time consumed so far by a started thread, microseconds (-1 if unknown). */
int64_t lb_thread_cpu_us(const lb_thread *t);

/* CPU time of the process's threads summed per thread name (live ones from
 * /proc/self/task, ended lb_threads from their exit), so that a run can say where its time went, including
 * threads luobo did not start itself (libx264's, libsrt's).  Fills up to max
 * entries, most CPU first; returns how many, or a negative AVERROR. */
typedef struct lb_thread_cpu {
    char name[16];
    int threads;
    int64_t cpu_us;
} lb_thread_cpu;
int lb_thread_cpu_by_name(lb_thread_cpu *out, int max);

/* Renames the calling thread for the duration of a call into a library that
 * starts threads of its own (they inherit the name): returns the old name
 * in saved (16 bytes) for lb_thread_restore_name(). */
void lb_thread_rename_self(const char *name, char saved[16]);
void lb_thread_restore_name(const char saved[16]);

int lb_shutdown_init(void);
/* Stops the signal thread (for tests and the end of main). */
void lb_shutdown_uninit(void);
/* Any thread may ask; the first reason is kept and logged. */
void lb_shutdown_request(const char *reason);
int lb_shutdown_requested(void);
/* Waits up to timeout_us (< 0: for ever) for a request; returns 1 if one came. */
int lb_shutdown_wait(int64_t timeout_us);
/* Called (once, from the requesting thread) when shutdown is requested, so
 * that loops blocked elsewhere (an event loop, a queue) can be woken. */
void lb_shutdown_set_hook(void (*hook)(void *opaque), void *opaque);
/* Called on the lb-signals thread at each SIGHUP; NULL: SIGHUP is ignored. */
void lb_reload_set_hook(void (*hook)(void *opaque), void *opaque);

#endif
