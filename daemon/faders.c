/* The operator's faders (POST /api/v1/mics/<name>: mute, gain_db) belong
 * to the lesson they were set in.  While a lesson records they are kept in
 * its folder, in .faders.json (hidden: not uploaded, not served), rewritten
 * whole after a change by a small writer thread (the newest state of a
 * burst, off the web UI's thread); a resumed lesson (after a crash, a
 * kill, a service stop) reads them back, so its second part sounds as the first did.  When
 * a lesson ends they go back to 0 dB, unmuted: the next lesson starts from
 * the mics' configured gain ([mic.NAME] gain_db, capture's), and a fader
 * moved while idle (a sound check) is the next lesson's.
 *
 * The file is read as hostile: at most FADERS_MAX_BYTES, a JSON object;
 * a mic it names that this hall has, with "mute" a boolean and "gain_db" a
 * number within the fader's range, is applied; anything else is ignored
 * with a warning naming it. */
#include "pipeline_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libavutil/error.h>

#include "lb_file.h"
#include "lb_log.h"

#define FADERS_FILE ".faders.json"
#define FADERS_MAX_BYTES 4096

/* The running lesson's folder into dir (p->lock taken here); 0 if none. */
static int lesson_dir(lb_pipeline *p, char *dir, size_t size)
{
    pthread_mutex_lock(&p->lock);
    int ok = p->lesson && (size_t)snprintf(dir, size, "%s", lb_lesson_dir(p->lesson)) < size;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

/* Under faders_lock: the lesson's .faders.json path and the faders' text
 * now, into *path and *text (malloc'ed; both NULL when no lesson records).
 * Cheap (no I/O), so a fader POST on the web UI's thread only does this. */
static void snapshot(lb_pipeline *p, char **path, char **text)
{
    char dir[1024], file[1200];
    *path = *text = NULL;
    if (!p->mixer || !lesson_dir(p, dir, sizeof dir) ||
        (size_t)snprintf(file, sizeof file, "%s/%s", dir, FADERS_FILE) >= sizeof file)
        return;
    cJSON *root = cJSON_CreateObject(), *mics = root ? cJSON_AddObjectToObject(root, "mics") : NULL;
    for (int m = 0; mics && m < p->nb_mics; m++) {
        int mute;
        double gain_db;
        lb_mixer_get_fader(p->mixer, m, &mute, &gain_db);
        cJSON *o = cJSON_AddObjectToObject(mics, lb_mic_name(p->mics[m]));
        if (o) {
            cJSON_AddBoolToObject(o, "mute", mute);
            cJSON_AddNumberToObject(o, "gain_db", gain_db);
        }
    }
    *text = mics ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    *path = strdup(file);
    if (!*text || !*path)
        LB_LOGW("mixer", "%s: cannot keep the faders: %s", file, av_err2str(AVERROR(ENOMEM)));
}

/* Under faders_io_lock (the writes happen in the order their snapshots were
 * taken, so the last file written is the newest state); frees both. */
static void write_out(char **path, char **text)
{
    if (*path && *text) {
        int ret = lb_write_file_atomic(*path, *text, strlen(*text), 0644);
        if (ret < 0)
            LB_LOGW("mixer", "%s: cannot keep the faders: %s", *path, av_err2str(ret));
    }
    free(*path);
    free(*text);
    *path = *text = NULL;
}

/* Under faders_io_lock: the pending state, taken out for writing. */
static void take_pending(lb_pipeline *p, char **path, char **text)
{
    *path = p->faders_pending_path;
    *text = p->faders_pending_text;
    p->faders_pending_path = p->faders_pending_text = NULL;
}

/* The writer: a burst of fader moves costs one write of the newest state,
 * off the web UI's thread (write, fsync, rename, fsync of the folder on the
 * disk the archive writes). */
static void *writer_main(void *arg)
{
    lb_pipeline *p = arg;
    pthread_mutex_lock(&p->faders_io_lock);
    pthread_mutex_lock(&p->faders_lock);
    for (;;) {
        while (!p->faders_pending_path && !p->faders_quit) {
            pthread_mutex_unlock(&p->faders_io_lock);
            pthread_cond_wait(&p->faders_cond, &p->faders_lock);
            /* lock order: faders_io_lock, then faders_lock */
            pthread_mutex_unlock(&p->faders_lock);
            pthread_mutex_lock(&p->faders_io_lock);
            pthread_mutex_lock(&p->faders_lock);
        }
        if (!p->faders_pending_path)
            break;
        char *path, *text;
        take_pending(p, &path, &text);
        pthread_mutex_unlock(&p->faders_lock);
        write_out(&path, &text);
        pthread_mutex_lock(&p->faders_lock);
    }
    pthread_mutex_unlock(&p->faders_lock);
    pthread_mutex_unlock(&p->faders_io_lock);
    return NULL;
}

void lb_faders_changed(lb_pipeline *p)
{
    char *path, *text;
    pthread_mutex_lock(&p->faders_lock);
    snapshot(p, &path, &text);
    if (path && text && !p->faders_thread_running && !p->faders_quit &&
        lb_thread_start(&p->faders_thread, "lb-faders", writer_main, p) >= 0)
        p->faders_thread_running = 1;
    if (path && text && p->faders_thread_running) {
        free(p->faders_pending_path);
        free(p->faders_pending_text);
        p->faders_pending_path = path;
        p->faders_pending_text = text;
        path = text = NULL;
        pthread_cond_signal(&p->faders_cond);
    }
    pthread_mutex_unlock(&p->faders_lock);
    if (path || text) {
        /* no writer thread (cannot start one): written here, as it has to be */
        pthread_mutex_lock(&p->faders_io_lock);
        write_out(&path, &text);
        pthread_mutex_unlock(&p->faders_io_lock);
    }
}

void lb_faders_stop(lb_pipeline *p)
{
    pthread_mutex_lock(&p->faders_lock);
    p->faders_quit = 1;
    pthread_cond_signal(&p->faders_cond);
    int running = p->faders_thread_running;
    p->faders_thread_running = 0;
    pthread_mutex_unlock(&p->faders_lock);
    if (running)
        lb_thread_join(&p->faders_thread);     /* it writes what is pending first */
    free(p->faders_pending_path);
    free(p->faders_pending_text);
    p->faders_pending_path = p->faders_pending_text = NULL;
}

/* The file's text, or NULL with why. */
static char *read_bounded(const char *path, char *why, size_t why_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        snprintf(why, why_size, "%s", errno == ENOENT ? "" : strerror(errno));
        return NULL;
    }
    struct stat st;
    char *text = NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "not a regular file");
    } else if (st.st_size > FADERS_MAX_BYTES) {
        snprintf(why, why_size, "larger than %d bytes", FADERS_MAX_BYTES);
    } else if ((text = malloc(FADERS_MAX_BYTES + 1))) {
        ssize_t n = read(fd, text, FADERS_MAX_BYTES + 1);
        if (n < 0 || n > FADERS_MAX_BYTES) {
            snprintf(why, why_size, "%s", n < 0 ? strerror(errno) : "it grew while read");
            free(text);
            text = NULL;
        } else {
            text[n] = 0;
        }
    }
    close(fd);
    return text;
}

static void restore(lb_pipeline *p, const char *dir)
{
    char path[1200], why[128] = "";
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, FADERS_FILE) >= sizeof path)
        return;
    char *text = read_bounded(path, why, sizeof why);
    int had_text = text != NULL;
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *mics = cJSON_GetObjectItemCaseSensitive(root, "mics");
    if (!root || !cJSON_IsObject(mics)) {
        if (had_text || why[0])
            LB_LOGW("mixer", "%s: ignored (%s): the faders start at 0 dB", path,
                    why[0] ? why : "not a JSON object with \"mics\"");
        cJSON_Delete(root);
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, mics) {
        int m = 0;
        while (m < p->nb_mics && strcmp(lb_mic_name(p->mics[m]), it->string))
            m++;
        const cJSON *mute = cJSON_GetObjectItemCaseSensitive(it, "mute");
        const cJSON *gain = cJSON_GetObjectItemCaseSensitive(it, "gain_db");
        const char *bad = m == p->nb_mics ? "no such mic in this hall" :
                          !cJSON_IsBool(mute) ? "\"mute\" is not true or false" :
                          !cJSON_IsNumber(gain) || !isfinite(gain->valuedouble) ||
                          gain->valuedouble < LB_MIXER_FADER_MIN_DB ||
                          gain->valuedouble > LB_MIXER_FADER_MAX_DB ? "\"gain_db\" is not a number "
                          "from -60 to 20" : NULL;
        if (bad || lb_mixer_set_fader(p->mixer, m, cJSON_IsTrue(mute), gain->valuedouble) < 0) {
            LB_LOGW("mixer", "%s: mic '%.64s' ignored: %s", path, it->string, bad ? bad : "refused");
            continue;
        }
        LB_LOGI("mixer", "mic %s: %s, %+.1f dB in the program (kept from the lesson's first part)",
                it->string, cJSON_IsTrue(mute) ? "muted" : "on", gain->valuedouble);
    }
    cJSON_Delete(root);
    atomic_store(&p->status_dirty, 1);
}

void lb_faders_lesson_started(lb_pipeline *p, int resumed)
{
    char dir[1024], *old_path, *old_text, *path = NULL, *text = NULL;
    /* the program thread: it may wait for one write in flight, never holds
     * faders_lock across one, and writes a previous lesson's pending state
     * before this one's */
    pthread_mutex_lock(&p->faders_io_lock);
    pthread_mutex_lock(&p->faders_lock);
    take_pending(p, &old_path, &old_text);
    if (p->mixer && lesson_dir(p, dir, sizeof dir)) {
        if (resumed)
            restore(p, dir);
        snapshot(p, &path, &text);
    }
    pthread_mutex_unlock(&p->faders_lock);
    write_out(&old_path, &old_text);
    write_out(&path, &text);
    pthread_mutex_unlock(&p->faders_io_lock);
}

void lb_faders_lesson_ended(lb_pipeline *p)
{
    int moved = 0;
    pthread_mutex_lock(&p->faders_lock);
    for (int m = 0; p->mixer && m < p->nb_mics; m++) {
        int mute;
        double gain_db;
        lb_mixer_get_fader(p->mixer, m, &mute, &gain_db);
        if (mute || gain_db != 0) {
            lb_mixer_set_fader(p->mixer, m, 0, 0);
            moved = 1;
        }
    }
    pthread_mutex_unlock(&p->faders_lock);
    if (moved) {
        LB_LOGI("mixer", "the lesson ended: the faders are back at 0 dB, unmuted, for the next one");
        atomic_store(&p->status_dirty, 1);
    }
}
