/* Design note: the source framework.
 *
 * One thread per source runs the state machine around the kind's ops:
 *   connecting -> live -> (error) lost -> reconnecting (backoff 0.5 s ... 5 s)
 * and pushes decoded frames, stamped on the program timeline, into a small
 * queue.  The consumer (the program thread) takes the newest frame at or
 * before the time it composes; frames it skips are counted as dropped.
 *
 * Offline, the queue blocks the producer and the consumer waits until the
 * source has produced a frame past the requested time: the same frames are
 * chosen on every run.  Realtime, the queue drops the oldest frame and the
 * consumer never waits.
 *
 * Media time from the ops is mapped onto the program timeline: paced kinds
 * (files, synthetic) are slept until their time comes, live kinds (devices,
 * network) are stamped on arrival.  After a reconnect the mapping is made
 * anew, so timestamps never go backwards. */
#include "capture_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/common.h>
#include <libavutil/dict.h>
#include <libavutil/imgutils.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_redact.h"
#include "lb_thread.h"

static const lb_option_choice kind_choices[] = {
    { "synthetic", LB_KIND_SYNTHETIC },
    { "url", LB_KIND_URL },
    { "v4l2", LB_KIND_V4L2 },
    { NULL, 0 },
};

static const lb_option_choice mic_kind_choices[] = {
    { "synthetic", LB_KIND_SYNTHETIC },
    { "url", LB_KIND_URL },
    { "alsa", LB_KIND_ALSA },
    { NULL, 0 },
};

static const lb_option_choice decode_choices[] = {
    { "auto", LB_DECODE_AUTO },
    { "on_air", LB_DECODE_ON_AIR },
    { "full", LB_DECODE_FULL },
    { NULL, 0 },
};

static const lb_option_choice role_choices[] = {
    { "teacher", LB_ROLE_TEACHER },
    { "students", LB_ROLE_STUDENTS },
    { "board", LB_ROLE_BOARD },
    { "screen", LB_ROLE_SCREEN },
    { "wide", LB_ROLE_WIDE },
    { NULL, 0 },
};

#define OFF(x) offsetof(lb_source_settings, x)
#define STR(x) OFF(x), sizeof(((lb_source_settings *)0)->x)

const lb_option lb_source_options[] = {
    { "type", LB_OPT_ENUM, OFF(type), 0, NULL, 0, 0, kind_choices, "kind of camera" },
    { "role", LB_OPT_ENUM, OFF(role), 0, "wide", 0, 0, role_choices, "what the camera shows" },
    { "label", LB_OPT_STRING, STR(label), NULL, 0, 0, NULL, "the name shown in the web UI and on the \"no signal\" slate, any text such as 讲台 (NAME stays the name in files, URLs, logs and metrics); default: NAME" },
    { "device", LB_OPT_STRING, STR(device), NULL, 0, 0, NULL, "v4l2: /dev/videoN" },
    { "url", LB_OPT_STRING, STR(url), NULL, 0, 0, NULL, "url: rtsp://, srt://, rtmp://, http://, or a file" },
    { "analysis_url", LB_OPT_STRING, STR(analysis_url), NULL, 0, 0, NULL, "url: the camera's low-resolution sub-stream (an IP camera's second stream, e.g. 640x360): the director and the console's previews watch it instead of the main stream, which is then not decoded at all while the camera is off the air (decode = auto or on_air); while it gives no picture, the main stream is watched, decoded in full" },
    { "pattern", LB_OPT_STRING, STR(pattern), NULL, 0, 0, NULL, "synthetic: teacher, students, board, screen, bars (default: the role)" },
    { "graph", LB_OPT_STRING, STR(graph), NULL, 0, 0, NULL, "synthetic: a lavfi graph instead of the pattern" },
    { "format", LB_OPT_STRING, STR(format), NULL, 0, 0, NULL, "v4l2: mjpeg, yuyv, nv12, h264" },
    { "transport", LB_OPT_STRING, STR(transport), "tcp", 0, 0, NULL, "rtsp: tcp or udp" },
    { "width", LB_OPT_INT, OFF(width), 0, "0", 0, 7680, NULL, "requested width (0: the source's)" },
    { "height", LB_OPT_INT, OFF(height), 0, "0", 0, 4320, NULL, "requested height (0: the source's)" },
    { "fps", LB_OPT_INT, OFF(fps), 0, "0", 0, 240, NULL, "requested rate (0: the program's)" },
    { "loop", LB_OPT_BOOL, OFF(loop), 0, "false", 0, 0, NULL, "files: start again at the end" },
    { "timeout_ms", LB_OPT_INT, OFF(timeout_ms), 0, "2000", 100, 60000, NULL, "network read timeout" },
    { "threads", LB_OPT_INT, OFF(threads), 0, "1", 1, 16, NULL, "url, v4l2: decoding threads (one per camera uses the cores best when there are several cameras; more only for a camera one core cannot decode, e.g. 4K)" },
    { "decode", LB_OPT_ENUM, OFF(decode), 0, "auto", 0, 0, decode_choices, "url: on_air decodes only the key frames of a camera off the air (previews and the director's analysis then see one picture per GOP); auto does so only while no automatic director watches (an operator or a fixed shot directs); full always decodes every frame" },
    { "retry_max_ms", LB_OPT_INT, OFF(retry_max_ms), 0, "1000", 100, 5000, NULL, "longest wait between two attempts to reconnect" },
    { "sync_offset_ms", LB_OPT_INT, OFF(sync_offset_ms), 0, "0", -5000, 5000, NULL, "added to the timestamps: a camera whose picture lags its sound by 150 ms takes -150" },
    { NULL },
};

const lb_option lb_mic_options[] = {
    { "type", LB_OPT_ENUM, OFF(type), 0, NULL, 0, 0, mic_kind_choices, "kind of microphone" },
    { "role", LB_OPT_ENUM, OFF(role), 0, "teacher", 0, 0, role_choices, "whose voice it carries" },
    { "label", LB_OPT_STRING, STR(label), NULL, 0, 0, NULL, "the name shown in the web UI and on the \"no signal\" slate, any text such as 讲台 (NAME stays the name in files, URLs, logs and metrics); default: NAME" },
    { "device", LB_OPT_STRING, STR(device), NULL, 0, 0, NULL, "alsa: PCM name, e.g. hw:1,0" },
    { "url", LB_OPT_STRING, STR(url), NULL, 0, 0, NULL, "url: an audio file or a URL's audio" },
    { "transport", LB_OPT_STRING, STR(transport), "tcp", 0, 0, NULL, "url, rtsp: tcp or udp" },
    { "loop", LB_OPT_BOOL, OFF(loop), 0, "false", 0, 0, NULL, "files: start again at the end" },
    { "channels", LB_OPT_INT, OFF(channels), 0, "1", 1, 32, NULL, "alsa: channels to capture (mixed to mono)" },
    { "rate", LB_OPT_INT, OFF(rate), 0, "48000", 8000, 192000, NULL, "alsa: capture rate (resampled to 48 kHz)" },
    { "period_ms", LB_OPT_INT, OFF(period_ms), 0, "10", 1, 200, NULL, "alsa: period length" },
    { "gain_db", LB_OPT_DOUBLE, OFF(gain_db), 0, "0", -60, 40, NULL, "gain before the mixer" },
    { "mute", LB_OPT_BOOL, OFF(mute), 0, "false", 0, 0, NULL, "muted in the program" },
    { "frequency_hz", LB_OPT_DOUBLE, OFF(frequency_hz), 0, "440", 20, 20000, NULL, "synthetic: tone" },
    { "drift_ppm", LB_OPT_DOUBLE, OFF(drift_ppm), 0, "0", -10000, 10000, NULL, "synthetic: clock error to simulate" },
    { "speaks", LB_OPT_STRING, STR(speaks), "0-60", 0, 0, NULL, "synthetic: talking spans in each minute, e.g. 0-20,40-50" },
    { "timeout_ms", LB_OPT_INT, OFF(timeout_ms), 0, "2000", 100, 60000, NULL, "network read timeout" },
    { "retry_max_ms", LB_OPT_INT, OFF(retry_max_ms), 0, "1000", 100, 5000, NULL, "longest wait between two attempts to reopen" },
    { "sync_offset_ms", LB_OPT_INT, OFF(sync_offset_ms), 0, "0", -5000, 5000, NULL, "added to the timestamps: a mic whose sound lags the pictures by 40 ms takes -40" },
    { "pace", LB_OPT_BOOL, OFF(pace), 0, "false", 0, 0, NULL, "alsa: pace reads on the system clock (PCMs without a clock, e.g. the file plugin)" },
    { NULL },
};

/* The first retry comes soon (most losses are a camera's brief hiccup),
 * later ones double up to retry_max_ms: with the default of 1 s a camera
 * that returns is live again within about 1 s plus its connection time. */
#define FIRST_BACKOFF_US 250000
/* A frame stamped this little after the tick is taken for it: media time
 * rounded to microseconds (1/30 s is 33333.3 us) must not make a source at
 * the program's rate miss every third tick. */
#define DUE_SLACK_US 1000
#define QUEUE_DEPTH_REALTIME 12      /* bursts of a network stream (a TS over http or srt) */
/* ... but a time, not a count: a program behind real time (or catching up
 * by repeating its last picture) leaves the queues full, and 12 frames of
 * six 1080p cameras are 220 MB */
#define QUEUE_REALTIME_US 250000
#define QUEUE_DEPTH_OFFLINE 3
/* A camera going on the air is decoded in full from this many frames after
 * the tick that asks: more than an offline source can be ahead of the
 * program (its queue, a frame in hand, the decoder's delay), so that the
 * switch falls on the same frame in every run. */
#define ON_AIR_LEAD_FRAMES (QUEUE_DEPTH_OFFLINE + 4)

struct lb_source {
    char name[64];
    char log_name[80];
    char thread_name[16];
    lb_source_settings settings;
    lb_capture_params params;
    const lb_source_ops *ops;
    void *priv;
    lb_source_ctx ctx;
    atomic_int stop;
    lb_thread thread;
    lb_queue *frames;
    lb_queue *packets;              /* not owned; under packets_lock */
    pthread_mutex_t packets_lock;   /* so the caller may set or clear it at any time */
    int live;                       /* stamped on arrival, never waited for */
    int blocking;                   /* offline and paced: the consumer waits */
    /* decoding on demand: frames from this program time on are wanted in
     * full; INT64_MAX while the camera is off the air */
    _Atomic int64_t full_from_us;
    /* off the air, are key frames decoded (ctx.want_keys)? */
    atomic_int keys_off_air;

    /* the sub-stream the director analyses ([source] analysis_url): a
     * source of its own, "on the air" while anyone watches */
    lb_source *analysis;

    /* consumer side (program thread only) */
    int analysis_ok;                /* the last analysis frame was a picture, or */
    int analysis_seen;              /* none yet, but the sub-stream is young: */
    int64_t analysis_asked_us;      /* when the first analysis frame was asked for */
    AVFrame *shown;                 /* newest frame due */
    AVFrame *pending;               /* next frame, not due yet */
    int shown_handed_out;
    AVFrame *slate;
    int64_t slate_second;
    int ended;

    pthread_mutex_t lock;           /* stats */
    lb_source_stats stats;
    lb_lag_window lag;              /* realtime: how late frames arrive */
};

static void free_frame(void *item)
{
    AVFrame *f = item;
    av_frame_free(&f);
}

static int64_t frame_time(const void *item)
{
    return ((const AVFrame *)item)->pts;
}

static const lb_source_ops *source_ops_for(int kind)
{
    switch (kind) {
    case LB_KIND_SYNTHETIC: return &lb_source_synthetic;
    case LB_KIND_URL:       return &lb_source_url;
    case LB_KIND_V4L2:      return &lb_source_v4l2;
    default:                return NULL;
    }
}

static lb_source *source_alloc(const char *name, const char *log_suffix,
                               const char *thread_prefix, const lb_capture_params *params)
{
    lb_source *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    lb_lag_init(&s->lag);
    pthread_mutex_init(&s->packets_lock, NULL);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->log_name, sizeof s->log_name, "capture:%s%s", name, log_suffix);
    snprintf(s->thread_name, sizeof s->thread_name, "%s%s", thread_prefix, name);
    s->params = *params;
    s->stats.lost_at_us = -1;
    atomic_init(&s->full_from_us, INT64_MIN);   /* until a consumer says otherwise */
    atomic_init(&s->keys_off_air, 1);
    return s;
}

/* From the settings on: the kind, its checks and the frame queue. */
static int source_setup(lb_source *s, const lb_config_section *sec, char *err, size_t err_size)
{
    int ret;
    s->ops = source_ops_for(s->settings.type);
    if (!s->ops) {
        lb_config_error(sec, "type", err, err_size, "this build cannot capture from '%s' yet",
                        lb_config_get(sec, "type"));
        return AVERROR(ENOSYS);
    }
    snprintf(s->stats.kind, sizeof s->stats.kind, "%s", s->ops->kind);
    s->ctx = (lb_source_ctx){ .name = s->log_name, .settings = &s->settings,
                              .params = &s->params, .stop = &s->stop };
    if (!(s->priv = calloc(1, s->ops->priv_size ? s->ops->priv_size : 1)))
        return AVERROR(ENOMEM);
    if (s->ops->configure && (ret = s->ops->configure(s->priv, &s->ctx, sec, err, err_size)) < 0)
        return ret;
    s->live = s->ops->is_live ? s->ops->is_live(s->priv) : s->ops->live;
    /* a camera does not wait for an offline run: it is stamped on arrival
     * and shown like in realtime */
    s->blocking = s->params.offline && !s->live;
    lb_queue_params qp = {
        .name = s->log_name,
        .capacity = s->blocking ? QUEUE_DEPTH_OFFLINE : QUEUE_DEPTH_REALTIME,
        .policy = s->blocking ? LB_QUEUE_BLOCK : LB_QUEUE_DROP_OLDEST,
        .free_item = free_frame,
        .item_time_us = s->blocking ? NULL : frame_time,
        .max_duration_us = s->blocking ? 0 : QUEUE_REALTIME_US,
    };
    if (!(s->frames = lb_queue_alloc(&qp)))
        return AVERROR(ENOMEM);
    s->stats.state = LB_SOURCE_CONNECTING;
    return 0;
}

/* The sub-stream: the camera's own settings (transport, timeouts, loop,
 * sync offset) with its url, at its own size; every frame decoded while
 * the director or a console watches. */
static int analysis_create(lb_source *s, const lb_config_section *sec, char *err, size_t err_size)
{
    int ret;
    if (s->settings.type != LB_KIND_URL) {
        lb_config_error(sec, "analysis_url", err, err_size,
                        "only url cameras have a sub-stream (this one is type = %s)",
                        lb_config_get(sec, "type"));
        return AVERROR(EINVAL);
    }
    lb_source *a = source_alloc(s->name, "/analysis", "sub-", &s->params);
    if (!(s->analysis = a))
        return AVERROR(ENOMEM);
    a->settings = s->settings;
    snprintf(a->settings.url, sizeof a->settings.url, "%s", s->settings.analysis_url);
    a->settings.analysis_url[0] = 0;
    a->settings.width = a->settings.height = 0;
    a->settings.threads = 1;
    a->settings.decode = LB_DECODE_ON_AIR;    /* "on the air" while anyone watches */
    if ((ret = source_setup(a, sec, err, err_size)) < 0)
        return ret;
    a->ctx.analysis_only = 1;
    /* Trusted from the start (see lb_source_analysis_frame_at), the
     * sub-stream lets the camera start off the air: decoded in full until
     * the program's first tick, six 1080p cameras had filled their queues
     * with some 30 MB of pictures more than the program ever holds. */
    if (!s->blocking) {
        s->analysis_ok = 1;
        atomic_store(&s->full_from_us, INT64_MAX);
    }
    return 0;
}

int lb_source_create(lb_source **ps, const lb_config_section *sec,
                     const lb_capture_params *params, char *err, size_t err_size)
{
    int ret;
    lb_source *s = source_alloc(lb_config_section_instance(sec), "", "cap-", params);
    if (!s)
        return AVERROR(ENOMEM);
    if (!lb_config_valid_name(s->name)) {
        lb_config_error(sec, NULL, err, err_size,
                        "source names are 1-32 letters, digits, '-' or '_'");
        ret = AVERROR(EINVAL);
        goto fail;
    }
    if ((ret = lb_config_apply(sec, lb_source_options, &s->settings, err, err_size)) < 0 ||
        (ret = lb_label_check(sec, s->settings.label, err, err_size)) < 0)
        goto fail;
    if (!s->settings.type) {
        lb_config_error(sec, "type", err, err_size, "missing (expected synthetic, url or v4l2)");
        ret = AVERROR(EINVAL);
        goto fail;
    }
    if ((ret = source_setup(s, sec, err, err_size)) < 0)
        goto fail;
    if (*s->settings.analysis_url && (ret = analysis_create(s, sec, err, err_size)) < 0)
        goto fail;
    *ps = s;
    return 0;
fail:
    lb_source_free(&s);
    return ret;
}

static void set_state(lb_source *s, lb_source_state state, const char *raw_error)
{
    /* a URL's password never reaches the status, the API or the log */
    char redacted[sizeof s->stats.last_error];
    const char *error = raw_error ? redacted : NULL;
    if (raw_error)
        lb_redact_text(redacted, sizeof redacted, raw_error);
    pthread_mutex_lock(&s->lock);
    lb_source_state old = s->stats.state;
    /* a camera that stays away fails the same way every second: say it
     * once, then only at debug level until something changes */
    int retrying = (old == LB_SOURCE_LOST && state == LB_SOURCE_RECONNECTING) ||
                   (old == LB_SOURCE_RECONNECTING && state == LB_SOURCE_LOST &&
                    error && !strcmp(error, s->stats.last_error));
    s->stats.state = state;
    if (error && *error)
        snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s", error);
    if (state == LB_SOURCE_LOST)
        s->stats.lost_at_us = lb_clock_now() - s->params.epoch_us;
    if (state == LB_SOURCE_RECONNECTING)
        s->stats.reconnects++;
    pthread_mutex_unlock(&s->lock);
    if (old != state)
        lb_log(retrying ? LB_LOG_DEBUG :
               state == LB_SOURCE_LOST || state == LB_SOURCE_FAILED ? LB_LOG_WARN : LB_LOG_INFO,
               s->log_name, "%s%s%s", lb_source_state_name(state), error && *error ? ": " : "",
               error ? error : "");
}

/* Sleeps up to us in small steps so that stop is honoured. */
static void nap(lb_source *s, int64_t us)
{
    int64_t end = lb_clock_now() + us;
    while (!atomic_load(&s->stop) && lb_clock_now() < end)
        lb_clock_sleep_until(FFMIN(end, lb_clock_now() + 100000));
}

/* Waits before the next attempt; the wait doubles up to retry_max_ms. */
static void retry_wait(lb_source *s, int64_t *backoff)
{
    nap(s, *backoff);
    *backoff = FFMIN(*backoff * 2, (int64_t)s->settings.retry_max_ms * 1000);
    if (!atomic_load(&s->stop))
        set_state(s, LB_SOURCE_RECONNECTING, NULL);
}

/* Per connection: how media time becomes program time. */
typedef struct timeline {
    int64_t program_origin;     /* program time of media_origin (paced kinds) */
    int64_t media_origin;
} timeline;

static int64_t program_time(lb_source *s, timeline *tl, int64_t t)
{
    int64_t offset = (int64_t)s->settings.sync_offset_ms * 1000;
    if (s->live)
        return (t == AV_NOPTS_VALUE ? lb_clock_now() : t) - s->params.epoch_us + offset;
    if (tl->media_origin == AV_NOPTS_VALUE) {
        tl->media_origin = t;
        /* realtime, the first frame (or packet) is captured when it comes:
         * a timeline begun at the connection would stamp every frame of a
         * source that paces itself (a lavfi graph with realtime) as early as
         * its first read took, and the program would wait that much longer
         * for each (its sync delay follows the latest arrival) */
        if (!s->params.offline)
            tl->program_origin = FFMAX(tl->program_origin, lb_clock_now() - s->params.epoch_us);
    }
    return tl->program_origin + t - tl->media_origin + offset;
}

/* Stamps a passthrough packet like the frames and hands a reference on;
 * dts stays strictly increasing across reconnections, as muxers require. */
static void push_packet(lb_source *s, timeline *tl, AVPacket *pkt, int64_t *last_dts)
{
    if (!s->live && pkt->dts == AV_NOPTS_VALUE)
        pkt->dts = pkt->pts;
    if (!s->live && pkt->dts == AV_NOPTS_VALUE) {
        /* a file packet without time: we cannot place it */
        pthread_mutex_lock(&s->lock);
        s->stats.packets_dropped++;
        pthread_mutex_unlock(&s->lock);
        return;
    }
    /* pts first: a connection's first packet (a key frame) sets the origin
     * of a paced timeline, and its pts is the first frame's time; its dts
     * is earlier with B-frames and would put every frame that much late */
    int64_t pts = pkt->pts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE : program_time(s, tl, pkt->pts);
    int64_t dts = program_time(s, tl, pkt->dts);
    if (pts == AV_NOPTS_VALUE)
        pts = dts;
    if (*last_dts != AV_NOPTS_VALUE && dts <= *last_dts)
        dts = *last_dts + 1;
    pkt->dts = dts;
    pkt->pts = FFMAX(pts, dts);
    pkt->time_base = AV_TIME_BASE_Q;
    pkt->stream_index = LB_STREAM_ISO_VIDEO;
    *last_dts = dts;
    pthread_mutex_lock(&s->packets_lock);
    if (!s->packets) {
        pthread_mutex_unlock(&s->packets_lock);
        return;
    }
    AVPacket *copy = av_packet_clone(pkt);
    int ret = copy ? lb_queue_push(s->packets, copy, 0) : AVERROR(ENOMEM);
    /* offline, a file's packets are never lost: wait for room, but in
     * slices, as the queue is the caller's and stop does not close it */
    while (ret == AVERROR(EAGAIN) && s->blocking && !atomic_load(&s->stop))
        ret = lb_queue_push(s->packets, copy, 100000);
    pthread_mutex_unlock(&s->packets_lock);
    int ok = ret >= 0;
    if (!ok)
        av_packet_free(&copy);
    pthread_mutex_lock(&s->lock);
    if (ok)
        s->stats.packets++;
    else
        s->stats.packets_dropped++;
    pthread_mutex_unlock(&s->lock);
}

static void *source_thread(void *arg)
{
    lb_source *s = arg;
    int64_t backoff = FIRST_BACKOFF_US;
    int64_t last_pts = -1;
    int64_t last_dts = AV_NOPTS_VALUE;
    int64_t frame_us = av_rescale(1000000, s->params.fps_den, s->params.fps_num);
    AVFrame *frame = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    char err[256];

    while (frame && pkt && !atomic_load(&s->stop)) {
        err[0] = 0;
        int ret = s->ops->open(s->priv, &s->ctx, err, sizeof err);
        if (ret < 0) {
            s->ops->close(s->priv);
            if (atomic_load(&s->stop))
                break;
            if (ret == AVERROR(EINVAL)) {
                set_state(s, LB_SOURCE_FAILED, *err ? err : av_err2str(ret));
                break;
            }
            set_state(s, LB_SOURCE_LOST, *err ? err : av_err2str(ret));
            retry_wait(s, &backoff);
            continue;
        }
        /* a new connection continues the timeline where the last one stopped */
        timeline tl = { .program_origin = last_pts < 0 ? 0 : last_pts + frame_us,
                        .media_origin = AV_NOPTS_VALUE };
        int got_first = 0;
        for (;;) {
            if (atomic_load(&s->stop)) {
                ret = 0;
                break;
            }
            /* Offline, the switch to full decoding falls on a set frame, so
             * that every run shows the same frames.  Live, the decoder
             * catches up at once: the GOP's burst is then over before the
             * frames the program waits for are due (none is skipped, and
             * the cut goes on the air as soon as they are). */
            int64_t full_from = atomic_load(&s->full_from_us);
            s->ctx.want_full = s->settings.decode == LB_DECODE_FULL ||
                               (s->blocking ? last_pts + frame_us >= full_from
                                            : full_from != INT64_MAX);
            s->ctx.want_keys = atomic_load(&s->keys_off_air);
            ret = s->ops->read(s->priv, &s->ctx, frame, pkt, err, sizeof err);
            if (pkt->size) {
                push_packet(s, &tl, pkt, &last_dts);
                av_packet_unref(pkt);
            }
            if (ret == AVERROR(EAGAIN))
                continue;
            if (ret < 0)
                break;
            int64_t media_pts = frame->pts;
            int64_t pts = !s->live && frame->pts == AV_NOPTS_VALUE ? last_pts + frame_us
                                                                   : program_time(s, &tl, frame->pts);
            if (!s->live && !s->params.offline)
                lb_clock_sleep_until(s->params.epoch_us + pts);
            if (pts <= last_pts)    /* never backwards, never twice */
                pts = last_pts + 1;
            last_pts = pts;
            frame->pts = pts;
            if (lb_clock_trace_on()) {      /* bench/lat_stages.py: which frame is which */
                char stage[80];
                snprintf(stage, sizeof stage, "pts:%s", s->name);
                lb_clock_trace(stage, media_pts, pts);
            }
            /* only frames decoded in full count: key frames off the air are
             * not shown, and those a decoder catches up with at a cut (older
             * than the switch) say nothing of the steady delay */
            if (!s->params.offline && pts >= atomic_load(&s->full_from_us)) {
                int64_t now = lb_clock_now();
                lb_lag_record(&s->lag, now, now - s->params.epoch_us - pts);
            }
            int partial = frame->metadata && av_dict_get(frame->metadata, LB_PARTIAL_METADATA, NULL, 0);
            pthread_mutex_lock(&s->lock);
            s->stats.frames++;
            s->stats.partial_frames += partial;
            /* a picture repeated off the air may be a smaller stand-in
             * (capture/url.c): the camera's size is its full pictures' */
            if (!partial || !s->stats.width) {
                s->stats.width = frame->width;
                s->stats.height = frame->height;
            }
            pthread_mutex_unlock(&s->lock);
            AVFrame *out = av_frame_clone(frame);
            av_frame_unref(frame);
            if (!out || lb_queue_push(s->frames, out, -1) < 0) {
                av_frame_free(&out);
                if (lb_queue_is_closed(s->frames)) {
                    ret = 0;
                    break;
                }
            }
            /* live once the consumer can have the first frame */
            if (!got_first) {
                got_first = 1;
                backoff = FIRST_BACKOFF_US;
                set_state(s, LB_SOURCE_LIVE, NULL);
            }
        }
        s->ops->close(s->priv);
        av_frame_unref(frame);
        if (atomic_load(&s->stop))
            break;
        if (ret == AVERROR_EOF) {
            set_state(s, LB_SOURCE_ENDED, "end of file");
            break;
        }
        if (ret == AVERROR(EINVAL)) {
            set_state(s, LB_SOURCE_FAILED, *err ? err : av_err2str(ret));
            break;
        }
        set_state(s, LB_SOURCE_LOST, *err ? err : av_err2str(ret));
        retry_wait(s, &backoff);
    }
    av_frame_free(&frame);
    av_packet_free(&pkt);
    /* wake a consumer waiting offline: no more frames will come */
    lb_queue_close(s->frames);
    return NULL;
}

int lb_source_start(lb_source *s)
{
    int ret = lb_thread_start(&s->thread, s->thread_name, source_thread, s);
    if (ret >= 0 && s->analysis && (ret = lb_source_start(s->analysis)) < 0)
        lb_source_stop(s);
    return ret;
}

void lb_source_stop(lb_source *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    if (s->frames)
        lb_queue_close(s->frames);
    lb_thread_join(&s->thread);
    lb_source_stop(s->analysis);
}

void lb_source_free(lb_source **ps)
{
    lb_source *s = ps ? *ps : NULL;
    if (!s)
        return;
    lb_source_stop(s);
    lb_source_free(&s->analysis);
    lb_queue_free(&s->frames);
    av_frame_free(&s->shown);
    av_frame_free(&s->pending);
    av_frame_free(&s->slate);
    if (s->priv && s->ops && s->ops->uninit)
        s->ops->uninit(s->priv);
    free(s->priv);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->packets_lock);
    free(s);
    *ps = NULL;
}

const char *lb_source_name(const lb_source *s) { return s->name; }
const char *lb_source_label(const lb_source *s) { return *s->settings.label ? s->settings.label : s->name; }
lb_role lb_source_role(const lb_source *s) { return (lb_role)s->settings.role; }

void lb_source_get_stats(lb_source *s, lb_source_stats *stats)
{
    lb_queue_stats q;
    lb_queue_get_stats(s->frames, &q);
    pthread_mutex_lock(&s->lock);
    *stats = s->stats;
    pthread_mutex_unlock(&s->lock);
    stats->dropped += q.dropped;
    stats->cpu_us = lb_thread_cpu_us(&s->thread);
    stats->analysis.present = s->analysis != NULL;
    if (s->analysis) {
        lb_source_stats a;
        lb_source_get_stats(s->analysis, &a);
        stats->analysis.state = a.state;
        stats->analysis.width = a.width;
        stats->analysis.height = a.height;
        stats->analysis.frames = a.frames;
        stats->analysis.partial_frames = a.partial_frames;
        stats->analysis.cpu_us = a.cpu_us;
        snprintf(stats->analysis.last_error, sizeof stats->analysis.last_error, "%s", a.last_error);
    }
}

void lb_source_set_sub_stream_drawn(lb_source *s, int drawn)
{
    if (s->analysis)
        s->analysis->ctx.analysis_only = !drawn;
}

void lb_source_set_packet_queue(lb_source *s, lb_queue *q)
{
    /* returns only when no push to the old queue is under way: the caller
     * may free it then */
    pthread_mutex_lock(&s->packets_lock);
    s->packets = q;
    pthread_mutex_unlock(&s->packets_lock);
}

void lb_source_set_on_air(lb_source *s, int on_air, int watchers, int64_t t_us)
{
    /* the director and the console watch the sub-stream while it gives
     * pictures: off the air, the main stream's key frames are then not
     * decoded either; nobody watching, the sub-stream's only are */
    int sub = s->analysis && s->analysis_ok;
    if (s->analysis)
        lb_source_set_on_air(s->analysis, watchers != 0, 0, t_us);
    int watched = !sub && (watchers & LB_WATCH_DIRECTOR);
    atomic_store(&s->keys_off_air, !sub);
    on_air |= watched && s->settings.decode == LB_DECODE_AUTO;
    if (!on_air) {
        atomic_store(&s->full_from_us, INT64_MAX);
        return;
    }
    int64_t frame_us = av_rescale(1000000, s->params.fps_den, s->params.fps_num);
    int64_t from = t_us + ON_AIR_LEAD_FRAMES * frame_us;
    if (atomic_load(&s->full_from_us) > from)
        atomic_store(&s->full_from_us, from);
}

const AVCodecParameters *lb_source_codecpar(lb_source *s)
{
    return s->ops->codecpar ? s->ops->codecpar(s->priv) : NULL;
}

const AVCodecParameters *lb_source_wait_codecpar(lb_source *s, int64_t timeout_us)
{
    int64_t end = lb_clock_now() + timeout_us;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        lb_source_state state = s->stats.state;
        int connected = s->stats.frames > 0;
        pthread_mutex_unlock(&s->lock);
        if (connected || state == LB_SOURCE_LIVE || state == LB_SOURCE_FAILED ||
            state == LB_SOURCE_ENDED || lb_clock_now() >= end)
            return lb_source_codecpar(s);
        /* set-up time only: polling is simpler than a condition here */
        lb_clock_sleep_until(FFMIN(end, lb_clock_now() + 10000));
    }
}

/* A grey "no signal" card with the source's name and when it was lost.
 * Reads only the stats (under their lock): any thread may draw it. */
static AVFrame *draw_slate(lb_source *s, int64_t t_us, int width, int height)
{
    int64_t second = t_us / 1000000;
    lb_source_stats st;
    lb_source_get_stats(s, &st);
    int64_t lost = st.lost_at_us >= 0 ? st.lost_at_us / 1000000 : second;
    char title[160], line[160];
    snprintf(title, sizeof title, "%s  NO SIGNAL", lb_source_label(s));
    /* a resource-mode track fills the time since its last packet, which
     * may come a little before the source noticed the loss */
    snprintf(line, sizeof line, "%s since %02d:%02d:%02d (%lld s)", lb_source_state_name(st.state),
             (int)(lost / 3600), (int)(lost / 60 % 60), (int)(lost % 60),
             (long long)FFMAX(0, second - lost));
    AVFrame *f = NULL;
    if (lb_slate_draw_text(title, line, width, height, &f) < 0)
        return NULL;
    f->pts = t_us;
    return f;
}

static int valid_utf8(const char *text)
{
    const uint8_t *p = (const uint8_t *)text;
    while (*p) {
        uint32_t cp;
        GET_UTF8(cp, *p ? *p++ : 0, return 0;)
        (void)cp;
    }
    return 1;
}

int lb_label_check(const lb_config_section *sec, const char *label, char *err, size_t err_size)
{
    if (!valid_utf8(label)) {
        lb_config_error(sec, "label", err, err_size, "is not UTF-8 text (save the config as UTF-8)");
        return AVERROR(EINVAL);
    }
    /* drawn by lavfi's drawtext on a synthetic camera's picture: its
     * quoting has no escape for these */
    for (const unsigned char *p = (const unsigned char *)label; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '\'' || *p == '\\' || *p == '%') {
            lb_config_error(sec, "label", err, err_size, "must not contain control characters, ' \\ or %%");
            return AVERROR(EINVAL);
        }
    return 0;
}

/* 1 if text has a code point DejaVu lacks and a CJK font has (Han,
 * kana, Hangul, CJK punctuation, full-width forms): a camera named 讲台. */
static int needs_cjk(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        uint32_t cp;
        if (*p < 0x80) {
            p++;
            continue;
        } else if ((*p & 0xe0) == 0xc0 && p[1]) {
            cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
            p += 2;
        } else if ((*p & 0xf0) == 0xe0 && p[1] && p[2]) {
            cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
            p += 3;
        } else if ((*p & 0xf8) == 0xf0 && p[1] && p[2] && p[3]) {
            cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
                 (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
            p += 4;
        } else {
            p++;
            continue;
        }
        if ((cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0x2e80 && cp <= 0x9fff) ||
            (cp >= 0xa960 && cp <= 0xa97f) || (cp >= 0xac00 && cp <= 0xd7af) ||
            (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
            (cp >= 0xff00 && cp <= 0xffef) || (cp >= 0x20000 && cp <= 0x3ffff))
            return 1;
    }
    return 0;
}

const char *lb_slate_font_for(const char *text)
{
    static atomic_int warned;
    if (!needs_cjk(text))
        return LB_FONT_FILE;
    if (!access(LB_CJK_FONT_FILE, R_OK))
        return LB_CJK_FONT_FILE;
    /* once: the slate still says what it can (Latin text, the state) */
    if (!atomic_exchange(&warned, 1))
        LB_LOGW("capture", "no CJK font (%s; install fonts-noto-cjk): Chinese, Japanese or Korean "
                "names on the \"no signal\" slate are drawn as boxes", LB_CJK_FONT_FILE);
    return LB_FONT_FILE;
}

/* The slate's grey 0x303030 and its texts' white and 0xbbbbbb, as BT.709
 * limited-range luma (grey has no chroma) */
#define SLATE_LUMA 57
#define SLATE_TITLE_LUMA 235
#define SLATE_LINE_LUMA 177

int lb_slate_draw_text(const char *title, const char *line, int width, int height, AVFrame **out)
{
    *out = NULL;
    AVFrame *f = av_frame_alloc();
    int ret;
    if (!f)
        return AVERROR(ENOMEM);
    f->format = AV_PIX_FMT_YUV420P;
    f->width = width;
    f->height = height;
    f->sample_aspect_ratio = (AVRational){ 1, 1 };
    if ((ret = av_frame_get_buffer(f, 0)) < 0)
        goto fail;
    for (int pl = 0; pl < 3; pl++)
        memset(f->data[pl], pl ? 128 : SLATE_LUMA,
               (size_t)f->linesize[pl] * (size_t)(pl ? (height + 1) / 2 : height));
    /* the name above the middle, the state below it, in drawtext's layout
     * of the earlier lavfi slates */
    if ((ret = lb_text_draw_line(f, title, lb_slate_font_for(title), height / 12, -1.5, SLATE_TITLE_LUMA)) < 0 ||
        (ret = lb_text_draw_line(f, line, lb_slate_font_for(line), height / 20, 1.0, SLATE_LINE_LUMA)) < 0)
        goto fail;
    /* tells the director (and anyone else) that this is not a picture */
    av_dict_set(&f->metadata, LB_SLATE_METADATA, "1", 0);
    *out = f;
    return 0;
fail:
    av_frame_free(&f);
    return ret;
}

/* The consumer's slate, redrawn once a second (the text changes no faster). */
static AVFrame *slate_frame(lb_source *s, int64_t t_us, int width, int height)
{
    int64_t second = t_us / 1000000;
    if (s->slate && s->slate_second == second && s->slate->width == width)
        return s->slate;
    AVFrame *f = draw_slate(s, t_us, width, height);
    if (!f)
        return s->slate;
    av_frame_free(&s->slate);
    s->slate = f;
    s->slate_second = second;
    return f;
}

int lb_source_draw_slate(lb_source *s, int64_t t_us, int width, int height, AVFrame **out)
{
    *out = draw_slate(s, t_us, width, height);
    return *out ? 0 : AVERROR_EXTERNAL;
}

int lb_source_frame_at(lb_source *s, int64_t t_us, AVFrame *dst)
{
    for (;;) {
        if (!s->pending) {
            void *item;
            int ret = lb_queue_pop(s->frames, &item, s->blocking ? -1 : 0);
            if (ret == AVERROR_EOF)
                s->ended = 1;
            if (ret < 0)
                break;
            s->pending = item;
        }
        if (s->pending->pts > t_us + DUE_SLACK_US)
            break;              /* not due yet: the shown frame still holds */
        if (s->shown && !s->shown_handed_out) {
            pthread_mutex_lock(&s->lock);
            s->stats.dropped++;
            pthread_mutex_unlock(&s->lock);
        }
        av_frame_free(&s->shown);
        s->shown = s->pending;
        s->pending = NULL;
        s->shown_handed_out = 0;
    }

    lb_source_state state;
    int width, height;
    pthread_mutex_lock(&s->lock);
    state = s->stats.state;
    width = s->stats.width ? s->stats.width : s->settings.width ? s->settings.width : 1280;
    height = s->stats.height ? s->stats.height : s->settings.height ? s->settings.height : 720;
    pthread_mutex_unlock(&s->lock);

    /* the very first picture of a source that has just come up is shown a
     * little early (by at most the consumer's sync delay) rather than the
     * "connecting" slate */
    if (!s->shown && s->pending && state == LB_SOURCE_LIVE && !s->blocking) {
        s->shown = s->pending;
        s->pending = NULL;
        s->shown_handed_out = 0;
    }
    int live_frame = s->shown && (state == LB_SOURCE_LIVE || state == LB_SOURCE_ENDED ||
                                  s->blocking);
    AVFrame *src = live_frame ? s->shown : slate_frame(s, t_us, width, height);
    if (!src)
        return AVERROR(EAGAIN);
    int ret = av_frame_ref(dst, src);
    if (ret < 0)
        return ret;
    if (src == s->shown)
        s->shown_handed_out = 1;
    else
        dst->pts = t_us;
    return s->ended && !s->pending ? AVERROR_EOF : 0;
}

int64_t lb_source_arrival_lag_us(lb_source *s)
{
    return lb_lag_get(&s->lag, lb_clock_now());
}

int lb_source_analysis_frame_at(lb_source *s, int64_t t_us, AVFrame *dst)
{
    if (!s->analysis)
        return AVERROR(ENOENT);
    int ret = lb_source_frame_at(s->analysis, t_us, dst);
    int ok = (ret >= 0 || (ret == AVERROR_EOF && dst->buf[0])) &&
             !(dst->metadata && av_dict_get(dst->metadata, LB_SLATE_METADATA, NULL, 0));
    /* a sub-stream still connecting is given LB_SUB_STREAM_GRACE_US before its
     * camera is decoded in full for the director in its place */
    int64_t now = lb_clock_now();
    if (!s->analysis_asked_us)
        s->analysis_asked_us = now;
    s->analysis_seen |= ok;
    s->analysis_ok = ok || (!s->blocking && !s->analysis_seen && now - s->analysis_asked_us < LB_SUB_STREAM_GRACE_US);
    if (!ok) {
        av_frame_unref(dst);
        return ret == AVERROR_EOF || ret >= 0 ? AVERROR(EAGAIN) : ret;
    }
    return 0;
}
