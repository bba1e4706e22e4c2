/* fuzz_ical: an iCalendar feed (RFC 5545) as core/lb_ical.c reads it with
 * libical: a school's export or Opencast's capture-agent calendar, fetched
 * from a URL luobo does not control.
 *
 * The input is the feed.  lb_ical_parse() reads it; what it accepts is
 * expanded over two weeks of December 2026 (floating times in
 * Asia/Shanghai) and over Europe's spring-forward night in Europe/Berlin.
 *
 * Oracles beyond the sanitizers (and libFuzzer's timeout, which catches a
 * recurrence rule that keeps libical busy): a refused feed has a message
 * starting "iCalendar:"; every lesson ends after it starts, meets the
 * window, comes sorted, has a "UID@YYYYMMDDTHHMMSSZ" schedule_uid, a title,
 * live set, and metadata that is valid UTF-8. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "lb_schedule.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const dict[] = {
        "BEGIN:VCALENDAR\r\n", "END:VCALENDAR\r\n", "BEGIN:VEVENT\r\n", "END:VEVENT\r\n",
        "BEGIN:VTIMEZONE\r\n", "END:VTIMEZONE\r\n", "BEGIN:STANDARD\r\n", "END:STANDARD\r\n",
        "BEGIN:DAYLIGHT\r\n", "END:DAYLIGHT\r\n", "BEGIN:VALARM\r\n", "END:VALARM\r\n",
        "UID:", "DTSTART", "DTEND", "DURATION:PT45M", "RRULE:", "FREQ=WEEKLY", "FREQ=DAILY",
        "FREQ=YEARLY", "FREQ=MONTHLY", ";BYDAY=MO,WE", ";BYMONTHDAY=-1", ";BYSETPOS=-1",
        ";COUNT=3", ";UNTIL=20270122T160000Z", ";INTERVAL=2", ";BYHOUR=8,10", "EXDATE",
        "RDATE", ";VALUE=DATE:", ";VALUE=PERIOD:", "RECURRENCE-ID", ";TZID=Asia/Shanghai:",
        ";TZID=Europe/Berlin:", "TZID:", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200",
        "20261207T080000", "20261207T080000Z", "20261209", "20260329T023000",
        "SUMMARY:", "DESCRIPTION:", "LOCATION:", "CATEGORIES:", "ORGANIZER;CN=", "STATUS:CANCELLED",
        "X-LUOBO-TEACHER:", "X-LUOBO-GRADE:", "X-LUOBO-CLASS:", "X-LUOBO-TYPE:公开课",
        "X-LUOBO-LIVE:FALSE", "X-LUOBO-RECORD:TRUE", "X-LUOBO-SCHOOL:", "\r\n ", "\\n", "\\,",
    };
    const char *top = fuzz_scratch_dir("ical");
    fuzz_use_words(argc, argv, top, "ical", dict, sizeof dict / sizeof dict[0]);
    return 0;
}

static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 :
                (*p & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0)
            return 0;
        for (int k = 1; k <= n; k++)
            if ((p[k] & 0xc0) != 0x80)
                return 0;
        p += n + 1;
    }
    return 1;
}

static void check_expansion(const lb_ical *cal, const char *tz, int64_t from, int64_t to)
{
    lb_schedule_occurrence *occ = NULL;
    int nb = 0;
    char err[512] = "";
    if (lb_ical_expand(cal, tz, from, to, &occ, &nb, err, sizeof err) < 0) {
        if (!strstr(err, "more than"))
            fuzz_fail("unexpected expansion error: '%s'", err);
        return;
    }
    for (int i = 0; i < nb; i++) {
        const lb_schedule_occurrence *o = &occ[i];
        const lb_lesson_meta *m = &o->meta;
        if (o->end_s <= o->start_s || o->start_s >= to || o->end_s <= from)
            fuzz_fail("lesson %s: %lld-%lld, window %lld-%lld", m->schedule_uid,
                      (long long)o->start_s, (long long)o->end_s, (long long)from, (long long)to);
        const char *at = strrchr(m->schedule_uid, '@');
        if (!at || at == m->schedule_uid || strlen(at) != 17 || at[16] != 'Z' || !m->title[0])
            fuzz_fail("lesson '%s' has schedule_uid '%s'", m->title, m->schedule_uid);
        if (o->origin != LB_SCHEDULE_ICAL || (m->live != LB_LIVE_YES && m->live != LB_LIVE_NO))
            fuzz_fail("lesson %s: origin %d live %d", m->schedule_uid, o->origin, m->live);
        if (!utf8_ok(m->title) || !utf8_ok(m->description) || !utf8_ok(m->teacher) ||
            !utf8_ok(m->hall) || !utf8_ok(m->subject) || !utf8_ok(m->grade) ||
            !utf8_ok(m->class_name) || !utf8_ok(m->school) || !utf8_ok(m->schedule_uid))
            fuzz_fail("lesson %s: metadata that is not UTF-8", m->schedule_uid);
        if (i && occ[i - 1].start_s > o->start_s)
            fuzz_fail("lessons out of order at %d", i);
    }
    free(occ);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_ical *cal = NULL;
    char err[512] = "";

    if (lb_ical_parse(&cal, (const char *)data, size, err, sizeof err) < 0) {
        if (cal || strncmp(err, "iCalendar:", 10))
            fuzz_fail("a refused feed: message '%s'%s", err, cal ? ", and a feed left" : "");
        return 0;
    }
    /* two weeks from Monday 2026-12-07 (Shanghai) */
    check_expansion(cal, "Asia/Shanghai", INT64_C(1796572800), INT64_C(1797782400));
    /* Europe/Berlin springs forward on 2026-03-29 */
    check_expansion(cal, "Europe/Berlin", INT64_C(1774566000), INT64_C(1774911600));
    lb_ical_free(&cal);
    if (cal)
        fuzz_fail("lb_ical_free left the pointer");
    return 0;
}
