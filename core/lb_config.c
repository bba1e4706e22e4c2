/* Design note: inih calls us once per key; it does not tell the line, so the
 * reader callback counts the lines it hands to inih, which is the line the
 * handler is called for (multi-line values are off in luobo's files: a value
 * continued on an indented line is reported on its first line). */
#include "lb_config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>
#include <libavutil/error.h>

#include "lb_redact.h"

typedef struct entry {
    char *key, *value;
    int line;
    int used;
} entry;

struct lb_config_section {
    const lb_config *cfg;
    char *name, *kind, *instance;
    int line;
    int used;
    entry *entries;
    int nb_entries;
};

struct lb_config {
    char *file_name;
    lb_config_section **sections;
    int nb_sections;
};

struct header {
    char *name;
    int line;
};

typedef struct parse_state {
    lb_config *cfg;
    int line;
    const char *text;   /* string reader position */
    FILE *file;
    char *err;
    size_t err_size;
    int failed;
    int header_line;    /* line of the latest [section] header */
    struct header *headers;   /* every [section] line so far */
    int nb_headers;
} parse_state;

static void fail(parse_state *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The parse's one error (the first wins), with any secret it quotes
 * redacted: a bad line may well be a url = ... line. */
static void fail(parse_state *ps, const char *fmt, ...)
{
    if (ps->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    lb_redact_vformat(ps->err, ps->err_size, fmt, ap);
    va_end(ap);
    ps->failed = 1;
}

static int is_kind_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* [kind] or [kind.NAME]: the name becomes file names (audio/<mic>.m4a),
 * thread names, log modules and metric labels, so it is checked once here
 * for everyone. */
int lb_config_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > 32)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static int valid_section_name(const char *name)
{
    const char *dot = strchr(name, '.');
    size_t kind_len = dot ? (size_t)(dot - name) : strlen(name);
    if (!kind_len || kind_len > 32 || !(name[0] >= 'a' && name[0] <= 'z'))
        return 0;
    for (size_t i = 0; i < kind_len; i++)
        if (!is_kind_char(name[i]))
            return 0;
    return !dot || lb_config_valid_name(dot + 1);
}

/* A [section] line, checked here rather than trusted to inih, which takes
 * whatever lies between '[' and the first ']' and ignores the rest. */
static void check_header(parse_state *ps, const char *p)
{
    const char *close = strchr(p, ']');
    if (!close) {
        fail(ps, "%s:%d: section header without a closing ']'", ps->cfg->file_name, ps->line);
        return;
    }
    char name[INI_MAX_LINE + 1];
    size_t len = (size_t)(close - p - 1);
    snprintf(name, sizeof name, "%.*s", (int)len, p + 1);
    if (!valid_section_name(name)) {
        fail(ps, "%s:%d: bad section name [%s] (expected [kind] or [kind.NAME], NAME being 1-32 "
                 "letters, digits, '-' or '_')", ps->cfg->file_name, ps->line, name);
        return;
    }
    const char *rest = close + 1;
    while (*rest == ' ' || *rest == '\t' || *rest == '\r' || *rest == '\n')
        rest++;
    if (*rest && *rest != ';' && *rest != '#') {
        fail(ps, "%s:%d: text after the section header [%s]", ps->cfg->file_name, ps->line, name);
        return;
    }
    for (int i = 0; i < ps->nb_headers; i++) {
        if (!strcmp(ps->headers[i].name, name)) {
            fail(ps, "%s:%d: section [%s] appears twice (first at line %d)", ps->cfg->file_name,
                 ps->line, name, ps->headers[i].line);
            return;
        }
    }
    struct header *grown = realloc(ps->headers, sizeof *grown * (size_t)(ps->nb_headers + 1));
    if (!grown || !(grown[ps->nb_headers].name = strdup(name))) {
        if (grown)
            ps->headers = grown;
        fail(ps, "%s: out of memory", ps->cfg->file_name);
        return;
    }
    ps->headers = grown;
    grown[ps->nb_headers++].line = ps->line;
}

/* One line of the file into str (at most num - 1 bytes with its '\n'):
 * unlike fgets, sees NUL bytes, which would silently cut the line. */
static char *file_line(parse_state *ps, char *str, int num, size_t *len)
{
    int c = 0;
    *len = 0;
    while ((int)*len < num - 1 && (c = getc(ps->file)) != EOF) {
        str[(*len)++] = (char)c;
        if (c == '\n')
            break;
    }
    str[*len] = 0;
    if (!*len)
        return NULL;
    if (c != '\n' && (int)*len == num - 1 && (c = getc(ps->file)) != EOF) {
        ungetc(c, ps->file);
        *len = (size_t)num;              /* longer than num - 1 */
    }
    return str;
}

/* inih reads at most num - 1 characters a line and would take the rest of a
 * longer line as a line of its own: refuse such a line instead.  Control
 * characters (NUL included) have no place in a config file either. */
static char *read_line(char *str, int num, void *stream)
{
    parse_state *ps = stream;
    char *got = NULL;
    size_t len = 0;
    if (ps->failed)
        return NULL;
    if (ps->file) {
        got = file_line(ps, str, num, &len);
    } else if (ps->text && *ps->text) {
        const char *nl = strchr(ps->text, '\n');
        len = nl ? (size_t)(nl - ps->text) + 1 : strlen(ps->text);
        if (len <= (size_t)num - 1) {
            memcpy(str, ps->text, len);
            str[len] = 0;
        }
        ps->text += len;
        got = str;
    }
    if (!got)
        return NULL;
    ps->line++;
    if (len > (size_t)num - 1) {
        fail(ps, "%s:%d: line longer than %d characters", ps->cfg->file_name, ps->line, num - 2);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)str[i];
        int line_end = c == '\r' && (i + 1 == len || str[i + 1] == '\n');     /* CRLF */
        if ((c < 0x20 && c != '\t' && c != '\n' && !line_end) || c == 0x7f) {
            fail(ps, "%s:%d: control character 0x%02x at column %zu (a config file is text)",
                 ps->cfg->file_name, ps->line, c, i + 1);
            return NULL;
        }
    }
    const char *p = got;
    if (ps->line == 1 && !strncmp(p, "\xEF\xBB\xBF", 3))
        p += 3;                          /* inih skips a UTF-8 BOM */
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '[') {
        ps->header_line = ps->line;
        check_header(ps, p);
        if (ps->failed)
            return NULL;
    }
    return got;
}

static lb_config_section *add_section(lb_config *cfg, const char *name, int line)
{
    lb_config_section **grown = realloc(cfg->sections, sizeof *grown * (size_t)(cfg->nb_sections + 1));
    if (!grown)
        return NULL;
    cfg->sections = grown;
    lb_config_section *sec = calloc(1, sizeof *sec);
    if (!sec)
        return NULL;
    sec->cfg = cfg;
    sec->name = strdup(name);
    sec->line = line;
    const char *dot = strchr(name, '.');
    sec->kind = dot ? strndup(name, (size_t)(dot - name)) : strdup(name);
    sec->instance = strdup(dot ? dot + 1 : "");
    if (!sec->name || !sec->kind || !sec->instance) {
        free(sec->name); free(sec->kind); free(sec->instance); free(sec);
        return NULL;
    }
    cfg->sections[cfg->nb_sections++] = sec;
    return sec;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    parse_state *ps = user;
    lb_config *cfg = ps->cfg;
    if (!*key) {
        fail(ps, "%s:%d: a value without a key", cfg->file_name, ps->line);
        return 0;
    }
    if (!*section) {
        fail(ps, "%s:%d: key '%s' outside of any [section]", cfg->file_name, ps->line, key);
        return 0;
    }
    lb_config_section *sec = (lb_config_section *)lb_config_find(cfg, section);
    if (sec && ps->header_line && ps->header_line != sec->line) {
        fail(ps, "%s:%d: section [%s] appears twice (first at line %d)", cfg->file_name, ps->line,
             section, sec->line);
        return 0;
    }
    if (!sec && !valid_section_name(section)) {     /* read_line saw its header already */
        fail(ps, "%s:%d: bad section name [%s]", cfg->file_name, ps->line, section);
        return 0;
    }
    if (!sec) {
        if (!(sec = add_section(cfg, section, ps->header_line ? ps->header_line : ps->line)))
            goto nomem;
    }
    for (int i = 0; i < sec->nb_entries; i++) {
        if (!strcmp(sec->entries[i].key, key)) {
            fail(ps, "%s:%d: %s: %s: set twice (first at line %d)", cfg->file_name, ps->line,
                 section, key, sec->entries[i].line);
            return 0;
        }
    }
    entry *grown = realloc(sec->entries, sizeof *grown * (size_t)(sec->nb_entries + 1));
    if (!grown)
        goto nomem;
    sec->entries = grown;
    entry *e = &sec->entries[sec->nb_entries];
    *e = (entry){ .key = strdup(key), .value = strdup(value), .line = ps->line };
    if (!e->key || !e->value) {
        free(e->key); free(e->value);
        goto nomem;
    }
    sec->nb_entries++;
    return 1;
nomem:
    fail(ps, "%s: out of memory", cfg->file_name);
    return 0;
}

static int parse(lb_config **out, parse_state *ps, const char *name)
{
    lb_config *cfg = calloc(1, sizeof *cfg);
    int ret = 0;
    if (!cfg || !(cfg->file_name = strdup(name))) {
        free(cfg);
        snprintf(ps->err, ps->err_size, "%s: out of memory", name);
        return AVERROR(ENOMEM);
    }
    ps->cfg = cfg;
    int rc = ini_parse_stream(read_line, ps, on_key, ps);
    if (!ps->failed && rc > 0)
        fail(ps, "%s:%d: syntax error (expected [section] or key = value)", name, rc);
    else if (!ps->failed && rc != 0)
        fail(ps, "%s: cannot be read", name);
    if (ps->failed) {
        lb_config_free(&cfg);
        ret = AVERROR(EINVAL);
    }
    for (int i = 0; i < ps->nb_headers; i++)
        free(ps->headers[i].name);
    free(ps->headers);
    ps->headers = NULL;
    ps->nb_headers = 0;
    if (!ret)
        *out = cfg;
    return ret;
}

int lb_config_load_file(lb_config **cfg, const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(e));
        return AVERROR(e);
    }
    parse_state ps = { .file = f, .err = err, .err_size = err_size };
    int ret = parse(cfg, &ps, path);
    fclose(f);
    return ret;
}

int lb_config_load_string(lb_config **cfg, const char *name, const char *text,
                          char *err, size_t err_size)
{
    parse_state ps = { .text = text, .err = err, .err_size = err_size };
    return parse(cfg, &ps, name);
}

void lb_config_free(lb_config **pcfg)
{
    lb_config *cfg = pcfg ? *pcfg : NULL;
    if (!cfg)
        return;
    for (int i = 0; i < cfg->nb_sections; i++) {
        lb_config_section *sec = cfg->sections[i];
        for (int j = 0; j < sec->nb_entries; j++) {
            free(sec->entries[j].key);
            free(sec->entries[j].value);
        }
        free(sec->entries);
        free(sec->name); free(sec->kind); free(sec->instance);
        free(sec);
    }
    free(cfg->sections);
    free(cfg->file_name);
    free(cfg);
    *pcfg = NULL;
}

const char *lb_config_file_name(const lb_config *cfg) { return cfg->file_name; }
int lb_config_nb_sections(const lb_config *cfg) { return cfg ? cfg->nb_sections : 0; }
const lb_config_section *lb_config_section_at(const lb_config *cfg, int i) { return cfg->sections[i]; }

const lb_config_section *lb_config_find(const lb_config *cfg, const char *name)
{
    for (int i = 0; cfg && i < cfg->nb_sections; i++)
        if (!strcmp(cfg->sections[i]->name, name))
            return cfg->sections[i];
    return NULL;
}

const char *lb_config_section_name(const lb_config_section *sec) { return sec->name; }
const char *lb_config_section_kind(const lb_config_section *sec) { return sec->kind; }
const char *lb_config_section_instance(const lb_config_section *sec) { return sec->instance; }
int lb_config_section_line(const lb_config_section *sec) { return sec->line; }

static entry *find_entry(const lb_config_section *sec, const char *key)
{
    for (int i = 0; sec && key && i < sec->nb_entries; i++)
        if (!strcmp(sec->entries[i].key, key))
            return &sec->entries[i];
    return NULL;
}

const char *lb_config_get(const lb_config_section *sec, const char *key)
{
    entry *e = find_entry(sec, key);
    if (!e)
        return NULL;
    e->used = 1;
    return e->value;
}

int lb_config_key_line(const lb_config_section *sec, const char *key)
{
    entry *e = key ? find_entry(sec, key) : NULL;
    return e ? e->line : sec ? sec->line : 0;
}

void lb_config_error(const lb_config_section *sec, const char *key, char *err,
                     size_t err_size, const char *fmt, ...)
{
    int n;
    if (!err || !err_size)
        return;
    if (sec)
        n = snprintf(err, err_size, "%s:%d: %s: ", sec->cfg->file_name,
                     lb_config_key_line(sec, key), sec->name);
    else
        n = snprintf(err, err_size, "(defaults): ");
    if (n >= 0 && (size_t)n < err_size && key) {
        int k = snprintf(err + n, err_size - (size_t)n, "%s: ", key);
        n = k < 0 ? -1 : n + k;
    }
    if (n >= 0 && (size_t)n < err_size) {
        /* messages quote values, and a value may be a URL with a password */
        va_list ap;
        va_start(ap, fmt);
        lb_redact_vformat(err + n, err_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "1", "true", "yes", "on" };
    static const char *const no[] = { "0", "false", "no", "off" };
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) { *out = 1; return 0; }
        if (!strcasecmp(s, no[i]))  { *out = 0; return 0; }
    }
    return -1;
}

static void list_choices(const lb_option_choice *c, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (; c && c->name && n < size; c++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", c->name);
}

static int set_value(const lb_config_section *sec, const lb_option *o, const char *value,
                     void *dst, char *err, size_t err_size)
{
    char *p = (char *)dst + o->offset;
    char *end;
    int bounded = o->min != o->max;
    switch (o->type & LB_OPT_TYPE_MASK) {
    case LB_OPT_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (!*value || *end || errno) {
            lb_config_error(sec, o->name, err, err_size, "'%s' is not a whole number", value);
            return AVERROR(EINVAL);
        }
        if (bounded && (v < o->min || v > o->max)) {
            lb_config_error(sec, o->name, err, err_size, "%ld is out of range [%g, %g]",
                            v, o->min, o->max);
            return AVERROR(EINVAL);
        }
        *(int *)p = (int)v;
        return 0;
    }
    case LB_OPT_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v)) {
            lb_config_error(sec, o->name, err, err_size, "'%s' is not a number", value);
            return AVERROR(EINVAL);
        }
        if (bounded && (v < o->min || v > o->max)) {
            lb_config_error(sec, o->name, err, err_size, "%g is out of range [%g, %g]",
                            v, o->min, o->max);
            return AVERROR(EINVAL);
        }
        *(double *)p = v;
        return 0;
    }
    case LB_OPT_BOOL:
        if (parse_bool(value, (int *)p) < 0) {
            lb_config_error(sec, o->name, err, err_size,
                            "'%s' is not a boolean (expected true or false)", value);
            return AVERROR(EINVAL);
        }
        return 0;
    case LB_OPT_STRING:
        if (strlen(value) >= o->size) {
            lb_config_error(sec, o->name, err, err_size, "value is longer than %zu characters",
                            o->size - 1);
            return AVERROR(EINVAL);
        }
        memcpy(p, value, strlen(value) + 1);
        return 0;
    case LB_OPT_ENUM:
        for (const lb_option_choice *c = o->choices; c && c->name; c++) {
            if (!strcasecmp(c->name, value)) {
                *(int *)p = c->value;
                return 0;
            }
        }
        {
            char list[256];
            list_choices(o->choices, list, sizeof list);
            lb_config_error(sec, o->name, err, err_size, "unknown value '%s' (expected %s)",
                            value, list);
        }
        return AVERROR(EINVAL);
    default:
        lb_config_error(sec, o->name, err, err_size, "option has no type");
        return AVERROR(EINVAL);
    }
}

int lb_config_apply(const lb_config_section *sec, const lb_option *opts, void *dst,
                    char *err, size_t err_size)
{
    if (sec)
        ((lb_config_section *)sec)->used = 1;
    for (const lb_option *o = opts; o->name; o++) {
        int ret;
        if ((o->type & LB_OPT_TYPE_MASK) == LB_OPT_STRING)
            ((char *)dst + o->offset)[0] = 0;
        else if ((o->type & LB_OPT_TYPE_MASK) == LB_OPT_DOUBLE)
            *(double *)((char *)dst + o->offset) = 0;
        else
            *(int *)((char *)dst + o->offset) = 0;
        if (o->def && *o->def && (ret = set_value(NULL, o, o->def, dst, err, err_size)) < 0)
            return ret;
        const char *value = lb_config_get(sec, o->name);
        if (value && (ret = set_value(sec, o, value, dst, err, err_size)) < 0)
            return ret;
    }
    return 0;
}

int lb_config_section_nb_keys(const lb_config_section *sec)
{
    return sec ? sec->nb_entries : 0;
}

const char *lb_config_section_key_at(const lb_config_section *sec, int index)
{
    return sec && index >= 0 && index < sec->nb_entries ? sec->entries[index].key : NULL;
}

const char *lb_config_section_value_at(const lb_config_section *sec, int index)
{
    return sec && index >= 0 && index < sec->nb_entries ? sec->entries[index].value : NULL;
}

int lb_option_is_live(const lb_option *opts, const char *key)
{
    for (const lb_option *o = opts; o && o->name; o++)
        if (!strcmp(o->name, key))
            return (o->type & LB_OPT_LIVE) != 0;
    return -1;
}

void lb_option_copy_live(const lb_option *opts, void *dst, const void *src)
{
    for (const lb_option *o = opts; o && o->name; o++) {
        if (!(o->type & LB_OPT_LIVE))
            continue;
        lb_option_type type = o->type & LB_OPT_TYPE_MASK;
        size_t size = type == LB_OPT_STRING ? o->size
                    : type == LB_OPT_DOUBLE ? sizeof(double) : sizeof(int);
        memcpy((char *)dst + o->offset, (const char *)src + o->offset, size);
    }
}

int lb_config_check_unused(const lb_config *cfg, char *err, size_t err_size)
{
    for (int i = 0; cfg && i < cfg->nb_sections; i++) {
        const lb_config_section *sec = cfg->sections[i];
        if (!sec->used) {
            snprintf(err, err_size, "%s:%d: unknown section [%s]", cfg->file_name, sec->line,
                     sec->name);
            return AVERROR(EINVAL);
        }
        for (int j = 0; j < sec->nb_entries; j++) {
            if (!sec->entries[j].used) {
                snprintf(err, err_size, "%s:%d: %s: unknown key '%s'", cfg->file_name,
                         sec->entries[j].line, sec->name, sec->entries[j].key);
                lb_redact_in_place(err, err_size);
                return AVERROR(EINVAL);
            }
        }
    }
    return 0;
}

void lb_options_print(FILE *f, const char *section, const lb_option *opts)
{
    static const char *const type_names[] = { "?", "int", "number", "bool", "text", "choice" };
    fprintf(f, "  [%s]\n", section);
    for (const lb_option *o = opts; o->name; o++) {
        char range[300] = "";
        if ((o->type & LB_OPT_TYPE_MASK) == LB_OPT_ENUM)
            list_choices(o->choices, range, sizeof range);
        else if (o->min != o->max)
            snprintf(range, sizeof range, "%g..%g", o->min, o->max);
        fprintf(f, "    %-16s %-6s %-12s %s%s%s%s%s\n", o->name,
                type_names[o->type & LB_OPT_TYPE_MASK], o->def && *o->def ? o->def : "-",
                o->help ? o->help : "", *range ? " (" : "", range, *range ? ")" : "",
                o->type & LB_OPT_LIVE ? " [reload applies it at once]" : "");
    }
}

void lb_roff_escape(FILE *f, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    int line_start = 1;
    while (*s) {
        unsigned c = *s;
        if (line_start && (c == '.' || c == '\''))
            fputs("\\&", f);
        line_start = c == '\n';
        if (c == '\\') {
            fputs("\\e", f);
        } else if (c == '-') {
            fputs("\\-", f);
        } else if (c < 0x80) {
            fputc((int)c, f);
            /* long URLs and lists may break after these (groff -ww warns
             * about a line it cannot break) */
            if (c == '/' || c == '&' || c == '|' || c == ',' || c == '?')
                fputs("\\:", f);
        } else {
            /* UTF-8 as groff's \[uXXXX]: groff alone reads bytes as Latin-1 */
            int n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
            unsigned cp = n == 3 ? c & 0x07 : n == 2 ? c & 0x0f : c & 0x1f;
            int ok = n > 0;
            for (int i = 1; ok && i <= n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                    ok = 0;
                else
                    cp = cp << 6 | (s[i] & 0x3f);
            }
            if (ok) {
                fprintf(f, "\\[u%04X]", cp);
                s += n;
            } else {
                fputc('?', f);
            }
        }
        s++;
    }
}

void lb_options_print_man(FILE *f, const char *section, const lb_option *opts)
{
    static const char *const type_names[] = { "?", "integer", "number", "boolean", "text", "choice" };
    fputs(".SS \"[", f);
    lb_roff_escape(f, section);
    fputs("]\"\n", f);
    for (const lb_option *o = opts; o->name; o++) {
        char range[300] = "";
        if ((o->type & LB_OPT_TYPE_MASK) == LB_OPT_ENUM)
            list_choices(o->choices, range, sizeof range);
        else if (o->min != o->max)
            snprintf(range, sizeof range, "%g to %g", o->min, o->max);
        fputs(".TP\n.B ", f);
        lb_roff_escape(f, o->name);
        fputs("\n(", f);
        lb_roff_escape(f, type_names[o->type & LB_OPT_TYPE_MASK]);
        if (*range) {
            fputs((o->type & LB_OPT_TYPE_MASK) == LB_OPT_ENUM ? ": " : ", ", f);
            lb_roff_escape(f, range);
        }
        if (o->def && *o->def) {
            fputs("; default \\fB", f);
            lb_roff_escape(f, o->def);
            fputs("\\fR", f);
        }
        if (o->type & LB_OPT_LIVE)
            fputs("; a reload applies it at once", f);
        fputs(")\n", f);
        if (o->help && *o->help) {
            lb_roff_escape(f, o->help);
            fputs("\n", f);
        }
    }
}
