/* Private to director/: settings, the analysis state and the rules. */
#ifndef LB_DIRECTOR_INTERNAL_H
#define LB_DIRECTOR_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "director.h"

#define LB_MAX_ZONES 16
#define LB_ZONES_SIZE 1024
#define LB_SOURCE_REF_SIZE 64
#define LB_RING 256              /* analysis ticks kept for windows */
#define LB_BOARD_PERSON_MIN 0.004 /* moving foreground, share of a board picture: someone there */

typedef struct lb_director_settings {
    int mode;                 /* lb_director_mode */
    char shot[LB_SOURCE_REF_SIZE];  /* manual: the shot to start with */
    int layout;               /* its layout (lb_layout) */
    double min_shot_s;
    double min_shot_event_s;  /* a new slide or a standing student, sooner */
    double max_shot_s;
    double cutaway_s;
    double settle_s;
    double hysteresis;
    double analysis_hz;
    int analysis_width;
    double stale_s;
    char zones[LB_ZONES_SIZE];

    double weight_students;
    double weight_slide;
    double weight_board;
    double weight_video;
    double weight_slide_pip;
    double weight_speaker;
    double weight_idle;

    int motion_threshold;     /* luma levels on the small picture */
    int presence_threshold;
    double absorb_s;          /* still foreground joins the background */
    double stand_min;         /* presence share in zone "stand" */
    double stand_max;         /* over this, a whole students picture changed */
    double stand_s;
    double board_persist_s;
    double board_hold_s;
    double board_min_marks;   /* share of the picture, over board_hold_s */
    double board_leave_s;     /* nobody at the board this long: writing may end */
    int board_layout;         /* lb_layout */
    double slide_min;
    double slide_settle_s;
    double slide_full_s;
    double slide_pip_s;
    double chapter_min;
    double chapter_gap_s;
    double video_min;
    double video_s;
    double vad_threshold_dbfs;
    double vad_margin_db;
    double vad_dominance_db;
    double vad_attack_s;
    double vad_hangover_s;

    char vcam[LB_SOURCE_REF_SIZE];
    double vcam_zoom;
    double vcam_speed;        /* frame widths per second, at most */
    double vcam_smooth_s;
    double vcam_dead_zone;    /* share of the crop where the teacher may move freely */
    int students_closeup;
    int log_pans;
} lb_director_settings;

typedef struct lb_zone {
    char name[32];
    int source;
    lb_rectf rect;
    double motion, presence;  /* last tick */
    double cx, cy, spread_y;  /* of what is present, normalised */
    int64_t present_since_us; /* presence >= stand_min since, or INT64_MIN */
} lb_zone;

/* One source's analysis on a small luma copy. */
typedef struct lb_source_analysis {
    struct SwsContext *sws;
    int in_w, in_h, in_fmt;
    int w, h;
    uint8_t *cur, *prev, *ref, *still, *before, *mask;
    uint8_t *block_still, *block_settled, *block_occluded;
    uint16_t *bg;             /* 8.8 fixed point */
    uint16_t *fg_ticks;       /* ticks as still foreground */
    int have_prev;
    int prev_median;          /* of the last picture's luma (with have_prev) */
    int fresh;                /* buffers new: learn bg and ref from this picture */
    int ticks;

    int live;
    int64_t last_pts, pts_moved_us;

    double motion;
    double presence;
    int64_t present_since_us; /* presence >= stand_min since, or INT64_MIN */
    int has_centroid;
    double active;            /* share of foreground that moved within ACTIVE_S */
    double cx, cy, spread;    /* normalised */

    /* board: new marks */
    int board_level;
    int64_t last_mark_us;
    int marks_ring[LB_RING];  /* marks per tick, over board_hold_s */
    int marks_pos, marks_len;
    int marks_sum;
    int writing;              /* a writing session: marks made with someone at the board */
    int podium_left;          /* the teacher camera lost the teacher meanwhile */
    int64_t board_seen_us;    /* someone moving in front of the board, last */
    int64_t writing_since_us;

    /* screen: slides and video */
    int slide_pending;
    int64_t slide_pending_us;
    int64_t slide_last_change_us;
    int64_t last_slide_us;
    int64_t last_chapter_us;
    int slides;
    uint8_t video_ring[LB_RING];
    int video_pos, video_len, video_sum;
    int video;
    int blank;                /* a screen showing nothing */
    int64_t last_video_us;
} lb_source_analysis;

typedef struct lb_mic_analysis {
    double level_dbfs;
    double floor_dbfs;
    int floor_set;
    double active_s;          /* above the threshold, in a row */
    double loud_s;            /* of which the unsmoothed level above it */
    int64_t last_voice_us;
    int speaking;
} lb_mic_analysis;

/* The reasons' sentences, one printf format per code: the rules write with
 * these and reasons.c's table matches with the same strings (lb_text takes a
 * format as its template), so a sentence the director writes always has its
 * code.  A new reason is a line here, one in reasons.c's table and
 * reason_CODE in webui/www/i18n.js (both languages): test_director checks
 * the table against i18n.js.  Parts are joined by "; ". */
#define LB_REASON_OPERATOR                  "operator"
#define LB_REASON_OPERATOR_RECUT            "operator: re-cut"   /* webui/recut.c's edited lines */
#define LB_REASON_MIC_SPEAKING_CAMERA_LOST  "mic %s speaking (%.0f dBFS), its camera lost: %s"
#define LB_REASON_MIC_SPEAKING              "mic %s speaking (%.0f dBFS)"
#define LB_REASON_STUDENT_STANDING_ZONE_CLOSEUP "student standing: presence %.2f, motion %.2f in zone %s, close-up"
#define LB_REASON_STUDENT_STANDING_ZONE     "student standing: presence %.2f, motion %.2f in zone %s"
#define LB_REASON_STUDENT_STANDING_CLOSEUP  "student standing: presence %.2f, motion %.2f in %s, close-up"
#define LB_REASON_STUDENT_STANDING          "student standing: presence %.2f, motion %.2f in %s"
#define LB_REASON_NEW_SLIDE                 "new slide on %s %.1f s ago"
#define LB_REASON_SLIDE_TEACHER_INSET       "slide on %s since %.1f s, teacher in picture"
#define LB_REASON_SLIDE                     "slide on %s since %.1f s"
#define LB_REASON_VIDEO                     "video playing on %s (motion %.2f)"
#define LB_REASON_BOARD_WRITING                                                           \
    "teacher writing: new marks on %s (%.2f%% of the board in %.0f s, last %.1f s ago), " \
    "%s at the board %.1f s ago"
#define LB_REASON_IDLE                      "nothing going on: %s"
#define LB_REASON_CUTAWAY_TEACHER_INSET     "cutaway after %.0f s on %s, teacher in picture"
#define LB_REASON_CUTAWAY                   "cutaway after %.0f s on %s"
#define LB_REASON_SOURCE_LOST               "%s lost"

typedef struct lb_candidate {
    const char *rule;
    double score;
    lb_layout layout;
    int main, second;         /* source indices; second -1 for none */
    lb_rectf crop;            /* of main, fixed for the shot; w == 0: all */
    int cutaway;
    int event;                /* may cut after min_shot_event_s */
    char reason[200];
} lb_candidate;

/* A rule proposes at most one shot per tick. */
typedef struct lb_rule_ops {
    const char *name;
    int (*propose)(const lb_director *d, int64_t t_us, lb_candidate *c);
} lb_rule_ops;

extern const lb_rule_ops *const lb_director_rules[];

#define LB_MAX_CHAPTERS 16

struct lb_director {
    lb_director_settings settings;
    lb_director_setup setup;
    lb_zone zones[LB_MAX_ZONES];
    int nb_zones;
    int vcam_source;          /* -1: none */
    int nb_screens;

    lb_source_analysis src[LB_MAX_SOURCES];
    lb_mic_analysis mic[LB_MAX_MICS];
    int64_t next_tick_us;
    int64_t last_update_us;
    int ticked;

    /* the cutter */
    lb_candidate cur;
    int64_t cur_start_us;
    int64_t cutaway_until_us;
    lb_candidate pending;
    int64_t pending_since_us;
    int have_cur;

    /* virtual camera */
    lb_vcam_state vc;         /* crop centre and width, normalised, and target */
    int vtx_set;
    double logged_tx, logged_ty, logged_tw;   /* the target of the last pan keyframe */
    int vcam_was_shown;

    pthread_mutex_t lock;     /* mode, manual, chapters, next_settings */
    lb_director_settings next_settings;   /* a reload's, for the next update */
    int have_next_settings;
    lb_director_mode mode;
    lb_shot manual;
    lb_shot current;
    int have_current;
    char chapters[LB_MAX_CHAPTERS][64];
    char status[4096];        /* lb_director_status_json */
    int chapter_read, chapter_write;
};

/* analysis.c */
int lb_analysis_init(lb_director *d, char *err, size_t err_size);
void lb_analysis_uninit(lb_director *d);
/* Liveness of every source, every frame. */
void lb_analysis_liveness(lb_director *d, int64_t t_us, AVFrame *const *frames);
/* One analysis tick. Returns 0 or AVERROR(ENOMEM). */
int lb_analysis_tick(lb_director *d, int64_t t_us, AVFrame *const *frames);
void lb_analysis_mics(lb_director *d, int64_t t_us, const double *mic_dbfs);
int lb_zones_parse(lb_director *d, const lb_config_section *sec, char *err, size_t err_size);
/* The first live source of a role, or -1. */
int lb_find_live(const lb_director *d, lb_role role);
int lb_find_role(const lb_director *d, lb_role role);
/* Marks on a board over the hold window, as a share of the picture. */
double lb_board_marks(const lb_source_analysis *a);

/* vcam (in director.c) */
void lb_vcam_update(lb_director *d, int64_t dt_us);

#endif
