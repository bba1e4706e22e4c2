/* A lesson's metadata: what the city's resource platform files a lesson
 * under.  Shared by the schedule (an entry's metadata), the daemon (the
 * API's and the command line's), the streamer (lesson.json, episode.xml,
 * the MP4 tags) and the web UI.  Plain data: fixed-size strings so it can
 * be copied through the lifecycle's events without allocation.  Strings
 * are UTF-8; "" is unset. */
#ifndef LB_META_H
#define LB_META_H

#include <stddef.h>

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

#endif
