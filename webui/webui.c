/* The webui's life: options, the libwebsockets context, its thread, and the
 * publish ring that other threads use to reach it. */
#include "webui_priv.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavutil/error.h>
#include <openssl/ssl.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_redact.h"

#ifndef LUOBO_WWW_DIR
#define LUOBO_WWW_DIR "webui/www"
#endif

#define AUTH_OFF(field) offsetof(webui_auth_settings, field)
#define AUTH_SIZE(field) sizeof(((webui_auth_settings *)0)->field)

const lb_option lb_auth_options[] = {
    { "admin_password_hash", LB_OPT_STRING, AUTH_OFF(admin_password_hash),
      AUTH_SIZE(admin_password_hash), NULL, 0, 0, NULL,
      "crypt(5) hash of user 'admin' (mkpasswd -m yescrypt); empty: set it in the browser on first visit" },
    { "public_viewer", LB_OPT_BOOL | LB_OPT_LIVE, AUTH_OFF(public_viewer), 0, "false", 0, 0, NULL,
      "the viewer page, /live/ and a reduced status work without login" },
    { "metrics_public", LB_OPT_BOOL | LB_OPT_LIVE, AUTH_OFF(metrics_public), 0, "false", 0, 0, NULL,
      "/metrics without login (otherwise an operator session or API token)" },
    { "users_file", LB_OPT_STRING, AUTH_OFF(users_file), AUTH_SIZE(users_file), NULL, 0, 0, NULL,
      "users and API tokens (default DATA_DIR/.luobo-auth.json)" },
    { "session_idle_s", LB_OPT_INT | LB_OPT_LIVE, AUTH_OFF(session_idle_s), 0, "43200", 60, 2592000, NULL,
      "a session unused this long ends" },
    { "session_max_s", LB_OPT_INT | LB_OPT_LIVE, AUTH_OFF(session_max_s), 0, "604800", 1, 31536000, NULL,
      "a session ends this long after its login, however busy" },
    { "login_max_failures", LB_OPT_INT | LB_OPT_LIVE, AUTH_OFF(login_max_failures), 0, "5", 1, 1000, NULL,
      "failed password attempts from one address (in login_window_s), or at one account, "
      "before it must wait" },
    { "login_window_s", LB_OPT_INT | LB_OPT_LIVE, AUTH_OFF(login_window_s), 0, "60", 1, 86400, NULL,
      "the window in which failed logins are counted" },
    { "login_backoff_max_s", LB_OPT_INT | LB_OPT_LIVE, AUTH_OFF(login_backoff_max_s), 0, "300", 1, 86400, NULL,
      "an account past login_max_failures waits 1, 2, 4 ... s after each failure, at most this" },
    { "tls_cert", LB_OPT_STRING, AUTH_OFF(tls_cert), AUTH_SIZE(tls_cert), NULL, 0, 0, NULL,
      "the older name of [webui] tls_cert" },
    { "tls_key", LB_OPT_STRING, AUTH_OFF(tls_key), AUTH_SIZE(tls_key), NULL, 0, 0, NULL,
      "the older name of [webui] tls_key" },
    { NULL },
};

#define TLS_OFF(field) offsetof(webui_tls_settings, field)
#define TLS_SIZE(field) sizeof(((webui_tls_settings *)0)->field)

static const lb_option_choice tls_choices[] = {
    { "off", WEBUI_TLS_OFF }, { "auto", WEBUI_TLS_AUTO }, { "on", WEBUI_TLS_ON }, { NULL, 0 },
};

const lb_option lb_webui_options[] = {
    { "tls", LB_OPT_ENUM, TLS_OFF(tls), 0, NULL, 0, 0, tls_choices,
      "off: plain HTTP; auto: HTTPS with tls_cert, else with a self-signed certificate made "
      "in the data folder; on: HTTPS, tls_cert required; not set: on with tls_cert, else off" },
    { "https_port", LB_OPT_INT, TLS_OFF(https_port), 0, "8443", 0, 65535, NULL,
      "HTTPS and WSS port when TLS is on; http_port then redirects here (0: any free port)" },
    { "plain_live", LB_OPT_BOOL, TLS_OFF(plain_live), 0, "false", 0, 0, NULL,
      "with TLS and [auth] public_viewer: /live/ stays on plain HTTP too, for HLS players" },
    { "tls_cert", LB_OPT_STRING, TLS_OFF(tls_cert), TLS_SIZE(tls_cert), NULL, 0, 0, NULL,
      "PEM certificate (chain) for HTTPS ([auth] tls_cert is the same key)" },
    { "tls_key", LB_OPT_STRING, TLS_OFF(tls_key), TLS_SIZE(tls_key), NULL, 0, 0, NULL,
      "PEM private key of tls_cert" },
    { NULL },
};

#define HTTP_OFF(field) offsetof(webui_http_settings, field)

/* The [general] keys the webui reads; applying them marks them used, so the
 * daemon's table may list them too or not. */
const lb_option lb_webui_general_options[] = {
    { "http_port", LB_OPT_INT, HTTP_OFF(http_port), 0, "8080", 0, 65535, NULL,
      "port of the web UI and API (0: any free port)" },
    { "http_address", LB_OPT_STRING, HTTP_OFF(http_address),
      sizeof(((webui_http_settings *)0)->http_address), NULL, 0, 0, NULL,
      "address to listen on (default: every interface)" },
    { NULL },
};

static void lws_log_to_lb(int level, const char *line)
{
    char msg[512];
    size_t len;
    snprintf(msg, sizeof msg, "%s", line);
    len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = 0;
    lb_log(level & LLL_ERR ? LB_LOG_ERROR : LB_LOG_WARN, "webui:lws", "%s", msg);
}

int lb_webui_create(lb_webui **pw, const lb_webui_params *p, char *err, size_t err_size)
{
    const lb_config_section *auth_sec = p->cfg ? lb_config_find(p->cfg, "auth") : NULL;
    const lb_config_section *general = p->cfg ? lb_config_find(p->cfg, "general") : NULL;
    const lb_config_section *webui_sec = p->cfg ? lb_config_find(p->cfg, "webui") : NULL;
    lb_webui *w = calloc(1, sizeof *w);
    int ret;

    if (!w)
        return AVERROR(ENOMEM);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->control_cond, NULL);
    pthread_mutex_init(&w->jobs_lock, NULL);
    pthread_cond_init(&w->jobs_cond, NULL);
    if ((ret = lb_config_apply(auth_sec, lb_auth_options, &w->auth_settings, err, err_size)) < 0 ||
        (ret = lb_config_apply(general, lb_webui_general_options, &w->http, err, err_size)) < 0 ||
        (ret = lb_config_apply(webui_sec, lb_webui_options, &w->tls_settings, err, err_size)) < 0 ||
        (ret = webui_hosts_configure(w, webui_sec, err, err_size)) < 0)
        goto fail;
    if (!p->data_dir || !*p->data_dir || !p->ops) {
        snprintf(err, err_size, "webui: data_dir and ops are required");
        ret = AVERROR(EINVAL);
        goto fail;
    }
    snprintf(w->data_dir, sizeof w->data_dir, "%s", p->data_dir);
    snprintf(w->www_dir, sizeof w->www_dir, "%s", p->www_dir ? p->www_dir : LUOBO_WWW_DIR);
    snprintf(w->live_dir, sizeof w->live_dir, "%s", p->live_dir ? p->live_dir : "");
    snprintf(w->bind_address, sizeof w->bind_address, "%s", w->http.http_address);
    w->ops = p->ops;
    w->opaque = p->opaque;
    snprintf(w->recut_exe, sizeof w->recut_exe, "%s", p->recut_exe ? p->recut_exe : "/proc/self/exe");
    w->stop_timeout_us = p->stop_timeout_us > 0 ? p->stop_timeout_us : WEBUI_STOP_TIMEOUT_US;
    if ((ret = webui_tls_configure(w, webui_sec, auth_sec, err, err_size)) < 0)
        goto fail;
    if ((ret = webui_auth_create(&w->auth, &w->auth_settings, w->data_dir, err, err_size)) < 0) {
        if (auth_sec) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", err);
            lb_config_error(auth_sec, "admin_password_hash", err, err_size, "%s", msg);
        }
        goto fail;
    }
    *pw = w;
    return 0;
fail:
    lb_webui_free(&w);
    return ret;
}

static void *loop(void *arg)
{
    lb_webui *w = arg;
    struct lws_context *ctx = w->ctx;
    while (!atomic_load(&w->stop))
        if (lws_service(ctx, 0) < 0)
            break;
    /* Left behind by lb_webui_stop() and unstuck since: nobody else will
     * destroy the context, and its listeners would stay bound, failing the
     * next lb_webui_start() on the same ports. */
    pthread_mutex_lock(&w->lock);
    w->loop_done = 1;
    pthread_cond_broadcast(&w->control_cond);   /* a set_control() waits no more */
    int abandoned = atomic_load(&w->abandoned);
    if (abandoned)
        w->ctx = NULL;
    pthread_mutex_unlock(&w->lock);
    if (abandoned) {
        lws_context_destroy(ctx);      /* every callback returns at once */
        LB_LOGW("webui", "the web thread left behind has stopped; its listeners are closed");
        pthread_detach(pthread_self());
    }
    return NULL;
}

/* One vhost per listener, in one context and one loop: the HTTPS one (with
 * TLS) or the plain one; with TLS the plain one answers with redirects
 * (webui_tls_on_request()). */
static struct lws_vhost *create_vhost(lb_webui *w, struct lws_context *ctx,
                                      struct lws_context_creation_info *info, const char *name,
                                      int port, int tls, int *bound, char *err, size_t err_size)
{
    struct lws_vhost *vh;
    info->vhost_name = name;
    info->port = port;
    info->ssl_cert_filepath = tls ? w->tls_cert : NULL;
    info->ssl_private_key_filepath = tls ? w->tls_key : NULL;
    if (!(vh = lws_create_vhost(ctx, info))) {
        snprintf(err, err_size, "webui: cannot listen on %s:%d%s",
                 info->iface ? info->iface : "*", port,
                 tls ? " (or the certificate and key were refused)" : "");
        return NULL;
    }
    *bound = lws_get_vhost_listen_port(vh);
    return vh;
}

int lb_webui_start(lb_webui *w, char *err, size_t err_size)
{
    struct lws_context_creation_info info;
    struct lws_context *ctx;
    int ret;

    if (w->ctx) {
        snprintf(err, err_size, "webui: already started");
        return AVERROR(EINVAL);
    }
    if (mkdir(w->data_dir, 0755) < 0 && errno != EEXIST) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "webui: cannot create %s: %s", w->data_dir, strerror(errno));
        return ret;
    }
    if ((ret = webui_auth_load(w->auth, err, err_size)) < 0)
        return ret;
    if (w->carried) {
        webui_auth_restore(w->auth, w->carried);
        lb_webui_sessions_free(&w->carried);
    }
    if ((ret = webui_auth_prepare_setup(w->auth, err, err_size)) < 0 ||
        (ret = webui_tls_prepare(w, err, err_size)) < 0)
        return ret;

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_lb);
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (w->tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.iface = w->bind_address[0] ? w->bind_address : NULL;
    info.protocols = webui_protocols;
    info.user = w;
    info.max_http_header_data = 8192;        /* larger request headers are refused */
    info.max_http_header_pool = 64;
    info.keepalive_timeout = 30;
    info.timeout_secs = 30;
    /* TCP keepalive reaps event sockets whose peer vanished without a FIN. */
    info.ka_time = 60;
    info.ka_probes = 3;
    info.ka_interval = 10;
    info.alpn = "http/1.1";                  /* our WebSocket and body code is h1 */
    /* OpenSSL 3.0 still allows TLS 1.0 and 1.1 at some security levels. */
    info.ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
    if (!(ctx = lws_create_context(&info))) {
        snprintf(err, err_size, "webui: cannot create the libwebsockets context");
        return AVERROR(ENOMEM);
    }
    w->https_port = 0;
    w->plain_vhost = NULL;
    if (w->tls && !create_vhost(w, ctx, &info, "https", w->tls_settings.https_port, 1,
                                &w->https_port, err, err_size)) {
        lws_context_destroy(ctx);
        return AVERROR(EADDRINUSE);
    }
    struct lws_vhost *plain = create_vhost(w, ctx, &info, "http", w->http.http_port, 0, &w->port,
                                           err, err_size);
    if (!plain) {
        lws_context_destroy(ctx);
        return AVERROR(EADDRINUSE);
    }
    if (w->tls)
        w->plain_vhost = plain;
    pthread_mutex_lock(&w->lock);
    w->ctx = ctx;
    w->loop_done = 0;
    pthread_mutex_unlock(&w->lock);
    w->started_us = lb_clock_now();
    atomic_store(&w->stop, 0);
    memset(&w->held_sul, 0, sizeof w->held_sul);
    w->nb_held = 0;
    if ((ret = webui_hasher_start(w)) < 0 || (ret = webui_trash_start(w)) < 0 ||
        (ret = lb_thread_start(&w->thread, "lb-webui", loop, w)) < 0) {
        snprintf(err, err_size, "webui: cannot start its thread");
        lb_webui_stop(w);
        return ret;
    }
    if (w->tls)
        LB_LOGI("webui", "listening on https://%s:%d/ (http://%s:%d/ redirects to it%s)",
                info.iface ? info.iface : "*", w->https_port, info.iface ? info.iface : "*",
                w->port, w->tls_settings.plain_live ? ", except /live/" : "");
    else
        LB_LOGI("webui", "listening on http://%s:%d/", info.iface ? info.iface : "*", w->port);
    if (webui_auth_needs_setup(w->auth))
        LB_LOGW("webui", "first run: open the web UI and set the admin password with setup code %s",
                webui_auth_setup_code(w->auth));
    return 0;
}

void lb_webui_publish(lb_webui *w, const char *json)
{
    char *copy;
    if (!w || !json)
        return;
    /* whatever a publisher put in it, no password goes out to the clients
     * (redacting the text keeps it JSON: see lb_redact.h) */
    if (!(copy = lb_redact_dup(json)))
        return;
    pthread_mutex_lock(&w->lock);
    if (!w->ctx) {
        pthread_mutex_unlock(&w->lock);
        free(copy);
        return;
    }
    if (w->ring_count == WEBUI_PUBLISH_RING) {
        free(w->ring[w->ring_head]);
        w->ring[w->ring_head] = NULL;
        w->ring_head = (w->ring_head + 1) % WEBUI_PUBLISH_RING;
        w->ring_count--;
        w->ring_dropped++;
    }
    w->ring[(w->ring_head + w->ring_count) % WEBUI_PUBLISH_RING] = copy;
    w->ring_count++;
    /* Under the lock, so that stop cannot destroy the context meanwhile. */
    lws_cancel_service(w->ctx);
    pthread_mutex_unlock(&w->lock);
}

/* Copies the live keys of [auth] (LB_OPT_LIVE in lb_auth_options). */
int lb_webui_reconfigure(lb_webui *w, const lb_config *cfg, char *err, size_t err_size)
{
    webui_auth_settings next;
    int ret = lb_config_apply(lb_config_find(cfg, "auth"), lb_auth_options, &next, err, err_size);
    if (ret < 0)
        return ret;
    if (w->tls && w->tls_settings.plain_live && !next.public_viewer) {
        lb_config_error(lb_config_find(cfg, "auth"), "public_viewer", err, err_size,
                        "[webui] plain_live needs it true (a login cannot ride on plain HTTP)");
        return AVERROR(EINVAL);
    }
    pthread_mutex_lock(&w->lock);
    w->next_auth = w->auth_settings;
    lb_option_copy_live(lb_auth_options, &w->next_auth, &next);
    w->have_next_auth = 1;
    if (w->ctx)
        lws_cancel_service(w->ctx);
    else
        webui_apply_settings(w);        /* not started: nothing else reads them */
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void lb_webui_set_live_dir(lb_webui *w, const char *dir)
{
    pthread_mutex_lock(&w->lock);
    snprintf(w->next_live_dir, sizeof w->next_live_dir, "%s", dir ? dir : "");
    w->have_next_live_dir = 1;
    if (w->ctx)
        lws_cancel_service(w->ctx);
    else
        webui_apply_settings(w);
    pthread_mutex_unlock(&w->lock);
}

/* While a pipeline restarts (lb_webui_set_control(w, NULL, NULL)): what
 * changes something answers 503, what reads answers empty. */
static int restarting(char *err, size_t err_size)
{
    snprintf(err, err_size, "the pipeline is restarting (a reload): try again in a moment");
    return AVERROR(EAGAIN);
}

static int restarting_recording(void *o, const lb_recording_request *r, char *err, size_t n)
{
    (void)o, (void)r;
    return restarting(err, n);
}

static int restarting_director(void *o, const char *mode, const char *shot, const char *layout,
                               char *err, size_t n)
{
    (void)o, (void)mode, (void)shot, (void)layout;
    return restarting(err, n);
}

static int restarting_mic(void *o, const char *name, int mute, double gain_db, char *err, size_t n)
{
    (void)o, (void)name, (void)mute, (void)gain_db;
    return restarting(err, n);
}

static int restarting_timetable(void *o, const char *text, size_t size, char *err, size_t n)
{
    (void)o, (void)text, (void)size;
    return restarting(err, n);
}

static int restarting_extend(void *o, int minutes, char *err, size_t n)
{
    (void)o, (void)minutes;
    return restarting(err, n);
}

static int restarting_upload(void *o, const char *dir, char *err, size_t n)
{
    (void)o, (void)dir;
    return restarting(err, n);
}

static const lb_control_ops restarting_ops = {
    .recording = restarting_recording, .director = restarting_director, .mic = restarting_mic,
    .timetable_put = restarting_timetable, .extend = restarting_extend, .upload = restarting_upload,
};

int lb_webui_set_control(lb_webui *w, const lb_control_ops *ops, void *opaque)
{
    int ret = 0;
    pthread_mutex_lock(&w->lock);
    w->next_ops = ops ? ops : &restarting_ops;
    w->next_opaque = ops ? opaque : NULL;
    w->have_next_control = 1;
    if (!w->ctx || w->loop_done) {
        webui_apply_settings(w);        /* no loop reads them */
    } else {
        /* the loop swaps them between two callbacks: no call is then
         * running into the old opaque */
        lws_cancel_service(w->ctx);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += WEBUI_STOP_TIMEOUT_US / 1000000;
        while (w->have_next_control && !w->loop_done && !atomic_load(&w->abandoned))
            if (pthread_cond_timedwait(&w->control_cond, &w->lock, &until) == ETIMEDOUT)
                break;
        if (w->have_next_control)
            ret = AVERROR(ETIMEDOUT);
    }
    pthread_mutex_unlock(&w->lock);
    return ret;
}

int lb_webui_started(const lb_webui *w)
{
    return w && w->ctx;
}

lb_webui_sessions *lb_webui_save_sessions(lb_webui *w)
{
    return w && !w->ctx && w->auth ? webui_auth_save(w->auth) : NULL;
}

void lb_webui_restore_sessions(lb_webui *w, lb_webui_sessions **s)
{
    if (!s || !*s)
        return;
    lb_webui_sessions_free(&w->carried);
    w->carried = *s;
    *s = NULL;
}

/* On the loop (or before it runs), under w->lock. */
void webui_apply_settings(lb_webui *w)
{
    if (w->have_next_control) {
        w->have_next_control = 0;
        w->ops = w->next_ops;
        w->opaque = w->next_opaque;
        pthread_cond_broadcast(&w->control_cond);
    }
    if (w->have_next_live_dir) {
        w->have_next_live_dir = 0;
        memcpy(w->live_dir, w->next_live_dir, sizeof w->live_dir);
    }
    if (!w->have_next_auth)
        return;
    w->have_next_auth = 0;
    lb_option_copy_live(lb_auth_options, &w->auth_settings, &w->next_auth);
    webui_auth_set_settings(w->auth, &w->auth_settings);
    /* the event sockets the new settings no longer allow close now, not
     * at the next expiry check */
    webui_events_revalidate(w);
}

/* lb_webui_free() of a webui whose loop could not be stopped: kept here,
 * reachable, for the rest of the process. */
static lb_webui *abandoned_webui;

void lb_webui_stop(lb_webui *w)
{
    struct lws_context *ctx;
    if (!w || atomic_load(&w->abandoned))
        return;
    pthread_mutex_lock(&w->lock);
    ctx = w->ctx;
    atomic_store(&w->stop, 1);
    if (ctx)
        lws_cancel_service(ctx);
    pthread_mutex_unlock(&w->lock);
    if (!ctx)
        return;
    /* The loop checks stop between services; a loop stuck inside lws (as
     * lws 4.1.6 could be made to spin by a client) must not keep the daemon
     * from finishing its recording and exiting.  Then the thread is left
     * running with its context, and every callback returns at once. */
    if (lb_thread_join_timeout(&w->thread, w->stop_timeout_us) < 0) {
        /* Under lock: loop() either saw abandoned and destroys the
         * context itself, or finished just now and is joined here. */
        pthread_mutex_lock(&w->lock);
        if (!w->loop_done)
            atomic_store(&w->abandoned, 1);
        pthread_mutex_unlock(&w->lock);
        if (atomic_load(&w->abandoned)) {
            LB_LOGE("webui", "the web thread did not stop within %d s; leaving it behind",
                    (int)(w->stop_timeout_us / 1000000));
            webui_hasher_stop(w);
            webui_trash_abandon(w);
            return;
        }
        lb_thread_join(&w->thread);
    }
    pthread_mutex_lock(&w->lock);
    w->ctx = NULL;
    pthread_mutex_unlock(&w->lock);
    /* Closing connections calls back into http.c and events.c with w still
     * valid; the loop thread is gone, so this thread may call lws now. */
    lws_context_destroy(ctx);
    w->ws_clients = NULL;
    webui_hasher_stop(w);
    webui_trash_stop(w);
}

void lb_webui_free(lb_webui **pw)
{
    lb_webui *w = pw ? *pw : NULL;
    if (!w)
        return;
    lb_webui_stop(w);
    webui_recut_free(w);
    if (atomic_load(&w->abandoned)) {
        abandoned_webui = w;           /* its thread still reads it */
        *pw = NULL;
        return;
    }
    for (int i = 0; i < WEBUI_PUBLISH_RING; i++)
        free(w->ring[i]);
    webui_auth_free(&w->auth);
    lb_webui_sessions_free(&w->carried);
    webui_library_free(&w->library);
    pthread_cond_destroy(&w->control_cond);
    pthread_cond_destroy(&w->jobs_cond);
    pthread_mutex_destroy(&w->jobs_lock);
    pthread_mutex_destroy(&w->lock);
    free(w);
    *pw = NULL;
}

int lb_webui_port(const lb_webui *w)
{
    return w ? w->port : -1;
}

int lb_webui_https_port(const lb_webui *w)
{
    return w ? w->https_port : -1;
}
