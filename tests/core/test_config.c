#include <fcntl.h>
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
    expect_error("[s.one]\nn = 1\n[s.one]\nx = 0.1\n", "t.ini:3: section [s.one] appears twice (first at line 1)");
    {
        /* a line longer than inih takes is an error, never split in two */
        char text[2048] = "[s.one]\nname = ";
        size_t n = strlen(text);
        memset(text + n, 'x', 1500);
        strcpy(text + n + 1500, "\n");
        expect_error(text, "t.ini:2: line longer than");
    }

    /* section headers are checked, not trusted: [source.[source.a] once
     * crashed the daemon in lb_config_error */
    expect_error("[s.one]\nn = 1\n[source.[source.a]\ntype = url\n",
                 "t.ini:3: bad section name [source.[source.a]");
    expect_error("[s.[s.one]\n", "t.ini:1: bad section name [s.[s.one]");
    expect_error("[s.one.two]\nn = 1\n", "t.ini:1: bad section name [s.one.two]");
    expect_error("[s..one]\n", "t.ini:1: bad section name [s..one]");
    expect_error("[s.]\n", "t.ini:1: bad section name [s.]");
    expect_error("[.one]\n", "t.ini:1: bad section name [.one]");
    expect_error("[]\n", "t.ini:1: bad section name []");
    expect_error("[s.a b]\n", "t.ini:1: bad section name [s.a b]");
    expect_error("[mic.../../etc]\n", "t.ini:1: bad section name [mic.../../etc]");
    expect_error("[S.one]\n", "t.ini:1: bad section name [S.one]");
    expect_error("[s.abcdefghijklmnopqrstuvwxyz0123456]\n", "t.ini:1: bad section name");
    expect_error("[s.one\nn = 1\n", "t.ini:1: section header without a closing ']'");
    expect_error("[s.one] n = 1\n", "t.ini:1: text after the section header [s.one]");
    CHECK(run("[s.one] ; a comment\nn = 2\n", &s, err, sizeof err) == 0 && s.n == 2);
    CHECK(run("[s.one]\r\nn = 4\r\n", &s, err, sizeof err) == 0 && s.n == 4);   /* CRLF */
    /* duplicated sections, with or without keys in the first */
    expect_error("[s.one]\n[s.one]\nn = 1\n", "t.ini:2: section [s.one] appears twice (first at line 1)");
    expect_error("[s.one]\nn = 1\n[other]\n[s.one]\n", "t.ini:4: section [s.one] appears twice");
    /* keys without a section, in various shapes */
    expect_error("=\n[s.one]\n", "t.ini:1: a value without a key");
    expect_error("[s.one]\n = 3\n", "t.ini:2: a value without a key");
    expect_error("n\n", "t.ini:1: syntax error");
    expect_error("; c\n\n  n = 1\n[s.one]\n", "t.ini:3: key 'n' outside of any [section]");
    /* control characters: a config file is text */
    expect_error("[s.one]\nname = a\x1b[31mb\n", "t.ini:2: control character 0x1b at column 9");
    expect_error("[s.one]\nname = a\rb\n", "t.ini:2: control character 0x0d at column 9");
    expect_error("[s.one]\nname = a\x7f\n", "t.ini:2: control character 0x7f");
    /* a URL's password in a message about it is redacted */
    expect_error("[s.one]\ntype = rtsp://u:secretpw@h/c\n", "type: unknown value 'rtsp://u:***@h/c'");
    {
        char msg[512] = "";
        settings bad;
        CHECK(run("[s.one]\ntype = srt://h:1?passphrase=supersecret1\n", &bad, msg, sizeof msg) < 0);
        CHECK(!strstr(msg, "supersecret1") && strstr(msg, "passphrase=***"));
    }
    {
        /* huge lines: at and past inih's limit, and far past it */
        static char text[300000];
        for (size_t len = 190; len <= 200; len++) {
            snprintf(text, sizeof text, "[s.one]\nname = ");
            size_t n = strlen(text);
            memset(text + n, 'y', len);
            strcpy(text + n + len, "\nn = 2\n");
            settings t;
            char msg[512] = "";
            int ret = run(text, &t, msg, sizeof msg);
            /* never split into a second line: refused as too long, or taken
             * whole (and then too long for name[8]) */
            CHECK(ret < 0 && (strstr(msg, "t.ini:2: line longer than") ||
                              strstr(msg, "t.ini:2: s.one: name: value is longer")));
        }
        memset(text, 'x', sizeof text - 1);
        text[sizeof text - 1] = 0;
        expect_error(text, "t.ini:1: line longer than");
    }
    {
        /* lb_config_error without a key names the section's line */
        lb_config *c = NULL;
        char msg[256];
        CHECK(lb_config_load_string(&c, "t.ini", "\n[s.one]\nn = 1\n", err, sizeof err) == 0);
        lb_config_error(lb_config_find(c, "s.one"), NULL, msg, sizeof msg, "bad %s", "name");
        CHECK(!strcmp(msg, "t.ini:2: s.one: bad name"));
        lb_config_error(lb_config_find(c, "s.one"), "missing", msg, sizeof msg, "x");
        CHECK(!strcmp(msg, "t.ini:2: s.one: missing: x"));
        CHECK(lb_config_key_line(lb_config_find(c, "s.one"), NULL) == 2);
        lb_config_free(&c);
        CHECK(lb_config_valid_name("cam-1_B") && !lb_config_valid_name("") &&
              !lb_config_valid_name("a.b") && !lb_config_valid_name("[x") &&
              !lb_config_valid_name("abcdefghijklmnopqrstuvwxyz0123456"));
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
    {
        /* NUL bytes (only a file can hold them): refused with their line */
        static const char with_nul[] = "[s.one]\nn = 3\nname = a\0b\n";
        snprintf(path, sizeof path, "/tmp/lb_config_testXXXXXX");
        fd = mkstemp(path);
        CHECK(fd >= 0);
        CHECK(write(fd, with_nul, sizeof with_nul - 1) == (ssize_t)(sizeof with_nul - 1));
        close(fd);
        CHECK(lb_config_load_file(&cfg, path, err, sizeof err) < 0 && cfg == NULL);
        CHECK_STR_CONTAINS(err, ":3: control character 0x00 at column 9");
        /* a NUL in a header, and a file of nothing but NULs */
        static const char nul_header[] = "[s.o\0ne]\n";
        fd = open(path, O_WRONLY | O_TRUNC);
        CHECK(fd >= 0 && write(fd, nul_header, sizeof nul_header - 1) == (ssize_t)(sizeof nul_header - 1));
        close(fd);
        CHECK(lb_config_load_file(&cfg, path, err, sizeof err) < 0);
        CHECK_STR_CONTAINS(err, ":1: control character 0x00");
        char zeros[4096] = { 0 };
        fd = open(path, O_WRONLY | O_TRUNC);
        CHECK(fd >= 0 && write(fd, zeros, sizeof zeros) == (ssize_t)sizeof zeros);
        close(fd);
        CHECK(lb_config_load_file(&cfg, path, err, sizeof err) < 0);
        CHECK_STR_CONTAINS(err, ":1: ");
        /* a long line in a file: its own line number, not split */
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        if (f) {
            fputs("[s.one]\n", f);
            for (int i = 0; i < 100000; i++)
                fputc('z', f);
            fputs("\nn = 2\n", f);
            fclose(f);
        }
        CHECK(lb_config_load_file(&cfg, path, err, sizeof err) < 0);
        CHECK_STR_CONTAINS(err, ":2: line longer than");
        unlink(path);
    }
    CHECK(lb_config_load_file(&cfg, "/nonexistent/luobo.ini", err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "/nonexistent/luobo.ini: cannot open: No such file or directory");
    return CHECK_DONE();
}
