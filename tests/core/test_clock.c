#include "check.h"
#include "lb_clock.h"

int main(void)
{
    int64_t a = lb_clock_now();
    int64_t prev = a;
    for (int i = 0; i < 100000; i++) {      /* monotonic, never backwards */
        int64_t t = lb_clock_now();
        CHECK(t >= prev);
        prev = t;
    }
    lb_clock_sleep_until(lb_clock_now() + 20000);
    int64_t b = lb_clock_now();
    CHECK(b - a >= 20000);                  /* slept at least as asked */
    /* microseconds: CLOCK_MONOTONIC in ns / 1000 fits and is positive */
    CHECK(a > 0);
    char buf[64];
    lb_clock_iso8601(0, buf, sizeof buf);
    CHECK(strlen(buf) == 25);               /* YYYY-MM-DDTHH:MM:SS+HH:MM */
    CHECK(buf[4] == '-' && buf[10] == 'T' && buf[22] == ':');
    return CHECK_DONE();
}
