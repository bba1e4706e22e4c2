/* Design note: yescrypt costs tens of milliseconds by design, which is
 * fine for a person logging in and ruinous for an event loop under a
 * password spray.  So a login (or a password change) is answered in two
 * steps: the loop checks the rate limit and queues (password, stored hash,
 * and for a change the new password) for the "lb-webui-auth" thread; that
 * thread only computes, touching no webui state, and hands the verdict
 * (and the new hash) back through a done list and lws_cancel_service();
 * on the loop the job's done() then counts the attempt, makes the session
 * or stores the hash, and answers.
 *
 * A connection that closes while its job is queued sets job->conn to NULL
 * (both on the loop thread, so no lock); done() then runs without it, so a
 * wrong guess still counts.  The queue is bounded: past
 * WEBUI_MAX_HASH_JOBS waiting jobs a request is answered 429 at once. */
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
    webui_hash_done_fn done;
    int check, make;
    char password[260];               /* wiped once checked */
    char hash[CRYPT_OUTPUT_SIZE];
    char new_password[260];           /* wiped once hashed */
    webui_hash_result r;
};

static void job_free(webui_hash_job **job)
{
    if (*job) {
        explicit_bzero(*job, sizeof **job);
        free(*job);
        *job = NULL;
    }
}

/* With the loop abandoned, callbacks no longer forget closed connections
 * and lws may have freed job->conn: it is not touched then. */
static void free_jobs(webui_hash_job **list, int conns_valid)
{
    while (*list) {
        webui_hash_job *job = *list;
        *list = job->next;
        if (conns_valid && job->conn)
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

        job->r.ok = !job->check || webui_auth_verify_password(job->password, job->hash);
        explicit_bzero(job->password, sizeof job->password);
        if (job->r.ok && job->make &&
            webui_auth_hash_password(job->new_password, job->r.new_hash,
                                     sizeof job->r.new_hash) < 0)
            job->r.new_hash[0] = 0;
        explicit_bzero(job->new_password, sizeof job->new_password);

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
    int conns_valid = !atomic_load(&w->abandoned);
    free_jobs(&w->jobs_todo, conns_valid);
    free_jobs(&w->jobs_done, conns_valid);
    w->nb_jobs = 0;
}

int webui_hasher_submit(lb_webui *w, webui_conn *c, const webui_hash_request *req)
{
    webui_hash_job *job;

    if (w->nb_jobs >= WEBUI_MAX_HASH_JOBS)
        return AVERROR(EAGAIN);
    if (!(job = calloc(1, sizeof *job)))
        return AVERROR(ENOMEM);
    job->conn = c;
    job->done = req->done;
    job->r.role = req->role;
    snprintf(job->r.user, sizeof job->r.user, "%s", req->user ? req->user : "");
    snprintf(job->r.ip, sizeof job->r.ip, "%s", c->ip);
    if ((job->check = req->password && req->hash)) {
        snprintf(job->password, sizeof job->password, "%s", req->password);
        snprintf(job->hash, sizeof job->hash, "%s", req->hash);
    }
    if ((job->make = !!req->new_password))
        snprintf(job->new_password, sizeof job->new_password, "%s", req->new_password);
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
        webui_conn *c = job->conn;
        if (c)
            c->hash_job = NULL;
        /* Even when the client left: a wrong guess still counts. */
        job->done(w, c, &job->r);
        if (c)
            lws_callback_on_writable(c->wsi);
        job_free(&job);
    }
}
