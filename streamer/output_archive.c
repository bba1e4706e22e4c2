/* Design note: the archive output, the one that must never lose a lesson.
 *
 * program.mp4 (program video + program audio) and iso/<name>.mp4 (one per
 * LB_STREAM_ISO_VIDEO stream) are written by libavformat as fragmented MP4
 * (moov once the first fragment is cut, a fragment at least every
 * fragment_ms) through our own AVIOContext on a plain fd: each fragment
 * reaches the page cache when the muxer emits it (AVFMT_FLAG_FLUSH_PACKETS),
 * so a kill -9 loses at most the fragment being built.  With sync =
 * fragment (the default) every fragment is then made durable by fdatasync()
 * on the archive's syncer thread ("lb-archive-sync", core/lb_file.h), which
 * this thread only kicks: a power cut loses the fragment being built and
 * the one being synced (about 1-2 s), and a slow disk never stalls this
 * thread (and through its blocking queue, the encoder).  Each new file's
 * folder entry is fsynced once, before its first fdatasync.  With sync =
 * off the written range is only handed to writeback about once a second
 * (sync_file_range, no waiting, no guarantee).  The files are fsynced when
 * they are finished.  Errors of write(2) (ENOSPC) surface as muxer errors.
 *
 * The lesson starts at the first program-video key frame after start; its
 * pts becomes 0 for every file (audio before it is dropped; each ISO file
 * starts at its own first key frame at or after it, on the same timeline).
 * A microphone's audio/<mic>.m4a (LB_STREAM_ISO_AUDIO) comes from an AAC
 * encoder opened for the lesson at its first frame: its first packet (the
 * encoder's priming, a little before the start) is kept, so that the file
 * decodes cleanly from 0; the muxer's edit list hides the priming.
 *
 * At the end the trailers are written and the files are complete; then a
 * background thread rewrites each into a regular MP4 with the moov in front
 * (fast start) when there is room, so that a long lesson's stop does not
 * wait for gigabytes of copying.  A marker file in the lesson folder keeps
 * uploads and retention away meanwhile; a failed rewrite keeps the
 * fragmented file, which plays as well.
 *
 * The disk guard: open refuses below min_free_mb; while recording, below
 * stop_free_mb the files are finalised at once (trailers, no rewrite) and
 * the rest of the lesson is discarded with an error in the stats, so the
 * disk never fills up under a half-written file. */
#include "streamer_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libavutil/dict.h>
#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_thread.h"

typedef struct archive_settings {
    int min_free_mb;
    int stop_free_mb;
    int fragment_ms;
    int faststart;
    int iso;
    int retention_free_mb;
    int sync;
} archive_settings;

enum { SYNC_INVALID, SYNC_FRAGMENT, SYNC_OFF };

static const lb_option_choice sync_choices[] = {
    { "fragment", SYNC_FRAGMENT }, { "off", SYNC_OFF }, { NULL, 0 },
};

static const lb_option archive_options[] = {
    { "min_free_mb", LB_OPT_INT, offsetof(archive_settings, min_free_mb), 0, "500", 0, 10000000,
      NULL, "a recording does not start with less free space than this (MB)" },
    { "stop_free_mb", LB_OPT_INT, offsetof(archive_settings, stop_free_mb), 0, "100", 0, 10000000,
      NULL, "a recording stops cleanly, with an alert, when free space falls below this (MB)" },
    { "fragment_ms", LB_OPT_INT, offsetof(archive_settings, fragment_ms), 0, "1000", 100, 1000,
      NULL, "longest MP4 fragment while recording: what a crash can lose (ms)" },
    { "faststart", LB_OPT_BOOL, offsetof(archive_settings, faststart), 0, "true", 0, 0, NULL,
      "rewrite the files as regular fast-start MP4 when the lesson ends" },
    { "iso", LB_OPT_BOOL, offsetof(archive_settings, iso), 0, "true", 0, 0, NULL,
      "resource mode: record every camera to iso/<name>.mp4 and every microphone the "
      "encoder gives on its own to audio/<name>.m4a" },
    { "retention_free_mb", LB_OPT_INT, offsetof(archive_settings, retention_free_mb), 0, "0", 0,
      10000000, NULL, "when a recording starts with less free space than this, the oldest lessons "
      "that were uploaded (upload.json done) are deleted; never one that was not (0 = off)" },
    { "sync", LB_OPT_ENUM, offsetof(archive_settings, sync), 0, "fragment", 0, 0, sync_choices,
      "fragment: every fragment is fdatasynced as soon as it is written (on a thread of its own), "
      "so a power cut loses about the last 1-2 s; off: the disk write is started about once a "
      "second but never waited for, and the files' growth is journaled when the file system "
      "commits (ext4: every 5 s), so a power cut may lose several seconds and more; saves a "
      "few disk flushes a second (slow SD cards)" },
    { NULL },
};

#define MAX_STREAMS 32
#define SYNC_INTERVAL_US 1000000
#define DISK_CHECK_US 500000
#define MAX_PENDING 1024         /* packets held until the first key frame: > 5 s of
                                  * the program's and four mics' */

typedef struct mux {
    char path[PATH_MAX];
    int fd;
    AVFormatContext *fc;
    int header;                  /* header written: trailer owed */
    int started;                 /* got its first key frame */
    int out_index[MAX_STREAMS];  /* table index -> stream of fc, -1 */
    AVPacket *held[MAX_STREAMS]; /* per output stream: written when the next
                                  * one gives its duration */
    int64_t written, synced;     /* bytes through the fd; synced: handed to
                                  * the syncer (sync = fragment) or to
                                  * writeback (off) */
    int64_t last_sync_us;
    lb_syncer *syncer;           /* sync = fragment: the archive's */
    int sync_id;
    int write_error;
} mux;

typedef struct archive {
    archive_settings set;
    const lb_stream_desc *streams;
    int nb_streams;
    char dir[PATH_MAX];
    mux *muxes[MAX_STREAMS + 1];
    int nb_muxes;
    mux *by_stream[MAX_STREAMS];
    lb_syncer *syncer;           /* sync = fragment, for the lesson */
    int started;
    int64_t start_us;
    int64_t last_disk_check_us;
    int finalised;               /* disk guard fired: no more writes */
    int64_t end_us;              /* latest packet end on the lesson timeline */
    AVPacket *pending[MAX_PENDING];
    int nb_pending;
    AVDictionary *tags;          /* the lesson's MP4 tags, from its lesson.json */

    pthread_mutex_t lock;        /* guards what stats() reads, and the jobs */
    int lock_init;
    char state[16];
    char last_error[256];

    /* fast-start rewrites run after the lesson, on their own thread */
    struct finalise_job *jobs;   /* singly linked, oldest first */
    pthread_cond_t jobs_cond;
    lb_thread finaliser;
    int finaliser_started;
    int quit;
} archive;

typedef struct finalise_job {
    struct finalise_job *next;
    char dir[PATH_MAX];
    int nb_paths;
    char paths[MAX_STREAMS + 1][PATH_MAX];
} finalise_job;

static AVDictionary *lesson_tags(const char *dir);

static void set_state(archive *a, const char *state, const char *error)
{
    pthread_mutex_lock(&a->lock);
    snprintf(a->state, sizeof a->state, "%s", state);
    if (error)
        snprintf(a->last_error, sizeof a->last_error, "%s", error);
    pthread_mutex_unlock(&a->lock);
}

static int archive_configure(void *priv, const lb_config_section *sec, char *err, size_t err_size)
{
    archive *a = priv;
    int ret = lb_config_apply(sec, archive_options, &a->set, err, err_size);
    if (ret < 0)
        return ret;
    if (a->set.stop_free_mb > a->set.min_free_mb) {
        lb_config_error(sec, "stop_free_mb", err, err_size, "must not exceed min_free_mb (%d)",
                        a->set.min_free_mb);
        return AVERROR(EINVAL);
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->jobs_cond, NULL);
    a->lock_init = 1;
    snprintf(a->state, sizeof a->state, "idle");
    return 0;
}

static int fd_write(void *opaque, uint8_t *buf, int size)
{
    mux *m = opaque;
    int left = size;
    while (left > 0) {
        ssize_t n = write(m->fd, buf, (size_t)left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            m->write_error = errno;
            return AVERROR(errno);
        }
        buf += n;
        left -= (int)n;
    }
    m->written += size;
    return size;
}

static int64_t fd_seek(void *opaque, int64_t offset, int whence)
{
    mux *m = opaque;
    if (whence == AVSEEK_SIZE) {
        struct stat st;
        return fstat(m->fd, &st) < 0 ? AVERROR(errno) : st.st_size;
    }
    off_t r = lseek(m->fd, (off_t)offset, whence & ~AVSEEK_FORCE);
    return r < 0 ? AVERROR(errno) : r;
}

static void mux_free(mux **pm)
{
    mux *m = *pm;
    if (!m)
        return;
    for (int i = 0; i < MAX_STREAMS; i++)
        av_packet_free(&m->held[i]);
    if (m->fc) {
        if (m->fc->pb) {
            av_freep(&m->fc->pb->buffer);
            avio_context_free(&m->fc->pb);
        }
        avformat_free_context(m->fc);
    }
    lb_syncer_remove(m->syncer, m->sync_id);
    if (m->fd >= 0)
        close(m->fd);
    free(m);
    *pm = NULL;
}

/* Creates the file and the muxer; the header waits for the first packet
 * (so that the file appears only for streams that deliver). */
static int mux_open(archive *a, mux **pm, const char *path, const int *table_index, int nb)
{
    int ret;
    mux *m = calloc(1, sizeof *m);
    uint8_t *buf = NULL;
    if (!m)
        return AVERROR(ENOMEM);
    m->fd = -1;
    m->sync_id = -1;
    for (int i = 0; i < MAX_STREAMS; i++)
        m->out_index[i] = -1;
    snprintf(m->path, sizeof m->path, "%s", path);
    if ((ret = avformat_alloc_output_context2(&m->fc, NULL, "mp4", path)) < 0)
        goto fail;
    for (int i = 0; i < nb; i++) {
        const lb_stream_desc *sd = &a->streams[table_index[i]];
        AVStream *s = avformat_new_stream(m->fc, NULL);
        if (!s) {
            ret = AVERROR(ENOMEM);
            goto fail;
        }
        if ((ret = avcodec_parameters_copy(s->codecpar, sd->par)) < 0)
            goto fail;
        s->codecpar->codec_tag = 0;
        s->time_base = sd->par->codec_type == AVMEDIA_TYPE_AUDIO && sd->par->sample_rate > 0
                           ? (AVRational){ 1, sd->par->sample_rate }
                           : (AVRational){ 1, 90000 };
        m->out_index[table_index[i]] = s->index;
    }
    if ((m->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        ret = AVERROR(errno);
        goto fail;
    }
    if (a->syncer) {
        /* the file's entry is new, and so is iso/ or audio/ in the lesson */
        int levels = strcmp(strrchr(path, '/'), "/program.mp4") ? 2 : 1;
        if ((ret = m->sync_id = lb_syncer_add(a->syncer, m->fd, path, levels, 0)) < 0)
            goto fail;
        m->syncer = a->syncer;
    }
    if (!(buf = av_malloc(65536))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    if (!(m->fc->pb = avio_alloc_context(buf, 65536, 1, m, NULL, fd_write, fd_seek))) {
        av_free(buf);
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    /* Each packet is flushed: a fragment reaches the file when the muxer
     * closes it, not when a 64 KiB buffer fills. */
    m->fc->flags |= AVFMT_FLAG_FLUSH_PACKETS;
    *pm = m;
    return 0;
fail:
    LB_LOGE("archive", "%s: cannot create: %s", path, av_err2str(ret));
    mux_free(&m);
    return ret;
}

static int mux_write_header(archive *a, mux *m)
{
    AVDictionary *opts = NULL;
    char frag[32];
    snprintf(frag, sizeof frag, "%d", a->set.fragment_ms * 1000);
    av_dict_set(&opts, "movflags", "+delay_moov+default_base_moof+frag_keyframe", 0);
    av_dict_set(&opts, "frag_duration", frag, 0);
    /* in the moov, which the first fragment brings: a crashed lesson's
     * files have them too */
    av_dict_copy(&m->fc->metadata, a->tags, 0);
    int ret = avformat_write_header(m->fc, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return ret;
    m->header = 1;
    return 0;
}

/* Writes the trailer and closes the fd (fsynced); 0 or the first error. */
static int mux_finish(mux *m)
{
    int ret = 0;
    if (m->header) {
        m->header = 0;
        for (int i = 0; i < MAX_STREAMS; i++) {
            if (m->held[i] && ret >= 0)
                ret = av_write_frame(m->fc, m->held[i]);
            av_packet_free(&m->held[i]);
        }
        int r = av_write_trailer(m->fc);
        if (ret >= 0)
            ret = r;
        avio_flush(m->fc->pb);
        if (ret >= 0 && m->fc->pb->error < 0)
            ret = m->fc->pb->error;
    }
    if (m->fd >= 0) {
        lb_syncer_remove(m->syncer, m->sync_id);
        m->syncer = NULL;
        if (fsync(m->fd) < 0 && ret >= 0)
            ret = AVERROR(errno);
        if (close(m->fd) < 0 && ret >= 0)
            ret = AVERROR(errno);
        m->fd = -1;
    }
    return ret;
}

/* A lesson may go when it is finished and its upload verified. */
static int lesson_deletable(const char *dir)
{
    char path[PATH_MAX], state[32], status[32];
    snprintf(path, sizeof path, "%s/" LB_FINALISING_MARKER, dir);
    if (access(path, F_OK) == 0)
        return 0;
    snprintf(path, sizeof path, "%s/upload.json", dir);
    if (lb_json_file_string(path, "state", state, sizeof state) < 0 || strcmp(state, "done"))
        return 0;
    snprintf(path, sizeof path, "%s/lesson.json", dir);
    return lb_json_file_string(path, "status", status, sizeof status) == 0 &&
           strcmp(status, "recording");
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Retention: deletes the oldest uploaded lessons next to the new one while
 * free space is below retention_free_mb. */
static void apply_retention(archive *a)
{
    char data_dir[PATH_MAX];
    snprintf(data_dir, sizeof data_dir, "%s", a->dir);
    char *slash = strrchr(data_dir, '/');
    const char *self = slash ? slash + 1 : a->dir;
    if (slash)
        *slash = 0;
    else
        snprintf(data_dir, sizeof data_dir, ".");
    int64_t want = (int64_t)a->set.retention_free_mb << 20;
    int64_t free_b = lb_free_bytes(a->dir);
    if (free_b < 0 || free_b >= want)
        return;
    DIR *d = opendir(data_dir);
    if (!d)
        return;
    char **names = NULL;
    int nb = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, self))
            continue;
        char **g = realloc(names, sizeof *g * (size_t)(nb + 1));
        if (!g || !(g[nb] = strdup(e->d_name))) {
            names = g ? g : names;
            break;
        }
        names = g;
        nb++;
    }
    closedir(d);
    qsort(names, (size_t)nb, sizeof *names, cmp_names);   /* YYYYMMDD-HHMMSS: oldest first */
    for (int i = 0; i < nb && free_b < want; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", data_dir, names[i]);
        if (!lesson_deletable(path))
            continue;
        if (lb_remove_tree(path) == 0)
            LB_LOGW("archive", "retention: deleted %s (uploaded) to keep %d MB free", path,
                    a->set.retention_free_mb);
        free_b = lb_free_bytes(a->dir);
    }
    for (int i = 0; i < nb; i++)
        free(names[i]);
    free(names);
}

/* A stream name as a file name: no path, no hidden file. */
static void safe_name(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = in ? in : ""; *p && n + 1 < size; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || (c == '.' && n > 0);
        out[n++] = ok ? c : '_';
    }
    out[n] = 0;
    if (!n)
        snprintf(out, size, "camera");
}

static int archive_open(void *priv, const lb_stream_desc *streams, int nb_streams, const char *dir)
{
    archive *a = priv;
    char path[PATH_MAX], msg[256];
    int idx[MAX_STREAMS], n = 0, ret;

    a->streams = streams;
    a->nb_streams = nb_streams < MAX_STREAMS ? nb_streams : MAX_STREAMS;
    a->started = a->finalised = 0;
    a->end_us = 0;
    a->last_disk_check_us = 0;
    snprintf(a->dir, sizeof a->dir, "%s", dir ? dir : ".");
    pthread_mutex_lock(&a->lock);
    a->last_error[0] = 0;
    pthread_mutex_unlock(&a->lock);

    if (a->set.retention_free_mb > 0)
        apply_retention(a);
    av_dict_free(&a->tags);
    a->tags = lesson_tags(a->dir);
    if (a->set.sync == SYNC_FRAGMENT && (ret = lb_syncer_create(&a->syncer, "lb-archive-sync")) < 0) {
        snprintf(msg, sizeof msg, "cannot start the syncer: %s", av_err2str(ret));
        set_state(a, "failed", msg);
        return ret;
    }
    int64_t free_b = lb_free_bytes(a->dir);
    if (free_b >= 0 && free_b < (int64_t)a->set.min_free_mb << 20) {
        snprintf(msg, sizeof msg, "only %lld MB free in %s, %d MB needed to start a recording",
                 (long long)(free_b >> 20), a->dir, a->set.min_free_mb);
        LB_LOGE("archive", "%s", msg);
        set_state(a, "refused", msg);
        return AVERROR(ENOSPC);
    }

    for (int i = 0; i < a->nb_streams; i++)
        if (streams[i].kind == LB_STREAM_PROGRAM_VIDEO || streams[i].kind == LB_STREAM_PROGRAM_AUDIO)
            idx[n++] = i;
    snprintf(path, sizeof path, "%s/program.mp4", a->dir);
    if ((ret = mux_open(a, &a->muxes[a->nb_muxes], path, idx, n)) < 0)
        goto fail;
    mux *program = a->muxes[a->nb_muxes++];
    for (int i = 0; i < n; i++)
        a->by_stream[idx[i]] = program;

    for (int i = 0; a->set.iso && i < a->nb_streams; i++) {
        int audio = streams[i].kind == LB_STREAM_ISO_AUDIO;
        if (streams[i].kind != LB_STREAM_ISO_VIDEO && !audio)
            continue;
        snprintf(path, sizeof path, "%s/%s", a->dir, audio ? "audio" : "iso");
        mkdir(path, 0755);
        char name[64];
        safe_name(streams[i].name, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s/%s.%s", a->dir, audio ? "audio" : "iso", name,
                 audio ? "m4a" : "mp4");
        if ((ret = mux_open(a, &a->muxes[a->nb_muxes], path, &i, 1)) < 0)
            goto fail;
        a->by_stream[i] = a->muxes[a->nb_muxes++];
    }
    set_state(a, "waiting", NULL);
    return 0;
fail:
    snprintf(msg, sizeof msg, "cannot create %s: %s", path, av_err2str(ret));
    set_state(a, "failed", msg);
    return ret;
}

/* Stops writing and finalises every file (no rewrite): the disk guard. */
static void finalise_now(archive *a, const char *why)
{
    for (int i = 0; i < a->nb_muxes; i++)
        mux_finish(a->muxes[i]);
    a->finalised = 1;
    LB_LOGE("archive", "%s: recording stopped: %s", a->dir, why);
    set_state(a, "disk-full", why);
}

static int check_disk(archive *a, int64_t now)
{
    if (now - a->last_disk_check_us < DISK_CHECK_US)
        return 0;
    a->last_disk_check_us = now;
    int64_t free_b = lb_free_bytes(a->dir);
    if (free_b >= 0 && free_b < (int64_t)a->set.stop_free_mb << 20) {
        char msg[256];
        snprintf(msg, sizeof msg, "disk almost full: %lld MB left in %s (stop_free_mb = %d)",
                 (long long)(free_b >> 20), a->dir, a->set.stop_free_mb);
        finalise_now(a, msg);
        return AVERROR(ENOSPC);
    }
    return 0;
}

/* Writes one packet of the lesson (already started) to its file. */
static int write_packet(archive *a, const AVPacket *in)
{
    int si = in->stream_index, ret;
    const lb_stream_desc *sd = &a->streams[si];
    mux *m = a->by_stream[si];
    int64_t end_in = in->pts + (in->duration > 0 ? in->duration : 0);
    if (a->finalised || (sd->kind == LB_STREAM_ISO_AUDIO ? end_in <= a->start_us : in->pts < a->start_us))
        return 0;                         /* audio (or an ISO frame) from before the start */
    if (!m->header) {
        /* program.mp4 opens with the program's key frame; an ISO file with
         * its own first key frame. */
        if (sd->par->codec_type == AVMEDIA_TYPE_VIDEO && !(in->flags & AV_PKT_FLAG_KEY))
            return 0;
        if (sd->kind == LB_STREAM_PROGRAM_AUDIO)
            return 0;                     /* not before the program's video */
        if ((ret = mux_write_header(a, m)) < 0)
            goto fail;
    }
    AVPacket *pkt = av_packet_clone(in);
    if (!pkt)
        return AVERROR(ENOMEM);
    AVStream *os = m->fc->streams[m->out_index[si]];
    pkt->pts -= a->start_us;
    if (pkt->dts != AV_NOPTS_VALUE)
        pkt->dts -= a->start_us;
    int64_t end = pkt->pts + (pkt->duration > 0 ? pkt->duration : 0);
    if (end > a->end_us)
        a->end_us = end;
    av_packet_rescale_ts(pkt, AV_TIME_BASE_Q, os->time_base);
    pkt->stream_index = os->index;
    pkt->opaque = NULL;
    /* Encoders leave video durations at 0; the muxer would have to guess
     * the last one of every fragment.  Holding one packet per stream gives
     * it the real one. */
    AVPacket *prev = m->held[os->index];
    if (prev && pkt->dts != AV_NOPTS_VALUE && prev->dts != AV_NOPTS_VALUE && pkt->dts <= prev->dts) {
        /* The muxer would fail the whole file for it: one packet goes. */
        LB_LOGW("archive", "%s: stream %d: packet with a dts going backwards skipped", m->path,
                os->index);
        av_packet_free(&pkt);
        return 0;
    }
    m->held[os->index] = pkt;
    ret = 0;
    if (prev) {
        if (prev->duration <= 0 && pkt->dts != AV_NOPTS_VALUE && prev->dts != AV_NOPTS_VALUE &&
            pkt->dts > prev->dts)
            prev->duration = pkt->dts - prev->dts;
        ret = av_write_frame(m->fc, prev);
        av_packet_free(&prev);
    }
    if (ret < 0)
        goto fail;

    int64_t now = lb_clock_now();
    if (m->syncer && m->written != m->synced) {
        /* a fragment came out: durable soon, without waiting here */
        lb_syncer_kick(m->syncer, m->sync_id);
        m->synced = m->written;
    } else if (m->written != m->synced && now - m->last_sync_us >= SYNC_INTERVAL_US) {
        /* Start the disk write of what is new, without waiting for it. */
        sync_file_range(m->fd, m->synced, m->written - m->synced, SYNC_FILE_RANGE_WRITE);
        m->synced = m->written;
        m->last_sync_us = now;
    }
    /* The guard finalises the files and then fails the run, so that the
     * recording is reported as cut short (stop_recording returns ENOSPC). */
    return check_disk(a, now);
fail:
    {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s", m->path, av_err2str(ret));
        if (m->write_error == ENOSPC || m->write_error == EDQUOT) {
            /* The guard was too late (another writer filled the disk):
             * close what can be closed. */
            finalise_now(a, msg);
            return AVERROR(ENOSPC);
        }
        LB_LOGE("archive", "%s", msg);
        set_state(a, "failed", msg);
    }
    return ret;
}

static void drop_pending(archive *a)
{
    for (int i = 0; i < a->nb_pending; i++)
        av_packet_free(&a->pending[i]);
    a->nb_pending = 0;
}

static int archive_write(void *priv, const AVPacket *in)
{
    archive *a = priv;
    int si = in->stream_index, ret;
    if (si < 0 || si >= a->nb_streams || !a->by_stream[si] || in->pts == AV_NOPTS_VALUE)
        return 0;
    const lb_stream_desc *sd = &a->streams[si];
    if (!a->started) {
        if (sd->kind != LB_STREAM_PROGRAM_VIDEO) {
            /* The program encoder's delay makes its key frame arrive after
             * the audio of the same instant, and often after the ISO
             * encoders' key frames forced at the same frame: hold the
             * recent packets of the other streams (dropped, an ISO file
             * would wait for its next key frame, a GOP later). */
            if (a->nb_pending == MAX_PENDING) {
                av_packet_free(&a->pending[0]);
                memmove(a->pending, a->pending + 1, sizeof *a->pending * (MAX_PENDING - 1));
                a->nb_pending--;
            }
            if (!(a->pending[a->nb_pending] = av_packet_clone(in)))
                return AVERROR(ENOMEM);
            a->nb_pending++;
            return 0;
        }
        if (sd->kind != LB_STREAM_PROGRAM_VIDEO || !(in->flags & AV_PKT_FLAG_KEY))
            return 0;
        a->started = 1;
        a->start_us = in->pts;
        set_state(a, "recording", NULL);
        LB_LOGI("archive", "%s: lesson starts at program time %.3f s", a->dir, in->pts / 1e6);
        ret = write_packet(a, in);
        for (int i = 0; ret >= 0 && i < a->nb_pending; i++)
            ret = write_packet(a, a->pending[i]);
        drop_pending(a);
        return ret;
    }
    return write_packet(a, in);
}

/* ---- the finaliser ---- */

static void marker_path(const char *dir, char *buf, size_t size)
{
    snprintf(buf, size, "%s/" LB_FINALISING_MARKER, dir);
}

/* The MP4 tags of the lesson in dir, from its lesson.json (NULL when it
 * cannot be read: the files keep theirs). */
static AVDictionary *lesson_tags(const char *dir)
{
    cJSON *root = NULL;
    char err[256];
    AVDictionary *tags = NULL;
    int ret = lb_lesson_json_read(dir, &root, err, sizeof err);
    if (ret < 0) {
        if (ret != AVERROR(ENOENT))
            LB_LOGW("archive", "%s: no MP4 tags: %s", dir, err);
        return NULL;
    }
    lb_lesson_meta meta = { 0 };
    lb_meta_from_json(&meta, root, LB_META_LENIENT, err, sizeof err);
    const cJSON *started = cJSON_GetObjectItemCaseSensitive(root, "started_at");
    lb_mp4_tags(&tags, &meta, cJSON_IsString(started) && lb_is_w3cdtf(started->valuestring)
                                  ? started->valuestring : NULL);
    cJSON_Delete(root);
    return tags;
}

/* How long the finaliser waits for the lesson's last lesson.json (its
 * chapters and metadata as they end): the encoder thread writes it right
 * after the archive stopped. */
#define LESSON_CLOSE_WAIT_US (30 * 1000000)

static int is_program(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && !strcmp(path + n, "/program.mp4");
}

static void run_job(archive *a, finalise_job *job)
{
    char marker[PATH_MAX];
    if (lb_lesson_wait_closed(job->dir, LESSON_CLOSE_WAIT_US) < 0)
        LB_LOGW("archive", "%s: its lesson.json was not finished in time: chapters and tags as "
                "they are", job->dir);
    /* the metadata as it is now (a lesson's metadata may change while it
     * records: the timetable takes over a manual recording) */
    AVDictionary *tags = lesson_tags(job->dir);
    /* a resumed lesson: its parts become one fast-start file each, unless a
     * shutdown ended it (resumed at the next start: they stay apart, and
     * the repair joins them if it is not) */
    char path[PATH_MAX], ended_by[16] = "";
    snprintf(path, sizeof path, "%s/lesson.json", job->dir);
    lb_json_file_string(path, "ended_by", ended_by, sizeof ended_by);
    int parts = lb_lesson_has_parts(job->dir);
    if (parts && !strcmp(ended_by, "shutdown"))
        LB_LOGI("archive", "%s: ended by a shutdown: its parts stay apart until it ends", job->dir);
    int joined = parts && strcmp(ended_by, "shutdown") && lb_lesson_join(job->dir, tags) >= 0;
    lb_chapter *chapters = NULL;
    int nb_chapters = 0;
    double duration_s = 0, end_s = 0;
    lb_lesson_chapters_read(job->dir, &chapters, &nb_chapters, &duration_s);
    /* the files' chapters cover them from 0 (QuickTime's chapter track
     * must; a reader ignores its edit list): a first one named after the
     * lesson when lesson.json's first begins later */
    const AVDictionaryEntry *title = av_dict_get(tags, "title", NULL, 0);
    lb_chapter *listed = chapters;
    int nb_listed = nb_chapters;
    lb_chapters_cover(listed, nb_listed, title ? title->value : NULL, &chapters, &nb_chapters);
    free(listed);
    if (joined) {
        /* on the lesson's timeline, as the joined file is */
        if (lb_lesson_apply_chapters(job->dir) < 0)
            LB_LOGW("archive", "%s: the joined program.mp4 has no chapters", job->dir);
        end_s = -1;                       /* the VTT is written */
    } else if (parts) {
        /* a part's program.mp4 starts later than the lesson: its chapters
         * come with the join */
        free(chapters);
        chapters = NULL;
        nb_chapters = 0;
        end_s = -1;
    }
    for (int i = 0; !joined && a->set.faststart && i < job->nb_paths; i++) {
        struct stat st;
        int64_t free_b = lb_free_bytes(job->dir);
        int program = is_program(job->dir, job->paths[i]);
        /* The rewrite needs a second copy; never let it fill the disk. */
        if (stat(job->paths[i], &st) == 0 &&
            (free_b < 0 || free_b - (int64_t)st.st_size > (int64_t)a->set.stop_free_mb << 20)) {
            int64_t end_us = 0;
            if (lb_mp4_remux(job->paths[i], tags, program ? chapters : NULL,
                             program ? nb_chapters : 0, &end_us) >= 0 && program)
                end_s = (double)end_us / 1e6;
        } else {
            LB_LOGW("archive", "%s: not enough room for the fast-start rewrite; kept fragmented",
                    job->paths[i]);
        }
    }
    if (end_s >= 0)
        lb_chapters_write_vtt(job->dir, chapters, nb_chapters, end_s > 0 ? end_s : duration_s);
    free(chapters);
    av_dict_free(&tags);
    marker_path(job->dir, marker, sizeof marker);
    unlink(marker);
    lb_fsync_dir(job->dir);
    lb_lesson_rewritten();
    LB_LOGI("archive", "%s: files finalised (%s, %d chapters)", job->dir,
            joined ? "parts joined" : "fast start", nb_chapters);
}

static void *finaliser_loop(void *arg)
{
    archive *a = arg;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->jobs && !a->quit)
            pthread_cond_wait(&a->jobs_cond, &a->lock);
        finalise_job *job = a->jobs;
        if (!job)
            break;                        /* quit, and nothing left to do */
        pthread_mutex_unlock(&a->lock);
        run_job(a, job);
        pthread_mutex_lock(&a->lock);
        a->jobs = job->next;
        free(job);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* Hands the finished files of a lesson to the finaliser; the marker file
 * keeps uploads and retention away until they are rewritten.  When it
 * cannot, the rewrite happens here. */
static void queue_job(archive *a, finalise_job *job)
{
    char marker[PATH_MAX];
    marker_path(job->dir, marker, sizeof marker);
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    pthread_mutex_lock(&a->lock);
    if (!a->finaliser_started &&
        lb_thread_start(&a->finaliser, "lb-archive-fin", finaliser_loop, a) == 0)
        a->finaliser_started = 1;
    if (!a->finaliser_started) {
        pthread_mutex_unlock(&a->lock);
        run_job(a, job);
        free(job);
        return;
    }
    finalise_job **tail = &a->jobs;
    while (*tail)
        tail = &(*tail)->next;
    *tail = job;
    pthread_cond_signal(&a->jobs_cond);
    pthread_mutex_unlock(&a->lock);
}

static void archive_uninit(void *priv)
{
    archive *a = priv;
    if (!a->lock_init)
        return;
    /* the rewrites still queued are done before the streamer goes */
    pthread_mutex_lock(&a->lock);
    a->quit = 1;
    pthread_cond_signal(&a->jobs_cond);
    pthread_mutex_unlock(&a->lock);
    if (a->finaliser_started)
        lb_thread_join(&a->finaliser);
    a->finaliser_started = 0;
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->jobs_cond);
    a->lock_init = 0;
}

static void archive_stats(void *priv, lb_output_stats *out)
{
    archive *a = priv;
    if (!a->lock_init)
        return;
    pthread_mutex_lock(&a->lock);
    snprintf(out->state, sizeof out->state, "%s", a->state);
    snprintf(out->last_error, sizeof out->last_error, "%s", a->last_error);
    pthread_mutex_unlock(&a->lock);
}

static void archive_close(void *priv)
{
    archive *a = priv;
    int failed = 0;
    finalise_job *job = NULL;
    if (a->nb_muxes && !a->finalised)
        set_state(a, "finalising", NULL);
    /* without the fast-start rewrite the finaliser still writes the
     * player's chapters (VTT) once lesson.json has its end */
    if (a->nb_muxes && !a->finalised && (job = calloc(1, sizeof *job)))
        snprintf(job->dir, sizeof job->dir, "%s", a->dir);
    for (int i = 0; i < a->nb_muxes; i++) {
        mux *m = a->muxes[i];
        int had_header = m->header;
        int ret = mux_finish(m);
        if (ret < 0) {
            LB_LOGE("archive", "%s: cannot finish: %s", m->path, av_err2str(ret));
            failed = 1;
        }
        if (!had_header && !a->finalised) {
            /* Never got a packet: leave no empty file behind. */
            if (m->written == 0)
                unlink(m->path);
        } else if (ret >= 0 && job) {
            snprintf(job->paths[job->nb_paths++], PATH_MAX, "%s", m->path);
        }
        mux_free(&a->muxes[i]);
    }
    if (job && job->nb_paths)
        queue_job(a, job);               /* the stop does not wait for the rewrite */
    else
        free(job);
    a->nb_muxes = 0;
    if (a->syncer) {
        lb_syncer_stats st;
        lb_syncer_get_stats(a->syncer, &st);
        lb_syncer_free(&a->syncer);
        if (st.syncs)
            LB_LOGI("archive", "%s: %lld fragments made durable (fdatasync p50 %.1f ms, p99 %.1f ms, "
                    "max %.1f ms, %.2f s in all%s)", a->dir, (long long)st.syncs, st.p50_us / 1e3,
                    st.p99_us / 1e3, st.max_us / 1e3, st.total_us / 1e6,
                    st.errors ? ", some FAILED" : "");
    }
    drop_pending(a);
    av_dict_free(&a->tags);
    memset(a->by_stream, 0, sizeof a->by_stream);
    if (a->lock_init) {
        pthread_mutex_lock(&a->lock);
        if (!a->finalised && strcmp(a->state, "refused") && strcmp(a->state, "failed"))
            snprintf(a->state, sizeof a->state, failed ? "failed" : "idle");
        pthread_mutex_unlock(&a->lock);
    }
}

const lb_output_ops lb_output_archive = {
    .kind = "archive",
    .priv_size = sizeof(archive),
    .configure = archive_configure,
    .open = archive_open,
    .write = archive_write,
    .stats = archive_stats,
    .close = archive_close,
    .stream_kinds = KIND_BIT(LB_STREAM_PROGRAM_VIDEO) | KIND_BIT(LB_STREAM_PROGRAM_AUDIO) |
                    KIND_BIT(LB_STREAM_ISO_VIDEO) | KIND_BIT(LB_STREAM_ISO_AUDIO),
    .per_lesson = 1,
    .uninit = archive_uninit,
    .options = archive_options,
};
