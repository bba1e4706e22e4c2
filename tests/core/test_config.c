#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "lb_config.h"
#include "lb_media.h"

typedef struct settings {
    int n;
    double x;
    int flag;
    char name[8];
    int kind;
} settings;

static const lb_option_choice kinds[] = { { "v4l2", 1 }, { "url", 2 }, { NULL, 0 } };

static const lb_option opts[] = {
    { "n", LB_OPT_INT, offsetof(settings, n), 0, "5", 1, 10, NULL, "a number" },
    { "x", LB_OPT_DOUBLE, offsetof(settings, x), 0, "0.5", 0, 1, NULL, "a ratio" },
    { "flag", LB_OPT_BOOL, offsetof(settings, flag), 0, "false", 0, 0, NULL, "a flag" },
    { "name", LB_OPT_STRING, offsetof(settings, name), sizeof(((settings *)0)->name), "abc", 0, 0, NULL, "" },
    { "type", LB_OPT_ENUM, offsetof(settings, kind), 0, NULL, 0, 0, kinds, "kind" },
    { NULL },
};

/* Loads text, applies opts to [s.one], checks unused; returns the error. */
static int run(const char *text, settings *out, char *err, size_t size)
{
    lb_config *cfg = NULL;
    int ret = lb_config_load_string(&cfg, "t.ini", text, err, size);
    if (ret < 0)
        return ret;
    ret = lb_config_apply(lb_config_find(cfg, "s.one"), opts, out, err, size);
    if (ret >= 0)
        ret = lb_config_check_unused(cfg, err, size);
    lb_config_free(&cfg);
    CHECK(cfg == NULL);
    return ret;
}

static void expect_error(const char *text, const char *message)
{
    settings s;
    char err[512] = "";
    int ret = run(text, &s, err, sizeof err);
    CHECK(ret < 0);
    CHECK_STR_CONTAINS(err, message);
}

int main(void)
{
    settings s;
    char err[512] = "";

    /* good file: values, comments, defaults, case-insensitive booleans */
    CHECK(run("; comment\n[s.one]\nn = 7\nx = 0.25\nflag = Yes\ntype = url\n", &s, err, sizeof err) == 0);
    CHECK(s.n == 7 && s.x == 0.25 && s.flag == 1 && s.kind == 2 && !strcmp(s.name, "abc"));

    /* defaults when the section is absent */
    lb_config *cfg = NULL;
    CHECK(lb_config_load_string(&cfg, "t.ini", "", err, sizeof err) == 0);
    CHECK(lb_config_apply(NULL, opts, &s, err, sizeof err) == 0);
    CHECK(s.n == 5 && s.x == 0.5 && s.flag == 0 && s.kind == 0);
    lb_config_free(&cfg);
    lb_config_free(&cfg);                   /* idempotent on NULL */

    /* every kind of bad line names file, line, section and key */
    expect_error("[s.one]\ntype = v4l\n", "t.ini:2: s.one: type: unknown value 'v4l' (expected v4l2, url)");
    expect_error("[s.one]\n\nbogus = 1\n", "t.ini:3: s.one: unknown key 'bogus'");
    expect_error("[s.one]\nn = 11\n", "t.ini:2: s.one: n: 11 is out of range [1, 10]");
    expect_error("[s.one]\nn = five\n", "t.ini:2: s.one: n: 'five' is not a whole number");
    expect_error("[s.one]\nx = 0.5.1\n", "t.ini:2: s.one: x: '0.5.1' is not a number");
    expect_error("[s.one]\nflag = maybe\n", "t.ini:2: s.one: flag: 'maybe' is not a boolean");
    expect_error("[s.one]\nname = toolongvalue\n", "t.ini:2: s.one: name: value is longer than 7 characters");
    expect_error("[s.one]\nn = 1\nn = 2\n", "t.ini:3: s.one: n: set twice (first at line 2)");
    expect_error("[s.one]\nn = 1\n[other]\nk = v\n", "t.ini:3: unknown section [other]");
    expect_error("[s.one]\nthis line has no equals sign\n", "t.ini:2: syntax error");
    expect_error("n = 1\n", "t.ini:1: key 'n' outside of any [section]");
    expect_error("[s.one]\nn = 1\n[s.one]\nx = 0.1\n", "t.ini:4: section [s.one] appears twice");
    {
        /* a line longer than inih takes is an error, never split in two */
        char text[2048] = "[s.one]\nname = ";
        size_t n = strlen(text);
        memset(text + n, 'x', 1500);
        strcpy(text + n + 1500, "\n");
        expect_error(text, "t.ini:2: line longer than");
    }

    /* a file on disk, and a missing one */
    char path[] = "/tmp/lb_config_testXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char text[] = "[s.one]\nn = 3\n";
    CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
    close(fd);
    CHECK(lb_config_load_file(&cfg, path, err, sizeof err) == 0);
    CHECK(lb_config_apply(lb_config_find(cfg, "s.one"), opts, &s, err, sizeof err) == 0 && s.n == 3);
    CHECK(!strcmp(lb_config_section_kind(lb_config_find(cfg, "s.one")), "s"));
    CHECK(!strcmp(lb_config_section_instance(lb_config_find(cfg, "s.one")), "one"));
    lb_config_free(&cfg);
    unlink(path);
    CHECK(lb_config_load_file(&cfg, "/nonexistent/luobo.ini", err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "/nonexistent/luobo.ini: cannot open: No such file or directory");
    return CHECK_DONE();
}
