/* Design note: luobo recut LESSON_DIR re-makes a lesson's program offline.
 *
 * The live program is a function of the cameras' frames, the decisions and
 * the program's settings.  Resource mode keeps the cameras (iso/, stream
 * copies of what capture decoded), director.jsonl keeps the decisions and,
 * in its first line (format 2, docs/director-jsonl.md), the settings: the
 * program's size and rate, the [director] section (which holds the
 * compositor's keys) and [encoder].  So a re-cut decodes every ISO file with
 * libavcodec (as capture did), takes for each program frame the newest
 * picture at or before its time (capture's frame synchroniser, offline),
 * asks the log for the shot (or, with --redirect, runs the automatic
 * director again on those pictures and the mics of audio/), composes with
 * the same compositor, encodes with the same x264 settings and muxes into
 * program.recut-N.mp4 beside program.mp4, which is never touched.
 *
 * Program audio does not depend on the pictures: it is copied packet for
 * packet from program.mp4 (exact, no re-encode).  Frame times are the live
 * ticks' (t0_us in the header: the program time of the lesson's first
 * frame), so the re-cut has the same frames at the same times.
 *
 * Runs as fast as the machine allows (offline); progress goes to stderr. */
#include "pipeline_priv.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/mathematics.h>
#include <libswscale/swscale.h>

#include "lb_clock.h"
#include "lb_file.h"
#include "lb_log.h"

/* ---- the log's header, written live ---- */

static cJSON *section_json(const lb_config *cfg, const char *name)
{
    cJSON *o = cJSON_CreateObject();
    const lb_config_section *sec = cfg ? lb_config_find(cfg, name) : NULL;
    for (int i = 0; o && sec && i < lb_config_section_nb_keys(sec); i++)
        cJSON_AddStringToObject(o, lb_config_section_key_at(sec, i), lb_config_section_value_at(sec, i));
    return o;
}

char *lb_recut_log_header(const lb_pipeline *p, const lb_config *cfg)
{
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "format", "luobo-director");
    cJSON_AddNumberToObject(root, "v", 2);
    cJSON *prog = cJSON_AddObjectToObject(root, "program");
    cJSON_AddNumberToObject(prog, "width", p->general.width);
    cJSON_AddNumberToObject(prog, "height", p->general.height);
    cJSON_AddNumberToObject(prog, "fps_num", p->fps_num);
    cJSON_AddNumberToObject(prog, "fps_den", p->fps_den);
    cJSON *srcs = cJSON_AddArrayToObject(prog, "sources");
    for (int i = 0; i < p->setup.nb_sources; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", p->setup.source_names[i]);
        cJSON_AddStringToObject(s, "role", lb_role_name(p->setup.source_roles[i]));
        /* capture's scaling of the decoded picture ([source] width, height) */
        char sname[96];
        snprintf(sname, sizeof sname, "source.%s", p->setup.source_names[i]);
        const lb_config_section *sec = cfg ? lb_config_find(cfg, sname) : NULL;
        const char *w = sec ? lb_config_get(sec, "width") : NULL, *h = sec ? lb_config_get(sec, "height") : NULL;
        cJSON_AddNumberToObject(s, "width", w ? atoi(w) : 0);
        cJSON_AddNumberToObject(s, "height", h ? atoi(h) : 0);
        cJSON_AddItemToArray(srcs, s);
    }
    cJSON *mics = cJSON_AddArrayToObject(prog, "mics");
    for (int m = 0; m < p->setup.nb_mics; m++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", p->setup.mic_names[m]);
        cJSON_AddStringToObject(o, "role", lb_role_name(p->setup.mic_roles[m]));
        cJSON_AddItemToArray(mics, o);
    }
    int vsrc;
    lb_vcam_params vp;
    lb_director_vcam_info(p->director, &vsrc, &vp);
    cJSON *vcam = cJSON_AddObjectToObject(prog, "vcam");
    if (vsrc >= 0)
        cJSON_AddStringToObject(vcam, "source", p->setup.source_names[vsrc]);
    else
        cJSON_AddNullToObject(vcam, "source");
    cJSON_AddNumberToObject(vcam, "smooth_s", vp.smooth_s);
    cJSON_AddNumberToObject(vcam, "speed", vp.speed);
    cJSON_AddNumberToObject(vcam, "dead_zone", vp.dead_zone);
    cJSON *conf = cJSON_AddObjectToObject(prog, "config");
    cJSON_AddItemToObject(conf, "director", section_json(cfg, "director"));
    cJSON_AddItemToObject(conf, "encoder", section_json(cfg, "encoder"));
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        return NULL;
    /* the keys only: they go into the first decision's object */
    size_t len = strlen(text);
    if (len < 2) {
        free(text);
        return NULL;
    }
    memmove(text, text + 1, len - 2);
    text[len - 2] = 0;
    return text;
}

/* ---- the re-cut ---- */

#define MAX_RECORDS_GROW 1024
#define LB_RECUT_MAX_T_S 1e8            /* three years: any lesson, and ms fit in int64 */

typedef struct log_record {
    int64_t t_ms;
    lb_shot shot;
    int has_vcam;
} log_record;

typedef struct iso_input {
    char path[1200];
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int stream;
    AVPacket *pkt;
    AVFrame *cur, *next, *raw;
    int have_next, eof, flushing;
    struct SwsContext *sws;
    int want_w, want_h;
    int64_t tol_us;                 /* half a time base unit: the file's rounding */
} iso_input;

typedef struct mic_input {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int stream;
    AVPacket *pkt;
    AVFrame *frame;
    float *buf;                     /* decoded, not yet handed out */
    int nb, cap;
    int eof;
} mic_input;

typedef struct recut {
    const char *dir;
    char err[1024];
    cJSON *lesson, *header;
    int header_line;                /* the header's line in its file */
    lb_director_setup setup;
    char *names[LB_MAX_SOURCES], *mic_names[LB_MAX_MICS];
    lb_config *cfg;
    log_record *records;
    int nb_records;
    lb_vcam_params vparams;
    int64_t t0_us;
    iso_input iso[LB_MAX_SOURCES];
    mic_input mic[LB_MAX_MICS];
    AVFormatContext *in, *out;      /* program.mp4, the re-cut */
    int in_video, in_audio, out_video, out_audio;
    AVPacket *apkt;
    int have_apkt, audio_eof;
    int64_t nb_frames;
    lb_video_encoder *venc;
    lb_compositor *comp;
    lb_director *director;
    lb_mixer *mixer;
    FILE *newlog;
    int64_t last_video_dts_us;
} recut;

static int fail_msg(recut *r, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_msg(recut *r, int ret, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    return ret;
}

static char *read_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = cap <= max ? realloc(buf, cap) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (!got)
            break;
    }
    fclose(f);
    buf[n] = 0;
    return buf;
}

static int source_index(const recut *r, const char *name)
{
    for (int i = 0; i < r->setup.nb_sources; i++)
        if (!strcmp(r->setup.source_names[i], name))
            return i;
    return -1;
}

static lb_role role_from_name(const char *name)
{
    for (int k = LB_ROLE_INVALID + 1; k < LB_ROLE_COUNT; k++)
        if (name && !strcmp(lb_role_name((lb_role)k), name))
            return (lb_role)k;
    return LB_ROLE_INVALID;
}

/* One line of the log as a shot; 0, or AVERROR(EINVAL) with the reason. */
static int parse_record(recut *r, const cJSON *o, log_record *rec, const char *path, int line)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "t");
    const cJSON *layout = cJSON_GetObjectItemCaseSensitive(o, "layout");
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(o, "sources");
    const cJSON *crop = cJSON_GetObjectItemCaseSensitive(o, "crop");
    const cJSON *vcam = cJSON_GetObjectItemCaseSensitive(o, "vcam");
    const cJSON *shot = cJSON_GetObjectItemCaseSensitive(o, "shot");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(o, "reason");
    memset(rec, 0, sizeof *rec);
    /* 1e400 parses as infinity: its milliseconds would not be a number */
    if (!cJSON_IsNumber(t) || !(t->valuedouble >= 0 && t->valuedouble <= LB_RECUT_MAX_T_S))
        return fail_msg(r, AVERROR(EINVAL), "%s:%d: \"t\" must be a number of seconds from 0 to %.0f", path,
                        line, LB_RECUT_MAX_T_S);
    rec->t_ms = llround(t->valuedouble * 1000);
    rec->shot.layout = lb_layout_from_name(cJSON_IsString(layout) ? layout->valuestring : NULL);
    if (!rec->shot.layout)
        return fail_msg(r, AVERROR(EINVAL), "%s:%d: \"layout\" must be single, pip or sbs", path, line);
    if (!cJSON_IsArray(sources) || cJSON_GetArraySize(sources) < 1 || cJSON_GetArraySize(sources) > 2)
        return fail_msg(r, AVERROR(EINVAL), "%s:%d: \"sources\" must list one or two sources", path, line);
    int k = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, sources) {
        int idx = cJSON_IsString(s) ? source_index(r, s->valuestring) : -1;
        if (idx < 0)
            return fail_msg(r, AVERROR(EINVAL), "%s:%d: no source named %s in this lesson", path, line,
                            cJSON_IsString(s) ? s->valuestring : "(not a string)");
        rec->shot.sources[k++] = idx;
    }
    rec->shot.nb_sources = rec->shot.layout == LB_LAYOUT_SINGLE ? 1 : k;
    if (rec->shot.layout != LB_LAYOUT_SINGLE && k < 2)
        return fail_msg(r, AVERROR(EINVAL), "%s:%d: layout %s needs two sources", path, line,
                        layout->valuestring);
    snprintf(rec->shot.name, sizeof rec->shot.name, "%s",
             cJSON_IsString(shot) ? shot->valuestring : lb_role_name(r->setup.source_roles[rec->shot.sources[0]]));
    snprintf(rec->shot.reason, sizeof rec->shot.reason, "%s", cJSON_IsString(reason) ? reason->valuestring : "");
    for (k = 0; cJSON_IsArray(crop) && k < rec->shot.nb_sources; k++) {
        const cJSON *c = cJSON_GetArrayItem(crop, k);
        if (cJSON_IsString(c) && !strcmp(c->valuestring, "vcam")) {
            rec->shot.vcam_slots |= 1 << k;
        } else if (cJSON_IsArray(c) && cJSON_GetArraySize(c) == 4) {
            double v[4];
            for (int j = 0; j < 4; j++) {
                const cJSON *x = cJSON_GetArrayItem(c, j);
                if (!cJSON_IsNumber(x))
                    return fail_msg(r, AVERROR(EINVAL), "%s:%d: a crop is [x, y, w, h] in shares of the picture",
                                    path, line);
                v[j] = x->valuedouble;
            }
            rec->shot.crop[k] = (lb_rectf){ v[0], v[1], v[2], v[3] };
        } else if (c && !cJSON_IsNull(c)) {
            return fail_msg(r, AVERROR(EINVAL), "%s:%d: a crop is null, \"vcam\" or [x, y, w, h]", path, line);
        }
    }
    if (rec->shot.vcam_slots) {
        static const char *const keys[6] = { "x", "y", "w", "tx", "ty", "tw" };
        double *dst[6] = { &rec->shot.vcam.x, &rec->shot.vcam.y, &rec->shot.vcam.w,
                           &rec->shot.vcam.tx, &rec->shot.vcam.ty, &rec->shot.vcam.tw };
        for (int j = 0; j < 6; j++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(vcam, keys[j]);
            if (!cJSON_IsNumber(x))
                return fail_msg(r, AVERROR(EINVAL), "%s:%d: crop \"vcam\" needs \"vcam\": {x, y, w, tx, ty, tw}",
                                path, line);
            *dst[j] = x->valuedouble;
        }
        rec->has_vcam = 1;
    }
    return 0;
}

/* Reads a log: its header (the first line's "program", else header_from's)
 * and its records in order. */
static int load_log(recut *r, const char *path, int want_records)
{
    char *text = read_text(path, (size_t)1 << 31);
    int ret = 0, line = 0, cap = 0;
    if (!text)
        return fail_msg(r, AVERROR(errno), "%s: %s", path, strerror(errno));
    int64_t last_ms = -1;
    for (char *s = text, *nl; *s; s = nl ? nl + 1 : s + strlen(s)) {
        nl = strchr(s, '\n');
        if (nl)
            *nl = 0;
        line++;
        if (!*s || *s == '\r')
            continue;
        cJSON *o = cJSON_Parse(s);
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            ret = fail_msg(r, AVERROR_INVALIDDATA, "%s:%d: not a JSON object", path, line);
            break;
        }
        cJSON *prog = cJSON_GetObjectItemCaseSensitive(o, "program");
        if (cJSON_IsObject(prog) && !r->header) {
            r->header = cJSON_Duplicate(o, 1);
            r->header_line = line;
        }
        const cJSON *t0 = cJSON_GetObjectItemCaseSensitive(o, "t0_us");
        if (cJSON_IsObject(prog) && cJSON_IsNumber(t0) &&
            lb_json_int64(t0, 0, LB_JSON_WALL_MS_MAX * 1000, &r->t0_us) < 0) {
            ret = fail_msg(r, AVERROR_INVALIDDATA, "%s:%d: t0_us must be microseconds since 1970, "
                           "not %g", path, line, t0->valuedouble);
            cJSON_Delete(o);
            break;
        }
        if (want_records && r->setup.nb_sources) {
            if (r->nb_records == cap) {
                cap = cap ? cap * 2 : MAX_RECORDS_GROW;
                log_record *nr = realloc(r->records, sizeof *nr * (size_t)cap);
                if (!nr) {
                    cJSON_Delete(o);
                    ret = AVERROR(ENOMEM);
                    break;
                }
                r->records = nr;
            }
            ret = parse_record(r, o, &r->records[r->nb_records], path, line);
            if (ret >= 0 && r->records[r->nb_records].t_ms < last_ms)
                ret = fail_msg(r, AVERROR(EINVAL), "%s:%d: \"t\" goes back in time", path, line);
            if (ret >= 0)
                last_ms = r->records[r->nb_records++].t_ms;
        }
        cJSON_Delete(o);
        if (ret < 0)
            break;
    }
    free(text);
    if (ret >= 0 && want_records && !r->nb_records)
        ret = fail_msg(r, AVERROR(EINVAL), "%s: no decision", path);
    return ret;
}

/* A whole number of the header from 0 to max, else -1: its doubles are
 * hostile, and a cast of one out of int's range is undefined. */
static int header_int(const cJSON *o, const char *key, int max)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!n)
        return 0;
    if (!cJSON_IsNumber(n) || !(n->valuedouble >= 0 && n->valuedouble <= max))
        return -1;
    return (int)n->valuedouble;
}

#define HEADER_MAX_SIZE 16384
#define HEADER_MAX_RATE 1000000

/* A value for the INI text setup_from_header makes: a control character
 * (a new line) would be a line of its own there, a setting the log never
 * had. */
static int has_control_char(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return 1;
    return 0;
}

/* A key of the header's config sections: an option's name (lowercase
 * letters, digits, '_'), as the config tables have them. */
static int valid_key(const char *k)
{
    if (!k || !*k || strlen(k) > 64)
        return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_'))
            return 0;
    return 1;
}

/* The header into setup, the config sections into an INI text. */
static int setup_from_header(recut *r, const char *log_path, char **const sets, int nb_sets)
{
    const cJSON *prog = cJSON_GetObjectItemCaseSensitive(r->header, "program");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->header, "v");
    if (!cJSON_IsNumber(v) || v->valueint != 2)
        return fail_msg(r, AVERROR(EINVAL), "%s: format version %d is not one this luobo reads (2)",
                        log_path, cJSON_IsNumber(v) ? v->valueint : 0);
#define NUM(o, k) (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, k)) ? \
                   cJSON_GetObjectItemCaseSensitive(o, k)->valuedouble : 0)
    r->setup.width = header_int(prog, "width", HEADER_MAX_SIZE);
    r->setup.height = header_int(prog, "height", HEADER_MAX_SIZE);
    r->setup.fps_num = header_int(prog, "fps_num", HEADER_MAX_RATE);
    r->setup.fps_den = header_int(prog, "fps_den", HEADER_MAX_RATE);
    if (r->setup.width < 16 || r->setup.height < 16 || r->setup.fps_num <= 0 || r->setup.fps_den <= 0)
        return fail_msg(r, AVERROR(EINVAL), "%s: the header's program size or rate is missing or out of range "
                        "(16 to %d pixels, 1 to %d)", log_path, HEADER_MAX_SIZE, HEADER_MAX_RATE);
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(prog, "sources")) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(s, "name");
        if (!cJSON_IsString(name) || r->setup.nb_sources >= LB_MAX_SOURCES)
            return fail_msg(r, AVERROR(EINVAL), "%s: the header's sources are not understood", log_path);
        /* the names become the rules' reasons and the ISO files' names */
        if (!lb_config_valid_name(name->valuestring))
            return fail_msg(r, AVERROR(EINVAL), "%s:%d: the header's source %d has no valid name (1 to 32 "
                            "letters, digits, '_' or '-', as [source.NAME])", log_path, r->header_line,
                            r->setup.nb_sources + 1);
        int i = r->setup.nb_sources++;
        if (!(r->names[i] = strdup(name->valuestring)))
            return AVERROR(ENOMEM);
        r->setup.source_names[i] = r->names[i];
        r->setup.source_roles[i] = role_from_name(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "role")));
        r->iso[i].want_w = header_int(s, "width", HEADER_MAX_SIZE);
        r->iso[i].want_h = header_int(s, "height", HEADER_MAX_SIZE);
        if (r->iso[i].want_w < 0 || r->iso[i].want_h < 0)
            return fail_msg(r, AVERROR(EINVAL), "%s: the header's source %s has a size out of range (0 to %d)",
                            log_path, name->valuestring, HEADER_MAX_SIZE);
    }
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(prog, "mics")) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(s, "name");
        if (!cJSON_IsString(name) || r->setup.nb_mics >= LB_MAX_MICS)
            return fail_msg(r, AVERROR(EINVAL), "%s: the header's mics are not understood", log_path);
        if (!lb_config_valid_name(name->valuestring))
            return fail_msg(r, AVERROR(EINVAL), "%s:%d: the header's mic %d has no valid name (1 to 32 "
                            "letters, digits, '_' or '-', as [mic.NAME])", log_path, r->header_line,
                            r->setup.nb_mics + 1);
        int m = r->setup.nb_mics++;
        if (!(r->mic_names[m] = strdup(name->valuestring)))
            return AVERROR(ENOMEM);
        r->setup.mic_names[m] = r->mic_names[m];
        r->setup.mic_roles[m] = role_from_name(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "role")));
    }
    if (!r->setup.nb_sources)
        return fail_msg(r, AVERROR(EINVAL), "%s: the header lists no source", log_path);
    const cJSON *vcam = cJSON_GetObjectItemCaseSensitive(prog, "vcam");
    r->vparams = (lb_vcam_params){ NUM(vcam, "smooth_s"), NUM(vcam, "speed"), NUM(vcam, "dead_zone") };
#undef NUM
    /* the sections as an INI text, --set applied on top */
    const cJSON *conf = cJSON_GetObjectItemCaseSensitive(prog, "config");
    if (conf && !cJSON_IsObject(conf))
        return fail_msg(r, AVERROR(EINVAL), "%s:%d: the header's \"config\" is not an object", log_path,
                        r->header_line);
    for (int k = 0; k < 2; k++) {
        const char *name = k ? "encoder" : "director";
        const cJSON *sec = cJSON_GetObjectItemCaseSensitive(conf, name), *kv;
        if (sec && !cJSON_IsObject(sec))
            return fail_msg(r, AVERROR(EINVAL), "%s:%d: the header's config \"%s\" is not an object",
                            log_path, r->header_line, name);
        cJSON_ArrayForEach(kv, sec)
            if (!valid_key(kv->string) || !cJSON_IsString(kv) || has_control_char(kv->valuestring))
                return fail_msg(r, AVERROR(EINVAL), "%s:%d: the header's config \"%s\" has a setting that is "
                                "not a key (lowercase letters, digits, '_') with a text value free of control "
                                "characters", log_path, r->header_line, name);
    }
    for (int j = 0; j < nb_sets; j++)
        if (has_control_char(sets[j]))
            return fail_msg(r, AVERROR(EINVAL), "--set %d: a control character (a new line?) in a setting",
                            j + 1);
    size_t size = 1024, n = 0;
    char *ini = malloc(size);
    if (!ini)
        return AVERROR(ENOMEM);
    ini[0] = 0;
    static const char *const secs[] = { "director", "encoder" };
    for (int k = 0; k < 2; k++) {
        const cJSON *sec = cJSON_GetObjectItemCaseSensitive(conf, secs[k]), *kv;
        char head[32];
        snprintf(head, sizeof head, "[%s]\n", secs[k]);
        for (int pass = 0; pass < 2; pass++) {
            const char *item_key = NULL, *item_val = NULL;
            int count = pass == 0 ? cJSON_GetArraySize(sec) : nb_sets;
            for (int i = -1; i < count; i++) {
                char line[1200];
                if (i < 0) {
                    if (pass)
                        continue;
                    snprintf(line, sizeof line, "%s", head);
                } else if (!pass) {
                    kv = cJSON_GetArrayItem(sec, i);
                    item_key = kv->string;
                    item_val = cJSON_GetStringValue(kv);
                    /* a --set key replaces the logged one */
                    int replaced = 0;
                    for (int j = 0; j < nb_sets; j++) {
                        size_t plen = strlen(secs[k]);
                        const char *e = strchr(sets[j], '=');
                        if (!strncmp(sets[j], secs[k], plen) && sets[j][plen] == '.' && e &&
                            (size_t)(e - sets[j] - (ptrdiff_t)plen - 1) == strlen(item_key) &&
                            !strncmp(sets[j] + plen + 1, item_key, strlen(item_key)))
                            replaced = 1;
                    }
                    if (replaced || !item_val)
                        continue;
                    snprintf(line, sizeof line, "%s = %s\n", item_key, item_val);
                } else {
                    size_t plen = strlen(secs[k]);
                    const char *e = strchr(sets[i], '=');
                    if (strncmp(sets[i], secs[k], plen) || sets[i][plen] != '.' || !e)
                        continue;
                    snprintf(line, sizeof line, "%.*s = %s\n", (int)(e - sets[i] - (ptrdiff_t)plen - 1),
                             sets[i] + plen + 1, e + 1);
                }
                size_t len = strlen(line);
                if (n + len + 1 > size) {
                    size = (n + len + 1) * 2;
                    char *ni = realloc(ini, size);
                    if (!ni) {
                        free(ini);
                        return AVERROR(ENOMEM);
                    }
                    ini = ni;
                }
                memcpy(ini + n, line, len + 1);
                n += len;
            }
        }
    }
    /* its error names a line of the INI text made here: the file and the
     * header's line are what the user can look at */
    char why[sizeof r->err];
    int ret = lb_config_load_string(&r->cfg, "the header's settings", ini, why, sizeof why);
    free(ini);
    if (ret < 0)
        return fail_msg(r, ret, "%s:%d: %s", log_path, r->header_line, why);
    return ret;
}

/* ---- decoding ---- */

static int open_decoder(AVFormatContext *fmt, enum AVMediaType type, int *stream, AVCodecContext **dec)
{
    int ret = av_find_best_stream(fmt, type, -1, -1, NULL, 0);
    if (ret < 0)
        return ret;
    *stream = ret;
    AVStream *st = fmt->streams[ret];
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec)
        return AVERROR_DECODER_NOT_FOUND;
    if (!(*dec = avcodec_alloc_context3(codec)))
        return AVERROR(ENOMEM);
    if ((ret = avcodec_parameters_to_context(*dec, st->codecpar)) < 0)
        return ret;
    (*dec)->pkt_timebase = st->time_base;
    (*dec)->thread_count = 0;
    (*dec)->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    return avcodec_open2(*dec, codec, NULL);
}

/* Capture hands out YUV420P at [source] width x height (capture/url.c). */
static int to_yuv420p(iso_input *in, AVFrame *src, AVFrame *dst)
{
    int w = in->want_w ? in->want_w : src->width, h = in->want_h ? in->want_h : src->height;
    if (src->format == AV_PIX_FMT_YUV420P && w == src->width && h == src->height) {
        av_frame_move_ref(dst, src);
        return 0;
    }
    in->sws = sws_getCachedContext(in->sws, src->width, src->height, src->format, w, h,
                                   AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (!in->sws)
        return AVERROR(EINVAL);
    if (src->format == AV_PIX_FMT_YUVJ420P || src->format == AV_PIX_FMT_YUVJ422P ||
        src->color_range == AVCOL_RANGE_JPEG) {
        const int *coefs = sws_getCoefficients(SWS_CS_ITU709);
        sws_setColorspaceDetails(in->sws, coefs, 1, coefs, 0, 0, 1 << 16, 1 << 16);
    }
    dst->format = AV_PIX_FMT_YUV420P;
    dst->width = w;
    dst->height = h;
    int ret = av_frame_get_buffer(dst, 0);
    if (ret < 0)
        return ret;
    sws_scale(in->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height, dst->data,
              dst->linesize);
    dst->pts = src->pts;
    dst->color_range = AVCOL_RANGE_MPEG;
    av_frame_unref(src);
    return 0;
}

/* The next picture of an ISO file into in->next (pts in us). */
static int decode_next(iso_input *in)
{
    for (;;) {
        int ret = avcodec_receive_frame(in->dec, in->raw);
        if (ret >= 0) {
            AVRational tb = in->fmt->streams[in->stream]->time_base;
            int64_t pts = in->raw->best_effort_timestamp;
            in->raw->pts = pts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE : av_rescale_q(pts, tb, AV_TIME_BASE_Q);
            if (in->raw->pts == AV_NOPTS_VALUE) {
                av_frame_unref(in->raw);
                continue;
            }
            if ((ret = to_yuv420p(in, in->raw, in->next)) < 0)
                return ret;
            in->have_next = 1;
            return 0;
        }
        if (ret == AVERROR_EOF) {
            in->eof = 1;
            return ret;
        }
        if (ret != AVERROR(EAGAIN))
            return ret;
        if (in->flushing) {
            in->eof = 1;
            return AVERROR_EOF;
        }
        ret = av_read_frame(in->fmt, in->pkt);
        if (ret < 0) {
            in->flushing = 1;
            avcodec_send_packet(in->dec, NULL);
            continue;
        }
        if (in->pkt->stream_index == in->stream)
            avcodec_send_packet(in->dec, in->pkt);     /* a damaged packet: as capture, go on */
        av_packet_unref(in->pkt);
    }
}

/* cur becomes the newest picture at or before t_us (file time). */
static int advance(iso_input *in, int64_t t_us)
{
    for (;;) {
        if (!in->have_next) {
            if (in->eof)
                return 0;
            int ret = decode_next(in);
            if (ret == AVERROR_EOF)
                return 0;
            if (ret < 0)
                return ret;
        }
        if (in->next->pts > t_us + in->tol_us)
            return 0;
        av_frame_unref(in->cur);
        av_frame_move_ref(in->cur, in->next);
        in->have_next = 0;
    }
}

static int open_input(recut *r, const char *path, AVFormatContext **fmt)
{
    int ret = avformat_open_input(fmt, path, NULL, NULL);
    if (ret < 0)
        return fail_msg(r, ret, "%s: cannot open: %s", path, av_err2str(ret));
    if ((ret = avformat_find_stream_info(*fmt, NULL)) < 0)
        return fail_msg(r, ret, "%s: unreadable: %s", path, av_err2str(ret));
    return 0;
}

/* The last video packet's end in a file, us from its start: how far it goes. */
static int64_t video_end_us(AVFormatContext *fmt, int stream, AVPacket *pkt)
{
    int64_t end = AV_NOPTS_VALUE;
    AVRational tb = fmt->streams[stream]->time_base;
    while (av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == stream && pkt->pts != AV_NOPTS_VALUE) {
            int64_t e = av_rescale_q(pkt->pts + FFMAX(pkt->duration, 0), tb, AV_TIME_BASE_Q);
            end = end == AV_NOPTS_VALUE || e > end ? e : end;
        }
        av_packet_unref(pkt);
    }
    av_seek_frame(fmt, -1, INT64_MIN, AVSEEK_FLAG_BACKWARD);
    return end;
}

static int open_isos(recut *r, int64_t program_end_us)
{
    const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(r->lesson, "sources");
    char lesson_path[1100];
    snprintf(lesson_path, sizeof lesson_path, "%s/lesson.json", r->dir);
    for (int i = 0; i < r->setup.nb_sources; i++) {
        iso_input *in = &r->iso[i];
        const char *file = NULL;
        const cJSON *s;
        cJSON_ArrayForEach(s, srcs) {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "name"));
            if (name && !strcmp(name, r->setup.source_names[i]))
                file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "file"));
        }
        if (!file || strstr(file, ".."))
            return fail_msg(r, AVERROR(ENOENT), "%s: no ISO file listed for camera %s (was resource mode on?)",
                            lesson_path, r->setup.source_names[i]);
        snprintf(in->path, sizeof in->path, "%s/%s", r->dir, file);
        if (access(in->path, R_OK) < 0)
            return fail_msg(r, AVERROR(ENOENT), "%s: missing: camera %s cannot be re-cut", in->path,
                            r->setup.source_names[i]);
        int ret;
        if ((ret = open_input(r, in->path, &in->fmt)) < 0)
            return ret;
        if (!(in->pkt = av_packet_alloc()) || !(in->cur = av_frame_alloc()) ||
            !(in->next = av_frame_alloc()) || !(in->raw = av_frame_alloc()))
            return AVERROR(ENOMEM);
        if ((ret = open_decoder(in->fmt, AVMEDIA_TYPE_VIDEO, &in->stream, &in->dec)) < 0)
            return fail_msg(r, ret, "%s: no decodable video: %s", in->path, av_err2str(ret));
        AVRational tb = in->fmt->streams[in->stream]->time_base;
        in->tol_us = av_rescale_q(1, tb, AV_TIME_BASE_Q) / 2 + 1;
        int64_t end = video_end_us(in->fmt, in->stream, in->pkt);
        /* a torn file (a crash, a full disk) ends early: its camera cannot
         * be shown where the program showed it */
        int64_t frame_us = av_rescale(1000000, r->setup.fps_den, r->setup.fps_num);
        if (end == AV_NOPTS_VALUE || end + 2 * frame_us < program_end_us)
            return fail_msg(r, AVERROR_INVALIDDATA, "%s: interrupted: its pictures end at %.3f s, the "
                            "program at %.3f s", in->path, end == AV_NOPTS_VALUE ? 0 : end / 1e6,
                            program_end_us / 1e6);
    }
    return 0;
}

/* ---- the mics, for --redirect: the levels the director listens to ---- */

static void open_mics(recut *r)
{
    for (int m = 0; m < r->setup.nb_mics; m++) {
        mic_input *mi = &r->mic[m];
        char path[1200];
        snprintf(path, sizeof path, "%s/audio/%s.m4a", r->dir, r->setup.mic_names[m]);
        mi->eof = 1;
        if (access(path, R_OK) < 0)
            continue;
        if (avformat_open_input(&mi->fmt, path, NULL, NULL) < 0 || avformat_find_stream_info(mi->fmt, NULL) < 0 ||
            open_decoder(mi->fmt, AVMEDIA_TYPE_AUDIO, &mi->stream, &mi->dec) < 0 ||
            mi->dec->sample_rate != LB_AUDIO_RATE || !(mi->pkt = av_packet_alloc()) ||
            !(mi->frame = av_frame_alloc())) {
            LB_LOGW("recut", "%s: not a 48 kHz track this luobo reads: the director hears silence", path);
            continue;
        }
        mi->eof = 0;
    }
}

/* nb samples of mic m (its first channel), silence past its end. */
static void read_mic(mic_input *mi, float *out, int nb)
{
    while (!mi->eof && mi->nb < nb) {
        int ret = avcodec_receive_frame(mi->dec, mi->frame);
        if (ret >= 0) {
            int n = mi->frame->nb_samples;
            if (mi->nb + n > mi->cap) {
                int cap = (mi->nb + n) * 2;
                float *nbuf = realloc(mi->buf, sizeof(float) * (size_t)cap);
                if (!nbuf) {
                    mi->eof = 1;
                    break;
                }
                mi->buf = nbuf;
                mi->cap = cap;
            }
            const uint8_t *d = mi->frame->extended_data[0];
            for (int i = 0; i < n; i++) {
                float v;
                switch (mi->frame->format) {
                case AV_SAMPLE_FMT_FLTP: v = ((const float *)d)[i]; break;
                case AV_SAMPLE_FMT_FLT:  v = ((const float *)d)[i * mi->frame->ch_layout.nb_channels]; break;
                case AV_SAMPLE_FMT_S16P: v = ((const int16_t *)d)[i] / 32768.0f; break;
                case AV_SAMPLE_FMT_S16:  v = ((const int16_t *)d)[i * mi->frame->ch_layout.nb_channels] / 32768.0f; break;
                default:                 v = 0; break;
                }
                mi->buf[mi->nb + i] = v;
            }
            mi->nb += n;
            av_frame_unref(mi->frame);
            continue;
        }
        if (ret != AVERROR(EAGAIN)) {
            mi->eof = 1;
            break;
        }
        if ((ret = av_read_frame(mi->fmt, mi->pkt)) < 0) {
            avcodec_send_packet(mi->dec, NULL);
            continue;
        }
        if (mi->pkt->stream_index == mi->stream)
            avcodec_send_packet(mi->dec, mi->pkt);
        av_packet_unref(mi->pkt);
    }
    int have = FFMIN(nb, mi->nb);
    if (have > 0)
        memcpy(out, mi->buf, sizeof(float) * (size_t)have);
    for (int i = have; i < nb; i++)
        out[i] = 0;
    if (have > 0)
        memmove(mi->buf, mi->buf + have, sizeof(float) * (size_t)(mi->nb - have));
    mi->nb -= have;
}

/* ---- the output ---- */

static int write_audio_until(recut *r, int64_t until_us)
{
    for (;;) {
        if (!r->have_apkt) {
            if (r->audio_eof || r->in_audio < 0)
                return 0;
            int ret = av_read_frame(r->in, r->apkt);
            if (ret < 0) {
                r->audio_eof = 1;
                return 0;
            }
            if (r->apkt->stream_index != r->in_audio) {
                av_packet_unref(r->apkt);
                continue;
            }
            r->have_apkt = 1;
        }
        AVRational tb = r->in->streams[r->in_audio]->time_base;
        if (until_us != INT64_MAX && av_rescale_q(r->apkt->dts, tb, AV_TIME_BASE_Q) > until_us)
            return 0;
        r->apkt->stream_index = r->out_audio;
        av_packet_rescale_ts(r->apkt, tb, r->out->streams[r->out_audio]->time_base);
        r->apkt->pos = -1;
        int ret = av_interleaved_write_frame(r->out, r->apkt);
        r->have_apkt = 0;
        if (ret < 0)
            return ret;
    }
}

static int video_sink(void *opaque, AVPacket *pkt)
{
    recut *r = opaque;
    pkt->pts -= r->t0_us;
    pkt->dts -= r->t0_us;
    r->last_video_dts_us = pkt->dts;
    int ret = write_audio_until(r, pkt->dts);
    if (ret >= 0) {
        pkt->stream_index = r->out_video;
        av_packet_rescale_ts(pkt, AV_TIME_BASE_Q, r->out->streams[r->out_video]->time_base);
        ret = av_interleaved_write_frame(r->out, pkt);   /* takes pkt's reference */
    }
    return ret;
}

static int open_output(recut *r, const char *path)
{
    int ret;
    if ((ret = avformat_alloc_output_context2(&r->out, NULL, "mp4", path)) < 0)
        return fail_msg(r, ret, "%s: %s", path, av_err2str(ret));
    AVStream *vs = avformat_new_stream(r->out, NULL);
    if (!vs || (ret = avcodec_parameters_copy(vs->codecpar, lb_video_encoder_codecpar(r->venc))) < 0)
        return ret < 0 ? ret : AVERROR(ENOMEM);
    vs->codecpar->codec_tag = 0;
    vs->time_base = (AVRational){ 1, 90000 };
    vs->avg_frame_rate = (AVRational){ r->setup.fps_num, r->setup.fps_den };
    r->out_video = vs->index;
    r->out_audio = -1;
    if (r->in_audio >= 0) {
        AVStream *as = avformat_new_stream(r->out, NULL);
        if (!as || (ret = avcodec_parameters_copy(as->codecpar, r->in->streams[r->in_audio]->codecpar)) < 0)
            return ret < 0 ? ret : AVERROR(ENOMEM);
        as->codecpar->codec_tag = 0;
        as->time_base = r->in->streams[r->in_audio]->time_base;
        r->out_audio = as->index;
    }
    /* the lesson's tags and chapters travel with every version */
    av_dict_copy(&r->out->metadata, r->in->metadata, 0);
    if (r->in->nb_chapters) {
        r->out->chapters = av_calloc(r->in->nb_chapters, sizeof *r->out->chapters);
        if (!r->out->chapters)
            return AVERROR(ENOMEM);
        for (unsigned i = 0; i < r->in->nb_chapters; i++) {
            AVChapter *c = av_mallocz(sizeof *c), *from = r->in->chapters[i];
            if (!c)
                return AVERROR(ENOMEM);
            *c = (AVChapter){ .id = from->id, .time_base = from->time_base, .start = from->start, .end = from->end };
            av_dict_copy(&c->metadata, from->metadata, 0);
            r->out->chapters[r->out->nb_chapters++] = c;
        }
    }
    if ((ret = avio_open(&r->out->pb, path, AVIO_FLAG_WRITE)) < 0)
        return fail_msg(r, ret, "%s: %s", path, av_err2str(ret));
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    ret = avformat_write_header(r->out, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return fail_msg(r, ret, "%s: cannot write: %s", path, av_err2str(ret));
    return 0;
}

/* ---- lesson.json's versions ---- */

static int list_version(recut *r, const char *file, const char *log_file, int redirect,
                        char **const sets, int nb_sets, double speed)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/lesson.json", r->dir);
    /* read again: the daemon may have changed it meanwhile */
    char *text = read_text(path, 16 << 20);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail_msg(r, AVERROR_INVALIDDATA, "%s: no longer a JSON object", path);
    }
    cJSON *versions = cJSON_GetObjectItemCaseSensitive(root, "versions");
    if (!cJSON_IsArray(versions)) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "versions");
        versions = cJSON_AddArrayToObject(root, "versions");
        cJSON *live = cJSON_CreateObject();
        cJSON_AddStringToObject(live, "file", "program.mp4");
        cJSON_AddStringToObject(live, "kind", "live");
        cJSON_AddStringToObject(live, "log", "director.jsonl");
        cJSON_AddItemToArray(versions, live);
    }
    cJSON *v = cJSON_CreateObject();
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S%z", localtime_r(&t, &tm));
    cJSON_AddStringToObject(v, "file", file);
    cJSON_AddStringToObject(v, "kind", redirect ? "redirect" : "recut");
    cJSON_AddStringToObject(v, "log", log_file);
    cJSON_AddStringToObject(v, "created_at", now);
    cJSON *set = cJSON_AddArrayToObject(v, "set");
    for (int i = 0; i < nb_sets; i++)
        cJSON_AddItemToArray(set, cJSON_CreateString(sets[i]));
    cJSON_AddNumberToObject(v, "speed_x", floor(speed * 100 + 0.5) / 100);
    cJSON_AddItemToArray(versions, v);
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    if (!out)
        return AVERROR(ENOMEM);
    int ret = lb_write_file_atomic(path, out, strlen(out), 0644);
    free(out);
    if (ret < 0)
        return fail_msg(r, ret, "%s: cannot write: %s", path, av_err2str(ret));
    return 0;
}

/* ---- the loop ---- */

enum { OPT_LOG = 256, OPT_REDIRECT, OPT_SET, OPT_OFFLINE, OPT_QUIET, OPT_HELP };

const lb_cli_option lb_recut_options[] = {
    { OPT_LOG, "log", "FILE", "follow an edited decision log (director.jsonl's format) instead of "
                              "director.jsonl; a copy is kept as director.recut-N.jsonl" },
    { OPT_REDIRECT, "redirect", NULL, "run the automatic director again on the cameras and the mics "
                                      "(audio/); its decisions go to director.recut-N.jsonl" },
    { OPT_SET, "set", "director.KEY=VALUE", "with --redirect: another [director] setting, e.g. "
                                            "director.weight_board=0.95 (repeatable)" },
    { OPT_OFFLINE, "offline", NULL, "as fast as the machine allows (a re-cut always runs so)" },
    { OPT_QUIET, "quiet", NULL, "no progress lines" },
    { OPT_HELP, "help", NULL, "show this help" },
    { 0 },
};

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: luobo recut LESSON_DIR [--log FILE | --redirect [--set director.KEY=VALUE]...]\n"
        "Re-makes a finished lesson's program from its cameras' own recordings (iso/) and\n"
        "its decisions (director.jsonl) into LESSON_DIR/program.recut-N.mp4 and lists it in\n"
        "lesson.json's \"versions\"; program.mp4 is never changed.  The program audio is\n"
        "copied from program.mp4.  Prints the new file's path.\n\nOptions:\n");
    for (const lb_cli_option *o = lb_recut_options; o->long_name; o++) {
        char left[48];
        snprintf(left, sizeof left, "--%s%s%s", o->long_name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-26s %s\n", left, o->help);
    }
}

static int check_set(recut *r, const char *set)
{
    const char *dot = strchr(set, '.'), *eq = strchr(set, '=');
    if (!dot || !eq || eq < dot || strncmp(set, "director.", 9))
        return fail_msg(r, AVERROR(EINVAL), "--set %s: expected director.KEY=VALUE", set);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
    for (const lb_option *o = lb_director_options; o->name; o++)
        if (!strcmp(o->name, key))
            return 0;
    for (const lb_option *o = lb_compositor_options; o->name; o++)
        if (!strcmp(o->name, key))
            return 0;
    return fail_msg(r, AVERROR(EINVAL), "--set %s: [director] has no key '%s'", set, key);
}

static void recut_free(recut *r)
{
    for (int i = 0; i < LB_MAX_SOURCES; i++) {
        iso_input *in = &r->iso[i];
        avcodec_free_context(&in->dec);
        avformat_close_input(&in->fmt);
        av_packet_free(&in->pkt);
        av_frame_free(&in->cur);
        av_frame_free(&in->next);
        av_frame_free(&in->raw);
        sws_freeContext(in->sws);
        free(r->names[i]);
    }
    for (int m = 0; m < LB_MAX_MICS; m++) {
        mic_input *mi = &r->mic[m];
        avcodec_free_context(&mi->dec);
        avformat_close_input(&mi->fmt);
        av_packet_free(&mi->pkt);
        av_frame_free(&mi->frame);
        free(mi->buf);
        free(r->mic_names[m]);
    }
    avformat_close_input(&r->in);
    if (r->out) {
        avio_closep(&r->out->pb);
        avformat_free_context(r->out);
    }
    av_packet_free(&r->apkt);
    lb_video_encoder_close(&r->venc);
    lb_compositor_free(&r->comp);
    lb_director_free(&r->director);
    lb_mixer_free(&r->mixer);
    lb_config_free(&r->cfg);
    cJSON_Delete(r->lesson);
    cJSON_Delete(r->header);
    free(r->records);
    if (r->newlog)
        fclose(r->newlog);
}

int lb_recut_log_check(const char *path, const char *log_path, char *err, size_t err_size)
{
    recut rc = { 0 }, *r = &rc;
    int ret = load_log(r, path, 0);
    if (ret >= 0 && !r->header)
        ret = fail_msg(r, AVERROR(EINVAL), "%s: no header (format 2) in its first line", path);
    if (ret >= 0)
        ret = setup_from_header(r, path, NULL, 0);
    if (ret >= 0)
        ret = load_log(r, log_path ? log_path : path, 1);
    snprintf(err, err_size, "%s", ret < 0 ? r->err : "");
    recut_free(r);
    return ret;
}

int lb_recut_main(int argc, char **argv)
{
    struct option longopts[sizeof lb_recut_options / sizeof lb_recut_options[0]];
    int nb_longopts = 0;
    for (const lb_cli_option *o = lb_recut_options; o->long_name; o++)
        longopts[nb_longopts++] = (struct option){ o->long_name, o->arg ? required_argument : no_argument,
                                                   NULL, o->short_name };
    longopts[nb_longopts] = (struct option){ 0 };
    recut rc = { 0 }, *r = &rc;
    const char *log_path = NULL;
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int nb_sets = 0, redirect = 0, quiet = 0, opt, ret = 0, status = 2;
    char path[1100], out_path[1200], part_path[1300] = "", out_name[64], log_name[64] = "director.jsonl";
    AVFrame *dst = NULL;
    float *mix = NULL;
    lb_encoder_settings enc;
    float *mic_bufs[LB_MAX_MICS] = { 0 };
    if (!sets)
        return 1;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_LOG: log_path = optarg; break;
        case OPT_REDIRECT: redirect = 1; break;
        case OPT_SET: sets[nb_sets++] = optarg; break;
        case OPT_OFFLINE: break;
        case OPT_QUIET: quiet = 1; break;
        case OPT_HELP: usage(stdout); free(sets); return 0;
        case ':':
            fprintf(stderr, "luobo recut: %s needs a value\n", argv[optind - 1]);
            goto end;
        default:
            fprintf(stderr, "luobo recut: unknown option '%s' (see luobo recut --help)\n", argv[optind - 1]);
            goto end;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        goto end;
    }
    r->dir = argv[optind];
    if (nb_sets && !redirect) {
        fprintf(stderr, "luobo recut: --set changes the director's settings: it needs --redirect\n");
        goto end;
    }
    if (log_path && redirect) {
        fprintf(stderr, "luobo recut: --log and --redirect exclude each other (the director makes a new log)\n");
        goto end;
    }
    for (int i = 0; i < nb_sets; i++)
        if (check_set(r, sets[i]) < 0) {
            fprintf(stderr, "luobo recut: %s\n", r->err);
            goto end;
        }
    lb_log_route_av();
    status = 1;

    /* the lesson */
    snprintf(path, sizeof path, "%s/lesson.json", r->dir);
    char *text = read_text(path, 16 << 20);
    r->lesson = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!cJSON_IsObject(r->lesson)) {
        fprintf(stderr, "luobo recut: %s: %s\n", path, errno == ENOENT ? "missing: not a lesson folder" :
                                                       "not a JSON object");
        goto end;
    }
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->lesson, "status"));
    if (st && !strcmp(st, "recording")) {
        fprintf(stderr, "luobo recut: %s: the lesson is still recording\n", path);
        goto end;
    }

    /* a resumed lesson's parts are joined with slates between them: its
     * frames are not on one grid of ticks */
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->lesson, "outages")) > 0) {
        fprintf(stderr, "luobo recut: %s: the lesson was interrupted and resumed (outages): a re-cut "
                "of its parts is not supported yet\n", path);
        goto end;
    }
    /* the log: the header always from director.jsonl's first line */
    snprintf(path, sizeof path, "%s/director.jsonl", r->dir);
    if ((ret = load_log(r, path, 0)) < 0)
        goto fail;
    if (!r->header) {
        fail_msg(r, AVERROR(EINVAL), "%s: no header (format 2) in its first line: the lesson was recorded "
                 "by a luobo that did not log enough to re-cut it", path);
        goto fail;
    }
    if ((ret = setup_from_header(r, path, sets, nb_sets)) < 0)
        goto fail;
    if (!redirect && (ret = load_log(r, log_path ? log_path : path, 1)) < 0)
        goto fail;
    const lb_config_section *dsec = lb_config_find(r->cfg, "director");
    if ((ret = lb_config_apply(lb_config_find(r->cfg, "encoder"), lb_encoder_options, &enc, r->err,
                               sizeof r->err)) < 0 ||
        (ret = lb_compositor_create(&r->comp, &r->setup, dsec, r->err, sizeof r->err)) < 0)
        goto fail;
    if (redirect) {
        char why[LB_CONFIG_ERR_SIZE];
        if ((ret = lb_director_create(&r->director, dsec, &r->setup, why, sizeof why)) < 0) {
            fail_msg(r, ret, "%s", why);
            goto fail;
        }
        if ((ret = lb_mixer_create(&r->mixer, &enc, r->setup.nb_mics)) < 0)
            goto fail;
        open_mics(r);
    }

    /* the live program: its frames and its audio */
    snprintf(path, sizeof path, "%s/program.mp4", r->dir);
    if ((ret = open_input(r, path, &r->in)) < 0)
        goto fail;
    r->in_video = av_find_best_stream(r->in, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    r->in_audio = av_find_best_stream(r->in, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (r->in_video < 0) {
        fail_msg(r, AVERROR_INVALIDDATA, "%s: no video", path);
        goto fail;
    }
    if (!(r->apkt = av_packet_alloc())) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    while (av_read_frame(r->in, r->apkt) >= 0) {
        r->nb_frames += r->apkt->stream_index == r->in_video;
        av_packet_unref(r->apkt);
    }
    av_seek_frame(r->in, -1, INT64_MIN, AVSEEK_FLAG_BACKWARD);
    if (!r->nb_frames) {
        fail_msg(r, AVERROR_INVALIDDATA, "%s: no frames", path);
        goto fail;
    }
    int64_t n0 = av_rescale_rnd(r->t0_us, r->setup.fps_num, 1000000LL * r->setup.fps_den, AV_ROUND_NEAR_INF);
    int64_t end_us = av_rescale(n0 + r->nb_frames - 1, 1000000LL * r->setup.fps_den, r->setup.fps_num) - r->t0_us;
    if ((ret = open_isos(r, end_us)) < 0)
        goto fail;

    if ((ret = lb_video_encoder_open(&r->venc, &(lb_video_encoder_params){
             .settings = &enc, .width = r->setup.width, .height = r->setup.height,
             .fps_num = r->setup.fps_num, .fps_den = r->setup.fps_den, .stream_index = 0,
             .name = "recut" }, r->err, sizeof r->err)) < 0)
        goto fail;

    /* the new version's name: the first free N */
    int version = 1;
    for (;; version++) {
        snprintf(out_name, sizeof out_name, "program.recut-%d.mp4", version);
        snprintf(out_path, sizeof out_path, "%s/%s", r->dir, out_name);
        if (access(out_path, F_OK) < 0)
            break;
    }
    snprintf(part_path, sizeof part_path, "%s/.%s.part", r->dir, out_name);
    if ((ret = open_output(r, part_path)) < 0)
        goto fail;
    if (redirect || log_path) {
        snprintf(log_name, sizeof log_name, "director.recut-%d.jsonl", version);
        snprintf(path, sizeof path, "%s/%s", r->dir, log_name);
        if (redirect && !(r->newlog = fopen(path, "w"))) {
            fail_msg(r, AVERROR(errno), "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (log_path) {
            /* the edited log stays beside its version */
            char *copy = read_text(log_path, (size_t)1 << 31);
            if (!copy || lb_write_file_atomic(path, copy, strlen(copy), 0644) < 0) {
                free(copy);
                fail_msg(r, AVERROR(EIO), "%s: cannot keep a copy of %s", path, log_path);
                goto fail;
            }
            free(copy);
        }
    }

    int64_t max_samples = av_rescale(LB_AUDIO_RATE, r->setup.fps_den, r->setup.fps_num) + 2;
    for (int m = 0; m < r->setup.nb_mics && redirect; m++)
        if (!(mic_bufs[m] = calloc((size_t)max_samples, sizeof(float)))) {
            ret = AVERROR(ENOMEM);
            goto fail;
        }
    if (redirect && !(mix = calloc((size_t)max_samples, sizeof(float)))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    if (!quiet)
        fprintf(stderr, "luobo recut: %s, %lld frames (%.1f s) from %d cameras%s\n", r->dir,
                (long long)r->nb_frames, (end_us + 1) / 1e6, r->setup.nb_sources,
                redirect ? ", the director run again" : log_path ? ", an edited log" : "");

    lb_shot shot = { 0 };
    lb_vcam_state vstate = { 0 };
    int next_rec = 0;
    int64_t last_t = 0, audio_pos = 0, wall0 = lb_clock_now(), last_progress = wall0;
    for (int64_t i = 0; i < r->nb_frames; i++) {
        int64_t t_abs = av_rescale(n0 + i, 1000000LL * r->setup.fps_den, r->setup.fps_num);
        int64_t t = t_abs - r->t0_us;
        AVFrame *valid[LB_MAX_SOURCES] = { 0 };
        for (int s = 0; s < r->setup.nb_sources; s++) {
            if ((ret = advance(&r->iso[s], t)) < 0) {
                fail_msg(r, ret, "%s: %s", r->iso[s].path, av_err2str(ret));
                goto fail;
            }
            /* before its file's first key frame (the archive starts an ISO
             * file at the camera's first key frame in the lesson), a camera
             * shows its first picture: nearer the live program than black */
            iso_input *in = &r->iso[s];
            if (!in->cur->buf[0] && !in->have_next && !in->eof && (ret = decode_next(in)) < 0 &&
                ret != AVERROR_EOF) {
                fail_msg(r, ret, "%s: %s", in->path, av_err2str(ret));
                goto fail;
            }
            valid[s] = in->cur->buf[0] ? in->cur : in->have_next ? in->next : NULL;
        }
        if (redirect) {
            int64_t t_next = av_rescale(n0 + i + 1, 1000000LL * r->setup.fps_den, r->setup.fps_num) - r->t0_us;
            int nb = (int)(av_rescale(t_next, LB_AUDIO_RATE, 1000000) - audio_pos);
            nb = (int)FFMIN(FFMAX(nb, 0), max_samples);
            double levels[LB_MAX_MICS];
            lb_mixer_levels mixed = { 0 };
            for (int m = 0; m < r->setup.nb_mics; m++)
                read_mic(&r->mic[m], mic_bufs[m], nb);
            lb_mixer_process(r->mixer, (const float *const *)mic_bufs, nb, mix, &mixed);
            for (int m = 0; m < r->setup.nb_mics; m++)
                levels[m] = mixed.in_dbfs[m];
            audio_pos += nb;
            int decided = lb_director_update(r->director, t, valid, levels, &shot);
            if (decided < 0) {
                ret = decided;
                goto fail;
            }
            char line[LB_LOG_LINE_SIZE];
            if ((decided || shot.pan_key || i == 0) &&
                lb_shot_to_json2(&shot, t, &r->setup, !decided && i, line, sizeof line) > 0) {
                if (i == 0) {
                    /* the header, with this run's settings */
                    cJSON *h = cJSON_CreateObject();
                    static const char *const keys[] = { "format", "v", "program", "t0_us" };
                    for (int k = 0; h && k < 4; k++) {
                        const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->header, keys[k]);
                        if (it)
                            cJSON_AddItemToObject(h, keys[k], cJSON_Duplicate(it, 1));
                    }
                    cJSON *dconf = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
                        cJSON_GetObjectItemCaseSensitive(h, "program"), "config"), "director");
                    for (int k = 0; cJSON_IsObject(dconf) && k < nb_sets; k++) {
                        const char *eq = strchr(sets[k], '=');
                        char key[64];
                        snprintf(key, sizeof key, "%.*s", (int)(eq - sets[k] - 9), sets[k] + 9);
                        cJSON_DeleteItemFromObjectCaseSensitive(dconf, key);
                        cJSON_AddStringToObject(dconf, key, eq + 1);
                    }
                    line[strlen(line) - 1] = 0;
                    char *hk = h ? cJSON_PrintUnformatted(h) : NULL;
                    if (hk)
                        fprintf(r->newlog, "%s, %s\n", line, hk + 1);
                    free(hk);
                    cJSON_Delete(h);
                } else {
                    fprintf(r->newlog, "%s\n", line);
                }
            }
        } else {
            int64_t ms = t / 1000, dt = t - last_t;
            int keyed = 0;
            while (next_rec < r->nb_records && r->records[next_rec].t_ms <= ms) {
                const log_record *rec = &r->records[next_rec++];
                shot = rec->shot;
                if (rec->has_vcam) {
                    vstate = rec->shot.vcam;
                    keyed = 1;
                }
            }
            if (shot.vcam_slots && !keyed && i)
                lb_vcam_step(&r->vparams, &vstate, dt);
            for (int k = 0; k < shot.nb_sources; k++)
                if (shot.vcam_slots & (1 << k))
                    shot.crop[k] = lb_vcam_crop(&vstate);
        }
        last_t = t;
        av_frame_free(&dst);
        if (!(dst = av_frame_alloc())) {
            ret = AVERROR(ENOMEM);
            goto fail;
        }
        lb_compositor_frame_setup(dst, r->setup.width, r->setup.height);
        if ((ret = av_frame_get_buffer(dst, 64)) < 0 ||
            (ret = lb_compositor_compose(r->comp, &shot, valid, dst)) < 0)
            goto fail;
        dst->pts = t_abs;
        if ((ret = lb_video_encoder_encode(r->venc, dst, i ? 0 : LB_ENCODE_FORCE_IDR, video_sink, r)) < 0) {
            fail_msg(r, ret, "%s: %s", out_name, av_err2str(ret));
            goto fail;
        }
        int64_t now = lb_clock_now();
        if (!quiet && (now - last_progress >= 1000000 || i + 1 == r->nb_frames)) {
            double done_s = (t + 1) / 1e6, wall = (now - wall0) / 1e6;
            fprintf(stderr, "luobo recut: %.1f of %.1f s (%.0f%%), %.2fx real time\n", done_s,
                    (end_us + 1) / 1e6, 100.0 * (double)(i + 1) / (double)r->nb_frames,
                    wall > 0 ? done_s / wall : 0);
            last_progress = now;
        }
    }
    if ((ret = lb_video_encoder_encode(r->venc, NULL, 0, video_sink, r)) < 0 ||
        (ret = write_audio_until(r, INT64_MAX)) < 0 || (ret = av_write_trailer(r->out)) < 0 ||
        (ret = avio_closep(&r->out->pb)) < 0) {
        fail_msg(r, ret, "%s: %s", out_name, av_err2str(ret));
        goto fail;
    }
    if (r->newlog) {
        if (fclose(r->newlog) != 0) {
            r->newlog = NULL;
            fail_msg(r, AVERROR(EIO), "%s: cannot write", log_name);
            goto fail;
        }
        r->newlog = NULL;
    }
    /* the lesson's chapters and tags, as program.mp4 carries them */
    if ((ret = lb_lesson_chapters_into(r->dir, part_path)) < 0) {
        fail_msg(r, ret, "%s: chapters: %s", out_name, av_err2str(ret));
        goto fail;
    }
    if (rename(part_path, out_path) < 0) {
        fail_msg(r, AVERROR(errno), "%s: %s", out_path, strerror(errno));
        goto fail;
    }
    double wall = (lb_clock_now() - wall0) / 1e6, speed = wall > 0 ? (end_us + 1) / 1e6 / wall : 0;
    if ((ret = list_version(r, out_name, log_name, redirect, sets, nb_sets, speed)) < 0)
        goto fail;
    printf("%s\n", out_path);
    if (!quiet)
        fprintf(stderr, "luobo recut: wrote %s (%lld frames, %.2fx real time)\n", out_path,
                (long long)r->nb_frames, speed);
    status = 0;
    goto end;
fail:
    if (!*r->err)
        snprintf(r->err, sizeof r->err, "%s", av_err2str(ret));
    fprintf(stderr, "luobo recut: %s\n", r->err);
    if (*part_path)
        unlink(part_path);
    status = 1;
end:
    free(mix);
    for (int m = 0; m < LB_MAX_MICS; m++)
        free(mic_bufs[m]);
    av_frame_free(&dst);
    recut_free(r);
    free(sets);
    lb_log_flush();
    return status;
}
