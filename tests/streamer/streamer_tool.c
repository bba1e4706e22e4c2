/* Drives lb_streamer with synthetic packets for the tests.
 *
 *   streamer_tool archive DATA_DIR SECONDS [bframes]
 *       pre-roll 1.3 s, then a lesson of SECONDS through the archive;
 *       prints key=value lines for the checking script.
 *   streamer_tool writer DATA_DIR
 *       a paced (real-time) recording that runs until it is killed; writes
 *       the program time of the last video packet it sent to DATA_DIR/progress.
 *   streamer_tool repair DATA_DIR
 *   streamer_tool prepare_resume LESSON_DIR
 *   streamer_tool resumable < CASES
 *       the resume rule on lesson.json's text, one case a line
 *       (WINDOW_S NOW_S WRITTEN_S JSON): "CANDIDATE RESUMABLE WHY" lines
 *   streamer_tool live CONFIG SECONDS [paced]
 *       live outputs only (srt, hls) from CONFIG for SECONDS of media.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_thread.h"
#include "streamer.h"
#include "synth.h"

enum { S_VIDEO, S_AUDIO, S_ISO, S_RENDITION, S_NB };

typedef struct tool {
    lb_config *cfg;
    lb_streamer *st;
    synth *syn;
    lb_stream_desc streams[S_NB];
    int nb_streams;
    int64_t sent[S_NB];
    int64_t jump_at_us;       /* JUMP_AT_S: timestamps jump 60 s forward there */
    int64_t iso_from_us;      /* ISO_FROM_S: the ISO camera starts late */
} tool;

static int die(const char *what, int ret)
{
    fprintf(stderr, "streamer_tool: %s: %s\n", what, av_err2str(ret));
    return 1;
}

static int tool_open(tool *t, const char *config_path, int bframes)
{
    char err[LB_CONFIG_ERR_SIZE] = "";
    int ret;
    if (config_path)
        ret = lb_config_load_file(&t->cfg, config_path, err, sizeof err);
    else
        ret = lb_config_load_string(&t->cfg, "test.ini", "", err, sizeof err);
    if (ret < 0) {
        fprintf(stderr, "%s\n", err);
        return ret;
    }
    if ((ret = lb_streamer_create(&t->st, t->cfg, err, sizeof err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return ret;
    }
    if ((ret = lb_config_check_unused(t->cfg, err, sizeof err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return ret;
    }
    synth_params sp = { .width = 320, .height = 240, .fps = 25, .keyint = 25, .bframes = bframes };
    /* SYNTH_SIZE=WxH, SYNTH_KBPS: a production-like stream for the benches */
    if (getenv("SYNTH_SIZE"))
        sscanf(getenv("SYNTH_SIZE"), "%dx%d", &sp.width, &sp.height);
    if (getenv("SYNTH_KBPS"))
        sp.bitrate_kbps = atoi(getenv("SYNTH_KBPS"));
    if ((ret = synth_open(&t->syn, &sp)) < 0)
        return ret;
    t->streams[S_VIDEO] = (lb_stream_desc){ LB_STREAM_PROGRAM_VIDEO, "program", synth_video_par(t->syn), 0 };
    t->streams[S_AUDIO] = (lb_stream_desc){ LB_STREAM_PROGRAM_AUDIO, "audio", synth_audio_par(t->syn), 0 };
    t->streams[S_ISO] = (lb_stream_desc){ LB_STREAM_ISO_VIDEO, "teacher", synth_video_par(t->syn), 0 };
    t->nb_streams = 3;
    if (getenv("RENDITION")) {
        /* the same packets as a second variant: enough for the playlists */
        t->streams[S_RENDITION] = (lb_stream_desc){ LB_STREAM_RENDITION_VIDEO, "low",
                                                    synth_video_par(t->syn), 0 };
        t->nb_streams = 4;
    }
    t->iso_from_us = getenv("ISO_FROM_S") ? (int64_t)(atof(getenv("ISO_FROM_S")) * 1e6) : 0;
    t->jump_at_us = getenv("JUMP_AT_S") ? (int64_t)(atof(getenv("JUMP_AT_S")) * 1e6) : -1;
    return lb_streamer_start_live(t->st, t->streams, t->nb_streams);
}

static void tool_close(tool *t)
{
    lb_streamer_free(&t->st);
    synth_close(&t->syn);
    lb_config_free(&t->cfg);
}

/* Sends the next synthetic packet (and its ISO copy); returns its pts. */
static int send_next(tool *t, AVPacket **out)
{
    AVPacket *pkt;
    int ret = synth_next(t->syn, &pkt);
    if (ret < 0)
        return ret;
    if (t->jump_at_us >= 0 && pkt->pts >= t->jump_at_us) {
        pkt->pts += 60000000;
        pkt->dts += 60000000;
    }
    if ((ret = lb_streamer_send(t->st, pkt)) < 0)
        goto out;
    t->sent[pkt->stream_index]++;
    if (pkt->stream_index == S_VIDEO) {
        pkt->stream_index = S_ISO;
        if (pkt->pts >= t->iso_from_us)
            ret = lb_streamer_send(t->st, pkt);
        if (ret >= 0 && t->nb_streams > S_RENDITION) {
            pkt->stream_index = S_RENDITION;
            ret = lb_streamer_send(t->st, pkt);
        }
        pkt->stream_index = S_VIDEO;
    }
out:
    if (ret < 0 || !out)
        av_packet_free(&pkt);
    else
        *out = pkt;
    return ret;
}

static int archive_index(lb_streamer *st)
{
    for (int i = 0; i < lb_streamer_nb_outputs(st); i++) {
        lb_output_stats s;
        lb_streamer_get_stats(st, i, &s);
        if (!strcmp(s.kind, "archive"))
            return i;
    }
    return -1;
}

static void print_stats(lb_streamer *st)
{
    for (int i = 0; i < lb_streamer_nb_outputs(st); i++) {
        lb_output_stats s;
        lb_streamer_get_stats(st, i, &s);
        printf("output=%s kind=%s state=%s packets=%llu dropped=%llu reconnects=%llu "
               "rtt_ms=%.1f loss_pct=%.2f retransmits=%llu send_kbps=%.0f cpu_ms=%.1f error=%s\n",
               s.name, s.kind, s.state, (unsigned long long)s.packets, (unsigned long long)s.dropped,
               (unsigned long long)s.reconnects, s.rtt_ms, s.loss_pct,
               (unsigned long long)s.retransmits, s.send_kbps, s.cpu_us / 1000.0, s.last_error);
    }
    fflush(stdout);
}

/* Waits (up to seconds) until every upload output is idle; prints their state. */
static void wait_uploads(lb_streamer *st, double seconds)
{
    for (int64_t end = lb_clock_now() + (int64_t)(seconds * 1e6); lb_clock_now() < end;) {
        int busy = 0;
        for (int i = 0; i < lb_streamer_nb_outputs(st); i++) {
            lb_output_stats s;
            lb_streamer_get_stats(st, i, &s);
            if (!strcmp(s.kind, "upload") && strcmp(s.state, "idle"))
                busy++;
        }
        if (!busy)
            break;
        usleep(20000);
    }
    for (int i = 0; i < lb_streamer_nb_outputs(st); i++) {
        lb_output_stats s;
        lb_streamer_get_stats(st, i, &s);
        if (!strcmp(s.kind, "upload"))
            printf("upload_state=%s\nupload_files=%llu\nupload_error=%s\n", s.state,
                   (unsigned long long)s.packets, s.last_error);
    }
}

/* A chapter edit of a lesson queued for upload: the upload waits for the
 * edit's remux (state "waiting") and goes once it ends. */
static int run_upload_edit(const char *config_path, const char *dir)
{
    tool t = { 0 };
    char err[512] = "";
    int ret, rc = 1;
    cJSON *list = cJSON_Parse("[{\"t\": 0, \"title\": \"Edited\"}, {\"t\": 1, \"title\": \"Second\"}]");
    ret = lb_lesson_set_chapters(dir, list, err, sizeof err);     /* the marker and lesson.json */
    cJSON_Delete(list);
    if (ret < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if ((ret = tool_open(&t, config_path, 0)) < 0) {
        rc = die("open", ret);
        goto out;
    }
    int waiting = 0;
    for (int64_t end = lb_clock_now() + 60000000; !waiting && lb_clock_now() < end; usleep(20000)) {
        for (int i = 0; i < lb_streamer_nb_outputs(t.st); i++) {
            lb_output_stats s;
            lb_streamer_get_stats(t.st, i, &s);
            waiting |= !strcmp(s.kind, "upload") && !strcmp(s.state, "waiting");
        }
    }
    printf("waited=%d\n", waiting);
    int64_t t0 = lb_clock_now();
    if ((ret = lb_lesson_queue_chapters(dir)) < 0) {
        rc = die("queue chapters", ret);
        goto out;
    }
    wait_uploads(t.st, 120);
    printf("edit_to_idle_s=%.3f\n", (double)(lb_clock_now() - t0) / 1e6);
    rc = 0;
out:
    lb_lesson_edits_stop();
    tool_close(&t);
    return rc;
}

static int count_boxes(const char *path, const char *type)
{
    FILE *f = fopen(path, "rb");
    int n = 0;
    if (!f)
        return -1;
    /* walks the top-level boxes */
    for (;;) {
        unsigned char h[16];
        if (fread(h, 1, 8, f) != 8)
            break;
        uint64_t size = (uint64_t)h[0] << 24 | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 8 | h[3];
        long hdr = 8;
        if (size == 1) {
            if (fread(h + 8, 1, 8, f) != 8)
                break;
            size = 0;
            for (int i = 8; i < 16; i++)
                size = size << 8 | h[i];
            hdr = 16;
        }
        if (!memcmp(h + 4, type, 4))
            n++;
        if (size < (uint64_t)hdr || fseek(f, (long)(size - (uint64_t)hdr), SEEK_CUR) < 0)
            break;
    }
    fclose(f);
    return n;
}

static int run_archive(const char *data_dir, double seconds, int bframes)
{
    tool t = { 0 };
    lb_lesson *lesson = NULL;
    char err[512];
    int ret, rc = 1;
    if ((ret = tool_open(&t, getenv("STREAMER_CONFIG"), bframes)) < 0) {
        rc = die("open", ret);
        goto out;
    }
    lb_lesson_info info = { .title = "Test lesson: archive", .teacher = "T. Eacher", .course = "Physics" };
    lb_lesson_source src = { "teacher", LB_ROLE_TEACHER, "iso/teacher.mp4", 0 };
    if ((ret = lb_lesson_create(&lesson, data_dir, &info, &src, 1, err, sizeof err)) < 0) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    AVPacket *pkt;
    int64_t start_us = -1, last_video_us = 0, midway_checked = 0;
    int64_t expected_frames = 0, expected_iso = 0;
    int recording = 0, iso_started = 0;
    for (;;) {
        if ((ret = send_next(&t, &pkt)) < 0) {
            rc = die("send", ret);
            goto out;
        }
        if (pkt->stream_index == S_VIDEO) {
            last_video_us = pkt->pts;
            if (recording && start_us < 0 && (pkt->flags & AV_PKT_FLAG_KEY))
                start_us = pkt->pts;
            if (start_us >= 0) {
                expected_frames++;
                if (iso_started || (pkt->pts >= t.iso_from_us && (pkt->flags & AV_PKT_FLAG_KEY))) {
                    iso_started = 1;
                    expected_iso++;
                }
            }
        }
        int64_t pts = pkt->pts;
        int index = pkt->stream_index;
        av_packet_free(&pkt);
        if (!recording && index == S_VIDEO && pts >= 1300000) {
            if ((ret = lb_streamer_start_recording(t.st, lb_lesson_dir(lesson))) < 0) {
                rc = die("start_recording", ret);
                goto out;
            }
            recording = 1;
        }
        if (start_us >= 0 && !midway_checked && last_video_us - start_us >= (int64_t)(seconds * 5e5)) {
            /* Wait for the archive to take everything sent so far, then
             * look at the file as a crash would leave it. */
            int ai = archive_index(t.st);
            lb_output_stats s;
            for (int i = 0; i < 1000; i++) {
                lb_streamer_get_stats(t.st, ai, &s);
                if (s.packets >= (uint64_t)(t.sent[S_VIDEO] * 2 + t.sent[S_AUDIO]) - 200)
                    break;
                usleep(10000);
            }
            char path[4200];
            snprintf(path, sizeof path, "%s/program.mp4", lb_lesson_dir(lesson));
            printf("moof_while_recording=%d\n", count_boxes(path, "moof"));
            midway_checked = 1;
            lb_lesson_add_chapter(lesson, (double)(last_video_us - start_us) / 1e6, "Second half");
        }
        if (start_us >= 0 && index == S_VIDEO && pts - start_us >= (int64_t)(seconds * 1e6) - 40000)
            break;
    }
    lb_lesson_add_chapter(lesson, 0, "Start");
    lb_lesson_log_decision(lesson, "{\"t\": 0.0, \"shot\": \"teacher\", \"layout\": \"single\", "
                                   "\"sources\": [\"teacher\"], \"reason\": \"test\"}");
    lb_lesson_log_decision(lesson, "{\"t\": 1.0, \"shot\": \"teacher\", \"layout\": \"single\", "
                                   "\"sources\": [\"teacher\"], \"reason\": \"test\"}\n");
    ret = lb_streamer_stop_recording(t.st);
    if (ret < 0) {
        rc = die("stop_recording", ret);
        goto out;
    }
    printf("lesson_dir=%s\n", lb_lesson_dir(lesson));
    printf("expected_video_frames=%lld\n", (long long)expected_frames);
    printf("expected_iso_frames=%lld\n", (long long)expected_iso);
    printf("duration_s=%.3f\n", (double)(last_video_us + 40000 - start_us) / 1e6);
    lb_lesson_finish(&lesson, (double)(last_video_us + 40000 - start_us) / 1e6, 1);
    if (getenv("UPLOAD_WAIT"))
        wait_uploads(t.st, atof(getenv("UPLOAD_WAIT")));
    print_stats(t.st);
    rc = 0;
out:
    lb_lesson_finish(&lesson, 0, 0);
    tool_close(&t);
    return rc;
}

static int run_writer(const char *data_dir)
{
    tool t = { 0 };
    lb_lesson *lesson = NULL;
    char err[512], path[4200];
    int ret, rc = 1, fd = -1;
    if ((ret = tool_open(&t, getenv("STREAMER_CONFIG"), 0)) < 0) {
        rc = die("open", ret);
        goto out;
    }
    lb_lesson_info info = { .title = "Killed lesson" };
    lb_lesson_source src = { "teacher", LB_ROLE_TEACHER, "iso/teacher.mp4", 0 };
    if ((ret = lb_lesson_create(&lesson, data_dir, &info, &src, 1, err, sizeof err)) < 0) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    if ((ret = lb_streamer_start_recording(t.st, lb_lesson_dir(lesson))) < 0) {
        rc = die("start_recording", ret);
        goto out;
    }
    snprintf(path, sizeof path, "%s/progress", data_dir);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
        goto out;
    int64_t t0 = lb_clock_now();
    /* WRITER_SECONDS: stop cleanly after that much media (else run until killed) */
    double limit_s = getenv("WRITER_SECONDS") ? atof(getenv("WRITER_SECONDS")) : 120;
    int64_t pts = 0;
    for (;;) {
        AVPacket *pkt;
        if ((ret = send_next(&t, &pkt)) < 0) {
            rc = die("send", ret);
            goto out;
        }
        pts = pkt->pts;
        int video = pkt->stream_index == S_VIDEO;
        av_packet_free(&pkt);
        if (video) {
            char line[64];
            int n = snprintf(line, sizeof line, "%.3f\n", (double)pts / 1e6);
            if (pwrite(fd, line, (size_t)n, 0) < 0)
                goto out;
            lb_clock_sleep_until(t0 + pts);
            if (pts >= (int64_t)(limit_s * 1e6))
                break;
            /* as the daemon does: an archive that stopped ends the recording */
            if ((ret = lb_streamer_recording_error(t.st)) < 0) {
                printf("recording_error=%s\nrecording_error_at=%.3f\n", av_err2str(ret), pts / 1e6);
                break;
            }
        }
    }
    ret = lb_streamer_stop_recording(t.st);
    printf("stop_ret=%s\n", ret < 0 ? av_err2str(ret) : "0");
    for (int i = 0; i < lb_streamer_nb_outputs(t.st); i++) {
        lb_output_stats s;
        lb_streamer_get_stats(t.st, i, &s);
        if (!strcmp(s.kind, "archive"))
            printf("archive_state=%s\narchive_error=%s\n", s.state, s.last_error);
    }
    lb_lesson_finish(&lesson, (double)pts / 1e6, ret >= 0);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    lb_lesson_finish(&lesson, 0, 0);
    tool_close(&t);
    return rc;
}

static int run_live(const char *config, double seconds, int paced)
{
    tool t = { 0 };
    lb_lesson *lesson = NULL;
    int ret, rc = 1;
    if ((ret = tool_open(&t, config, 0)) < 0) {
        rc = die("open", ret);
        goto out;
    }
    if (getenv("RECORD_DIR")) {
        /* also record, from the first packet: the archive must hold every
         * frame whatever the network outputs go through */
        char err[512];
        lb_lesson_info info = { .title = "Live and recorded" };
        if ((ret = lb_lesson_create(&lesson, getenv("RECORD_DIR"), &info, NULL, 0, err,
                                    sizeof err)) < 0 ||
            (ret = lb_streamer_start_recording(t.st, lb_lesson_dir(lesson))) < 0) {
            rc = die("record", ret);
            goto out;
        }
    }
    if (getenv("WAIT_LIVE")) {
        /* Caller outputs: start sending once connected, so that the
         * receiver gets every frame (the test counts them). */
        for (int tries = 0; tries < 1500; tries++) {
            int waiting = 0;
            for (int i = 0; i < lb_streamer_nb_outputs(t.st); i++) {
                lb_output_stats s;
                lb_streamer_get_stats(t.st, i, &s);
                if (strcmp(s.kind, "archive") && strcmp(s.state, "live"))
                    waiting++;
            }
            if (!waiting)
                break;
            usleep(10000);
        }
    }
    int64_t t0 = lb_clock_now(), frames = 0;
    printf("t0_us=%lld\n", (long long)t0);      /* program time 0 on CLOCK_MONOTONIC */
    fflush(stdout);
    for (;;) {
        AVPacket *pkt;
        if ((ret = send_next(&t, &pkt)) < 0) {
            rc = die("send", ret);
            goto out;
        }
        int64_t pts = pkt->pts;
        int video = pkt->stream_index == S_VIDEO;
        av_packet_free(&pkt);
        if (video) {
            frames++;
            if (paced)
                lb_clock_sleep_until(t0 + frames * 40000);
            if (frames >= (int64_t)(seconds * 25 + 0.5))
                break;
        }
        (void)pts;
    }
    printf("sent_video_frames=%lld\n", (long long)frames);
    if (lesson) {
        ret = lb_streamer_stop_recording(t.st);
        printf("lesson_dir=%s\nstop_ret=%d\n", lb_lesson_dir(lesson), ret);
        lb_lesson_finish(&lesson, (double)frames / 25, ret >= 0);
    }
    lb_streamer_stop_live(t.st);
    print_stats(t.st);
    rc = 0;
out:
    lb_lesson_finish(&lesson, 0, 0);
    tool_close(&t);
    return rc;
}

typedef struct producer {
    tool *t;
    atomic_int stop;
    int ret;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    while (!atomic_load(&p->stop)) {
        int ret = send_next(p->t, NULL);
        if (ret < 0) {
            p->ret = ret;
            break;
        }
    }
    return NULL;
}

/* Recordings started and stopped while another thread sends as fast as it
 * can (the archive's queue is small, so sends block): no deadlock, no
 * leak, every lesson playable. */
static int run_cycles(const char *data_dir, int cycles)
{
    tool t = { 0 };
    producer p = { .t = &t };
    lb_thread th = { 0 };
    int ret, rc = 1;
    if ((ret = tool_open(&t, getenv("STREAMER_CONFIG"), 0)) < 0 ||
        (ret = lb_thread_start(&th, "producer", produce, &p)) < 0) {
        rc = die("open", ret);
        goto out;
    }
    for (int i = 0; i < cycles; i++) {
        lb_lesson *lesson = NULL;
        char err[512];
        lb_lesson_info info;
        memset(&info, 0, sizeof info);
        snprintf(info.title, sizeof info.title, "cycle %d", i);
        if ((ret = lb_lesson_create(&lesson, data_dir, &info, NULL, 0, err, sizeof err)) < 0) {
            fprintf(stderr, "%s\n", err);
            break;
        }
        if ((ret = lb_streamer_start_recording(t.st, lb_lesson_dir(lesson))) < 0) {
            lb_lesson_finish(&lesson, 0, 0);
            break;
        }
        lb_lesson_add_chapter(lesson, 0.1, "Slide 2");   /* for the chapters' files */
        usleep(150000 + 50000 * (i % 4));
        ret = lb_streamer_stop_recording(t.st);
        lb_lesson_finish(&lesson, 0, ret >= 0);
        if (ret < 0)
            break;
    }
    atomic_store(&p.stop, 1);
    lb_thread_join(&th);
    if (ret < 0 || p.ret < 0) {
        rc = die("cycle", ret < 0 ? ret : p.ret);
        goto out;
    }
    printf("cycles=%d\n", cycles);
    rc = 0;
out:
    atomic_store(&p.stop, 1);
    lb_thread_join(&th);
    tool_close(&t);
    return rc;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    lb_log_route_av();
    if (argc >= 4 && !strcmp(argv[1], "archive"))
        return run_archive(argv[2], atof(argv[3]), argc >= 5 && !strcmp(argv[4], "bframes"));
    if (argc >= 3 && !strcmp(argv[1], "writer"))
        return run_writer(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "upload_edit"))
        return run_upload_edit(argv[2], argv[3]);
    if (argc >= 4 && !strcmp(argv[1], "cycles"))
        return run_cycles(argv[2], atoi(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "prepare_resume")) {
        char err[512] = "";
        int ret = lb_lesson_prepare_resume(argv[2], err, sizeof err);
        printf("ret=%d\nerror=%s\n", ret, err);
        return ret < 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "resumable")) {
        /* one case a line: WINDOW_S NOW_S WRITTEN_S LESSON_JSON */
        char line[8192];
        while (fgets(line, sizeof line, stdin)) {
            char why[256] = "";
            int window_s = 0, n = 0;
            double now_s = 0, written_s = 0;
            if (sscanf(line, "%d %lf %lf %n", &window_s, &now_s, &written_s, &n) < 3) {
                fprintf(stderr, "resumable: not WINDOW_S NOW_S WRITTEN_S JSON: %s", line);
                return 1;
            }
            cJSON *root = cJSON_Parse(line + n);
            if (!root) {
                fprintf(stderr, "resumable: not JSON: %s", line + n);
                return 1;
            }
            const char *no = lb_lesson_not_resumable(root, window_s, (int64_t)(now_s * 1e6),
                                                     (int64_t)(written_s * 1e6), why, sizeof why);
            printf("%d %d %s\n", lb_lesson_resume_candidate(root), !no, no ? no : "");
            cJSON_Delete(root);
        }
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "repair")) {
        printf("repaired=%d\n", lb_lesson_repair_all(argv[2]));
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "check")) {
        /* what --check-config does with the [output.*] sections */
        lb_config *cfg = NULL;
        lb_streamer *st = NULL;
        char err[LB_CONFIG_ERR_SIZE] = "";
        int ret = lb_config_load_file(&cfg, argv[2], err, sizeof err);
        if (ret >= 0 && (ret = lb_streamer_create(&st, cfg, err, sizeof err)) >= 0)
            ret = lb_config_check_unused(cfg, err, sizeof err);
        if (ret >= 0) {
            printf("outputs=%d\n", lb_streamer_nb_outputs(st));
            const char *live = lb_streamer_live_dir(st);
            printf("live_dir=%s\n", live ? live : "(none)");
        } else {
            printf("error=%s\n", err);
        }
        lb_streamer_free(&st);
        lb_config_free(&cfg);
        return ret < 0 ? 2 : 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "upload")) {
        tool t = { 0 };
        int ret = tool_open(&t, argv[2], 0);
        if (ret >= 0)
            wait_uploads(t.st, atof(argv[3]));
        tool_close(&t);
        return ret < 0 ? die("open", ret) : 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "live"))
        return run_live(argv[2], atof(argv[3]), argc >= 5 && !strcmp(argv[4], "paced"));
    fprintf(stderr, "usage: streamer_tool archive DIR SECONDS [bframes] | writer DIR | repair DIR | prepare_resume DIR"
                    " | live CONFIG SECONDS [paced]\n");
    return 2;
}
