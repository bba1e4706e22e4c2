/* episode.xml: the lesson's Dublin Core catalog, in the form Opencast
 * ingests with a media package ("dublincore/episode"):
 *
 *   <dublincore xmlns="http://www.opencastproject.org/xsd/1.0/dublincore/"
 *               xmlns:dcterms="http://purl.org/dc/terms/">
 *     <dcterms:title>...</dcterms:title> ...
 *
 * Written with libxml2's xmlTextWriter (escaping is its job), from text
 * that is first made into what XML 1.0 can hold: the metadata may come
 * from lesson.json, which is read back as hostile, so invalid UTF-8 becomes
 * U+FFFD and characters XML forbids (C0 controls but tab, newline and
 * carriage return; U+FFFE, U+FFFF) are dropped.  Whatever the input, the
 * file is well-formed. */
#include "streamer_priv.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "lb_log.h"

/* A copy of s holding only what XML 1.0 allows, as valid UTF-8. */
static char *xml_clean(const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t len = strlen((const char *)p);
    char *out = malloc(len * 3 + 1), *o = out;       /* one byte may become U+FFFD */
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (c >= 0x20 || c == '\t' || c == '\n' || c == '\r')
                *o++ = (char)c;
            i++;
            continue;
        }
        int n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        uint32_t cp = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
        for (int k = 1; k < n; k++) {
            if (i + (size_t)k >= len || (p[i + k] & 0xc0) != 0x80) {
                n = 0;
                break;
            }
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (!n || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            memcpy(o, "\xef\xbf\xbd", 3);               /* U+FFFD for the bad byte */
            o += 3;
            i++;
            continue;
        }
        if (cp != 0xfffe && cp != 0xffff) {
            memcpy(o, p + i, (size_t)n);
            o += n;
        }
        i += (size_t)n;
    }
    *o = 0;
    return out;
}

/* An ISO 8601 time as luobo writes it (W3C-DTF): 2026-12-05T08:00:00+08:00,
 * optionally with fractions of a second, or Z. */
int lb_is_w3cdtf(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd";
    if (!s)
        return 0;
    for (int i = 0; pat[i]; i++)
        if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i])
            return 0;
    s += sizeof pat - 1;
    if (*s == '.') {
        int n = 0;
        while (s[1] >= '0' && s[1] <= '9' && n < 9)
            s++, n++;
        if (!n)
            return 0;
        s++;
    }
    if (!strcmp(s, "Z"))
        return 1;
    return (s[0] == '+' || s[0] == '-') && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
           s[2] <= '9' && s[3] == ':' && s[4] >= '0' && s[4] <= '9' && s[5] >= '0' &&
           s[5] <= '9' && !s[6];
}

static int element(xmlTextWriterPtr w, const char *name, const char *text)
{
    if (!text || !*text)
        return 0;
    char *clean = xml_clean(text);
    if (!clean)
        return -1;
    int ret = xmlTextWriterWriteElementNS(w, BAD_CAST "dcterms", BAD_CAST name, NULL, BAD_CAST clean);
    free(clean);
    return ret < 0 ? -1 : 0;
}

static void init_libxml(void)
{
    xmlInitParser();                      /* once, before threads use it */
}

int lb_episode_xml(const lb_lesson_meta *m, const char *started_at, const char *ended_at,
                   char **out, size_t *out_len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_libxml);
    int ret = -1;
    char temporal[160], audience[160];
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    *out = NULL;
    if (!w)
        goto end;
    if (!lb_is_w3cdtf(started_at))
        started_at = NULL;
    if (!lb_is_w3cdtf(ended_at))
        ended_at = NULL;
    xmlTextWriterSetIndent(w, 1);
    xmlTextWriterSetIndentString(w, BAD_CAST "  ");
    if (xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElement(w, BAD_CAST "dublincore") < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns",
                                    BAD_CAST "http://www.opencastproject.org/xsd/1.0/dublincore/") < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns:dcterms", BAD_CAST "http://purl.org/dc/terms/") < 0)
        goto end;
    /* temporal: Opencast's DCMI period, as its own catalogs write it */
    temporal[0] = 0;
    if (started_at)
        snprintf(temporal, sizeof temporal, "start=%s; %s%s%sscheme=W3C-DTF;", started_at,
                 ended_at ? "end=" : "", ended_at ? ended_at : "", ended_at ? "; " : "");
    snprintf(audience, sizeof audience, "%s%s%s", m->grade, *m->grade && *m->class_name ? " " : "",
             m->class_name);
    const char *type = lb_lesson_type_label(m->lesson_type);
    if (element(w, "title", m->title) < 0 || element(w, "creator", m->teacher) < 0 ||
        element(w, "subject", m->subject) < 0)
        goto end;
    for (int i = 0; i < m->nb_keywords && i < LB_META_MAX_KEYWORDS; i++)
        if (element(w, "subject", m->keywords[i]) < 0)
            goto end;
    if (element(w, "created", started_at) < 0 || element(w, "temporal", temporal) < 0 ||
        element(w, "spatial", m->hall) < 0 || element(w, "description", m->description) < 0 ||
        element(w, "type", type) < 0 || element(w, "language", m->language) < 0 ||
        element(w, "educationLevel", m->grade) < 0 || element(w, "audience", audience) < 0 ||
        element(w, "publisher", m->school) < 0)
        goto end;
    if (xmlTextWriterEndDocument(w) < 0)
        goto end;
    xmlFreeTextWriter(w);                 /* flushes into buf */
    w = NULL;
    size_t len = (size_t)xmlBufferLength(buf);
    if (!(*out = malloc(len + 1)))
        goto end;
    memcpy(*out, xmlBufferContent(buf), len);
    (*out)[len] = 0;
    *out_len = len;
    ret = 0;
end:
    if (w)
        xmlFreeTextWriter(w);
    if (buf)
        xmlBufferFree(buf);
    return ret;
}

int lb_episode_write(const char *dir, const lb_lesson_meta *m, const char *started_at,
                     const char *ended_at, lb_syncer *async)
{
    char path[PATH_MAX], *xml = NULL;
    size_t len = 0;
    if ((size_t)snprintf(path, sizeof path, "%s/episode.xml", dir) >= sizeof path)
        return AVERROR(ENAMETOOLONG);
    if (lb_episode_xml(m, started_at, ended_at, &xml, &len) < 0)
        return AVERROR(ENOMEM);
    int ret = async ? lb_syncer_write_atomic(async, path, xml, len, 0644)
                    : lb_write_file_atomic(path, xml, len, 0644);
    free(xml);
    if (ret < 0)
        LB_LOGE("lesson", "%s: cannot write: %s", path, av_err2str(ret));
    return ret;
}
