/* The schedule: what the hall records, and when.
 *
 * Two sources of lessons, one shape.  The school's timetable (课表: periods
 * x weekdays within a term, holidays, make-up days 调休, one-off dates) is a
 * JSON document kept in the data folder (DATA_DIR/timetable.json) and
 * edited through the API; an iCalendar feed (RFC 5545, a file or an
 * http(s) URL the daemon polls) is parsed with libical.  Both expand into
 * occurrences: one lesson each, with absolute start and end times and the
 * metadata the lesson is filed under.  docs/schedule.md documents the
 * timetable's format and the iCal mapping (DESIGN.md's ★ Schedule).
 *
 * Pure: no clock, no network, no files (the daemon reads, fetches, stores
 * and polls; daemon/scheduler.c drives the lesson lifecycle from the
 * occurrences).  Every document is hostile until parsed: sizes are bounded
 * and an error names the entry (or the iCal line/UID) at fault.  Thread
 * safety: a parsed lb_timetable or lb_ical is immutable; expand it from
 * any thread. */
#ifndef LB_SCHEDULE_H
#define LB_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "lb_meta.h"

#define LB_SCHEDULE_MAX_BYTES (4 << 20)     /* a timetable or a feed larger than this is refused */

typedef enum lb_schedule_origin {
    LB_SCHEDULE_TIMETABLE = 1,
    LB_SCHEDULE_ICAL,
} lb_schedule_origin;

/* One lesson the schedule asks for. */
typedef struct lb_schedule_occurrence {
    int64_t start_s, end_s;         /* Unix time (UTC seconds); end_s > start_s */
    lb_schedule_origin origin;
    int record;                     /* 0: shown, not recorded (record = false) */
    /* metadata with the title template expanded, live set (LB_LIVE_YES or
     * LB_LIVE_NO) and schedule_uid unique per occurrence: a timetable
     * entry's id and the date ("e12@2026-12-07"), an iCal event's UID and
     * its RECURRENCE-ID or start ("uid@20261207T080000Z") */
    lb_lesson_meta meta;
} lb_schedule_occurrence;

/* ---- the timetable (课表) ---- */

typedef struct lb_timetable lb_timetable;

/* Parses and validates a timetable document (size bytes, not necessarily
 * NUL-terminated).  An error names the entry and the problem:
 *   "entries[3] (数学 Mon 第1节): overlaps entries[1] (语文 Mon 第1节)"
 *   "periods[2] (第3节): end 09:40 is before start 09:55"
 *   "entries[0]: unknown lesson_type 'exam' (ordinary, open, quality, demonstration)"
 * Returns 0 or a negative AVERROR with err set. */
int lb_timetable_parse(lb_timetable **tt, const char *text, size_t size, char *err, size_t err_size);
/* The timetable as a canonical JSON document (what GET returns, what is
 * stored and exported); parse(to_json(tt)) equals tt.  malloc'd. */
char *lb_timetable_to_json(const lb_timetable *tt);
/* The timetable's own time zone, or NULL (the caller's default). */
const char *lb_timetable_timezone(const lb_timetable *tt);
void lb_timetable_free(lb_timetable **tt);

/* ---- iCalendar ---- */

typedef struct lb_ical lb_ical;

/* Parses a feed with libical.  An error names the line or the event's UID.
 * All-day events (DTSTART;VALUE=DATE) are skipped, not errors. */
int lb_ical_parse(lb_ical **cal, const char *text, size_t size, char *err, size_t err_size);
void lb_ical_free(lb_ical **cal);

/* ---- occurrences ---- */

/* Occurrences overlapping [from_s, to_s), sorted by start.  tz is an IANA
 * zone name ("Asia/Shanghai") in which the timetable's wall times are read
 * (NULL or "": the system's; the timetable's own "timezone", when it has
 * one, wins over tz); an iCal event carries its own TZID, and a floating
 * time is read in tz.  A wall time that happens twice (clocks going back)
 * is the first one; one that does not happen (clocks going forward) is
 * read with the offset before the gap (RFC 5545 3.3.5).  *occ is malloc'd
 * (free() it), *nb its length.  A window longer than 62 days, outside the
 * years 1970-2499, or with more than 2048 lessons is refused. */
int lb_timetable_expand(const lb_timetable *tt, const char *tz, int64_t from_s, int64_t to_s,
                        lb_schedule_occurrence **occ, int *nb, char *err, size_t err_size);
int lb_ical_expand(const lb_ical *cal, const char *tz, int64_t from_s, int64_t to_s,
                   lb_schedule_occurrence **occ, int *nb, char *err, size_t err_size);

/* Merges the two sorted lists into one sorted list (*out malloc'd).  Where
 * two overlap, the earlier start wins and the later one is dropped, and
 * the conflict is described in conflict (both names and times) so the
 * daemon can show it; conflict is "" when there was none. */
int lb_schedule_merge(const lb_schedule_occurrence *a, int nb_a,
                      const lb_schedule_occurrence *b, int nb_b,
                      lb_schedule_occurrence **out, int *nb_out,
                      char *conflict, size_t conflict_size);

/* The first second of the next day in tz (an IANA name; NULL or "": the
 * system's) after now_s: the end of "today" where the hall is, whatever
 * the process's TZ says.  A day that begins in a daylight-saving gap
 * begins at the first wall time that exists.  0, or AVERROR(EINVAL) with
 * err naming an unknown zone. */
int lb_schedule_next_midnight(const char *tz, int64_t now_s, int64_t *midnight_s, char *err,
                              size_t err_size);

#endif
