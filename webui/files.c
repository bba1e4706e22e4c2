/* Design note: a file name from a request is checked twice.  First as
 * text: libwebsockets already decoded %xx and folded "/../", so what is
 * left must be plain names (a '%' here means the client encoded twice, a
 * leading '.' is a hidden file such as the users file).  Then on disk:
 * realpath() of the result must lie inside realpath() of the root, which
 * catches symlinks pointing out of it.  Anything failing either is a 404,
 * so a probe learns nothing about what exists. */
#include "webui_priv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int name_char_ok(unsigned char ch)
{
    if (ch >= 0x80)          /* UTF-8 names (lesson slugs may be Chinese) */
        return 1;
    return isalnum(ch) || ch == '.' || ch == '_' || ch == '-' || ch == '+' || ch == '~' ||
           ch == '@' || ch == ',';
}

int webui_path_is_safe(const char *rel)
{
    if (!rel || !*rel || strlen(rel) >= WEBUI_MAX_PATH)
        return 0;
    const char *p = rel;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || p[0] == '.')         /* "//", ".", "..", ".hidden" */
            return 0;
        for (size_t i = 0; i < len; i++)
            if (!name_char_ok((unsigned char)p[i]))
                return 0;
        if (!slash)
            break;
        p = slash + 1;
        if (!*p)                              /* trailing slash: a folder */
            return 0;
    }
    return 1;
}

int webui_open_confined(const char *root, const char *rel, int64_t *size, int64_t *mtime)
{
    char joined[PATH_MAX], real_root[PATH_MAX], real_file[PATH_MAX];
    struct stat st;
    int fd = -1;

    if (!webui_path_is_safe(rel))
        return -1;
    if (snprintf(joined, sizeof joined, "%s/%s", root, rel) >= (int)sizeof joined)
        return -1;
    if (!realpath(root, real_root) || !realpath(joined, real_file))
        return -1;
    size_t root_len = strlen(real_root);
    if (strncmp(real_file, real_root, root_len) != 0 ||
        (real_file[root_len] != '/' && strcmp(real_root, "/") != 0))
        return -1;
    fd = open(real_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    *size = st.st_size;
    *mtime = st.st_mtime;
    return fd;
}

const char *webui_mime_type(const char *name)
{
    static const struct { const char *ext, *mime; } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js",   "text/javascript; charset=utf-8" },
        { ".mjs",  "text/javascript; charset=utf-8" },
        { ".css",  "text/css; charset=utf-8" },
        { ".json", "application/json" },
        { ".jsonl", "application/x-ndjson" },
        { ".svg",  "image/svg+xml" },
        { ".png",  "image/png" },
        { ".jpg",  "image/jpeg" },
        { ".ico",  "image/x-icon" },
        { ".webmanifest", "application/manifest+json" },
        { ".m3u8", "application/vnd.apple.mpegurl" },
        { ".ts",   "video/mp2t" },
        { ".m4s",  "video/iso.segment" },
        { ".mp4",  "video/mp4" },
        { ".m4a",  "audio/mp4" },
        { ".vtt",  "text/vtt; charset=utf-8" },   /* a lesson's chapters for the player */
        { ".txt",  "text/plain; charset=utf-8" },
        { ".map",  "application/json" },
        { ".woff2", "font/woff2" },
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot, types[i].ext))
                return types[i].mime;
    return "application/octet-stream";
}

/* Reads a non-negative decimal without sign or spaces; NULL on overflow. */
static const char *parse_pos(const char *p, int64_t *out)
{
    int64_t v = 0;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p)) {
        if (v > (INT64_MAX - 9) / 10)
            return NULL;
        v = v * 10 + (*p++ - '0');
    }
    *out = v;
    return p;
}

/* One range only ("bytes=a-b", "bytes=a-", "bytes=-n"), strictly: anything
 * else, including several ranges, is refused with 416 rather than guessed. */
webui_range_result webui_parse_range(const char *header, int64_t size, int64_t *first,
                                     int64_t *last)
{
    int64_t a = -1, b = -1;
    const char *p;

    if (!header || !*header)
        return WEBUI_RANGE_NONE;
    if (strncmp(header, "bytes=", 6))
        return WEBUI_RANGE_UNSATISFIABLE;
    p = header + 6;
    if (*p == '-') {                               /* suffix: the last n bytes */
        int64_t n;
        if (!(p = parse_pos(p + 1, &n)) || *p || n == 0 || size == 0)
            return WEBUI_RANGE_UNSATISFIABLE;
        *first = n >= size ? 0 : size - n;
        *last = size - 1;
        return WEBUI_RANGE_OK;
    }
    if (!(p = parse_pos(p, &a)) || *p++ != '-')
        return WEBUI_RANGE_UNSATISFIABLE;
    if (*p && (!(p = parse_pos(p, &b)) || *p))
        return WEBUI_RANGE_UNSATISFIABLE;
    if (a >= size || (b >= 0 && b < a))
        return WEBUI_RANGE_UNSATISFIABLE;
    *first = a;
    *last = (b < 0 || b >= size) ? size - 1 : b;
    return WEBUI_RANGE_OK;
}
