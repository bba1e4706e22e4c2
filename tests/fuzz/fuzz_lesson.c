/* fuzz_lesson: the files a restart reads back from the data folder
 * (streamer/lesson.c, streamer/output_upload.c), through their real
 * readers, from a scratch data folder.
 *
 * The first byte of the input says which file the rest is:
 *   'L' lesson.json of a lesson folder, then lb_lesson_repair_all() as at
 *       start-up, and lb_json_file_string() as the upload and the retention
 *       read its "status".  The second byte's bits add a ".finalising"
 *       marker with a half-written fast-start copy (1) and a program.mp4
 *       that is no MP4 (2).
 *   'Q' the upload queue (DATA_DIR/.upload-queue): an upload output opened
 *       on it, as at start-up, then one more lesson queued (which saves the
 *       queue).
 *   'E' episode.xml from any bytes: the rest, split at NULs, is a lesson's
 *       title, teacher, subject, hall, description, a keyword and its
 *       started_at and ended_at, unchecked (as --title reaches it).
 * (director.jsonl is only ever written and served, never read back, so it
 * has no mode here.)
 *
 * Oracles beyond the sanitizers:
 *   L: a lesson.json left "recording" becomes "interrupted" with ended_at
 *      and duration_s, every other member kept as it was; any other file is
 *      left byte for byte; the marker and the half copy are gone.
 *   Q: the saved queue is the folders of the old one, one per line, each
 *      once, in order, plus the new one: no line cut into two folders.
 *   E (and L's episode.xml after a repair): libxml2 parses the document
 *      without an error, its root is Opencast's dublincore, every child in
 *      the dcterms namespace; a title that is valid text (lb_meta_check_text)
 *      comes back as it went in. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "fuzz_common.h"
#include "lb_config.h"
#include "lb_log.h"
#include "streamer_priv.h"

#define LESSON "20261204-204323-english-reading"

static void silent(void *ctx, const char *msg, ...);

static char data_dir[PATH_MAX], lesson_dir[PATH_MAX + 64], lesson_json[PATH_MAX + 128];
static char queue_file[PATH_MAX + 64], new_lesson[PATH_MAX + 64];
static lb_config *cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const dict[] = {
        "\"status\"", "\"recording\"", "\"complete\"", "\"interrupted\"", "\"ended_at\"",
        "\"duration_s\"", "\"started_at\"", "\"chapters\"", "\"sources\"", "\"mics\"", "null",
        "\"id\"", "\"title\"", "\\u0000", "\\ud800", "1e309", "recordings/" LESSON "\n", "\r\n",
        "\"subject\"", "\"lesson_type\"", "\"keywords\"", "\"description\"", "\x01", "]]>", "&amp;",
        "\xef\xbf\xbe", "\xed\xa0\x80", "2026-12-05T08:00:00+08:00",
    };
    char text[PATH_MAX + 256], err[LB_CONFIG_ERR_SIZE];
    const char *top = fuzz_scratch_dir("lesson");

    snprintf(data_dir, sizeof data_dir, "%s/data", top);
    snprintf(lesson_dir, sizeof lesson_dir, "%s/" LESSON, data_dir);
    snprintf(lesson_json, sizeof lesson_json, "%s/lesson.json", lesson_dir);
    snprintf(queue_file, sizeof queue_file, "%s/.upload-queue", data_dir);
    snprintf(new_lesson, sizeof new_lesson, "%s/20261204-210000-new", data_dir);
    snprintf(text, sizeof text, "[output.up]\ntype = upload\nurl = http://127.0.0.1:9/lessons/\nallow_http = true\n"
             "queue_file = %s\n", queue_file);
    if (lb_config_load_string(&cfg, "fuzz.ini", text, err, sizeof err) < 0)
        fuzz_fail("%s", err);

    fuzz_use_words(argc, argv, top, "lesson", dict, sizeof dict / sizeof dict[0]);
    lb_log_set_level(LB_LOG_ERROR);
    xmlSetGenericErrorFunc(NULL, silent);   /* a parse error is ours to report */
    return 0;
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) < 0)
        fuzz_fail("cannot create %s: %s", path, strerror(errno));
}

/* ---- E: episode.xml ---- */

static void silent(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

/* The document must be well-formed XML of the right shape; title: what the
 * title element must hold (NULL: not checked). */
static void check_episode(const char *xml, size_t len, const char *title)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "episode.xml", NULL, XML_PARSE_NONET);
    if (!doc)
        fuzz_fail("episode.xml is not well-formed XML:\n%.*s", (int)(len > 2000 ? 2000 : len), xml);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!root || strcmp((const char *)root->name, "dublincore") || !root->ns ||
        strcmp((const char *)root->ns->href, "http://www.opencastproject.org/xsd/1.0/dublincore/"))
        fuzz_fail("episode.xml's root is not Opencast's dublincore");
    int seen_title = 0;
    for (xmlNodePtr n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (!n->ns || strcmp((const char *)n->ns->href, "http://purl.org/dc/terms/"))
            fuzz_fail("episode.xml: <%s> is not in the dcterms namespace", n->name);
        if (!strcmp((const char *)n->name, "title") && title) {
            xmlChar *text = xmlNodeGetContent(n);
            if (!text || strcmp((const char *)text, title))
                fuzz_fail("episode.xml: the title came back as '%s', not '%s'", text, title);
            xmlFree(text);
            seen_title = 1;
        }
    }
    if (title && *title && !seen_title)
        fuzz_fail("episode.xml: the title is missing");
    xmlFreeDoc(doc);
}

static void episode_mode(const uint8_t *data, size_t size)
{
    lb_lesson_meta m = { 0 };
    char *fields[8] = { 0 };
    char why[96];
    size_t off = 0;
    for (int i = 0; i < 8; i++) {
        size_t n = off < size ? strnlen((const char *)data + off, size - off) : 0;
        fields[i] = fuzz_strndup(data + off, n);
        off += n + 1;
    }
    char *const dst[] = { m.title, m.teacher, m.subject, m.hall, m.description, m.keywords[0] };
    const size_t sizes[] = { sizeof m.title, sizeof m.teacher, sizeof m.subject, sizeof m.hall,
                             sizeof m.description, sizeof m.keywords[0] };
    for (int i = 0; i < 6; i++)
        snprintf(dst[i], sizes[i], "%s", fields[i]);
    m.nb_keywords = 1;
    m.lesson_type = (lb_lesson_type)(size % (LB_LESSON_TYPE_NB + 1));
    char *xml = NULL;
    size_t len = 0;
    if (lb_episode_xml(&m, fields[6], fields[7], &xml, &len) < 0)
        fuzz_fail("lb_episode_xml failed");
    /* a title the API would take (and without \r, which XML parsers turn
     * into \n) comes back the same */
    int plain = lb_meta_check_text(m.title, sizeof m.title - 1, 0, why, sizeof why) == 0;
    check_episode(xml, len, plain ? m.title : NULL);
    free(xml);
    for (int i = 0; i < 8; i++)
        free(fields[i]);
}

/* ---- L: lesson.json at repair ---- */

static void check_repaired(const char *old_text, int repaired)
{
    size_t len;
    char *text = fuzz_read_file(lesson_json, &len);
    cJSON *old = cJSON_Parse(old_text), *now = text ? cJSON_Parse(text) : NULL;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(old, "status");
    int was_recording = cJSON_IsObject(old) && cJSON_IsString(status) &&
                        !strcmp(status->valuestring, "recording");

    if (!text)
        fuzz_fail("lesson.json is gone");
    if (was_recording != repaired)
        fuzz_fail("repair_all said %d for a lesson that was%s recording", repaired,
                  was_recording ? "" : " not");
    if (!was_recording) {
        if (strcmp(text, old_text))
            fuzz_fail("a lesson that was not recording was rewritten");
    } else {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(now, "status");
        if (!cJSON_IsObject(now) || !cJSON_IsString(st) || strcmp(st->valuestring, "interrupted") ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(now, "ended_at")) ||
            !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(now, "duration_s")))
            fuzz_fail("the repaired lesson.json is not interrupted with ended_at and duration_s");
        /* its catalog, made from the hostile file, is well-formed */
        char path[PATH_MAX + 128];
        size_t xlen;
        snprintf(path, sizeof path, "%s/episode.xml", lesson_dir);
        char *xml = fuzz_read_file(path, &xlen);
        if (!xml)
            fuzz_fail("the repair wrote no episode.xml");
        check_episode(xml, xlen, NULL);
        free(xml);
        const cJSON *it;
        cJSON_ArrayForEach(it, old) {
            if (!strcmp(it->string, "status") || !strcmp(it->string, "ended_at") ||
                !strcmp(it->string, "duration_s"))
                continue;
            /* the first member of that name, as readers take it, compared
             * as text: cJSON_Compare() takes duplicate keys for differences */
            const cJSON *was = cJSON_GetObjectItemCaseSensitive(old, it->string);
            const cJSON *kept = cJSON_GetObjectItemCaseSensitive(now, it->string);
            char *a = cJSON_PrintUnformatted(was), *b = kept ? cJSON_PrintUnformatted(kept) : NULL;
            if (!a || !b || strcmp(a, b))
                fuzz_fail("repair lost or changed member '%s'", it->string);
            free(a);
            free(b);
        }
    }
    cJSON_Delete(old);
    cJSON_Delete(now);
    free(text);
}

static void lesson_mode(const uint8_t *data, size_t size)
{
    char path[PATH_MAX + 256], value[64];
    int flags = size ? data[0] : 0;
    if (size) {
        data++;
        size--;
    }
    make_dir(lesson_dir);
    fuzz_write_file(lesson_json, data, size);
    if (flags & 1) {
        snprintf(path, sizeof path, "%s/" LB_FINALISING_MARKER, lesson_dir);
        fuzz_write_file(path, "", 0);
        snprintf(path, sizeof path, "%s/program.mp4.faststart.tmp", lesson_dir);
        fuzz_write_file(path, "half", 4);
    }
    if (flags & 2) {
        snprintf(path, sizeof path, "%s/program.mp4", lesson_dir);
        fuzz_write_file(path, "not an mp4", 10);
    }
    /* the readers see the text up to its first NUL, as a C string */
    char *old_text = fuzz_strndup(data, size);
    lb_json_file_string(lesson_json, "status", value, sizeof value);
    if (!memchr(value, 0, sizeof value))
        fuzz_fail("lb_json_file_string left its buffer unterminated");
    int repaired = lb_lesson_repair_all(data_dir);
    check_repaired(old_text, repaired);
    free(old_text);
    if (flags & 1) {
        snprintf(path, sizeof path, "%s/program.mp4.faststart.tmp", lesson_dir);
        if (access(path, F_OK) == 0)
            fuzz_fail("repair left the half-written fast-start copy");
    }
}

/* ---- Q: the upload queue at start-up ---- */

/* What the queue holds after loading text and adding new_lesson: each
 * line without its "\n" (and a "\r" before it), skipping empty ones, lines
 * with a NUL and lines no path can be, each folder once, in order. */
static char *expected_queue(const uint8_t *data, size_t size)
{
    char *out = malloc(size + strlen(new_lesson) + 3), *o = out;   /* + two "\n" and the NUL */
    if (!out)
        abort();
    *o = 0;
    for (size_t i = 0; i < size;) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
        size_t next = i + len + (nl ? 1 : 0);
        if (len && data[i + len - 1] == '\r')
            len--;
        if (len && len < PATH_MAX && !memchr(data + i, 0, len)) {
            /* once: look for the same line earlier in out */
            int seen = 0;
            for (const char *p = out; *p && !seen;) {
                const char *e = strchr(p, '\n');
                seen = (size_t)(e - p) == len && !memcmp(p, data + i, len);
                p = e + 1;
            }
            if (!seen) {
                memcpy(o, data + i, len);
                o += len;
                *o++ = '\n';
                *o = 0;
            }
        }
        i = next;
    }
    int seen = 0;
    size_t nl_len = strlen(new_lesson);
    for (const char *p = out; *p && !seen;) {
        const char *e = strchr(p, '\n');
        seen = (size_t)(e - p) == nl_len && !memcmp(p, new_lesson, nl_len);
        p = e + 1;
    }
    if (!seen)
        sprintf(o, "%s\n", new_lesson);
    return out;
}

static void queue_mode(const uint8_t *data, size_t size)
{
    const lb_output_ops *ops = &lb_output_upload;
    char err[LB_CONFIG_ERR_SIZE];
    lb_output_stats stats;
    void *priv;
    int ret;

    fuzz_write_file(queue_file, data, size);
    make_dir(new_lesson);
    if (!(priv = calloc(1, ops->priv_size)))
        abort();
    if (ops->configure(priv, lb_config_find(cfg, "output.up"), err, sizeof err) < 0)
        fuzz_fail("cannot configure: %s", err);
    if ((ret = ops->open(priv, NULL, 0, NULL)) < 0)
        fuzz_fail("cannot open: %s", av_err2str(ret));
    ops->lesson_done(priv, new_lesson);
    memset(&stats, 0, sizeof stats);
    ops->stats(priv, &stats);
    ops->close(priv);
    ops->uninit(priv);
    free(priv);

    size_t len;
    char *saved = fuzz_read_file(queue_file, &len), *want = expected_queue(data, size);
    if (!saved)
        fuzz_fail("the queue was not saved");
    if (strlen(saved) != len || strcmp(saved, want))
        fuzz_fail("the queue saved is not the queue read plus the new lesson");
    free(saved);
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return -1;
    fuzz_remove_tree(data_dir);
    make_dir(data_dir);
    if (data[0] == 'L')
        lesson_mode(data + 1, size - 1);
    else if (data[0] == 'Q')
        queue_mode(data + 1, size - 1);
    else if (data[0] == 'E')
        episode_mode(data + 1, size - 1);
    else
        return -1;
    return 0;
}
