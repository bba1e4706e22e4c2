/* Design note: one pass over the text, three rules tried at each position
 * (see lb_redact.h): a word with user:pass@ but no scheme, a URL's
 * userinfo, a secret name=value.  Text is copied a character at a time and
 * secrets are skipped, never copied, so a cut at the end of dst cannot show
 * part of one.  A secret ends at a space, a control character, a quote, a
 * backslash or '<' '>' (and a parameter's value at '&'): never inside JSON
 * string syntax. */
#include "lb_redact.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct out {
    char *dst;
    size_t size, len;
    int changed;
} out;

static void put(out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (o->dst && o->len + 1 < o->size)
            o->dst[o->len++] = s[i];
}

static void put_secret(out *o)
{
    put(o, "***", 3);
    o->changed = 1;
}

/* Ends a URL, a word or a secret. */
static int is_term(unsigned char c)
{
    return c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '`' || c == '<' || c == '>' ||
           c == '\\';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_scheme_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
}

static int is_name_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.';
}

static size_t token_end(const char *s, size_t i)
{
    while (!is_term((unsigned char)s[i]))
        i++;
    return i;
}

static int secret_name(const char *name, size_t len)
{
    static const char *const suffixes[] = {
        "pass", "passwd", "password", "passphrase", "pwd", "secret", "token", "key", "auth",
        "sig", "signature", "credential", "credentials",
    };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t n = strlen(suffixes[i]);
        if (len >= n && !strncasecmp(name + len - n, suffixes[i], n))
            return 1;
    }
    return 0;
}

/* scheme:// at i, where i does not follow a scheme character: the length
 * of "scheme://", else 0. */
static size_t scheme_at(const char *s, size_t i)
{
    size_t j = i;
    if (i > 0 && is_scheme_char((unsigned char)s[i - 1]))
        return 0;
    if (!strncmp(s + i, "://", 3))
        return 3;                         /* a scheme left out: still a URL */
    if (!is_alpha((unsigned char)s[j]))
        return 0;
    while (is_scheme_char((unsigned char)s[j]))
        j++;
    return !strncmp(s + j, "://", 3) ? j + 3 - i : 0;
}

/* The '@' that ends a URL's userinfo, for a URL whose authority starts at
 * a and whose text ends at end; (size_t)-1 if it has none. */
static size_t userinfo_end(const char *s, size_t a, size_t end)
{
    size_t auth_end = a, at = (size_t)-1;
    while (auth_end < end && s[auth_end] != '/' && s[auth_end] != '?' && s[auth_end] != '#')
        auth_end++;
    for (size_t k = a; k < auth_end; k++)
        if (s[k] == '@')
            at = k;                       /* the last one: a raw '@' in a password */
    if (at != (size_t)-1 || s[a] == '[')
        return at;
    /* No '@' before the first '/', '?' or '#': a host:port, or a password
     * with one of those in it (user:pa/ss@host).  A port is digits. */
    const char *colon = memchr(s + a, ':', auth_end - a);
    if (!colon)
        return at;
    for (const char *p = colon + 1; p < s + auth_end; p++) {
        if (!is_digit((unsigned char)*p)) {
            for (size_t k = auth_end; k < end; k++)
                if (s[k] == '@')
                    at = k;
            /* text cut short inside a password (user:sec): the rest is
             * taken for a password too */
            if (at == (size_t)-1 && auth_end == end && !s[end])
                at = end;
            return at;
        }
    }
    return at;
}

/* user:pass@host without a scheme, as a word starting at i: the position
 * of its ':' (the password follows), with *at its '@'; else 0. */
static size_t bare_userinfo(const char *s, size_t i, size_t *at)
{
    size_t end = token_end(s, i), seg = i, colon = 0;
    *at = 0;
    for (size_t k = i; k + 2 < end; k++)
        if (s[k] == ':' && s[k + 1] == '/' && s[k + 2] == '/')
            return 0;                     /* a URL: its own rule */
    for (size_t k = i; k < end; k++)
        if (s[k] == '@')
            *at = k;
    if (!*at)
        return 0;
    for (size_t k = i; k < *at; k++)
        if (s[k] == '/')
            seg = k + 1;
    for (size_t k = seg; k < *at; k++) {
        if (s[k] == '=')
            return 0;                     /* name=value: the parameter rule */
        if (s[k] == ':') {
            colon = k;
            break;
        }
    }
    return colon && colon + 1 < *at ? colon : 0;
}

/* The common case, cheaply: nothing any rule could start on. */
static int maybe_secret(const char *t)
{
    return strpbrk(t, "@=") || strstr(t, "://");
}

static size_t redact(out *o, const char *s)
{
    size_t i = 0;
    while (s[i]) {
        int word_start = i == 0 || is_term((unsigned char)s[i - 1]);
        size_t at, n, colon;
        if (word_start && (colon = bare_userinfo(s, i, &at))) {
            put(o, s + i, colon + 1 - i);
            put_secret(o);
            i = at;
            continue;
        }
        if ((n = scheme_at(s, i))) {
            size_t a = i + n, end = token_end(s, a);
            put(o, s + i, n);
            i = a;
            if ((at = userinfo_end(s, a, end)) != (size_t)-1) {
                const char *c = memchr(s + a, ':', at - a);
                if (c) {
                    put(o, s + a, (size_t)(c - s) + 1 - a);
                    put_secret(o);
                } else if (at > a) {
                    put_secret(o);
                }
                i = at;
            }
            continue;                     /* host, path and query go on below */
        }
        if (is_name_char((unsigned char)s[i]) && (i == 0 || !is_name_char((unsigned char)s[i - 1]))) {
            size_t k = i;
            while (is_name_char((unsigned char)s[k]))
                k++;
            if (s[k] == '=' && secret_name(s + i, k - i)) {
                size_t v = k + 1;
                put(o, s + i, v - i);
                while (!is_term((unsigned char)s[v]) && s[v] != '&')
                    v++;
                if (v > k + 1)
                    put_secret(o);
                i = v;
                continue;
            }
        }
        put(o, s + i, 1);
        i++;
    }
    if (o->dst && o->size)
        o->dst[o->len] = 0;
    return o->len;
}

size_t lb_redact_text(char *dst, size_t size, const char *text)
{
    out o = { .dst = dst, .size = size };
    if (!text)
        text = "";
    if (!maybe_secret(text)) {
        size_t n = strlen(text);
        if (!size)
            return 0;
        n = n < size - 1 ? n : size - 1;
        memmove(dst, text, n);
        dst[n] = 0;
        return n;
    }
    return redact(&o, text);
}

int lb_redact_needed(const char *text)
{
    out o = { 0 };
    if (!text || !maybe_secret(text))
        return 0;
    redact(&o, text);
    return o.changed;
}

char *lb_redact_dup(const char *text)
{
    if (!text)
        return NULL;
    if (!maybe_secret(text))
        return strdup(text);
    size_t size = strlen(text) * 3 + 4;     /* "***" per character at worst */
    char *dst = malloc(size);
    if (dst)
        lb_redact_text(dst, size, text);
    return dst;
}

int lb_redact_in_place(char *buf, size_t size)
{
    if (!buf || !size || !lb_redact_needed(buf))
        return 0;
    char *copy = strdup(buf);
    if (!copy) {
        /* cannot redact: say nothing rather than leak */
        snprintf(buf, size, "(withheld: out of memory)");
        return 1;
    }
    out o = { .dst = buf, .size = size };
    redact(&o, copy);
    free(copy);
    return 1;
}

size_t lb_redact_vformat(char *dst, size_t size, const char *fmt, va_list ap)
{
    char stack[1024], *text = stack;
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(stack, sizeof stack, fmt, aq);
    va_end(aq);
    if (n < 0) {
        if (size)
            dst[0] = 0;
        return 0;
    }
    /* the whole text first: a secret cut in two would not be seen */
    if ((size_t)n >= sizeof stack) {
        if (!(text = malloc((size_t)n + 1))) {
            if (size)
                snprintf(dst, size, "(withheld: out of memory)");
            return size ? strlen(dst) : 0;
        }
        vsnprintf(text, (size_t)n + 1, fmt, ap);
    }
    size_t len = lb_redact_text(dst, size, text);
    if (text != stack)
        free(text);
    return len;
}

size_t lb_redact_format(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len = lb_redact_vformat(dst, size, fmt, ap);
    va_end(ap);
    return len;
}
