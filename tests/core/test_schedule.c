/* core_schedule: the timetable (课表) and the iCalendar feeds of
 * core/lb_schedule.h.  Expected occurrences are written out by hand (UTC
 * from timegm() of the wall time minus the zone's offset as the test
 * states it), never computed by the code under test. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "lb_schedule.h"

#ifndef SCHEDULE_DIR
#error "SCHEDULE_DIR: the folder of the test's documents"
#endif

static char *slurp(const char *name, size_t *size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", SCHEDULE_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (!s || fread(s, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    s[n] = 0;
    fclose(f);
    *size = (size_t)n;
    return s;
}

/* a wall time at a fixed UTC offset (hours east) as Unix time */
static int64_t at(int y, int mo, int d, int h, int mi, int s, int offset_h)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = s };
    return (int64_t)timegm(&tm) - offset_h * 3600;
}

static lb_timetable *parse_ok(const char *text)
{
    lb_timetable *tt = NULL;
    char err[512] = "";
    int ret = lb_timetable_parse(&tt, text, strlen(text), err, sizeof err);
    if (ret < 0)
        fprintf(stderr, "unexpected error: %s\n", err);
    CHECK(ret == 0 && tt);
    return tt;
}

/* the document must fail with a message containing each of the needles */
static void parse_fails(const char *text, const char *needle1, const char *needle2)
{
    lb_timetable *tt = NULL;
    char err[512] = "";
    int ret = lb_timetable_parse(&tt, text, strlen(text), err, sizeof err);
    CHECK(ret < 0 && !tt);
    if (ret >= 0) {
        fprintf(stderr, "accepted: %s\n", text);
        lb_timetable_free(&tt);
        return;
    }
    CHECK_STR_CONTAINS(err, needle1);
    if (needle2)
        CHECK_STR_CONTAINS(err, needle2);
}

typedef struct expect {
    const char *uid, *title;
    int64_t start_s, end_s;
    int record;
    lb_live live;
    lb_lesson_type type;
} expect;

static void check_occurrences(const lb_schedule_occurrence *occ, int nb, const expect *want,
                              int nb_want)
{
    CHECK(nb == nb_want);
    for (int i = 0; i < nb && i < nb_want; i++) {
        const lb_schedule_occurrence *o = &occ[i];
        const expect *w = &want[i];
        if (strcmp(o->meta.schedule_uid, w->uid) || o->start_s != w->start_s ||
            o->end_s != w->end_s || (w->title && strcmp(o->meta.title, w->title)) ||
            o->record != w->record || o->meta.live != w->live ||
            (w->type && o->meta.lesson_type != w->type)) {
            fprintf(stderr, "occurrence %d: got %s '%s' %lld-%lld record %d live %d type %d; "
                    "want %s '%s' %lld-%lld record %d live %d type %d\n", i,
                    o->meta.schedule_uid, o->meta.title, (long long)o->start_s,
                    (long long)o->end_s, o->record, o->meta.live, o->meta.lesson_type, w->uid,
                    w->title ? w->title : "", (long long)w->start_s, (long long)w->end_s,
                    w->record, w->live, w->type);
            check_failures++;
        }
    }
}

static void test_timetable_week(void)
{
    size_t size;
    char *text = slurp("timetable.json", &size), err[512] = "";
    lb_timetable *tt = NULL;
    lb_schedule_occurrence *occ = NULL;
    int nb = 0;

    CHECK(lb_timetable_parse(&tt, text, size, err, sizeof err) == 0);
    if (!tt) {
        fprintf(stderr, "timetable.json: %s\n", err);
        free(text);
        return;
    }
    CHECK(lb_timetable_timezone(tt) && !strcmp(lb_timetable_timezone(tt), "Asia/Shanghai"));

    /* the week of Monday 2026-12-07 in Shanghai (UTC+8): Wednesday is a
     * holiday (校运会), Saturday a make-up day running Friday's timetable,
     * Tuesday has a one-off lesson; the timetable's zone wins over tz */
    int64_t from = at(2026, 12, 7, 0, 0, 0, 8), to = at(2026, 12, 14, 0, 0, 0, 8);
    CHECK(lb_timetable_expand(tt, "Europe/Berlin", from, to, &occ, &nb, err, sizeof err) == 0);
    const expect week[] = {
        { "math-7-3@2026-12-07", "七年级3班 数学", at(2026, 12, 7, 8, 0, 0, 8),
          at(2026, 12, 7, 8, 45, 0, 8), 1, LB_LIVE_NO, LB_LESSON_TYPE_ORDINARY },
        { "chinese-7-3@2026-12-07", "七年级3班 语文（公开课）", at(2026, 12, 7, 8, 55, 0, 8),
          at(2026, 12, 7, 9, 40, 0, 8), 1, LB_LIVE_YES, LB_LESSON_TYPE_OPEN },
        { "open-day@2026-12-08", "九年级 化学", at(2026, 12, 8, 10, 0, 0, 8),
          at(2026, 12, 8, 10, 45, 0, 8), 1, LB_LIVE_YES, LB_LESSON_TYPE_DEMONSTRATION },
        { "english-fri@2026-12-11", "英语 with Ms. Chen", at(2026, 12, 11, 10, 0, 0, 8),
          at(2026, 12, 11, 10, 45, 0, 8), 1, LB_LIVE_YES, LB_LESSON_TYPE_ORDINARY },
        { "english-fri@2026-12-12", "英语 with Ms. Chen", at(2026, 12, 12, 10, 0, 0, 8),
          at(2026, 12, 12, 10, 45, 0, 8), 1, LB_LIVE_YES, LB_LESSON_TYPE_ORDINARY },
    };
    check_occurrences(occ, nb, week, 5);
    if (nb >= 2) {
        CHECK(!strcmp(occ[1].meta.teacher, "李老师") && !strcmp(occ[1].meta.hall, "") &&
              occ[1].meta.nb_keywords == 2 && !strcmp(occ[1].meta.keywords[1], "朗读") &&
              !strcmp(occ[1].meta.description, "《观沧海》\n第二课时") &&
              occ[1].origin == LB_SCHEDULE_TIMETABLE);
        CHECK(!strcmp(occ[0].meta.hall, "录播教室1") && !strcmp(occ[0].meta.subject, "数学") &&
              !strcmp(occ[0].meta.grade, "七年级") && !strcmp(occ[0].meta.class_name, "3班"));
    }
    if (nb >= 3)
        CHECK(!strcmp(occ[2].meta.school, "实验中学"));
    free(occ);

    /* Wednesday 2026-12-16 is an exception of the physics lesson, the 23rd
     * is not: record false, end with seconds */
    from = at(2026, 12, 14, 0, 0, 0, 8);
    to = at(2026, 12, 24, 0, 0, 0, 8);
    CHECK(lb_timetable_expand(tt, NULL, from, to, &occ, &nb, err, sizeof err) == 0);
    int physics = 0;
    for (int i = 0; i < nb; i++)
        if (!strncmp(occ[i].meta.schedule_uid, "physics-8-1@", 12)) {
            physics++;
            CHECK(!strcmp(occ[i].meta.schedule_uid, "physics-8-1@2026-12-23"));
            CHECK(occ[i].start_s == at(2026, 12, 23, 14, 0, 0, 8));
            CHECK(occ[i].end_s == at(2026, 12, 23, 14, 40, 30, 8));
            CHECK(occ[i].record == 0 && occ[i].meta.live == LB_LIVE_NO);
        }
    CHECK(physics == 1);
    for (int i = 1; i < nb; i++)
        CHECK(occ[i - 1].start_s <= occ[i].start_s);
    free(occ);

    /* the National Day week: holidays 10-01..10-07, Saturday 10-10 runs
     * Thursday's timetable (nothing on Thursdays: no lessons), Monday
     * 10-05 is inside the holiday */
    from = at(2026, 10, 1, 0, 0, 0, 8);
    to = at(2026, 10, 12, 0, 0, 0, 8);
    CHECK(lb_timetable_expand(tt, NULL, from, to, &occ, &nb, err, sizeof err) == 0);
    const expect national[] = {
        { "english-fri@2026-10-09", NULL, at(2026, 10, 9, 10, 0, 0, 8),
          at(2026, 10, 9, 10, 45, 0, 8), 1, LB_LIVE_YES, 0 },
    };
    check_occurrences(occ, nb, national, 1);
    free(occ);

    /* term bounds: nothing before 2026-09-01 or after 2027-01-22 */
    from = at(2027, 1, 18, 0, 0, 0, 8);
    to = at(2027, 1, 30, 0, 0, 0, 8);
    CHECK(lb_timetable_expand(tt, NULL, from, to, &occ, &nb, err, sizeof err) == 0);
    const expect term_end[] = {
        { "math-7-3@2027-01-18", NULL, at(2027, 1, 18, 8, 0, 0, 8), at(2027, 1, 18, 8, 45, 0, 8),
          1, LB_LIVE_NO, 0 },
        { "chinese-7-3@2027-01-18", NULL, at(2027, 1, 18, 8, 55, 0, 8),
          at(2027, 1, 18, 9, 40, 0, 8), 1, LB_LIVE_YES, 0 },
        { "physics-8-1@2027-01-20", NULL, at(2027, 1, 20, 14, 0, 0, 8),
          at(2027, 1, 20, 14, 40, 30, 8), 0, LB_LIVE_NO, 0 },
        { "english-fri@2027-01-22", NULL, at(2027, 1, 22, 10, 0, 0, 8),
          at(2027, 1, 22, 10, 45, 0, 8), 1, LB_LIVE_YES, 0 },
    };
    check_occurrences(occ, nb, term_end, 4);
    free(occ);

    /* a window cutting a lesson keeps it (it overlaps); a window of
     * more than 62 days and one ending before it starts are refused */
    from = at(2026, 12, 7, 8, 30, 0, 8);
    to = at(2026, 12, 7, 8, 56, 0, 8);
    CHECK(lb_timetable_expand(tt, NULL, from, to, &occ, &nb, err, sizeof err) == 0);
    CHECK(nb == 2);
    free(occ);
    CHECK(lb_timetable_expand(tt, NULL, from, from + 63 * 86400, &occ, &nb, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "62 days");
    CHECK(lb_timetable_expand(tt, NULL, to, from, &occ, &nb, err, sizeof err) < 0);

    /* round trip: to_json is canonical, parse(to_json) gives it back */
    char *json = lb_timetable_to_json(tt);
    CHECK(json != NULL);
    lb_timetable *tt2 = json ? parse_ok(json) : NULL;
    char *json2 = tt2 ? lb_timetable_to_json(tt2) : NULL;
    CHECK(json2 && !strcmp(json, json2));
    if (json)
        CHECK_STR_CONTAINS(json, "\"lesson_type\":\t\"open\"");
    from = at(2026, 12, 7, 0, 0, 0, 8);
    to = at(2026, 12, 14, 0, 0, 0, 8);
    if (tt2) {
        CHECK(lb_timetable_expand(tt2, NULL, from, to, &occ, &nb, err, sizeof err) == 0);
        check_occurrences(occ, nb, week, 5);
        free(occ);
    }
    free(json);
    free(json2);
    lb_timetable_free(&tt2);
    lb_timetable_free(&tt);
    CHECK(tt == NULL);
    lb_timetable_free(&tt);     /* NULL is fine */
    free(text);
}

/* Europe/Berlin springs forward at 02:00 on 2026-03-29 (02:30 does not
 * exist: read with the offset before the gap, +1, it is 03:30 CEST) and
 * falls back at 03:00 on 2026-10-25 (02:30 happens twice: the first, in
 * CEST, +2).  Asia/Shanghai has no DST: +8 all year. */
static void test_dst(void)
{
    const char *doc =
        "{\"entries\":["
        "{\"id\":\"night\",\"weekday\":\"sun\",\"start\":\"02:30\",\"end\":\"03:30\"},"
        "{\"id\":\"day\",\"weekday\":\"sun\",\"start\":\"10:00\",\"end\":\"11:00\"}]}";
    lb_timetable *tt = parse_ok(doc);
    lb_schedule_occurrence *occ = NULL;
    int nb = 0;
    char err[256];
    if (!tt)
        return;
    CHECK(lb_timetable_timezone(tt) == NULL);

    int64_t from = at(2026, 3, 28, 12, 0, 0, 0), to = at(2026, 3, 30, 0, 0, 0, 0);
    CHECK(lb_timetable_expand(tt, "Europe/Berlin", from, to, &occ, &nb, err, sizeof err) == 0);
    const expect spring[] = {
        /* 02:30 does not exist: 01:30 UTC (03:30 CEST); 03:30 CEST is 01:30 UTC
         * too, so the lesson is empty and left out */
        { "day@2026-03-29", NULL, at(2026, 3, 29, 10, 0, 0, 2), at(2026, 3, 29, 11, 0, 0, 2), 1,
          LB_LIVE_NO, 0 },
    };
    check_occurrences(occ, nb, spring, 1);
    free(occ);

    from = at(2026, 10, 24, 12, 0, 0, 0);
    to = at(2026, 10, 26, 0, 0, 0, 0);
    CHECK(lb_timetable_expand(tt, "Europe/Berlin", from, to, &occ, &nb, err, sizeof err) == 0);
    const expect autumn[] = {
        /* 02:30 the first time (CEST, 00:30 UTC) to 03:30 CET (02:30 UTC): two hours */
        { "night@2026-10-25", NULL, at(2026, 10, 25, 0, 30, 0, 0), at(2026, 10, 25, 2, 30, 0, 0),
          1, LB_LIVE_NO, 0 },
        { "day@2026-10-25", NULL, at(2026, 10, 25, 10, 0, 0, 1), at(2026, 10, 25, 11, 0, 0, 1), 1,
          LB_LIVE_NO, 0 },
    };
    check_occurrences(occ, nb, autumn, 2);
    free(occ);

    /* an ordinary Sunday in summer and winter, and Shanghai */
    CHECK(lb_timetable_expand(tt, "Europe/Berlin", at(2026, 7, 5, 0, 0, 0, 2),
                              at(2026, 7, 6, 0, 0, 0, 2), &occ, &nb, err, sizeof err) == 0);
    CHECK(nb == 2 && occ[0].start_s == at(2026, 7, 5, 2, 30, 0, 2) &&
          occ[1].end_s == at(2026, 7, 5, 11, 0, 0, 2));
    free(occ);
    CHECK(lb_timetable_expand(tt, "Asia/Shanghai", at(2026, 7, 5, 0, 0, 0, 8),
                              at(2026, 7, 6, 0, 0, 0, 8), &occ, &nb, err, sizeof err) == 0);
    CHECK(nb == 2 && occ[0].start_s == at(2026, 7, 5, 2, 30, 0, 8) &&
          occ[1].end_s == at(2026, 7, 5, 11, 0, 0, 8));
    free(occ);
    CHECK(lb_timetable_expand(tt, "UTC", at(2026, 7, 5, 0, 0, 0, 0), at(2026, 7, 6, 0, 0, 0, 0),
                              &occ, &nb, err, sizeof err) == 0);
    CHECK(nb == 2 && occ[0].start_s == at(2026, 7, 5, 2, 30, 0, 0));
    free(occ);
    CHECK(lb_timetable_expand(tt, "Mars/Olympus_Mons", at(2026, 7, 5, 0, 0, 0, 0),
                              at(2026, 7, 6, 0, 0, 0, 0), &occ, &nb, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "unknown time zone 'Mars/Olympus_Mons'");
    CHECK(lb_timetable_expand(tt, "../../../etc/passwd", at(2026, 7, 5, 0, 0, 0, 0),
                              at(2026, 7, 6, 0, 0, 0, 0), &occ, &nb, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "unknown time zone");
    lb_timetable_free(&tt);
}

/* libical's reading of the system's tzdata against glibc's, in zones
 * with DST north and south and without: a lesson at 09:00 every day for
 * years (far from the 01:00-03:00 changes), its UTC start from libical
 * (lb_timetable_expand) and from mktime() under TZ (this test alone sets
 * TZ, before any thread runs). */
static void test_zones_against_libc(void)
{
    static const char *const zones[] = { "Europe/Berlin", "America/New_York",
                                         "Australia/Sydney", "Asia/Shanghai" };
    static const int years[] = { 2026, 2027, 2031, 2036, 2038, 2045 };
    const char *doc = "{\"entries\":["
        "{\"id\":\"mo\",\"weekday\":\"mon\",\"start\":\"09:00\",\"end\":\"09:45\"},"
        "{\"id\":\"tu\",\"weekday\":\"tue\",\"start\":\"09:00\",\"end\":\"09:45\"},"
        "{\"id\":\"we\",\"weekday\":\"wed\",\"start\":\"09:00\",\"end\":\"09:45\"},"
        "{\"id\":\"th\",\"weekday\":\"thu\",\"start\":\"09:00\",\"end\":\"09:45\"},"
        "{\"id\":\"fr\",\"weekday\":\"fri\",\"start\":\"09:00\",\"end\":\"09:45\"},"
        "{\"id\":\"sa\",\"weekday\":\"sat\",\"start\":\"09:00\",\"end\":\"09:45\"},"
        "{\"id\":\"su\",\"weekday\":\"sun\",\"start\":\"09:00\",\"end\":\"09:45\"}]}";
    lb_timetable *tt = parse_ok(doc);
    char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    int compared = 0, wrong = 0;
    if (!tt)
        return;
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        setenv("TZ", zones[z], 1);
        tzset();
        for (size_t y = 0; y < sizeof years / sizeof years[0]; y++) {
            for (int w = 0; w < 6; w++) {       /* six 61-day windows: the whole year */
                int64_t from = at(years[y], 1, 1, 0, 0, 0, 0) + w * 61 * 86400;
                lb_schedule_occurrence *occ = NULL;
                int nb = 0;
                char err[256];
                CHECK(lb_timetable_expand(tt, zones[z], from, from + 61 * 86400, &occ, &nb, err,
                                          sizeof err) == 0);
                for (int i = 0; i < nb; i++) {
                    int yy, mm, dd;
                    if (sscanf(strchr(occ[i].meta.schedule_uid, '@') + 1, "%d-%d-%d", &yy, &mm,
                               &dd) != 3)
                        continue;
                    struct tm tm = { .tm_year = yy - 1900, .tm_mon = mm - 1, .tm_mday = dd,
                                     .tm_hour = 9, .tm_isdst = -1 };
                    int64_t want = (int64_t)mktime(&tm);
                    compared++;
                    if (occ[i].start_s != want && wrong++ < 5)
                        fprintf(stderr, "%s %s: libical %lld, glibc %lld\n", zones[z],
                                occ[i].meta.schedule_uid, (long long)occ[i].start_s,
                                (long long)want);
                }
                free(occ);
            }
        }
    }
    if (old_tz)
        setenv("TZ", old_tz, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old_tz);
    CHECK(compared > 4 * 6 * 360 && wrong == 0);
    if (wrong)
        fprintf(stderr, "%d of %d lessons differ from glibc\n", wrong, compared);
    lb_timetable_free(&tt);
}

#define PERIODS "\"periods\":[{\"id\":\"p1\",\"name\":\"第1节\",\"start\":\"08:00\",\"end\":\"08:45\"}," \
                "{\"id\":\"p2\",\"name\":\"第2节\",\"start\":\"08:55\",\"end\":\"09:40\"}]"

static void test_errors(void)
{
    /* overlaps name both entries */
    parse_fails("{" PERIODS ",\"entries\":["
                "{\"id\":\"a\",\"weekday\":\"mon\",\"period\":\"p1\",\"subject\":\"语文\"},"
                "{\"id\":\"b\",\"weekday\":\"tue\",\"period\":\"p1\",\"subject\":\"英语\"},"
                "{\"id\":\"c\",\"weekday\":\"mon\",\"start\":\"08:30\",\"end\":\"09:00\",\"subject\":\"数学\"}]}",
                "entries[2] (数学 Mon 08:30-09:00): overlaps entries[0] (语文 Mon 第1节)", NULL);
    /* a one-off on a Monday meets the Monday lesson, unless excepted */
    parse_fails("{" PERIODS ",\"entries\":["
                "{\"id\":\"a\",\"weekday\":\"周一\",\"period\":\"p1\",\"subject\":\"语文\"},"
                "{\"id\":\"x\",\"date\":\"2026-12-07\",\"period\":\"p1\",\"subject\":\"化学\"}]}",
                "entries[1] (化学 2026-12-07 第1节): overlaps entries[0] (语文 Mon 第1节) on 2026-12-07",
                NULL);
    lb_timetable *tt = parse_ok("{" PERIODS ",\"entries\":["
                "{\"id\":\"a\",\"weekday\":\"mon\",\"period\":\"p1\",\"except\":[\"2026-12-07\"]},"
                "{\"id\":\"x\",\"date\":\"2026-12-07\",\"period\":\"p1\"}]}");
    lb_timetable_free(&tt);
    /* ... or when the Monday is a holiday, or outside the term */
    tt = parse_ok("{" PERIODS ",\"holidays\":[{\"date\":\"2026-12-07\"}],\"entries\":["
                  "{\"id\":\"a\",\"weekday\":\"mon\",\"period\":\"p1\"},"
                  "{\"id\":\"x\",\"date\":\"2026-12-07\",\"period\":\"p1\"}]}");
    lb_timetable_free(&tt);
    /* a make-up Saturday running Monday meets a one-off that Saturday */
    parse_fails("{" PERIODS ",\"makeup_days\":[{\"date\":\"2026-12-12\",\"weekday\":\"mon\"}],"
                "\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"period\":\"p1\"},"
                "{\"id\":\"x\",\"date\":\"2026-12-12\",\"start\":\"08:40\",\"end\":\"09:00\"}]}",
                "entries[1] (x 2026-12-12 08:40-09:00): overlaps entries[0] (a Mon 第1节)", NULL);
    /* end before start */
    parse_fails("{\"periods\":[{\"id\":\"p1\",\"name\":\"第1节\",\"start\":\"08:00\",\"end\":\"08:45\"},"
                "{\"id\":\"p3\",\"name\":\"第3节\",\"start\":\"09:55\",\"end\":\"09:40\"}]}",
                "periods[1] (第3节): end 09:40 is before start 09:55", NULL);
    parse_fails("{\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"start\":\"10:00\","
                "\"end\":\"09:00\",\"subject\":\"数学\"}]}",
                "entries[0] (数学 Mon 10:00-09:00): end 09:00 is not after start 10:00", NULL);
    /* unknown lesson type, period, weekday, key */
    parse_fails("{" PERIODS ",\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"period\":\"p1\","
                "\"subject\":\"数学\",\"lesson_type\":\"exam\"}]}",
                "entries[0] (数学 Mon 第1节): unknown lesson_type 'exam' (ordinary, open, quality, "
                "demonstration", NULL);
    parse_fails("{" PERIODS ",\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"period\":\"p9\","
                "\"subject\":\"数学\"}]}", "entries[0] (数学 Mon p9): unknown period 'p9'", NULL);
    parse_fails("{\"entries\":[{\"id\":\"a\",\"weekday\":\"funday\",\"start\":\"08:00\",\"end\":\"09:00\"}]}",
                "entries[0] (a funday 08:00-09:00): unknown weekday 'funday'", NULL);
    parse_fails("{" PERIODS ",\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"period\":\"p1\","
                "\"subject\":\"数学\",\"techer\":\"王\"}]}",
                "entries[0] (数学 Mon 第1节): unknown key 'techer'", NULL);
    parse_fails("{\"shedule\":1}", "timetable: unknown key 'shedule'", NULL);
    parse_fails("{\"periods\":[{\"id\":\"p1\",\"start\":\"08:00\",\"end\":\"08:45\",\"lenght\":1}]}",
                "periods[0]: unknown key 'lenght'", NULL);
    parse_fails("{\"holidays\":[{\"name\":\"春节\",\"from\":\"2027-02-10\",\"too\":\"2027-02-17\"}]}",
                "holidays[0] (春节): unknown key 'too'", NULL);
    parse_fails("{\"entries\":[{\"id\":\"a\",\"id\":\"b\",\"weekday\":\"mon\",\"start\":\"08:00\","
                "\"end\":\"09:00\"}]}", "key 'id' given twice", NULL);
    /* bad dates and times */
    parse_fails("{\"entries\":[{\"id\":\"a\",\"date\":\"2026-02-30\",\"start\":\"08:00\","
                "\"end\":\"09:00\"}]}", "entries[0] (a 2026-02-30 08:00-09:00): date '2026-02-30' "
                "is not a date", NULL);
    parse_fails("{\"holidays\":[{\"name\":\"x\",\"date\":\"2026-13-01\"}]}",
                "holidays[0] (x): date '2026-13-01' is not a date", NULL);
    parse_fails("{\"term\":{\"start\":\"2027-01-22\",\"end\":\"2026-09-01\"}}",
                "term: end is before start", NULL);
    parse_fails("{\"makeup_days\":[{\"date\":\"2026-10-03\",\"weekday\":\"mon\"}],"
                "\"holidays\":[{\"name\":\"国庆节\",\"from\":\"2026-10-01\",\"to\":\"2026-10-07\"}]}",
                "makeup_days[0] (2026-10-03): falls in holidays[0] (国庆节)", NULL);
    parse_fails("{\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"start\":\"8:00\",\"end\":\"09:00\"}]}",
                "start '8:00' is not a time", NULL);
    parse_fails("{\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"start\":\"08:00\",\"end\":\"24:00\"}]}",
                "end '24:00' is not a time", NULL);
    /* one of weekday/date, one of period/start+end, ids */
    parse_fails("{\"entries\":[{\"id\":\"a\",\"start\":\"08:00\",\"end\":\"09:00\"}]}",
                "entries[0] (a 08:00-09:00): needs either a weekday", NULL);
    parse_fails("{" PERIODS ",\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"period\":\"p1\","
                "\"start\":\"08:00\"}]}", "has a period and start/end", NULL);
    parse_fails("{\"entries\":[{\"id\":\"a b\",\"weekday\":\"mon\",\"start\":\"08:00\",\"end\":\"09:00\"}]}",
                "id 'a b' must be", NULL);
    parse_fails("{\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"start\":\"08:00\",\"end\":\"09:00\"},"
                "{\"id\":\"a\",\"weekday\":\"tue\",\"start\":\"08:00\",\"end\":\"09:00\"}]}",
                "entries[1] (a Tue 08:00-09:00): id 'a' is also entries[0]'s", NULL);
    /* title templates are checked when parsing */
    parse_fails("{\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"start\":\"08:00\",\"end\":\"09:00\","
                "\"subject\":\"数学\",\"title\":\"{subjet}\"}]}",
                "entries[0] (数学 Mon 08:00-09:00): title template: unknown field {subjet}", NULL);
    /* {title} in a template is "" (found by fuzz_timetable: it read the
     * title being written) */
    tt = parse_ok("{\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"start\":\"08:00\","
                  "\"end\":\"09:00\",\"subject\":\"数学\",\"title\":\"{title}{subject}{title}\"}]}");
    if (tt) {
        lb_schedule_occurrence *occ = NULL;
        int nb = 0;
        char e[256];
        CHECK(lb_timetable_expand(tt, "UTC", at(2026, 12, 7, 0, 0, 0, 0), at(2026, 12, 8, 0, 0, 0, 0),
                                  &occ, &nb, e, sizeof e) == 0);
        CHECK(nb == 1 && !strcmp(occ[0].meta.title, "数学"));
        free(occ);
    }
    lb_timetable_free(&tt);
    /* types, sizes */
    parse_fails("{\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"start\":\"08:00\",\"end\":\"09:00\","
                "\"record\":\"yes\"}]}", "record must be true or false", NULL);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char doc[1024];
    snprintf(doc, sizeof doc, "{\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"start\":\"08:00\","
             "\"end\":\"09:00\",\"teacher\":\"%s\"}]}", big);
    parse_fails(doc, "entries[0] (a Mon 08:00-09:00): teacher is longer than 127 bytes", NULL);
    parse_fails("{\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"start\":\"08:00\",\"end\":\"09:00\","
                "\"subject\":\"\\u0007\"}]}", "subject holds a control character", NULL);
    parse_fails("{\"entries\":[{\"id\":\"a\",\"weekday\":\"mon\",\"start\":\"08:00\",\"end\":\"09:00\","
                "\"subject\":\"\xff\"}]}", "subject is not valid UTF-8", NULL);
    /* more entries than allowed */
    size_t cap = 1001 * 80 + 64, n = 0;
    char *many = malloc(cap);
    n += (size_t)snprintf(many + n, cap - n, "{\"entries\":[");
    for (int i = 0; i < 1001; i++)
        n += (size_t)snprintf(many + n, cap - n, "%s{\"id\":\"e%d\",\"date\":\"2026-12-07\","
                              "\"start\":\"08:00\",\"end\":\"08:01\"}", i ? "," : "", i);
    snprintf(many + n, cap - n, "]}");
    parse_fails(many, "entries: more than 1000", NULL);
    free(many);
    /* a document larger than LB_SCHEDULE_MAX_BYTES, broken JSON, versions */
    lb_timetable *none = NULL;
    char err[256];
    CHECK(lb_timetable_parse(&none, "{}", (size_t)LB_SCHEDULE_MAX_BYTES + 1, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "larger than");
    parse_fails("{\n\"entries\": [\n  {\"id\": \"a\",]\n}", "not JSON (syntax error at line 3", NULL);
    parse_fails("{} {}", "text after the JSON document", NULL);
    parse_fails("[]", "must be a JSON object", NULL);
    parse_fails("{\"schema\":2}", "schema 2 is newer", NULL);
    parse_fails("{\"schema\":1e300}", "schema must be a positive integer", NULL);   /* fuzz_timetable */
    parse_fails("{\"schema\":1.5}", "schema must be a positive integer", NULL);
    parse_fails("{\"timezone\":\"Asia/Shanghia\"}", "unknown time zone 'Asia/Shanghia'", NULL);
    CHECK(lb_timetable_parse(&none, "{\"a\0", 4, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "NUL");
    /* the empty timetable is fine, and the schema is written */
    tt = parse_ok("{}");
    char *json = tt ? lb_timetable_to_json(tt) : NULL;
    CHECK(json && strstr(json, "\"schema\":\t1"));
    free(json);
    lb_timetable_free(&tt);
}


/* ---- iCalendar ---- */

static lb_ical *ical_ok(const char *text, size_t size)
{
    lb_ical *cal = NULL;
    char err[512] = "";
    int ret = lb_ical_parse(&cal, text, size, err, sizeof err);
    if (ret < 0)
        fprintf(stderr, "unexpected iCal error: %s\n", err);
    CHECK(ret == 0 && cal);
    return cal;
}

static void ical_fails(const char *text, size_t size, const char *needle1, const char *needle2)
{
    lb_ical *cal = NULL;
    char err[512] = "";
    int ret = lb_ical_parse(&cal, text, size, err, sizeof err);
    CHECK(ret < 0 && !cal);
    if (ret >= 0) {
        fprintf(stderr, "accepted a feed that should fail with '%s'\n", needle1);
        lb_ical_free(&cal);
        return;
    }
    CHECK_STR_CONTAINS(err, needle1);
    if (needle2)
        CHECK_STR_CONTAINS(err, needle2);
}

/* text with the first occurrence of from replaced by to (malloc'd) */
static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    if (!at) {
        fprintf(stderr, "test bug: '%s' is not in the feed\n", from);
        exit(1);
    }
    size_t a = (size_t)(at - text), n = strlen(text) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    memcpy(out, text, a);
    memcpy(out + a, to, strlen(to));
    strcpy(out + a + strlen(to), at + strlen(from));
    return out;
}

static void ical_edit_fails(const char *text, const char *from, const char *to,
                            const char *needle1, const char *needle2)
{
    char *t = replaced(text, from, to);
    ical_fails(t, strlen(t), needle1, needle2);
    free(t);
}

/* tests/core/schedule/school.ics: a weekly RRULE (Mondays and Wednesdays
 * 08:00-08:45 in Asia/Shanghai, UTC+8, no DST) with an EXDATE (Wednesday
 * 12-09), an RDATE (Saturday 12-12 10:00), an override (RECURRENCE-ID:
 * Monday 12-07 moved to 14:00), an all-day event, a floating event, a
 * cancelled one, one in UTC; X-LUOBO- properties. */
static void test_ical_week(void)
{
    size_t size;
    char *text = slurp("school.ics", &size), err[512];
    lb_ical *cal = ical_ok(text, size);
    lb_schedule_occurrence *occ = NULL;
    int nb = 0;
    if (!cal) {
        free(text);
        return;
    }
    int64_t from = at(2026, 12, 7, 0, 0, 0, 8), to = at(2026, 12, 14, 0, 0, 0, 8);
    CHECK(lb_ical_expand(cal, "Asia/Shanghai", from, to, &occ, &nb, err, sizeof err) == 0);
    const expect week[] = {
        /* the override: 14:00-14:45 (06:00Z), named by its RECURRENCE-ID */
        { "math-weekly@school.example@20261207T000000Z", "七年级3班 数学（调课）",
          at(2026, 12, 7, 14, 0, 0, 8), at(2026, 12, 7, 14, 45, 0, 8), 1, LB_LIVE_YES, 0 },
        /* floating 10:00 read in the tz given; DURATION PT40M; X-LUOBO-RECORD */
        { "english-floating@school.example@20261208T020000Z", "English",
          at(2026, 12, 8, 10, 0, 0, 8), at(2026, 12, 8, 10, 40, 0, 8), 0, LB_LIVE_YES, 0 },
        /* Wednesday 12-09 is an EXDATE (and the all-day 校运会 is no lesson);
         * 12-10 is cancelled; Friday's is in UTC */
        { "physics@school.example@20261211T060000Z", "物理", at(2026, 12, 11, 6, 0, 0, 0),
          at(2026, 12, 11, 6, 40, 0, 0), 1, LB_LIVE_YES, 0 },
        /* the RDATE: Saturday 10:00, the master's 45 minutes and metadata */
        { "math-weekly@school.example@20261212T020000Z", "七年级3班 数学",
          at(2026, 12, 12, 10, 0, 0, 8), at(2026, 12, 12, 10, 45, 0, 8), 1, LB_LIVE_NO,
          LB_LESSON_TYPE_OPEN },
    };
    check_occurrences(occ, nb, week, 4);
    if (nb == 4) {
        const lb_lesson_meta *m = &occ[3].meta;
        CHECK(occ[3].origin == LB_SCHEDULE_ICAL);
        CHECK(!strcmp(m->teacher, "王老师"));           /* ORGANIZER's CN */
        CHECK(!strcmp(m->subject, "数学"));             /* the first CATEGORIES */
        CHECK(!strcmp(m->hall, "录播教室1"));           /* LOCATION */
        CHECK(!strcmp(m->grade, "七年级") && !strcmp(m->class_name, "3班"));
        CHECK(!strcmp(m->description, "函数的概念, 第一课时\n例题"));
        CHECK(!strcmp(occ[0].meta.teacher, "赵老师"));  /* X-LUOBO-TEACHER */
        CHECK(!strcmp(occ[2].meta.teacher, "Ms. Chen"));  /* X-LUOBO-TEACHER over ORGANIZER */
        CHECK(occ[1].meta.lesson_type == LB_LESSON_TYPE_UNSET);
    }
    free(occ);

    /* the next week: the rule alone, Monday and Wednesday 08:00 */
    from = at(2026, 12, 14, 0, 0, 0, 8);
    to = at(2026, 12, 21, 0, 0, 0, 8);
    CHECK(lb_ical_expand(cal, "Asia/Shanghai", from, to, &occ, &nb, err, sizeof err) == 0);
    const expect next[] = {
        { "math-weekly@school.example@20261214T000000Z", NULL, at(2026, 12, 14, 8, 0, 0, 8),
          at(2026, 12, 14, 8, 45, 0, 8), 1, LB_LIVE_NO, LB_LESSON_TYPE_OPEN },
        { "math-weekly@school.example@20261216T000000Z", NULL, at(2026, 12, 16, 8, 0, 0, 8),
          at(2026, 12, 16, 8, 45, 0, 8), 1, LB_LIVE_NO, LB_LESSON_TYPE_OPEN },
    };
    check_occurrences(occ, nb, next, 2);
    free(occ);

    /* UNTIL 2027-01-22T16:00Z: Wednesday 01-20 is the last */
    from = at(2027, 1, 18, 0, 0, 0, 8);
    to = at(2027, 2, 1, 0, 0, 0, 8);
    CHECK(lb_ical_expand(cal, "Asia/Shanghai", from, to, &occ, &nb, err, sizeof err) == 0);
    CHECK(nb == 2 && !strcmp(occ[1].meta.schedule_uid,
                             "math-weekly@school.example@20270120T000000Z"));
    free(occ);

    /* a floating time is read in the tz given: 10:00 in Berlin is 09:00Z */
    from = at(2026, 12, 8, 0, 0, 0, 0);
    to = at(2026, 12, 9, 0, 0, 0, 0);
    CHECK(lb_ical_expand(cal, "Europe/Berlin", from, to, &occ, &nb, err, sizeof err) == 0);
    CHECK(nb == 1 && occ[0].start_s == at(2026, 12, 8, 10, 0, 0, 1) &&
          occ[0].end_s == at(2026, 12, 8, 10, 40, 0, 1));
    free(occ);
    CHECK(lb_ical_expand(cal, "Nowhere/Special", from, to, &occ, &nb, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "unknown time zone 'Nowhere/Special'");
    CHECK(lb_ical_expand(cal, NULL, from, from + 63 * 86400, &occ, &nb, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "62 days");
    lb_ical_free(&cal);
    CHECK(cal == NULL);

    /* a feed of all-day events only: parsed, no lessons */
    const char *allday = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
                         "UID:holiday\r\nDTSTART;VALUE=DATE:20261209\r\nSUMMARY:校运会\r\n"
                         "END:VEVENT\r\nEND:VCALENDAR\r\n";
    cal = ical_ok(allday, strlen(allday));
    if (cal) {
        CHECK(lb_ical_expand(cal, "Asia/Shanghai", at(2026, 12, 7, 0, 0, 0, 8),
                             at(2026, 12, 14, 0, 0, 0, 8), &occ, &nb, err, sizeof err) == 0);
        CHECK(nb == 0);
        free(occ);
    }
    lb_ical_free(&cal);

    free(text);
}

/* the timetable's week and the feed's, merged: the feed's Tuesday 10:00
 * (English) and Saturday 10:00 (the RDATE) start with the timetable's
 * lessons and are dropped (on a tie the first list, the timetable, wins) */
static void test_merge_sources(void)
{
    size_t size_tt, size_ics;
    char *tt_text = slurp("timetable.json", &size_tt), *ics = slurp("school.ics", &size_ics);
    char err[512], conflict[1024];
    lb_timetable *tt = NULL;
    lb_ical *cal = NULL;
    lb_schedule_occurrence *a = NULL, *b = NULL, *out = NULL;
    int nb_a = 0, nb_b = 0, nb = 0;
    int64_t from = at(2026, 12, 7, 0, 0, 0, 8), to = at(2026, 12, 14, 0, 0, 0, 8);
    CHECK(lb_timetable_parse(&tt, tt_text, size_tt, err, sizeof err) == 0);
    CHECK(lb_ical_parse(&cal, ics, size_ics, err, sizeof err) == 0);
    if (tt && cal) {
        CHECK(lb_timetable_expand(tt, NULL, from, to, &a, &nb_a, err, sizeof err) == 0);
        CHECK(lb_ical_expand(cal, "Asia/Shanghai", from, to, &b, &nb_b, err, sizeof err) == 0);
        CHECK(nb_a == 5 && nb_b == 4);
        CHECK(lb_schedule_merge(a, nb_a, b, nb_b, &out, &nb, conflict, sizeof conflict) == 0);
        const char *want[] = {
            "math-7-3@2026-12-07", "chinese-7-3@2026-12-07",
            "math-weekly@school.example@20261207T000000Z", "open-day@2026-12-08",
            "english-fri@2026-12-11", "physics@school.example@20261211T060000Z",
            "english-fri@2026-12-12",
        };
        CHECK(nb == 7);
        for (int i = 0; i < nb && i < 7; i++)
            CHECK(!strcmp(out[i].meta.schedule_uid, want[i]));
        CHECK_STR_CONTAINS(conflict, "'English' (iCal english-floating@school.example@20261208T020000Z) "
                           "2026-12-08T02:00:00Z-02:40:00Z overlaps '九年级 化学' (timetable "
                           "open-day@2026-12-08) 2026-12-08T02:00:00Z-02:45:00Z");
        CHECK_STR_CONTAINS(conflict, "(and 1 more conflicts)");
    }
    free(a);
    free(b);
    free(out);
    lb_timetable_free(&tt);
    lb_ical_free(&cal);
    free(tt_text);
    free(ics);
}

/* An Outlook export: VTIMEZONEs with Windows names (quoted and not), a
 * weekly rule crossing Europe's change back to winter time on 2026-10-25
 * (09:00 is 07:00Z in CEST and 08:00Z in CET), COUNT=3, and a VTODO
 * with a broken value (not read, so not an error). */
static void test_ical_vtimezone(void)
{
    size_t size;
    char *text = slurp("outlook-vtimezone.ics", &size), err[512];
    lb_ical *cal = ical_ok(text, size);
    lb_schedule_occurrence *occ = NULL;
    int nb = 0;
    if (cal) {
        CHECK(lb_ical_expand(cal, "Asia/Shanghai", at(2026, 10, 15, 0, 0, 0, 0),
                             at(2026, 11, 30, 0, 0, 0, 0), &occ, &nb, err, sizeof err) == 0);
        const char *m = "040000008200E00074C5B7101A82E00800000000-mathe@";
        char u1[128], u2[128], u3[128];
        snprintf(u1, sizeof u1, "%s20261019T070000Z", m);
        snprintf(u2, sizeof u2, "%s20261026T080000Z", m);
        snprintf(u3, sizeof u3, "%s20261102T080000Z", m);
        const expect want[] = {
            { "040000008200E00074C5B7101A82E00800000000-yuwen@20261019T000000Z", "语文",
              at(2026, 10, 19, 8, 0, 0, 8), at(2026, 10, 19, 8, 45, 0, 8), 1, LB_LIVE_YES, 0 },
            { u1, "Mathematik 7b", at(2026, 10, 19, 9, 0, 0, 2), at(2026, 10, 19, 9, 45, 0, 2), 1,
              LB_LIVE_YES, LB_LESSON_TYPE_QUALITY },
            { u2, NULL, at(2026, 10, 26, 9, 0, 0, 1), at(2026, 10, 26, 9, 45, 0, 1), 1,
              LB_LIVE_YES, LB_LESSON_TYPE_QUALITY },
            { u3, NULL, at(2026, 11, 2, 9, 0, 0, 1), at(2026, 11, 2, 9, 45, 0, 1), 1,
              LB_LIVE_YES, LB_LESSON_TYPE_QUALITY },
        };
        check_occurrences(occ, nb, want, 4);
        if (nb == 4)
            CHECK(!strcmp(occ[1].meta.hall, "Raum 101") &&
                  !strcmp(occ[1].meta.subject, "Mathematik"));
        free(occ);
    }
    lb_ical_free(&cal);
    free(text);
}

/* iCal wall times at Europe/Berlin's changes, RFC 5545 3.3.5: a weekly
 * 02:30 on Sundays is 01:30Z in winter, 01:30Z on 2026-03-29 too (02:30
 * does not exist: the offset before the gap), 00:30Z in summer; on
 * 2026-10-25 02:30 happens twice and is the first (CEST, 00:30Z). */
static void test_ical_dst(void)
{
    const char *feed =
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        "BEGIN:VEVENT\r\nUID:spring\r\nDTSTART;TZID=Europe/Berlin:20260322T023000\r\n"
        "DURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:night\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:autumn\r\nDTSTART;TZID=Europe/Berlin:20261025T023000\r\n"
        "DTEND;TZID=Europe/Berlin:20261025T033000\r\nSUMMARY:fold\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n";
    lb_ical *cal = ical_ok(feed, strlen(feed));
    lb_schedule_occurrence *occ = NULL;
    int nb = 0;
    char err[256];
    if (!cal)
        return;
    CHECK(lb_ical_expand(cal, "UTC", at(2026, 3, 20, 0, 0, 0, 0), at(2026, 4, 10, 0, 0, 0, 0), &occ,
                         &nb, err, sizeof err) == 0);
    const expect spring[] = {
        { "spring@20260322T013000Z", "night", at(2026, 3, 22, 1, 30, 0, 0),
          at(2026, 3, 22, 2, 30, 0, 0), 1, LB_LIVE_YES, 0 },
        { "spring@20260329T013000Z", "night", at(2026, 3, 29, 1, 30, 0, 0),
          at(2026, 3, 29, 2, 30, 0, 0), 1, LB_LIVE_YES, 0 },
        { "spring@20260405T003000Z", "night", at(2026, 4, 5, 0, 30, 0, 0),
          at(2026, 4, 5, 1, 30, 0, 0), 1, LB_LIVE_YES, 0 },
    };
    check_occurrences(occ, nb, spring, 3);
    free(occ);
    CHECK(lb_ical_expand(cal, "UTC", at(2026, 10, 24, 0, 0, 0, 0), at(2026, 10, 26, 0, 0, 0, 0),
                         &occ, &nb, err, sizeof err) == 0);
    /* DTEND 03:30 is CET (02:30Z): the lesson lasts two hours */
    const expect autumn[] = {
        { "autumn@20261025T003000Z", "fold", at(2026, 10, 25, 0, 30, 0, 0),
          at(2026, 10, 25, 2, 30, 0, 0), 1, LB_LIVE_YES, 0 },
    };
    check_occurrences(occ, nb, autumn, 1);
    free(occ);
    lb_ical_free(&cal);
}

static void test_ical_errors(void)
{
    size_t size;
    char *text = slurp("school.ics", &size);

    /* truncated: inside a VALARM, inside a property, before END:VCALENDAR */
    const char *alarm = strstr(text, "TRIGGER"), *dtstart = strstr(text, "DTSTART;TZID=Asia/Shanghai:20261207");
    const char *end = strstr(text, "END:VCALENDAR");
    ical_fails(text, (size_t)(alarm - text), "the feed ends at line 22 inside BEGIN:VALARM of line 21",
               "truncated");
    ical_fails(text, (size_t)(dtstart - text) + 34, "inside BEGIN:VEVENT of line 27", "truncated");
    ical_fails(text, (size_t)(end - text), "inside BEGIN:VCALENDAR of line 1", "truncated");
    /* invalid */
    ical_edit_fails(text, "DTSTART;TZID=Asia/Shanghai:20261207T140000",
                    "DTSTART;TZID=Asia/Shanghai:2026120XT140000",
                    "line 31: Can't parse as DATE-TIME value in DTSTART property. Removing entire "
                    "property: 2026120XT140000 (in VEVENT 'math-weekly@school.example' (line 27))",
                    NULL);
    ical_edit_fails(text, "TZID=Asia/Shanghai:20260907T080000", "TZID=Asia/Shanghia:20260907T080000",
                    "VEVENT 'math-weekly@school.example' (line 4): DTSTART has an unknown TZID "
                    "'Asia/Shanghia'", NULL);
    ical_edit_fails(text, "X-LUOBO-TYPE:公开课", "X-LUOBO-TYPE:exam",
                    "VEVENT 'math-weekly@school.example' (line 4): unknown X-LUOBO-TYPE 'exam'", NULL);
    ical_edit_fails(text, "X-LUOBO-LIVE:FALSE", "X-LUOBO-LIVE:maybe",
                    "X-LUOBO-LIVE 'maybe' is not TRUE or FALSE", NULL);
    ical_edit_fails(text, "UID:physics@school.example\r\n", "", "VEVENT (line 59): no UID", NULL);
    ical_edit_fails(text, "END:VALARM", "END:VEVENT", "line 25: END:VEVENT closes BEGIN:VALARM of line 21",
                    NULL);
    ical_edit_fails(text, "SUMMARY:English", "this is not a property",
                    "line 48: Got a data line, but could not find a property name",
                    "(in VEVENT 'english-floating@school.example' (line 43))");
    ical_edit_fails(text, "DTSTART:20261208T100000", "DTSTRT:20261208T100000",
                    "VEVENT 'english-floating@school.example' (line 43): no DTSTART", NULL);
    ical_edit_fails(text, "DTEND;TZID=Asia/Shanghai:20260907T084500",
                    "DTEND;TZID=Asia/Shanghai:20260907T074500", "DTEND is not after DTSTART", NULL);
    ical_edit_fails(text, "RRULE:FREQ=WEEKLY", "RRULE:FREQ=MINUTELY",
                    "RRULE FREQ=MINUTELY: lessons repeat at most daily", NULL);
    ical_edit_fails(text, "BYDAY=MO,WE", "BYDAY=MO,XX", "line 9: Can't parse as RECUR value in RRULE",
                    NULL);
    ical_edit_fails(text, "UID:physics@school.example", "UID:english-floating@school.example",
                    "VEVENT 'english-floating@school.example' (line 59): the UID of the VEVENT of "
                    "line 43 too", NULL);
    ical_edit_fails(text, "SUMMARY:物理", "SUMMARY:\xe7\x89", "SUMMARY is not UTF-8", NULL);
    const char html[] = "<html><body>502 Bad Gateway</body></html>\n";
    ical_fails(html, sizeof html - 1,
               "line 1: text outside BEGIN:VCALENDAR", NULL);
    ical_fails("", 0, "no BEGIN:VCALENDAR", NULL);
    const char nul[] = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\0END:VCALENDAR\r\n";
    ical_fails(nul, sizeof nul - 1, "line 3: a NUL byte", NULL);
    ical_fails(text, (size_t)LB_SCHEDULE_MAX_BYTES + 1, "larger than", NULL);
    /* unknown properties and parameters are ignored (RFC 5545 3.8.8) */
    char *t = replaced(text, "SUMMARY:物理", "SUMMARY;FOO=bar:物理\r\nCOLOUR:red");
    lb_ical *cal = ical_ok(t, strlen(t));
    lb_ical_free(&cal);
    free(t);
    free(text);
}

/* a parsed feed and timetable are expanded from several threads at once
 * (libical's state is behind one lock): each thread gets the same lessons */
typedef struct expander {
    const lb_ical *cal;
    const lb_timetable *tt;
    int nb_ical, nb_tt, failed;
    int64_t sum;
} expander;

static void *expand_thread(void *opaque)
{
    expander *x = opaque;
    char err[256];
    for (int round = 0; round < 20; round++) {
        lb_schedule_occurrence *occ = NULL;
        int nb = 0;
        int64_t from = at(2026, 9, 7, 0, 0, 0, 8) + round * 7 * 86400;
        if (lb_ical_expand(x->cal, round % 2 ? "Europe/Berlin" : "Asia/Shanghai", from,
                           from + 14 * 86400, &occ, &nb, err, sizeof err) < 0)
            x->failed = 1;
        x->nb_ical += nb;
        for (int i = 0; i < nb; i++)
            x->sum += occ[i].start_s;
        free(occ);
        if (lb_timetable_expand(x->tt, NULL, from, from + 14 * 86400, &occ, &nb, err,
                                sizeof err) < 0)
            x->failed = 1;
        x->nb_tt += nb;
        for (int i = 0; i < nb; i++)
            x->sum += occ[i].end_s;
        free(occ);
    }
    return NULL;
}

static void test_threads(void)
{
    size_t size_tt, size_ics;
    char *tt_text = slurp("timetable.json", &size_tt), *ics = slurp("school.ics", &size_ics);
    char err[512];
    lb_timetable *tt = NULL;
    lb_ical *cal = NULL;
    CHECK(lb_timetable_parse(&tt, tt_text, size_tt, err, sizeof err) == 0);
    CHECK(lb_ical_parse(&cal, ics, size_ics, err, sizeof err) == 0);
    if (tt && cal) {
        expander x[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            x[i] = (expander){ .cal = cal, .tt = tt };
            CHECK(pthread_create(&th[i], NULL, expand_thread, &x[i]) == 0);
        }
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < 4; i++)
            CHECK(!x[i].failed && x[i].nb_ical == x[0].nb_ical && x[i].nb_tt == x[0].nb_tt &&
                  x[i].sum == x[0].sum && x[i].nb_ical > 20 && x[i].nb_tt > 20);
    }
    lb_timetable_free(&tt);
    lb_ical_free(&cal);
    free(tt_text);
    free(ics);
}

static lb_schedule_occurrence occurrence(const char *uid, int64_t start_s, int64_t end_s,
                                         lb_schedule_origin origin)
{
    lb_schedule_occurrence o;
    memset(&o, 0, sizeof o);
    o.start_s = start_s;
    o.end_s = end_s;
    o.origin = origin;
    o.record = 1;
    snprintf(o.meta.schedule_uid, sizeof o.meta.schedule_uid, "%s", uid);
    snprintf(o.meta.title, sizeof o.meta.title, "lesson %s", uid);
    return o;
}

static void test_merge(void)
{
    lb_schedule_occurrence a[] = {
        occurrence("a1", 1000, 2000, LB_SCHEDULE_TIMETABLE),
        occurrence("a2", 3000, 4000, LB_SCHEDULE_TIMETABLE),
        occurrence("a3", 5000, 6000, LB_SCHEDULE_TIMETABLE),
    };
    lb_schedule_occurrence b[] = {
        occurrence("b1", 500, 900, LB_SCHEDULE_ICAL),
        occurrence("b2", 2000, 3000, LB_SCHEDULE_ICAL),    /* touches both: no overlap */
        occurrence("b3", 3500, 4500, LB_SCHEDULE_ICAL),    /* inside a2: dropped */
        occurrence("b4", 5000, 5500, LB_SCHEDULE_ICAL),    /* same start as a3: a's wins */
    };
    lb_schedule_occurrence *out = NULL;
    int nb = 0;
    char conflict[1024] = "x";
    CHECK(lb_schedule_merge(a, 3, b, 0, &out, &nb, conflict, sizeof conflict) == 0);
    CHECK(nb == 3 && !conflict[0]);
    free(out);
    CHECK(lb_schedule_merge(a, 3, b, 4, &out, &nb, conflict, sizeof conflict) == 0);
    const char *want[] = { "b1", "a1", "b2", "a2", "a3" };
    CHECK(nb == 5);
    for (int i = 0; i < nb && i < 5; i++)
        CHECK(!strcmp(out[i].meta.schedule_uid, want[i]));
    CHECK_STR_CONTAINS(conflict, "'lesson b3' (iCal b3) 1970-01-01T00:58:20Z-01:15:00Z overlaps "
                       "'lesson a2' (timetable a2) 1970-01-01T00:50:00Z-01:06:40Z");
    CHECK_STR_CONTAINS(conflict, "(and 1 more conflicts)");
    free(out);
    CHECK(lb_schedule_merge(NULL, 0, NULL, 0, &out, &nb, conflict, sizeof conflict) == 0);
    CHECK(nb == 0);
    free(out);
}

int main(void)
{
    test_timetable_week();
    test_dst();
    test_zones_against_libc();
    test_errors();
    test_merge();
    test_ical_week();
    test_ical_vtimezone();
    test_ical_dst();
    test_ical_errors();
    test_merge_sources();
    test_threads();
    return CHECK_DONE();
}
