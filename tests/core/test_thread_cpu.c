/* The CPU table a run prints at stop: a thread's time is counted under its
 * name while it runs and after it ended, and a library thread started under
 * a temporary name (as x264's workers are) carries that name. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "lb_thread.h"

static int64_t own_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static atomic_int stop_lib;

static void *spin(void *arg)
{
    volatile unsigned x = 0;
    while (own_cpu_us() < 60000)
        x++;
    return NULL;
}

/* spins, then stays alive until told: it must be seen while it lives */
static void *lib_worker(void *arg)
{
    spin(arg);
    while (!atomic_load(&stop_lib)) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static const lb_thread_cpu *find(const lb_thread_cpu *t, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return &t[i];
    return NULL;
}

int main(void)
{
    lb_thread a;
    CHECK(lb_thread_start(&a, "spin-ended", spin, NULL) == 0);
    lb_thread_join(&a);

    /* a thread the "library" starts while this one wears a borrowed name */
    char saved[16];
    lb_thread_rename_self("x264:test", saved);
    pthread_t lib;
    CHECK(pthread_create(&lib, NULL, lib_worker, NULL) == 0);
    lb_thread_restore_name(saved);
    char now[16];
    pthread_getname_np(pthread_self(), now, sizeof now);
    CHECK(!strcmp(now, saved));

    lb_thread_cpu table[32];
    /* wait for the library thread's work without joining it: it is counted live */
    for (;;) {
        int n = lb_thread_cpu_by_name(table, 32);
        CHECK(n > 0);
        const lb_thread_cpu *l = find(table, n, "x264:test");
        CHECK(l != NULL);
        if (!l || l->cpu_us >= 50000)
            break;
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
    int n = lb_thread_cpu_by_name(table, 32);
    const lb_thread_cpu *e = find(table, n, "spin-ended");
    CHECK(e && e->threads == 1 && e->cpu_us >= 60000);
    for (int i = 1; i < n; i++)
        CHECK(table[i - 1].cpu_us >= table[i].cpu_us);     /* most first */
    atomic_store(&stop_lib, 1);
    pthread_join(lib, NULL);
    return CHECK_DONE();
}
