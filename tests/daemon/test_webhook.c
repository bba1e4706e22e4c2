/* The webhook's queue while an event is being sent: a full queue drops the
 * oldest event that is not in flight, so the one curl is sending stays
 * alive and is still the head its 2xx takes.  A receiver on loopback reads
 * event 1, holds its keep-alive connection while the queue overflows, then
 * closes it unanswered: curl sends event 1 again on a fresh connection,
 * reading the same buffer (freed by a drop of the head, ASan says so). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "lb_clock.h"
#include "webhook.h"

#define MAX_SEEN 8

static int listen_fd;
static atomic_int nb_seen, held, flooded, done;
static char seen[MAX_SEEN][128];

/* One request's body into body; 0, or -1 at EOF or on an error. */
static int read_request(int fd, char *body, size_t body_size)
{
    char buf[4096];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (atomic_load(&done) || len == sizeof buf - 1)
            return -1;
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0, have = len - (size_t)(end + 4 - buf);
    if (want >= body_size)
        return -1;
    memcpy(body, end + 4, have);
    while (have < want) {
        ssize_t n = read(fd, body + have, want - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    body[want] = 0;
    return 0;
}

static void record(const char *body)
{
    int n = atomic_load(&nb_seen);
    if (n < MAX_SEEN)
        snprintf(seen[n], sizeof seen[n], "%s", body);
    atomic_store(&nb_seen, n + 1);
}

static void *receiver(void *unused)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    char body[4096];
    int first = 1;
    (void)unused;
    while (!atomic_load(&done)) {
        struct pollfd p = { listen_fd, POLLIN, 0 };
        if (poll(&p, 1, 200) <= 0)
            continue;
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        while (read_request(fd, body, sizeof body) == 0) {
            record(body);
            if (first && atomic_load(&nb_seen) == 2) {
                /* event 1 in flight: hold it until the queue overflowed,
                 * then close unanswered (curl sends it again) */
                first = 0;
                atomic_store(&held, 1);
                for (int i = 0; i < 6000 && !atomic_load(&flooded); i++)
                    lb_clock_sleep_until(lb_clock_now() + 10000);
                break;
            }
            if (write(fd, ok, sizeof ok - 1) != (ssize_t)(sizeof ok - 1))
                break;
        }
        close(fd);
    }
    return NULL;
}

static int wait_for(atomic_int *v, int at_least)
{
    for (int i = 0; i < 6000; i++) {           /* 60 s: the machine is busy */
        if (atomic_load(v) >= at_least)
            return 0;
        lb_clock_sleep_until(lb_clock_now() + 10000);
    }
    return -1;
}

static void event(char *buf, size_t size, int i)
{
    snprintf(buf, size, "{\"event_id\":%d,\"alert\":\"test\"}", i);
}

int main(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sa_len = sizeof sa;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(listen_fd, 8) < 0 || getsockname(listen_fd, (struct sockaddr *)&sa, &sa_len) < 0) {
        perror("listen");
        return 1;
    }
    pthread_t rt;
    pthread_create(&rt, NULL, receiver, NULL);

    char ini[256], err[512], json[128];
    snprintf(ini, sizeof ini, "[alerts]\nwebhook = http://127.0.0.1:%d/hook\nallow_http = true\n"
             "timeout_s = 120\n", ntohs(sa.sin_port));
    lb_config *cfg = NULL;
    lb_webhook *w = NULL;
    CHECK(lb_config_load_string(&cfg, "t.ini", ini, err, sizeof err) == 0);
    CHECK(lb_webhook_create(&w, lb_config_find(cfg, "alerts"), err, sizeof err) == 0 && w);
    if (!w)
        return CHECK_DONE();
    CHECK(lb_webhook_start(w) == 0);

    event(json, sizeof json, 0);
    lb_webhook_post(w, json);
    CHECK(wait_for(&nb_seen, 1) == 0);
    event(json, sizeof json, 1);
    lb_webhook_post(w, json);
    CHECK(wait_for(&held, 1) == 0);
    /* event 1 is being sent: 1 + LB_WEBHOOK_MAX_PENDING waiting drops one */
    for (int i = 2; i < LB_WEBHOOK_MAX_PENDING + 2; i++) {
        event(json, sizeof json, i);
        lb_webhook_post(w, json);
    }
    lb_webhook_stats st;
    lb_webhook_get_stats(w, &st);
    CHECK(st.dropped == 1 && st.pending == LB_WEBHOOK_MAX_PENDING);
    atomic_store(&flooded, 1);
    CHECK(wait_for(&nb_seen, 5) == 0);

    int n = atomic_load(&nb_seen) < MAX_SEEN ? atomic_load(&nb_seen) : MAX_SEEN;
    for (int i = 0; i < n; i++)
        printf("webhook: received %s\n", seen[i]);
    char want[128];
    event(want, sizeof want, 0);
    CHECK(!strcmp(seen[0], want));
    event(want, sizeof want, 1);
    CHECK(!strcmp(seen[1], want));
    CHECK(!strcmp(seen[2], want));      /* the same event, sent again whole */
    event(want, sizeof want, 3);        /* 2 was the oldest not in flight */
    CHECK(!strcmp(seen[3], want));
    event(want, sizeof want, 4);
    CHECK(!strcmp(seen[4], want));
    lb_webhook_get_stats(w, &st);
    CHECK(st.dropped == 1 && st.sent >= 3);

    atomic_store(&done, 1);
    lb_webhook_free(&w);
    CHECK(!w);
    pthread_join(rt, NULL);
    close(listen_fd);
    lb_config_free(&cfg);
    return CHECK_DONE();
}
