/* The health checks' hysteresis and thresholds, fed made-up stats on a
 * made-up clock: raised after the configured time of a bad condition,
 * not raised by a shorter one, cleared after clear_s of good, no flapping
 * on a level between the thresholds. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "health.h"

typedef struct seen {
    char log[64][96];
    int n;
} seen;

static void on_alert(void *opaque, const lb_alert *a)
{
    seen *s = opaque;
    if (s->n < 64)
        snprintf(s->log[s->n++], sizeof s->log[0], "%s %s %s", a->raised ? "raised" : "cleared",
                 lb_alert_name(a->kind), a->subject);
}

static int has(const seen *s, const char *what)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->log[i], what))
            return 1;
    return 0;
}

static void defaults(lb_health_settings *st)
{
    lb_config *cfg = NULL;
    char err[256];
    memset(st, 0, sizeof *st);
    if (lb_config_load_string(&cfg, "t.ini", "[health]\nmic_silent_s = 10\nclear_s = 3\n"
                              "camera_black_s = 4\ncamera_frozen_s = 6\noutput_down_s = 5\n"
                              "disk_hours_needed = 2\ndisk_rate_window_s = 8\n", err, sizeof err) < 0 ||
        lb_config_apply(lb_config_find(cfg, "health"), lb_health_options, st, err, sizeof err) < 0)
        fprintf(stderr, "config: %s\n", err);
    lb_config_free(&cfg);
}

/* One healthy hall: a mic, a camera, an SRT output, a disk. */
static void healthy(lb_health_input *in, int64_t t_s)
{
    memset(in, 0, sizeof *in);
    in->now_us = t_s * 1000000;
    in->wall_s = 1.7e9 + (double)t_s;
    in->recording = 1;
    in->nb_mics = 1;
    in->mics[0] = (lb_health_mic){ .name = "lapel", .up = 1, .level_dbfs = -20, .peak_dbfs = -8 };
    in->nb_cameras = 1;
    in->cameras[0] = (lb_health_camera){ .name = "teacher", .up = 1, .measured = 1, .luma_mean = 110,
                                         .luma_spread = 40, .luma_diff = 3, .has_diff = 1 };
    in->nb_outputs = 1;
    in->outputs[0] = (lb_health_output){ .name = "platform", .kind = "srt", .state = "live",
                                         .last_error = "" };
    in->disk_known = 1;
    in->disk_free_bytes = 100e9;
    in->recorded_bytes = (uint64_t)t_s * 1000000;  /* 1 MB/s: 100 GB is 27 h */
}

int main(void)
{
    lb_health_settings st;
    defaults(&st);
    CHECK(st.mic_silent_s == 10 && st.clear_s == 3 && st.mic_silent_dbfs == -60);
    lb_health *h = NULL;
    CHECK(lb_health_create(&h, &st) == 0);
    seen s = { 0 };
    lb_health_input in;
    int64_t t = 0;

    /* healthy for 20 s: nothing (the clock of this machine is not asked) */
    for (; t < 20; t++) {
        healthy(&in, t);
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(s.n == 0);

    /* silent for 9 s, then a word, then silent 10 s: raised only at the end */
    int64_t silent_from = t;
    for (; t < silent_from + 9; t++) {
        healthy(&in, t);
        in.mics[0].level_dbfs = -90;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(!has(&s, "raised mic_silent lapel"));
    healthy(&in, t++);
    lb_health_update(h, &in, on_alert, &s);
    int64_t again = t;
    for (; t < again + 10; t++) {
        healthy(&in, t);
        in.mics[0].level_dbfs = -90;
        lb_health_update(h, &in, on_alert, &s);
        CHECK(has(&s, "raised mic_silent lapel") == (t - again >= 10));
    }
    healthy(&in, t);
    in.mics[0].level_dbfs = -90;
    lb_health_update(h, &in, on_alert, &s);
    CHECK(has(&s, "raised mic_silent lapel"));
    lb_alert list[8];
    CHECK(lb_health_raised(h, list, 8) == 1 && list[0].kind == LB_ALERT_MIC_SILENT &&
          !strcmp(list[0].subject, "lapel") && strstr(list[0].message, "silent for 10 s"));
    t++;

    /* a level between -60 and -54 dBFS neither clears nor restarts the clear */
    for (int k = 0; k < 10; k++, t++) {
        healthy(&in, t);
        in.mics[0].level_dbfs = -57;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(!has(&s, "cleared mic_silent lapel"));
    for (int k = 0; k < 3; k++, t++) {
        healthy(&in, t);
        lb_health_update(h, &in, on_alert, &s);
        CHECK(!has(&s, "cleared mic_silent lapel"));
    }
    healthy(&in, t++);
    lb_health_update(h, &in, on_alert, &s);
    CHECK(has(&s, "cleared mic_silent lapel"));
    CHECK(lb_health_raised(h, list, 8) == 0);

    /* not recording: a silent mic is no alert */
    for (int k = 0; k < 15; k++, t++) {
        healthy(&in, t);
        in.recording = 0;
        in.mics[0].level_dbfs = -120;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(lb_health_raised(h, list, 8) == 0);

    /* black: 4 s; a camera that gives no new picture keeps the timers */
    int n0 = s.n;
    for (int k = 0; k < 8; k++, t++) {
        healthy(&in, t);
        in.cameras[0].luma_mean = 16;
        in.cameras[0].luma_spread = 0.5;
        in.cameras[0].luma_diff = 0;
        in.cameras[0].measured = k % 2 == 0;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(has(&s, "raised camera_black teacher"));
    CHECK(!has(&s, "raised camera_frozen teacher"));    /* black says it */
    CHECK(s.n == n0 + 1);

    /* frozen: a picture that stops changing */
    for (int k = 0; k < 10; k++, t++) {
        healthy(&in, t);
        in.cameras[0].luma_diff = 0.05;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(has(&s, "cleared camera_black teacher"));
    CHECK(has(&s, "raised camera_frozen teacher"));

    /* the SRT output: reconnecting for 4 s is no alert, for 5 s is */
    for (int k = 0; k < 4; k++, t++) {
        healthy(&in, t);
        in.outputs[0].state = "reconnecting";
        lb_health_update(h, &in, on_alert, &s);
    }
    healthy(&in, t++);
    lb_health_update(h, &in, on_alert, &s);
    CHECK(!has(&s, "raised output_down platform"));
    for (int k = 0; k < 6; k++, t++) {
        healthy(&in, t);
        in.outputs[0].state = "lost";
        in.outputs[0].last_error = "connection refused";
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(has(&s, "raised output_down platform"));
    CHECK(lb_health_raised(h, list, 8) >= 1);

    /* the disk: 100 MB left at 1 MB/s is under 2 h */
    for (int k = 0; k < 10; k++, t++) {
        healthy(&in, t);
        in.disk_free_bytes = 100e6;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(has(&s, "raised disk_low disk"));
    for (int k = 0; k < 5; k++, t++) {
        healthy(&in, t);
        in.recording = 0;
        in.disk_free_bytes = 100e6;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(has(&s, "cleared disk_low disk"));

    /* overload: 10 late frames within 10 s */
    uint64_t late = 0;
    for (int k = 0; k < 6; k++, t++) {
        healthy(&in, t);
        in.late_frames = late += 3;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(has(&s, "raised overload program"));

    /* the clock: unsynchronised for clock_unsynced_s */
    for (int k = 0; k <= 60; k++, t++) {
        healthy(&in, t);
        in.late_frames = late;
        in.clock_known = 1;
        in.clock_unsynced = 1;
        in.clock_maxerror_ms = 16000;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(has(&s, "raised clock_unsynced system"));

    /* adjtimex read: a clock the kernel calls synchronised clears it */
    {
        lb_health_input c = { 0 };
        struct timex tx = { .status = STA_UNSYNC, .maxerror = 16000000 };
        lb_health_read_clock(-1, &tx, &c);
        CHECK(!c.clock_known);
        lb_health_read_clock(TIME_OK, &tx, &c);
        CHECK(c.clock_known && c.clock_unsynced && c.clock_maxerror_ms == 16000);
        tx.status = 0;
        lb_health_read_clock(TIME_ERROR, &tx, &c);
        CHECK(c.clock_unsynced);
        tx.status = STA_PLL | STA_NANO;
        tx.maxerror = 2500;
        lb_health_read_clock(TIME_OK, &tx, &c);
        CHECK(c.clock_known && !c.clock_unsynced && c.clock_maxerror_ms == 2.5);
        for (int k = 0; k <= 3; k++, t++) {
            healthy(&in, t);
            in.late_frames = late;
            lb_health_read_clock(TIME_OK, &tx, &in);
            lb_health_update(h, &in, on_alert, &s);
            CHECK(has(&s, "cleared clock_unsynced system") == (k == 3));
        }
        /* synchronised but with a maximum error beyond clock_maxerror_ms */
        tx.maxerror = 900000;
        for (int k = 0; k <= 60; k++, t++) {
            healthy(&in, t);
            in.late_frames = late;
            lb_health_read_clock(TIME_OK, &tx, &in);
            lb_health_update(h, &in, on_alert, &s);
        }
        CHECK(lb_health_raised(h, list, 8) >= 1 && list[lb_health_raised(h, list, 8) - 1].kind ==
              LB_ALERT_CLOCK_UNSYNCED && strstr(list[lb_health_raised(h, list, 8) - 1].message, "900 ms"));
    }

    /* schedule_start_failed: raised at the first report, naming the entry
     * and the reason; cleared as soon as the entry is no longer reported */
    healthy(&in, t++);
    in.late_frames = late;
    in.nb_failed_starts = 1;
    in.failed_starts[0] = (lb_health_failed_start){ .entry = "maths-1@2026-12-07", .title = "Maths 1",
                                                    .reason = "/data/x: cannot create: Not a directory",
                                                    .attempts = 1 };
    lb_health_update(h, &in, on_alert, &s);
    CHECK(has(&s, "raised schedule_start_failed maths-1@2026-12-07"));
    {
        int n = lb_health_raised(h, list, 8);
        CHECK(n >= 1 && list[n - 1].kind == LB_ALERT_SCHEDULE_START_FAILED &&
              !strcmp(list[n - 1].label, "Maths 1"));
        CHECK_STR_CONTAINS(list[n - 1].message, "'Maths 1' (maths-1@2026-12-07) could not start: "
                           "/data/x: cannot create: Not a directory");
    }
    healthy(&in, t++);
    in.late_frames = late;
    lb_health_update(h, &in, on_alert, &s);
    CHECK(has(&s, "cleared schedule_start_failed maths-1@2026-12-07"));

    /* av_drift: a clock beyond drift_max_ppm at once, cleared once corrected */
    for (int k = 0; k < 2; k++, t++) {
        healthy(&in, t);
        in.late_frames = late;
        in.mics[0].drift_ppm = 8000;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(has(&s, "raised av_drift lapel"));
    for (int k = 0; k <= 3; k++, t++) {
        healthy(&in, t);
        in.late_frames = late;
        in.mics[0].drift_ppm = 40;
        lb_health_update(h, &in, on_alert, &s);
    }
    CHECK(has(&s, "cleared av_drift lapel"));

    /* the disk forecast against what the rest of the day needs: 100 MB at
     * 1 MB/s is 100 s; the timetable's remaining lessons, when known,
     * replace disk_hours_needed (2 h) */
    {
        lb_health *d = NULL;
        seen ds = { 0 };
        CHECK(lb_health_create(&d, &st) == 0);
        int64_t u = 0;
        for (; u < 10; u++) {                   /* 60 s left to record today: enough */
            healthy(&in, u);
            in.disk_free_bytes = 100e6;
            in.day_known = 1;
            in.day_needed_s = 60;
            lb_health_update(d, &in, on_alert, &ds);
        }
        CHECK(!has(&ds, "raised disk_low disk"));
        for (int k = 0; k < 2; k++, u++) {      /* a lesson added: 200 s */
            healthy(&in, u);
            in.disk_free_bytes = 100e6;
            in.day_known = 1;
            in.day_needed_s = 200;
            lb_health_update(d, &in, on_alert, &ds);
        }
        CHECK(has(&ds, "raised disk_low disk"));
        lb_alert dl[4];
        CHECK(lb_health_raised(d, dl, 4) == 1 && fabs(dl[0].threshold - 200 / 3600.0) < 1e-9 &&
              fabs(dl[0].value - 100 / 3600.0) < 1e-3 && strstr(dl[0].message, "remaining lessons"));
        for (int k = 0; k <= 3; k++, u++) {     /* the day's lessons are over */
            healthy(&in, u);
            in.disk_free_bytes = 100e6;
            in.day_known = 1;
            in.day_needed_s = 0;
            lb_health_update(d, &in, on_alert, &ds);
        }
        CHECK(has(&ds, "cleared disk_low disk"));
        for (int k = 0; k < 2; k++, u++) {      /* no timetable: 2 h configured */
            healthy(&in, u);
            in.disk_free_bytes = 100e6;
            lb_health_update(d, &in, on_alert, &ds);
        }
        CHECK(lb_health_raised(d, dl, 4) == 1 && dl[0].threshold == 2 && strstr(dl[0].message, "2.0 h needed"));
        lb_health_free(&d);
    }

    /* the updates' times jitter (the thread's wake-up): a mic silent at
     * updates 10 s apart by the period, 9.9996 s by the clock, is raised
     * at that update, not one later */
    {
        lb_health *j = NULL;
        seen js = { 0 };
        CHECK(lb_health_create(&j, &st) == 0);
        for (int k = 0; k <= 10; k++) {
            healthy(&in, 100 + k);
            in.now_us += k == 0 ? 400 : 0;
            in.mics[0].level_dbfs = -90;
            lb_health_update(j, &in, on_alert, &js);
            CHECK(has(&js, "raised mic_silent lapel") == (k == 10));
        }
        lb_health_free(&j);
    }

    /* the luma measure: a flat picture, then one a little different */
    static uint8_t pic[64 * 48], grid[64], grid2[64];
    memset(pic, 16, sizeof pic);
    int nb = 0, nb2 = 0;
    double mean, spread, diff;
    lb_health_measure_luma(pic, 64, 64, 48, grid, 64, &nb, NULL, 0, &mean, &spread, &diff);
    CHECK(nb == 12 && mean == 16 && spread == 0 && diff < 0);
    pic[8 * 64 + 8] = 28;
    lb_health_measure_luma(pic, 64, 64, 48, grid2, 64, &nb2, grid, nb, &mean, &spread, &diff);
    CHECK(nb2 == 12 && mean == 17 && fabs(diff - 1.0) < 1e-9 && spread > 3);

    for (int i = 0; i < s.n; i++)
        printf("%s\n", s.log[i]);
    lb_health_free(&h);
    CHECK(h == NULL);
    return CHECK_DONE();
}
