/* English texts as codes with parameters, for pages in other languages.
 *
 * luobo's messages (API errors, the director's reasons) are English
 * sentences made where they happen.  A table of templates turns a sentence
 * back into a code and its variable parts, which a page translates; a
 * sentence no template matches keeps only its English text. */
#ifndef LB_TEXT_H
#define LB_TEXT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define LB_TEXT_MAX_PARAMS 6

typedef struct lb_text_code {
    const char *code;
    /* literal text with %s (any non-empty text), %d (digits) and %f or
     * %.Nf (a decimal number, signed); %% is a literal %: so a printf
     * format with those conversions is its own template */
    const char *tpl;
    const char *params[LB_TEXT_MAX_PARAMS];     /* the names of the fields, in order */
} lb_text_code;

/* The first entry of table whose template text matches, or NULL; its
 * fields become members of params (strings) when params is not NULL. */
const lb_text_code *lb_text_code_find(const char *text, const lb_text_code *table, size_t nb,
                                      cJSON *params);

#endif
