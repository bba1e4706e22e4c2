/* The log sink: priorities on the journal's stream, the per-site limit.
 *
 * stderr goes to a file that JOURNAL_STREAM names (as systemd sets it for
 * a service), so every line must start with its priority and carry no time;
 * 1,000 warnings from one site with different numbers must fold into a
 * handful of lines and a count of what was suppressed; another site and
 * other levels are not held back by it; a window that ended is told before
 * the site's next line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "lb_clock.h"
#include "lb_log.h"

static int count_lines(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void placed_anew(double ms)
{
    /* one site: one format string, as capture/mic.c has it */
    lb_log(LB_LOG_WARN, "capture:mic:teacher", "audio placed anew (off by %.1f ms)", ms);
}

int main(void)
{
    char path[] = "/tmp/luobo-test-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
        return 1;
    struct stat st;
    fstat(STDERR_FILENO, &st);
    char env[64];
    snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", env, 1);
    setvbuf(stderr, NULL, _IOLBF, 0);
    lb_log_set_level(LB_LOG_DEBUG);
    CHECK(lb_log_stderr_is_journal());

    LB_LOGE("test", "an error %d", 1);
    LB_LOGI("test", "an info line");
    LB_LOGD("test", "a debug line");
    for (int i = 0; i < 1000; i++) {
        placed_anew(i * 0.7);
        if (i % 250 == 0)
            LB_LOGW("capture:teacher", "another site %d", i);   /* its own budget */
    }
    LB_LOGI("test", "after the flood");
    /* a message passed on whole ("%s") is its own site: different ones
     * all show, the same one with other numbers folds */
    static const char *const words[] = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
                                         "golf", "hotel" };
    char msg[64];
    for (int i = 0; i < 8; i++) {
        snprintf(msg, sizeof msg, "passed on: %s", words[i]);
        LB_LOGE("lib", "%s", msg);
    }
    for (int i = 0; i < 50; i++) {
        snprintf(msg, sizeof msg, "passed on: retry %d", i);
        LB_LOGE("lib", "%s", msg);
    }
    lb_log_flush();

    /* a short window: the count is told when the site speaks again */
    lb_log_set_site_limit(2, 200);
    for (int i = 0; i < 1300; i++)
        LB_LOGW("test", "short window %d", i);
    lb_clock_sleep_until(lb_clock_now() + 300000);
    LB_LOGW("test", "short window %s", "again");
    lb_log_flush();

    FILE *f = fopen(path, "r");
    static char text[1 << 20];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f)
        fclose(f);
    unlink(path);

    /* priorities, no time stamps */
    CHECK_STR_CONTAINS(text, "<3>ERROR [test] an error 1\n");
    CHECK_STR_CONTAINS(text, "<6>INFO  [test] an info line\n");
    CHECK_STR_CONTAINS(text, "<7>DEBUG [test] a debug line\n");
    for (char *line = text; *line; line = strchr(line, '\n') + 1) {
        if (line[0] != '<' || !strchr("3467", line[1]) || line[2] != '>') {
            fprintf(stderr, "a line without its priority: %.80s\n", line);
            check_failures++;
            break;
        }
        if (!strchr(line, '\n'))
            break;
    }
    /* the flood: the burst, then one line with the count */
    int shown = count_lines(text, "audio placed anew");
    CHECK(shown >= 2 && shown <= LB_LOG_SITE_BURST + 1);
    CHECK_STR_CONTAINS(text, "<4>WARN  [capture:mic:teacher] audio placed anew (off by 699.3 ms) "
                             "(995 similar suppressed in ");
    CHECK_STR_CONTAINS(text, "<4>WARN  [capture:teacher] another site 750\n");
    CHECK_STR_CONTAINS(text, "<6>INFO  [test] after the flood\n");
    CHECK_STR_CONTAINS(text, "<3>ERROR [lib] passed on: hotel\n");
    CHECK(count_lines(text, "passed on: retry") == LB_LOG_SITE_BURST + 1);
    CHECK_STR_CONTAINS(text, "[lib] passed on: retry 49 (45 similar suppressed in ");
    /* the short window: 2 shown, 1,298 told before the next line, which shows */
    CHECK_STR_CONTAINS(text, "[test] short window 1299 (1,298 similar suppressed in 1 s)\n");
    CHECK_STR_CONTAINS(text, "[test] short window again\n");
    CHECK(count_lines(text, "short window") == 4);
    if (check_failures)
        fputs(text, stdout);
    return CHECK_DONE();
}
