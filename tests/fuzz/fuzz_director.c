/* fuzz_director: a lesson's director.jsonl read back, by each of its
 * readers: luobo recut's (daemon/recut.c, lb_recut_log_check: the header of
 * format 2 and the settings it carries, then every record) and the
 * library's (webui/recut.c: GET .../shots' spans and the edited log a
 * POST .../recut writes, webui_recut_log_read_back).  The input is the file
 * as the lesson folder holds it (docs/director-jsonl.md); the corpus holds
 * real ones the tests wrote.
 *
 * Oracles beyond the sanitizers:
 *   - luobo recut accepts the log or says why, naming the file;
 *   - the shots answer prints as JSON that parses again, with at most 4000
 *     spans (exactly 4000 when "truncated"), each with a numeric start;
 *   - the edited log is one JSON object with a numeric "t" per line, and no
 *     line of the lesson's own lies strictly inside the edited range;
 *   - a log luobo recut accepts is still accepted once edited (with the
 *     header of the lesson's own, as the re-cut reads it): the library
 *     never hands the re-cut a log it refuses. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz_common.h"
#include "lb_log.h"
#include "pipeline_priv.h"
#include "webui_priv.h"

static char log_path[PATH_MAX], edited_path[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const dict[] = {
        "\"t\":", "\"shot\":", "\"layout\":", "\"sources\":", "\"reason\":", "\"crop\":", "\"vcam\"",
        "\"pan\":true", "\"format\":\"luobo-director\"", "\"v\":2", "\"program\":", "\"width\":",
        "\"height\":", "\"fps_num\":", "\"fps_den\":", "\"mics\":", "\"config\":", "\"director\":",
        "\"encoder\":", "\"t0_us\":", "\"single\"", "\"pip\"", "\"sbs\"", "\"teacher\"", "\"students\"",
        "\"name\":", "\"role\":", "\"x\":", "\"tx\":", "\"tw\":", "\"smooth_s\":", "\"speed\":",
        "\"dead_zone\":", "1e308", "-0", "\n", "null",
    };
    const char *top = fuzz_scratch_dir("director");
    snprintf(log_path, sizeof log_path, "%s/director.jsonl", top);
    snprintf(edited_path, sizeof edited_path, "%s/.recut-edit.jsonl", top);
    fuzz_use_words(argc, argv, top, "director", dict, sizeof dict / sizeof dict[0]);
    lb_log_set_level(LB_LOG_ERROR);
    return 0;
}

static void check_shots(const cJSON *shots)
{
    char *text = cJSON_PrintUnformatted(shots);
    cJSON *again = text ? cJSON_Parse(text) : NULL;
    if (!again)
        fuzz_fail("the shots answer does not print as JSON");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(again, "shots"), *s;
    int n = cJSON_GetArraySize(arr), truncated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(again, "truncated"));
    if (!cJSON_IsArray(arr) || n > 4000 || (truncated && n != 4000))
        fuzz_fail("%d shots%s", n, truncated ? ", truncated" : "");
    cJSON_ArrayForEach(s, arr)
        if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "start")))
            fuzz_fail("a shot without a start");
    cJSON_Delete(again);
    free(text);
}

/* every line an object with "t"; none of the lesson's own inside the
 * range when its times go forward */
static void check_edited(const char *edited, double from_s, double to_s, int in_order)
{
    int line = 0, inside = 0;
    for (const char *s = edited, *e; *s; s = e + 1) {
        e = strchr(s, '\n');
        if (!e)
            fuzz_fail("the edited log's last line has no newline");
        line++;
        cJSON *o = cJSON_ParseWithLength(s, (size_t)(e - s));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "t");
        if (!cJSON_IsObject(o) || !cJSON_IsNumber(t))
            fuzz_fail("line %d of the edited log is no object with \"t\": %.*s", line, (int)(e - s), s);
        double v = t->valuedouble;
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(o, "reason");
        int ours = cJSON_IsString(reason) && !strcmp(reason->valuestring, "operator: re-cut");
        if (in_order && v > from_s + 0.001 && v < to_s - 0.001 && !ours)
            inside++;
        cJSON_Delete(o);
    }
    if (inside)
        fuzz_fail("%d lines of the lesson's log are left inside the edit %.3f-%.3f", inside, from_s, to_s);
}

/* the lines' times never go back (as luobo recut requires) */
static int times_in_order(const char *text)
{
    double last = -INFINITY;
    for (const char *s = text, *e; *s; s = e) {
        e = strchr(s, '\n');
        e = e ? e + 1 : s + strlen(s);
        cJSON *o = cJSON_ParseWithLength(s, (size_t)(e - s));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "t");
        int back = cJSON_IsNumber(t) && t->valuedouble < last;
        if (cJSON_IsNumber(t))
            last = t->valuedouble;
        cJSON_Delete(o);
        if (back)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1200];
    cJSON *shots = NULL;
    double from_s = 0, to_s = 0;

    fuzz_write_file(log_path, data, size);
    remove(edited_path);
    int daemon_ok = lb_recut_log_check(log_path, NULL, err, sizeof err) >= 0;
    if (!daemon_ok && !strstr(err, log_path))
        fuzz_fail("luobo recut refused the log without naming it: '%s'", err);

    /* the library reads the file as a C string, as its read_text() does */
    char *text = fuzz_strndup(data, size);
    int ret = webui_recut_log_read_back(text, 0, edited_path, &shots, &from_s, &to_s);
    if (ret == -1) {
        if (shots)
            fuzz_fail("shots for a log that is not of format 2");
    } else {
        if (!shots)
            fuzz_fail("no shots answer for a log of format 2");
        check_shots(shots);
        if (ret < 0)
            fuzz_fail("the edited log could not be written: %d", ret);
        if (ret == 0) {
            char *edited = fuzz_read_file(edited_path, NULL);
            if (!edited)
                fuzz_fail("no edited log");
            check_edited(edited, from_s, to_s, times_in_order(text));
            free(edited);
            if (daemon_ok && lb_recut_log_check(log_path, edited_path, err, sizeof err) < 0)
                fuzz_fail("luobo recut takes the log but not the library's edit of it: %s", err);
        }
    }
    cJSON_Delete(shots);
    free(text);
    return 0;
}
