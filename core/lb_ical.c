/* iCalendar feeds (RFC 5545) through libical; see lb_schedule.h and
 * docs/schedule.md (the mapping to a lesson's metadata).
 *
 * Design note.  Parsing: the feed is fed to libical's parser a content
 * line at a time (icalparser_get_line/icalparser_add_line) so that lines
 * can be counted: after each BEGIN an X-LUOBO-INTERNAL-LINE property is
 * added to the component just begun, so an error later names the line
 * where its component began.  Our own stack of BEGIN/END bounds the nesting
 * and finds a truncated feed (a component without END) or a mismatched END,
 * which libical would close silently.  libical marks what it could not parse
 * with X-LIC-ERROR properties; those in the components we read (VCALENDAR,
 * VEVENT, VTIMEZONE and its STANDARD/DAYLIGHT) refuse the feed, except
 * unknown property and parameter names, which RFC 5545 says to ignore.
 * Every VEVENT is checked when parsing (UID, DTSTART, DTEND/DURATION, TZIDs,
 * RRULE, the X-LUOBO- values, UTF-8), so expansion only fails on its limits.
 * A libical component has one property iterator: loops never nest on it;
 * each event's RRULE, RDATE, EXDATE and X- properties are listed once.
 *
 * Expansion: recurrence rules are expanded by libical's icalrecur_iterator
 * (started near the window with icalrecur_iterator_set_start when the rule
 * has no COUNT); EXDATE, RDATE and RECURRENCE-ID are applied here.  Not
 * icalcomponent_foreach_recurrence: it reads floating times as UTC, does
 * not apply RECURRENCE-ID overrides, cannot be stopped, and moves the
 * component's property iterator, so two threads could not expand one feed.
 * Wall times become UTC with sched_zone_to_utc (RFC 5545's rule at DST
 * changes).  libical's global state is behind sched_ical_lock(). */
#include "lb_schedule.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libavutil/error.h>

#include "schedule_priv.h"

#define ICAL_MAX_DEPTH 8
#define ICAL_MAX_COMPONENTS 20000
#define ICAL_MAX_UID 200
/* recurrences looked at in one expansion, across events: a rule that
 * started decades before the window with a COUNT is walked from its start */
#define ICAL_MAX_ITERATIONS 200000
#define LINE_PROP "X-LUOBO-INTERNAL-LINE"

typedef enum zone_kind { ZONE_FLOATING, ZONE_UTC, ZONE_NAMED } zone_kind;

typedef struct plist {
    icalproperty **p;
    int n;
} plist;

typedef struct ical_event {
    icalcomponent *comp;
    char where[160];                /* "VEVENT 'uid' (line 12)" */
    plist rrules, rdates, exdates, xprops;
    icalproperty *dtstart, *dtend, *rid;
    int line;
    int group, group_len;           /* its UID's run in lb_ical.by_uid */
    const char *uid;
    int is_override, cancelled;
    icaltimezone *start_zone;       /* DTSTART's (NULL: floating or UTC) */
    zone_kind start_kind;
    int has_dtend;                  /* else DURATION */
    int64_t duration_s;             /* from DURATION */
    int record;
    lb_lesson_meta meta;
} ical_event;

struct lb_ical {
    icalcomponent *root;
    ical_event *events;
    int nb_events;
    /* the events sorted by UID, each UID's master first: an event's
     * overrides are found in its group, not by a search of every event */
    int *by_uid;
};

/* ---- reading the feed a line at a time ---- */

typedef struct feed {
    const char *p, *end;
    int raw_line;                   /* lines begun so far */
    int at_line_start;
    int last_start;                 /* the line the last chunk began */
} feed;

static char *feed_line(char *out, size_t size, void *opaque)
{
    feed *f = opaque;
    out[0] = 0;
    if (f->p >= f->end || size < 2)
        return NULL;
    const char *nl = memchr(f->p, '\n', (size_t)(f->end - f->p));
    size_t n = nl ? (size_t)(nl - f->p) + 1 : (size_t)(f->end - f->p);
    if (n > size - 1)
        n = size - 1;
    if (f->at_line_start)
        f->last_start = ++f->raw_line;
    memcpy(out, f->p, n);
    out[n] = 0;
    f->p += n;
    f->at_line_start = out[n - 1] == '\n';
    return out;
}

static int line_int(icalcomponent *c)
{
    icalproperty *p = icalcomponent_get_first_property(c, ICAL_X_PROPERTY);
    for (; p; p = icalcomponent_get_next_property(c, ICAL_X_PROPERTY)) {
        const char *name = icalproperty_get_x_name(p), *v = icalproperty_get_x(p);
        if (name && v && !strcmp(name, LINE_PROP))
            return atoi(v);
    }
    return 0;
}

/* "VEVENT 'uid' (line 12)" */
static void where_of(icalcomponent *c, char *out, size_t size)
{
    const char *uid = icalcomponent_isa(c) == ICAL_VEVENT_COMPONENT ? icalcomponent_get_uid(c)
                                                                    : NULL;
    icalproperty *tzid = icalcomponent_isa(c) == ICAL_VTIMEZONE_COMPONENT ?
        icalcomponent_get_first_property(c, ICAL_TZID_PROPERTY) : NULL;
    const char *name = uid ? uid : tzid ? icalproperty_get_tzid(tzid) : NULL;
    char shown[80] = "";
    if (name) {
        sched_copy_utf8(shown, sizeof shown, name);
        for (char *s = shown; *s; s++)
            if ((unsigned char)*s < 0x20)
                *s = ' ';
    }
    snprintf(out, size, "%s%s%s%s (line %d)", icalcomponent_kind_to_string(icalcomponent_isa(c)),
             name ? " '" : "", shown, name ? "'" : "", line_int(c));
}

/* every property of a kind, without the component's iterator */
static int props_of(icalcomponent *c, icalproperty_kind kind, plist *l)
{
    int n = icalcomponent_count_properties(c, kind), i = 0;
    l->n = 0;
    if (!n)
        return 0;
    if (!(l->p = calloc((size_t)n, sizeof *l->p)))
        return AVERROR(ENOMEM);
    for (icalproperty *p = icalcomponent_get_first_property(c, kind); p && i < n;
         p = icalcomponent_get_next_property(c, kind))
        l->p[i++] = p;
    l->n = i;
    return 0;
}

static int read_kind(icalcomponent_kind k)
{
    return k == ICAL_VCALENDAR_COMPONENT || k == ICAL_VEVENT_COMPONENT ||
           k == ICAL_VTIMEZONE_COMPONENT || k == ICAL_XSTANDARD_COMPONENT ||
           k == ICAL_XDAYLIGHT_COMPONENT;
}

/* the first X-LIC-ERROR that refuses the feed, in the components we read */
static icalproperty *find_error(icalcomponent *c, icalcomponent **in)
{
    int xroot = icalcomponent_isa(c) == ICAL_XROOT_COMPONENT;
    if (!read_kind(icalcomponent_isa(c)) && !xroot)
        return NULL;
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_XLICERROR_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_XLICERROR_PROPERTY)) {
        icalparameter *t = icalproperty_get_first_parameter(p, ICAL_XLICERRORTYPE_PARAMETER);
        icalparameter_xlicerrortype type = t ? icalparameter_get_xlicerrortype(t)
                                             : ICAL_XLICERRORTYPE_NONE;
        /* iana-prop, x-prop and unknown parameters are ignored (RFC 5545 3.8.8) */
        if (type == ICAL_XLICERRORTYPE_PROPERTYPARSEERROR ||
            type == ICAL_XLICERRORTYPE_PARAMETERNAMEPARSEERROR)
            continue;
        *in = c;
        return p;
    }
    for (icalcomponent *k = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); k;
         k = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT)) {
        icalproperty *p = find_error(k, in);
        if (p)
            return p;
    }
    return NULL;
}

/* the component name a BEGIN or END line gives (libical decides whether
 * the line is one: icalparser_get_state) */
static void component_name(const char *line, char *name, size_t size)
{
    const char *v = strchr(line, ':');
    size_t n = 0;
    v = v ? v + 1 : "";
    v += strspn(v, " \t");
    for (; v[n] && v[n] != ' ' && v[n] != '\t' && v[n] != '\r' && n + 1 < size; n++)
        name[n] = (char)((v[n] >= 'a' && v[n] <= 'z') ? v[n] - 32 : v[n]);
    name[n] = 0;
    /* names are for messages: printable ASCII only */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
            name[i] = '?';
}

/* the lines libical's parser flagged, to name the one an X-LIC-ERROR is about */
typedef struct bad_lines {
    struct {
        int line, component_line;
        char text[120];
    } at[32];
    int nb;
} bad_lines;

static int parse_tree(const char *text, size_t size, icalcomponent **root, bad_lines *bad,
                      char *err, size_t err_size)
{
    feed f = { .p = text, .end = text + size, .at_line_start = 1 };
    struct { char name[32]; int line; } stack[ICAL_MAX_DEPTH + 1];
    icalparser *parser = icalparser_new();
    int depth = 0, components = 0, pending = 0, ret = 0, calendars = 0;
    char *line;

    *root = NULL;
    if (!parser)
        return AVERROR(ENOMEM);
    icalparser_set_gen_data(parser, &f);
    /* the BOM libical's own line generator skips */
    if (size >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
        f.p += 3;
    while (ret == 0 && (line = icalparser_get_line(parser, feed_line))) {
        int at = pending;
        char name[32];
        pending = f.last_start;
        if (!line[strspn(line, " \t\r\n")]) {
            icalmemory_free_buffer(line);
            continue;
        }
        icalcomponent *c = icalparser_add_line(parser, line);
        icalparser_state state = icalparser_get_state(parser);
        component_name(line, name, sizeof name);
        if (state == ICALPARSER_ERROR && depth && bad->nb < (int)(sizeof bad->at / sizeof bad->at[0])) {
            bad->at[bad->nb].line = at;
            bad->at[bad->nb].component_line = stack[depth - 1].line;
            snprintf(bad->at[bad->nb++].text, sizeof bad->at[0].text, "%s", line);
        }
        if (c) {
            calendars++;
            if (!*root) {
                *root = c;
            } else {
                if (icalcomponent_isa(*root) != ICAL_XROOT_COMPONENT) {
                    icalcomponent *x = icalcomponent_new(ICAL_XROOT_COMPONENT);
                    if (!x) {
                        icalcomponent_free(c);
                        ret = AVERROR(ENOMEM);
                    } else {
                        icalcomponent_add_component(x, *root);
                        *root = x;
                    }
                }
                if (!ret)
                    icalcomponent_add_component(*root, c);
            }
        }
        if (ret < 0) {
            /* out of memory: stop below */
        } else if (state == ICALPARSER_BEGIN_COMP) {
            if (!depth && strcmp(name, "VCALENDAR"))
                ret = sched_fail(err, err_size, "iCalendar: line %d: BEGIN:%s outside a "
                                 "VCALENDAR", at, name);
            else if (depth == ICAL_MAX_DEPTH || ++components > ICAL_MAX_COMPONENTS)
                ret = sched_fail(err, err_size, "iCalendar: line %d: %s", at,
                                 depth == ICAL_MAX_DEPTH ? "components nested too deep" :
                                 "more than 20000 components");
            else {
                char mark[64];
                snprintf(stack[depth].name, sizeof stack[depth].name, "%s", name);
                stack[depth++].line = at;
                snprintf(mark, sizeof mark, LINE_PROP ":%d", at);
                icalparser_add_line(parser, mark);
            }
        } else if (state == ICALPARSER_END_COMP || (state == ICALPARSER_SUCCESS && c)) {
            if (!depth)
                ret = sched_fail(err, err_size, "iCalendar: line %d: END:%s without BEGIN", at,
                                 name);
            else if (strcmp(stack[depth - 1].name, name))
                ret = sched_fail(err, err_size, "iCalendar: line %d: END:%s closes BEGIN:%s of "
                                 "line %d", at, name, stack[depth - 1].name,
                                 stack[depth - 1].line);
            else
                depth--;
        } else if (!depth) {
            ret = sched_fail(err, err_size, "iCalendar: line %d: text outside BEGIN:VCALENDAR ... "
                             "END:VCALENDAR", at);
        }
        icalmemory_free_buffer(line);
    }
    if (ret == 0 && depth)
        ret = sched_fail(err, err_size, "iCalendar: the feed ends at line %d inside BEGIN:%s of "
                         "line %d (truncated?)", f.raw_line, stack[depth - 1].name,
                         stack[depth - 1].line);
    if (ret == 0 && !calendars)
        ret = sched_fail(err, err_size, "iCalendar: no BEGIN:VCALENDAR");
    if (ret < 0 && *root) {
        icalcomponent_free(*root);
        *root = NULL;
    }
    /* frees the components still open (libical's own stack) */
    icalparser_free(parser);
    return ret;
}

/* ---- events ---- */

static int tzid_resolve(icalcomponent *cal, const char *tzid, icaltimezone **zone)
{
    *zone = cal ? icalcomponent_get_timezone(cal, tzid) : NULL;
    if (!*zone && sched_zone_name_ok(tzid))
        *zone = icaltimezone_get_builtin_timezone(tzid);
    if (!*zone && tzid[0] == '/' && strlen(tzid) < 128 && !strstr(tzid, ".."))
        *zone = icaltimezone_get_builtin_timezone_from_tzid(tzid);
    if (!*zone && (!strcmp(tzid, "UTC") || !strcmp(tzid, "Etc/UTC") || !strcmp(tzid, "GMT")))
        *zone = icaltimezone_get_utc_timezone();
    icalerror_clear_errno();
    return *zone ? 0 : -1;
}

static icalcomponent *calendar_of(icalcomponent *c)
{
    while (c && icalcomponent_isa(c) != ICAL_VCALENDAR_COMPONENT)
        c = icalcomponent_get_parent(c);
    return c;
}

/* The zone of a date-time property's value: UTC ("Z"), its TZID, or
 * floating.  Returns -1 for an unknown TZID (name in *tzid_out). */
static int value_zone(icalproperty *prop, struct icaltimetype t, zone_kind *kind,
                      icaltimezone **zone, const char **tzid_out)
{
    icalparameter *p = icalproperty_get_first_parameter(prop, ICAL_TZID_PARAMETER);
    const char *tzid = p ? icalparameter_get_tzid(p) : NULL;
    *zone = NULL;
    *tzid_out = tzid;
    if (icaltime_is_utc(t)) {
        *kind = ZONE_UTC;
        return 0;
    }
    if (!tzid) {
        *kind = ZONE_FLOATING;
        return 0;
    }
    *kind = ZONE_NAMED;
    return tzid_resolve(calendar_of(icalproperty_get_parent(prop)), tzid, zone);
}

static int64_t wall_of(struct icaltimetype t)
{
    return sched_days_from_civil(t.year, t.month, t.day) * 86400 + t.hour * 3600 +
           t.minute * 60 + t.second;
}

static int time_ok(struct icaltimetype t)
{
    return !icaltime_is_null_time(t) && t.year >= 1 && t.year <= 2582 && t.month >= 1 &&
           t.month <= 12 && t.day >= 1 && t.day <= 31 && t.hour >= 0 && t.hour <= 23 &&
           t.minute >= 0 && t.minute <= 59 && t.second >= 0 && t.second <= 60;
}

/* UTC of a value; floating is read in the expansion's zone */
static int64_t to_utc(struct icaltimetype t, zone_kind kind, icaltimezone *zone,
                      icaltimezone *floating)
{
    if (kind == ZONE_UTC)
        return wall_of(t);
    return sched_zone_to_utc(kind == ZONE_NAMED ? zone : floating, wall_of(t));
}

/* Text for metadata: UTF-8 checked, control characters but newlines (where
 * multiline) made spaces, cut at a character boundary to fit. */
static int meta_text(ical_event *e, const char *what, const char *value, char *out,
                     size_t size, int multiline, char *err, size_t err_size)
{
    if (!value)
        return 0;
    if (!sched_utf8_ok(value, strlen(value))) {
        return sched_fail(err, err_size, "iCalendar: %s: %s is not UTF-8 (RFC 5545 feeds are)",
                          e->where, what);
    }
    sched_copy_utf8(out, size, value);
    for (char *s = out; *s; s++)
        if (((unsigned char)*s < 0x20 && !(multiline && (*s == '\n' || *s == '\t'))) ||
            *s == 0x7f)
            *s = ' ';
    return 0;
}

static int x_bool(ical_event *e, const char *name, const char *v, int *out, char *err,
                  size_t err_size)
{
    if (!strcasecmp(v, "TRUE") || !strcasecmp(v, "YES") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcasecmp(v, "FALSE") || !strcasecmp(v, "NO") || !strcmp(v, "0"))
        *out = 0;
    else
        return sched_fail(err, err_size, "iCalendar: %s: %s '%.32s' is not TRUE or FALSE",
                          e->where, name, sched_utf8_ok(v, strlen(v)) ? v : "?");
    return 0;
}

static int event_meta(ical_event *e, char *err, size_t err_size)
{
    icalcomponent *c = e->comp;
    lb_lesson_meta *m = &e->meta;
    icalproperty *p;
    int ret, live = 1;

    e->record = 1;
    if ((ret = meta_text(e, "SUMMARY", icalcomponent_get_summary(c), m->title, sizeof m->title,
                         0, err, err_size)) < 0 ||
        (ret = meta_text(e, "DESCRIPTION", icalcomponent_get_description(c), m->description,
                         sizeof m->description, 1, err, err_size)) < 0 ||
        (ret = meta_text(e, "LOCATION", icalcomponent_get_location(c), m->hall, sizeof m->hall,
                         0, err, err_size)) < 0)
        return ret;
    if ((p = icalcomponent_get_first_property(c, ICAL_CATEGORIES_PROPERTY)) &&
        (ret = meta_text(e, "CATEGORIES", icalproperty_get_categories(p), m->subject,
                         sizeof m->subject, 0, err, err_size)) < 0)
        return ret;
    if ((p = icalcomponent_get_first_property(c, ICAL_ORGANIZER_PROPERTY))) {
        icalparameter *cn = icalproperty_get_first_parameter(p, ICAL_CN_PARAMETER);
        if (cn && (ret = meta_text(e, "ORGANIZER's CN", icalparameter_get_cn(cn), m->teacher,
                                   sizeof m->teacher, 0, err, err_size)) < 0)
            return ret;
    }
    for (int i = 0; i < e->xprops.n; i++) {
        p = e->xprops.p[i];
        const char *name = icalproperty_get_x_name(p), *v = icalproperty_get_x(p);
        if (!name || !v || strncasecmp(name, "X-LUOBO-", 8))
            continue;
        if (!strcasecmp(name, "X-LUOBO-TEACHER"))
            ret = meta_text(e, name, v, m->teacher, sizeof m->teacher, 0, err, err_size);
        else if (!strcasecmp(name, "X-LUOBO-GRADE"))
            ret = meta_text(e, name, v, m->grade, sizeof m->grade, 0, err, err_size);
        else if (!strcasecmp(name, "X-LUOBO-CLASS"))
            ret = meta_text(e, name, v, m->class_name, sizeof m->class_name, 0, err, err_size);
        else if (!strcasecmp(name, "X-LUOBO-SCHOOL"))
            ret = meta_text(e, name, v, m->school, sizeof m->school, 0, err, err_size);
        else if (!strcasecmp(name, "X-LUOBO-LIVE"))
            ret = x_bool(e, name, v, &live, err, err_size);
        else if (!strcasecmp(name, "X-LUOBO-RECORD"))
            ret = x_bool(e, name, v, &e->record, err, err_size);
        else if (!strcasecmp(name, "X-LUOBO-TYPE")) {
            if (!(m->lesson_type = lb_lesson_type_parse(v))) {
                char shown[40];
                sched_copy_utf8(shown, sizeof shown, sched_utf8_ok(v, strlen(v)) ? v : "?");
                return sched_fail(err, err_size, "iCalendar: %s: unknown X-LUOBO-TYPE '%s' "
                                  "(ordinary, open, quality, demonstration, or 常态课, 公开课, "
                                  "优质课, 示范课)", e->where, shown);
            }
        }
        if (ret < 0)
            return ret;
    }
    m->live = live ? LB_LIVE_YES : LB_LIVE_NO;
    return 0;
}

static int check_rrules(ical_event *e, struct icaltimetype dtstart, char *err, size_t err_size)
{
    const char *where = e->where;
    for (int i = 0; i < e->rrules.n; i++) {
        struct icalrecurrencetype r = icalproperty_get_rrule(e->rrules.p[i]);
        /* a lesson repeats by days; a sub-daily rule with a BYxxx that never
         * matches keeps libical's iterator busy up to the year 2582 */
        if (r.freq == ICAL_SECONDLY_RECURRENCE || r.freq == ICAL_MINUTELY_RECURRENCE ||
            r.freq == ICAL_HOURLY_RECURRENCE)
            return sched_fail(err, err_size, "iCalendar: %s: RRULE FREQ=%s: lessons repeat at "
                              "most daily (FREQ=DAILY with BYHOUR gives several a day)", where,
                              icalrecur_freq_to_string(r.freq));
        if (r.freq == ICAL_NO_RECURRENCE)
            return sched_fail(err, err_size, "iCalendar: %s: RRULE without FREQ", where);
        icalrecur_iterator *it = icalrecur_iterator_new(r, dtstart);
        if (!it) {
            icalerror_clear_errno();
            return sched_fail(err, err_size, "iCalendar: %s: libical refuses its RRULE", where);
        }
        icalrecur_iterator_free(it);
    }
    return 0;
}

/* a value of a time property: known zone, a real date-time */
static int check_value(ical_event *e, icalproperty *p, struct icaltimetype t, const char *what,
                       int allow_date, char *err, size_t err_size)
{
    const char *where = e->where;
    zone_kind kind;
    icaltimezone *zone;
    const char *tzid;
    if (!time_ok(t) || (t.is_date && !allow_date))
        return sched_fail(err, err_size, "iCalendar: %s: %s is not a date-time", where, what);
    if (value_zone(p, t, &kind, &zone, &tzid) < 0) {
        char shown[72];
        sched_copy_utf8(shown, sizeof shown, sched_utf8_ok(tzid, strlen(tzid)) ? tzid : "?");
        return sched_fail(err, err_size, "iCalendar: %s: %s has an unknown TZID '%s' (no "
                          "VTIMEZONE in the feed, no zone of that name)", where, what, shown);
    }
    return 0;
}

/* Reads a VEVENT.  Returns 1 to keep it, 0 to skip it (all-day, cancelled,
 * no duration), or an error. */
static int read_event(ical_event *e, char *err, size_t err_size)
{
    icalcomponent *c = e->comp;
    icalproperty *p;
    const char *where = e->where;
    int ret;

    e->line = line_int(c);
    where_of(c, e->where, sizeof e->where);
    if ((ret = props_of(c, ICAL_RRULE_PROPERTY, &e->rrules)) < 0 ||
        (ret = props_of(c, ICAL_RDATE_PROPERTY, &e->rdates)) < 0 ||
        (ret = props_of(c, ICAL_EXDATE_PROPERTY, &e->exdates)) < 0 ||
        (ret = props_of(c, ICAL_X_PROPERTY, &e->xprops)) < 0)
        return ret;
    e->uid = icalcomponent_get_uid(c);
    if (!e->uid || !*e->uid)
        return sched_fail(err, err_size, "iCalendar: %s: no UID", where);
    size_t len = strlen(e->uid);
    if (len > ICAL_MAX_UID || !sched_utf8_ok(e->uid, len))
        return sched_fail(err, err_size, "iCalendar: %s: UID longer than %d bytes or not UTF-8",
                          where, ICAL_MAX_UID);
    for (const char *s = e->uid; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return sched_fail(err, err_size, "iCalendar: %s: UID holds a control character",
                              where);
    e->rid = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
    e->is_override = e->rid != NULL;
    p = icalcomponent_get_first_property(c, ICAL_STATUS_PROPERTY);
    e->cancelled = p && icalproperty_get_status(p) == ICAL_STATUS_CANCELLED;

    if (!(p = e->dtstart = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY)))
        return sched_fail(err, err_size, "iCalendar: %s: no DTSTART", where);
    struct icaltimetype start = icalproperty_get_dtstart(p);
    if (time_ok(start) && start.is_date)
        return 0;                   /* all day: not a lesson */
    if ((ret = check_value(e, p, start, "DTSTART", 0, err, err_size)) < 0)
        return ret;
    const char *tzid;
    value_zone(p, start, &e->start_kind, &e->start_zone, &tzid);
    start.zone = e->start_kind == ZONE_UTC ? icaltimezone_get_utc_timezone() : e->start_zone;

    if (e->is_override &&
        (ret = check_value(e, e->rid, icalproperty_get_recurrenceid(e->rid), "RECURRENCE-ID", 0,
                           err, err_size)) < 0)
        return ret;
    icalproperty *dtend = e->dtend = icalcomponent_get_first_property(c, ICAL_DTEND_PROPERTY);
    icalproperty *dur = icalcomponent_get_first_property(c, ICAL_DURATION_PROPERTY);
    if (dtend && dur)
        return sched_fail(err, err_size, "iCalendar: %s: both DTEND and DURATION", where);
    if (dtend) {
        struct icaltimetype end = icalproperty_get_dtend(dtend);
        if ((ret = check_value(e, dtend, end, "DTEND", 0, err, err_size)) < 0)
            return ret;
        /* floating times read as UTC here: both are in the same zone */
        icaltimezone *utc = icaltimezone_get_utc_timezone(), *end_zone;
        zone_kind end_kind;
        value_zone(dtend, end, &end_kind, &end_zone, &tzid);
        if (to_utc(end, end_kind, end_zone, utc) <= to_utc(icalproperty_get_dtstart(p),
                                                           e->start_kind, e->start_zone, utc))
            return sched_fail(err, err_size, "iCalendar: %s: DTEND is not after DTSTART", where);
        e->has_dtend = 1;
    } else if (dur) {
        struct icaldurationtype d = icalproperty_get_duration(dur);
        if (d.is_neg)
            return sched_fail(err, err_size, "iCalendar: %s: negative DURATION", where);
        e->duration_s = icaldurationtype_as_int(d);
    }
    if (!dtend && e->duration_s <= 0)
        return 0;                   /* an instant, not a lesson */

    for (int i = 0; i < e->exdates.n; i++)
        if ((ret = check_value(e, e->exdates.p[i], icalproperty_get_exdate(e->exdates.p[i]),
                               "EXDATE", 1, err, err_size)) < 0)
            return ret;
    for (int i = 0; i < e->rdates.n; i++) {
        p = e->rdates.p[i];
        struct icaldatetimeperiodtype r = icalproperty_get_rdate(p);
        struct icaltimetype t = icaltime_is_null_time(r.time) ? r.period.start : r.time;
        if ((ret = check_value(e, p, t, "RDATE", 1, err, err_size)) < 0)
            return ret;
        if (icaltime_is_null_time(r.time) && !icaltime_is_null_time(r.period.end) &&
            !time_ok(r.period.end))
            return sched_fail(err, err_size, "iCalendar: %s: RDATE's period has no valid end",
                              where);
    }
    if (!e->is_override && (ret = check_rrules(e, start, err, err_size)) < 0)
        return ret;
    if ((ret = event_meta(e, err, err_size)) < 0)
        return ret;
    return 1;
}

static int check_timezones(icalcomponent *c, char *err, size_t err_size)
{
    char where[160];
    if (icalcomponent_isa(c) == ICAL_VTIMEZONE_COMPONENT) {
        int nb = 0;
        for (icalcomponent *k = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); k;
             k = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT)) {
            where_of(c, where, sizeof where);
            if (++nb > 400)
                return sched_fail(err, err_size, "iCalendar: %s: more than 400 observances",
                                  where);
            for (icalproperty *p = icalcomponent_get_first_property(k, ICAL_RRULE_PROPERTY); p;
                 p = icalcomponent_get_next_property(k, ICAL_RRULE_PROPERTY)) {
                struct icalrecurrencetype r = icalproperty_get_rrule(p);
                /* zones change by the year; anything faster is expanded by
                 * libical change after change, a hostile feed's stall */
                if (r.freq != ICAL_YEARLY_RECURRENCE)
                    return sched_fail(err, err_size, "iCalendar: %s: an observance's RRULE is not "
                                      "FREQ=YEARLY", where);
            }
            struct icaltimetype t = icalcomponent_get_dtstart(k);
            if (!time_ok(t) || t.year < 1600)
                return sched_fail(err, err_size, "iCalendar: %s: an observance without a valid "
                                  "DTSTART (1600 or later)", where);
        }
        if (!icalcomponent_get_first_property(c, ICAL_TZID_PROPERTY))
            return sched_fail(err, err_size, "iCalendar: VTIMEZONE (line %d): no TZID",
                              line_int(c));
        return 0;
    }
    for (icalcomponent *k = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); k;
         k = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT)) {
        int ret = check_timezones(k, err, err_size);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static const lb_ical *sorting;

static int uid_cmp(const void *pa, const void *pb)
{
    const ical_event *a = &sorting->events[*(const int *)pa], *b = &sorting->events[*(const int *)pb];
    int c = strcmp(a->uid, b->uid);
    if (c)
        return c;
    if (a->is_override != b->is_override)
        return a->is_override - b->is_override;
    return a->line - b->line;
}

/* Groups the events by UID (O(n log n): a feed may hold 20000); two
 * masters of one UID are an error.  Call locked (sorting is static). */
static int group_by_uid(lb_ical *cal, char *err, size_t err_size)
{
    if (!cal->nb_events)
        return 0;
    if (!(cal->by_uid = malloc((size_t)cal->nb_events * sizeof *cal->by_uid)))
        return AVERROR(ENOMEM);
    for (int i = 0; i < cal->nb_events; i++)
        cal->by_uid[i] = i;
    sorting = cal;
    qsort(cal->by_uid, (size_t)cal->nb_events, sizeof *cal->by_uid, uid_cmp);
    sorting = NULL;
    for (int i = 0, j; i < cal->nb_events; i = j) {
        const ical_event *first = &cal->events[cal->by_uid[i]];
        for (j = i + 1; j < cal->nb_events && !strcmp(cal->events[cal->by_uid[j]].uid, first->uid);
             j++) {
            const ical_event *e = &cal->events[cal->by_uid[j]];
            if (!e->is_override && !first->is_override)
                return sched_fail(err, err_size, "iCalendar: %s: the UID of the VEVENT of line %d "
                                  "too (and neither has a RECURRENCE-ID)", e->where, first->line);
        }
        for (int k = i; k < j; k++) {
            cal->events[cal->by_uid[k]].group = i;
            cal->events[cal->by_uid[k]].group_len = j - i;
        }
    }
    return 0;
}

static void free_event(ical_event *e)
{
    free(e->rrules.p);
    free(e->rdates.p);
    free(e->exdates.p);
    free(e->xprops.p);
    memset(&e->rrules, 0, sizeof e->rrules);
    memset(&e->rdates, 0, sizeof e->rdates);
    memset(&e->exdates, 0, sizeof e->exdates);
    memset(&e->xprops, 0, sizeof e->xprops);
}

static int collect_events(lb_ical *cal, icalcomponent *c, int *cap, char *err, size_t err_size)
{
    int ret;
    if (icalcomponent_isa(c) == ICAL_VEVENT_COMPONENT) {
        if (cal->nb_events == *cap) {
            int ncap = *cap ? *cap * 2 : 32;
            ical_event *n = realloc(cal->events, (size_t)ncap * sizeof *n);
            if (!n)
                return AVERROR(ENOMEM);
            cal->events = n;
            *cap = ncap;
        }
        ical_event *e = &cal->events[cal->nb_events];
        memset(e, 0, sizeof *e);
        e->comp = c;
        ret = read_event(e, err, err_size);
        if (ret <= 0) {
            free_event(e);
            return ret;
        }
        cal->nb_events++;
        return 0;
    }
    if (icalcomponent_isa(c) != ICAL_VCALENDAR_COMPONENT &&
        icalcomponent_isa(c) != ICAL_XROOT_COMPONENT)
        return 0;
    for (icalcomponent *k = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); k;
         k = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT))
        if ((ret = collect_events(cal, k, cap, err, err_size)) < 0)
            return ret;
    return 0;
}

int lb_ical_parse(lb_ical **pcal, const char *text, size_t size, char *err, size_t err_size)
{
    lb_ical *cal = NULL;
    icalcomponent *bad_in = NULL;
    icalproperty *bad;
    int ret, cap = 0;

    *pcal = NULL;
    if (err && err_size)
        *err = 0;
    if (size > LB_SCHEDULE_MAX_BYTES)
        return sched_fail(err, err_size, "iCalendar: larger than %d bytes", LB_SCHEDULE_MAX_BYTES);
    const char *nul = memchr(text, 0, size);
    if (nul) {
        int line = 1;
        for (const char *s = text; s < nul; s++)
            line += *s == '\n';
        return sched_fail(err, err_size, "iCalendar: line %d: a NUL byte", line);
    }
    if (!(cal = calloc(1, sizeof *cal)))
        return AVERROR(ENOMEM);
    sched_ical_lock();
    bad_lines lines = { .nb = 0 };
    if ((ret = parse_tree(text, size, &cal->root, &lines, err, err_size)) < 0)
        goto fail;
    if ((bad = find_error(cal->root, &bad_in))) {
        char where[160], what[200];
        where_of(bad_in, where, sizeof where);
        sched_copy_utf8(what, sizeof what, icalproperty_get_xlicerror(bad) ?
                        icalproperty_get_xlicerror(bad) : "?");
        if (!sched_utf8_ok(what, strlen(what)))
            snprintf(what, sizeof what, "a value libical cannot parse");
        for (char *s = what; *s; s++)
            if ((unsigned char)*s < 0x20)
                *s = ' ';
        /* libical's message ends with the text it could not read: the
         * flagged line of that component holding it is the line at fault */
        const char *tail = strrchr(what, ':');
        int line = 0;
        tail = tail ? tail + 1 + (tail[1] == ' ') : "";
        for (int i = 0; i < lines.nb && *tail && !line; i++)
            if (lines.at[i].component_line == line_int(bad_in) && strstr(lines.at[i].text, tail))
                line = lines.at[i].line;
        if (line)
            ret = sched_fail(err, err_size, "iCalendar: line %d: %s (in %s)", line, what, where);
        else
            ret = sched_fail(err, err_size, "iCalendar: %s: %s", where, what);
        goto fail;
    }
    if ((ret = check_timezones(cal->root, err, err_size)) < 0 ||
        (ret = collect_events(cal, cal->root, &cap, err, err_size)) < 0)
        goto fail;
    if ((ret = group_by_uid(cal, err, err_size)) < 0)
        goto fail;
    icalerror_clear_errno();
    sched_ical_unlock();
    *pcal = cal;
    return 0;
fail:
    icalerror_clear_errno();
    sched_ical_unlock();
    lb_ical_free(&cal);
    return ret;
}

void lb_ical_free(lb_ical **pcal)
{
    lb_ical *cal = *pcal;
    if (!cal)
        return;
    if (cal->root) {
        sched_ical_lock();
        icalcomponent_free(cal->root);
        sched_ical_unlock();
    }
    for (int i = 0; i < cal->nb_events; i++)
        free_event(&cal->events[i]);
    free(cal->events);
    free(cal->by_uid);
    free(cal);
    *pcal = NULL;
}

/* ---- expansion ---- */

typedef struct expansion {
    lb_schedule_occurrence *occ;
    int nb, cap;
    int iterations;
    int64_t from_s, to_s;
    icaltimezone *floating;         /* the zone floating times are read in */
    char *err;
    size_t err_size;
} expansion;

static void format_utc(int64_t t, char *out, size_t size)
{
    int y, m, d;
    int64_t days = sched_floor_div(t, 86400), sod = t - days * 86400;
    sched_civil_from_days(days, &y, &m, &d);
    snprintf(out, size, "%04d%02d%02dT%02d%02d%02dZ", y, m, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60));
}

static int add_occurrence(expansion *x, const ical_event *e, int64_t start_s, int64_t end_s,
                          int64_t original_s)
{
    char stamp[32];
    if (end_s <= start_s || start_s >= x->to_s || end_s <= x->from_s)
        return 0;
    format_utc(original_s, stamp, sizeof stamp);
    for (int i = 0; i < x->nb; i++)   /* RRULE and RDATE may give the same instance */
        if (x->occ[i].start_s == start_s && x->occ[i].end_s == end_s &&
            !strncmp(x->occ[i].meta.schedule_uid, e->uid, strlen(e->uid)) &&
            !strcmp(x->occ[i].meta.schedule_uid + strlen(e->uid) + 1, stamp))
            return 0;
    if (x->nb == SCHED_MAX_OCCURRENCES)
        return sched_fail(x->err, x->err_size, "schedule: more than %d lessons in the window",
                          SCHED_MAX_OCCURRENCES);
    if (x->nb == x->cap) {
        int ncap = x->cap ? x->cap * 2 : 64;
        lb_schedule_occurrence *n = realloc(x->occ, (size_t)ncap * sizeof *n);
        if (!n)
            return AVERROR(ENOMEM);
        x->occ = n;
        x->cap = ncap;
    }
    lb_schedule_occurrence *o = &x->occ[x->nb++];
    memset(o, 0, sizeof *o);
    o->start_s = start_s;
    o->end_s = end_s;
    o->origin = LB_SCHEDULE_ICAL;
    o->record = e->record;
    o->meta = e->meta;
    if (!o->meta.title[0])
        sched_copy_utf8(o->meta.title, sizeof o->meta.title, e->uid);
    snprintf(o->meta.schedule_uid, sizeof o->meta.schedule_uid, "%s@%s", e->uid, stamp);
    return 0;
}

static int64_t prop_utc(expansion *x, icalproperty *p, struct icaltimetype t)
{
    zone_kind kind;
    icaltimezone *zone;
    const char *tzid;
    value_zone(p, t, &kind, &zone, &tzid);
    return to_utc(t, kind, zone, x->floating);
}

static int is_excluded(expansion *x, const lb_ical *cal, const ical_event *e, int64_t utc_s,
                       struct icaltimetype local)
{
    for (int i = 0; i < e->exdates.n; i++) {
        icalproperty *p = e->exdates.p[i];
        struct icaltimetype t = icalproperty_get_exdate(p);
        if (t.is_date ? (t.year == local.year && t.month == local.month && t.day == local.day)
                      : prop_utc(x, p, t) == utc_s)
            return 1;
    }
    /* an override of this occurrence replaces it */
    for (int i = e->group; i < e->group + e->group_len; i++) {
        const ical_event *o = &cal->events[cal->by_uid[i]];
        if (!o->is_override)
            continue;
        if (prop_utc(x, o->rid, icalproperty_get_recurrenceid(o->rid)) == utc_s)
            return 1;
    }
    return 0;
}

static int64_t event_zone_utc(expansion *x, const ical_event *e, struct icaltimetype t)
{
    return to_utc(t, e->start_kind, e->start_zone, x->floating);
}

static int64_t event_duration(expansion *x, const ical_event *e, int64_t start_utc)
{
    if (!e->has_dtend)
        return e->duration_s;
    int64_t end = prop_utc(x, e->dtend, icalproperty_get_dtend(e->dtend));
    return end - start_utc;
}

/* the local time of utc_s in the event's zone, as libical's iterator wants it */
static struct icaltimetype local_time(expansion *x, const ical_event *e, int64_t utc_s,
                                      struct icaltimetype like)
{
    icaltimezone *zone = e->start_kind == ZONE_NAMED ? e->start_zone : x->floating;
    int64_t wall = utc_s + (e->start_kind == ZONE_UTC ? 0 : sched_zone_offset(zone, utc_s));
    int64_t days = sched_floor_div(wall, 86400), sod = wall - days * 86400;
    struct icaltimetype t = like;
    sched_civil_from_days(days, &t.year, &t.month, &t.day);
    t.hour = (int)(sod / 3600);
    t.minute = (int)(sod / 60 % 60);
    t.second = (int)(sod % 60);
    return t;
}

static int expand_event(expansion *x, const lb_ical *cal, const ical_event *e)
{
    struct icaltimetype dtstart = icalproperty_get_dtstart(e->dtstart);
    int64_t start = event_zone_utc(x, e, dtstart);
    int64_t dur = event_duration(x, e, start);
    int ret;

    /* libical's iterator walks wall times without a zone: given one, it
     * moves a time that does not exist (02:30 when clocks spring forward)
     * to one that does and goes on from there, every later week an hour
     * late.  Each wall time it gives is read in the zone here. */
    dtstart.zone = NULL;
    if (dur <= 0)
        return 0;                   /* a floating lesson made empty by a DST change */
    if (e->is_override)
        return e->cancelled ? 0 : add_occurrence(x, e, start, start + dur,
                                                 prop_utc(x, e->rid,
                                                          icalproperty_get_recurrenceid(e->rid)));
    if (e->cancelled)
        return 0;

    if (!e->rrules.n && !is_excluded(x, cal, e, start, dtstart) &&
        (ret = add_occurrence(x, e, start, start + dur, start)) < 0)
        return ret;
    for (int i = 0; i < e->rrules.n; i++) {
        struct icalrecurrencetype r = icalproperty_get_rrule(e->rrules.p[i]);
        /* UNTIL in UTC (what RFC 5545 asks beside a TZID) as the wall time */
        if (!icaltime_is_null_time(r.until) && !r.until.is_date) {
            if (icaltime_is_utc(r.until))
                r.until = local_time(x, e, wall_of(r.until), dtstart);
            r.until.zone = NULL;
        }
        icalrecur_iterator *it = icalrecur_iterator_new(r, dtstart);
        if (!it) {
            icalerror_clear_errno();
            continue;
        }
        /* no COUNT: start a day (and a lesson) before the window */
        if (r.count == 0 && x->from_s - dur - 86400 > start)
            icalrecur_iterator_set_start(it, local_time(x, e, x->from_s - dur - 86400, dtstart));
        for (struct icaltimetype t = icalrecur_iterator_next(it); !icaltime_is_null_time(t);
             t = icalrecur_iterator_next(it)) {
            if (++x->iterations > ICAL_MAX_ITERATIONS) {
                icalrecur_iterator_free(it);
                return sched_fail(x->err, x->err_size, "iCalendar: %s: its RRULE gives more than "
                                  "%d occurrences before the window's end", e->where,
                                  ICAL_MAX_ITERATIONS);
            }
            int64_t s = event_zone_utc(x, e, t);
            if (s >= x->to_s + 86400)     /* a day's margin: DST moves wall times */
                break;
            if (s + dur > x->from_s && s < x->to_s && !is_excluded(x, cal, e, s, t) &&
                (ret = add_occurrence(x, e, s, s + dur, s)) < 0) {
                icalrecur_iterator_free(it);
                return ret;
            }
        }
        icalrecur_iterator_free(it);
    }
    for (int i = 0; i < e->rdates.n; i++) {
        icalproperty *p = e->rdates.p[i];
        struct icaldatetimeperiodtype rd = icalproperty_get_rdate(p);
        int64_t s, end;
        struct icaltimetype t;
        if (!icaltime_is_null_time(rd.time)) {
            if (rd.time.is_date)
                continue;           /* a day, not a time: not a lesson */
            t = rd.time;
            s = prop_utc(x, p, t);
            end = s + dur;
        } else {
            t = rd.period.start;
            if (t.is_date)
                continue;
            s = prop_utc(x, p, t);
            end = !icaltime_is_null_time(rd.period.end) ? prop_utc(x, p, rd.period.end)
                                                         : s + icaldurationtype_as_int(rd.period.duration);
        }
        if (!is_excluded(x, cal, e, s, t) && (ret = add_occurrence(x, e, s, end, s)) < 0)
            return ret;
    }
    return 0;
}

int lb_ical_expand(const lb_ical *cal, const char *tz, int64_t from_s, int64_t to_s,
                   lb_schedule_occurrence **pocc, int *pnb, char *err, size_t err_size)
{
    expansion x = { .from_s = from_s, .to_s = to_s, .err = err, .err_size = err_size };
    int ret = 0;

    *pocc = NULL;
    *pnb = 0;
    if ((ret = sched_check_window(from_s, to_s, err, err_size)) < 0)
        return ret;
    sched_ical_lock();
    if ((ret = sched_zone_find(tz, &x.floating, err, err_size)) < 0)
        goto done;
    for (int i = 0; i < cal->nb_events; i++)
        if ((ret = expand_event(&x, cal, &cal->events[i])) < 0)
            break;
done:
    icalerror_clear_errno();
    sched_ical_unlock();
    if (ret < 0) {
        free(x.occ);
        return ret;
    }
    if (x.nb)
        qsort(x.occ, (size_t)x.nb, sizeof *x.occ, sched_occurrence_cmp);
    *pocc = x.occ;
    *pnb = x.nb;
    return 0;
}
