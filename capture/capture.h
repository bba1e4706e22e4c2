/* capture/: cameras and microphones, stamped on one clock.
 *
 * A source (camera) or mic runs its own thread that opens the device, reads,
 * decodes and stamps every frame or audio block on the program timeline
 * (lb_clock_now() - epoch_us).  A source is a small state machine
 * (connecting -> live -> lost -> reconnecting) that never stops the daemon:
 * a failing device is retried with backoff and, while it is away, the
 * frame synchroniser hands out a "no signal" slate so the program and the
 * resource-mode track never have a gap.
 *
 * Threads: lb_source_* and lb_mic_* may be called from any one consumer
 * thread (the program thread) plus the stats getters from any thread.
 *
 * Realtime vs offline (lb_capture_params.offline):
 *  - realtime: sources pace themselves (devices, or files/synthetic paced on
 *    lb_clock); the consumer never waits, it takes the latest frame;
 *  - offline: file and synthetic sources run as fast as the consumer takes
 *    their frames and the consumer blocks until a source has passed the
 *    requested time, so every run gives the same frames and decisions.
 *    Live sources (cameras, network streams, ALSA) never make it wait.
 *
 * Live stamps are capture times: V4L2's driver timestamps, a network
 * stream's own timestamps mapped onto lb_clock at their earliest arrival,
 * ALSA blocks as "now minus what is still buffered".  A frame is decoded
 * some tens of ms after its stamp, so a realtime consumer runs that much
 * behind (the daemon's sync_delay_ms); sync_offset_ms corrects a device's
 * own latency by hand. */
#ifndef LB_CAPTURE_H
#define LB_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include <libavcodec/codec_par.h>
#include <libavutil/frame.h>

#include "lb_config.h"
#include "lb_media.h"
#include "lb_queue.h"

typedef struct lb_capture_params {
    int offline;
    int64_t epoch_us;       /* lb_clock time of program time 0 */
    int fps_num, fps_den;   /* the program's rate: the pace of synthetic sources */
} lb_capture_params;

typedef struct lb_source lb_source;
typedef struct lb_mic lb_mic;

typedef struct lb_source_stats {
    lb_source_state state;
    int width, height;
    uint64_t frames;          /* decoded */
    uint64_t dropped;         /* produced but never shown (consumer too slow) */
    uint64_t partial_frames;  /* of frames: from key frames only (off the air) */
    uint64_t reconnects;
    uint64_t packets;         /* passthrough packets handed to the queue */
    uint64_t packets_dropped; /* passthrough packets the queue refused */
    int64_t lost_at_us;       /* program time of the last loss, -1 if none */
    int64_t cpu_us;           /* CPU time of the capture thread so far (decoder
                               * threads not included), -1 if unknown */
    char kind[16];
    char last_error[256];
    struct {                  /* the sub-stream ([source] analysis_url) */
        int present;
        lb_source_state state;
        int width, height;
        uint64_t frames;
        uint64_t partial_frames;  /* from key frames only: nobody watched */
        int64_t cpu_us;
        char last_error[256];
    } analysis;
} lb_source_stats;

typedef struct lb_mic_stats {
    lb_source_state state;
    uint64_t samples;
    uint64_t xruns;
    uint64_t reconnects;
    double level_dbfs;        /* RMS of the last 100 ms, -120 for silence */
    double peak_dbfs;         /* loudest sample (before the gain) of the last second */
    double drift_ppm;         /* device clock vs lb_clock, measured */
    uint64_t resyncs;         /* the audio was placed anew after straying by
                               * over 200 ms (not counting known gaps) */
    int64_t cpu_us;           /* CPU time of the mic's thread so far, -1 if unknown */
    char kind[16];
    char last_error[256];
} lb_mic_stats;

/* The option tables, for --help and the API. */
extern const lb_option lb_source_options[];
extern const lb_option lb_mic_options[];

/* Reads and checks [source.NAME] without touching any device.  Returns 0 or
 * AVERROR(EINVAL) with a config-style message in err. */
int lb_source_create(lb_source **s, const lb_config_section *sec,
                     const lb_capture_params *params, char *err, size_t err_size);
/* Starts the thread; a device that cannot be opened is not an error here,
 * it shows as state lost/reconnecting and last_error. */
int lb_source_start(lb_source *s);
/* Asks the thread to stop and joins it. Idempotent. */
void lb_source_stop(lb_source *s);
void lb_source_free(lb_source **s);

const char *lb_source_name(const lb_source *s);
/* The name people see: the label option (any text, e.g. 讲台), else NAME. */
const char *lb_source_label(const lb_source *s);
lb_role lb_source_role(const lb_source *s);
void lb_source_get_stats(lb_source *s, lb_source_stats *stats);

/* Frame synchroniser.  Puts into dst (unreferenced by the caller before) a
 * new reference to the newest frame whose pts <= t_us, repeating or
 * dropping frames as the rates require.  While the source is lost, dst is a
 * "no signal" slate with the source's name and the time it was lost; so is
 * it before the source's first frame (connecting).  Returns 0, or
 * AVERROR(EAGAIN) if there is nothing to show (the slate could not be
 * drawn: the caller chooses what to show), or AVERROR_EOF when a file without
 * loop has ended and its last frame was already handed out for t_us.
 * A slate carries the metadata LB_SLATE_METADATA = "1" (lb_media.h),
 * so analysis can tell it from a picture. */
int lb_source_frame_at(lb_source *s, int64_t t_us, AVFrame *dst);

/* Draws the slate lb_source_frame_at() shows for t_us (the source's name,
 * its state and since when) at width x height, YUV420P, as a new frame in
 * *out (pts = t_us).  Any thread; a lavfi run of a few ms, so a caller
 * draws it about once a second.  0, or a negative AVERROR (*out NULL). */
int lb_source_draw_slate(lb_source *s, int64_t t_us, int width, int height, AVFrame **out);
/* The same grey card with any two lines (title large, line below), e.g. a
 * resumed lesson's "recording interrupted from ... to ...".  Any thread.
 * 0, or a negative AVERROR (*out NULL). */
int lb_slate_draw_text(const char *title, const char *line, int width, int height, AVFrame **out);
/* The font file the slate draws text with: DejaVu, or a CJK font (Noto
 * Sans CJK) when the text has CJK characters and that font is installed
 * (else DejaVu, warned once in the log). */
const char *lb_slate_font_for(const char *text);

/* Decoding on demand.  A compressed url camera that is off the air may be
 * decoded from its key frames only, at a few percent of the cost: its
 * frames then carry LB_PARTIAL_METADATA (lb_media.h) and show the last key
 * frame.  The consumer says every tick which cameras it shows (on_air) at
 * program time t_us, and who else looks at its pictures (watchers, a set
 * of LB_WATCH_*): while an automatic director watches every camera,
 * [source] decode = auto (the default) decodes every frame; decode = on_air
 * does not, decode = full never skips.  A camera's sub-stream (below) is
 * decoded in full while anyone watches, from its key frames only while
 * nobody does.  A camera
 * going on the air is decoded in full again (the decoder catches up from
 * the last key frame): a live one at once, an offline one from a few frames
 * after t_us (the same frame in every run); its frames stop carrying the
 * mark from then on: show it once they do.  Sources that are
 * never told decode everything. */
enum {
    LB_WATCH_DIRECTOR = 1,    /* the automatic director analyses every camera */
    LB_WATCH_PREVIEW = 2,     /* an operator's console shows the camera's preview */
    LB_WATCH_INSET = 4,       /* the program draws its sub-stream as an inset */
};
void lb_source_set_on_air(lb_source *s, int on_air, int watchers, int64_t t_us);
/* The program may draw the camera's sub-stream (the inset of a picture in
 * picture, [director] pip_sub_stream): it is then decoded with its loop
 * filter, which analysis alone would skip.  Before lb_source_start(). */
void lb_source_set_sub_stream_drawn(lb_source *s, int drawn);

/* How long a sub-stream still connecting is trusted to give pictures
 * before its camera's main stream is decoded in full in its place: by
 * capture for the decoding, by the consumer for what it analyses. */
#define LB_SUB_STREAM_GRACE_US 5000000

/* The picture the director analyses: the camera's low-resolution
 * sub-stream ([source] analysis_url, an IP camera's second stream), taken
 * for t_us like lb_source_frame_at() (the consumer calls both every tick).
 * While the sub-stream gives pictures, an automatic director does not keep
 * the main stream decoded in full (see lb_source_set_on_air: call this
 * first).  Returns 0, AVERROR(ENOENT) without a sub-stream, or
 * AVERROR(EAGAIN) when it has no picture now (lost, connecting): analyse the
 * main stream's frame then, which is decoded in full again from a few
 * frames on. */
int lb_source_analysis_frame_at(lb_source *s, int64_t t_us, AVFrame *dst);

/* Realtime: how late the source's frames decoded in full reach the
 * consumer after their stamps (the highest of the last 2-4 s; frames over
 * 0.5 s late are taken as catching up and not counted), or INT64_MIN when
 * none came lately.  Any thread.  The daemon runs the program that far
 * behind capture rather than a fixed sync_delay_ms. */
int64_t lb_source_arrival_lag_us(lb_source *s);

/* Compressed passthrough for resource mode.  When the source receives
 * H.264/HEVC, it pushes a reference to every packet (pts/dts in us on the
 * program timeline, the same times as its decoded frame; time_base set;
 * stream_index = LB_STREAM_ISO_VIDEO) to q, which the caller owns.  After
 * every (re)connection the packets start at a key frame, and dts strictly
 * increase across reconnections.  A full queue drops the packet (counted
 * in packets_dropped), except for an offline file, which waits.  q may be
 * set or cleared (NULL) at any time; once the call returns, no push to the
 * previous queue is under way.  codecpar is NULL until the source has
 * connected once with a compressed stream; then it stays valid and
 * unchanged until lb_source_free() (a later connection with other
 * parameters sends no packets).  V4L2 H.264 has no extradata (in-band
 * parameter sets). */
void lb_source_set_packet_queue(lb_source *s, lb_queue *q);
const AVCodecParameters *lb_source_codecpar(lb_source *s);
/* The same, after waiting up to timeout_us for a started source to connect
 * for the first time (a camera's codec is known only then).  Returns as soon
 * as the source is live, failed or ended; NULL for a raw source.  For set-up
 * code that decides between stream copy and encoding. */
const AVCodecParameters *lb_source_wait_codecpar(lb_source *s, int64_t timeout_us);

int lb_mic_create(lb_mic **m, const lb_config_section *sec,
                  const lb_capture_params *params, char *err, size_t err_size);
int lb_mic_start(lb_mic *m);
void lb_mic_stop(lb_mic *m);
void lb_mic_free(lb_mic **m);
const char *lb_mic_name(const lb_mic *m);
/* The name people see: the label option, else NAME. */
const char *lb_mic_label(const lb_mic *m);
lb_role lb_mic_role(const lb_mic *m);
void lb_mic_get_stats(lb_mic *m, lb_mic_stats *stats);

/* Reads nb_samples mono float samples at 48 kHz for the program time that
 * starts at sample index first_sample (= t * 48000).  Reads must be
 * consecutive.  Offline, waits until the mic has produced them; realtime,
 * what has not arrived is silence.  Returns nb_samples, or AVERROR_EOF when
 * an offline file mic has ended (dst is then silence). */
int lb_mic_read(lb_mic *m, int64_t first_sample, float *dst, int nb_samples);
/* Realtime: how late a block of samples reaches the ring after its first
 * sample's stamp (the highest lately, as lb_source_arrival_lag_us), or
 * INT64_MIN.  A tick's sound is all there once the tick's end is this far
 * in the past.  Any thread. */
int64_t lb_mic_arrival_lag_us(lb_mic *m);

#endif
