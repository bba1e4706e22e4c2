#include "check.h"
#include "lb_clock.h"

#include <stdlib.h>
#include <unistd.h>

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

    /* the latency trace: a clock line (lb_clock, wall) first, then a line
     * per call, each readable at once */
    char path[] = "/tmp/luobo-test-trace-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    setenv("LUOBO_LATENCY_TRACE", path, 1);
    int64_t before = lb_clock_now();
    CHECK(lb_clock_trace_on());
    lb_clock_trace("tick", 33333, 7);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    long long mono = 0, wall = 0, pts = 0, at = 0, extra = 0;
    char stage[16] = "";
    CHECK(f && fscanf(f, "clock %lld %lld\n", &mono, &wall) == 2);
    CHECK(mono >= before && wall > 1600000000LL * 1000000);
    CHECK(f && fscanf(f, "%15s %lld %lld %lld\n", stage, &pts, &at, &extra) == 4);
    CHECK(!strcmp(stage, "tick") && pts == 33333 && at >= mono && extra == 7);
    if (f)
        fclose(f);
    unlink(path);
    return CHECK_DONE();
}
