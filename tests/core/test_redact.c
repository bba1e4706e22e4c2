/* lb_redact_text against a table: what a secret looks like in URLs and
 * messages, what must stay as it is, and cuts that must not leak. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lb_redact.h"

static const struct {
    const char *in, *out;
} table[] = {
    /* userinfo */
    { "rtsp://user:secretpw@127.0.0.1:554/cam", "rtsp://user:***@127.0.0.1:554/cam" },
    { "rtsp://admin:secretpw@cam.local/Streaming/Channels/101", "rtsp://admin:***@cam.local/Streaming/Channels/101" },
    { "https://ghp_token123@example.com/x", "https://***@example.com/x" },
    { "http://user:@host/", "http://user:***@host/" },
    { "rtsp://user:p@ss:word@host:554/cam", "rtsp://user:***@host:554/cam" },       /* raw '@' */
    { "rtsp://user:pa/ss@host/cam", "rtsp://user:***@host/cam" },                   /* raw '/' */
    { "rtsp://user:pa?ss@host/cam", "rtsp://user:***@host/cam" },                   /* raw '?' */
    { "RTSP://User:Secret@HOST/cam", "RTSP://User:***@HOST/cam" },
    { "rtmp+tls://u:secretpw@host/live", "rtmp+tls://u:***@host/live" },
    /* IPv6 hosts */
    { "rtsp://user:secretpw@[::1]:8554/cam", "rtsp://user:***@[::1]:8554/cam" },
    { "rtsp://[fe80::1]:554/cam", "rtsp://[fe80::1]:554/cam" },
    { "srt://[::1]:9000?mode=caller&passphrase=supersecret1", "srt://[::1]:9000?mode=caller&passphrase=***" },
    /* query parameters */
    { "srt://127.0.0.1:9000?mode=listener&passphrase=supersecret1&latency=120",
      "srt://127.0.0.1:9000?mode=listener&passphrase=***&latency=120" },
    { "srt://h:1?pbkeylen=16&passphrase=abcdefghijk", "srt://h:1?pbkeylen=16&passphrase=***" },
    { "http://h/x?token=abc&key=def&secret=ghi&password=jkl&access_token=mno&streamkey=pqr&q=1",
      "http://h/x?token=***&key=***&secret=***&password=***&access_token=***&streamkey=***&q=1" },
    { "http://h/x?Password=abc&API_KEY=def", "http://h/x?Password=***&API_KEY=***" },
    { "http://h/x?keyint=60&monkeys=3&pbkeylen=24", "http://h/x?keyint=60&monkeys=3&pbkeylen=24" },
    { "http://h/x?token=&a=b", "http://h/x?token=&a=b" },
    /* several URLs in one message, and text around them */
    { "open rtsp://a:pw1@h1/c failed; then http://b:pw2@h2/u?token=t3: refused",
      "open rtsp://a:***@h1/c failed; then http://b:***@h2/u?token=*** refused" /* a value runs to the space */ },
    { "HEAD http://up:secretpw@127.0.0.1:9/lessons/2026/x.mp4: Failed to connect to 127.0.0.1 port 9",
      "HEAD http://up:***@127.0.0.1:9/lessons/2026/x.mp4: Failed to connect to 127.0.0.1 port 9" },
    { "'rtsp://u:secretpw@h/c' is not", "'rtsp://u:***@h/c' is not" },
    { "(url=rtsp://u:secretpw@h/c)", "(url=rtsp://u:***@h/c)" },
    { "my_rtsp://u:secretpw@h", "my_rtsp://u:***@h" },
    /* name=value outside URLs */
    { "parameter passphrase=abcdefghijk is bad", "parameter passphrase=*** is bad" },
    { "set password=hunter2 and token=xyz", "set password=*** and token=***" },
    /* JSON text stays JSON */
    { "{\"last_error\":\"rtsp://u:secretpw@h/c: Connection refused\",\"key\":\"x\"}",
      "{\"last_error\":\"rtsp://u:***@h/c: Connection refused\",\"key\":\"x\"}" },
    { "{\"e\":\"x?passphrase=abcdefghij\"}", "{\"e\":\"x?passphrase=***\"}" },
    /* malformed: no scheme, a broken scheme */
    { "user:secretpw@host:554", "user:***@host:554" },
    { "rtsp:/user:secretpw@host/cam", "rtsp:/user:***@host/cam" },
    { "rtsp//user:secretpw@host", "rtsp//user:***@host" },
    { "url 'user:secretpw@10.0.0.1' is not a URL", "url 'user:***@10.0.0.1' is not a URL" },
    /* a text cut short inside a password (by whoever truncated it first) */
    { "open rtsp://user:secr", "open rtsp://user:***" },
    { "rtsp://host:554", "rtsp://host:554" },
    /* nothing to redact */
    { "", "" },
    { "connection refused", "connection refused" },
    { "rtsp://127.0.0.1:554/cam", "rtsp://127.0.0.1:554/cam" },
    { "http://host:8080/users/bob@example.com", "http://host:8080/users/bob@example.com" },
    { "mail teacher@school.example", "mail teacher@school.example" },
    { "x264 keyint=60 bitrate=4000 rc=abr", "x264 keyint=60 bitrate=4000 rc=abr" },
    { "time 12:30 @ hall", "time 12:30 @ hall" },
    { "rtsp://", "rtsp://" },
    { "://u:p@h", "://u:***@h" },
    { "rtsp://@host/", "rtsp://@host/" },
};

int main(void)
{
    char buf[512];
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        size_t n = lb_redact_text(buf, sizeof buf, table[i].in);
        if (strcmp(buf, table[i].out) || n != strlen(buf)) {
            fprintf(stderr, "redact(%s)\n  gave   %s\n  wanted %s\n", table[i].in, buf, table[i].out);
            check_failures++;
        }
        CHECK(lb_redact_needed(table[i].in) == !!strcmp(table[i].in, table[i].out));
        /* in place gives the same */
        snprintf(buf, sizeof buf, "%s", table[i].in);
        lb_redact_in_place(buf, sizeof buf);
        CHECK(!strcmp(buf, table[i].out));
        /* and so does a copy */
        char *dup = lb_redact_dup(table[i].in);
        CHECK(dup && !strcmp(dup, table[i].out));
        free(dup);
    }
    CHECK(lb_redact_dup(NULL) == NULL);

    /* a cut never shows part of a secret, whatever the size */
    const char *msg = "rtsp://user:secretpw@h/c?passphrase=supersecret1";
    for (size_t size = 0; size <= strlen(msg) + 4; size++) {
        char small[64];
        memset(small, 'Z', sizeof small);
        size_t n = lb_redact_text(small, size, msg);
        CHECK(size == 0 ? small[0] == 'Z' : n < size && small[n] == 0);
        if (size) {
            CHECK(!strstr(small, "secret") && !strstr(small, "pw") && !strstr(small, "super"));
        }
    }
    /* in place, where "***" is longer than the secret and the buffer is full */
    char tight[] = "http://u:p@h";
    CHECK(lb_redact_in_place(tight, sizeof tight) == 1);
    CHECK(!strcmp(tight, "http://u:***"));
    /* long input: linear, and no secret survives */
    size_t big = 1 << 20;
    char *text = malloc(big + 1), *red = malloc(big * 3 + 1);
    CHECK(text && red);
    if (text && red) {
        size_t unit = strlen("rtsp://u:secretpw@h/c ");
        for (size_t k = 0; k + unit <= big; k += unit)
            memcpy(text + k, "rtsp://u:secretpw@h/c ", unit);
        text[big / unit * unit] = 0;
        lb_redact_text(red, big * 3 + 1, text);
        CHECK(!strstr(red, "secretpw"));
    }
    free(text);
    free(red);
    CHECK(lb_redact_text(buf, sizeof buf, NULL) == 0 && !buf[0]);
    /* formatted whole, then cut: the password is seen although the cut
     * falls inside it */
    char cut[24];
    lb_redact_format(cut, sizeof cut, "HEAD %s: %s", "http://u:secretpassword@h/x", "refused");
    CHECK(!strcmp(cut, "HEAD http://u:***@h/x: "));
    char longer[4096];
    memset(longer, 'a', sizeof longer);
    longer[sizeof longer - 1] = 0;
    lb_redact_format(buf, 40, "%s rtsp://u:secretpw@h", longer);
    CHECK(strlen(buf) == 39 && !strstr(buf, "secretpw"));
    return CHECK_DONE();
}
