/* Unit tests of the webui's pure helpers: Range parsing, path checks,
 * MIME types, roles; the login limits a new web UI takes over.  Table
 * driven; prints each failure and exits 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/error.h>

#include "webui_priv.h"

static int failures;

#define CHECK(cond, ...)                                      \
    do {                                                      \
        if (!(cond)) {                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);       \
            printf(__VA_ARGS__);                              \
            printf("\n");                                     \
            failures++;                                       \
        }                                                     \
    } while (0)

static void test_ranges(void)
{
    static const struct {
        const char *header;
        int64_t size;
        webui_range_result want;
        int64_t first, last;
    } cases[] = {
        { NULL,                 100, WEBUI_RANGE_NONE, 0, 0 },
        { "",                   100, WEBUI_RANGE_NONE, 0, 0 },
        { "bytes=0-99",         100, WEBUI_RANGE_OK, 0, 99 },
        { "bytes=0-0",          100, WEBUI_RANGE_OK, 0, 0 },
        { "bytes=10-",          100, WEBUI_RANGE_OK, 10, 99 },
        { "bytes=99-",          100, WEBUI_RANGE_OK, 99, 99 },
        { "bytes=-1",           100, WEBUI_RANGE_OK, 99, 99 },
        { "bytes=-100",         100, WEBUI_RANGE_OK, 0, 99 },
        { "bytes=-1000",        100, WEBUI_RANGE_OK, 0, 99 },
        { "bytes=50-1000",      100, WEBUI_RANGE_OK, 50, 99 },
        { "bytes=100-",         100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=100-200",      100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=-0",           100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=5-4",          100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=0-1,3-4",      100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes= 0-1",         100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=0 -1",         100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=+0-1",         100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=-",            100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=",             100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=a-b",          100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "Bytes=0-1",          100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "items=0-1",          100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=0-1x",         100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=99999999999999999999-", 100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=0-99999999999999999999", 100, WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=0-",           0,   WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=-5",           0,   WEBUI_RANGE_UNSATISFIABLE, 0, 0 },
        { "bytes=4294967296-",  8589934592LL, WEBUI_RANGE_OK, 4294967296LL, 8589934591LL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t first = -7, last = -7;
        webui_range_result r = webui_parse_range(cases[i].header, cases[i].size, &first, &last);
        CHECK(r == cases[i].want, "range '%s' size %lld: result %d, want %d",
              cases[i].header ? cases[i].header : "(null)", (long long)cases[i].size, r,
              cases[i].want);
        if (r == WEBUI_RANGE_OK && cases[i].want == WEBUI_RANGE_OK)
            CHECK(first == cases[i].first && last == cases[i].last,
                  "range '%s': %lld-%lld, want %lld-%lld", cases[i].header, (long long)first,
                  (long long)last, (long long)cases[i].first, (long long)cases[i].last);
    }
}

static void test_paths(void)
{
    static const char *const good[] = {
        "index.html", "vendor/hls.min.js", "20261128-101500-optics/program.mp4",
        "20261128-101500-optics/iso/teacher.mp4", "a.b.c", "lesson-\xe7\x89\xa9\xe7\x90\x86/x.mp4",
        "x_y+z~@,", NULL,
    };
    static const char *const bad[] = {
        "", "/etc/passwd", "..", "../x", "a/../b", "a/..", "./a", "a/./b", ".hidden",
        "a/.luobo-auth.json", "a//b", "a/", "%2e%2e/x", "a%2fb", "a\\..\\b", "a b",
        "a\tb", "a\nb", "a\"b", "a?b", "a#b", "a*b", "a:b", "a;b", NULL,
    };
    for (int i = 0; good[i]; i++)
        CHECK(webui_path_is_safe(good[i]), "path '%s' should be safe", good[i]);
    for (int i = 0; bad[i]; i++)
        CHECK(!webui_path_is_safe(bad[i]), "path '%s' should be refused", bad[i]);
    char long_path[WEBUI_MAX_PATH + 8];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = 0;
    CHECK(!webui_path_is_safe(long_path), "an over-long path is refused");
    CHECK(!webui_path_is_safe(NULL), "NULL is refused");
}

static void test_mime_and_roles(void)
{
    CHECK(!strcmp(webui_mime_type("a/program.m3u8"), "application/vnd.apple.mpegurl"), "m3u8");
    CHECK(!strcmp(webui_mime_type("seg1.ts"), "video/mp2t"), "ts");
    CHECK(!strcmp(webui_mime_type("seg1.m4s"), "video/iso.segment"), "m4s");
    CHECK(!strcmp(webui_mime_type("program.MP4"), "video/mp4"), "MP4, any case");
    CHECK(!strcmp(webui_mime_type("noext"), "application/octet-stream"), "unknown type");
    CHECK(!strncmp(webui_mime_type("index.html"), "text/html", 9), "html");
    for (int r = WEBUI_ROLE_VIEWER; r <= WEBUI_ROLE_ADMIN; r++)
        CHECK(webui_role_from_name(webui_role_name((webui_role)r)) == (webui_role)r,
              "role %d round trip", r);
    CHECK(webui_role_from_name("root") == WEBUI_ROLE_NONE, "unknown role");
    CHECK(webui_role_from_name(NULL) == WEBUI_ROLE_NONE, "NULL role");
    CHECK(WEBUI_ROLE_VIEWER < WEBUI_ROLE_TEACHER && WEBUI_ROLE_TEACHER < WEBUI_ROLE_OPERATOR &&
          WEBUI_ROLE_OPERATOR < WEBUI_ROLE_ADMIN, "roles are ranked");
}

/* What each role sees of a status: a full one with errors and URLs in. */
static void test_status_views(void)
{
    static const char full_text[] =
        "{\"version\":\"1\",\"recording\":{\"active\":true,\"id\":\"20261204-x\",\"title\":\"Optics\","
        "\"teacher\":\"Ms Li\",\"course\":\"Physics\",\"elapsed_s\":12,\"last_error\":\"disk\","
        "\"lesson_state\":\"recording\"},"
        "\"director\":{\"mode\":\"auto\",\"shot\":\"cam\"},"
        "\"sources\":[{\"name\":\"cam\",\"role\":\"teacher\",\"kind\":\"url\",\"state\":\"lost\","
        "\"last_error\":\"rtsp://u:secretpw@h/c: refused\",\"analysis_stream\":{\"last_error\":\"x\"}}],"
        "\"mics\":[{\"name\":\"m\",\"role\":\"teacher\",\"kind\":\"alsa\",\"state\":\"live\","
        "\"last_error\":\"/dev/snd\"}],"
        "\"outputs\":[{\"name\":\"live\",\"kind\":\"hls\",\"state\":\"live\",\"last_error\":\"\"},"
        "{\"name\":\"up\",\"kind\":\"upload\",\"state\":\"lost\","
        "\"last_error\":\"HEAD http://up:secretpw@h/x: refused\"}],"
        "\"disk\":{\"free_bytes\":1}}";
    cJSON *full = cJSON_Parse(full_text);
    CHECK(full != NULL, "the sample status parses");
    if (!full)
        return;
    CHECK(webui_status_view_for(WEBUI_ROLE_NONE) == WEBUI_VIEW_PUBLIC &&
          webui_status_view_for(WEBUI_ROLE_VIEWER) == WEBUI_VIEW_VIEWER &&
          webui_status_view_for(WEBUI_ROLE_TEACHER) == WEBUI_VIEW_VIEWER &&
          webui_status_view_for(WEBUI_ROLE_OPERATOR) == WEBUI_VIEW_FULL &&
          webui_status_view_for(WEBUI_ROLE_ADMIN) == WEBUI_VIEW_FULL, "views by role");
    static const struct {
        webui_status_view view;
        const char *want;
    } cases[] = {
        { WEBUI_VIEW_PUBLIC, "{\"recording\":{\"active\":true,\"title\":\"Optics\","
                             "\"course\":\"Physics\",\"teacher\":\"Ms Li\",\"elapsed_s\":12}}" },
        { WEBUI_VIEW_VIEWER, "{\"recording\":{\"active\":true,\"title\":\"Optics\","
                             "\"course\":\"Physics\",\"teacher\":\"Ms Li\",\"elapsed_s\":12,"
                             "\"lesson_state\":\"recording\"},"
                             "\"live\":true,"
                             "\"sources\":[{\"name\":\"cam\",\"role\":\"teacher\",\"state\":\"lost\"}],"
                             "\"mics\":[{\"name\":\"m\",\"role\":\"teacher\",\"state\":\"live\"}]}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *v = webui_status_filter(full, cases[i].view);
        char *text = cJSON_PrintUnformatted(v);
        CHECK(text && !strcmp(text, cases[i].want), "view %d:\n  got  %s\n  want %s", cases[i].view,
              text ? text : "(null)", cases[i].want);
        free(text);
        cJSON_Delete(v);
    }
    cJSON *v = webui_status_filter(full, WEBUI_VIEW_FULL);
    char *text = cJSON_PrintUnformatted(v);
    CHECK(text && !strstr(text, "secretpw") && strstr(text, "rtsp://u:***@h/c: refused") &&
          strstr(text, "HEAD http://up:***@h/x") && strstr(text, "\"disk\""),
          "the full view: everything, redacted (%s)", text ? text : "(null)");
    free(text);
    cJSON_Delete(v);
    cJSON_Delete(full);
}

/* A reload's new web UI takes the login limits over without the guesses
 * still at the old one's hasher, which never give their verdict: carried,
 * they locked the account ("retry in 1 s") for good. */
static void test_carried_limits(void)
{
    char dir[] = "/tmp/webui_unit-XXXXXX", err[256] = "";
    webui_auth_settings st = { .session_idle_s = 3600, .session_max_s = 3600,
                               .login_max_failures = 3, .login_window_s = 60,
                               .login_backoff_max_s = 60 };
    webui_auth *a = NULL, *b = NULL;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(webui_auth_hash_password("correct horse 1", st.admin_password_hash,
                                   sizeof st.admin_password_hash) == 0, "hash");
    CHECK(webui_auth_create(&a, &st, dir, err, sizeof err) == 0 &&
          webui_auth_create(&b, &st, dir, err, sizeof err) == 0, "auth: %s", err);
    if (!a || !b)
        goto end;
    for (int i = 0; i < 3; i++)               /* three guesses at the hasher */
        CHECK(webui_auth_attempt(a, "10.0.0.1", "admin", NULL) == 0, "guess %d let through", i);
    int retry_s = 0;
    CHECK(webui_auth_attempt(a, "10.0.0.2", "admin", &retry_s) == AVERROR(EAGAIN),
          "a fourth waits for their verdicts");
    lb_webui_sessions *saved = webui_auth_save(a);
    CHECK(saved != NULL, "save");
    if (saved)
        webui_auth_restore(b, saved);
    lb_webui_sessions_free(&saved);
    CHECK(webui_auth_attempt(b, "10.0.0.2", "admin", &retry_s) == 0,
          "the new web UI lets a guess through (retry in %d s)", retry_s);
end:
    webui_auth_free(&a);
    webui_auth_free(&b);
    rmdir(dir);
}

int main(void)
{
    test_ranges();
    test_paths();
    test_mime_and_roles();
    test_status_views();
    test_carried_limits();
    if (failures) {
        printf("%d failure(s)\n", failures);
        return 1;
    }
    printf("all webui unit checks passed\n");
    return 0;
}
