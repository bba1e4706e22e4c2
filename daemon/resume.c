/* Design note: resuming an interrupted lesson, and joining its parts.
 *
 * At start-up (lb_resume_prepare, before the repair) the streamer's rules
 * pick the lesson left "recording" that may be resumed (streamer/parts.c:
 * the window, no stop asked for, its timetable entry not over); its files
 * move to parts/<n>/ and the lifecycle's "resume" opens it again at the
 * first tick, recording its next part where a lesson's files always are,
 * on the lesson's timeline (the wall time since its start).
 *
 * When the lesson has ended, lb_resume_join (the streamer's joiner, on the
 * archive's finaliser thread, or the repair at the next start) makes each
 * file one again: program.mp4, every iso/<camera>.mp4 and audio/<mic>.m4a.
 * The parts are stream-copied, each shifted to its place on the lesson's
 * timeline (part 1 at 0, the others at their outage's end); only the gaps
 * are encoded: the video as a slate ("recording interrupted from ... to
 * ...") with encoder/splice.c, which gives it an SPS/PPS id the part does
 * not use and a profile and level the part's admit, so one H.264 track
 * holds both; the audio as AAC-LC silence with the part's parameters.  The
 * gap's audio is cut on the 1024-sample grid so that it ends exactly where
 * the next part begins (which is what keeps that part in sync).
 *
 * Crash safety: every joined file is written beside its target as
 * "<name>.join.tmp" and fsynced; then parts/.joined is made, the temp files
 * are renamed over the targets and parts/ is removed.  A join cut short
 * before the marker starts again from the parts; after it, only the
 * renames and the removal are left to do.  Parts that cannot be one track
 * (a changed codec, size or parameter sets between runs) stay as they are,
 * and the log says why. */
#include "pipeline_priv.h"
#include "scheduler.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libavformat/avformat.h>
#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_file.h"
#include "lb_log.h"

#define MAX_SEGS 64                 /* parts + the last one: far more than a lesson has crashes */
#define MAX_FILES 64
#define JOIN_TMP ".join.tmp"
#define JOINED_MARKER "/" "parts" "/.joined"
#define SLATE_KEYINT_S 2.0
#define JOIN_MARGIN_BYTES (INT64_C(100) << 20)   /* left free after a join: the archive's stop_free_mb default */

int lb_resume_prepare(lb_pipeline *p)
{
    char err[512];
    p->resume_dir[0] = 0;
    lb_lesson_set_joiner(lb_resume_join);
    if (!lb_lesson_find_resumable(p->general.data_dir, p->general.resume_window_s, lb_clock_wall_us(),
                                  p->resume_dir, sizeof p->resume_dir))
        return 0;
    if (lb_lesson_prepare_resume(p->resume_dir, err, sizeof err) < 0) {
        LB_LOGE("resume", "%s: cannot be resumed (%s): it is repaired as interrupted", p->resume_dir, err);
        p->resume_dir[0] = 0;
        return 0;
    }
    return 1;
}

void lb_resume_request(lb_pipeline *p)
{
    char why[256], err[PATH_MAX + 64];
    lb_lesson_info info = { 0 };
    cJSON *root = NULL;
    /* the lesson's metadata as lesson.json has it (a bad member is skipped) */
    if (lb_lesson_json_read(p->resume_dir, &root, err, sizeof err) >= 0)
        lb_meta_from_json(&info, root, LB_META_LENIENT, err, sizeof err);
    cJSON_Delete(root);
    const char *slash = strrchr(p->resume_dir, '/');
    pthread_mutex_lock(&p->lock);
    snprintf(p->lesson_id, sizeof p->lesson_id, "%s", slash ? slash + 1 : p->resume_dir);
    pthread_mutex_unlock(&p->lock);
    snprintf(why, sizeof why, "start-up: interrupted less than resume_window_s = %d s ago",
             p->general.resume_window_s);
    if (lb_lifecycle_event(p, LB_EV_RESUME, why, &info, err, sizeof err) < 0)
        LB_LOGE("resume", "%s: not resumed: %s (the next start repairs it)", p->resume_dir, err);
    else
        lb_scheduler_resumed(p->scheduler, &info);   /* a timetable lesson ends with its entry */
}

/* ---- the joiner ---- */

typedef struct seg {
    char dir[PATH_MAX];             /* parts/<n> or the lesson folder */
    int64_t offset_us;              /* lesson time of its start; < 0: right after the last */
    double from_s, to_s;            /* the outage before it (to_s < 0: none) */
} seg;

typedef struct track {
    AVStream *os;
    enum AVMediaType type;
    int64_t end_us;                 /* lesson time the track has reached */
    int64_t last_dts;               /* in os->time_base */
    lb_splice_encoder *slate;       /* video: the gap's pictures */
    AVFrame *picture;
    AVRational rate;
    int bitrate_kbps;               /* audio: the silence's */
    int silence;                    /* audio: AAC-LC mono 48 kHz, silence can be made */
    int seg_started;                /* a packet of the current part was written */
} track;

typedef struct joiner {
    const char *name;               /* for logs: the file's path in the lesson */
    AVFormatContext *oc;
    track tracks[2];                /* video, audio */
    int nb_tracks;
    int64_t started_ms;             /* the lesson's wall-clock start, for the slate's text */
    int64_t gap_to_us;              /* the gap being filled ends here */
    int64_t gap_from_us;            /* audio: silence packets before this are the priming */
    track *filling;
} joiner;

static int write_packet(joiner *j, track *t, AVPacket *pkt, AVRational tb_in, int64_t offset_us)
{
    int64_t pts_us = av_rescale_q(pkt->pts, tb_in, AV_TIME_BASE_Q) + offset_us;
    int64_t dts_us = pkt->dts == AV_NOPTS_VALUE ? pts_us
                                                : av_rescale_q(pkt->dts, tb_in, AV_TIME_BASE_Q) + offset_us;
    int64_t dur_us = pkt->duration > 0 ? av_rescale_q(pkt->duration, tb_in, AV_TIME_BASE_Q) : 0;
    AVRational tb = t->os->time_base;
    pkt->pts = av_rescale_q(pts_us, AV_TIME_BASE_Q, tb);
    pkt->dts = av_rescale_q(dts_us, AV_TIME_BASE_Q, tb);
    pkt->duration = av_rescale_q(dur_us, AV_TIME_BASE_Q, tb);
    if (t->last_dts != AV_NOPTS_VALUE && pkt->dts <= t->last_dts)
        return 0;                   /* overlaps what the track has (a part's first packets) */
    t->last_dts = pkt->dts;
    if (pts_us + dur_us > t->end_us)
        t->end_us = pts_us + dur_us;
    pkt->stream_index = t->os->index;
    pkt->pos = -1;
    return av_interleaved_write_frame(j->oc, pkt);
}

static int slate_sink(void *opaque, AVPacket *pkt)
{
    joiner *j = opaque;
    return write_packet(j, j->filling, pkt, AV_TIME_BASE_Q, 0);
}

static int silence_sink(void *opaque, AVPacket *pkt)
{
    joiner *j = opaque;
    /* the encoder's priming (before the gap) and its flush (after it) go.
     * Its packets are 1024 samples apart, their timestamps rounded to a
     * sample and back (up to ~11 us off): tell them apart by half a frame.
     * A fixed 10 us kept the first flush packet now and then (gap_from_us
     * at x.5 samples): one frame too many, the part after it a frame late
     * for a decoder that counts samples. */
    int64_t half_frame_us = av_rescale(512, 1000000, LB_AUDIO_RATE);
    if (pkt->pts < j->gap_from_us - half_frame_us || pkt->pts >= j->gap_to_us - half_frame_us)
        return 0;
    pkt->duration = 0;
    return write_packet(j, j->filling, pkt, AV_TIME_BASE_Q, 0);
}

static void clock_text(int64_t wall_ms, char *buf, size_t size)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    strftime(buf, size, "%H:%M:%S", &tm);
}

/* Fills track t from its end to to_us: the slate, or silence. */
static int fill_gap(joiner *j, track *t, int64_t to_us, const seg *s)
{
    int ret = 0;
    if (to_us <= t->end_us)
        return 0;
    LB_LOGD("resume", "%s: %s gap %.6f-%.6f s", j->name, av_get_media_type_string(t->type), t->end_us / 1e6,
            to_us / 1e6);
    j->filling = t;
    j->gap_to_us = to_us;
    if (t->type == AVMEDIA_TYPE_VIDEO) {
        if (!t->slate)
            return 0;               /* the track keeps the gap (logged at set-up) */
        if (!t->picture) {
            char title[64] = "Recording interrupted", line[128], a[16], b[16];
            clock_text(j->started_ms + (int64_t)(s->from_s * 1000), a, sizeof a);
            clock_text(j->started_ms + (int64_t)(s->to_s * 1000), b, sizeof b);
            snprintf(line, sizeof line, "recording interrupted from %s to %s (%.0f s)", a, b,
                     s->to_s - s->from_s);
            if ((ret = lb_slate_draw_text(title, line, t->os->codecpar->width, t->os->codecpar->height,
                                          &t->picture)) < 0) {
                LB_LOGE("resume", "%s: the slate cannot be drawn: %s", j->name, av_err2str(ret));
                return ret;
            }
        }
        int64_t from = t->end_us, frame_us = av_rescale(1000000, t->rate.den, t->rate.num);
        for (int64_t n = 0;; n++) {
            int64_t pts = from + av_rescale(n, 1000000LL * t->rate.den, t->rate.num);
            /* a whole frame before the part's first: players that put
             * timestamps on the frame grid must not see two pictures in
             * one slot (the last slate picture lasts until the part) */
            if (pts + frame_us > to_us)
                break;
            t->picture->pts = pts;
            if ((ret = lb_splice_encoder_encode(t->slate, t->picture, slate_sink, j)) < 0)
                return ret;
        }
        lb_splice_encoder_idle(t->slate);      /* the next gap starts with an IDR again */
        av_frame_free(&t->picture);             /* its text is another outage's */
        return 0;
    }
    if (!t->silence)
        return 0;
    /* whole AAC frames that end exactly at to_us: the part after the gap
     * keeps its place in samples as well as in time */
    int64_t frames = av_rescale(to_us - t->end_us, LB_AUDIO_RATE, 1000000LL * 1024);
    if (frames <= 0)
        return 0;
    j->gap_from_us = to_us - av_rescale(frames * 1024, 1000000, LB_AUDIO_RATE);
    lb_audio_encoder *enc = NULL;
    char err[256];
    if ((ret = lb_audio_encoder_open(&enc, t->bitrate_kbps, err, sizeof err)) < 0) {
        LB_LOGE("resume", "%s: no silence for the gap: %s", j->name, err);
        return ret;
    }
    static const float zeros[4096];
    int64_t left = (frames + 2) * 1024;         /* two more: the flush's */
    int64_t pts = j->gap_from_us;
    while (left > 0 && ret >= 0) {
        int n = left > 4096 ? 4096 : (int)left;
        ret = lb_audio_encoder_encode(enc, zeros, n, pts, silence_sink, j);
        pts += av_rescale(n, 1000000, LB_AUDIO_RATE);
        left -= n;
    }
    if (ret >= 0)
        ret = lb_audio_encoder_encode(enc, NULL, 0, 0, silence_sink, j);
    lb_audio_encoder_close(&enc);
    t->end_us = FFMAX(t->end_us, to_us);
    return ret;
}

static AVFormatContext *open_input(const char *path)
{
    AVFormatContext *ic = NULL;
    if (access(path, F_OK) < 0)
        return NULL;
    if (avformat_open_input(&ic, path, NULL, NULL) < 0)
        return NULL;
    if (avformat_find_stream_info(ic, NULL) < 0)
        avformat_close_input(&ic);
    return ic;
}

/* The same track in another part: same codec and parameters. */
static int same_track(const AVCodecParameters *a, const AVCodecParameters *b, char *why, size_t size)
{
    if (a->codec_id != b->codec_id)
        snprintf(why, size, "%s, then %s", avcodec_get_name(a->codec_id), avcodec_get_name(b->codec_id));
    else if (a->codec_type == AVMEDIA_TYPE_VIDEO && (a->width != b->width || a->height != b->height))
        snprintf(why, size, "%dx%d, then %dx%d", a->width, a->height, b->width, b->height);
    else if (a->codec_type == AVMEDIA_TYPE_AUDIO &&
             (a->sample_rate != b->sample_rate || a->ch_layout.nb_channels != b->ch_layout.nb_channels))
        snprintf(why, size, "%d Hz %d ch, then %d Hz %d ch", a->sample_rate, a->ch_layout.nb_channels,
                 b->sample_rate, b->ch_layout.nb_channels);
    else if (a->codec_type == AVMEDIA_TYPE_VIDEO &&
             (a->extradata_size != b->extradata_size ||
              (a->extradata_size && memcmp(a->extradata, b->extradata, (size_t)a->extradata_size))))
        snprintf(why, size, "other parameter sets");
    else
        return 1;
    return 0;
}

static int add_track(joiner *j, const AVStream *is, int any_gap)
{
    int ret;
    track *t = &j->tracks[j->nb_tracks];
    const AVCodecParameters *par = is->codecpar;
    *t = (track){ .type = par->codec_type, .last_dts = AV_NOPTS_VALUE };
    if (!(t->os = avformat_new_stream(j->oc, NULL)))
        return AVERROR(ENOMEM);
    if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
        t->rate = is->avg_frame_rate.num > 0 ? is->avg_frame_rate : is->r_frame_rate;
        if (t->rate.num <= 0 || t->rate.den <= 0)
            t->rate = (AVRational){ 30, 1 };
        if (any_gap) {
            char why[256] = "";
            lb_splice_params sp = { .camera = par, .fps_num = t->rate.num, .fps_den = t->rate.den,
                                    .keyint_s = SLATE_KEYINT_S, .name = j->name };
            ret = lb_splice_encoder_create(&t->slate, &sp, why, sizeof why);
            if (ret == AVERROR(ENOSYS))
                LB_LOGW("resume", "%s: no slate in this track (%s): its outages stay gaps", j->name, why);
            else if (ret < 0)
                return ret;
            if (t->slate)
                t->rate = lb_splice_encoder_frame_rate(t->slate);
        }
        par = t->slate ? lb_splice_encoder_codecpar(t->slate) : par;
    } else {
        t->silence = par->codec_id == AV_CODEC_ID_AAC && par->sample_rate == LB_AUDIO_RATE &&
                     par->ch_layout.nb_channels == 1;
        t->bitrate_kbps = par->bit_rate > 0 ? (int)(par->bit_rate / 1000) : 64;
        if (any_gap && !t->silence)
            LB_LOGW("resume", "%s: no silence for this track (%s, %d Hz, %d ch): its outages stay gaps",
                    j->name, avcodec_get_name(par->codec_id), par->sample_rate, par->ch_layout.nb_channels);
    }
    if ((ret = avcodec_parameters_copy(t->os->codecpar, par)) < 0)
        return ret;
    t->os->codecpar->codec_tag = 0;
    t->os->time_base = is->time_base;
    j->nb_tracks++;
    return 0;
}

static void free_tracks(joiner *j)
{
    for (int i = 0; i < j->nb_tracks; i++) {
        lb_splice_encoder_free(&j->tracks[i].slate);
        av_frame_free(&j->tracks[i].picture);
    }
}

/* Joins rel (e.g. "iso/teacher.mp4") of every segment into
 * <lesson>/<rel>.join.tmp with tags (NULL: the first part's); *end_us: where it ends on the lesson's
 * timeline.  0 (nothing to join when no segment has the file), or a
 * negative AVERROR. */
static int join_file(const char *lesson, const char *rel, const seg *segs, int nb_segs,
                     int64_t started_ms, const AVDictionary *tags, int64_t *end_us)
{
    AVFormatContext *in[MAX_SEGS] = { 0 };
    int map[MAX_SEGS][2];           /* per segment: its stream for tracks[0], [1] */
    char path[PATH_MAX + 128], tmp[PATH_MAX + 128], why[256];
    AVDictionary *opts = NULL;
    AVPacket *pkt = av_packet_alloc();
    joiner j = { .name = rel, .started_ms = started_ms };
    int ret = 0, header = 0, ref = -1;
    *end_us = 0;
    if (!pkt)
        return AVERROR(ENOMEM);
    for (int k = 0; k < nb_segs; k++) {
        snprintf(path, sizeof path, "%s/%s", segs[k].dir, rel);
        if ((in[k] = open_input(path)) && ref < 0)
            ref = k;
    }
    if (ref < 0)
        goto out;
    snprintf(tmp, sizeof tmp, "%s/%s" JOIN_TMP, lesson, rel);
    if ((ret = avformat_alloc_output_context2(&j.oc, NULL, "mp4", tmp)) < 0)
        goto out;
    /* a gap anywhere: before a segment that starts later than the one before ends */
    int any_gap = nb_segs > 1 || ref > 0;
    static const enum AVMediaType types[2] = { AVMEDIA_TYPE_VIDEO, AVMEDIA_TYPE_AUDIO };
    for (int ty = 0; ty < 2; ty++) {
        int si = av_find_best_stream(in[ref], types[ty], -1, -1, NULL, 0);
        for (int k = 0; k < nb_segs; k++)
            map[k][j.nb_tracks] = -1;
        if (si < 0)
            continue;
        const AVCodecParameters *rp = in[ref]->streams[si]->codecpar;
        for (int k = 0; k < nb_segs; k++) {
            if (!in[k])
                continue;
            int sk = av_find_best_stream(in[k], types[ty], -1, -1, NULL, 0);
            if (sk < 0)
                continue;
            if (!same_track(rp, in[k]->streams[sk]->codecpar, why, sizeof why)) {
                LB_LOGE("resume", "%s: part %d's %s track differs from part %d's (%s): the parts "
                        "cannot be one track and stay apart", rel, k + 1, av_get_media_type_string(types[ty]),
                        ref + 1, why);
                ret = AVERROR(EINVAL);
                goto out;
            }
            map[k][j.nb_tracks] = sk;
        }
        if ((ret = add_track(&j, in[ref]->streams[si], any_gap)) < 0)
            goto out;
    }
    if (!j.nb_tracks)
        goto out;
    /* the lesson's MP4 tags: as they are now, or the first part's */
    if (tags)
        av_dict_copy(&j.oc->metadata, tags, 0);
    else
        lb_mp4_copy_tags(&j.oc->metadata, in[ref]->metadata);
    if ((ret = avio_open(&j.oc->pb, tmp, AVIO_FLAG_WRITE)) < 0)
        goto out;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    if ((ret = avformat_write_header(j.oc, &opts)) < 0)
        goto out;
    header = 1;
    for (int k = 0; k < nb_segs; k++) {
        if (!in[k])
            continue;
        int64_t offset = segs[k].offset_us;
        if (offset < 0) {
            offset = 0;
            for (int i = 0; i < j.nb_tracks; i++)
                offset = FFMAX(offset, j.tracks[i].end_us);
        }
        for (int i = 0; i < j.nb_tracks; i++)
            j.tracks[i].seg_started = 0;
        for (;;) {
            ret = av_read_frame(in[k], pkt);
            if (ret == AVERROR_EOF)
                break;
            if (ret < 0) {
                /* a crashed part ends in a torn fragment: keep what came before */
                LB_LOGW("resume", "%s: part %d: read stopped early: %s", rel, k + 1, av_err2str(ret));
                break;
            }
            AVStream *is = in[k]->streams[pkt->stream_index];
            track *t = NULL;
            for (int i = 0; i < j.nb_tracks; i++)
                if (map[k][i] == pkt->stream_index)
                    t = &j.tracks[i];
            /* a later part's audio priming would land inside the gap's silence */
            if (!t || pkt->pts == AV_NOPTS_VALUE || (k > ref && t->type == AVMEDIA_TYPE_AUDIO && pkt->pts < 0)) {
                av_packet_unref(pkt);
                continue;
            }
            if (!t->seg_started && k > ref) {
                /* the gap ends at the part's first packet in this track (its
                 * dts: what must increase), not at the part's start: the
                 * archive's audio may begin a little after its video */
                t->seg_started = 1;
                int64_t first = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
                if ((ret = fill_gap(&j, t, av_rescale_q(first, is->time_base, AV_TIME_BASE_Q) + offset,
                                    &segs[k])) < 0) {
                    av_packet_unref(pkt);
                    goto out;
                }
            }
            ret = write_packet(&j, t, pkt, is->time_base, offset);
            av_packet_unref(pkt);
            if (ret < 0)
                goto out;
        }
        ret = 0;
    }
    header = 0;
    if ((ret = av_write_trailer(j.oc)) < 0 || (ret = avio_closep(&j.oc->pb)) < 0)
        goto out;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        ret = AVERROR(errno);
    if (fd >= 0)
        close(fd);
    for (int i = 0; i < j.nb_tracks; i++)
        *end_us = FFMAX(*end_us, j.tracks[i].end_us);
    if (ret >= 0)
        ret = 1;
out:
    if (ret < 0 && ret != AVERROR(EINVAL))
        LB_LOGE("resume", "%s: cannot join its parts: %s", rel, av_err2str(ret));
    if (header)
        av_write_trailer(j.oc);
    if (j.oc) {
        avio_closep(&j.oc->pb);
        if (ret < 0)
            unlink(tmp);
        avformat_free_context(j.oc);
    }
    free_tracks(&j);
    av_dict_free(&opts);
    av_packet_free(&pkt);
    for (int k = 0; k < nb_segs; k++)
        avformat_close_input(&in[k]);
    return ret;
}

/* Adds the media files of seg_dir/sub to names (relative, unique). */
static void list_files(const char *seg_dir, const char *sub, const char *ext, char names[][128], int *nb)
{
    char folder[PATH_MAX + 16];
    snprintf(folder, sizeof folder, "%s/%s", seg_dir, sub);
    DIR *d = opendir(folder);
    struct dirent *e;
    while (d && (e = readdir(d)) && *nb < MAX_FILES) {
        size_t len = strlen(e->d_name), ext_len = strlen(ext);
        char rel[128];
        if (e->d_name[0] == '.' || len <= ext_len || strcmp(e->d_name + len - ext_len, ext) ||
            (size_t)snprintf(rel, sizeof rel, "%s/%s", sub, e->d_name) >= sizeof rel)
            continue;
        int dup = 0;
        for (int i = 0; i < *nb && !dup; i++)
            dup = !strcmp(names[i], rel);
        if (!dup)
            snprintf(names[(*nb)++], 128, "%s", rel);
    }
    if (d)
        closedir(d);
}

/* After the marker: every temp file over its target, then parts/ goes. */
static int commit(const char *lesson, char names[][128], int nb)
{
    char tmp[PATH_MAX + 160], dst[PATH_MAX + 160];
    for (int i = 0; i < nb; i++) {
        snprintf(tmp, sizeof tmp, "%s/%s" JOIN_TMP, lesson, names[i]);
        snprintf(dst, sizeof dst, "%s/%s", lesson, names[i]);
        if (rename(tmp, dst) < 0 && errno != ENOENT) {
            int ret = AVERROR(errno);
            LB_LOGE("resume", "%s: cannot replace: %s", dst, av_err2str(ret));
            return ret;
        }
        lb_fsync_parents(dst, 1);
    }
    snprintf(dst, sizeof dst, "%s/parts", lesson);
    lb_remove_tree(dst);
    lb_fsync_dir(lesson);
    return 0;
}

int lb_resume_join(const char *lesson, const AVDictionary *tags)
{
    static seg segs[MAX_SEGS];          /* one joiner at a time: the finaliser or start-up */
    static char names[MAX_FILES][128];
    static pthread_mutex_t one = PTHREAD_MUTEX_INITIALIZER;
    char why[PATH_MAX + 64], path[PATH_MAX + 64];
    int nb = 0, ret = 0;
    int64_t t0 = lb_clock_now();
    pthread_mutex_lock(&one);
    int nb_parts = lb_lesson_count_parts(lesson);
    cJSON *root = NULL;
    if ((ret = lb_lesson_json_read(lesson, &root, why, sizeof why)) < 0) {
        LB_LOGE("resume", "%s: its parts stay apart", why);
        goto out;
    }
    if (nb_parts < 1 || nb_parts >= MAX_SEGS) {
        LB_LOGE("resume", "%s: %d parts: not joined", lesson, nb_parts);
        ret = AVERROR(EINVAL);
        goto out;
    }
    const cJSON *outages = cJSON_GetObjectItemCaseSensitive(root, "outages");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "started_at_ms");
    int64_t started_ms = 0;
    lb_json_int64(ms, 0, LB_JSON_WALL_MS_MAX, &started_ms);   /* else 0, as when absent */
    /* part n starts at outages[n-2].to, the current files at outages[n_parts-1].to */
    for (int k = 0; k <= nb_parts; k++) {
        seg *s = &segs[k];
        if (k < nb_parts)
            snprintf(s->dir, sizeof s->dir, "%s/parts/%d", lesson, k + 1);
        else
            snprintf(s->dir, sizeof s->dir, "%s", lesson);
        const cJSON *o = k ? cJSON_GetArrayItem(outages, k - 1) : NULL;
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from");
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(o, "to");
        s->from_s = cJSON_IsNumber(from) ? from->valuedouble : 0;
        s->to_s = cJSON_IsNumber(to) ? to->valuedouble : -1;
        s->offset_us = k == 0 ? 0 : s->to_s >= 0 ? (int64_t)(s->to_s * 1e6 + 0.5) : -1;
    }
    snprintf(names[nb++], 128, "program.mp4");
    for (int k = 0; k <= nb_parts; k++) {
        list_files(segs[k].dir, "iso", ".mp4", names, &nb);
        list_files(segs[k].dir, "audio", ".m4a", names, &nb);
    }
    snprintf(path, sizeof path, "%s" JOINED_MARKER, lesson);
    if (access(path, F_OK) == 0) {
        LB_LOGW("resume", "%s: a join was cut short after its files were written: finishing it", lesson);
        ret = commit(lesson, names, nb);
        goto out;
    }
    /* the joined files are a second copy of the parts: never fill the disk
     * with them (the parts stay, the next start tries again) */
    int64_t need = JOIN_MARGIN_BYTES;
    for (int k = 0; k <= nb_parts; k++)
        for (int i = 0; i < nb; i++) {
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", segs[k].dir, names[i]);
            if (stat(path, &st) == 0)
                need += st.st_size;
        }
    struct statvfs vfs;
    if (statvfs(lesson, &vfs) == 0 && (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize < need) {
        LB_LOGE("resume", "%s: not enough free space to join its parts (%lld MB needed): they stay apart",
                lesson, (long long)(need >> 20));
        ret = AVERROR(ENOSPC);
        goto out;
    }
    int64_t program_end_us = 0;
    for (int i = 0; i < nb; i++) {
        int64_t end_us = 0;
        if ((ret = join_file(lesson, names[i], segs, nb_parts + 1, started_ms, tags, &end_us)) < 0)
            break;
        if (!i)
            program_end_us = end_us;
    }
    if (ret < 0) {
        for (int i = 0; i < nb; i++) {
            snprintf(path, sizeof path, "%s/%s" JOIN_TMP, lesson, names[i]);
            unlink(path);
        }
        goto out;
    }
    snprintf(path, sizeof path, "%s" JOINED_MARKER, lesson);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        ret = AVERROR(errno);
        LB_LOGE("resume", "%s: cannot write: %s", path, av_err2str(ret));
        goto out;
    }
    close(fd);
    lb_fsync_parents(path, 1);
    if ((ret = commit(lesson, names, nb)) < 0)
        goto out;
    /* the lesson lasts as long as its joined program */
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (program_end_us > 0 && cJSON_IsString(status) && strcmp(status->valuestring, "recording")) {
        cJSON *d = cJSON_CreateNumber(program_end_us / 1e6);
        if (d && !cJSON_ReplaceItemInObjectCaseSensitive(root, "duration_s", d))
            cJSON_Delete(d);
        lb_lesson_write_json(lesson, root);
        root = NULL;
    }
    LB_LOGI("resume", "%s: %d parts joined into one timeline of %.3f s (%d files, %.1f s)", lesson,
            nb_parts + 1, program_end_us / 1e6, nb, (lb_clock_now() - t0) / 1e6);
out:
    cJSON_Delete(root);
    pthread_mutex_unlock(&one);
    return ret;
}
