/* streamer/: where a lesson leaves the box.
 *
 * Outputs (archive, hls, srt, upload) are vtables behind one interface, each
 * running on its own thread behind its own bounded queue: the archive's
 * queue blocks (a recording is never lossy), network outputs drop the oldest
 * GOP when they fall behind and mark the gap.  lb_streamer_send() hands a
 * reference of each packet to every output.
 *
 * Packets arrive with pts/dts in microseconds on the program timeline and
 * stream_index set to the index of their lb_stream_desc in the table given
 * at start.
 *
 * The lesson (recording folder, lesson.json, director.jsonl) is also here:
 * it is the archive's metadata.
 *
 * Files the streamer writes (for the web UI and the API):
 *   <lesson>/program.mp4, <lesson>/iso/<stream name>.mp4,
 *   <lesson>/audio/<mic>.m4a (LB_STREAM_ISO_AUDIO: one microphone, AAC-LC)
 *       fragmented MP4 while recording (playable at any time, also after a
 *       crash), regular fast-start MP4 once the lesson is finished
 *   <lesson>/lesson.json, <lesson>/director.jsonl   the DESIGN contracts
 *       (lesson.json: docs/lesson-json.md, schema LB_LESSON_SCHEMA)
 *   <lesson>/episode.xml   Dublin Core catalog (Opencast's episode form)
 *   <lesson>/upload.json   with an upload output: {"state": "queued" |
 *       "uploading" | "waiting" (origin unreachable, will retry) | "done" |
 *       "failed", "files_done", "files_total", "bytes_done", "bytes_total",
 *       "updated_at", "last_error"}
 *   DATA_DIR/.live/        HLS (lb_streamer_live_dir): program.m3u8 and its
 *       segments, replaced atomically (rename), so serve them as they are
 *   DATA_DIR/.upload-queue lessons waiting for upload, one folder a line
 *
 * Threads: lb_streamer_send from the encoder thread(s); the control calls
 * (start/stop/add/remove/free) from control threads, serialised inside; get_stats and
 * live_dir from any thread. */
#ifndef LB_STREAMER_H
#define LB_STREAMER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libavcodec/codec_par.h>
#include <libavcodec/packet.h>

#include "lb_config.h"
#include "lb_media.h"
#include "lb_meta.h"

typedef struct lb_stream_desc {
    lb_stream_kind kind;
    const char *name;                 /* "program", "audio", "720p", source name */
    const AVCodecParameters *par;     /* valid for the streamer's whole run */
    int64_t keyint_us;                /* video: the longest a GOP lasts (an IDR at every
                                       * multiple of it on the timeline); 0 = unknown */
} lb_stream_desc;

typedef struct lb_output_stats {
    char name[64];
    char kind[16];
    char state[16];                   /* "idle", "connecting", "live", "lost", ... */
    uint64_t packets, bytes;
    uint64_t dropped;                 /* packets dropped by the queue */
    uint64_t reconnects;
    double rtt_ms, loss_pct, send_kbps; /* SRT; 0 where not applicable */
    char last_error[256];
    /* Added by the streamer: */
    uint64_t retransmits;             /* SRT: packets sent again, all receivers */
    int64_t cpu_us;                   /* CPU time of the output's thread, all
                                       * runs (the cost of the output) */
} lb_output_stats;

/* Every output kind implements this; core allocates priv (priv_size bytes,
 * zeroed) and calls close even when open failed. */
typedef struct lb_output_ops {
    const char *kind;
    size_t priv_size;
    /* Validates the section (no I/O). */
    int  (*configure)(void *priv, const lb_config_section *sec, char *err, size_t err_size);
    /* Opens with the stream table; dir is the lesson folder for per-lesson
     * outputs, NULL for live ones. */
    int  (*open)(void *priv, const lb_stream_desc *streams, int nb_streams, const char *dir);
    int  (*write)(void *priv, const AVPacket *pkt);    /* 0 or negative AVERROR */
    void (*stats)(void *priv, lb_output_stats *out);
    void (*close)(void *priv);

    /* Added by the streamer (all optional, zero = not used): */
    unsigned stream_kinds;            /* bit (1u << lb_stream_kind) per kind of
                                       * stream the output takes; 0 = none */
    int per_lesson;                   /* opened by start_recording with the
                                       * lesson folder, closed by stop_recording */
    /* Called from a control thread while the output thread may be blocked
     * in write (a connect, a backoff): makes it return soon. */
    void (*interrupt)(void *priv);
    /* The output's queue dropped packets before the next write: the output
     * should mark a discontinuity (the next packet starts a GOP). */
    void (*gap)(void *priv);
    /* A lesson folder was finalised (stop_recording): e.g. upload it. */
    void (*lesson_done)(void *priv, const char *lesson_dir);
    /* Called on the output's thread when no packet came for ~100 ms
     * (connect, keep-alive, housekeeping). */
    void (*idle)(void *priv);
    /* Releases what configure set up (lb_streamer_free). */
    void (*uninit)(void *priv);
    /* The kind's option table, for --help and the API. */
    const lb_option *options;
} lb_output_ops;

/* ---- the lesson: a recording folder ---- */

typedef struct lb_lesson lb_lesson;

/* The lesson's metadata (core/lb_meta.h). */
typedef lb_lesson_meta lb_lesson_info;

/* lesson.json's "schema": 2 added the metadata of lb_lesson_meta. */
#define LB_LESSON_SCHEMA 2

typedef struct lb_lesson_source {
    const char *name;
    lb_role role;
    const char *file;     /* relative to the lesson folder, e.g. "iso/teacher.mp4" */
    int mic;              /* a microphone ("mics" in lesson.json, file
                           * "audio/<mic>.m4a"), else a camera ("sources") */
} lb_lesson_source;

/* Creates DATA_DIR/<YYYYMMDD-HHMMSS-slug>/ with iso/ and writes lesson.json
 * with status "recording".  sources holds the cameras and the mics. */
int lb_lesson_create(lb_lesson **l, const char *data_dir, const lb_lesson_info *info,
                     const lb_lesson_source *sources, int nb_sources,
                     char *err, size_t err_size);
const char *lb_lesson_dir(const lb_lesson *l);
const char *lb_lesson_id(const lb_lesson *l);
/* Appends one line to director.jsonl (flushed). */
int lb_lesson_log_decision(lb_lesson *l, const char *json_line);
/* Adds a chapter at program time t_s (seconds from the lesson start). */
int lb_lesson_add_chapter(lb_lesson *l, double t_s, const char *title);
/* New metadata for a lesson being recorded (a manual recording that a
 * timetable entry took over): lesson.json and episode.xml are rewritten
 * with it, off the caller's thread; the folder keeps its name.  The MP4
 * files get it when the lesson is finalised (the fast-start rewrite). */
int lb_lesson_set_info(lb_lesson *l, const lb_lesson_info *info);
/* Writes lesson.json with status complete (or interrupted) and the
 * duration, then frees.  Accepts NULL. */
void lb_lesson_finish(lb_lesson **l, double duration_s, int complete);

/* On start-up: every lesson under data_dir still marked "recording" (a crash
 * or power loss) gets its duration from its program.mp4 and is marked
 * "interrupted" (episode.xml rewritten with its end).  Returns how many
 * were repaired; lb_lesson_repair_each also calls repaired (when not NULL)
 * with each one's folder. */
int lb_lesson_repair_all(const char *data_dir);
int lb_lesson_repair_each(const char *data_dir, void (*repaired)(void *opaque, const char *dir),
                          void *opaque);
/* The same, leaving the folder keep_dir alone (the lesson being resumed).
 * A resumed lesson's duration is its last outage's end plus its current
 * program.mp4's, and its parts are joined (lb_lesson_join); so are the
 * parts of a lesson whose join was cut short.  The work files a crash left
 * (a fast-start rewrite's marker and temps, a re-cut's, a clip's) are left
 * alone while an edit waits or runs, and with LB_REPAIR_KEEP_TEMPS (a web
 * UI kept through a reload: its re-cut child may run): the next start
 * clears them. */
#define LB_REPAIR_KEEP_TEMPS 1u
int lb_lesson_repair_each_except(const char *data_dir, const char *keep_dir, unsigned flags,
                                 void (*repaired)(void *opaque, const char *dir), void *opaque);

/* lesson.json of a lesson folder, read as hostile input (at most
 * LB_LESSON_JSON_MAX bytes, an object): 0 and *root, or a negative AVERROR
 * with err ("lesson.json: larger than 1 MiB", "...: malformed JSON at byte
 * 12"). */
#define LB_LESSON_JSON_MAX (1 << 20)
struct cJSON;
int lb_lesson_json_read(const char *dir, struct cJSON **root, char *err, size_t err_size);

/* Edits a finished lesson's metadata in its folder: the members of mask
 * (LB_META_* of core/lb_meta.h) are replaced in lesson.json (the rest of
 * the file is kept as it is) and episode.xml is made anew, both replaced
 * atomically.  lesson.json is read as hostile input.  0, or a negative
 * AVERROR with err: AVERROR(EBUSY) while the lesson records, AVERROR(ENOENT)
 * without a lesson.json, AVERROR_INVALIDDATA for a file that is not one. */
int lb_lesson_edit(const char *lesson_dir, const lb_lesson_meta *meta, unsigned mask,
                   char *err, size_t err_size);

/* The lesson's MP4 tags (title, artist, date, comment, genre:
 * docs/lesson-json.md) copied from src to *dst: whatever rewrites or joins
 * a lesson's MP4 files (the fast-start rewrite, a resumed lesson's join)
 * copies them from its input's AVFormatContext.metadata to its output's,
 * which libavformat does not do by itself. */
struct AVDictionary;
void lb_mp4_copy_tags(struct AVDictionary **dst, const struct AVDictionary *src);

/* ---- chapters and clips of a finished lesson (chapters.c) ----
 *
 * lesson.json's "chapters" are written into program.mp4 as MP4 chapters
 * by the fast-start rewrite after the lesson (and after a resumed
 * lesson's join) and into LB_CHAPTERS_VTT beside it (WebVTT chapter
 * cues, the last ending at the program's end).  An edit replaces the
 * list; the files follow on the edit thread. */
#define LB_CHAPTERS_MAX 254            /* the MP4 "chpl" box holds 255: one for a lead */
#define LB_CHAPTER_TITLE_MAX 255       /* bytes; "chpl" holds no longer */
#define LB_CHAPTERS_VTT "program.chapters.vtt"
typedef struct lb_chapter {
    double t_s;                         /* seconds from the lesson's start */
    char title[LB_CHAPTER_TITLE_MAX + 1];
} lb_chapter;
/* A "chapters" array of {"t","title"} into *c (malloc'ed, sorted by t;
 * the caller frees).  strict (the API): anything wrong is AVERROR(EINVAL)
 * with err naming the member ("'chapters[2].title': longer than 255
 * bytes", "'chapters[0].t' is past the lesson's end (12.000 s)"), a t past
 * duration_s (when > 0) too, an empty title, two chapters at the same
 * millisecond, more than LB_CHAPTERS_MAX; lenient (lesson.json as read
 * back): bad ones are left out.  AVERROR(ENOMEM). */
int lb_chapters_from_json(const struct cJSON *arr, double duration_s, int strict, lb_chapter **c,
                          int *nb, char *err, size_t err_size);
/* The chapters as the files carry them (*out malloc'ed): from 0, a first
 * one titled lead_title (the lesson's title) before c[0] when c[0] starts
 * later (QuickTime's chapter track must cover the file; readers take its
 * first sample as 0 whatever its edit list says).  nb 0 gives none. */
int lb_chapters_cover(const lb_chapter *c, int nb, const char *lead_title, lb_chapter **out,
                      int *nb_out);
/* The WebVTT text of chapters (malloc'ed): one cue per chapter, ending
 * where the next begins, the last at end_s. */
char *lb_chapters_vtt(const lb_chapter *c, int nb, double end_s);
/* <dir>/LB_CHAPTERS_VTT written atomically. */
int lb_chapters_write_vtt(const char *dir, const lb_chapter *c, int nb, double end_s);
/* The chapters of lesson.json in dir (lenient) and its duration_s. */
int lb_lesson_chapters_read(const char *dir, lb_chapter **c, int *nb, double *duration_s);
/* The API's edit (any thread, small files only): checks chapters (strict,
 * against duration_s), refuses a lesson being recorded (AVERROR(EBUSY)),
 * writes the LB_FINALISING marker (uploads wait) and lesson.json with
 * the new list.  Then lb_lesson_queue_chapters() makes the files follow. */
int lb_lesson_set_chapters(const char *dir, const struct cJSON *chapters, char *err, size_t err_size);
/* program.mp4 remuxed by stream copy with lesson.json's chapters and tags,
 * LB_CHAPTERS_VTT written, then each re-cut lesson.json's "versions" lists
 * (program.recut-N.mp4) remuxed the same way (slow: a copy of each).  0 or
 * the last AVERROR (the others are still done). */
int lb_lesson_apply_chapters(const char *dir);
/* path (another program of the lesson in dir: a re-cut) remuxed by stream
 * copy with lesson.json's chapters and tags, as lb_lesson_apply_chapters
 * does program.mp4.  0 or AVERROR. */
int lb_lesson_chapters_into(const char *dir, const char *path);
/* Queues lb_lesson_apply_chapters(dir) on the edit thread ("lb-lesson-edit",
 * started on first use), which then removes the folder's .finalising
 * marker.  AVERROR(EAGAIN) when 16 edits wait already. */
int lb_lesson_queue_chapters(const char *dir);

/* A clip: a range of one media file of a lesson as a lesson folder of its
 * own, DATA_DIR/<lesson-id>-clip[-<source>]-HHMMSS-HHMMSS (docs/lesson-json.md,
 * "Clips"). */
#define LB_CLIP_MIN_S 1.0
typedef struct lb_clip {
    char data_dir[2048];
    char lesson_dir[2304];
    char src[2560];
    char file[256];                     /* relative to the lesson: program.mp4,
                                         * iso/<camera>.mp4, audio/<mic>.m4a */
    char id[256];
    char dir[2304];
    double from_s, to_s;                /* asked for (to: at most the lesson's end) */
} lb_clip;
/* Checks a clip of lesson id's file from from_s to to_s (quick, any
 * thread): AVERROR(ENOENT) (no lesson), AVERROR_INVALIDDATA (lesson.json
 * damaged), AVERROR(EBUSY) (recording), AVERROR(EINVAL) with err naming
 * 'file', 'from' or 'to', AVERROR(EEXIST) (made already); 0 fills clip. */
int lb_clip_plan(const char *data_dir, const char *id, const char *file, double from_s,
                 double to_s, lb_clip *clip, char *err, size_t err_size);
/* Makes the clip (slow: the copy), in a hidden folder renamed into place. */
int lb_clip_make(const lb_clip *clip, char *err, size_t err_size);
/* Queues lb_clip_make() on the edit thread (errors are logged). */
int lb_clip_queue(const lb_clip *clip);
#define LB_LESSON_EDITS_MAX 16
/* How many edits wait or run (at most LB_LESSON_EDITS_MAX); lb_lesson_edits_stop() finishes them and
 * ends the thread (the daemon, at exit): from then on the queues answer
 * AVERROR(ESHUTDOWN). */
int lb_lesson_edits_pending(void);
void lb_lesson_edits_stop(void);

/* ---- resuming an interrupted lesson ----
 *
 * A lesson left "recording" by a crash, a kill or a power cut is resumed
 * into its own folder at the next start when it was last written less than
 * window_s ago, was not stopped on purpose (lesson.json "stop_requested",
 * written when a stop is asked for) and its "schedule_end" (Unix seconds or
 * ISO 8601, written by the timetable) has not passed.  Its files so far
 * move to parts/<n>/ and an outage {"from","to"} (lesson seconds) is added
 * to lesson.json's "outages"; the resumed part is recorded as a lesson's
 * files always are, starting at lesson time "to" (the wall time since the
 * lesson's start).  When the lesson ends, the joiner makes each file one
 * again on the lesson's timeline, the outages as a slate. */
/* The folder of the lesson to resume under data_dir (the latest written,
 * if several qualify) into dir: 1, or 0 when there is none.  Every lesson
 * left recording that does not qualify is logged with the reason. */
int lb_lesson_find_resumable(const char *data_dir, int window_s, int64_t now_wall_us,
                             char *dir, size_t dir_size);
/* The rule, on a lesson.json's contents (pure): why the lesson may not be
 * resumed at now_wall_us, or NULL when it may.  A candidate is left
 * "recording" (a crash, a kill, a power cut: its window runs from
 * written_us, its files' last write) or "complete" with "ended_by":
 * "shutdown" (a service stop or a reboot: from its "ended_at_ms"); either
 * without "stop_requested", with a "started_at_ms", and a "schedule_end"
 * not passed.  why (why_size bytes) may hold the text returned. */
const char *lb_lesson_not_resumable(const struct cJSON *root, int window_s, int64_t now_wall_us,
                                    int64_t written_us, char *why, size_t why_size);
/* 1 when lesson.json's contents are a candidate at all (the others are not
 * even logged by lb_lesson_find_resumable). */
int lb_lesson_resume_candidate(const struct cJSON *root);
/* Start-up, before the pipeline runs: moves the current files to the next
 * parts/<n>/ and notes the outage from the end of that part.  0 or a
 * negative AVERROR with err (the lesson is then repaired as interrupted). */
int lb_lesson_prepare_resume(const char *dir, char *err, size_t err_size);
/* At the resumed part's first frame: reopens a prepared lesson (its
 * metadata, chapters, outages and every key of lesson.json this code does
 * not write itself); the last outage ends at first_frame_wall_us (the wall
 * time of the part's first frame; 0: now). */
int lb_lesson_open(lb_lesson **l, const char *dir, const lb_lesson_source *sources,
                   int nb_sources, int64_t first_frame_wall_us, char *err, size_t err_size);
/* Lesson time (seconds) of this part's first frame: 0 for a new lesson. */
double lb_lesson_part_offset(const lb_lesson *l);
/* A stop was asked for: lesson.json says so ("stop_requested": true, written
 * off the caller's thread), so a crash while finishing is never resumed. */
void lb_lesson_request_stop(lb_lesson *l);
/* How the lesson ends, into lesson.json's "ended_by" at once (on disk when
 * it returns): "shutdown" (a service stop or a reboot while it recorded: it
 * is resumed at the next start within the window, lb_lesson_find_resumable)
 * or "end" (the program ended: an offline run, --duration); a stop asked
 * for writes "stop" (lb_lesson_request_stop).  The first one given stays. */
void lb_lesson_set_ended_by(lb_lesson *l, const char *how);

/* Calls each(opaque, dir) for every lesson under data_dir (but keep_dir)
 * that a shutdown finished ("ended_by": "shutdown", "complete") and that no
 * upload has seen (no upload.json): at a start that did not resume it, it
 * is queued for upload then, as its end did not (lb_streamer_stop_recording).
 * Returns how many. */
int lb_lesson_each_shut_down(const char *data_dir, const char *keep_dir,
                             void (*each)(void *opaque, const char *dir), void *opaque);

/* lesson.json written back atomically (takes root; read it with
 * lb_lesson_json_read). */
int lb_lesson_write_json(const char *dir, struct cJSON *root);

/* Makes a resumed lesson's parts one file each (the daemon's: it has the
 * encoders for the slate), called on the archive's finaliser thread after
 * the lesson ends (tags: the lesson's MP4 tags now) and by the repair at
 * start-up (tags NULL: the first part's are kept); removes parts/ when it
 * succeeded.  0 or a negative AVERROR (the parts are kept). */
typedef int (*lb_lesson_joiner)(const char *lesson_dir, const struct AVDictionary *tags);
/* Set once at start-up, before any lesson. */
void lb_lesson_set_joiner(lb_lesson_joiner join);
/* How many parts/<n>/ the folder has (n = 1, 2, ... without a hole). */
int lb_lesson_count_parts(const char *dir);
/* 1 when the folder holds parts of a resumed lesson. */
int lb_lesson_has_parts(const char *dir);
/* Calls the joiner when the folder has parts: 0 when it has none. */
int lb_lesson_join(const char *dir, const struct AVDictionary *tags);

/* ---- the streamer: outputs of the daemon ---- */

typedef struct lb_streamer lb_streamer;

/* Reads every [output.NAME] section of cfg (no I/O).  An archive output is
 * always present, even when the config names none. */
int lb_streamer_create(lb_streamer **st, const lb_config *cfg, char *err, size_t err_size);
void lb_streamer_free(lb_streamer **st);

/* Live outputs (hls, srt) start with the program and run until stop.  The
 * stream table (copied; par must stay valid until lb_streamer_free) is also
 * the one the archive uses, so start_live comes before start_recording. */
int lb_streamer_start_live(lb_streamer *st, const lb_stream_desc *streams, int nb_streams);
/* Per-lesson outputs (archive, and upload when the lesson ends) start on a
 * recording.  The archive begins at the first video key frame it is sent,
 * and rebases the lesson to start at 0. */
int lb_streamer_start_recording(lb_streamer *st, const char *lesson_dir);
/* Drains and finalises the archive: when it returns, every file is complete
 * and playable (fragmented MP4).  Their rewrite to regular fast-start MP4
 * follows on a background thread (the folder holds a ".finalising" file
 * meanwhile; uploads wait for it); lb_streamer_free waits for it to end.
 * Returns 0 or the archive's first error. */
int lb_streamer_stop_recording(lb_streamer *st);
/* While recording: 0, or the error that stopped the archive for the rest of
 * the lesson (AVERROR(ENOSPC) when the disk guard fired; its stats say
 * state "disk-full" and why).  The files are already finalised: the caller
 * should stop the recording and tell the user.  Any thread. */
int lb_streamer_recording_error(lb_streamer *st);
/* A finished lesson (a crashed one after its repair; an operator's retry or
 * re-upload) goes to every output that takes finished lessons (upload): it
 * joins the queue, or is tried again at once when it is in it.  Any
 * control thread.  Returns how many outputs took it (0: none is
 * configured). */
int lb_streamer_lesson_done(lb_streamer *st, const char *lesson_dir);
/* Gives a reference of pkt to every running output; the caller keeps pkt. */
int lb_streamer_send(lb_streamer *st, const AVPacket *pkt);
void lb_streamer_stop_live(lb_streamer *st);

/* A reload (any control thread): adds the output of section [output.NAME]
 * of cfg (hls, srt or upload; an archive is refused as a second one) and
 * starts it now when the live outputs run; it joins the program at its
 * next key frame.  The archive and the lesson are not touched.  cfg must
 * outlive the streamer.  Returns 0 (a failure to open is logged and shown
 * in its stats, as at start) or a negative AVERROR with err. */
int lb_streamer_add_output(lb_streamer *st, const lb_config *cfg, const char *name,
                           char *err, size_t err_size);
/* Stops (drains) and removes output NAME.  AVERROR(EPERM) for the archive,
 * AVERROR(ENOENT) when there is none.  Indices of get_stats shift: an
 * index past the end gives stats with an empty name. */
int lb_streamer_remove_output(lb_streamer *st, const char *name);

/* Prints every [output.NAME] key, per type, with print (NULL:
 * lb_options_print, for --help; lb_options_print_man for the man page). */
void lb_streamer_print_options(FILE *f, lb_options_printer print);

/* The local folder of the first HLS output (its playlist is NAME.m3u8,
 * "program.m3u8" by default), for the web server's /live/; NULL when there
 * is no HLS output.  Valid until lb_streamer_free or the output's
 * removal (lb_streamer_remove_output). */
const char *lb_streamer_live_dir(const lb_streamer *st);

/* A lesson that is not live (its start's live = false: the API's, or a
 * timetable entry's; daemon/lifecycle.c sets it each tick) is being
 * recorded: the live outputs with follow_schedule = true (hls, srt; the
 * default) send nothing while on is 1 (stats state "paused", the
 * connection kept), and take the program again at the next video key
 * frame after.  Any thread. */
void lb_streamer_set_private(lb_streamer *st, int on);

int lb_streamer_nb_outputs(lb_streamer *st);
void lb_streamer_get_stats(lb_streamer *st, int index, lb_output_stats *stats);

#endif
