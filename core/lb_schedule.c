/* The timetable (课表) and the merge of occurrences; see lb_schedule.h and
 * docs/schedule.md for the document's format.
 *
 * Design note: the document is parsed with cJSON into plain arrays, every
 * key checked against the object's list (unknown and duplicate keys are
 * errors: a typo never silently drops a lesson), then validated as a whole
 * (ids unique, references resolved, overlaps).  Defaults are resolved when
 * parsing (title template, lesson type, record, live), so to_json writes
 * every value explicitly and parse(to_json(tt)) is tt.  Expansion walks the
 * local dates of the window: a date runs the weekday of its make-up day (调休)
 * or its own, inside the term and outside the holidays; one-off entries run
 * on their date whatever the calendar says.  Wall times become UTC through
 * sched_zone_to_utc (libical's zone data, no setenv(TZ)). */
#include "lb_schedule.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <libavutil/error.h>

#include "schedule_priv.h"

#define TT_SCHEMA 1
#define TT_MAX_ENTRIES 1000
#define TT_MAX_PERIODS 64
#define TT_MAX_HOLIDAYS 256
#define TT_MAX_MAKEUPS 256
#define TT_MAX_EXCEPT 64
#define TT_ID_SIZE 65
#define TT_NAME_SIZE 128
#define TT_DEFAULT_TITLE "{grade}{class} {subject}"
/* dates a timetable may name */
#define TT_MIN_YEAR 1970
#define TT_MAX_YEAR 2399

/* ---- shared helpers (schedule_priv.h) ---- */

int64_t sched_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t sched_days_from_civil(int y, int m, int d)
{
    /* H. Hinnant's days_from_civil */
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = sched_floor_div(yy, 400);
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void sched_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = sched_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int sched_weekday(int64_t days)
{
    return (int)((days % 7 + 7 + 3) % 7) + 1;  /* 1970-01-01 was a Thursday */
}

static pthread_mutex_t ical_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t ical_once = PTHREAD_ONCE_INIT;

static void ical_init(void)
{
    /* a malformed value is an error we report, never an abort() */
    icalerror_set_errors_are_fatal(0);
}

void sched_ical_lock(void)
{
    pthread_once(&ical_once, ical_init);
    pthread_mutex_lock(&ical_mutex);
}

void sched_ical_unlock(void)
{
    pthread_mutex_unlock(&ical_mutex);
}

int sched_zone_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (!len || len > 64 || name[0] == '/' || name[len - 1] == '/')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '+' || c == '/'))
            return 0;
        if (c == '/' && name[i + 1] == '/')
            return 0;
    }
    return 1;
}

int sched_zone_find(const char *name, icaltimezone **zone, char *err, size_t err_size)
{
    *zone = NULL;
    if (!name || !*name)
        return 0;
    if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC") || !strcmp(name, "GMT") ||
        !strcmp(name, "Etc/GMT") || !strcmp(name, "Z")) {
        *zone = icaltimezone_get_utc_timezone();
        return 0;
    }
    if (!sched_zone_name_ok(name) || !(*zone = icaltimezone_get_builtin_timezone(name)))
        return sched_fail(err, err_size, "unknown time zone '%.64s' (an IANA name such as "
                          "Asia/Shanghai)", name);
    icalerror_clear_errno();
    return 0;
}

static struct icaltimetype utc_icaltime(int64_t utc_s)
{
    struct icaltimetype t = icaltime_null_time();
    int64_t days = sched_floor_div(utc_s, 86400), sod = utc_s - days * 86400;
    sched_civil_from_days(days, &t.year, &t.month, &t.day);
    t.hour = (int)(sod / 3600);
    t.minute = (int)(sod / 60 % 60);
    t.second = (int)(sod % 60);
    t.zone = icaltimezone_get_utc_timezone();
    return t;
}

int sched_zone_offset(icaltimezone *zone, int64_t utc_s)
{
    if (!zone) {
        time_t t = (time_t)utc_s;
        struct tm tm;
        if (!localtime_r(&t, &tm))
            return 0;
        return (int)tm.tm_gmtoff;
    }
    struct icaltimetype t = utc_icaltime(utc_s);
    int off = icaltimezone_get_utc_offset_of_utc_time(zone, &t, NULL);
    return off < -86400 || off > 86400 ? 0 : off;
}

int64_t sched_zone_to_utc(icaltimezone *zone, int64_t wall_s)
{
    /* the offsets in effect a day before and after: zones change at most
     * once in two days, so one of them is right, or wall_s is in a gap or a
     * fold between them */
    int before = sched_zone_offset(zone, wall_s - 86400);
    int after = sched_zone_offset(zone, wall_s + 86400);
    int64_t u_before = wall_s - before, u_after = wall_s - after;
    int ok_before = sched_zone_offset(zone, u_before) == before;
    int ok_after = sched_zone_offset(zone, u_after) == after;
    if (ok_before && ok_after)
        return u_before < u_after ? u_before : u_after;    /* a fold: the first */
    if (ok_after)
        return u_after;
    return u_before;                /* valid, or a gap: the offset before it */
}

int sched_fail(char *err, size_t err_size, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return AVERROR(EINVAL);
}

int sched_utf8_ok(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < len; ) {
        unsigned c = s[i];
        size_t n;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (i + n >= len)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

void sched_copy_utf8(char *dst, size_t dst_size, const char *src)
{
    size_t n = strlen(src);
    if (!dst_size)
        return;
    if (n >= dst_size) {
        n = dst_size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;            /* src[n] starts a sequence: cut before it */
    }
    memcpy(dst, src, n);
    dst[n] = 0;
}

int sched_occurrence_cmp(const void *pa, const void *pb)
{
    const lb_schedule_occurrence *a = pa, *b = pb;
    if (a->start_s != b->start_s)
        return a->start_s < b->start_s ? -1 : 1;
    if (a->end_s != b->end_s)
        return a->end_s < b->end_s ? -1 : 1;
    return strcmp(a->meta.schedule_uid, b->meta.schedule_uid);
}

/* ---- the timetable ---- */

typedef struct tt_period {
    char id[TT_ID_SIZE];
    char name[64];
    int start_s, end_s;             /* seconds since local midnight */
} tt_period;

typedef struct tt_holiday {
    char name[TT_NAME_SIZE];
    int64_t from, to;               /* day numbers, inclusive */
    int range;                      /* written as from/to (else date) */
} tt_holiday;

typedef struct tt_makeup {
    char name[TT_NAME_SIZE];
    int64_t date;
    int weekday;                    /* the weekday whose timetable runs */
} tt_makeup;

typedef struct tt_entry {
    char id[TT_ID_SIZE];
    int weekday;                    /* 1..7, or 0 for a one-off */
    int64_t date;                   /* a one-off's day number */
    int period;                     /* index in periods, or -1: explicit times */
    int start_s, end_s;
    int64_t except[TT_MAX_EXCEPT];
    int nb_except;
    int record;
    lb_lesson_meta meta;            /* title is the template; live resolved */
    char label[160];                /* for errors: "数学 Mon 第1节" */
} tt_entry;

struct lb_timetable {
    int schema;
    char timezone[65];
    int has_term;
    int64_t term_start, term_end;
    tt_period *periods;
    int nb_periods;
    tt_holiday *holidays;
    int nb_holidays;
    tt_makeup *makeups;
    int nb_makeups;
    tt_entry *entries;
    int nb_entries;
};

static const char *const weekday_names[8] = { "", "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
static const char *const weekday_labels[8] = { "", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
static const char *const weekday_zh[8] = { "", "一", "二", "三", "四", "五", "六", "日" };

static int parse_weekday(const char *s)
{
    for (int i = 1; i <= 7; i++) {
        char a[16], b[16];
        snprintf(a, sizeof a, "周%s", weekday_zh[i]);
        snprintf(b, sizeof b, "星期%s", weekday_zh[i]);
        if (!strcmp(s, weekday_names[i]) || !strcmp(s, weekday_labels[i]) || !strcmp(s, a) ||
            !strcmp(s, b))
            return i;
    }
    if (!strcmp(s, "周天") || !strcmp(s, "星期天"))
        return 7;
    return 0;
}

/* "YYYY-MM-DD" → day number; -1 on error (day numbers here are >= 0) */
static int64_t parse_date(const char *s)
{
    int y, m, d, n = 0;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
        s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    if (y < TT_MIN_YEAR || y > TT_MAX_YEAR || m < 1 || m > 12 || d < 1)
        return -1;
    static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return -1;
    return sched_days_from_civil(y, m, d);
}

static void format_date(int64_t days, char *out, size_t size)
{
    int y, m, d;
    sched_civil_from_days(days, &y, &m, &d);
    snprintf(out, size, "%04d-%02d-%02d", y, m, d);
}

/* "HH:MM" or "HH:MM:SS" → seconds of the day; -1 on error */
static int parse_time(const char *s)
{
    size_t len = strlen(s);
    if (len != 5 && len != 8)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((i % 3 == 2) ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0';
    int sec = len == 8 ? (s[6] - '0') * 10 + s[7] - '0' : 0;
    if (h > 23 || m > 59 || sec > 59)
        return -1;
    return h * 3600 + m * 60 + sec;
}

static void format_time(int sod, char *out, size_t size)
{
    if (sod % 60)
        snprintf(out, size, "%02d:%02d:%02d", sod / 3600, sod / 60 % 60, sod % 60);
    else
        snprintf(out, size, "%02d:%02d", sod / 3600, sod / 60 % 60);
}

/* ids name entries in schedule_uid ("e12@2026-12-07"), URLs and files */
static int id_ok(const char *s)
{
    size_t len = strlen(s);
    if (!len || len >= TT_ID_SIZE)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* Checks that obj has only the keys listed (NULL-terminated), each once. */
static int check_keys(const cJSON *obj, const char *const *keys, const char *where, char *err,
                      size_t err_size)
{
    if (!cJSON_IsObject(obj))
        return sched_fail(err, err_size, "%s: must be an object", where);
    for (const cJSON *c = obj->child; c; c = c->next) {
        int known = 0;
        for (const char *const *k = keys; *k; k++)
            known |= !strcmp(c->string, *k);
        if (!known) {
            char list[512] = "";
            size_t n = 0;
            for (const char *const *k = keys; *k && n < sizeof list; k++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", *k);
            return sched_fail(err, err_size, "%s: unknown key '%.64s' (known: %s)", where,
                              c->string, list);
        }
        for (const cJSON *d = c->next; d; d = d->next)
            if (!strcmp(c->string, d->string))
                return sched_fail(err, err_size, "%s: key '%.64s' given twice", where,
                                  c->string);
    }
    return 0;
}

/* A string member: absent → *out untouched and 0; present → checked and
 * copied.  Text: valid UTF-8, no control characters but newline and tab
 * where multiline is set, shorter than size. */
static int get_string(const cJSON *obj, const char *key, char *out, size_t size, int multiline,
                      const char *where, char *err, size_t err_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || !v->valuestring)
        return sched_fail(err, err_size, "%s: %s must be a string", where, key);
    size_t len = strlen(v->valuestring);
    if (len >= size)
        return sched_fail(err, err_size, "%s: %s is longer than %zu bytes", where, key,
                          size - 1);
    if (!sched_utf8_ok(v->valuestring, len))
        return sched_fail(err, err_size, "%s: %s is not valid UTF-8", where, key);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v->valuestring[i];
        if ((c < 0x20 || c == 0x7f) && !(multiline && (c == '\n' || c == '\t')))
            return sched_fail(err, err_size, "%s: %s holds a control character", where, key);
    }
    memcpy(out, v->valuestring, len + 1);
    return 1;
}

static int get_bool(const cJSON *obj, const char *key, int *out, const char *where, char *err,
                    size_t err_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return sched_fail(err, err_size, "%s: %s must be true or false", where, key);
    *out = cJSON_IsTrue(v);
    return 1;
}

static int get_date(const cJSON *obj, const char *key, int64_t *out, const char *where,
                    char *err, size_t err_size)
{
    char s[32];
    int ret = get_string(obj, key, s, sizeof s, 0, where, err, err_size);
    if (ret <= 0)
        return ret;
    if ((*out = parse_date(s)) < 0)
        return sched_fail(err, err_size, "%s: %s '%s' is not a date (YYYY-MM-DD, %d to %d)",
                          where, key, s, TT_MIN_YEAR, TT_MAX_YEAR);
    return 1;
}

static int get_time(const cJSON *obj, const char *key, int *out, const char *where, char *err,
                    size_t err_size)
{
    char s[32];
    int ret = get_string(obj, key, s, sizeof s, 0, where, err, err_size);
    if (ret <= 0)
        return ret;
    if ((*out = parse_time(s)) < 0)
        return sched_fail(err, err_size, "%s: %s '%s' is not a time (HH:MM or HH:MM:SS)", where,
                          key, s);
    return 1;
}

static const cJSON *get_array(const cJSON *obj, const char *key, int max, const char *where,
                              int *ret, char *err, size_t err_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *ret = 0;
    if (!v)
        return NULL;
    if (!cJSON_IsArray(v)) {
        *ret = sched_fail(err, err_size, "%s%s%s must be an array", where, *where ? ": " : "",
                          key);
        return NULL;
    }
    if (cJSON_GetArraySize(v) > max) {
        *ret = sched_fail(err, err_size, "%s%s%s: more than %d", where, *where ? ": " : "", key,
                          max);
        return NULL;
    }
    return v;
}

static const char *label_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* "数学 Mon 第1节" from what the entry says, before it is validated */
static void entry_label(const lb_timetable *tt, const cJSON *e, char *out, size_t size)
{
    const char *subject = label_string(e, "subject"), *id = label_string(e, "id");
    const char *weekday = label_string(e, "weekday"), *date = label_string(e, "date");
    const char *period = label_string(e, "period"), *start = label_string(e, "start");
    const char *end = label_string(e, "end");
    char when[96] = "", what[64] = "";
    int wd = weekday ? parse_weekday(weekday) : 0;
    if (wd)
        snprintf(when, sizeof when, "%s", weekday_labels[wd]);
    else if (weekday || date)
        snprintf(when, sizeof when, "%.32s", weekday ? weekday : date);
    if (period) {
        const char *name = period;
        for (int i = 0; i < tt->nb_periods; i++)
            if (!strcmp(tt->periods[i].id, period) && tt->periods[i].name[0])
                name = tt->periods[i].name;
        snprintf(what, sizeof what, "%.40s", name);
    } else if (start || end) {
        snprintf(what, sizeof what, "%.16s-%.16s", start ? start : "?", end ? end : "?");
    }
    snprintf(out, size, "%.64s%s%s%s%s", subject && *subject ? subject : id ? id : "",
             *when && ((subject && *subject) || id) ? " " : "", when,
             *what && (*when || (subject && *subject) || id) ? " " : "", what);
    /* a label is for a message: keep it printable and UTF-8 */
    if (!sched_utf8_ok(out, strlen(out)))
        snprintf(out, size, "%.64s", id && id_ok(id) ? id : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
}

static int parse_meta(const cJSON *e, tt_entry *t, const char *where, char *err, size_t err_size)
{
    lb_lesson_meta *m = &t->meta;
    int ret;
    char type[64] = "";
    if ((ret = get_string(e, "subject", m->subject, sizeof m->subject, 0, where, err, err_size)) < 0 ||
        (ret = get_string(e, "grade", m->grade, sizeof m->grade, 0, where, err, err_size)) < 0 ||
        (ret = get_string(e, "class", m->class_name, sizeof m->class_name, 0, where, err, err_size)) < 0 ||
        (ret = get_string(e, "teacher", m->teacher, sizeof m->teacher, 0, where, err, err_size)) < 0 ||
        (ret = get_string(e, "course", m->course, sizeof m->course, 0, where, err, err_size)) < 0 ||
        (ret = get_string(e, "school", m->school, sizeof m->school, 0, where, err, err_size)) < 0 ||
        (ret = get_string(e, "hall", m->hall, sizeof m->hall, 0, where, err, err_size)) < 0 ||
        (ret = get_string(e, "description", m->description, sizeof m->description, 1, where, err,
                          err_size)) < 0)
        return ret;
    snprintf(m->title, sizeof m->title, "%s", TT_DEFAULT_TITLE);
    if ((ret = get_string(e, "title", m->title, sizeof m->title, 0, where, err, err_size)) < 0)
        return ret;
    /* the template's fields are checked now, not at the first lesson */
    lb_lesson_meta probe = { 0 };
    char out[sizeof m->title], why[192];
    if (lb_meta_expand_title(m->title, &probe, out, sizeof out, why, sizeof why) < 0)
        return sched_fail(err, err_size, "%s: %s", where, why);
    if ((ret = get_string(e, "lesson_type", type, sizeof type, 0, where, err, err_size)) < 0)
        return ret;
    m->lesson_type = ret ? lb_lesson_type_parse(type) : LB_LESSON_TYPE_ORDINARY;
    if (!m->lesson_type)
        return sched_fail(err, err_size, "%s: unknown lesson_type '%s' (ordinary, open, quality, "
                          "demonstration, or 常态课, 公开课, 优质课, 示范课)", where, type);
    t->record = 1;
    if ((ret = get_bool(e, "record", &t->record, where, err, err_size)) < 0)
        return ret;
    /* open lessons go live, ordinary ones are only recorded */
    int live = m->lesson_type != LB_LESSON_TYPE_ORDINARY;
    if ((ret = get_bool(e, "live", &live, where, err, err_size)) < 0)
        return ret;
    m->live = live ? LB_LIVE_YES : LB_LIVE_NO;
    const cJSON *kw = get_array(e, "keywords", LB_META_MAX_KEYWORDS, where, &ret, err, err_size);
    if (ret < 0)
        return ret;
    for (const cJSON *k = kw ? kw->child : NULL; k; k = k->next) {
        const char *s = cJSON_IsString(k) ? k->valuestring : NULL;
        if (!s || !*s || strlen(s) >= sizeof m->keywords[0] || !sched_utf8_ok(s, strlen(s)))
            return sched_fail(err, err_size, "%s: keywords[%d] must be a non-empty UTF-8 string "
                              "shorter than %zu bytes", where, m->nb_keywords,
                              sizeof m->keywords[0]);
        for (const char *p = s; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return sched_fail(err, err_size, "%s: keywords[%d] holds a control character",
                                  where, m->nb_keywords);
        snprintf(m->keywords[m->nb_keywords++], sizeof m->keywords[0], "%s", s);
    }
    return 0;
}

static int parse_entry(lb_timetable *tt, const cJSON *e, int idx, char *err, size_t err_size)
{
    static const char *const keys[] = {
        "id", "weekday", "date", "period", "start", "end", "except", "subject", "grade", "class",
        "teacher", "course", "school", "hall", "lesson_type", "title", "record", "live",
        "description", "keywords", NULL,
    };
    tt_entry *t = &tt->entries[idx];
    char where[224], s[64];
    int ret;

    memset(t, 0, sizeof *t);
    if (!cJSON_IsObject(e))
        return sched_fail(err, err_size, "entries[%d]: must be an object", idx);
    entry_label(tt, e, t->label, sizeof t->label);
    snprintf(where, sizeof where, "entries[%d]%s%s%s", idx, *t->label ? " (" : "", t->label,
             *t->label ? ")" : "");
    if ((ret = check_keys(e, keys, where, err, err_size)) < 0)
        return ret;

    if ((ret = get_string(e, "id", t->id, sizeof t->id, 0, where, err, err_size)) < 0)
        return ret;
    if (!ret)
        return sched_fail(err, err_size, "%s: no id", where);
    if (!id_ok(t->id))
        return sched_fail(err, err_size, "%s: id '%s' must be 1 to %d letters, digits, '_', '-' "
                          "or '.'", where, t->id, TT_ID_SIZE - 1);

    int has_weekday = get_string(e, "weekday", s, sizeof s, 0, where, err, err_size);
    if (has_weekday < 0)
        return has_weekday;
    if (has_weekday && !(t->weekday = parse_weekday(s)))
        return sched_fail(err, err_size, "%s: unknown weekday '%s' (mon ... sun, or 周一 ... 周日)",
                          where, s);
    int has_date = get_date(e, "date", &t->date, where, err, err_size);
    if (has_date < 0)
        return has_date;
    if (has_weekday == has_date)
        return sched_fail(err, err_size, "%s: needs either a weekday (every week) or a date "
                          "(once)", where);

    int has_period = get_string(e, "period", s, sizeof s, 0, where, err, err_size);
    if (has_period < 0)
        return has_period;
    int has_start = get_time(e, "start", &t->start_s, where, err, err_size);
    if (has_start < 0)
        return has_start;
    int has_end = get_time(e, "end", &t->end_s, where, err, err_size);
    if (has_end < 0)
        return has_end;
    t->period = -1;
    if (has_period) {
        if (has_start || has_end)
            return sched_fail(err, err_size, "%s: has a period and start/end: give one or the "
                              "other", where);
        for (int i = 0; i < tt->nb_periods; i++)
            if (!strcmp(tt->periods[i].id, s))
                t->period = i;
        if (t->period < 0)
            return sched_fail(err, err_size, "%s: unknown period '%s'", where, s);
        t->start_s = tt->periods[t->period].start_s;
        t->end_s = tt->periods[t->period].end_s;
    } else if (!has_start || !has_end) {
        return sched_fail(err, err_size, "%s: needs a period, or a start and an end", where);
    } else if (t->end_s <= t->start_s) {
        char a[16], b[16];
        format_time(t->end_s, a, sizeof a);
        format_time(t->start_s, b, sizeof b);
        return sched_fail(err, err_size, "%s: end %s is not after start %s", where, a, b);
    }

    const cJSON *ex = get_array(e, "except", TT_MAX_EXCEPT, where, &ret, err, err_size);
    if (ret < 0)
        return ret;
    if (ex && has_date)
        return sched_fail(err, err_size, "%s: except is for entries that repeat every week", where);
    for (const cJSON *x = ex ? ex->child : NULL; x; x = x->next) {
        int64_t d = cJSON_IsString(x) && x->valuestring ? parse_date(x->valuestring) : -1;
        if (d < 0)
            return sched_fail(err, err_size, "%s: except[%d] is not a date (YYYY-MM-DD)", where,
                              t->nb_except);
        t->except[t->nb_except++] = d;
    }
    return parse_meta(e, t, where, err, err_size);
}

static int parse_period(lb_timetable *tt, const cJSON *p, int idx, char *err, size_t err_size)
{
    static const char *const keys[] = { "id", "name", "start", "end", NULL };
    tt_period *t = &tt->periods[idx];
    char where[128];
    int ret;
    const char *name = cJSON_IsObject(p) ? label_string(p, "name") : NULL;
    snprintf(where, sizeof where, "periods[%d]", idx);
    if (name && *name && strlen(name) < sizeof t->name && sched_utf8_ok(name, strlen(name)))
        snprintf(where, sizeof where, "periods[%d] (%s)", idx, name);
    if ((ret = check_keys(p, keys, where, err, err_size)) < 0)
        return ret;
    if ((ret = get_string(p, "id", t->id, sizeof t->id, 0, where, err, err_size)) < 0)
        return ret;
    if (!ret || !id_ok(t->id))
        return sched_fail(err, err_size, "%s: id must be 1 to %d letters, digits, '_', '-' or "
                          "'.'", where, TT_ID_SIZE - 1);
    if ((ret = get_string(p, "name", t->name, sizeof t->name, 0, where, err, err_size)) < 0)
        return ret;
    int has_start = get_time(p, "start", &t->start_s, where, err, err_size);
    if (has_start < 0)
        return has_start;
    int has_end = get_time(p, "end", &t->end_s, where, err, err_size);
    if (has_end < 0)
        return has_end;
    if (!has_start || !has_end)
        return sched_fail(err, err_size, "%s: needs a start and an end (HH:MM)", where);
    if (t->end_s <= t->start_s) {
        char a[16], b[16];
        format_time(t->end_s, a, sizeof a);
        format_time(t->start_s, b, sizeof b);
        return sched_fail(err, err_size, "%s: end %s is %s start %s", where, a,
                          t->end_s == t->start_s ? "the same as" : "before", b);
    }
    for (int i = 0; i < idx; i++)
        if (!strcmp(tt->periods[i].id, t->id))
            return sched_fail(err, err_size, "%s: id '%s' is also periods[%d]'s", where, t->id, i);
    return 0;
}

static int parse_holiday(lb_timetable *tt, const cJSON *h, int idx, char *err, size_t err_size)
{
    static const char *const keys[] = { "name", "date", "from", "to", NULL };
    tt_holiday *t = &tt->holidays[idx];
    char where[192];
    int ret;
    const char *name = cJSON_IsObject(h) ? label_string(h, "name") : NULL;
    snprintf(where, sizeof where, "holidays[%d]", idx);
    if (name && *name && strlen(name) < sizeof t->name && sched_utf8_ok(name, strlen(name)))
        snprintf(where, sizeof where, "holidays[%d] (%s)", idx, name);
    if ((ret = check_keys(h, keys, where, err, err_size)) < 0 ||
        (ret = get_string(h, "name", t->name, sizeof t->name, 0, where, err, err_size)) < 0)
        return ret;
    int has_date = get_date(h, "date", &t->from, where, err, err_size);
    if (has_date < 0)
        return has_date;
    int has_from = get_date(h, "from", &t->from, where, err, err_size);
    if (has_from < 0)
        return has_from;
    int has_to = get_date(h, "to", &t->to, where, err, err_size);
    if (has_to < 0)
        return has_to;
    if (has_date && !has_from && !has_to) {
        t->to = t->from;
        return 0;
    }
    if (has_date || !has_from || !has_to)
        return sched_fail(err, err_size, "%s: needs a date, or from and to (YYYY-MM-DD)", where);
    t->range = 1;
    if (t->to < t->from)
        return sched_fail(err, err_size, "%s: to is before from", where);
    if (t->to - t->from > 366)
        return sched_fail(err, err_size, "%s: longer than a year", where);
    return 0;
}

static int parse_makeup(lb_timetable *tt, const cJSON *h, int idx, char *err, size_t err_size)
{
    static const char *const keys[] = { "name", "date", "weekday", NULL };
    tt_makeup *t = &tt->makeups[idx];
    char where[192], s[64];
    int ret;
    snprintf(where, sizeof where, "makeup_days[%d]", idx);
    if ((ret = check_keys(h, keys, where, err, err_size)) < 0 ||
        (ret = get_string(h, "name", t->name, sizeof t->name, 0, where, err, err_size)) < 0)
        return ret;
    if ((ret = get_date(h, "date", &t->date, where, err, err_size)) <= 0)
        return ret < 0 ? ret : sched_fail(err, err_size, "%s: needs a date", where);
    char d[16];
    format_date(t->date, d, sizeof d);
    snprintf(where, sizeof where, "makeup_days[%d] (%s)", idx, d);
    if ((ret = get_string(h, "weekday", s, sizeof s, 0, where, err, err_size)) < 0)
        return ret;
    if (!ret)
        return sched_fail(err, err_size, "%s: needs the weekday whose timetable it runs", where);
    if (!(t->weekday = parse_weekday(s)))
        return sched_fail(err, err_size, "%s: unknown weekday '%s' (mon ... sun, or 周一 ... 周日)",
                          where, s);
    for (int i = 0; i < idx; i++)
        if (tt->makeups[i].date == t->date)
            return sched_fail(err, err_size, "%s: the same date as makeup_days[%d]", where, i);
    for (int i = 0; i < tt->nb_holidays; i++)
        if (t->date >= tt->holidays[i].from && t->date <= tt->holidays[i].to)
            return sched_fail(err, err_size, "%s: falls in holidays[%d]%s%s%s", where, i,
                              tt->holidays[i].name[0] ? " (" : "", tt->holidays[i].name,
                              tt->holidays[i].name[0] ? ")" : "");
    return 0;
}

static int is_holiday(const lb_timetable *tt, int64_t day)
{
    for (int i = 0; i < tt->nb_holidays; i++)
        if (day >= tt->holidays[i].from && day <= tt->holidays[i].to)
            return 1;
    return 0;
}

/* the weekday whose timetable a date runs (its make-up day's, or its own) */
static int day_weekday(const lb_timetable *tt, int64_t day)
{
    for (int i = 0; i < tt->nb_makeups; i++)
        if (tt->makeups[i].date == day)
            return tt->makeups[i].weekday;
    return sched_weekday(day);
}

static int runs_on(const lb_timetable *tt, const tt_entry *e, int64_t day)
{
    if (!e->weekday)
        return e->date == day;
    if (tt->has_term && (day < tt->term_start || day > tt->term_end))
        return 0;
    if (is_holiday(tt, day))
        return 0;
    for (int i = 0; i < e->nb_except; i++)
        if (e->except[i] == day)
            return 0;
    return day_weekday(tt, day) == e->weekday;
}

static int check_overlaps(const lb_timetable *tt, char *err, size_t err_size)
{
    for (int i = 1; i < tt->nb_entries; i++) {
        const tt_entry *a = &tt->entries[i];
        for (int j = 0; j < i; j++) {
            const tt_entry *b = &tt->entries[j];
            int clash = 0;
            if (a->start_s >= b->end_s || b->start_s >= a->end_s)
                continue;
            if (a->weekday && b->weekday)
                clash = a->weekday == b->weekday;
            else if (!a->weekday && !b->weekday)
                clash = a->date == b->date;
            else
                clash = runs_on(tt, a->weekday ? a : b, a->weekday ? b->date : a->date);
            if (clash) {
                char on[48] = "";
                if (!a->weekday || !b->weekday) {
                    char d[16];
                    format_date(a->weekday ? b->date : a->date, d, sizeof d);
                    snprintf(on, sizeof on, " on %s", d);
                }
                return sched_fail(err, err_size, "entries[%d] (%s): overlaps entries[%d] (%s)%s",
                                  i, a->label, j, b->label, on);
            }
        }
    }
    return 0;
}

static int parse_document(lb_timetable *tt, const cJSON *root, char *err, size_t err_size)
{
    static const char *const keys[] = {
        "schema", "timezone", "term", "holidays", "makeup_days", "periods", "entries", NULL,
    };
    static const char *const term_keys[] = { "start", "end", NULL };
    const cJSON *v, *arr;
    int ret, i;

    if ((ret = check_keys(root, keys, "timetable", err, err_size)) < 0)
        return ret;
    tt->schema = TT_SCHEMA;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "schema"))) {
        /* compared as a double first: casting 1e300 to int is undefined */
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= 1e6) ||
            v->valuedouble != (double)(int)v->valuedouble)
            return sched_fail(err, err_size, "timetable: schema must be a positive integer");
        if (v->valueint > TT_SCHEMA)
            return sched_fail(err, err_size, "timetable: schema %d is newer than this luobo's "
                              "(%d)", v->valueint, TT_SCHEMA);
    }
    if ((ret = get_string(root, "timezone", tt->timezone, sizeof tt->timezone, 0, "timetable",
                          err, err_size)) < 0)
        return ret;
    if (ret) {
        icaltimezone *zone;
        char why[160];
        sched_ical_lock();
        ret = sched_zone_find(tt->timezone, &zone, why, sizeof why);
        sched_ical_unlock();
        if (ret < 0 || !*tt->timezone)
            return sched_fail(err, err_size, "timetable: timezone: %s", *tt->timezone ? why :
                              "empty (leave it out for the configured one)");
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "term"))) {
        if ((ret = check_keys(v, term_keys, "term", err, err_size)) < 0 ||
            (ret = get_date(v, "start", &tt->term_start, "term", err, err_size)) < 0 ||
            (ret == 1 && (ret = get_date(v, "end", &tt->term_end, "term", err, err_size)) < 0))
            return ret;
        if (!ret)
            return sched_fail(err, err_size, "term: needs a start and an end (YYYY-MM-DD)");
        if (tt->term_end < tt->term_start)
            return sched_fail(err, err_size, "term: end is before start");
        tt->has_term = 1;
    }

    if (!(arr = get_array(root, "holidays", TT_MAX_HOLIDAYS, "", &ret, err, err_size)) && ret < 0)
        return ret;
    if (arr && !(tt->holidays = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *tt->holidays)))
        return AVERROR(ENOMEM);
    i = 0;
    for (v = arr ? arr->child : NULL; v; v = v->next, i++) {
        if ((ret = parse_holiday(tt, v, i, err, err_size)) < 0)
            return ret;
        tt->nb_holidays = i + 1;
    }

    if (!(arr = get_array(root, "makeup_days", TT_MAX_MAKEUPS, "", &ret, err, err_size)) && ret < 0)
        return ret;
    if (arr && !(tt->makeups = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *tt->makeups)))
        return AVERROR(ENOMEM);
    i = 0;
    for (v = arr ? arr->child : NULL; v; v = v->next, i++) {
        if ((ret = parse_makeup(tt, v, i, err, err_size)) < 0)
            return ret;
        tt->nb_makeups = i + 1;
    }

    if (!(arr = get_array(root, "periods", TT_MAX_PERIODS, "", &ret, err, err_size)) && ret < 0)
        return ret;
    if (arr && !(tt->periods = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *tt->periods)))
        return AVERROR(ENOMEM);
    i = 0;
    for (v = arr ? arr->child : NULL; v; v = v->next, i++) {
        if ((ret = parse_period(tt, v, i, err, err_size)) < 0)
            return ret;
        tt->nb_periods = i + 1;
    }

    if (!(arr = get_array(root, "entries", TT_MAX_ENTRIES, "", &ret, err, err_size)) && ret < 0)
        return ret;
    if (arr && !(tt->entries = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *tt->entries)))
        return AVERROR(ENOMEM);
    i = 0;
    for (v = arr ? arr->child : NULL; v; v = v->next, i++) {
        if ((ret = parse_entry(tt, v, i, err, err_size)) < 0)
            return ret;
        tt->nb_entries = i + 1;
        for (int j = 0; j < i; j++)
            if (!strcmp(tt->entries[j].id, tt->entries[i].id))
                return sched_fail(err, err_size, "entries[%d] (%s): id '%s' is also "
                                  "entries[%d]'s", i, tt->entries[i].label, tt->entries[i].id, j);
    }
    return check_overlaps(tt, err, err_size);
}

int lb_timetable_parse(lb_timetable **ptt, const char *text, size_t size, char *err,
                       size_t err_size)
{
    lb_timetable *tt = NULL;
    cJSON *root = NULL;
    const char *end = NULL;
    int ret;

    *ptt = NULL;
    if (err && err_size)
        *err = 0;
    if (size > LB_SCHEDULE_MAX_BYTES) {
        ret = sched_fail(err, err_size, "timetable: larger than %d bytes", LB_SCHEDULE_MAX_BYTES);
        goto fail;
    }
    if (memchr(text, 0, size)) {
        ret = sched_fail(err, err_size, "timetable: holds a NUL byte");
        goto fail;
    }
    root = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    if (!root) {
        const char *at = end && end >= text && end <= text + size ? end : cJSON_GetErrorPtr();
        int line = 1, col = 1;
        if (at && at >= text && at <= text + size)
            for (const char *p = text; p < at; p++)
                line += *p == '\n', col = *p == '\n' ? 1 : col + 1;
        ret = sched_fail(err, err_size, "timetable: not JSON (syntax error at line %d, column %d)",
                         line, col);
        goto fail;
    }
    for (const char *p = end; p && p < text + size; p++)
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            ret = sched_fail(err, err_size, "timetable: text after the JSON document");
            goto fail;
        }
    if (!cJSON_IsObject(root)) {
        ret = sched_fail(err, err_size, "timetable: must be a JSON object");
        goto fail;
    }
    if (!(tt = calloc(1, sizeof *tt))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    if ((ret = parse_document(tt, root, err, err_size)) < 0)
        goto fail;
    cJSON_Delete(root);
    *ptt = tt;
    return 0;
fail:
    cJSON_Delete(root);
    lb_timetable_free(&tt);
    return ret;
}

void lb_timetable_free(lb_timetable **ptt)
{
    lb_timetable *tt = *ptt;
    if (!tt)
        return;
    free(tt->periods);
    free(tt->holidays);
    free(tt->makeups);
    free(tt->entries);
    free(tt);
    *ptt = NULL;
}

const char *lb_timetable_timezone(const lb_timetable *tt)
{
    return tt && tt->timezone[0] ? tt->timezone : NULL;
}

/* ---- to JSON ---- */

static int add_str(cJSON *obj, const char *key, const char *value)
{
    return !*value || cJSON_AddStringToObject(obj, key, value) ? 0 : -1;
}

static int add_date(cJSON *obj, const char *key, int64_t day)
{
    char s[16];
    format_date(day, s, sizeof s);
    return cJSON_AddStringToObject(obj, key, s) ? 0 : -1;
}

static int add_time(cJSON *obj, const char *key, int sod)
{
    char s[16];
    format_time(sod, s, sizeof s);
    return cJSON_AddStringToObject(obj, key, s) ? 0 : -1;
}

static int entry_to_json(const lb_timetable *tt, const tt_entry *t, cJSON *e)
{
    const lb_lesson_meta *m = &t->meta;
    int bad = 0;
    bad |= add_str(e, "id", t->id);
    if (t->weekday)
        bad |= !cJSON_AddStringToObject(e, "weekday", weekday_names[t->weekday]);
    else
        bad |= add_date(e, "date", t->date);
    if (t->period >= 0) {
        bad |= !cJSON_AddStringToObject(e, "period", tt->periods[t->period].id);
    } else {
        bad |= add_time(e, "start", t->start_s);
        bad |= add_time(e, "end", t->end_s);
    }
    if (t->nb_except) {
        cJSON *ex = cJSON_AddArrayToObject(e, "except");
        for (int i = 0; ex && i < t->nb_except; i++) {
            char s[16];
            format_date(t->except[i], s, sizeof s);
            bad |= !cJSON_AddItemToArray(ex, cJSON_CreateString(s));
        }
        bad |= !ex;
    }
    bad |= add_str(e, "subject", m->subject);
    bad |= add_str(e, "grade", m->grade);
    bad |= add_str(e, "class", m->class_name);
    bad |= add_str(e, "teacher", m->teacher);
    bad |= add_str(e, "course", m->course);
    bad |= add_str(e, "school", m->school);
    bad |= add_str(e, "hall", m->hall);
    bad |= !cJSON_AddStringToObject(e, "lesson_type", lb_lesson_type_name(m->lesson_type));
    bad |= !cJSON_AddStringToObject(e, "title", m->title);
    bad |= !cJSON_AddBoolToObject(e, "record", t->record);
    bad |= !cJSON_AddBoolToObject(e, "live", m->live == LB_LIVE_YES);
    bad |= add_str(e, "description", m->description);
    if (m->nb_keywords) {
        cJSON *kw = cJSON_AddArrayToObject(e, "keywords");
        for (int i = 0; kw && i < m->nb_keywords; i++)
            bad |= !cJSON_AddItemToArray(kw, cJSON_CreateString(m->keywords[i]));
        bad |= !kw;
    }
    return bad ? -1 : 0;
}

char *lb_timetable_to_json(const lb_timetable *tt)
{
    cJSON *root = cJSON_CreateObject(), *arr, *o;
    char *out = NULL;
    int bad = !root;

    if (bad)
        return NULL;
    bad |= !cJSON_AddNumberToObject(root, "schema", TT_SCHEMA);
    bad |= add_str(root, "timezone", tt->timezone);
    if (tt->has_term) {
        bad |= !(o = cJSON_AddObjectToObject(root, "term"));
        if (o)
            bad |= add_date(o, "start", tt->term_start) | add_date(o, "end", tt->term_end);
    }
    bad |= !(arr = cJSON_AddArrayToObject(root, "holidays"));
    for (int i = 0; arr && i < tt->nb_holidays; i++) {
        const tt_holiday *h = &tt->holidays[i];
        if (!cJSON_AddItemToArray(arr, o = cJSON_CreateObject())) {
            bad = 1;
            break;
        }
        bad |= add_str(o, "name", h->name);
        if (h->range)
            bad |= add_date(o, "from", h->from) | add_date(o, "to", h->to);
        else
            bad |= add_date(o, "date", h->from);
    }
    bad |= !(arr = cJSON_AddArrayToObject(root, "makeup_days"));
    for (int i = 0; arr && i < tt->nb_makeups; i++) {
        const tt_makeup *mk = &tt->makeups[i];
        if (!cJSON_AddItemToArray(arr, o = cJSON_CreateObject())) {
            bad = 1;
            break;
        }
        bad |= add_str(o, "name", mk->name);
        bad |= add_date(o, "date", mk->date);
        bad |= !cJSON_AddStringToObject(o, "weekday", weekday_names[mk->weekday]);
    }
    bad |= !(arr = cJSON_AddArrayToObject(root, "periods"));
    for (int i = 0; arr && i < tt->nb_periods; i++) {
        const tt_period *p = &tt->periods[i];
        if (!cJSON_AddItemToArray(arr, o = cJSON_CreateObject())) {
            bad = 1;
            break;
        }
        bad |= add_str(o, "id", p->id);
        bad |= add_str(o, "name", p->name);
        bad |= add_time(o, "start", p->start_s) | add_time(o, "end", p->end_s);
    }
    bad |= !(arr = cJSON_AddArrayToObject(root, "entries"));
    for (int i = 0; arr && i < tt->nb_entries; i++) {
        if (!cJSON_AddItemToArray(arr, o = cJSON_CreateObject())) {
            bad = 1;
            break;
        }
        bad |= entry_to_json(tt, &tt->entries[i], o);
    }
    if (!bad)
        out = cJSON_Print(root);
    cJSON_Delete(root);
    return out;
}

/* ---- expansion ---- */

static void trim(char *s)
{
    size_t n = strlen(s), a = 0;
    while (n && s[n - 1] == ' ')
        s[--n] = 0;
    while (s[a] == ' ')
        a++;
    memmove(s, s + a, n - a + 1);
}

static void fill_occurrence(const tt_entry *t, int64_t day, int64_t start_s, int64_t end_s,
                            lb_schedule_occurrence *o)
{
    char why[192], date[16];
    memset(o, 0, sizeof *o);
    o->start_s = start_s;
    o->end_s = end_s;
    o->origin = LB_SCHEDULE_TIMETABLE;
    o->record = t->record;
    o->meta = t->meta;
    /* the fields from the entry; {title} in a template is "" */
    lb_lesson_meta fields = t->meta;
    fields.title[0] = 0;
    if (lb_meta_expand_title(t->meta.title, &fields, o->meta.title, sizeof o->meta.title, why,
                             sizeof why) < 0)
        snprintf(o->meta.title, sizeof o->meta.title, "%s", t->id);
    trim(o->meta.title);
    if (!o->meta.title[0])
        snprintf(o->meta.title, sizeof o->meta.title, "%s", t->id);
    format_date(day, date, sizeof date);
    snprintf(o->meta.schedule_uid, sizeof o->meta.schedule_uid, "%s@%s", t->id, date);
}

int sched_check_window(int64_t from_s, int64_t to_s, char *err, size_t err_size)
{
    if (to_s <= from_s)
        return sched_fail(err, err_size, "schedule: the window ends before it starts");
    if (from_s < 0 || to_s > SCHED_MAX_TIME_S)
        return sched_fail(err, err_size, "schedule: the window is outside the years 1970 to 2499");
    if (to_s - from_s > SCHED_MAX_WINDOW_S)
        return sched_fail(err, err_size, "schedule: a window longer than 62 days");
    return 0;
}

int lb_timetable_expand(const lb_timetable *tt, const char *tz, int64_t from_s, int64_t to_s,
                        lb_schedule_occurrence **pocc, int *pnb, char *err, size_t err_size)
{
    lb_schedule_occurrence *occ = NULL;
    icaltimezone *zone = NULL;
    int nb = 0, cap = 0, ret;

    *pocc = NULL;
    *pnb = 0;
    if ((ret = sched_check_window(from_s, to_s, err, err_size)) < 0)
        return ret;
    if (tt->timezone[0])
        tz = tt->timezone;
    sched_ical_lock();
    if ((ret = sched_zone_find(tz, &zone, err, err_size)) < 0)
        goto fail;
    /* local dates that can meet the window, whatever the offset (< 1 day) */
    for (int64_t day = sched_floor_div(from_s, 86400) - 1; day <= sched_floor_div(to_s, 86400) + 1;
         day++) {
        for (int i = 0; i < tt->nb_entries; i++) {
            const tt_entry *t = &tt->entries[i];
            if (!runs_on(tt, t, day))
                continue;
            int64_t start = sched_zone_to_utc(zone, day * 86400 + t->start_s);
            int64_t end = sched_zone_to_utc(zone, day * 86400 + t->end_s);
            if (end <= start || start >= to_s || end <= from_s)
                continue;
            if (nb == SCHED_MAX_OCCURRENCES) {
                ret = sched_fail(err, err_size, "schedule: more than %d lessons in the window",
                                 SCHED_MAX_OCCURRENCES);
                goto fail;
            }
            if (nb == cap) {
                int ncap = cap ? cap * 2 : 64;
                lb_schedule_occurrence *n = realloc(occ, (size_t)ncap * sizeof *occ);
                if (!n) {
                    ret = AVERROR(ENOMEM);
                    goto fail;
                }
                occ = n;
                cap = ncap;
            }
            fill_occurrence(t, day, start, end, &occ[nb++]);
        }
    }
    sched_ical_unlock();
    if (nb)
        qsort(occ, (size_t)nb, sizeof *occ, sched_occurrence_cmp);
    *pocc = occ;
    *pnb = nb;
    return 0;
fail:
    sched_ical_unlock();
    free(occ);
    return ret;
}

/* ---- merge ---- */

static void describe(const lb_schedule_occurrence *o, char *out, size_t size)
{
    char a[32], b[32];
    struct tm tm;
    time_t t = (time_t)o->start_s;
    gmtime_r(&t, &tm);
    strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", &tm);
    t = (time_t)o->end_s;
    gmtime_r(&t, &tm);
    strftime(b, sizeof b, "%H:%M:%SZ", &tm);
    snprintf(out, size, "'%.80s' (%s %.120s) %s-%s", o->meta.title,
             o->origin == LB_SCHEDULE_ICAL ? "iCal" : "timetable", o->meta.schedule_uid, a, b);
}

int lb_schedule_merge(const lb_schedule_occurrence *a, int nb_a,
                      const lb_schedule_occurrence *b, int nb_b,
                      lb_schedule_occurrence **pout, int *pnb_out,
                      char *conflict, size_t conflict_size)
{
    lb_schedule_occurrence *out;
    int ia = 0, ib = 0, n = 0, nb_conflicts = 0;

    *pout = NULL;
    *pnb_out = 0;
    if (conflict && conflict_size)
        *conflict = 0;
    if (nb_a < 0 || nb_b < 0)
        return AVERROR(EINVAL);
    if (!(out = malloc((size_t)(nb_a + nb_b + 1) * sizeof *out)))
        return AVERROR(ENOMEM);
    while (ia < nb_a || ib < nb_b) {
        /* the earlier start first; on a tie, a's (the timetable's) */
        const lb_schedule_occurrence *next;
        if (ib >= nb_b || (ia < nb_a && a[ia].start_s <= b[ib].start_s))
            next = &a[ia++];
        else
            next = &b[ib++];
        if (n && next->start_s < out[n - 1].end_s) {
            if (!nb_conflicts++ && conflict && conflict_size) {
                char kept[320], dropped[320];
                describe(&out[n - 1], kept, sizeof kept);
                describe(next, dropped, sizeof dropped);
                snprintf(conflict, conflict_size, "%s overlaps %s: the later one is not scheduled",
                         dropped, kept);
            }
            continue;
        }
        out[n++] = *next;
    }
    if (nb_conflicts > 1 && conflict && conflict_size) {
        size_t len = strlen(conflict);
        snprintf(conflict + len, conflict_size - len, " (and %d more conflicts)",
                 nb_conflicts - 1);
    }
    *pout = out;
    *pnb_out = n;
    return 0;
}

int lb_schedule_next_midnight(const char *tz, int64_t now_s, int64_t *midnight_s, char *err,
                              size_t err_size)
{
    icaltimezone *zone;
    sched_ical_lock();
    int ret = sched_zone_find(tz, &zone, err, err_size);
    if (ret >= 0) {
        int64_t wall = now_s + sched_zone_offset(zone, now_s);
        int64_t next_day = sched_floor_div(wall, 86400) + 1;
        *midnight_s = sched_zone_to_utc(zone, next_day * 86400);
        if (*midnight_s <= now_s)       /* never "today" behind us, whatever the zone data says */
            *midnight_s = now_s + 1;
    }
    sched_ical_unlock();
    return ret;
}
