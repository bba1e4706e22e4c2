/* SIGTERM reaches lb_shutdown_wait through the signal thread, and a
 * worker thread sees lb_shutdown_requested(). */
#include <signal.h>
#include <unistd.h>

#include "check.h"
#include "lb_clock.h"
#include "lb_thread.h"

static int hook_calls;

static void hook(void *opaque)
{
    hook_calls++;
}

static void *worker(void *arg)
{
    while (!lb_shutdown_requested())
        lb_clock_sleep_until(lb_clock_now() + 1000);
    return NULL;
}

int main(void)
{
    CHECK(lb_shutdown_init() == 0);
    lb_shutdown_set_hook(hook, NULL);
    lb_thread t;
    CHECK(lb_thread_start(&t, "worker", worker, NULL) == 0);
    CHECK(lb_shutdown_wait(10000) == 0);    /* nothing asked yet */
    kill(getpid(), SIGTERM);
    CHECK(lb_shutdown_wait(-1) == 1);
    lb_thread_join(&t);
    CHECK(hook_calls == 1);
    lb_shutdown_request("again");           /* later requests do not re-run the hook */
    CHECK(hook_calls == 1);
    lb_shutdown_uninit();
    return CHECK_DONE();
}
