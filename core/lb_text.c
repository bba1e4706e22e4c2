#include "lb_text.h"

#include <stdio.h>
#include <string.h>

typedef struct span {
    const char *at;
    size_t len;
} span;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Whether the first len bytes of p can be a field of type t. */
static int fits(char t, const char *p, size_t len)
{
    if (t == 's')
        return 1;
    size_t i = 0, digits = 0, dots = 0;
    if (p[0] == '-' || p[0] == '+')   /* printf's %d and %f both sign */
        i++;
    for (; i < len; i++) {
        if (is_digit(p[i]))
            digits++;
        else if (t == 'f' && p[i] == '.' && !dots)
            dots++;
        else
            return 0;
    }
    return digits > 0;
}

/* The length of the conversion at tpl (%s, %d, %f or %.Nf: a template may
 * be the printf format that wrote the text), its type in *type; 0 if none. */
static size_t conversion(const char *tpl, char *type)
{
    size_t i = 1;
    if (tpl[0] != '%')
        return 0;
    if (tpl[1] == '.') {
        for (i = 2; is_digit(tpl[i]); i++)
            ;
        if (i == 2 || tpl[i] != 'f')
            return 0;
    }
    if (tpl[i] != 's' && tpl[i] != 'd' && tpl[i] != 'f')
        return 0;
    *type = tpl[i];
    return i + 1;
}

static int match(const char *tpl, const char *text, span *caps, int n)
{
    for (;;) {
        char type;
        size_t conv = conversion(tpl, &type);
        if (conv) {
            if (n >= LB_TEXT_MAX_PARAMS)
                return 0;
            /* the shortest field after which the rest matches */
            for (size_t len = 1; text[len - 1]; len++) {
                if (type != 's' && !fits(type, text, len))
                    continue;
                caps[n] = (span){ text, len };
                if (match(tpl + conv, text + len, caps, n + 1))
                    return 1;
            }
            return 0;
        }
        if (tpl[0] == '%' && tpl[1] == '%')
            tpl++;
        if (*tpl != *text)
            return 0;
        if (!*tpl)
            return 1;
        tpl++;
        text++;
    }
}

const lb_text_code *lb_text_code_find(const char *text, const lb_text_code *table, size_t nb,
                                      cJSON *params)
{
    span caps[LB_TEXT_MAX_PARAMS];
    for (size_t i = 0; text && i < nb; i++) {
        if (!match(table[i].tpl, text, caps, 0))
            continue;
        for (int k = 0; params && k < LB_TEXT_MAX_PARAMS && table[i].params[k]; k++) {
            char v[256];
            snprintf(v, sizeof v, "%.*s", (int)(caps[k].len < sizeof v ? caps[k].len : sizeof v - 1),
                     caps[k].at);
            cJSON_AddStringToObject(params, table[i].params[k], v);
        }
        return &table[i];
    }
    return NULL;
}
