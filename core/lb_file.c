/* Design note: the syncer.
 *
 * One mutex guards a small table of registered files and a list of queued
 * rewrites.  A kick bumps the file's generation and signals; the thread
 * picks the file whose kick is oldest and whose interval has passed, drops
 * the mutex for the fdatasync, and records the generation it covered.  So
 * a writer never waits for the disk, and a slow disk merges kicks instead
 * of queueing syncs.  Removal waits only for a sync of that very file in
 * progress (so that the caller may close the fd). */
#include "lb_file.h"

#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/error.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_thread.h"

/* nftw() passes no user data: the walk's first error, per thread (two
 * threads may remove trees at once). */
static _Thread_local int remove_first_err;
static _Thread_local const atomic_int *remove_stop;

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove_stop && atomic_load(remove_stop))
        return 1;                   /* nftw() ends the walk, returns 1 */
    if (remove(path) < 0 && !remove_first_err)
        remove_first_err = AVERROR(errno);
    return 0;
}

int lb_remove_tree_until(const char *path, const atomic_int *stop)
{
    remove_first_err = 0;
    remove_stop = stop;
    /* FTW_DEPTH: a folder's entries before the folder; FTW_PHYS: links are
     * entries, not followed */
    int ret = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    int err = errno;
    remove_stop = NULL;
    if (ret < 0)
        return AVERROR(err);
    return ret > 0 ? AVERROR_EXIT : remove_first_err;
}

int lb_remove_tree(const char *path)
{
    return lb_remove_tree_until(path, NULL);
}

int lb_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return AVERROR(errno);
    int ret = fsync(fd) < 0 ? AVERROR(errno) : 0;
    close(fd);
    return ret;
}

static void parent_dir(const char *path, char *dir, size_t size)
{
    snprintf(dir, size, "%s", path);
    char *slash = strrchr(dir, '/');
    while (slash && slash > dir && slash[1] == 0) {      /* "a/b/" is "a/b" */
        *slash = 0;
        slash = strrchr(dir, '/');
    }
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, size, ".");
}

int lb_fsync_parents(const char *path, int levels)
{
    char cur[PATH_MAX], dir[PATH_MAX];
    int ret = 0;
    snprintf(cur, sizeof cur, "%s", path);
    for (int i = 0; i < levels; i++) {
        parent_dir(cur, dir, sizeof dir);
        int r = lb_fsync_dir(dir);
        if (r < 0 && ret == 0)
            ret = r;
        if (!strcmp(dir, cur) || !strcmp(dir, ".") || !strcmp(dir, "/"))
            break;
        snprintf(cur, sizeof cur, "%s", dir);
    }
    return ret;
}

int lb_write_file_atomic(const char *path, const void *data, size_t size, int mode)
{
    char tmp[PATH_MAX];
    int ret = 0, fd;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return AVERROR(ENAMETOOLONG);
    /* a temp file left by a crash goes first: O_EXCL makes mode the
     * file's (a private key must not inherit an old 0644) */
    unlink(tmp);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
        return AVERROR(errno);
    const char *p = data;
    size_t left = size;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = AVERROR(errno);
            goto fail;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) < 0) {
        ret = AVERROR(errno);
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        ret = AVERROR(errno);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        ret = AVERROR(errno);
        goto fail;
    }
    /* the rename itself is durable only once the folder is */
    return lb_fsync_parents(path, 1);
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return ret;
}

/* ---- the syncer ---- */

#define MAX_FILES 64
#define MAX_DIRS 8
#define NB_LAT 65536

typedef struct sync_file {
    int used;
    int fd;
    char path[PATH_MAX];
    int dir_levels;             /* folders still to fsync, 0 when done */
    uint64_t added;             /* s->adds when it was added */
    int64_t min_interval_us;
    uint64_t kicked, synced;    /* generations */
    int64_t kicked_us;          /* when the oldest kick not yet synced came */
    int64_t last_sync_us;
    int busy;                   /* its fdatasync is running */
    int failed;                 /* an error was logged */
} sync_file;

typedef struct rewrite {
    struct rewrite *next;
    char *path;
    void *data;
    size_t size;
    int mode;
} rewrite;

struct lb_syncer {
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* the thread: a kick, a rewrite, quit */
    pthread_cond_t done;        /* waiters: a sync or a rewrite ended */
    lb_thread thread;
    sync_file files[MAX_FILES];
    rewrite *rewrites;          /* oldest first */
    uint64_t rewrites_queued, rewrites_done;
    int flushing;               /* flush callers waiting: intervals ignored */
    int quit;
    lb_syncer_stats st;
    int32_t *lat_us;            /* ring of the last NB_LAT latencies */
    int64_t nb_lat;
    uint64_t adds;              /* files added so far */
    struct {                    /* folders fsynced lately, so that ten files
                                 * created together cost one fsync of it */
        char path[PATH_MAX];
        uint64_t covers;        /* every file added before this (s->adds) */
    } dirs[MAX_DIRS];
    int next_dir;
};

static void free_rewrite(rewrite *r)
{
    if (r) {
        free(r->path);
        free(r->data);
        free(r);
    }
}

/* The file to sync now (-1: none), or in *wait_us how long until one is due. */
static int pick(lb_syncer *s, int64_t now, int64_t *wait_us)
{
    int best = -1;
    *wait_us = -1;
    for (int i = 0; i < MAX_FILES; i++) {
        sync_file *f = &s->files[i];
        if (!f->used || f->busy || f->kicked == f->synced)
            continue;
        int64_t due = s->flushing || s->quit ? 0 : f->last_sync_us + f->min_interval_us;
        if (due > now) {
            if (*wait_us < 0 || due - now < *wait_us)
                *wait_us = due - now;
            continue;
        }
        if (best < 0 || f->kicked_us < s->files[best].kicked_us)
            best = i;
    }
    return best;
}

static void add_latency(lb_syncer *s, int64_t us, int failed)
{
    s->st.syncs++;
    s->st.errors += failed;
    s->st.total_us += us;
    if (us > s->st.max_us)
        s->st.max_us = us;
    if (s->lat_us)
        s->lat_us[s->nb_lat++ % NB_LAT] = us > INT32_MAX ? INT32_MAX : (int32_t)us;
}

/* fsyncs the folders above f not yet fsynced since f was added; called
 * and returns with the lock held, drops it meanwhile. */
static void sync_dirs(lb_syncer *s, const char *path, int levels, uint64_t added)
{
    char cur[PATH_MAX], dir[PATH_MAX];
    snprintf(cur, sizeof cur, "%s", path);
    for (int i = 0; i < levels; i++) {
        parent_dir(cur, dir, sizeof dir);
        int k = 0;
        while (k < MAX_DIRS && strcmp(s->dirs[k].path, dir))
            k++;
        if (k == MAX_DIRS || s->dirs[k].covers < added) {
            uint64_t covers = s->adds;   /* entries made before this fsync */
            pthread_mutex_unlock(&s->lock);
            lb_fsync_dir(dir);
            pthread_mutex_lock(&s->lock);
            if (k == MAX_DIRS) {
                k = s->next_dir++ % MAX_DIRS;
                snprintf(s->dirs[k].path, sizeof s->dirs[k].path, "%s", dir);
            }
            s->dirs[k].covers = covers;
        }
        if (!strcmp(dir, cur) || !strcmp(dir, ".") || !strcmp(dir, "/"))
            break;
        snprintf(cur, sizeof cur, "%s", dir);
    }
}

static void sync_one(lb_syncer *s, sync_file *f)
{
    uint64_t gen = f->kicked;
    int fd = f->fd;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", f->path);
    f->busy = 1;
    if (f->dir_levels)
        sync_dirs(s, path, f->dir_levels, f->added);
    pthread_mutex_unlock(&s->lock);

    int64_t t0 = lb_clock_now();
    int err = fdatasync(fd) < 0 ? errno : 0;
    int64_t t1 = lb_clock_now();

    pthread_mutex_lock(&s->lock);
    f->busy = 0;
    f->dir_levels = 0;
    f->synced = gen;
    f->last_sync_us = t1;
    add_latency(s, t1 - t0, err != 0);
    if (err && !f->failed) {
        f->failed = 1;
        LB_LOGE("sync", "%s: fdatasync failed: %s", path, strerror(err));
    }
    pthread_cond_broadcast(&s->done);
}

static void *syncer_loop(void *arg)
{
    lb_syncer *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->rewrites) {
            rewrite *r = s->rewrites;
            s->rewrites = r->next;
            pthread_mutex_unlock(&s->lock);
            int ret = lb_write_file_atomic(r->path, r->data, r->size, r->mode);
            if (ret < 0)
                LB_LOGE("sync", "%s: cannot write: %s", r->path, av_err2str(ret));
            free_rewrite(r);
            pthread_mutex_lock(&s->lock);
            s->rewrites_done++;
            pthread_cond_broadcast(&s->done);
            continue;
        }
        int64_t wait_us;
        int i = pick(s, lb_clock_now(), &wait_us);
        if (i >= 0) {
            sync_one(s, &s->files[i]);
            continue;
        }
        if (s->quit && wait_us < 0)
            break;
        if (wait_us < 0) {
            pthread_cond_wait(&s->wake, &s->lock);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = ts.tv_nsec + (wait_us % 1000000) * 1000;
            ts.tv_sec += (time_t)(wait_us / 1000000 + ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&s->wake, &s->lock, &ts);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int lb_syncer_create(lb_syncer **ps, const char *name)
{
    pthread_condattr_t attr;
    lb_syncer *s = calloc(1, sizeof *s);
    *ps = NULL;
    if (!s)
        return AVERROR(ENOMEM);
    s->lat_us = malloc(sizeof *s->lat_us * NB_LAT);   /* without it: no percentiles */
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&s->done, NULL);
    int ret = lb_thread_start(&s->thread, name, syncer_loop, s);
    if (ret < 0) {
        lb_syncer_free(&s);
        return ret;
    }
    *ps = s;
    return 0;
}

void lb_syncer_free(lb_syncer **ps)
{
    lb_syncer *s = *ps;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->quit = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    lb_thread_join(&s->thread);
    while (s->rewrites) {                /* only when the thread never ran */
        rewrite *r = s->rewrites;
        s->rewrites = r->next;
        free_rewrite(r);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->done);
    free(s->lat_us);
    free(s);
    *ps = NULL;
}

int lb_syncer_add(lb_syncer *s, int fd, const char *path, int dir_levels, int64_t min_interval_us)
{
    int id = AVERROR(ENOSPC);
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < MAX_FILES; i++) {
        if (s->files[i].used)
            continue;
        s->files[i] = (sync_file){ .used = 1, .fd = fd, .dir_levels = dir_levels,
                                   .min_interval_us = min_interval_us, .added = ++s->adds };
        snprintf(s->files[i].path, sizeof s->files[i].path, "%s", path);
        id = i;
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return id;
}

void lb_syncer_kick(lb_syncer *s, int id)
{
    if (!s || id < 0 || id >= MAX_FILES)
        return;
    pthread_mutex_lock(&s->lock);
    sync_file *f = &s->files[id];
    if (f->used) {
        if (f->kicked == f->synced)
            f->kicked_us = lb_clock_now();
        f->kicked++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
}

void lb_syncer_remove(lb_syncer *s, int id)
{
    if (!s || id < 0 || id >= MAX_FILES)
        return;
    pthread_mutex_lock(&s->lock);
    while (s->files[id].busy)
        pthread_cond_wait(&s->done, &s->lock);
    s->files[id].used = 0;
    pthread_mutex_unlock(&s->lock);
}

int lb_syncer_write_atomic(lb_syncer *s, const char *path, const void *data, size_t size, int mode)
{
    rewrite *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path)) || !(r->data = malloc(size ? size : 1))) {
        free_rewrite(r);
        return AVERROR(ENOMEM);
    }
    memcpy(r->data, data, size);
    r->size = size;
    r->mode = mode;
    pthread_mutex_lock(&s->lock);
    rewrite **tail = &s->rewrites;
    while (*tail && strcmp((*tail)->path, path))
        tail = &(*tail)->next;
    if (*tail) {
        /* the newer content takes the queued one's place (and its count) */
        rewrite *old = *tail;
        r->next = old->next;
        *tail = r;
        free_rewrite(old);
    } else {
        *tail = r;
        s->rewrites_queued++;
    }
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void lb_syncer_flush(lb_syncer *s)
{
    uint64_t want[MAX_FILES];
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    uint64_t rewrites = s->rewrites_queued;
    for (int i = 0; i < MAX_FILES; i++)
        want[i] = s->files[i].kicked;
    s->flushing++;
    pthread_cond_signal(&s->wake);
    for (;;) {
        int pending = s->rewrites_done < rewrites;
        for (int i = 0; i < MAX_FILES && !pending; i++)
            pending = s->files[i].used && s->files[i].synced < want[i];
        if (!pending)
            break;
        pthread_cond_wait(&s->done, &s->lock);
    }
    s->flushing--;
    pthread_mutex_unlock(&s->lock);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void lb_syncer_get_stats(lb_syncer *s, lb_syncer_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    *st = s->st;
    int n = (int)(s->nb_lat < NB_LAT ? s->nb_lat : NB_LAT);
    int32_t *copy = n && s->lat_us ? malloc(sizeof *copy * (size_t)n) : NULL;
    if (copy)
        memcpy(copy, s->lat_us, sizeof *copy * (size_t)n);
    pthread_mutex_unlock(&s->lock);
    if (copy) {
        qsort(copy, (size_t)n, sizeof *copy, cmp_i32);
        st->p50_us = copy[n / 2];
        st->p99_us = copy[(int)((int64_t)n * 99 / 100)];
        free(copy);
    }
}

int lb_credentials_read(const char *path, lb_credentials *c, char *why, size_t why_size)
{
    struct stat st;
    char line[600] = "";
    int ret = 0;
    memset(c, 0, sizeof *c);
    /* O_NOFOLLOW: the checks are about this file, not what a link points at */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        ret = AVERROR(errno);
        snprintf(why, why_size, "%s: %s", path, strerror(errno));
        return ret;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "%s: not a regular file", path);
        ret = AVERROR(EINVAL);
        goto end;
    }
    if (st.st_uid != geteuid()) {
        snprintf(why, why_size, "%s: owned by uid %u, not by the user luobo runs as (uid %u): "
                 "chown it", path, (unsigned)st.st_uid, (unsigned)geteuid());
        ret = AVERROR(EPERM);
        goto end;
    }
    if (st.st_mode & 077) {
        snprintf(why, why_size, "%s: readable by others (mode %03o): chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
        ret = AVERROR(EPERM);
        goto end;
    }
    ssize_t n = read(fd, line, sizeof line - 1);
    if (n < 0) {
        ret = AVERROR(errno);
        snprintf(why, why_size, "%s: %s", path, strerror(errno));
        goto end;
    }
    line[n] = 0;
    line[strcspn(line, "\r\n")] = 0;
    if (!strncmp(line, "Bearer ", 7) && line[7] && strlen(line) + 15 < sizeof c->bearer_header &&
        !strpbrk(line + 7, " \t")) {
        snprintf(c->bearer_header, sizeof c->bearer_header, "Authorization: %s", line);
    } else if (strncmp(line, "Bearer ", 7) && strchr(line, ':') && line[0] != ':' &&
               strlen(line) < sizeof c->userpwd) {
        snprintf(c->userpwd, sizeof c->userpwd, "%s", line);
    } else {
        snprintf(why, why_size, "%s: expected user:password or 'Bearer TOKEN' on its first line",
                 path);
        ret = AVERROR(EINVAL);
    }
end:
    explicit_bzero(line, sizeof line);
    close(fd);
    return ret;
}

void lb_credentials_clear(lb_credentials *c)
{
    explicit_bzero(c, sizeof *c);
}
