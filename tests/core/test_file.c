/* lb_write_file_atomic and the syncer: contents, modes, no temp file left,
 * errors, kicks merged and made durable, rewrites queued (the newest wins),
 * flush, removal while a file is busy; credentials files; lb_remove_tree
 * (nested folders gone, links removed and not followed, a missing tree). */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/error.h>

#include "lb_file.h"
#include "lb_meta.h"

#include <cjson/cJSON.h>

static char dir[256];

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_atomic(void)
{
    char path[512], tmp[520];
    struct stat st;
    snprintf(path, sizeof path, "%s/state.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(lb_write_file_atomic(path, "{\"a\":1}\n", 8, 0644) == 0);
    CHECK(slurp(path) && !strcmp(slurp(path), "{\"a\":1}\n"));
    CHECK(lb_write_file_atomic(path, "{}", 2, 0600) == 0);
    CHECK(slurp(path) && !strcmp(slurp(path), "{}"));
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(access(tmp, F_OK) < 0);
    /* a folder that does not exist: the error, and nothing written */
    snprintf(path, sizeof path, "%s/missing/state.json", dir);
    CHECK(lb_write_file_atomic(path, "x", 1, 0644) == AVERROR(ENOENT));
    CHECK(lb_fsync_dir(path) == AVERROR(ENOENT));
    CHECK(lb_fsync_dir(dir) == 0);
    CHECK(lb_fsync_parents("relative-name", 1) == 0);   /* the working folder */
}

static void test_syncer(void)
{
    lb_syncer *s = NULL;
    lb_syncer_stats st;
    char path[512], state[512];
    snprintf(path, sizeof path, "%s/sub/log", dir);
    snprintf(state, sizeof state, "%s/sub/state", dir);
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/sub/log", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);

    CHECK(lb_syncer_create(&s, "test-sync") == 0);
    int id = lb_syncer_add(s, fd, path, 2, 0);
    CHECK(id >= 0);
    for (int i = 0; i < 100; i++) {
        CHECK(write(fd, "line\n", 5) == 5);
        lb_syncer_kick(s, id);              /* never waits: merged while a sync runs */
    }
    lb_syncer_flush(s);
    lb_syncer_get_stats(s, &st);
    CHECK(st.syncs >= 1 && st.syncs <= 100);
    CHECK(st.errors == 0);
    CHECK(st.p50_us <= st.p99_us && st.p99_us <= st.max_us);

    /* a long interval: a kick waits for it, a flush does not */
    int id2 = lb_syncer_add(s, fd, path, 0, 3600 * 1000000LL);
    CHECK(id2 >= 0 && id2 != id);
    lb_syncer_kick(s, id2);
    lb_syncer_flush(s);
    lb_syncer_get_stats(s, &st);
    int64_t before = st.syncs;
    lb_syncer_kick(s, id2);                 /* due in an hour: dropped by remove */
    lb_syncer_remove(s, id2);

    /* rewrites: queued in order, the newest content of a path wins */
    for (int i = 0; i < 50; i++) {
        char text[32];
        int n = snprintf(text, sizeof text, "{\"n\":%d}", i);
        CHECK(lb_syncer_write_atomic(s, state, text, (size_t)n, 0644) == 0);
    }
    lb_syncer_flush(s);
    CHECK(slurp(state) && !strcmp(slurp(state), "{\"n\":49}"));

    lb_syncer_remove(s, id);
    lb_syncer_remove(s, -1);                /* no such file: nothing */
    lb_syncer_kick(s, 63);                  /* unused slot: nothing */
    lb_syncer_get_stats(s, &st);
    CHECK(st.syncs >= before);
    lb_syncer_free(&s);
    CHECK(s == NULL);
    lb_syncer_free(&s);
    close(fd);

    /* a failing fdatasync (a pipe) is counted, the syncer goes on */
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    CHECK(lb_syncer_create(&s, "test-sync") == 0);
    id = lb_syncer_add(s, pfd[1], "pipe", 0, 0);
    lb_syncer_kick(s, id);
    lb_syncer_flush(s);
    lb_syncer_get_stats(s, &st);
    CHECK(st.syncs == 1 && st.errors == 1);
    lb_syncer_remove(s, id);
    lb_syncer_free(&s);
    close(pfd[0]);
    close(pfd[1]);

    /* too many files */
    CHECK(lb_syncer_create(&s, "test-sync") == 0);
    int n = 0;
    while (lb_syncer_add(s, 0, "stdin", 0, 0) >= 0 && n < 1000)
        n++;
    CHECK(n == 64);
    CHECK(lb_syncer_add(s, 0, "stdin", 0, 0) == AVERROR(ENOSPC));
    for (int i = 0; i < n; i++)
        lb_syncer_remove(s, i);
    lb_syncer_free(&s);
}

static void write_mode(const char *path, const char *text, int mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    chmod(path, (mode_t)mode);
}

/* lb_credentials_read: Basic and Bearer; refused when others may read the
 * file, through a symlink, or without a credential; no message shows the
 * secret. */
static void test_credentials(void)
{
    char path[300], link_path[300], why[1024];
    lb_credentials c;
    snprintf(path, sizeof path, "%s/cred", dir);
    snprintf(link_path, sizeof link_path, "%s/cred-link", dir);

    write_mode(path, "hall1:s3cret-pw\n", 0600);
    CHECK(lb_credentials_read(path, &c, why, sizeof why) == 0);
    CHECK(!strcmp(c.userpwd, "hall1:s3cret-pw") && !c.bearer_header[0]);
    write_mode(path, "Bearer tok-abc.123\r\nignored second line\n", 0400);
    CHECK(lb_credentials_read(path, &c, why, sizeof why) == 0);
    CHECK(!strcmp(c.bearer_header, "Authorization: Bearer tok-abc.123") && !c.userpwd[0]);
    lb_credentials_clear(&c);
    CHECK(!c.bearer_header[0]);

    write_mode(path, "hall1:s3cret-pw\n", 0640);
    CHECK(lb_credentials_read(path, &c, why, sizeof why) == AVERROR(EPERM));
    CHECK_STR_CONTAINS(why, "readable by others (mode 640)");
    CHECK(!strstr(why, "s3cret") && !c.userpwd[0]);
    write_mode(path, "hall1:s3cret-pw\n", 0604);
    CHECK(lb_credentials_read(path, &c, why, sizeof why) == AVERROR(EPERM));

    write_mode(path, "hall1:s3cret-pw\n", 0600);
    unlink(link_path);
    CHECK(symlink(path, link_path) == 0);
    CHECK(lb_credentials_read(link_path, &c, why, sizeof why) < 0);

    static const char *const bad[] = { "", "no-colon-s3cret\n", "Bearer \n", "Bearer two words\n",
                                       ":s3cret\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_mode(path, bad[i], 0600);
        CHECK(lb_credentials_read(path, &c, why, sizeof why) == AVERROR(EINVAL));
        CHECK_STR_CONTAINS(why, "expected user:password or 'Bearer TOKEN'");
        CHECK(!strstr(why, "s3cret") && !strstr(why, "words"));
    }
    CHECK(lb_credentials_read("/nonexistent/cred", &c, why, sizeof why) == AVERROR(ENOENT));
    CHECK_STR_CONTAINS(why, "/nonexistent/cred");
}

static void test_remove_tree(void)
{
    char top[300], path[400], outside[300];
    snprintf(top, sizeof top, "%s/tree", dir);
    snprintf(outside, sizeof outside, "%s/outside", dir);
    snprintf(path, sizeof path, "%s/a/b/c", top);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s/keep' && echo x > '%s/f' && echo y > '%s/a/g' && "
             "echo z > '%s/keep/k' && ln -s '%s' '%s/a/link-dir' && ln -s '%s/keep/k' '%s/link-file'",
             path, outside, path, top, outside, outside, top, outside, top);
    CHECK(system(cmd) == 0);
    CHECK(lb_remove_tree(top) == 0);
    CHECK(access(top, F_OK) < 0 && errno == ENOENT);
    snprintf(path, sizeof path, "%s/keep/k", outside);
    CHECK(access(path, F_OK) == 0);    /* what the links pointed to is kept */
    CHECK(lb_remove_tree(top) == AVERROR(ENOENT));
    /* asked to stop: ends before removing anything, the tree stays */
    atomic_int stop = 1;
    snprintf(path, sizeof path, "%s/a/b", top);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && echo x > '%s/f'", path, path);
    CHECK(system(cmd) == 0);
    CHECK(lb_remove_tree_until(top, &stop) == AVERROR_EXIT);
    snprintf(path, sizeof path, "%s/a/b/f", top);
    CHECK(access(path, F_OK) == 0);
    atomic_store(&stop, 0);
    CHECK(lb_remove_tree_until(top, &stop) == 0);
    CHECK(access(top, F_OK) < 0 && errno == ENOENT);
}

/* Numbers read back from luobo's own JSON files: only what fits. */
static void test_json_int64(void)
{
    static const struct { const char *json; int ret; int64_t v; } cases[] = {
        { "1733390000123", 0, 1733390000123LL },
        { "0", 0, 0 },
        { "12.9", 0, 12 },
        { "-1", AVERROR(ERANGE), -7 },
        { "6.66667e+54", AVERROR(ERANGE), -7 },     /* fuzz_director's t0_us */
        { "1e400", AVERROR(ERANGE), -7 },           /* cJSON: infinity */
        { "\"12\"", AVERROR(EINVAL), -7 },
        { "null", AVERROR(EINVAL), -7 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *n = cJSON_Parse(cases[i].json);
        int64_t v = -7;
        CHECK(n && lb_json_int64(n, 0, LB_JSON_WALL_MS_MAX, &v) == cases[i].ret);
        CHECK(v == cases[i].v);
        cJSON_Delete(n);
    }
    int64_t v = -7;
    CHECK(lb_json_int64(NULL, 0, 1, &v) == AVERROR(EINVAL) && v == -7);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/lb-test-file-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    test_atomic();
    test_syncer();
    test_credentials();
    test_remove_tree();
    test_json_int64();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!check_failures && system(cmd) != 0)
        return 1;
    return CHECK_DONE();
}
