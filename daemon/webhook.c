/* [alerts] webhook: every alert event (raised, cleared) is POSTed as JSON,
 * in order, by the lb-webhook thread with libcurl.  The queue is in memory
 * and an event leaves it only when the receiver answered 2xx, so a
 * receiver that is down gets everything once it returns (retried with
 * exponential backoff up to retry_max_s); the event's event_id lets a
 * receiver drop a duplicate (a 2xx lost on the way back).  Credentials come
 * from a file readable by the daemon alone and never reach the log. */
#include "webhook.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <libavutil/error.h>

#include "lb_clock.h"
#include "lb_file.h"
#include "lb_log.h"
#include "lb_redact.h"
#include "lb_thread.h"

typedef struct webhook_settings {
    char url[1024];
    char credentials[512];
    int allow_http;
    int timeout_s;
    int retry_max_s;
} webhook_settings;

#define OFF(x) offsetof(webhook_settings, x)
#define STR(x) OFF(x), sizeof(((webhook_settings *)0)->x)

const lb_option lb_alerts_options[] = {
    { "webhook", LB_OPT_STRING, STR(url), NULL, 0, 0, NULL, "POST every raised and cleared alert as JSON to this https:// URL" },
    { "credentials", LB_OPT_STRING, STR(credentials), NULL, 0, 0, NULL, "a file (mode 0600) with user:password (HTTP Basic) or 'Bearer TOKEN'" },
    { "allow_http", LB_OPT_BOOL, OFF(allow_http), 0, "false", 0, 0, NULL, "allow a plain http:// webhook" },
    { "timeout_s", LB_OPT_INT, OFF(timeout_s), 0, "10", 1, 300, NULL, "one attempt's time limit" },
    { "retry_max_s", LB_OPT_INT, OFF(retry_max_s), 0, "60", 1, 3600, NULL, "longest wait between two attempts (backoff doubles from 1 s)" },
    { NULL },
};

typedef struct item {
    char *json;
    struct item *next;
} item;

struct lb_webhook {
    webhook_settings set;
    lb_credentials cred;            /* Basic or a bearer token (core/lb_file.h) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    item *head, *tail;
    int nb;
    int head_in_flight;             /* curl reads head->json: it is not freed */
    uint64_t sent, failures, dropped;
    atomic_int stop;
    lb_thread thread;
};

static int read_credentials(lb_webhook *w, const lb_config_section *sec, char *err, size_t err_size)
{
    char why[1024];
    if (lb_credentials_read(w->set.credentials, &w->cred, why, sizeof why) < 0) {
        lb_config_error(sec, "credentials", err, err_size, "%s", why);
        return AVERROR(EINVAL);
    }
    return 0;
}

int lb_webhook_create(lb_webhook **pw, const lb_config_section *sec, char *err, size_t err_size)
{
    int ret;
    *pw = NULL;
    lb_webhook *w = calloc(1, sizeof *w);
    if (!w)
        return AVERROR(ENOMEM);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    if ((ret = lb_config_apply(sec, lb_alerts_options, &w->set, err, err_size)) < 0)
        goto fail;
    if (!*w->set.url) {
        if (*w->set.credentials) {
            lb_config_error(sec, "credentials", err, err_size, "without a webhook");
            ret = AVERROR(EINVAL);
            goto fail;
        }
        lb_webhook_free(&w);
        return 0;                   /* no webhook: nothing to do */
    }
    int https = !strncmp(w->set.url, "https://", 8), http = !strncmp(w->set.url, "http://", 7);
    if (!https && !(http && w->set.allow_http)) {
        lb_config_error(sec, "webhook", err, err_size, http ? "a plain http:// URL needs allow_http = true "
                        "(alerts and credentials would cross the network in clear)"
                        : "expected an https:// URL");
        ret = AVERROR(EINVAL);
        goto fail;
    }
    if (*w->set.credentials && (ret = read_credentials(w, sec, err, err_size)) < 0)
        goto fail;
    *pw = w;
    return 0;
fail:
    lb_webhook_free(&w);
    return ret;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    (void)ptr;
    (void)opaque;
    return size * nmemb;
}

static int interrupted(void *opaque, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((lb_webhook *)opaque)->stop);
}

/* One attempt: 0 when the receiver took it (2xx). */
static int post(lb_webhook *w, CURL *curl, const char *json, char *why, size_t why_size)
{
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (*w->cred.bearer_header)
        hdrs = curl_slist_append(hdrs, w->cred.bearer_header);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, w->set.url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)w->set.timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, interrupted);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, w);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, w->set.allow_http ? "http,https" : "https");
    if (*w->cred.userpwd) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERPWD, w->cred.userpwd);
    }
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK) {
        /* curl's messages name the host, never the credentials */
        snprintf(why, why_size, "%s", curl_easy_strerror(cc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(why, why_size, "HTTP %ld", status);
        return -1;
    }
    return 0;
}

static void *webhook_thread(void *arg)
{
    lb_webhook *w = arg;
    CURL *curl = curl_easy_init();
    int backoff_s = 0;
    char why[256];
    while (curl) {
        pthread_mutex_lock(&w->lock);
        while (!w->head && !atomic_load(&w->stop))
            pthread_cond_wait(&w->cond, &w->lock);
        if (atomic_load(&w->stop)) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        /* stays first and alive until it is taken: lb_webhook_post()
         * drops the one after it when the queue is full */
        char *json = w->head->json;
        w->head_in_flight = 1;
        pthread_mutex_unlock(&w->lock);

        int ret = post(w, curl, json, why, sizeof why);
        pthread_mutex_lock(&w->lock);
        w->head_in_flight = 0;
        if (ret == 0) {
            item *it = w->head;
            w->head = it->next;
            if (!w->head)
                w->tail = NULL;
            w->nb--;
            w->sent++;
            pthread_mutex_unlock(&w->lock);
            free(it->json);
            free(it);
            if (backoff_s)
                LB_LOGI("webhook", "delivered again");
            backoff_s = 0;
            continue;
        }
        backoff_s = backoff_s ? backoff_s * 2 : 1;
        if (backoff_s > w->set.retry_max_s)
            backoff_s = w->set.retry_max_s;
        w->failures++;
        int pending = w->nb;
        pthread_mutex_unlock(&w->lock);
        LB_LOGW("webhook", "cannot deliver an alert: %s; %d waiting, retry in %d s", why, pending,
                backoff_s);
        struct timespec until;
        int64_t t = lb_clock_now() + backoff_s * 1000000LL;
        until.tv_sec = t / 1000000;
        until.tv_nsec = t % 1000000 * 1000;
        pthread_mutex_lock(&w->lock);
        while (!atomic_load(&w->stop) && lb_clock_now() < t)
            if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&w->lock);
    }
    if (curl)
        curl_easy_cleanup(curl);
    return NULL;
}

int lb_webhook_start(lb_webhook *w)
{
    if (!w)
        return 0;
    return lb_thread_start(&w->thread, "lb-webhook", webhook_thread, w);
}

void lb_webhook_post(lb_webhook *w, const char *json)
{
    if (!w)
        return;
    item *it = calloc(1, sizeof *it);
    /* the alert leaves for another machine: its messages quote errors,
     * which must not carry a URL's password (redacted text stays JSON) */
    if (!it || !(it->json = lb_redact_dup(json))) {
        free(it);
        return;
    }
    pthread_mutex_lock(&w->lock);
    if (w->nb == LB_WEBHOOK_MAX_PENDING) {
        /* a receiver away for days: the oldest go, counted; not the one
         * being sent, whose json curl reads and whose 2xx takes the head */
        item **pold = w->head_in_flight ? &w->head->next : &w->head;
        item *old = *pold;
        *pold = old->next;
        if (w->tail == old)
            w->tail = pold == &w->head ? NULL : w->head;
        w->nb--;
        w->dropped++;
        free(old->json);
        free(old);
    }
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->nb++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void lb_webhook_get_stats(lb_webhook *w, lb_webhook_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    st->pending = w->nb;
    st->sent = w->sent;
    st->failures = w->failures;
    st->dropped = w->dropped;
    pthread_mutex_unlock(&w->lock);
}

void lb_webhook_free(lb_webhook **pw)
{
    lb_webhook *w = pw ? *pw : NULL;
    if (!w)
        return;
    atomic_store(&w->stop, 1);
    pthread_mutex_lock(&w->lock);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    lb_thread_join(&w->thread);
    if (w->nb)
        LB_LOGW("webhook", "%d alert event(s) not delivered at exit", w->nb);
    while (w->head) {
        item *it = w->head;
        w->head = it->next;
        free(it->json);
        free(it);
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    lb_credentials_clear(&w->cred);
    free(w);
    *pw = NULL;
}
