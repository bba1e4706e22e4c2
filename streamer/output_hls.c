/* Design note: the HLS output, our own segmenter.
 *
 * One variant per video stream the output takes (the program, and each
 * LB_STREAM_RENDITION_VIDEO), each muxed with the program audio into
 * MPEG-TS segments by libavformat's mpegts muxer, one muxer per segment so
 * that every segment opens with PAT/PMT and an IDR (with SPS/PPS).  A
 * segment is cut at the first key frame at least segment_s after the
 * segment's start.  Files are written under a temporary name and renamed,
 * so the web server only ever sees whole segments and playlists.
 *
 * program.m3u8 is the media playlist when there is one variant, else the
 * master playlist over program-<variant>.m3u8.  Sequence numbers start from
 * the wall clock at open (so they keep growing across restarts); a
 * restart, a gap left by GOPs the queue dropped, or a jump of the
 * timestamps starts a segment with EXT-X-DISCONTINUITY.
 *
 * Low-latency HLS (part_s > 0): the program variant is muxed a second time,
 * into fragmented MP4 by libavformat's mp4 muxer (one muxer per run of the
 * timeline, a fragment flushed every part), for NAME.ll.m3u8: the same
 * segments (cut at the same key frames, the same sequence numbers) as
 * NAME-ll-SEQ.m4s, each the concatenation of its parts NAME-ll-SEQ.P.m4s,
 * with EXT-X-PART for the last three target durations, EXT-X-PRELOAD-HINT
 * for the next part and EXT-X-SERVER-CONTROL.  The playlist is rewritten
 * after every part; the web UI holds blocking reloads (_HLS_msn, _HLS_part)
 * until it shows what they ask for.  The MPEG-TS playlist stays as it was,
 * for origins and plain players; only it is pushed.
 *
 * Pushing to an HTTP origin (url) runs on its own thread and reconciles
 * the origin with the local window: PUT every segment of the window not
 * yet there, then the playlists (never a playlist naming a segment the
 * origin lacks), DELETE what left the window.  A dead origin only makes
 * that thread retry with backoff; segments that leave the window before it
 * comes back are skipped. */
#include "streamer_priv.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libavutil/time.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_redact.h"
#include "lb_thread.h"

#define MAX_VARIANTS 8
#define MAX_WINDOW 64
#define TS_OFFSET_US 10000000      /* keeps TS timestamps positive (B-frames at 0) */
/* Audio waits in the TS muxer up to half this and goes out in PES of several
 * AAC frames (ffmpeg's -muxdelay default): one PES per 20 ms frame would
 * spend half the audio's bits on TS headers and stuffing. */
#define MUX_DELAY_US 700000
#define MAX_PARTS 64               /* parts per segment: segment_s / part_s */

typedef struct hls_settings {
    char dir[1024];
    char name[64];
    char url[1024];
    double segment_s;
    int list_size;
    int keep_segments;
    int push_timeout_ms;
    double part_s;
} hls_settings;

static const lb_option hls_options[] = {
    { "dir", LB_OPT_STRING, offsetof(hls_settings, dir), sizeof(((hls_settings *)0)->dir), NULL, 0, 0,
      NULL, "local folder of the live playlist and segments (default DATA_DIR/.live); "
            "the web UI serves it at /live/" },
    { "name", LB_OPT_STRING, offsetof(hls_settings, name), sizeof(((hls_settings *)0)->name),
      "program", 0, 0, NULL, "playlist name: NAME.m3u8" },
    { "url", LB_OPT_STRING, offsetof(hls_settings, url), sizeof(((hls_settings *)0)->url), NULL, 0, 0,
      NULL, "HTTP origin to push to with PUT and DELETE (http://host:port/path/); empty: local only" },
    { "segment_s", LB_OPT_DOUBLE, offsetof(hls_settings, segment_s), 0, "2", 0.5, 30, NULL,
      "segment length, seconds (cut at the next key frame)" },
    { "list_size", LB_OPT_INT, offsetof(hls_settings, list_size), 0, "6", 2, 48, NULL,
      "segments in the live playlist" },
    { "keep_segments", LB_OPT_INT, offsetof(hls_settings, keep_segments), 0, "3", 0, 16, NULL,
      "segments kept after they leave the playlist, for slow players" },
    { "push_timeout_ms", LB_OPT_INT, offsetof(hls_settings, push_timeout_ms), 0, "5000", 500, 60000,
      NULL, "longest HTTP request to the origin (ms)" },
    { "part_s", LB_OPT_DOUBLE, offsetof(hls_settings, part_s), 0, "0.334", 0, 1, NULL,
      "low-latency HLS (NAME.ll.m3u8, fMP4 parts, blocking reloads): the part length, seconds "
      "(PART-TARGET; 0: off, only the MPEG-TS playlist)" },
    { NULL },
};

typedef struct segment {
    int64_t seq;
    double duration_s;
    int64_t pdt_wall_us;
    int discontinuity;
    int pushed;                  /* on the origin */
    int map_id;                  /* low latency: its init file */
    int nb_parts;                /* low latency: its parts (0: none written) */
    float parts_s[MAX_PARTS];
} segment;

typedef struct variant {
    char name[64];               /* "program" or program-<rendition> */
    int video_index;             /* table index */
    const AVCodecParameters *vpar;
    AVFormatContext *ts;         /* the open segment, NULL between */
    char tmp_path[PATH_MAX];
    int ts_video, ts_audio;      /* streams of ts */
    int64_t seg_start_us;
    int64_t last_pts_us;         /* end of the latest video frame */
    int64_t frame_us;            /* video frame duration, measured */
    int64_t prev_pts_us;
    int pending_discontinuity;   /* the next segment starts one */
    int cur_discontinuity;       /* the open segment starts one */
    segment window[MAX_WINDOW];  /* local files, oldest first; the playlist is
                                  * the last list_size of them */
    int nb_window;
    int64_t expired[MAX_WINDOW]; /* pushed segments to DELETE from the origin */
    int nb_expired;
    int64_t next_seq;
    int64_t discontinuity_seq;
    int target_s;                /* EXT-X-TARGETDURATION: fixed for the playlist's life */
    int64_t keyint_us;           /* the encoder's GOP on the timeline (0: unknown) */
    int too_long_warned;
    int64_t declared_bps;        /* BANDWIDTH in the master */
    int64_t peak_bps;            /* the highest a whole segment really took, +5% */

    /* low latency (the program variant when part_s > 0) */
    int ll;
    AVFormatContext *mp4;        /* fragmented MP4 over write_buf, one per run */
    uint8_t *ll_buf;             /* what the mp4 muxer wrote since the last part */
    size_t ll_len, ll_cap;
    int ll_failed;               /* a write failed: no LL until the next run */
    int mp4_video, mp4_audio;
    int map_id, next_map_id;
    FILE *ll_seg;                /* the open segment's file, parts appended */
    char ll_seg_tmp[PATH_MAX];
    int64_t part_start_us;       /* dts of the open part's first frame */
    int part_frames;
    int nb_parts;                /* parts of the open segment so far */
    float parts_s[MAX_PARTS];
} variant;

typedef struct hls {
    hls_settings set;
    const lb_stream_desc *streams;
    int nb_streams;
    int audio_index;
    variant vars[MAX_VARIANTS];
    int nb_vars;
    int64_t wall_base_us;        /* wall clock at program time 0, for PROGRAM-DATE-TIME */
    int have_wall_base;
    int64_t max_audio_us;

    /* push */
    lb_thread push_thread;
    pthread_cond_t push_cond;
    atomic_int stop;
    int push_dirty;
    int push_final;              /* closing: one last pass then exit */
    CURL *curl;
    int pushing;
    int runs;                    /* opens so far: a reopen is a discontinuity */

    pthread_mutex_t lock;        /* window, push state, stats */
    int lock_init;
    char state[16];
    char last_error[256];
    uint64_t push_failures, reconnects;
    int origin_down;
} hls;

void lb_hls_set_default_dir(void *priv, const char *dir)
{
    hls *h = priv;
    if (!*h->set.dir)
        snprintf(h->set.dir, sizeof h->set.dir, "%s", dir);
}

const char *lb_hls_dir(void *priv)
{
    return ((hls *)priv)->set.dir;
}

static void set_state(hls *h, const char *state, const char *error)
{
    pthread_mutex_lock(&h->lock);
    if (state)
        snprintf(h->state, sizeof h->state, "%s", state);
    if (error)     /* the origin's URL may carry a password */
        lb_redact_text(h->last_error, sizeof h->last_error, error);
    pthread_mutex_unlock(&h->lock);
}

static int hls_configure(void *priv, const lb_config_section *sec, char *err, size_t err_size)
{
    hls *h = priv;
    int ret = lb_config_apply(sec, hls_options, &h->set, err, err_size);
    if (ret < 0)
        return ret;
    int plain = *h->set.name != 0;
    for (const char *c = h->set.name; *c; c++)
        plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                 (*c >= '0' && *c <= '9') || *c == '-' || *c == '_';
    if (!plain) {
        lb_config_error(sec, "name", err, err_size, "'%s': use letters, digits, - and _",
                        h->set.name);
        return AVERROR(EINVAL);
    }
    size_t ul = strlen(h->set.url);
    if (ul && strncmp(h->set.url, "http://", 7) && strncmp(h->set.url, "https://", 8)) {
        lb_config_error(sec, "url", err, err_size, "'%s' is not an http:// or https:// URL",
                        h->set.url);
        return AVERROR(EINVAL);
    }
    if (ul && h->set.url[ul - 1] != '/') {
        if (ul + 1 >= sizeof h->set.url) {
            lb_config_error(sec, "url", err, err_size, "too long");
            return AVERROR(EINVAL);
        }
        h->set.url[ul] = '/';             /* a folder on the origin */
        h->set.url[ul + 1] = 0;
    }
    if (h->set.part_s > 0 && h->set.part_s < 0.1) {
        lb_config_error(sec, "part_s", err, err_size, "%g: use 0 (off) or 0.1 to 1 seconds",
                        h->set.part_s);
        return AVERROR(EINVAL);
    }
    if (h->set.part_s > 0 && (h->set.part_s * 2 > h->set.segment_s ||
                              ceil(h->set.segment_s / h->set.part_s) + 2 > MAX_PARTS)) {
        lb_config_error(sec, "part_s", err, err_size,
                        "%g: a segment (segment_s = %g) holds 2 to %d parts", h->set.part_s,
                        h->set.segment_s, MAX_PARTS - 2);
        return AVERROR(EINVAL);
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->push_cond, &ca);
    pthread_condattr_destroy(&ca);
    h->lock_init = 1;
    snprintf(h->state, sizeof h->state, "idle");
    return 0;
}

/* Rename-only replacement: live files need atomicity, not durability. */
static int write_bytes_replace(const char *path, const uint8_t *data, size_t len)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return AVERROR(errno);
    int ok = fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) < 0) {
        int e = errno ? errno : EIO;
        unlink(tmp);
        return AVERROR(e);
    }
    return 0;
}

static int write_replace(const char *path, const char *text)
{
    return write_bytes_replace(path, (const uint8_t *)text, strlen(text));
}

static void segment_name(const hls *h, const variant *v, int64_t seq, char *buf, size_t size)
{
    (void)h;
    snprintf(buf, size, "%s-%lld.ts", v->name, (long long)seq);
}

static void playlist_name(const hls *h, const variant *v, char *buf, size_t size)
{
    if (h->nb_vars == 1)
        snprintf(buf, size, "%s.m3u8", h->set.name);
    else
        snprintf(buf, size, "%s.m3u8", v->name);
}

/* The first segment of the window a playlist lists, and its
 * DISCONTINUITY-SEQUENCE: discontinuities that left the playlist count in
 * it; lock held. */
static int window_first(const hls *h, const variant *v, int64_t *disc_seq)
{
    int first = v->nb_window - h->set.list_size;
    if (first < 0)
        first = 0;
    *disc_seq = v->discontinuity_seq;
    for (int i = 0; i < first; i++)
        *disc_seq += v->window[i].discontinuity;
    return first;
}

/* A PROGRAM-DATE-TIME value, "2026-12-05T02:13:00.123Z". */
static void pdt_text(int64_t wall_us, char *buf, size_t size)
{
    char date[64];
    time_t secs = (time_t)(wall_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", date, (int)(wall_us / 1000 % 1000));
}

/* The media playlist of a variant; lock held. */
static char *media_playlist(const hls *h, const variant *v, int endlist)
{
    size_t cap = 1024 + (size_t)v->nb_window * 256, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    int64_t disc_seq;
    int first = window_first(h, v, &disc_seq);
    n += (size_t)snprintf(buf + n, cap - n,
                          "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n"
                          "#EXT-X-MEDIA-SEQUENCE:%lld\n#EXT-X-DISCONTINUITY-SEQUENCE:%lld\n",
                          v->target_s, (long long)(v->nb_window ? v->window[first].seq : v->next_seq),
                          (long long)disc_seq);
    for (int i = first; i < v->nb_window; i++) {
        const segment *s = &v->window[i];
        char name[128], date[64];
        pdt_text(s->pdt_wall_us, date, sizeof date);
        segment_name(h, v, s->seq, name, sizeof name);
        n += (size_t)snprintf(buf + n, cap - n, "%s#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:%.3f,\n%s\n",
                              s->discontinuity ? "#EXT-X-DISCONTINUITY\n" : "", date, s->duration_s, name);
    }
    if (endlist)
        snprintf(buf + n, cap - n, "#EXT-X-ENDLIST\n");
    return buf;
}

/* "avc1.64001f" from the SPS in the extradata (Annex B or avcC). */
static void avc_codec_string(const AVCodecParameters *par, char *buf, size_t size)
{
    const uint8_t *e = par->extradata;
    int n = par->extradata_size;
    snprintf(buf, size, "avc1.640028");
    if (!e || n < 4)
        return;
    if (e[0] == 1) {
        snprintf(buf, size, "avc1.%02x%02x%02x", e[1], e[2], e[3]);
        return;
    }
    for (int i = 0; i + 4 < n; i++) {
        if (e[i] == 0 && e[i + 1] == 0 && e[i + 2] == 1 && (e[i + 3] & 0x1f) == 7 && i + 6 < n) {
            snprintf(buf, size, "avc1.%02x%02x%02x", e[i + 4], e[i + 5], e[i + 6]);
            return;
        }
    }
}

/* Bits per second on the wire of an elementary stream of payload_bps in
 * units_per_s PES packets (frames, or packed audio) with header_bytes each:
 * 188-byte TS packets of 184 payload bytes, and the last packet of each
 * PES half stuffed on average. */
static int64_t ts_bps(int64_t payload_bps, double units_per_s, int header_bytes)
{
    return (payload_bps + (int64_t)(units_per_s * (header_bytes + 92) * 8)) * 188 / 184;
}

/* BANDWIDTH, the peak bit rate of a variant's segments, as libavformat's
 * MPEG-TS muxer lays them out (see open_segment): the video at its rate in
 * one PES per frame (header, PCR, the AUD the muxer adds; 30 frames/s until
 * the frame duration is known), the audio in PES of at most MUX_DELAY_US / 2
 * or 2930 bytes, PAT and PMT ten times a second and an SDT twice, and 10%
 * for the encoders' variation (the AAC encoder's rate; x264's VBV lets the
 * first GOPs spend the buffer's initial fill: +6% seen in the second segment
 * of a 250 kbit/s rendition).  The program audio is in every variant.  A
 * variant whose whole segments came out bigger still declares what they
 * took. */
static int64_t variant_bandwidth(const hls *h, const variant *v)
{
    const AVCodecParameters *apar = h->audio_index >= 0 ? h->streams[h->audio_index].par : NULL;
    int64_t video = v->vpar->bit_rate > 0 ? v->vpar->bit_rate : (int64_t)v->vpar->width * v->vpar->height * 4;
    double fps = v->frame_us > 0 ? 1e6 / (double)v->frame_us : 30;
    int64_t bw = ts_bps(video, fps, 19 + 8 + 6);
    if (apar) {
        int64_t audio = apar->bit_rate > 0 ? apar->bit_rate : 128000;
        double frames = (apar->sample_rate > 0 ? apar->sample_rate : 48000) / 1024.0;
        audio += (int64_t)(frames * 7 * 8);                    /* ADTS headers */
        double pes = audio / 8.0 / 2930;
        if (pes < 2e6 / MUX_DELAY_US)
            pes = 2e6 / MUX_DELAY_US;
        bw += ts_bps(audio, pes, 14);
    }
    bw += 22 * 188 * 8;
    return FFMAX(bw * 11 / 10, v->peak_bps);
}

static char *master_playlist(hls *h)
{
    size_t cap = 256 + (size_t)h->nb_vars * 512, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    const AVCodecParameters *apar = h->audio_index >= 0 ? h->streams[h->audio_index].par : NULL;
    n += (size_t)snprintf(buf + n, cap - n, "#EXTM3U\n#EXT-X-VERSION:3\n");
    for (int i = 0; i < h->nb_vars; i++) {
        variant *v = &h->vars[i];
        char codecs[64], name[128];
        avc_codec_string(v->vpar, codecs, sizeof codecs);
        v->declared_bps = variant_bandwidth(h, v);
        playlist_name(h, v, name, sizeof name);
        n += (size_t)snprintf(buf + n, cap - n,
                              "#EXT-X-STREAM-INF:BANDWIDTH=%lld,RESOLUTION=%dx%d,CODECS=\"%s%s\"\n%s\n",
                              (long long)v->declared_bps, v->vpar->width, v->vpar->height, codecs,
                              apar ? ",mp4a.40.2" : "", name);
    }
    return buf;
}

/* ---- low latency: names and the playlist ---- */

static void ll_playlist_name(const hls *h, char *buf, size_t size)
{
    snprintf(buf, size, "%s.ll.m3u8", h->set.name);
}

static void ll_segment_name(const variant *v, int64_t seq, char *buf, size_t size)
{
    snprintf(buf, size, "%s-ll-%lld.m4s", v->name, (long long)seq);
}

static void ll_part_name(const variant *v, int64_t seq, int part, char *buf, size_t size)
{
    snprintf(buf, size, "%s-ll-%lld.%d.m4s", v->name, (long long)seq, part);
}

static void ll_map_name(const variant *v, int map_id, char *buf, size_t size)
{
    snprintf(buf, size, "%s-ll-init-%d.mp4", v->name, map_id);
}

static size_t ll_parts_text(char *buf, size_t cap, const variant *v, int64_t seq,
                            const float *parts_s, int nb_parts)
{
    size_t n = 0;
    char name[160];
    for (int p = 0; p < nb_parts && n < cap; p++) {
        ll_part_name(v, seq, p, name, sizeof name);
        n += (size_t)snprintf(buf + n, cap - n, "#EXT-X-PART:DURATION=%.5f,URI=\"%s\"%s\n",
                              parts_s[p], name, p == 0 ? ",INDEPENDENT=YES" : "");
    }
    return n;
}

/* The low-latency playlist (draft-pantos-hls-rfc8216bis): the window's
 * segments in fMP4, parts for the last three target durations (4.4.4.9:
 * older ones SHOULD go), the open segment's parts and the hint of the next
 * one; lock held. */
static char *ll_playlist(const hls *h, const variant *v, int endlist)
{
    size_t cap = 2048 + (size_t)v->nb_window * (512 + MAX_PARTS * 160) + MAX_PARTS * 160, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    int64_t disc_seq;
    int first = window_first(h, v, &disc_seq);
    double part_target = h->set.part_s;
    n += (size_t)snprintf(buf + n, cap - n,
                          "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:%d\n"
                          "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.3f\n"
                          "#EXT-X-PART-INF:PART-TARGET=%.3f\n"
                          "#EXT-X-MEDIA-SEQUENCE:%lld\n#EXT-X-DISCONTINUITY-SEQUENCE:%lld\n",
                          v->target_s, 3 * part_target, part_target,
                          (long long)(v->nb_window ? v->window[first].seq : v->next_seq),
                          (long long)disc_seq);
    /* where parts stop being listed: three target durations from the end */
    double tail_s = 0;
    for (int p = 0; p < v->nb_parts; p++)
        tail_s += v->parts_s[p];
    int parts_from = v->nb_window;
    for (int i = v->nb_window - 1; i >= first && tail_s < 3.0 * v->target_s; i--) {
        tail_s += v->window[i].duration_s;
        parts_from = i;
    }
    int map = -1;
    for (int i = first; i < v->nb_window; i++) {
        const segment *s = &v->window[i];
        char name[160], date[64];
        pdt_text(s->pdt_wall_us, date, sizeof date);
        if (s->discontinuity)
            n += (size_t)snprintf(buf + n, cap - n, "#EXT-X-DISCONTINUITY\n");
        if (s->map_id != map) {
            map = s->map_id;
            ll_map_name(v, map, name, sizeof name);
            n += (size_t)snprintf(buf + n, cap - n, "#EXT-X-MAP:URI=\"%s\"\n", name);
        }
        n += (size_t)snprintf(buf + n, cap - n, "#EXT-X-PROGRAM-DATE-TIME:%s\n", date);
        if (i >= parts_from)
            n += ll_parts_text(buf + n, cap - n, v, s->seq, s->parts_s, s->nb_parts);
        ll_segment_name(v, s->seq, name, sizeof name);
        n += (size_t)snprintf(buf + n, cap - n, "#EXTINF:%.5f,\n%s\n", s->duration_s, name);
    }
    if (endlist) {
        snprintf(buf + n, cap - n, "#EXT-X-ENDLIST\n");
        return buf;
    }
    char name[160];
    if (v->ll_seg) {                       /* the open segment */
        if (v->cur_discontinuity && v->nb_window)
            n += (size_t)snprintf(buf + n, cap - n, "#EXT-X-DISCONTINUITY\n");
        if (v->map_id != map) {
            ll_map_name(v, v->map_id, name, sizeof name);
            n += (size_t)snprintf(buf + n, cap - n, "#EXT-X-MAP:URI=\"%s\"\n", name);
        }
        n += ll_parts_text(buf + n, cap - n, v, v->next_seq, v->parts_s, v->nb_parts);
    }
    /* the next part: of the open segment, or the first of the next one */
    ll_part_name(v, v->next_seq, v->ll_seg ? v->nb_parts : 0, name, sizeof name);
    snprintf(buf + n, cap - n, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s\"\n", name);
    return buf;
}

static int write_ll_playlist(hls *h, const variant *v, int endlist)
{
    char path[PATH_MAX], name[128];
    ll_playlist_name(h, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
    pthread_mutex_lock(&h->lock);
    char *text = ll_playlist(h, v, endlist);
    pthread_mutex_unlock(&h->lock);
    int ret = text ? write_replace(path, text) : AVERROR(ENOMEM);
    free(text);
    return ret;
}

static int write_playlists(hls *h, int endlist)
{
    char path[PATH_MAX], name[128];
    int ret = 0;
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < h->nb_vars; i++) {
        char *text = media_playlist(h, &h->vars[i], endlist);
        playlist_name(h, &h->vars[i], name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
        int r = text ? write_replace(path, text) : AVERROR(ENOMEM);
        free(text);
        if (r < 0 && ret == 0)
            ret = r;
    }
    h->push_dirty = 1;
    pthread_cond_signal(&h->push_cond);
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < h->nb_vars && ret >= 0; i++)
        if (h->vars[i].ll && !h->vars[i].ll_failed)
            ret = write_ll_playlist(h, &h->vars[i], endlist);
    if (ret < 0) {
        LB_LOGE("hls", "%s: cannot write the playlist: %s", h->set.dir, av_err2str(ret));
        set_state(h, "failed", "cannot write the playlist");
    }
    return ret;
}

static int write_master(hls *h)
{
    char path[PATH_MAX];
    if (h->nb_vars < 2)
        return 0;
    char *text = master_playlist(h);
    if (!text)
        return AVERROR(ENOMEM);
    snprintf(path, sizeof path, "%s/%s.m3u8", h->set.dir, h->set.name);
    int ret = write_replace(path, text);
    free(text);
    return ret;
}

/* ---- low latency: the fragmented MP4 muxer ---- */

static int ll_write_cb(void *opaque, uint8_t *data, int size)
{
    variant *v = opaque;
    if (v->ll_len + (size_t)size > v->ll_cap) {
        size_t cap = FFMAX(v->ll_cap * 2, v->ll_len + (size_t)size + 65536);
        uint8_t *grown = realloc(v->ll_buf, cap);
        if (!grown)
            return AVERROR(ENOMEM);
        v->ll_buf = grown;
        v->ll_cap = cap;
    }
    memcpy(v->ll_buf + v->ll_len, data, (size_t)size);
    v->ll_len += (size_t)size;
    return size;
}

static void ll_close_muxer(variant *v)
{
    if (!v->mp4)
        return;
    /* no trailer: every fragment is out, and the parts are the files */
    if (v->mp4->pb)
        av_freep(&v->mp4->pb->buffer);
    avio_context_free(&v->mp4->pb);
    avformat_free_context(v->mp4);
    v->mp4 = NULL;
}

/* Low latency stops for this run (a write failed): its playlist goes, so
 * the viewer page takes the MPEG-TS one. */
static void ll_fail(hls *h, variant *v, const char *what, int err)
{
    char path[PATH_MAX], name[128];
    LB_LOGE("hls", "%s: low-latency %s: %s; only the MPEG-TS playlist from now on", v->name, what,
            av_err2str(err));
    v->ll_failed = 1;
    ll_close_muxer(v);
    if (v->ll_seg)
        fclose(v->ll_seg);
    v->ll_seg = NULL;
    ll_playlist_name(h, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
    unlink(path);
}

/* One muxer per run of the timeline: its init segment is the EXT-X-MAP of
 * the segments until the next discontinuity.  frag_discont without edit
 * lists puts each track's own decode time in tfdt, so audio and video keep
 * their offset and a new muxer continues the timeline. */
static int ll_open_muxer(hls *h, variant *v)
{
    AVDictionary *opts = NULL;
    char path[PATH_MAX], name[160];
    int ret;
    ll_close_muxer(v);
    v->ll_len = 0;
    if ((ret = avformat_alloc_output_context2(&v->mp4, NULL, "mp4", NULL)) < 0)
        return ret;
    AVStream *vs = avformat_new_stream(v->mp4, NULL);
    if (!vs || (ret = avcodec_parameters_copy(vs->codecpar, v->vpar)) < 0)
        goto fail;
    vs->codecpar->codec_tag = 0;
    vs->time_base = (AVRational){ 1, 90000 };
    v->mp4_video = vs->index;
    v->mp4_audio = -1;
    if (h->audio_index >= 0) {
        const AVCodecParameters *apar = h->streams[h->audio_index].par;
        AVStream *as = avformat_new_stream(v->mp4, NULL);
        if (!as || (ret = avcodec_parameters_copy(as->codecpar, apar)) < 0)
            goto fail;
        as->codecpar->codec_tag = 0;
        as->time_base = (AVRational){ 1, apar->sample_rate > 0 ? apar->sample_rate : 48000 };
        v->mp4_audio = as->index;
    }
    uint8_t *iobuf = av_malloc(4096);
    if (!iobuf || !(v->mp4->pb = avio_alloc_context(iobuf, 4096, 1, v, NULL, ll_write_cb, NULL))) {
        av_free(iobuf);
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    v->mp4->flags |= AVFMT_FLAG_CUSTOM_IO;
    av_dict_set(&opts, "movflags", "frag_custom+empty_moov+default_base_moof+frag_discont+skip_trailer", 0);
    av_dict_set(&opts, "use_editlist", "0", 0);
    av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
    if ((ret = avformat_write_header(v->mp4, &opts)) < 0)
        goto fail;
    av_dict_free(&opts);
    avio_flush(v->mp4->pb);
    if (v->mp4->pb->error < 0) {
        ret = v->mp4->pb->error;
        goto fail;
    }
    /* numbered by the first segment it serves: unique across runs */
    v->map_id = (int)(v->next_seq % 1000000000);
    ll_map_name(v, v->map_id, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
    ret = write_bytes_replace(path, v->ll_buf, v->ll_len);
    v->ll_len = 0;
    if (ret < 0)
        goto fail;
    return 0;
fail:
    av_dict_free(&opts);
    ll_close_muxer(v);
    return ret < 0 ? ret : AVERROR(ENOMEM);
}

/* A packet (program time base, µs) into one of a variant's muxers (the
 * segment's MPEG-TS or the parts' fMP4), on the timeline they share. */
static int mux_into(AVFormatContext *oc, int index, const AVPacket *in)
{
    AVPacket *pkt = av_packet_clone(in);
    if (!pkt)
        return AVERROR(ENOMEM);
    pkt->pts += TS_OFFSET_US;
    if (pkt->dts != AV_NOPTS_VALUE)
        pkt->dts += TS_OFFSET_US;
    av_packet_rescale_ts(pkt, AV_TIME_BASE_Q, oc->streams[index]->time_base);
    pkt->stream_index = index;
    pkt->opaque = NULL;
    int ret = av_write_frame(oc, pkt);
    av_packet_free(&pkt);
    return ret;
}

/* Ends the open part at end_us: one fragment, written as the part's file
 * and appended to the segment's. */
static int ll_end_part(hls *h, variant *v, int64_t end_us)
{
    char path[PATH_MAX], name[160];
    int ret;
    if (!v->mp4 || !v->ll_seg || !v->part_frames)
        return 0;
    if ((ret = av_write_frame(v->mp4, NULL)) < 0)
        return ret;
    avio_flush(v->mp4->pb);
    if (v->mp4->pb->error < 0)
        return v->mp4->pb->error;
    if (v->nb_parts == MAX_PARTS)    /* configure keeps segments shorter */
        return AVERROR(ERANGE);
    ll_part_name(v, v->next_seq, v->nb_parts, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
    if ((ret = write_bytes_replace(path, v->ll_buf, v->ll_len)) < 0)
        return ret;
    if (fwrite(v->ll_buf, 1, v->ll_len, v->ll_seg) != v->ll_len || fflush(v->ll_seg) != 0)
        return AVERROR(EIO);
    v->ll_len = 0;
    double dur = (double)(end_us - v->part_start_us) / 1e6;
    v->parts_s[v->nb_parts++] = (float)(dur > 0.001 ? dur : 0.001);
    v->part_start_us = end_us;
    v->part_frames = 0;
    return 0;
}

static void ll_start_segment(hls *h, variant *v, int64_t start_us)
{
    int ret;
    if (!v->ll || v->ll_failed)
        return;
    if ((!v->mp4 || v->cur_discontinuity) && (ret = ll_open_muxer(h, v)) < 0) {
        ll_fail(h, v, "muxer", ret);
        return;
    }
    snprintf(v->ll_seg_tmp, sizeof v->ll_seg_tmp, "%s/%s-ll.m4s.tmp", h->set.dir, v->name);
    if (!(v->ll_seg = fopen(v->ll_seg_tmp, "we"))) {
        ll_fail(h, v, v->ll_seg_tmp, AVERROR(errno));
        return;
    }
    v->nb_parts = 0;
    v->part_frames = 0;
    v->part_start_us = start_us;
}

/* The open segment's last part; its file gets the segment's name.  0 when
 * the segment is whole (the caller then lists its parts). */
static int ll_end_segment(hls *h, variant *v, int64_t seq, int64_t end_us)
{
    char path[PATH_MAX], name[160];
    int ret;
    if (!v->ll_seg)
        return -1;
    ret = ll_end_part(h, v, end_us);
    int closed = fclose(v->ll_seg);
    v->ll_seg = NULL;
    ll_segment_name(v, seq, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
    if (ret >= 0 && closed != 0)
        ret = AVERROR(EIO);
    if (ret >= 0 && rename(v->ll_seg_tmp, path) < 0)
        ret = AVERROR(errno);
    if (ret < 0) {
        unlink(v->ll_seg_tmp);
        ll_fail(h, v, "segment", ret);
        return ret;
    }
    return 0;
}

static void ll_unlink_segment(const hls *h, const variant *v, const segment *s)
{
    char path[PATH_MAX], name[160];
    ll_segment_name(v, s->seq, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
    unlink(path);
    for (int p = 0; p < s->nb_parts; p++) {
        ll_part_name(v, s->seq, p, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
        unlink(path);
    }
}

/* ---- segments ---- */

static void close_segment(hls *h, variant *v, int64_t end_us)
{
    char path[PATH_MAX], name[128];
    if (!v->ts)
        return;
    av_write_trailer(v->ts);
    int err = v->ts->pb ? v->ts->pb->error : 0;
    avio_closep(&v->ts->pb);
    avformat_free_context(v->ts);
    v->ts = NULL;
    int64_t seq = v->next_seq;
    int ll_whole = v->ll ? ll_end_segment(h, v, seq, end_us) == 0 : 0;
    v->next_seq++;
    segment_name(h, v, seq, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
    if (err < 0 || rename(v->tmp_path, path) < 0) {
        LB_LOGE("hls", "%s: cannot write: %s", path, err < 0 ? av_err2str(err) : strerror(errno));
        unlink(v->tmp_path);
        v->pending_discontinuity = 1;            /* a segment is missing */
        return;
    }
    double dur = (double)(end_us - v->seg_start_us) / 1e6;
    if (dur < 0.001)
        dur = 0.001;
    struct stat st;
    if (dur >= h->set.segment_s / 2 && stat(path, &st) == 0) {
        int64_t bps = (int64_t)((double)st.st_size * 8 / dur);
        if (bps > v->declared_bps && v->declared_bps > 0) {
            LB_LOGI("hls", "%s: a segment took %lld bit/s, above BANDWIDTH %lld: the master says so now",
                    v->name, (long long)bps, (long long)v->declared_bps);
            v->peak_bps = bps * 21 / 20;
            write_master(h);
        }
    }
    pthread_mutex_lock(&h->lock);
    segment *s = &v->window[v->nb_window++];
    *s = (segment){ .seq = seq, .duration_s = dur,
                    .pdt_wall_us = h->wall_base_us + v->seg_start_us,
                    .discontinuity = v->cur_discontinuity, .map_id = v->map_id };
    if (ll_whole) {
        s->nb_parts = v->nb_parts;
        memcpy(s->parts_s, v->parts_s, sizeof s->parts_s);
    }
    v->nb_parts = 0;
    /* RFC 8216 4.3.3.1: the target duration never changes in a live
     * playlist, and every EXTINF rounded is at most it; the cut below keeps
     * segments within it, so a longer one is a bug worth a line */
    if ((int)lround(dur) > v->target_s && !v->too_long_warned++)
        LB_LOGW("hls", "%s: a segment of %.3f s is longer than the target duration %d s "
                "(key frames missing from the stream?)", v->name, dur, v->target_s);
    /* Segments past the playlist and the kept ones go, locally now and on
     * the origin with the push thread's next pass. */
    int limit = h->set.list_size + h->set.keep_segments;
    while (v->nb_window > limit) {
        segment *old = &v->window[0];
        if (old->discontinuity)
            v->discontinuity_seq++;
        segment_name(h, v, old->seq, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
        unlink(path);
        if (v->ll)
            ll_unlink_segment(h, v, old);
        if (old->pushed) {
            if (v->nb_expired == MAX_WINDOW) {   /* origin gone for long: forget the oldest */
                memmove(v->expired, v->expired + 1, sizeof *v->expired * (MAX_WINDOW - 1));
                v->nb_expired--;
            }
            v->expired[v->nb_expired++] = old->seq;
        }
        memmove(v->window, v->window + 1, sizeof *v->window * (size_t)(v->nb_window - 1));
        v->nb_window--;
    }
    pthread_mutex_unlock(&h->lock);
    write_playlists(h, 0);
}

static int open_segment(hls *h, variant *v, int64_t start_us)
{
    int ret;
    AVDictionary *opts = NULL;
    snprintf(v->tmp_path, sizeof v->tmp_path, "%s/%s.ts.tmp", h->set.dir, v->name);
    if ((ret = avformat_alloc_output_context2(&v->ts, NULL, "mpegts", v->tmp_path)) < 0)
        return ret;
    AVStream *vs = avformat_new_stream(v->ts, NULL);
    if (!vs) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    if ((ret = avcodec_parameters_copy(vs->codecpar, v->vpar)) < 0)
        goto fail;
    vs->codecpar->codec_tag = 0;
    vs->time_base = (AVRational){ 1, 90000 };
    v->ts_video = vs->index;
    v->ts_audio = -1;
    if (h->audio_index >= 0) {
        AVStream *as = avformat_new_stream(v->ts, NULL);
        if (!as) {
            ret = AVERROR(ENOMEM);
            goto fail;
        }
        if ((ret = avcodec_parameters_copy(as->codecpar, h->streams[h->audio_index].par)) < 0)
            goto fail;
        as->codecpar->codec_tag = 0;
        as->time_base = (AVRational){ 1, 90000 };
        v->ts_audio = as->index;
    }
    if ((ret = avio_open(&v->ts->pb, v->tmp_path, AVIO_FLAG_WRITE)) < 0)
        goto fail;
    v->ts->max_delay = MUX_DELAY_US;
    /* The same timeline in every segment: no per-muxer shifting. */
    av_dict_set(&opts, "mpegts_copyts", "1", 0);
    av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
    if ((ret = avformat_write_header(v->ts, &opts)) < 0)
        goto fail;
    av_dict_free(&opts);
    v->seg_start_us = start_us;
    v->cur_discontinuity = v->pending_discontinuity;
    v->pending_discontinuity = 0;
    ll_start_segment(h, v, start_us);
    return 0;
fail:
    av_dict_free(&opts);
    if (v->ts)
        avio_closep(&v->ts->pb);
    avformat_free_context(v->ts);
    v->ts = NULL;
    unlink(v->tmp_path);
    LB_LOGE("hls", "%s: cannot open a segment: %s", h->set.dir, av_err2str(ret));
    return ret;
}

/* Deletes our files left in dir by an earlier run. */
static void clean_dir(hls *h)
{
    DIR *d = opendir(h->set.dir);
    if (!d)
        return;
    size_t nl = strlen(h->set.name);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        int ours = !strncmp(e->d_name, h->set.name, nl) &&
                   ((l > 3 && !strcmp(e->d_name + l - 3, ".ts")) ||
                    (l > 5 && !strcmp(e->d_name + l - 5, ".m3u8")) ||
                    (l > 4 && !strcmp(e->d_name + l - 4, ".tmp")) ||
                    (l > 4 && !strcmp(e->d_name + l - 4, ".m4s")) ||
                    (l > 4 && !strcmp(e->d_name + l - 4, ".mp4")));
        if (ours) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", h->set.dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* "#EXT-X-...:N" as we write it: N decimal, below 2^53 (players keep
 * sequence numbers in a JavaScript number), then the end of the line.
 * 1 if line is that tag with such a number, 0 if it is another line, -1 if
 * it is that tag with anything else. */
static int tag_number(const char *line, const char *tag, int64_t *value)
{
    size_t n = strlen(tag);
    int64_t v = 0;
    if (strncmp(line, tag, n))
        return 0;
    const char *p = line + n;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((v = v * 10 + (*p - '0')) >= LB_HLS_MAX_SEQ)
            return -1;
    if (strcmp(p, "\n") && strcmp(p, "\r\n") && *p)
        return -1;
    *value = v;
    return 1;
}

int lb_hls_read_playlist(const char *path, int64_t *next_seq, int64_t *discontinuity_seq)
{
    char line[1024];
    FILE *f = fopen(path, "re");
    if (!f)
        return AVERROR(errno);
    int64_t mseq = -1, dseq = 0, value, nb_segments = 0, nb_disc = 0;
    int ret = 0, line_start = 1;
    while (ret >= 0 && fgets(line, sizeof line, f)) {
        /* the rest of a line longer than the buffer is no tag */
        int start = line_start;
        line_start = strchr(line, '\n') != NULL;
        if (!start)
            continue;
        int m = tag_number(line, "#EXT-X-MEDIA-SEQUENCE:", &value);
        int d = m ? 0 : tag_number(line, "#EXT-X-DISCONTINUITY-SEQUENCE:", &value);
        if (m < 0 || d < 0)
            ret = AVERROR_INVALIDDATA;
        else if (m)
            mseq = value;
        else if (d)
            dseq = value;
        else if (!strcmp(line, "#EXT-X-DISCONTINUITY\n") || !strcmp(line, "#EXT-X-DISCONTINUITY"))
            nb_disc++;
        else if (!strncmp(line, "#EXTINF:", 8))
            nb_segments++;
    }
    fclose(f);
    if (ret < 0 || mseq < 0 || mseq + nb_segments >= LB_HLS_MAX_SEQ ||
        dseq + nb_disc >= LB_HLS_MAX_SEQ)
        return AVERROR_INVALIDDATA;       /* a master playlist, or not ours */
    *next_seq = mseq + nb_segments;
    *discontinuity_seq = dseq + nb_disc;
    return 0;
}

/* A playlist left in the folder by an earlier run (of this process or of
 * one that stopped or crashed): the new run goes on from it, so that a
 * player that follows across the restart sees sequence numbers that keep
 * growing and an EXT-X-DISCONTINUITY where the timeline starts again. */
static void continue_previous(hls *h, variant *v)
{
    char path[PATH_MAX], name[128];
    int64_t next_seq, discontinuity_seq;
    playlist_name(h, v, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
    int ret = lb_hls_read_playlist(path, &next_seq, &discontinuity_seq);
    if (ret == AVERROR_INVALIDDATA)
        LB_LOGW("hls", "%s: not a media playlist of ours (or its numbers are out of range): "
                "starting afresh", path);
    if (ret < 0)
        return;
    if (v->next_seq < next_seq)
        v->next_seq = next_seq;
    /* its discontinuity tags leave with its segments */
    v->discontinuity_seq = discontinuity_seq;
    v->pending_discontinuity = 1;
}

/* ---- push ---- */

static size_t discard_body(char *ptr, size_t size, size_t n, void *opaque)
{
    return size * n;
}

/* One request; 0 on 2xx (and on 404 for DELETE). */
static int http_request(hls *h, const char *method, const char *name, const char *local_path)
{
    char url[2048], err[CURL_ERROR_SIZE] = "";
    FILE *f = NULL;
    int ret = 0;
    snprintf(url, sizeof url, "%s%s", h->set.url, name);
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->set.push_timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    if (!strcmp(method, "PUT")) {
        struct stat st;
        if (!(f = fopen(local_path, "rbe")) || fstat(fileno(f), &st) < 0) {
            if (f)
                fclose(f);
            return 1;                       /* gone locally: nothing to push */
        }
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, f);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (f)
        fclose(f);
    if (cc != CURLE_OK) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s %s: %s", method, url, *err ? err : curl_easy_strerror(cc));
        set_state(h, NULL, msg);
        ret = AVERROR(EIO);
    } else if (status / 100 != 2 && !(status == 404 && strcmp(method, "PUT"))) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s %s: HTTP %ld", method, url, status);
        set_state(h, NULL, msg);
        ret = AVERROR(EIO);
    }
    return ret;
}

/* One reconciliation of the origin with the local window. */
static int push_pass(hls *h)
{
    char name[128], path[PATH_MAX];
    int ret;
    for (int vi = 0; vi < h->nb_vars; vi++) {
        variant *v = &h->vars[vi];
        for (;;) {
            /* the oldest segment of the playlist not on the origin yet */
            int64_t seq = -1;
            pthread_mutex_lock(&h->lock);
            int first = v->nb_window - h->set.list_size;
            for (int i = first < 0 ? 0 : first; i < v->nb_window; i++) {
                if (!v->window[i].pushed) {
                    seq = v->window[i].seq;
                    break;
                }
            }
            pthread_mutex_unlock(&h->lock);
            if (seq < 0)
                break;
            segment_name(h, v, seq, name, sizeof name);
            snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
            if ((ret = http_request(h, "PUT", name, path)) < 0)
                return ret;
            /* pushed, or (ret 1) gone locally meanwhile: either way done */
            pthread_mutex_lock(&h->lock);
            for (int i = 0; i < v->nb_window; i++)
                if (v->window[i].seq == seq)
                    v->window[i].pushed = 1;
            pthread_mutex_unlock(&h->lock);
        }
    }
    /* playlists after their segments */
    for (int vi = 0; vi < h->nb_vars; vi++) {
        playlist_name(h, &h->vars[vi], name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
        if ((ret = http_request(h, "PUT", name, path)) < 0)
            return ret;
    }
    if (h->nb_vars > 1) {
        snprintf(name, sizeof name, "%s.m3u8", h->set.name);
        snprintf(path, sizeof path, "%s/%s", h->set.dir, name);
        if ((ret = http_request(h, "PUT", name, path)) < 0)
            return ret;
    }
    /* then what left the window */
    for (int vi = 0; vi < h->nb_vars; vi++) {
        variant *v = &h->vars[vi];
        for (;;) {
            int64_t seq = -1;
            pthread_mutex_lock(&h->lock);
            if (v->nb_expired)
                seq = v->expired[0];
            pthread_mutex_unlock(&h->lock);
            if (seq < 0)
                break;
            segment_name(h, v, seq, name, sizeof name);
            if ((ret = http_request(h, "DELETE", name, NULL)) < 0)
                return ret;
            pthread_mutex_lock(&h->lock);
            if (v->nb_expired && v->expired[0] == seq) {
                memmove(v->expired, v->expired + 1, sizeof *v->expired * (size_t)(v->nb_expired - 1));
                v->nb_expired--;
            }
            pthread_mutex_unlock(&h->lock);
        }
    }
    return 0;
}

static void *push_loop(void *arg)
{
    hls *h = arg;
    int backoff_ms = 0;
    for (;;) {
        pthread_mutex_lock(&h->lock);
        int64_t deadline = lb_clock_now() + (backoff_ms ? backoff_ms * 1000LL : 1000000);
        while (!h->push_final && (backoff_ms || !h->push_dirty)) {
            struct timespec ts = { deadline / 1000000, (deadline % 1000000) * 1000 };
            if (pthread_cond_timedwait(&h->push_cond, &h->lock, &ts) == ETIMEDOUT)
                break;
        }
        int final = h->push_final;
        h->push_dirty = 0;
        pthread_mutex_unlock(&h->lock);

        int ret = push_pass(h);
        pthread_mutex_lock(&h->lock);
        if (ret < 0) {
            h->push_failures++;
            if (!h->origin_down)
                LB_LOGW("hls", "origin %s: %s; retrying", h->set.url, h->last_error);
            h->origin_down = 1;
            snprintf(h->state, sizeof h->state, "lost");
            backoff_ms = backoff_ms ? backoff_ms * 2 : 500;
            if (backoff_ms > 5000)
                backoff_ms = 5000;
        } else {
            if (h->origin_down) {
                h->reconnects++;
                h->last_error[0] = 0;
                LB_LOGI("hls", "origin %s: pushing again", h->set.url);
            }
            h->origin_down = 0;
            backoff_ms = 0;
            snprintf(h->state, sizeof h->state, "live");
        }
        pthread_mutex_unlock(&h->lock);
        if (final || atomic_load(&h->stop))
            break;
    }
    return NULL;
}

/* ---- the output ---- */

static int hls_open(void *priv, const lb_stream_desc *streams, int nb_streams, const char *dir)
{
    hls *h = priv;
    int ret;
    h->streams = streams;
    h->nb_streams = nb_streams;
    h->audio_index = -1;
    h->nb_vars = 0;
    h->have_wall_base = 0;
    h->push_final = 0;
    h->push_dirty = 0;
    atomic_store(&h->stop, 0);
    if (!*h->set.dir)
        snprintf(h->set.dir, sizeof h->set.dir, "live");
    for (int i = 0; i < nb_streams; i++) {
        const lb_stream_desc *sd = &streams[i];
        if (sd->kind == LB_STREAM_PROGRAM_AUDIO && h->audio_index < 0)
            h->audio_index = i;
        if ((sd->kind == LB_STREAM_PROGRAM_VIDEO || sd->kind == LB_STREAM_RENDITION_VIDEO) &&
            h->nb_vars < MAX_VARIANTS) {
            variant *v = &h->vars[h->nb_vars++];
            memset(v, 0, sizeof *v);
            v->video_index = i;
            v->vpar = sd->par;
            v->keyint_us = sd->keyint_us;
            if (sd->kind == LB_STREAM_PROGRAM_VIDEO)
                snprintf(v->name, sizeof v->name, "%s", h->set.name);
            else
                snprintf(v->name, sizeof v->name, "%s-%s", h->set.name, sd->name ? sd->name : "");
            /* a file and URL name: keep [A-Za-z0-9_-] */
            for (char *c = v->name; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
                    *c = '_';
            /* sequence numbers keep growing across restarts */
            v->next_seq = lb_clock_wall_us() / 1000000;
            v->target_s = (int)ceil(h->set.segment_s);
            v->pending_discontinuity = h->runs > 0;
            v->ll = sd->kind == LB_STREAM_PROGRAM_VIDEO && h->set.part_s > 0;
        }
    }
    if (h->nb_vars > 1) {
        /* the program variant gets its own playlist name besides the master */
        for (int i = 0; i < h->nb_vars; i++)
            if (!strcmp(h->vars[i].name, h->set.name))
                snprintf(h->vars[i].name, sizeof h->vars[i].name, "%s-main", h->set.name);
    }
    if (!h->nb_vars) {
        set_state(h, "failed", "no video stream");
        return AVERROR(EINVAL);
    }
    if ((ret = lb_mkdir_p(h->set.dir)) < 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "cannot create %s: %s", h->set.dir, av_err2str(ret));
        set_state(h, "failed", msg);
        LB_LOGE("hls", "%s", msg);
        return ret;
    }
    for (int i = 0; i < h->nb_vars; i++)
        continue_previous(h, &h->vars[i]);
    clean_dir(h);
    h->runs++;
    if ((ret = write_master(h)) < 0)
        return ret;
    if (*h->set.url) {
        if (!(h->curl = curl_easy_init()))
            return AVERROR(ENOMEM);
        if ((ret = lb_thread_start(&h->push_thread, "lb-hls-push", push_loop, h)) < 0)
            return ret;
        h->pushing = 1;
    }
    set_state(h, "waiting", "");
    LB_LOGI("hls", "live playlist %s/%s.m3u8 (%d variant%s, %.1f s segments)%s%s", h->set.dir,
            h->set.name, h->nb_vars, h->nb_vars > 1 ? "s" : "", h->set.segment_s,
            *h->set.url ? ", pushed to " : "", h->set.url);
    return 0;
}

static int hls_write(void *priv, const AVPacket *pkt)
{
    hls *h = priv;
    int si = pkt->stream_index, ret;
    if (si < 0 || si >= h->nb_streams || pkt->pts == AV_NOPTS_VALUE)
        return 0;
    if (si == h->audio_index) {
        for (int i = 0; i < h->nb_vars; i++) {
            variant *v = &h->vars[i];
            if (v->ts && pkt->pts >= v->seg_start_us - 500000 &&
                (ret = mux_into(v->ts, v->ts_audio, pkt)) < 0)
                LB_LOGW("hls", "%s: audio packet skipped: %s", v->name, av_err2str(ret));
            if (v->ll_seg && v->mp4_audio >= 0 && pkt->pts >= v->seg_start_us - 500000 &&
                (ret = mux_into(v->mp4, v->mp4_audio, pkt)) < 0)
                LB_LOGW("hls", "%s: low-latency audio packet skipped: %s", v->name, av_err2str(ret));
        }
        return 0;
    }
    for (int i = 0; i < h->nb_vars; i++) {
        variant *v = &h->vars[i];
        if (v->video_index != si)
            continue;
        int key = pkt->flags & AV_PKT_FLAG_KEY;
        /* a jump of the timeline (backwards, or a hole) is a discontinuity */
        if (v->ts && (pkt->pts < v->last_pts_us - 1000000 ||
                      pkt->pts > v->last_pts_us + (int64_t)(h->set.segment_s * 3e6) + 1000000)) {
            /* the segment ends where the old timeline did; the new one
             * starts at the next key frame */
            close_segment(h, v, v->last_pts_us);
            v->pending_discontinuity = 1;
        }
        if (!h->have_wall_base || v->pending_discontinuity) {
            h->wall_base_us = lb_clock_wall_us() - pkt->pts;
            h->have_wall_base = 1;
        }
        /* cut at a key frame once the segment is long enough, or when
         * waiting for the next one (at most a GOP away: key frames go by
         * time) would make it longer than the target, as after the extra
         * IDR of a recording's start */
        int64_t seg_us = (int64_t)(h->set.segment_s * 1e6), so_far = pkt->pts - v->seg_start_us;
        if (key && (!v->ts || v->pending_discontinuity || so_far >= seg_us - 1000 ||
                    (v->keyint_us > 0 && so_far + v->keyint_us > seg_us + 1000))) {
            close_segment(h, v, v->pending_discontinuity ? v->last_pts_us : pkt->pts);
            if (open_segment(h, v, pkt->pts) < 0)
                continue;
            set_state(h, h->pushing ? NULL : "live", NULL);
        }
        if (!v->ts)
            continue;                        /* waiting for a key frame */
        if (pkt->duration > 0)
            v->frame_us = pkt->duration;
        else if (v->prev_pts_us && pkt->pts - v->prev_pts_us > 0 && pkt->pts - v->prev_pts_us < 200000)
            v->frame_us = pkt->pts - v->prev_pts_us;
        v->prev_pts_us = pkt->pts;
        int64_t end = pkt->pts + (v->frame_us > 0 ? v->frame_us : 40000);
        if (end > v->last_pts_us || v->cur_discontinuity)
            v->last_pts_us = end;
        if ((ret = mux_into(v->ts, v->ts_video, pkt)) < 0)
            LB_LOGW("hls", "%s: video packet skipped: %s", v->name, av_err2str(ret));
        if (v->ll_seg) {
            /* a part ends before the frame that would make it longer than
             * PART-TARGET (decode order: no B-frames with zerolatency) */
            int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
            int64_t f = v->frame_us > 0 ? v->frame_us : 40000;
            if (v->part_frames && dts + f - v->part_start_us > (int64_t)(h->set.part_s * 1e6)) {
                if ((ret = ll_end_part(h, v, dts)) < 0)
                    ll_fail(h, v, "part", ret);
                else
                    write_ll_playlist(h, v, 0);
            }
            if (v->ll_seg) {
                if ((ret = mux_into(v->mp4, v->mp4_video, pkt)) < 0)
                    LB_LOGW("hls", "%s: low-latency video packet skipped: %s", v->name,
                            av_err2str(ret));
                v->part_frames++;
            }
        }
    }
    return 0;
}

static void hls_gap(void *priv)
{
    hls *h = priv;
    /* The segment ends at the hole; the next one starts at a key frame
     * (the queue resumes on one, unless it dropped everything). */
    for (int i = 0; i < h->nb_vars; i++) {
        close_segment(h, &h->vars[i], h->vars[i].last_pts_us);
        h->vars[i].pending_discontinuity = 1;
    }
}

static void hls_uninit(void *priv)
{
    hls *h = priv;
    if (h->lock_init) {
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->push_cond);
    }
    h->lock_init = 0;
}

static void hls_stats(void *priv, lb_output_stats *out)
{
    hls *h = priv;
    if (!h->lock_init)
        return;
    pthread_mutex_lock(&h->lock);
    snprintf(out->state, sizeof out->state, "%s", h->state);
    snprintf(out->last_error, sizeof out->last_error, "%s", h->last_error);
    out->reconnects = h->reconnects;
    pthread_mutex_unlock(&h->lock);
}

static void hls_close(void *priv)
{
    hls *h = priv;
    for (int i = 0; i < h->nb_vars; i++)
        close_segment(h, &h->vars[i], h->vars[i].last_pts_us);
    if (h->nb_vars)
        write_playlists(h, 1);
    for (int i = 0; i < h->nb_vars; i++) {
        variant *v = &h->vars[i];
        ll_close_muxer(v);
        free(v->ll_buf);
        v->ll_buf = NULL;
        v->ll_len = v->ll_cap = 0;
    }
    if (h->pushing) {
        /* one last pass so the origin ends with the final playlist, unless
         * the origin is down (then the stop must not wait for it) */
        pthread_mutex_lock(&h->lock);
        h->push_final = 1;
        if (h->origin_down)
            atomic_store(&h->stop, 1);
        pthread_cond_signal(&h->push_cond);
        pthread_mutex_unlock(&h->lock);
        lb_thread_join(&h->push_thread);
        h->pushing = 0;
    }
    if (h->curl)
        curl_easy_cleanup(h->curl);
    h->curl = NULL;
    h->nb_vars = 0;
    if (h->lock_init)
        set_state(h, "idle", NULL);
}

const lb_output_ops lb_output_hls = {
    .kind = "hls",
    .priv_size = sizeof(hls),
    .configure = hls_configure,
    .open = hls_open,
    .write = hls_write,
    .stats = hls_stats,
    .close = hls_close,
    .stream_kinds = KIND_BIT(LB_STREAM_PROGRAM_VIDEO) | KIND_BIT(LB_STREAM_PROGRAM_AUDIO) |
                    KIND_BIT(LB_STREAM_RENDITION_VIDEO),
    .gap = hls_gap,
    .uninit = hls_uninit,
    .options = hls_options,
};
