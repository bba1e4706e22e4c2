/* fuzz_timetable: the timetable (课表) document of core/lb_schedule.h, as
 * the API's body and DATA_DIR/timetable.json give it.
 *
 * The input is the JSON document.  lb_timetable_parse() reads it; what it
 * accepts is written back (lb_timetable_to_json), read again and written
 * again, then expanded over a week in Asia/Shanghai and over Europe's
 * spring-forward night in Europe/Berlin.
 *
 * Oracles beyond the sanitizers: a refused document has a message; the
 * canonical form reads back and is a fixed point (to_json(parse(to_json))
 * is to_json); every lesson ends after it starts, meets the window, comes
 * sorted, has an "id@YYYY-MM-DD" schedule_uid and a title; in a zone
 * without DST the lessons of a validated timetable never overlap (the
 * validation's promise). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "lb_schedule.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const dict[] = {
        "\"schema\"", "\"timezone\"", "\"term\"", "\"start\"", "\"end\"", "\"holidays\"",
        "\"name\"", "\"date\"", "\"from\"", "\"to\"", "\"makeup_days\"", "\"weekday\"",
        "\"periods\"", "\"id\"", "\"entries\"", "\"period\"", "\"except\"", "\"subject\"",
        "\"grade\"", "\"class\"", "\"teacher\"", "\"course\"", "\"school\"", "\"hall\"",
        "\"lesson_type\"", "\"title\"", "\"record\"", "\"live\"", "\"description\"",
        "\"keywords\"", "\"mon\"", "\"sun\"", "\"周三\"", "\"2026-12-07\"", "\"2026-03-29\"",
        "\"08:00\"", "\"08:45:30\"", "\"02:30\"", "\"23:59:59\"", "\"open\"", "\"示范课\"",
        "\"{grade}{class} {subject}\"", "\"{type}\"", "\"{{\"", "\"Asia/Shanghai\"",
        "\"Europe/Berlin\"", "true", "false", "null", "1",
    };
    const char *top = fuzz_scratch_dir("timetable");
    fuzz_use_words(argc, argv, top, "timetable", dict, sizeof dict / sizeof dict[0]);
    return 0;
}

static void check_expansion(const lb_timetable *tt, const char *tz, int64_t from, int64_t to,
                            int no_overlap)
{
    lb_schedule_occurrence *occ = NULL;
    int nb = 0;
    char err[512] = "";
    if (lb_timetable_expand(tt, tz, from, to, &occ, &nb, err, sizeof err) < 0) {
        if (!err[0])
            fuzz_fail("expansion failed without a message");
        if (!strstr(err, "more than") && !strstr(err, "unknown time zone"))
            fuzz_fail("unexpected expansion error: %s", err);
        return;
    }
    for (int i = 0; i < nb; i++) {
        const lb_schedule_occurrence *o = &occ[i];
        if (o->end_s <= o->start_s || o->start_s >= to || o->end_s <= from)
            fuzz_fail("lesson %s: %lld-%lld, window %lld-%lld", o->meta.schedule_uid,
                      (long long)o->start_s, (long long)o->end_s, (long long)from, (long long)to);
        const char *at = strchr(o->meta.schedule_uid, '@');
        if (!at || at == o->meta.schedule_uid || strlen(at) != 11 || !o->meta.title[0])
            fuzz_fail("lesson '%s' has schedule_uid '%s'", o->meta.title, o->meta.schedule_uid);
        if (o->origin != LB_SCHEDULE_TIMETABLE || (o->meta.live != LB_LIVE_YES &&
                                                  o->meta.live != LB_LIVE_NO))
            fuzz_fail("lesson %s: origin %d live %d", o->meta.schedule_uid, o->origin,
                      o->meta.live);
        if (i && occ[i - 1].start_s > o->start_s)
            fuzz_fail("lessons out of order at %d", i);
        if (no_overlap && i && occ[i - 1].end_s > o->start_s)
            fuzz_fail("validated lessons overlap: %s and %s", occ[i - 1].meta.schedule_uid,
                      o->meta.schedule_uid);
    }
    free(occ);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_timetable *tt = NULL, *again = NULL;
    char err[512] = "";

    if (lb_timetable_parse(&tt, (const char *)data, size, err, sizeof err) < 0) {
        if (tt || !err[0])
            fuzz_fail("a refused timetable: no message (or a timetable left): '%s'", err);
        return 0;
    }
    char *json = lb_timetable_to_json(tt);
    if (!json)
        fuzz_fail("to_json failed");
    if (lb_timetable_parse(&again, json, strlen(json), err, sizeof err) < 0)
        fuzz_fail("the canonical form does not read back: %s\n%s", err, json);
    char *json2 = lb_timetable_to_json(again);
    if (!json2 || strcmp(json, json2))
        fuzz_fail("the canonical form is not a fixed point:\n%s\n---\n%s", json,
                  json2 ? json2 : "(null)");
    free(json);
    free(json2);
    lb_timetable_free(&again);

    /* the week of Monday 2026-12-07 in Shanghai (no DST: no overlaps) */
    int no_overlap = !lb_timetable_timezone(tt) ||
                     !strcmp(lb_timetable_timezone(tt), "Asia/Shanghai");
    check_expansion(tt, "Asia/Shanghai", INT64_C(1796572800), INT64_C(1797177600), no_overlap);
    /* Europe/Berlin springs forward on 2026-03-29 */
    check_expansion(tt, "Europe/Berlin", INT64_C(1774566000), INT64_C(1774911600), 0);
    lb_timetable_free(&tt);
    if (tt)
        fuzz_fail("lb_timetable_free left the pointer");
    return 0;
}
