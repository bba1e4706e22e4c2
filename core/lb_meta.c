#include "lb_meta.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name, *label;
} lesson_types[LB_LESSON_TYPE_NB] = {
    [LB_LESSON_TYPE_ORDINARY] = { "ordinary", "常态课" },
    [LB_LESSON_TYPE_OPEN] = { "open", "公开课" },
    [LB_LESSON_TYPE_QUALITY] = { "quality", "优质课" },
    [LB_LESSON_TYPE_DEMONSTRATION] = { "demonstration", "示范课" },
};

const char *lb_lesson_type_name(lb_lesson_type t)
{
    return t > LB_LESSON_TYPE_UNSET && t < LB_LESSON_TYPE_NB ? lesson_types[t].name : NULL;
}

const char *lb_lesson_type_label(lb_lesson_type t)
{
    return t > LB_LESSON_TYPE_UNSET && t < LB_LESSON_TYPE_NB ? lesson_types[t].label : NULL;
}

lb_lesson_type lb_lesson_type_parse(const char *s)
{
    if (!s)
        return LB_LESSON_TYPE_UNSET;
    for (int t = LB_LESSON_TYPE_UNSET + 1; t < LB_LESSON_TYPE_NB; t++)
        if (!strcmp(s, lesson_types[t].name) || !strcmp(s, lesson_types[t].label))
            return t;
    return LB_LESSON_TYPE_UNSET;
}

static const char *field(const lb_lesson_meta *m, const char *name, size_t len)
{
#define IS(s) (len == sizeof(s) - 1 && !memcmp(name, s, len))
    if (IS("title"))   return m->title;
    if (IS("subject")) return m->subject;
    if (IS("grade"))   return m->grade;
    if (IS("class"))   return m->class_name;
    if (IS("teacher")) return m->teacher;
    if (IS("hall"))    return m->hall;
    if (IS("school"))  return m->school;
    if (IS("course"))  return m->course;
    if (IS("type")) {
        const char *label = lb_lesson_type_label(m->lesson_type);
        return label ? label : "";
    }
#undef IS
    return NULL;
}

int lb_meta_expand_title(const char *tmpl, const lb_lesson_meta *m, char *out, size_t out_size,
                         char *err, size_t err_size)
{
    size_t n = 0;
    if (!out_size)
        return -1;
    for (const char *s = tmpl; *s; ) {
        const char *piece = s;
        size_t piece_len = 1;
        if (s[0] == '{' && s[1] == '{') {
            s += 2;
        } else if (s[0] == '{') {
            const char *close = strchr(s + 1, '}');
            if (!close) {
                snprintf(err, err_size, "title template: '{' without '}'");
                return -1;
            }
            piece = field(m, s + 1, (size_t)(close - s - 1));
            if (!piece) {
                snprintf(err, err_size, "title template: unknown field {%.*s} (known: title, "
                         "subject, grade, class, teacher, type, hall, school, course)",
                         (int)(close - s - 1) > 32 ? 32 : (int)(close - s - 1), s + 1);
                return -1;
            }
            piece_len = strlen(piece);
            s = close + 1;
        } else {
            s++;
        }
        if (n + piece_len >= out_size) {
            snprintf(err, err_size, "title template: the title is longer than %zu bytes",
                     out_size - 1);
            return -1;
        }
        memcpy(out + n, piece, piece_len);
        n += piece_len;
    }
    out[n] = 0;
    return 0;
}
