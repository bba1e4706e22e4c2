/* A minimal checking harness for luobo's C unit tests: each failed CHECK
 * prints file:line and the expression, and the program exits non-zero. */
#ifndef LB_TEST_CHECK_H
#define LB_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond) do {                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                              \
        }                                                                  \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle) do {                               \
        if (!strstr((hay), (needle))) {                                    \
            fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, (hay), (needle)); \
            check_failures++;                                              \
        }                                                                  \
    } while (0)

#define CHECK_DONE() (check_failures ? (fprintf(stderr, "%d check(s) failed\n", check_failures), 1) : 0)

#endif
