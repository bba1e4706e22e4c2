/* director/: which sources are on the air, and the program picture.
 *
 * The director looks at the sources (small luma copies, about 10 Hz) and at
 * the microphones, applies the rules of [director] and decides a shot: a
 * layout and the sources in it, with a reason.  The compositor turns a shot
 * and the sources' frames into the program frame.  An operator may take over
 * (manual mode) at any time.
 *
 * Analysis, per source: motion (share of the picture that changed since the
 * last analysis tick), presence (share that differs from a slowly learnt
 * background) per zone, the centroid of what is in front of the background
 * (the teacher), persistent new marks (board writing: a change that stays
 * still for board_persist_s and moves away from the board's colour), and on
 * screen sources new slides (a large change that then settles) and video
 * (changes that go on).  Per mic: voice activity with attack and hangover
 * over an adaptive noise floor.
 *
 * Rules, each a small proposer with a weight from [director]: students
 * (a student standing in zone "stand", else anywhere in the students
 * picture, for stand_s, framed close, or the students' mic), slide (screen
 * alone, then screen with the teacher in picture), board (a writing
 * session: a new mark made while someone is at the board, ended by
 * board_hold_s without marks or, sooner, by nobody at the board for
 * board_leave_s once the teacher camera, which lost the teacher meanwhile,
 * sees the teacher again),
 * video (on a screen), speaker (the source of the speaking mic's role), idle
 * (wide, else teacher).  The highest weight wins; a cutter on top keeps
 * every shot at least min_shot_s (min_shot_event_s before a new slide or a
 * student standing up), switches only when the newcomer beats a
 * still valid current shot by hysteresis and stayed wanted for settle_s,
 * and after max_shot_s cuts away for cutaway_s.
 *
 * Configuration ([director], see lb_director_options and
 * lb_compositor_options for every key with its default and range):
 *   zones = stand@students:0.5,0.2,0.3,0.6; podium@teacher:0,0.3,1,0.7
 *     NAME@SOURCE:x,y,w,h with SOURCE a source name or role and the
 *     rectangle in shares of the picture.  Zone "stand" is where students
 *     stand up (default: the students camera's whole picture), zone
 *     "podium" where the teacher is tracked (default: the whole picture);
 *     other names are measured and may be used by future rules.
 *   vcam = teacher     the wide camera the virtual camera crops
 *   students_closeup   frame the student standing in zone "stand"
 *   chapter_min, chapter_gap_s   which screen changes become chapters
 *   weight_* (0..1), min_shot_s, min_shot_event_s, max_shot_s, cutaway_s, settle_s,
 *   hysteresis, board_*, slide_*, video_*, vad_*, vcam_*
 *   pip_corner, pip_size, pip_margin, pip_border, dissolve_ms, pip_sub_stream
 *   (compositor)
 *
 * Determinism: decisions depend only on the frames, levels and t_us passed
 * in (analysis ticks are on program time), so offline runs repeat exactly.
 *
 * Threads: lb_director_update and lb_compositor_* run on the program thread;
 * lb_director_set_mode, lb_director_get_mode and lb_director_status_json
 * may be called from any thread. */
#ifndef LB_DIRECTOR_H
#define LB_DIRECTOR_H

#include <stddef.h>
#include <stdint.h>

#include <libavutil/frame.h>

#include <cjson/cJSON.h>

#include "lb_config.h"
#include "lb_media.h"

#define LB_MAX_SOURCES 16
#define LB_MAX_MICS 8

typedef enum lb_layout {
    LB_LAYOUT_INVALID = 0,
    LB_LAYOUT_SINGLE,
    LB_LAYOUT_PIP,
    LB_LAYOUT_SBS,
} lb_layout;

const char *lb_layout_name(lb_layout layout);
lb_layout lb_layout_from_name(const char *name);

typedef enum lb_director_mode {
    LB_DIRECTOR_INVALID = 0,
    LB_DIRECTOR_AUTO,
    LB_DIRECTOR_MANUAL,
} lb_director_mode;

/* A rectangle in normalised picture coordinates (0..1). */
typedef struct lb_rectf {
    double x, y, w, h;
} lb_rectf;

/* The virtual camera's state: the crop's centre and width (normalised) and
 * where it is heading.  lb_vcam_step() moves it from frame to frame; a
 * re-cut replays a logged state with it (docs/director-jsonl.md). */
typedef struct lb_vcam_state {
    double x, y, w;
    double tx, ty, tw;
} lb_vcam_state;

/* How the virtual camera moves ([director] vcam_*). */
typedef struct lb_vcam_params {
    double smooth_s, speed, dead_zone;
} lb_vcam_params;

/* One frame of the virtual camera's motion toward its target, dt_us after
 * the last: the same arithmetic live and in a re-cut. */
void lb_vcam_step(const lb_vcam_params *params, lb_vcam_state *s, int64_t dt_us);
/* The crop of a state (x, y, w, h with h = w; the compositor fits it). */
lb_rectf lb_vcam_crop(const lb_vcam_state *s);

typedef struct lb_shot {
    lb_layout layout;
    int nb_sources;
    int sources[2];              /* indices into the source list, main first */
    char name[32];               /* the shot's name: usually the main role */
    char reason[256];
    /* The part of each source to show (the virtual camera); w == 0 means
     * the whole picture.  Changes from frame to frame while the virtual
     * camera pans; it is not part of the decision (update does not return 1
     * for a pan) and not logged.  The compositor keeps the centre and fits
     * the aspect ratio to the destination rectangle. */
    lb_rectf crop[2];
    /* Slot k's crop follows the virtual camera (bit k), whose state at
     * this frame is vcam; pan_key: its target moved at this frame (a pan
     * keyframe for director.jsonl, not a decision). */
    int vcam_slots;
    lb_vcam_state vcam;
    int pan_key;
} lb_shot;

/* What the director knows about the hall, fixed at start. */
typedef struct lb_director_setup {
    int nb_sources;
    const char *source_names[LB_MAX_SOURCES];
    lb_role source_roles[LB_MAX_SOURCES];
    int nb_mics;
    const char *mic_names[LB_MAX_MICS];
    lb_role mic_roles[LB_MAX_MICS];
    int width, height;           /* program picture */
    int fps_num, fps_den;
} lb_director_setup;

typedef struct lb_director lb_director;

extern const lb_option lb_director_options[];

int lb_director_create(lb_director **d, const lb_config_section *sec,
                       const lb_director_setup *setup, char *err, size_t err_size);
void lb_director_free(lb_director **d);

/* Called once per program frame at program time t_us with the newest frame
 * of each source (NULL where there is none) and each mic's level of the
 * last frame in dBFS.  Fills *shot with the shot to show now and returns 1
 * when it differs from the previous one (a decision to log), else 0.
 * A source counts as lost (and is never chosen) while its frame is NULL,
 * carries the metadata key "lb_slate" (a "no signal" card), or its pts has
 * not moved for stale_s.  frames are only read, never kept.  t_us must not
 * go backwards.  Returns a negative AVERROR only on allocation failure. */
int lb_director_update(lb_director *d, int64_t t_us, AVFrame *const *frames,
                       const double *mic_dbfs, lb_shot *shot);

/* A chapter-worthy event (a new slide) since the last call: returns 1 and
 * fills title, else 0.  Called on the program thread after update. */
int lb_director_next_chapter(lb_director *d, char *title, size_t size);

/* What the director sees, for the UI and /metrics: a JSON object of the
 * last analysis tick, e.g.
 *   {"t": 12.3, "mode": "auto", "reason": "...",
 *    "sources": [{"name": "board", "live": true, "motion": 0.012,
 *                 "presence": 0.080, "marks": 0.0021, "video": false}, ...],
 *    "mics": [{"name": "teacher", "dbfs": -21.5, "speaking": true}, ...]}
 * Any thread.  Returns the length written (truncated to size), or a
 * negative AVERROR. */
int lb_director_status_json(lb_director *d, char *buf, size_t size);

/* Operator override: manual with a shot by role or source name and a
 * layout, or back to auto.  Returns 0 or AVERROR(EINVAL) with err. */
int lb_director_set_mode(lb_director *d, lb_director_mode mode, const char *shot,
                         lb_layout layout, char *err, size_t err_size);
lb_director_mode lb_director_get_mode(lb_director *d);
/* A reload: reads [director] again and applies its live keys (LB_OPT_LIVE
 * in lb_director_options: mode, shot, layout, the cutter's durations and
 * hysteresis, the weights) from the next update on; the other keys keep
 * what the director was created with.  mode and shot act as the operator's
 * override would.  Any thread.  Returns 0 or AVERROR(EINVAL) with err. */
int lb_director_reconfigure(lb_director *d, const lb_config_section *sec, char *err,
                            size_t err_size);

/* The compositor: program frames from a shot.  It reads lb_compositor_options
 * from the section given to lb_compositor_create (the [director] section):
 * pip corner, size and margin, and an optional dissolve between shots. */
typedef struct lb_compositor lb_compositor;
extern const lb_option lb_compositor_options[];
int lb_compositor_create(lb_compositor **c, const lb_director_setup *setup,
                         const lb_config_section *sec, char *err, size_t err_size);
/* Composes into dst, a YUV420P frame of the program size allocated by the
 * caller (writable).  Sources missing from frames[] are drawn black. */
int lb_compositor_compose(lb_compositor *c, const lb_shot *shot, AVFrame *const *frames,
                          AVFrame *dst);
/* 1 if picture (a camera's sub-stream), drawn as the shot's inset (the
 * second source of a picture in picture) in a width x height program, shows
 * the view of main (the same aspect ratio within 2 %) and would be enlarged
 * by no more than 1 / scale (1: not at all): it may then stand for the main
 * stream there.  0 always with pip_sub_stream = false. */
int lb_compositor_inset_fits(const lb_compositor *c, const lb_shot *shot, int width, int height,
                             const AVFrame *picture, const AVFrame *main, double scale);
/* [director] pip_sub_stream: the program may draw sub-streams. */
int lb_compositor_draws_sub_streams(const lb_compositor *c);
/* Describes dst as a program picture (YUV420P, width x height, BT.709
 * limited range: what the encoders are set up for), before its buffer is
 * attached; the live program and the re-cut both use it so their pictures
 * are tagged alike. */
void lb_compositor_frame_setup(AVFrame *dst, int width, int height);
void lb_compositor_free(lb_compositor **c);

/* A reason's parts as codes with parameters, for pages in other languages:
 * [{"code": "mic_speaking", "params": {"mic": "teacher", "dbfs": "-21"}},
 * {"text": "a part no template knows"}] (reasons.c).  The caller frees it. */
cJSON *lb_director_reasons_json(const char *reason);
/* The reasons' table (code, template, parameter names), *nb entries: every
 * sentence the director writes, for tests and pages that check coverage. */
struct lb_text_code;
const struct lb_text_code *lb_director_reason_codes(size_t *nb);

/* One decision as a director.jsonl line (no newline), into buf: the
 * contract's keys, then (format 2, docs/director-jsonl.md) "crop" and, while
 * the virtual camera is on screen, "vcam" with its state.  pan: the line is
 * a pan keyframe ("pan": true) repeating the shot.  Last, "reasons": the
 * reason's parts as codes, when the line has room for them (LB_SHOT_JSON_MAX
 * has room for any). */
#define LB_SHOT_JSON_MAX 4096
int lb_shot_to_json(const lb_shot *shot, int64_t t_us, const lb_director_setup *setup,
                    char *buf, size_t size);
int lb_shot_to_json2(const lb_shot *shot, int64_t t_us, const lb_director_setup *setup, int pan,
                     char *buf, size_t size);

/* The director's settings that a re-cut's replay needs, for the log's
 * header: the virtual camera's source (-1: none) and motion. */
void lb_director_vcam_info(const lb_director *d, int *source, lb_vcam_params *params);

#endif
