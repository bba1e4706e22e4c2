/* fuzz_library: the library's query, GET /api/v1/recordings?..., below
 * libwebsockets: webui_library_query_parse() (every key of DESIGN's
 * "Library queries": q, subject, grade, lesson_type, status, upload,
 * from, to, sort, offset, limit), then the parsed filter matched against a
 * few lessons (webui_library_matches) and the matches sorted
 * (webui_library_sort), as list_recordings() does.
 *
 * The input: its first line is the query as lws hands it over, fragments
 * split at '&' (urldecoded already: any byte but NUL may be in one); the
 * rest, if any, is one more lesson.json, which joins the fixed lessons with
 * the id its folder would give it (as the library's lesson_json() does).
 *
 * Oracles beyond the sanitizers:
 *   - the parse answers 0 or -400; a refusal has a message, one line of
 *     printable text (it goes into the 400's JSON as is);
 *   - an accepted query holds only values the API documents: limit 0-1000,
 *     offset 0-10^9, a known status, upload state, lesson type (canonical
 *     name) and sort key, real dates with from <= to;
 *   - the same fragments parse to the same filter twice (no hidden state);
 *   - a lesson that matches has what the filter asks for (its status,
 *     subject and grade equal, q in its title, teacher or subject, its day
 *     inside from..to); a query without filters matches every lesson;
 *   - the sort keeps every match, each once. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz_common.h"
#include "lb_log.h"
#include "webui_priv.h"

#define MAX_FRAGS (WEBUI_QUERY_MAX_FRAGMENTS + 4)

static const char *const fixed[] = {
    "{\"id\":\"20261204-080000-math\",\"title\":\"Fractions\",\"teacher\":\"Wang Li\",\"subject\":\"math\","
    "\"grade\":\"7\",\"lesson_type\":\"open\",\"status\":\"complete\",\"started_at\":\"2026-12-04T08:00:00+08:00\","
    "\"duration_s\":2700,\"upload\":{\"state\":\"done\"}}",
    "{\"id\":\"20261205-100000-english\",\"title\":\"英语阅读\",\"teacher\":\"Zhang\",\"subject\":\"english\","
    "\"grade\":\"8\",\"lesson_type\":\"公开课\",\"status\":\"interrupted\",\"started_at\":\"2026-12-05T10:00:00+08:00\","
    "\"duration_s\":12.5,\"upload\":\"queued\"}",
    "{\"id\":\"20261205-110000-odd\",\"title\":7,\"teacher\":null,\"subject\":[\"math\"],\"grade\":{},"
    "\"lesson_type\":\"bogus\",\"status\":\"recording\",\"started_at\":\"2026\",\"duration_s\":\"long\","
    "\"upload\":{\"state\":5}}",
    "{\"id\":\"20261206-090000-bare\"}",
};
#define NB_FIXED (int)(sizeof fixed / sizeof fixed[0])

static cJSON *lessons[NB_FIXED];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const dict[] = {
        "q=", "subject=", "grade=", "lesson_type=", "status=", "upload=", "from=", "to=", "sort=",
        "offset=", "limit=", "&", "-", "started_at", "title", "duration_s", "teacher", "subject",
        "recording", "complete", "interrupted", "none", "queued", "uploading", "waiting", "failed",
        "done", "ordinary", "open", "quality", "demonstration", "公开课", "2026-02-29", "2024-02-29",
        "1000", "1001", "-1", "\"status\"", "\"upload\"", "\"state\"", "\"started_at\"", "\xed\xa0\x80",
    };
    for (int i = 0; i < NB_FIXED; i++)
        if (!(lessons[i] = cJSON_Parse(fixed[i])))
            fuzz_fail("fixed lesson %d does not parse", i);
    fuzz_use_words(argc, argv, fuzz_scratch_dir("library"), "library", dict, sizeof dict / sizeof dict[0]);
    lb_log_set_level(LB_LOG_ERROR);
    return 0;
}

static const char *str(const cJSON *l, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(l, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int in(const char *v, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(v, *list))
            return 1;
    return 0;
}

static void check_text(const char *what, const char *s, size_t size)
{
    if (!memchr(s, 0, size))
        fuzz_fail("%s is not terminated", what);
}

static void check_query(const webui_library_query *lq)
{
    static const char *const statuses[] = { "recording", "complete", "interrupted", NULL };
    static const char *const uploads[] = { "none", "queued", "uploading", "waiting", "failed", "done", NULL };
    static const char *const types[] = { "ordinary", "open", "quality", "demonstration", NULL };
    static const char *const sorts[] = { "started_at", "title", "duration_s", "teacher", "subject", NULL };
    check_text("q", lq->q, sizeof lq->q);
    check_text("subject", lq->subject, sizeof lq->subject);
    check_text("grade", lq->grade, sizeof lq->grade);
    check_text("lesson_type", lq->lesson_type, sizeof lq->lesson_type);
    check_text("status", lq->status, sizeof lq->status);
    check_text("upload", lq->upload, sizeof lq->upload);
    check_text("from", lq->from, sizeof lq->from);
    check_text("to", lq->to, sizeof lq->to);
    check_text("sort", lq->sort, sizeof lq->sort);
    if (lq->limit < 0 || lq->limit > 1000 || lq->offset < 0 || lq->offset > 1000000000L)
        fuzz_fail("limit %ld, offset %ld accepted", lq->limit, lq->offset);
    if (*lq->status && !in(lq->status, statuses))
        fuzz_fail("status '%s' accepted", lq->status);
    if (*lq->upload && !in(lq->upload, uploads))
        fuzz_fail("upload '%s' accepted", lq->upload);
    if (*lq->lesson_type && !in(lq->lesson_type, types))
        fuzz_fail("lesson_type '%s' accepted (not its canonical name)", lq->lesson_type);
    if (*lq->sort && !in(*lq->sort == '-' ? lq->sort + 1 : lq->sort, sorts))
        fuzz_fail("sort '%s' accepted", lq->sort);
    const char *dates[2] = { lq->from, lq->to };
    for (int i = 0; i < 2; i++) {
        const char *d = dates[i];
        if (*d && (strlen(d) != 10 || d[4] != '-' || d[7] != '-' || strspn(d, "0123456789-") != 10))
            fuzz_fail("date '%s' accepted", d);
    }
    if (*lq->from && *lq->to && strcmp(lq->from, lq->to) > 0)
        fuzz_fail("from %s after to %s accepted", lq->from, lq->to);
}

static int has_nocase(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle);
}

static void check_match(const cJSON *l, const webui_library_query *lq)
{
    const char *id = str(l, "id");
    if (*lq->q && !has_nocase(str(l, "title"), lq->q) && !has_nocase(str(l, "teacher"), lq->q) &&
        !has_nocase(str(l, "subject"), lq->q))
        fuzz_fail("%s matched q '%s' without it in title, teacher or subject", id, lq->q);
    const struct { const char *want, *key; } exact[] = {
        { lq->subject, "subject" }, { lq->grade, "grade" }, { lq->status, "status" },
    };
    for (int i = 0; i < 3; i++) {
        const char *v = str(l, exact[i].key);
        if (*exact[i].want && (!v || strcmp(v, exact[i].want)))
            fuzz_fail("%s matched %s '%s' but has '%s'", id, exact[i].key, exact[i].want, v ? v : "(none)");
    }
    const char *day = str(l, "started_at");
    if ((*lq->from || *lq->to) && (!day || strlen(day) < 10))
        fuzz_fail("%s matched a date range without a start day", id);
    if ((*lq->from && strncmp(day, lq->from, 10) < 0) || (*lq->to && strncmp(day, lq->to, 10) > 0))
        fuzz_fail("%s (%.10s) matched %s..%s", id, day, lq->from, lq->to);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size), *rest = strchr(text, '\n');
    const char *frags[MAX_FRAGS];
    webui_library_query lq, again;
    char err[1200], err2[1200];
    int nb = 0;

    if (rest)
        *rest++ = 0;
    /* "a&&b" has an empty fragment between, as lws gives it */
    for (char *s = text, *amp; nb < MAX_FRAGS; s = amp + 1) {
        amp = strchr(s, '&');
        frags[nb++] = s;
        if (!amp)
            break;
        *amp = 0;
    }
    if (nb == 1 && !*frags[0])
        nb = 0;                               /* no query at all */
    memset(err, 0x55, sizeof err);
    int ret = webui_library_query_parse(frags, nb, &lq, err, sizeof err);
    if (ret != 0 && ret != -400)
        fuzz_fail("the parse answered %d", ret);
    if (ret < 0) {
        if (!memchr(err, 0, sizeof err) || !*err)
            fuzz_fail("a refusal without a message");
        for (const unsigned char *p = (const unsigned char *)err; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                fuzz_fail("the message carries byte 0x%02x: %s", *p, err);
        free(text);
        return 0;
    }
    check_query(&lq);
    if (webui_library_query_parse(frags, nb, &again, err2, sizeof err2) != 0 || memcmp(&lq, &again, sizeof lq))
        fuzz_fail("the same query parsed twice differs");

    const cJSON *items[NB_FIXED + 1];
    cJSON *extra = rest ? cJSON_Parse(rest) : NULL;
    int nb_items = 0, nb_lessons = 0;
    const cJSON *all[NB_FIXED + 1];
    for (int i = 0; i < NB_FIXED; i++)
        all[nb_lessons++] = lessons[i];
    if (cJSON_IsObject(extra)) {
        cJSON_DeleteItemFromObjectCaseSensitive(extra, "id");
        cJSON_AddStringToObject(extra, "id", "20261207-120000-fuzzed");
        all[nb_lessons++] = extra;
    }
    webui_library_query none;
    memset(&none, 0, sizeof none);
    for (int i = 0; i < nb_lessons; i++) {
        if (!webui_library_matches(all[i], &none))
            fuzz_fail("%s does not match a query without filters", str(all[i], "id"));
        if (webui_library_matches(all[i], &lq)) {
            check_match(all[i], &lq);
            items[nb_items++] = all[i];
        }
    }
    webui_library_sort(items, nb_items, &lq);
    for (int i = 0; i < nb_items; i++)
        for (int j = i + 1; j < nb_items; j++)
            if (items[i] == items[j])
                fuzz_fail("the sort lists %s twice", str(items[i], "id"));
    cJSON_Delete(extra);
    free(text);
    return 0;
}
