/* A lesson's metadata: the lesson types, title templates, and the
 * metadata's members in lesson.json and the API (checked as hostile input:
 * lesson.json is read back from the data folder). */
#include "lb_meta.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <libavutil/error.h>

#include "lb_clock.h"

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

/* ---- lesson.json and the API ---- */

int lb_meta_check_text(const char *s, size_t max_len, int multiline, char *why, size_t why_size)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (p[i]) {
        if (i >= max_len) {
            snprintf(why, why_size, "longer than %zu bytes", max_len);
            return -1;
        }
        unsigned c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 || c == 0x7f) && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) {
                snprintf(why, why_size, "a control character (0x%02x) at byte %zu", c, i);
                return -1;
            }
            i++;
            continue;
        }
        /* UTF-8: the sequence's length, its first code point, and each
         * continuation byte 10xxxxxx */
        int n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        uint32_t cp = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
        for (int k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                n = 0;
                break;
            }
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (!n || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            snprintf(why, why_size, "not valid UTF-8 at byte %zu", i);
            return -1;
        }
        if (cp == 0xfffe || cp == 0xffff) {
            snprintf(why, why_size, "a noncharacter (U+%04X) at byte %zu", (unsigned)cp, i);
            return -1;
        }
        if (cp >= 0x80 && cp <= 0x9f) {
            snprintf(why, why_size, "a control character (U+%04X) at byte %zu", (unsigned)cp, i);
            return -1;
        }
        i += (size_t)n;
    }
    return 0;
}

typedef struct text_member {
    const char *key;
    unsigned bit;
    size_t offset, size;
    int multiline;
} text_member;

#define TEXT(key, bit, field, ml) { key, bit, offsetof(lb_lesson_meta, field), \
                                    sizeof(((lb_lesson_meta *)0)->field), ml }
static const text_member text_members[] = {
    TEXT("title", LB_META_TITLE, title, 0),
    TEXT("teacher", LB_META_TEACHER, teacher, 0),
    TEXT("course", LB_META_COURSE, course, 0),
    TEXT("subject", LB_META_SUBJECT, subject, 0),
    TEXT("grade", LB_META_GRADE, grade, 0),
    TEXT("class", LB_META_CLASS, class_name, 0),
    TEXT("school", LB_META_SCHOOL, school, 0),
    TEXT("hall", LB_META_HALL, hall, 0),
    TEXT("description", LB_META_DESCRIPTION, description, 1),
    TEXT("language", LB_META_LANGUAGE, language, 0),
    TEXT("schedule_uid", LB_META_SCHEDULE_UID, schedule_uid, 0),
};
#undef TEXT
#define NB_TEXT (sizeof text_members / sizeof text_members[0])

/* One member into m; 0 or -1 with err. */
static int read_member(lb_lesson_meta *m, const cJSON *v, const char *key, char *err, size_t err_size)
{
    char why[96];
    for (size_t i = 0; i < NB_TEXT; i++) {
        const text_member *t = &text_members[i];
        if (strcmp(key, t->key))
            continue;
        char *dst = (char *)m + t->offset;
        if (cJSON_IsNull(v)) {
            dst[0] = 0;
            return 0;
        }
        if (!cJSON_IsString(v) || !v->valuestring) {
            snprintf(err, err_size, "'%s' must be a string", key);
            return -1;
        }
        if (lb_meta_check_text(v->valuestring, t->size - 1, t->multiline, why, sizeof why) < 0) {
            snprintf(err, err_size, "'%s': %s", key, why);
            return -1;
        }
        snprintf(dst, t->size, "%s", v->valuestring);
        return 0;
    }
    if (!strcmp(key, "lesson_type")) {
        lb_lesson_type t = LB_LESSON_TYPE_UNSET;
        if (!cJSON_IsNull(v) && !(cJSON_IsString(v) && v->valuestring && !*v->valuestring)) {
            if (!cJSON_IsString(v) || !v->valuestring) {
                snprintf(err, err_size, "'lesson_type' must be a string");
                return -1;
            }
            if (!(t = lb_lesson_type_parse(v->valuestring))) {
                int bad = lb_meta_check_text(v->valuestring, 32, 0, why, sizeof why) < 0;
                snprintf(err, err_size, "'lesson_type': unknown lesson type%s%.32s%s (ordinary, open, "
                         "quality, demonstration, or 常态课, 公开课, 优质课, 示范课)",
                         bad ? "" : " '", bad ? "" : v->valuestring, bad ? "" : "'");
                return -1;
            }
        }
        m->lesson_type = t;
        return 0;
    }
    if (!strcmp(key, "schedule_end")) {
        long long end_s = 0;
        /* 4102444800: 2100-01-01, far past any lesson; keeps a hostile number in range */
        if (cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 4102444800.0)
            end_s = (long long)v->valuedouble;
        else if (cJSON_IsString(v) && v->valuestring)
            end_s = lb_clock_parse_iso8601(v->valuestring);
        else if (!cJSON_IsNull(v))
            end_s = -1;
        if (end_s < 0 || end_s >= 4102444800LL) {
            snprintf(err, err_size, "'schedule_end' must be Unix seconds or ISO 8601 with a zone "
                     "(2026-12-07T08:45:00+08:00)");
            return -1;
        }
        m->schedule_end_s = end_s;
        return 0;
    }
    if (!strcmp(key, "live")) {
        if (!cJSON_IsBool(v) && !cJSON_IsNull(v)) {
            snprintf(err, err_size, "'live' must be true or false");
            return -1;
        }
        m->live = cJSON_IsNull(v) ? LB_LIVE_UNSET : cJSON_IsTrue(v) ? LB_LIVE_YES : LB_LIVE_NO;
        return 0;
    }
    /* keywords */
    if (cJSON_IsNull(v)) {
        m->nb_keywords = 0;
        return 0;
    }
    if (!cJSON_IsArray(v)) {
        snprintf(err, err_size, "'keywords' must be an array of strings");
        return -1;
    }
    char kw[LB_META_MAX_KEYWORDS][sizeof m->keywords[0]];
    int n = 0;
    for (const cJSON *k = v->child; k; k = k->next) {
        if (n == LB_META_MAX_KEYWORDS) {
            snprintf(err, err_size, "'keywords': more than %d", LB_META_MAX_KEYWORDS);
            return -1;
        }
        if (!cJSON_IsString(k) || !k->valuestring) {
            snprintf(err, err_size, "'keywords'[%d] must be a string", n);
            return -1;
        }
        if (lb_meta_check_text(k->valuestring, sizeof kw[0] - 1, 0, why, sizeof why) < 0) {
            snprintf(err, err_size, "'keywords'[%d]: %s", n, why);
            return -1;
        }
        if (!*k->valuestring)
            continue;                     /* an empty keyword says nothing */
        snprintf(kw[n++], sizeof kw[0], "%s", k->valuestring);
    }
    memcpy(m->keywords, kw, sizeof kw[0] * (size_t)n);
    m->nb_keywords = n;
    return 0;
}

static const struct {
    const char *key;
    unsigned bit;
} other_members[] = {
    { "lesson_type", LB_META_LESSON_TYPE }, { "keywords", LB_META_KEYWORDS },
    { "schedule_end", LB_META_SCHEDULE_END }, { "live", LB_META_LIVE },
};
#define NB_OTHER (sizeof other_members / sizeof *other_members)

int lb_meta_from_json(lb_lesson_meta *m, const cJSON *obj, unsigned flags, char *err, size_t err_size)
{
    unsigned mask = 0;
    char e[256];
    if (err_size)
        err[0] = 0;
    if (!cJSON_IsObject(obj)) {
        snprintf(err, err_size, "not a JSON object");
        return -1;
    }
    for (size_t i = 0; i < NB_TEXT + NB_OTHER; i++) {
        const char *key = i < NB_TEXT ? text_members[i].key : other_members[i - NB_TEXT].key;
        unsigned bit = i < NB_TEXT ? text_members[i].bit : other_members[i - NB_TEXT].bit;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (!v)
            continue;
        if (read_member(m, v, key, e, sizeof e) < 0) {
            if (!(flags & LB_META_LENIENT)) {
                snprintf(err, err_size, "%s", e);
                return -1;
            }
            if (err_size && !err[0])
                snprintf(err, err_size, "%s", e);
            continue;
        }
        mask |= bit;
    }
    return (int)mask;
}

static int set_member(cJSON *obj, const char *key, cJSON *v)
{
    if (!v)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v) ? 0 : (cJSON_Delete(v), -1);
    return cJSON_AddItemToObject(obj, key, v) ? 0 : (cJSON_Delete(v), -1);
}

int lb_meta_to_json(const lb_lesson_meta *m, unsigned mask, cJSON *obj)
{
    int ret = 0;
    for (size_t i = 0; i < NB_TEXT; i++) {
        const text_member *t = &text_members[i];
        const char *v = (const char *)m + t->offset;
        if (!(mask & t->bit))
            continue;
        if ((t->bit == LB_META_SCHEDULE_UID || t->bit == LB_META_LANGUAGE) && !*v) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, t->key);   /* absent when unset */
            continue;
        }
        ret |= set_member(obj, t->key, cJSON_CreateString(v));
    }
    if (mask & LB_META_LESSON_TYPE) {
        const char *name = lb_lesson_type_name(m->lesson_type);
        ret |= set_member(obj, "lesson_type", name ? cJSON_CreateString(name) : cJSON_CreateNull());
    }
    if (mask & LB_META_KEYWORDS) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; arr && i < m->nb_keywords && i < LB_META_MAX_KEYWORDS; i++) {
            cJSON *k = cJSON_CreateString(m->keywords[i]);
            if (!k || !cJSON_AddItemToArray(arr, k)) {
                cJSON_Delete(k);
                ret = -1;
            }
        }
        ret |= set_member(obj, "keywords", arr);
    }
    if (mask & LB_META_SCHEDULE_END) {
        if (m->schedule_end_s > 0)
            ret |= set_member(obj, "schedule_end", cJSON_CreateNumber((double)m->schedule_end_s));
        else
            cJSON_DeleteItemFromObjectCaseSensitive(obj, "schedule_end");   /* absent when unset */
    }
    if (mask & LB_META_LIVE) {
        if (m->live == LB_LIVE_YES || m->live == LB_LIVE_NO)
            ret |= set_member(obj, "live", cJSON_CreateBool(m->live == LB_LIVE_YES));
        else
            cJSON_DeleteItemFromObjectCaseSensitive(obj, "live");
    }
    return ret ? -1 : 0;
}

void lb_meta_copy(lb_lesson_meta *dst, const lb_lesson_meta *src, unsigned mask)
{
    for (size_t i = 0; i < NB_TEXT; i++)
        if (mask & text_members[i].bit)
            memcpy((char *)dst + text_members[i].offset, (const char *)src + text_members[i].offset,
                   text_members[i].size);
    if (mask & LB_META_LESSON_TYPE)
        dst->lesson_type = src->lesson_type;
    if (mask & LB_META_KEYWORDS) {
        memcpy(dst->keywords, src->keywords, sizeof dst->keywords);
        dst->nb_keywords = src->nb_keywords;
    }
    if (mask & LB_META_SCHEDULE_END)
        dst->schedule_end_s = src->schedule_end_s;
    if (mask & LB_META_LIVE)
        dst->live = src->live;
}

int lb_json_int64(const cJSON *n, int64_t min, int64_t max, int64_t *out)
{
    if (!cJSON_IsNumber(n))
        return AVERROR(EINVAL);
    if (!(n->valuedouble >= (double)min && n->valuedouble <= (double)max))
        return AVERROR(ERANGE);
    *out = (int64_t)n->valuedouble;
    return 0;
}
