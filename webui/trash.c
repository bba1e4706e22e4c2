/* Design note: deleting a lesson removes gigabytes of files, and on a slow
 * or busy disk unlinking them takes seconds; on the lws loop that would
 * stall every client (the viewers' live playlists, the console's meters).
 * So DELETE /api/v1/recordings/<id> only renames the folder, on the loop,
 * to a hidden name in the same data folder ("DATA_DIR/.trash-<id>-<n>":
 * one rename(2), atomic, and the library, the retention and the start-up
 * scans skip names that start with a dot), answers 204, and wakes the
 * "lb-webui-trash" thread, which removes every .trash-* folder it finds.
 * It touches no webui state and never calls lws.
 *
 * The thread also looks once when it starts: a crash (or a stop) between
 * the rename and the end of the removal leaves the trash folder behind,
 * and the next start empties it. */
#include "webui_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/error.h>

#include "lb_clock.h"
#include "lb_file.h"
#include "lb_log.h"
#include "lb_thread.h"

struct webui_trash {
    lb_thread thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int kicked;                   /* under lock */
    atomic_int stop;              /* written under lock; read by lb_remove_tree_until */
    char data_dir[PATH_MAX];
};

static unsigned trash_seq;        /* loop thread only: names made */

static int is_trash(const char *name)
{
    return !strncmp(name, WEBUI_TRASH_PREFIX, strlen(WEBUI_TRASH_PREFIX));
}

/* Removes every trash folder there is now; stops early when asked to. */
static void empty(struct webui_trash *t)
{
    DIR *d = opendir(t->data_dir);
    struct dirent *e;
    char path[PATH_MAX + 300];
    int synced = 0;
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (!is_trash(e->d_name))
            continue;
        if (atomic_load(&t->stop))
            break;
        /* The renames into the trash made durable (a deleted lesson must
         * not come back after a power cut) here, off the loop, and before
         * anything is removed. */
        if (!synced++)
            lb_fsync_dir(t->data_dir);
        snprintf(path, sizeof path, "%s/%s", t->data_dir, e->d_name);
        int64_t t0 = lb_clock_now();
        int ret = lb_remove_tree_until(path, &t->stop);
        if (ret == AVERROR_EXIT)
            LB_LOGI("webui", "%s: removal stopped (the next start goes on)", path);
        else if (ret < 0 && ret != AVERROR(ENOENT))
            LB_LOGW("webui", "%s: not all removed: %s (the next start tries again)", path, av_err2str(ret));
        else
            LB_LOGI("webui", "removed %s in %.1f s", path, (double)(lb_clock_now() - t0) / 1e6);
    }
    closedir(d);
}

static void *trash_loop(void *arg)
{
    struct webui_trash *t = arg;
    for (;;) {
        empty(t);
        pthread_mutex_lock(&t->lock);
        while (!t->kicked && !t->stop)
            pthread_cond_wait(&t->cond, &t->lock);
        int stop = atomic_load(&t->stop);
        t->kicked = 0;
        pthread_mutex_unlock(&t->lock);
        if (stop)
            break;
    }
    return NULL;
}

int webui_trash_start(lb_webui *w)
{
    struct webui_trash *t = calloc(1, sizeof *t);
    if (!t)
        return AVERROR(ENOMEM);
    snprintf(t->data_dir, sizeof t->data_dir, "%s", w->data_dir);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    int ret = lb_thread_start(&t->thread, "lb-webui-trash", trash_loop, t);
    if (ret < 0) {
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return ret;
    }
    w->trash = t;
    return 0;
}

static void signal_stop(struct webui_trash *t)
{
    pthread_mutex_lock(&t->lock);
    atomic_store(&t->stop, 1);
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

void webui_trash_abandon(lb_webui *w)
{
    if (w->trash)
        signal_stop(w->trash);
}

void webui_trash_stop(lb_webui *w)
{
    struct webui_trash *t = w->trash;
    if (!t)
        return;
    signal_stop(t);
    /* a tree being removed stops between two entries */
    lb_thread_join(&t->thread);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
    w->trash = NULL;
}

int webui_trash_move(lb_webui *w, const char *dir, const char *id)
{
    struct webui_trash *t = w->trash;
    char to[PATH_MAX + 300];
    /* a name not taken: an earlier delete of the same id may still be
     * being removed */
    for (int tries = 0;; tries++) {
        /* the id cut so that the name fits in NAME_MAX */
        snprintf(to, sizeof to, "%s/" WEBUI_TRASH_PREFIX "%.200s-%u", w->data_dir, id, trash_seq++);
        if (renameat2(AT_FDCWD, dir, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
            break;
        /* a file system without RENAME_NOREPLACE: look, then rename */
        if (errno == EINVAL) {
            if (access(to, F_OK) == 0)
                errno = EEXIST;     /* taken: try the next name */
            else if (errno == ENOENT && rename(dir, to) == 0)
                break;
        }
        if (errno != EEXIST || tries == 100)
            return AVERROR(errno);
    }
    if (!t) {
        /* a web UI that was not started (tests/fuzz/fuzz_http) */
        lb_remove_tree(to);
        return 0;
    }
    pthread_mutex_lock(&t->lock);
    t->kicked = 1;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    return 0;
}
