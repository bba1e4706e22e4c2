/* The one clock of luobo.
 *
 * Every frame, audio block and packet is stamped on CLOCK_MONOTONIC in
 * microseconds when it is captured.  Wall-clock time is used only for file
 * names, lesson.json and HLS PROGRAM-DATE-TIME. */
#ifndef LB_CLOCK_H
#define LB_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC, microseconds. Thread-safe. */
int64_t lb_clock_now(void);

/* Sleep until lb_clock_now() >= deadline_us (absolute, restarts on EINTR). */
void lb_clock_sleep_until(int64_t deadline_us);

/* Wall clock (CLOCK_REALTIME) in microseconds since the Unix epoch. */
int64_t lb_clock_wall_us(void);

/* Formats wall time as ISO 8601 with the local offset, e.g.
 * "2026-11-28T23:47:21+00:00". Returns buf. */
char *lb_clock_iso8601(int64_t wall_us, char *buf, int size);

/* Seconds since the Unix epoch of an ISO 8601 time with seconds and a zone
 * ("2026-12-05T08:45:00+08:00", "+0800", "Z"; fractions ignored); without a
 * zone the time is local.  -1 when it is not one (also text after the
 * zone, or an offset past 23:59). */
int64_t lb_clock_parse_iso8601(const char *s);

/* The live path's latency trace, for bench/lat_stages.py: with the
 * environment variable LUOBO_LATENCY_TRACE=FILE set, each call writes
 * "stage pts_us lb_clock_now() extra" as a line to FILE (its first line:
 * "clock" lb_clock_now() lb_clock_wall_us(), to map onto the wall clock);
 * without it a call costs a load.  Stages and what pts and extra are:
 * streamer/README.md "SRT and its latency".  Any thread. */
int lb_clock_trace_on(void);
void lb_clock_trace(const char *stage, int64_t pts_us, int64_t extra);

#endif
