/* The director's reasons as codes with parameters, beside the English text.
 *
 * A reason is English made by the rules (rules.c, director.c): parts joined
 * by "; " ("mic teacher speaking (-21 dBFS); cam2 lost").  Each part that a
 * template here matches becomes {"code", "params"}; one that none matches
 * becomes {"text"}.  The console translates the codes (reason_CODE in
 * webui/www/i18n.js) and shows an unknown part as it is.  The templates are
 * the printf formats the rules write with (LB_REASON_* in
 * director_internal.h); test_director checks every entry against i18n.js. */
#include <stdio.h>
#include <string.h>

#include "director.h"
#include "director_internal.h"
#include "lb_text.h"

/* more specific first: "%s" takes the shortest text that lets the rest match */
static const lb_text_code reasons[] = {
    { "operator", LB_REASON_OPERATOR, { 0 } },
    { "operator_recut", LB_REASON_OPERATOR_RECUT, { 0 } },
    { "mic_speaking_camera_lost", LB_REASON_MIC_SPEAKING_CAMERA_LOST, { "mic", "dbfs", "source" } },
    { "mic_speaking", LB_REASON_MIC_SPEAKING, { "mic", "dbfs" } },
    { "student_standing_zone_closeup", LB_REASON_STUDENT_STANDING_ZONE_CLOSEUP, { "presence", "motion", "zone" } },
    { "student_standing_zone", LB_REASON_STUDENT_STANDING_ZONE, { "presence", "motion", "zone" } },
    { "student_standing_closeup", LB_REASON_STUDENT_STANDING_CLOSEUP, { "presence", "motion", "source" } },
    { "student_standing", LB_REASON_STUDENT_STANDING, { "presence", "motion", "source" } },
    { "new_slide", LB_REASON_NEW_SLIDE, { "source", "age_s" } },
    { "slide_teacher_inset", LB_REASON_SLIDE_TEACHER_INSET, { "source", "age_s" } },
    { "slide", LB_REASON_SLIDE, { "source", "age_s" } },
    { "video", LB_REASON_VIDEO, { "source", "motion" } },
    { "board_writing", LB_REASON_BOARD_WRITING, { "source", "marks_pct", "window_s", "last_s", "who", "seen_s" } },
    { "idle", LB_REASON_IDLE, { "role" } },
    { "cutaway_teacher_inset", LB_REASON_CUTAWAY_TEACHER_INSET, { "after_s", "source" } },
    { "cutaway", LB_REASON_CUTAWAY, { "after_s", "source" } },
    { "source_lost", LB_REASON_SOURCE_LOST, { "source" } },
};

const lb_text_code *lb_director_reason_codes(size_t *nb)
{
    *nb = sizeof reasons / sizeof reasons[0];
    return reasons;
}

cJSON *lb_director_reasons_json(const char *reason)
{
    cJSON *arr = cJSON_CreateArray();
    char part[512];
    const char *p = reason ? reason : "";
    while (arr && *p) {
        const char *sep = strstr(p, "; ");
        size_t len = sep ? (size_t)(sep - p) : strlen(p);
        snprintf(part, sizeof part, "%.*s", (int)(len < sizeof part ? len : sizeof part - 1), p);
        cJSON *o = cJSON_CreateObject(), *params = cJSON_CreateObject();
        const lb_text_code *c = o && params ? lb_text_code_find(part, reasons, sizeof reasons / sizeof reasons[0],
                                                                params) : NULL;
        if (c) {
            cJSON_AddStringToObject(o, "code", c->code);
            cJSON_AddItemToObject(o, "params", params);
        } else {
            cJSON_Delete(params);
            if (o)
                cJSON_AddStringToObject(o, "text", part);
        }
        if (o)
            cJSON_AddItemToArray(arr, o);
        p = sep ? sep + 2 : p + len;
    }
    return arr;
}
