/* The pipeline's state, shared by daemon/pipeline.c and daemon/control.c. */
#ifndef LB_PIPELINE_PRIV_H
#define LB_PIPELINE_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include <libavutil/buffer.h>
#include <libavutil/mathematics.h>

#include "capture.h"
#include "daemon.h"
#include "director.h"
#include "encoder.h"
#include "lb_lifecycle.h"
#include "lb_media.h"
#include "lb_queue.h"
#include "lb_thread.h"
#include "streamer.h"
#include "webui.h"

#define MAX_STREAMS (2 + LB_MAX_RENDITIONS + LB_MAX_SOURCES + LB_MAX_MICS)
#define MAX_WORKERS (LB_MAX_RENDITIONS + LB_MAX_SOURCES)

/* A video encode beside the program's: a rendition of the program, or a
 * raw camera for resource mode.  Own thread, own x264, fed by the program
 * thread every frame. */
typedef struct encode_worker {
    struct lb_pipeline *p;
    char name[48];
    int stream;                     /* index in the stream table */
    int source;                     /* ISO: the camera; -1 for a rendition */
    int width, height;
    lb_video_encoder *enc;
    struct SwsContext *sws;
    lb_frame_pool scaled;           /* what sws makes (a frame per tick) */
    lb_queue *queue;
    lb_thread thread;
    int64_t done;                   /* number of the next frame to finish, under workers_lock */
} encode_worker;

/* Resource mode by stream copy: a compressed camera's own packets, and
 * the slate encoded into the same track while the camera is away. */
typedef struct copy_worker {
    struct lb_pipeline *p;
    char name[48];                  /* for logs: "iso:<camera>" */
    int stream;
    int source;
    lb_queue *queue;
    lb_thread thread;
    AVCodecParameters *par;         /* the track's: the camera's, plus the slate's SPS/PPS */
    lb_splice_encoder *slate;       /* NULL: the camera's stream takes no slate (gaps stay) */
} copy_worker;

/* Resource mode for microphones (daemon/mic_archive.c): one AAC encoder
 * per mic during a lesson, on the enc-mics thread. */
typedef struct mic_archive mic_archive;
typedef struct mic_channel {
    mic_archive *ma;
    int stream;                     /* index in the stream table */
    lb_audio_encoder *enc;          /* open during a lesson only */
    AVCodecParameters *par;         /* the stream table's, for every encoder */
} mic_channel;

struct mic_archive {
    struct lb_pipeline *p;
    int enabled, started;
    mic_channel ch[LB_MAX_MICS];
    lb_queue *queue;                /* the program thread's samples, BLOCK */
    lb_thread thread;
    int64_t done;                   /* ticks finished, under workers_lock */
};

typedef struct lb_health_feed lb_health_feed;

/* Which stream of a camera with a sub-stream the director analyses. */
typedef enum analysis_watch {
    ANALYSIS_STARTING = 0,
    ANALYSIS_ON_SUB,
    ANALYSIS_ON_MAIN,           /* the sub-stream gives no picture */
} analysis_watch;

/* A director.jsonl line (format 2 adds crops and the virtual camera). */
#define LB_LOG_LINE_SIZE 2048

struct lb_pipeline {
    lb_pipeline_params params;
    char *log_header;               /* director.jsonl's header keys (daemon/recut.c), or NULL */
    lb_general_settings general;
    lb_encoder_settings encoder;
    lb_capture_params capture;
    int fps_num, fps_den;

    lb_source *sources[LB_MAX_SOURCES];
    int nb_sources;
    lb_mic *mics[LB_MAX_MICS];
    int nb_mics;
    lb_director_setup setup;
    lb_director *director;
    lb_compositor *compositor;
    lb_video_encoder *venc;
    lb_audio_encoder *aenc;
    lb_streamer *streamer;
    lb_webui *webui;
    int webui_taken;            /* a restart keeps it running: not this pipeline's to stop or free */
    int webui_adopted;          /* the previous pipeline's, running: attached at start */
    lb_stream_desc streams[MAX_STREAMS];
    int nb_streams;
    lb_mixer *mixer;
    /* daemon/faders.c: the newest .faders.json waits in faders_pending_* (under
     * faders_lock) for the writer thread; faders_io_lock orders the writes */
    pthread_mutex_t faders_lock;
    pthread_mutex_t faders_io_lock;
    pthread_cond_t faders_cond;
    lb_thread faders_thread;
    int faders_thread_running, faders_quit;
    char *faders_pending_path, *faders_pending_text;
    encode_worker workers[MAX_WORKERS];
    int nb_workers;
    copy_worker copiers[LB_MAX_SOURCES];
    int nb_copiers;
    mic_archive mic_archive;
    pthread_mutex_t workers_lock;
    pthread_cond_t workers_cond;
    int64_t encoded_frames;         /* program frames the encoder thread finished */

    lb_frame_pool program_frames;   /* the program's pictures (program thread) */
    int64_t late_since_trim_us;     /* program thread: the last late tick not yet followed
                                     * by giving memory back (0: none) */
    int on_time_once;               /* program thread: a tick has waited for its time */
    int64_t startup_ticks, startup_behind_us;   /* the start-up's catch-up (overload.c) */
    lb_queue *to_encoder;           /* program frames + audio, BLOCK */
    lb_thread program_thread, encoder_thread, status_thread;
    atomic_int stop;
    atomic_int finished;            /* duration reached or sources ended */
    atomic_int status_dirty;
    atomic_int restart;             /* a reload restarts the pipeline: lb_pipeline_wait() returns */        /* publish the status at the next 100 ms, not the next second */
    int started;

    /* the lesson's life (daemon/lifecycle.c), under lock: p->lc is written
     * only by lb_lifecycle_event() and the lifecycle's own reports */
    pthread_mutex_t lock;
    lb_lifecycle lc;
    unsigned lc_todo;               /* LB_FX_* the program thread has yet to carry out */
    unsigned lc_start_gen;          /* bumped by each start asked for: its reports name it */
    char lesson_id[64];             /* of the lesson being started to finished, for the log */
    lb_lesson_info pending_info;
    lb_lesson *lesson;
    int64_t rec_start_us;           /* program time of the lesson's time 0 (a resumed
                                     * part's first frame is later) */
    double rec_offset_s;            /* lesson time of this part's first frame (resumed) */
    char resume_dir[1024];          /* the interrupted lesson to resume (daemon/resume.c) */
    int shut_down_queued;           /* start-up: lessons a shutdown finished, queued for upload */
    int64_t rec_frames;
    char last_error[256];
    char reload_status[8192];       /* the last reload, a JSON object ("" none) */

    /* latest frames for snapshots and the current shot, under lock */
    AVFrame *latest[LB_MAX_SOURCES];
    AVFrame *latest_program;
    lb_shot shot;                   /* on the air */
    int shot_waiting;               /* program thread: a decided shot waits for its cameras */
    int inset_sub_source;           /* program thread: whose sub-stream the inset was, -1: none */
    int64_t shot_wait_since_us;
    int source_needs_frames[LB_MAX_SOURCES];    /* every frame, always: an ISO encode */
    analysis_watch analysis_watch[LB_MAX_SOURCES];  /* program thread: logs only */
    /* lb_clock time until which a console is taken to show a camera's
     * preview (it asked for one lately): its sub-stream is decoded in full */
    _Atomic int64_t preview_until_us[LB_MAX_SOURCES];
    double mic_dbfs[LB_MAX_MICS];
    lb_mixer_levels mix_levels;
    double program_dbfs;
    int64_t program_time_us;
    uint64_t frames_composed, frames_late;
    uint64_t frames_skipped;        /* ticks that repeated the last picture (under lock) */
    int64_t repeat_until;           /* program thread: ticks before this one repeat it */
    atomic_int take_pending;        /* an operator's take since the last composed tick */
    atomic_int shed_level;          /* the shedding ladder's step (daemon/overload.c) */
    _Atomic int64_t lag_us;         /* how late the last tick was made (0: on time) */
    _Atomic int64_t sync_delay_us;  /* how far the program runs behind capture now */
    int64_t sync_delay_logged_us;   /* program thread */
    int64_t shed_changed_us, shed_late_us;  /* program thread */
    int64_t shed_late_since_us;             /* late beyond SHED_LATE_US since; 0 on time */
    lb_health_feed *health;         /* daemon/health_feed.c */
    struct lb_scheduler *scheduler; /* daemon/scheduler.c */
};

/* The program time (us) of tick n. */
static inline int64_t lb_pipeline_tick_us(const lb_pipeline *p, int64_t n)
{
    return av_rescale(n, 1000000LL * p->fps_den, p->fps_num);
}

/* daemon/recut.c */
/* The keys the first line of a lesson's director.jsonl adds (format 2):
 * "format", "v" and "program" (size, rate, sources, mics, the virtual
 * camera and the [director] and [encoder] sections): malloc'ed, or NULL. */
char *lb_recut_log_header(const lb_pipeline *p, const lb_config *cfg);
/* What luobo recut checks of a decision log before it opens any media: the
 * header (format 2) of path's first line and the settings it carries, then
 * every record of log_path (NULL: path).  0, or a negative AVERROR with
 * err naming the file and line.  For tests/fuzz/fuzz_director. */
int lb_recut_log_check(const char *path, const char *log_path, char *err, size_t err_size);

/* daemon/overload.c: behind real time */
/* Program thread, realtime, before tick n: waits for its time; returns 1
 * when the tick is to repeat the last picture (the program fell more than
 * max_lag_ms behind and catches up; never without a picture to repeat). */
int lb_overload_pace(lb_pipeline *p, int64_t n, int have_picture);
/* The shedding ladder's steps, in the order they are taken. */
enum {
    LB_SHED_PREVIEWS = 1,
    LB_SHED_ISO,
    LB_SHED_RENDITIONS,
    LB_SHED_PROGRAM,
    LB_SHED_STEPS = LB_SHED_PROGRAM,
};
/* What the last step taken shed, or NULL; any thread. */
const char *lb_overload_shedding(const lb_pipeline *p);

/* An item of the encoder queue (pipeline.c's lb-encode): a program frame
 * and/or the program's sound of a tick, and recording commands that take
 * effect at it. */
typedef struct lb_program_item {
    int64_t seq;                /* the tick's number since the program started */
    AVFrame *video;
    float *audio;
    int nb_audio;
    int64_t audio_pts_us;
    int start_recording;        /* the archive was started for this frame */
    int repeat;                 /* video is the last picture again (daemon/overload.c) */
    int stop_recording;         /* the recording ends after this item */
} lb_program_item;
void lb_program_item_free(void *item);
/* Into the encoder queue; freed when the queue is closed (AVERROR_EXIT). */
int lb_program_item_push(lb_pipeline *p, lb_program_item *it);

/* daemon/program_sound.c: the program's sound, tick by tick (realtime a
 * tick's sound is read at the next tick, when it has all come) */
typedef struct lb_program_sound lb_program_sound;
int lb_program_sound_alloc(lb_pipeline *p, lb_program_sound **snd);
void lb_program_sound_free(lb_program_sound **snd);
/* Before tick n is composed: reads the sound due now (offline tick n's,
 * realtime tick n-1's); its levels are what the director and the meters
 * hear at this tick. */
const lb_mixer_levels *lb_program_sound_read(lb_program_sound *snd, int64_t n);
/* Tick n's picture (it) with its recording commands, and the sound read at
 * this tick, to the encoder in order and to the mics' files; realtime, a
 * stop waits for its tick's sound.  Takes it; < 0: the program ends. */
int lb_program_sound_send(lb_program_sound *snd, int64_t n, lb_program_item *it, int start, int stop);
/* At the program's end: what is left, once it has come. */
void lb_program_sound_flush(lb_program_sound *snd);

/* daemon/mic_archive.c */
int lb_mic_archive_setup(lb_pipeline *p, char *err, size_t err_size);   /* adds the streams */
int lb_mic_archive_start(lb_pipeline *p);
/* The tick's samples of every mic (bufs[m], nb each, first at pts_us) and
 * the recording marks of its frame; program thread. */
void lb_mic_archive_push(lb_pipeline *p, int64_t seq, float *const *bufs, int nb, int64_t pts_us,
                         int start, int stop);
/* Waits until the tick seq is encoded (its packets sent). */
void lb_mic_archive_wait(lb_pipeline *p, int64_t seq);
void lb_mic_archive_stop(lb_pipeline *p);                               /* flushes, joins */
void lb_mic_archive_free(lb_pipeline *p);

/* daemon/iso_copy.c: resource mode by stream copy of compressed cameras */
/* Adds a copier and its ISO stream for the camera (before the live outputs
 * start); its queue takes the camera's packets. */
int lb_iso_copy_add(lb_pipeline *p, int source, const AVCodecParameters *par);
int lb_iso_copy_start(lb_pipeline *p);                                  /* the iso-copy threads */
void lb_iso_copy_stop(lb_pipeline *p);                                  /* closes, joins */
void lb_iso_copy_free(lb_pipeline *p);

/* daemon/status.c: the lb-status thread (meters, status) and the tally */
int lb_status_start(lb_pipeline *p);
void lb_status_stop(lb_pipeline *p);                  /* after p->stop is set */
/* The shot that went on the air at program time t_us; program thread. */
void lb_status_decision(lb_pipeline *p, const lb_shot *air, int64_t t_us);

/* daemon/health_feed.c: the health checks ([health]) on the lb-health thread */
/* sec: [health]; alerts: [alerts] (the webhook) */
int lb_health_feed_create(lb_pipeline *p, const lb_config_section *sec,
                          const lb_config_section *alerts, char *err, size_t err_size);
int lb_health_feed_start(lb_pipeline *p);
void lb_health_feed_stop(lb_pipeline *p);
void lb_health_feed_free(lb_pipeline *p);
/* GET /api/v1/alerts: {"alerts":[...]}; any thread */
cJSON *lb_health_feed_alerts_json(lb_pipeline *p);
/* The luobo_alert family for /metrics (malloc'ed); any thread */
char *lb_health_feed_metrics(lb_pipeline *p);

/* daemon/scheduler.c wired to the pipeline (pipeline.c): [schedule] */
int lb_pipeline_scheduler_create(lb_pipeline *p, const lb_config *cfg, char *err, size_t err_size);

/* daemon/faders.c: the operator's faders are the lesson's (.faders.json
 * in its folder).  changed(): after POST /api/v1/mics, kept if a lesson
 * records; lesson_started(): after the lesson's folder is set (p->lock not
 * held), a resumed one's read back, then kept; lesson_ended(): back to
 * 0 dB, unmuted.  Any thread. */
void lb_faders_changed(lb_pipeline *p);
void lb_faders_lesson_started(lb_pipeline *p, int resumed);
void lb_faders_lesson_ended(lb_pipeline *p);
void lb_faders_stop(lb_pipeline *p);

/* daemon/resume.c: resuming an interrupted lesson.  At start-up, before
 * the repair: finds the lesson (streamer's rules), moves its files aside as
 * a part and notes it in p->resume_dir: 1, else 0. */
int lb_resume_prepare(lb_pipeline *p);
/* Sends the lifecycle's "resume" with the lesson's metadata. */
void lb_resume_request(lb_pipeline *p);
/* The lesson joiner (lb_lesson_set_joiner): the parts of a resumed lesson,
 * stream-copied onto the lesson's timeline, each outage a slate. */
int lb_resume_join(const char *lesson_dir, const struct AVDictionary *tags);

/* daemon/lifecycle.c: the lesson's life on the pipeline */
typedef struct lb_lifecycle_tick_info {
    int64_t t_us;               /* the tick's program time */
    int64_t next_sent;          /* number of the frame after the last one given to the encoders */
    int shot_changed;           /* air went on the air at this tick */
    const lb_shot *air;
    const char *chapter;        /* a chapter starts here, or NULL */
    int start, stop;            /* out: the lesson starts / ends at this tick's frame */
} lb_lifecycle_tick_info;

/* Sends a lesson event from any thread (the API, the timetable, a guard):
 * the only way to change the lesson's state.  why is for the log line
 * ("api: stop", "timetable: period ended"); info, the metadata of a start.
 * Returns 0, or AVERROR(EBUSY) with the reason in err when the event is
 * not allowed in the current state. */
int lb_lifecycle_event(lb_pipeline *p, lb_lesson_event ev, const char *why, const lb_lesson_info *info,
                       char *err, size_t err_size);
/* Program thread, at its end: a lesson in progress is finished by the
 * encoder thread after the last frame. */
void lb_lifecycle_shutdown(lb_pipeline *p, int signalled, const char *why);
/* --record: a lesson starts as soon as the cameras are up. */
void lb_lifecycle_request_record(lb_pipeline *p, const char *title);
/* Program thread, each tick, before any encoder sees the tick's frame. */
void lb_lifecycle_tick(lb_pipeline *p, lb_lifecycle_tick_info *tick);
/* --duration: 1 when the run (or the --record lesson) is long enough. */
int lb_lifecycle_duration_reached(lb_pipeline *p, int64_t n, int64_t total_frames);
/* Encoder thread: the frame seq, marked as the lesson's last, is encoded;
 * waits for the ISO encodes and the mics, then finishes the lesson. */
void lb_lifecycle_finish_at(lb_pipeline *p, int64_t seq);
/* Encoder thread, at the program's end: closes the workers and finishes. */
void lb_lifecycle_finish_at_end(lb_pipeline *p);

#endif
