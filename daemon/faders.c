/* The operator's faders (POST /api/v1/mics/<name>: mute, gain_db) belong
 * to the lesson they were set in.  While a lesson records they are kept in
 * its folder, in .faders.json (hidden: not uploaded, not served), rewritten
 * whole at each change; a resumed lesson (after a crash, a kill, a service
 * stop) reads them back, so its second part sounds as the first did.  When
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

/* Under faders_lock: the values are read after any change that called
 * here first, so the last file written is the newest state. */
static void save(lb_pipeline *p, const char *dir)
{
    char path[1200];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, FADERS_FILE) >= sizeof path)
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
    char *text = mics ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    int ret = text ? lb_write_file_atomic(path, text, strlen(text), 0644) : AVERROR(ENOMEM);
    if (ret < 0)
        LB_LOGW("mixer", "%s: cannot keep the faders: %s", path, av_err2str(ret));
    free(text);
}

void lb_faders_changed(lb_pipeline *p)
{
    char dir[1024];
    pthread_mutex_lock(&p->faders_lock);
    if (p->mixer && lesson_dir(p, dir, sizeof dir))
        save(p, dir);
    pthread_mutex_unlock(&p->faders_lock);
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
    char dir[1024];
    pthread_mutex_lock(&p->faders_lock);
    if (p->mixer && lesson_dir(p, dir, sizeof dir)) {
        if (resumed)
            restore(p, dir);
        save(p, dir);
    }
    pthread_mutex_unlock(&p->faders_lock);
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
