/* Design note: yescrypt costs tens of milliseconds by design, which is
 * fine for a person logging in and ruinous for an event loop under a
 * password spray.  So a login is answered in two steps: the loop checks
 * the rate limit and queues (user, password, stored hash) for the
 * "lb-webui-auth" thread; that thread only computes, touching no webui
 * state, and hands the verdict back through a done list and
 * lws_cancel_service(); the loop then makes the session and answers.
 *
 * A connection that closes while its job is queued sets job->conn to NULL
 * (both on the loop thread, so no lock); the verdict is then dropped.  The
 * queue is bounded: past WEBUI_MAX_HASH_JOBS waiting jobs a login is
 * answered 429 at once. */
#include "webui_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <crypt.h>
#include <libavutil/error.h>

#include "lb_log.h"

#define WEBUI_MAX_HASH_JOBS 16

struct webui_hash_job {
    webui_hash_job *next;
    webui_conn *conn;                 /* loop thread only */
    char user[64];
    char ip[64];
    char password[260];               /* wiped once checked */
    char hash[CRYPT_OUTPUT_SIZE];
    int ok;
};

static void job_free(webui_hash_job **job)
{
    if (*job) {
        explicit_bzero(*job, sizeof **job);
        free(*job);
        *job = NULL;
    }
}

static void free_jobs(webui_hash_job **list)
{
    while (*list) {
        webui_hash_job *job = *list;
        *list = job->next;
        if (job->conn)
            job->conn->hash_job = NULL;
        job_free(&job);
    }
}

static void *hasher_loop(void *arg)
{
    lb_webui *w = arg;
    pthread_mutex_lock(&w->jobs_lock);
    for (;;) {
        while (!w->jobs_todo && !w->hasher_stop)
            pthread_cond_wait(&w->jobs_cond, &w->jobs_lock);
        if (w->hasher_stop)
            break;
        webui_hash_job *job = w->jobs_todo;
        w->jobs_todo = job->next;
        pthread_mutex_unlock(&w->jobs_lock);

        job->ok = webui_auth_verify_password(job->password, job->hash);
        explicit_bzero(job->password, sizeof job->password);

        pthread_mutex_lock(&w->jobs_lock);
        job->next = w->jobs_done;
        w->jobs_done = job;
        /* w->lock guards ctx against lb_webui_stop() destroying it. */
        pthread_mutex_lock(&w->lock);
        if (w->ctx)
            lws_cancel_service(w->ctx);
        pthread_mutex_unlock(&w->lock);
    }
    pthread_mutex_unlock(&w->jobs_lock);
    return NULL;
}

int webui_hasher_start(lb_webui *w)
{
    w->hasher_stop = 0;
    return lb_thread_start(&w->hasher, "lb-webui-auth", hasher_loop, w);
}

void webui_hasher_stop(lb_webui *w)
{
    pthread_mutex_lock(&w->jobs_lock);
    w->hasher_stop = 1;
    pthread_cond_broadcast(&w->jobs_cond);
    pthread_mutex_unlock(&w->jobs_lock);
    lb_thread_join(&w->hasher);
    free_jobs(&w->jobs_todo);
    free_jobs(&w->jobs_done);
    w->nb_jobs = 0;
}

int webui_hasher_submit_login(lb_webui *w, webui_conn *c, const char *user, const char *password,
                              const char *hash)
{
    webui_hash_job *job;

    if (w->nb_jobs >= WEBUI_MAX_HASH_JOBS)
        return AVERROR(EAGAIN);
    if (!(job = calloc(1, sizeof *job)))
        return AVERROR(ENOMEM);
    job->conn = c;
    snprintf(job->user, sizeof job->user, "%s", user);
    snprintf(job->ip, sizeof job->ip, "%s", c->ip);
    snprintf(job->password, sizeof job->password, "%s", password);
    snprintf(job->hash, sizeof job->hash, "%s", hash);
    c->hash_job = job;
    w->nb_jobs++;

    pthread_mutex_lock(&w->jobs_lock);
    webui_hash_job **tail = &w->jobs_todo;      /* first come, first checked */
    while (*tail)
        tail = &(*tail)->next;
    *tail = job;
    pthread_cond_signal(&w->jobs_cond);
    pthread_mutex_unlock(&w->jobs_lock);
    return 0;
}

void webui_hasher_forget(webui_conn *c)
{
    if (c->hash_job) {
        c->hash_job->conn = NULL;
        c->hash_job = NULL;
    }
}

void webui_hasher_drain(lb_webui *w)
{
    pthread_mutex_lock(&w->jobs_lock);
    webui_hash_job *done = w->jobs_done;
    w->jobs_done = NULL;
    pthread_mutex_unlock(&w->jobs_lock);

    while (done) {
        webui_hash_job *job = done;
        done = job->next;
        w->nb_jobs--;
        webui_principal who;
        /* Finish even when the client left: a wrong guess still counts. */
        int ret = webui_auth_login_finish(w->auth, job->ip, job->user, job->ok, &who);
        webui_conn *c = job->conn;
        if (c) {
            c->hash_job = NULL;
            webui_api_login_done(w, c, ret, &who);
            lws_callback_on_writable(c->wsi);
        } else if (ret >= 0) {
            webui_auth_logout(w->auth, who.session_id);   /* nobody to give it to */
        }
        explicit_bzero(&who, sizeof who);
        job_free(&job);
    }
}
