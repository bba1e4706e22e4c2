/* encoder/: the program's one encode, and the audio.
 *
 * Video goes through libx264's own API (its own threads), audio through
 * libavcodec's AAC-LC encoder at 48 kHz.  Encoded packets are handed to a
 * sink; the sink takes the packet's reference.  pts/dts are microseconds on
 * the program timeline; stream_index carries an lb_stream_kind.
 *
 * An encoder is used by one thread at a time. */
#ifndef LB_ENCODER_H
#define LB_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include <libavcodec/codec_par.h>
#include <libavcodec/packet.h>
#include <libavutil/frame.h>
#include <libavutil/rational.h>

#include "lb_config.h"

typedef enum lb_rate_control {
    LB_RC_INVALID = 0,
    LB_RC_CBR,
    LB_RC_VBR,
    LB_RC_CRF,
} lb_rate_control;

/* [encoder] */
typedef struct lb_encoder_settings {
    char preset[32];
    char tune[32];
    char profile[16];
    char level[8];               /* "" = let x264 choose */
    int rate_control;            /* lb_rate_control */
    int bitrate_kbps;
    int maxrate_kbps;            /* 0 = bitrate (CBR) or 1.5 x bitrate (VBR) */
    int bufsize_kbits;           /* 0 = 2 x maxrate */
    int crf;
    double keyint_s;             /* key frame every N seconds: the HLS segment length */
    int threads;                 /* 0 = x264's choice */
    int zerolatency;
    int audio_bitrate_kbps;
    char renditions[256];        /* "1280x720:2500,640x360:800" */
    int iso;                     /* resource mode: encode raw cameras */
    int iso_width, iso_height;
    int iso_bitrate_kbps;
    char iso_preset[32];
    int iso_audio;               /* resource mode: each mic to its own AAC file */
    /* the program audio mixer */
    int agc;
    double agc_target_dbfs;
    double agc_max_gain_db;
    double limiter_dbfs;
    double gate_dbfs;            /* below this a mic is muted; -120 = off */
} lb_encoder_settings;

/* A rendition of the ladder. */
typedef struct lb_rendition {
    int width, height;
    int bitrate_kbps;
} lb_rendition;

#define LB_MAX_RENDITIONS 4

/* Parses settings->renditions; 0 or AVERROR(EINVAL) with a config error. */
int lb_encoder_renditions(const lb_encoder_settings *s, const lb_config_section *sec,
                          lb_rendition *out, int *nb, char *err, size_t err_size);

extern const lb_option lb_encoder_options[];

typedef int (*lb_packet_sink)(void *opaque, AVPacket *pkt);

typedef struct lb_video_encoder lb_video_encoder;
typedef struct lb_audio_encoder lb_audio_encoder;

typedef struct lb_video_encoder_params {
    const lb_encoder_settings *settings;
    int width, height;
    int fps_num, fps_den;
    int stream_index;            /* lb_stream_kind given to every packet */
    const char *name;            /* for logs: "program", "720p" */
} lb_video_encoder_params;

/* Opens x264 with the settings; every value x264 would reject is reported
 * in err before any frame is encoded. */
int lb_video_encoder_open(lb_video_encoder **e, const lb_video_encoder_params *p,
                          char *err, size_t err_size);
/* lb_video_encoder_encode()'s flags */
#define LB_ENCODE_FORCE_IDR 1    /* a new GOP at this frame (a recording starting) */
#define LB_ENCODE_REPEAT    2    /* the same picture as the last frame: made of skipped
                                  * macroblocks at the coarsest quantiser, about half a
                                  * new picture's work (the program behind real time) */

/* Encodes one YUV420P frame (pts in us; x264 copies it, the caller keeps
 * its reference), or flushes with frame == NULL.  Key frames go by time:
 * an IDR at the first frame at or past every multiple of keyint_s from the
 * last forced IDR, however many ticks were not given; LB_ENCODE_FORCE_IDR
 * starts a new GOP at this frame and moves that grid to it (a key frame is
 * never made as a repeat).  Every packet produced goes to sink.  Returns 0
 * or a negative AVERROR. */
int lb_video_encoder_encode(lb_video_encoder *e, const AVFrame *frame, int flags,
                            lb_packet_sink sink, void *opaque);
/* Load shedding: the analysis of a preset steps faster than the configured
 * one (0: as configured; never past superfast), taken between two frames
 * by the encoding thread; rate, size and headers stay.  Any thread.
 * Returns the steps that will apply. */
int lb_video_encoder_set_speed(lb_video_encoder *e, int steps);
/* Codec parameters with SPS/PPS as extradata (valid from open to close). */
const AVCodecParameters *lb_video_encoder_codecpar(const lb_video_encoder *e);
void lb_video_encoder_close(lb_video_encoder **e);

int lb_audio_encoder_open(lb_audio_encoder **e, int bitrate_kbps, char *err, size_t err_size);
/* Takes mono float samples at 48 kHz, any count; the first sample of this
 * call is at pts_us.  Packets (1024 samples each) go to sink; NULL samples
 * flushes. */
int lb_audio_encoder_encode(lb_audio_encoder *e, const float *samples, int nb_samples,
                            int64_t pts_us, lb_packet_sink sink, void *opaque);
const AVCodecParameters *lb_audio_encoder_codecpar(const lb_audio_encoder *e);
void lb_audio_encoder_close(lb_audio_encoder **e);

/* ---- the "no signal" slate inside a stream-copied camera track ----
 *
 * Resource mode copies a compressed camera's packets; while the camera is
 * away, this encodes the slate into the same H.264 track (x264, a profile
 * the camera's admits, its own SPS/PPS id beside the camera's), so the
 * track has no gap and stays one decodable stream.  Packets are in the
 * camera's format (Annex B or avcC lengths), pts/dts in us. */
typedef struct lb_splice_encoder lb_splice_encoder;

typedef struct lb_splice_params {
    const AVCodecParameters *camera; /* H.264 with its SPS/PPS as extradata */
    int fps_num, fps_den;            /* the slate's rate, if the camera's level allows it */
    double keyint_s;                 /* an IDR this often while the slate lasts */
    const char *name;                /* for logs: "iso:cam" */
} lb_splice_params;

/* Reads the camera's parameter sets, picks the slate's and makes them.
 * AVERROR(ENOSYS) with the reason in err when the camera's stream cannot
 * take a slate (not H.264, parameter sets only in band, not 8-bit 4:2:0,
 * an odd size, every SPS id taken); then the track keeps its gaps. */
int lb_splice_encoder_create(lb_splice_encoder **e, const lb_splice_params *p,
                             char *err, size_t err_size);
/* The track's parameters: the camera's, with the slate's SPS and PPS
 * added to the extradata (valid from create to free). */
const AVCodecParameters *lb_splice_encoder_codecpar(const lb_splice_encoder *e);
/* The slate's frame rate: fps_num/fps_den, or less when the camera's
 * H.264 level allows fewer macroblocks a second. */
AVRational lb_splice_encoder_frame_rate(const lb_splice_encoder *e);
/* Encodes one slate picture (YUV420P at the camera's size; pts in us,
 * increasing).  The first picture after create or idle is an IDR, then one
 * every keyint_s.  Each picture's packet goes to sink at once.  0 or a
 * negative AVERROR; AVERROR_BUG means the slate cannot be used any more. */
int lb_splice_encoder_encode(lb_splice_encoder *e, const AVFrame *frame,
                             lb_packet_sink sink, void *opaque);
/* The camera is back: x264 is closed (its memory freed) until the next
 * picture, which starts with an IDR again. */
void lb_splice_encoder_idle(lb_splice_encoder *e);
void lb_splice_encoder_free(lb_splice_encoder **e);

/* Checks the settings against the program size and rate without opening
 * anything, for --check-config: 0 or AVERROR(EINVAL) with the reason. */
int lb_encoder_check(const lb_encoder_settings *s, const lb_config_section *sec,
                     int width, int height, int fps_num, int fps_den,
                     char *err, size_t err_size);

/* ---- the program audio mixer ----
 *
 * Mixes the mics (each already gained and muted by capture as [mic.NAME]
 * gain_db and mute say) into the program's mono track: the operator's
 * fader per mic (mute and gain at run time, lb_mixer_set_fader), a per-mic
 * noise gate, automatic gain toward a target
 * loudness (slow, so speech keeps its dynamics, and never raising silence),
 * and a peak limiter so that shouting does not clip.  Deterministic: the same
 * input gives the same output. */
typedef struct lb_mixer lb_mixer;

typedef struct lb_mixer_levels {
    double in_dbfs[8];           /* RMS of each input over the block, after its fader */
    double raw_dbfs[8];          /* the same before the fader (what the mic hears) */
    double out_dbfs;             /* RMS of the mix */
    double out_peak_dbfs;
    double gain_db;              /* current automatic gain */
} lb_mixer_levels;

int lb_mixer_create(lb_mixer **m, const lb_encoder_settings *s, int nb_inputs);
/* inputs[i] has n samples; out receives n samples. */
void lb_mixer_process(lb_mixer *m, const float *const *inputs, int n, float *out,
                      lb_mixer_levels *levels);
void lb_mixer_free(lb_mixer **m);
/* The operator's fader of input i for the program mix: muted, or gain_db
 * (LB_MIXER_FADER_MIN_DB..LB_MIXER_FADER_MAX_DB, 0 at creation) on top of
 * capture's gain.  Any thread (atomics the mixing thread reads at its next
 * block, where the change is ramped over the block so it does not click).
 * Only the mix hears it: the mics' own recordings (audio/<mic>.m4a) keep
 * what capture gave.  AVERROR(EINVAL) for an input or gain out of range. */
#define LB_MIXER_FADER_MIN_DB (-60.0)
#define LB_MIXER_FADER_MAX_DB 20.0
int lb_mixer_set_fader(lb_mixer *m, int i, int mute, double gain_db);
void lb_mixer_get_fader(lb_mixer *m, int i, int *mute, double *gain_db);

#endif
