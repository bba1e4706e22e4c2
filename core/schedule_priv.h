/* What lb_schedule.c (the timetable, the merge) and lb_ical.c share inside
 * core/: civil dates, time zones through libical, the error helper. */
#ifndef LB_SCHEDULE_PRIV_H
#define LB_SCHEDULE_PRIV_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <libical/ical.h>

#include "lb_schedule.h"

#define SCHED_MAX_WINDOW_S (62 * 86400)
/* expansion refuses windows outside [1970, 2500): libical's recurrence
 * engine stops at 2582 and nothing here needs more */
#define SCHED_MAX_TIME_S INT64_C(16725225600)
/* occurrences one expansion may return (a lb_lesson_meta is 4.5 kB) */
#define SCHED_MAX_OCCURRENCES 2048

/* days since 1970-01-01 of a proleptic Gregorian date, and back */
int64_t sched_days_from_civil(int y, int m, int d);
void sched_civil_from_days(int64_t days, int *y, int *m, int *d);
/* ISO weekday (1 = Monday ... 7 = Sunday) of a day number */
int sched_weekday(int64_t days);
int64_t sched_floor_div(int64_t a, int64_t b);

/* libical keeps global state (its builtin zones, a component's iterators):
 * every call into it from core/ holds this lock. */
void sched_ical_lock(void);
void sched_ical_unlock(void);

/* A zone: NULL is the system's (libc's localtime_r, which reads TZ or
 * /etc/localtime once); else a libical zone.  name NULL or "": the
 * system's.  Call locked.  Returns 0 or -1 with err set. */
int sched_zone_find(const char *name, icaltimezone **zone, char *err, size_t err_size);
/* Whether name can be a zone name at all (libical opens the file of that
 * name under /usr/share/zoneinfo: no "..", no absolute path). */
int sched_zone_name_ok(const char *name);
/* The UTC offset (seconds east) in effect at utc_s.  Call locked. */
int sched_zone_offset(icaltimezone *zone, int64_t utc_s);
/* A wall time (seconds since 1970 as if the wall clock were UTC) to UTC,
 * RFC 5545 3.3.5's way: a wall time that occurs twice (clocks going back)
 * is the first occurrence; one that does not occur (clocks going forward)
 * is read with the offset in effect before the gap, so 02:30 on the
 * morning Europe/Berlin springs forward is 03:30 CEST.  Call locked. */
int64_t sched_zone_to_utc(icaltimezone *zone, int64_t wall_s);

/* snprintf into err, returns AVERROR(EINVAL) */
int sched_fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 1 if s[0..len) is valid UTF-8 without overlong forms or surrogates */
int sched_utf8_ok(const char *s, size_t len);
/* copies at most dst_size - 1 bytes of src, never cutting a UTF-8 sequence */
void sched_copy_utf8(char *dst, size_t dst_size, const char *src);

int sched_occurrence_cmp(const void *a, const void *b);
/* 0 if [from_s, to_s) is a window expansion accepts (not empty, within
 * [1970, 2500), at most SCHED_MAX_WINDOW_S), else sched_fail's error */
int sched_check_window(int64_t from_s, int64_t to_s, char *err, size_t err_size);

#endif
