/* The director's reasons as codes with parameters, beside the English text.
 *
 * A reason is English made by the rules (rules.c, director.c): parts joined
 * by "; " ("mic teacher speaking (-21 dBFS); cam2 lost").  Each part that a
 * template here matches becomes {"code", "params"}; one that none matches
 * becomes {"text"}.  The console translates the codes (reason_CODE in
 * webui/www/i18n.js) and shows an unknown part as it is.  A rule whose
 * sentence changes changes its line here (tests/director checks some). */
#include <stdio.h>
#include <string.h>

#include "director.h"
#include "lb_text.h"

/* more specific first: "%s" takes the shortest text that lets the rest match */
static const lb_text_code reasons[] = {
    { "operator", "operator", { 0 } },
    { "mic_speaking_camera_lost", "mic %s speaking (%f dBFS), its camera lost: %s", { "mic", "dbfs", "source" } },
    { "mic_speaking", "mic %s speaking (%f dBFS)", { "mic", "dbfs" } },
    { "student_standing_zone_closeup", "student standing: presence %f, motion %f in zone %s, close-up",
      { "presence", "motion", "zone" } },
    { "student_standing_zone", "student standing: presence %f, motion %f in zone %s", { "presence", "motion", "zone" } },
    { "student_standing_closeup", "student standing: presence %f, motion %f in %s, close-up",
      { "presence", "motion", "source" } },
    { "student_standing", "student standing: presence %f, motion %f in %s", { "presence", "motion", "source" } },
    { "new_slide", "new slide on %s %f s ago", { "source", "age_s" } },
    { "slide_teacher_inset", "slide on %s since %f s, teacher in picture", { "source", "age_s" } },
    { "slide", "slide on %s since %f s", { "source", "age_s" } },
    { "video", "video playing on %s (motion %f)", { "source", "motion" } },
    { "board_writing", "teacher writing: new marks on %s (%f%% of the board in %f s, last %f s ago), "
      "%s at the board %f s ago", { "source", "marks_pct", "window_s", "last_s", "who", "seen_s" } },
    { "idle", "nothing going on: %s", { "role" } },
    { "cutaway_teacher_inset", "cutaway after %f s on %s, teacher in picture", { "after_s", "source" } },
    { "cutaway", "cutaway after %f s on %s", { "after_s", "source" } },
    { "source_lost", "%s lost", { "source" } },
};

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
