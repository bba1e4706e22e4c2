/* A lesson's metadata: what the city's resource platform files a lesson
 * under.  Shared by the schedule (an entry's metadata), the daemon (the
 * API's and the command line's), the streamer (lesson.json, episode.xml,
 * the MP4 tags) and the web UI.  Plain data: fixed-size strings so it can
 * be copied through the lifecycle's events without allocation.  Strings
 * are UTF-8; "" is unset. */
#ifndef LB_META_H
#define LB_META_H

#include <stddef.h>
#include <stdint.h>

typedef enum lb_lesson_type {
    LB_LESSON_TYPE_UNSET = 0,
    LB_LESSON_TYPE_ORDINARY,        /* 常态课 */
    LB_LESSON_TYPE_OPEN,            /* 公开课 */
    LB_LESSON_TYPE_QUALITY,         /* 优质课 */
    LB_LESSON_TYPE_DEMONSTRATION,   /* 示范课 */
    LB_LESSON_TYPE_NB
} lb_lesson_type;

/* Whether a lesson goes out live (an ordinary lesson is only recorded).
 * Zero is unset, so a zeroed lb_lesson_meta changes nothing. */
typedef enum lb_live {
    LB_LIVE_UNSET = 0,
    LB_LIVE_YES,
    LB_LIVE_NO,
} lb_live;

#define LB_META_MAX_KEYWORDS 16

typedef struct lb_lesson_meta {
    char title[256];
    char teacher[128];
    char course[128];
    char subject[64];
    char grade[64];
    char class_name[64];            /* lesson.json "class" */
    lb_lesson_type lesson_type;
    char school[128];
    char hall[128];
    char description[2048];
    char keywords[LB_META_MAX_KEYWORDS][64];
    int nb_keywords;
    char schedule_uid[256];         /* the timetable entry or iCal UID that started it; "" manual */
    lb_live live;                   /* zero: the outputs as configured */
    char language[32];              /* BCP 47, e.g. "zh-CN"; [general] language */
    /* When the schedule stops the lesson (its entry's end plus post-roll, or
     * a teacher's extension's end), Unix seconds; 0 unset.  lesson.json's
     * "schedule_end": a lesson resumed after a crash stops there, and one
     * whose schedule_end has passed is not resumed. */
    long long schedule_end_s;
} lb_lesson_meta;

/* "ordinary", "open", "quality", "demonstration"; NULL for unset/out of range. */
const char *lb_lesson_type_name(lb_lesson_type t);
/* 常态课, 公开课, 优质课, 示范课; NULL for unset/out of range. */
const char *lb_lesson_type_label(lb_lesson_type t);
/* Accepts the English names above and the Chinese labels.  Returns
 * LB_LESSON_TYPE_UNSET for anything else (the caller names the error). */
lb_lesson_type lb_lesson_type_parse(const char *s);

/* Expands a title template: {title} {subject} {grade} {class} {teacher}
 * {type} (the Chinese label) {hall} {school}; "{{" is "{".  An unknown
 * name is an error naming it.  Returns 0 or -1 with err set. */
int lb_meta_expand_title(const char *tmpl, const lb_lesson_meta *m, char *out, size_t out_size,
                         char *err, size_t err_size);

/* ---- lesson.json and the API ---- */

struct cJSON;

/* One bit per member of lesson.json / the API that lb_meta_from_json()
 * read, so an edit changes only what it was given. */
enum {
    LB_META_TITLE = 1u << 0, LB_META_TEACHER = 1u << 1, LB_META_COURSE = 1u << 2,
    LB_META_SUBJECT = 1u << 3, LB_META_GRADE = 1u << 4, LB_META_CLASS = 1u << 5,
    LB_META_LESSON_TYPE = 1u << 6, LB_META_SCHOOL = 1u << 7, LB_META_HALL = 1u << 8,
    LB_META_DESCRIPTION = 1u << 9, LB_META_KEYWORDS = 1u << 10, LB_META_LANGUAGE = 1u << 11,
    LB_META_SCHEDULE_UID = 1u << 12, LB_META_SCHEDULE_END = 1u << 13, LB_META_LIVE = 1u << 14,
    LB_META_ALL = (1u << 15) - 1,
};

/* Flags of lb_meta_from_json(). */
#define LB_META_LENIENT 1u   /* skip a bad member (the first error still in err) */

/* Reads the metadata members of obj (lesson.json, or an API request's body)
 * into m, leaving the members obj does not have as they are.  Every
 * member is optional; null is "" (lesson_type: unset).  Strings must be
 * valid UTF-8 without control characters (description may hold newlines
 * and tabs) and fit their field; lesson_type is a name or a Chinese label
 * of lb_lesson_type_parse; keywords an array of at most
 * LB_META_MAX_KEYWORDS such strings; live true or false (null: unset,
 * the outputs as configured); schedule_end Unix seconds (a
 * number) or ISO 8601 with a zone ("2026-12-07T08:45:00+08:00", "...Z").
 * obj is treated as hostile: nothing
 * is copied before it was checked.  Returns the mask of the members read,
 * or -1 with err naming the member ("'grade': longer than 63 bytes");
 * with LB_META_LENIENT a bad member is skipped instead (err holds the
 * first such error, "" when none). */
int lb_meta_from_json(lb_lesson_meta *m, const struct cJSON *obj, unsigned flags,
                      char *err, size_t err_size);

/* Sets the members of mask on obj (replacing what is there): every string
 * (also ""), "lesson_type" as its name or null, "keywords" as an array;
 * "schedule_uid" and "language" are left out when empty, "schedule_end"
 * (Unix seconds) when 0, "live" (a boolean) when unset.  0 or -1 (out of
 * memory). */
int lb_meta_to_json(const lb_lesson_meta *m, unsigned mask, struct cJSON *obj);

/* Bounds for times read back from JSON files: milliseconds and seconds
 * since 1970 up to about the year 5000. */
#define LB_JSON_WALL_MS_MAX 100000000000000LL
#define LB_JSON_WALL_S_MAX  100000000000LL

/* A JSON number in [min, max] (|min|, |max| <= 2^62) as an int64 (its
 * fraction dropped) in *out: 0, or AVERROR(EINVAL) when n is not a number
 * and AVERROR(ERANGE) when it is out of range, NaN or infinite (converting
 * those to an integer would be undefined).  For every number a file luobo
 * wrote and reads back gives. */
int lb_json_int64(const struct cJSON *n, int64_t min, int64_t max, int64_t *out);

/* Copies the members of mask from src to dst. */
void lb_meta_copy(lb_lesson_meta *dst, const lb_lesson_meta *src, unsigned mask);

/* Checks that s is valid UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF) of at most max_len bytes without control
 * characters (newline, carriage return and tab allowed when multiline).
 * 0, or -1 with why ("longer than 63 bytes", "not valid UTF-8 at byte 4",
 * "a control character (0x01) at byte 7"). */
int lb_meta_check_text(const char *s, size_t max_len, int multiline, char *why, size_t why_size);

#endif
