/* The log sink: one call is one line whatever the message holds (newlines,
 * ESC, other C0, DEL, C1, invalid UTF-8 are escaped; Chinese stays as it
 * is), long lines are cut between characters, and repeats are still
 * folded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "lb_log.h"

static char captured[65536];

/* Runs fn with stderr going to a temporary file; returns what it wrote. */
static const char *capture(void (*fn)(void))
{
    FILE *tmp = tmpfile();
    int saved = dup(2);
    size_t n = 0;
    captured[0] = 0;
    if (!tmp || saved < 0)
        return captured;
    fflush(stderr);
    dup2(fileno(tmp), 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    n = fread(captured, 1, sizeof captured - 1, tmp);
    captured[n] = 0;
    fclose(tmp);
    return captured;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* No byte of text, newlines apart, is a control character. */
static int clean(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7F)
            return 0;
    return 1;
}

static void log_injection(void)
{
    LB_LOGW("webui", "failed login for '%s' from %s", "a\nFAKE LINE", "127.0.0.1");
    LB_LOGW("webui", "title '%s'", "x\r\x1b[31mred\x1b[0m\x07\x7f\tz");
    LB_LOGI("test", "multi\nline\nmessage\n\n");
}

static void log_utf8(void)
{
    LB_LOGI("test", "课程 %s", "数学");
    LB_LOGI("test", "c1 [%s] bad [%s] overlong [%s]", "\xc2\x9b", "\xff\xfe", "\xc0\xaf");
}

static void log_repeats(void)
{
    for (int i = 0; i < 4; i++)
        LB_LOGW("dev", "same failure\n");
    LB_LOGW("dev", "other line");
    for (int i = 0; i < 2; i++)
        LB_LOGW("dev", "with\nnewline");
    LB_LOGW("dev", "last");
}

static void log_long(void)
{
    char big[3000];
    memset(big, '\x01', sizeof big - 1);       /* each becomes 4 bytes: \x01 */
    big[sizeof big - 1] = 0;
    LB_LOGI("test", "%s", big);
    memset(big, 0, sizeof big);
    for (size_t i = 0; i + 3 < sizeof big; i += 3)
        memcpy(big + i, "汉", 3);
    LB_LOGI("test", "%s", big);
}

int main(void)
{
    const char *out;
    char buf[64];

    lb_log_set_level(LB_LOG_DEBUG);

    out = capture(log_injection);
    CHECK(count_lines(out) == 3);
    CHECK(clean(out));
    CHECK_STR_CONTAINS(out, "failed login for 'a\\nFAKE LINE' from 127.0.0.1\n");
    CHECK(!strstr(out, "\nFAKE LINE"));
    CHECK_STR_CONTAINS(out, "title 'x\\r\\x1B[31mred\\x1B[0m\\x07\\x7F\\tz'\n");
    CHECK_STR_CONTAINS(out, "multi\\nline\\nmessage\n");   /* trailing newlines dropped */

    out = capture(log_utf8);
    CHECK(count_lines(out) == 2);
    CHECK_STR_CONTAINS(out, "课程 数学\n");
    CHECK_STR_CONTAINS(out, "c1 [\\xC2\\x9B] bad [\\xFF\\xFE] overlong [\\xC0\\xAF]\n");

    out = capture(log_repeats);
    CHECK(count_lines(out) == 6);
    CHECK_STR_CONTAINS(out, "WARN  [dev] same failure\n");
    CHECK_STR_CONTAINS(out, "INFO  [log] last message repeated 3 times\n");
    CHECK_STR_CONTAINS(out, "WARN  [dev] other line\n");
    CHECK_STR_CONTAINS(out, "WARN  [dev] with\\nnewline\n");
    CHECK_STR_CONTAINS(out, "INFO  [log] last message repeated 1 times\n");
    CHECK_STR_CONTAINS(out, "WARN  [dev] last\n");
    CHECK(!strstr(strstr(out, "same failure") + 1, "same failure"));   /* written once */

    out = capture(log_long);
    CHECK(count_lines(out) == 2);
    CHECK(clean(out));
    {
        const char *second = strchr(out, '\n') + 1;
        size_t first_len = (size_t)(second - out - 1);
        CHECK(first_len < LB_LOG_LINE_MAX + 32);
        /* cut between escapes: the line ends with a whole "\x01" */
        CHECK(first_len >= 4 && !memcmp(second - 5, "\\x01", 4));
        const char *end = strchr(second, '\n');
        /* cut between characters: whole 3-byte characters before the end */
        CHECK(end && end - second > 3 && !memcmp(end - 3, "汉", 3));
    }

    /* The escaper on its own: a too-small buffer holds whole escapes only. */
    CHECK(lb_log_escape("a\nb", 3, buf, sizeof buf) == 4 && !strcmp(buf, "a\\nb"));
    CHECK(lb_log_escape("a\nb", 3, buf, 3) == 1 && !strcmp(buf, "a"));
    CHECK(lb_log_escape("\x1b", 1, buf, 5) == 4 && !strcmp(buf, "\\x1B"));
    CHECK(lb_log_escape("\x1b", 1, buf, 4) == 0 && !strcmp(buf, ""));
    CHECK(lb_log_escape("é", 2, buf, sizeof buf) == 2 && !strcmp(buf, "é"));
    return CHECK_DONE();
}
