/* webui_testd: the web UI over a fake hall, for tests.
 *
 * Implements lb_control_ops with deterministic data (four cameras, two
 * mics, three outputs), records "lessons" as folders with a lesson.json
 * (and, with --fixture, a copy of a real MP4 as program.mp4), answers
 * snapshots with a solid-colour JPEG per source, and publishes status,
 * meters and tally the way the daemon does.
 *
 *   webui_testd --data DIR [--www DIR] [--live DIR] [--config FILE]
 *               [--port-file FILE] [--fixture MP4] [--wedge metrics|metrics-briefly]
 *               [--luobo BINARY]
 *
 * --wedge metrics makes GET /metrics never return, as a web thread stuck
 * for good would be (lb_webui_stop() must still let the process exit).
 * --wedge metrics-briefly lets it return once lb_webui_free() has left the
 * thread behind; testd then waits for the port to be free again (the loop
 * closes its own listeners), logs "port N free again" and exits.
 *
 * --luobo is the binary the library's re-cuts run (luobo recut; the daemon
 * runs itself).
 *
 * Writes the bound port to --port-file once it listens (and, with TLS, the
 * HTTPS port on a second line); exits 0 on SIGTERM
 * or SIGINT. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/mem.h>

#include "lb_clock.h"
#include "lb_config.h"
#include "lb_log.h"
#include "lb_thread.h"
#include "webui.h"

#define NB_SOURCES 4

static const struct { const char *name, *role; uint8_t y, u, v; } sources[NB_SOURCES] = {
    { "teacher",  "teacher",  81, 90, 240 },
    { "students", "students", 145, 54, 34 },
    { "board",    "board",    41, 240, 110 },
    { "screen",   "screen",   170, 166, 16 },
};

typedef struct fake {
    pthread_mutex_t lock;
    const char *data_dir;
    const char *fixture;
    int recording;
    char lesson_id[128];
    char lesson_dir[4096];
    lb_recording_request info;
    char started_at[40];
    int64_t started_us;
    int manual;
    char shot[64];
    char layout[16];
    int lessons_made;
    lb_webui *webui;
    atomic_int stop;
    int wedge_metrics;                /* 1: for good, 2: until unwedge */
    atomic_int unwedge;
} fake;

static cJSON *fake_status(void *opaque)
{
    fake *f = opaque;
    cJSON *st = cJSON_CreateObject();
    pthread_mutex_lock(&f->lock);
    cJSON_AddStringToObject(st, "version", "test");
    cJSON *rec = cJSON_AddObjectToObject(st, "recording");
    cJSON_AddBoolToObject(rec, "active", f->recording);
    if (f->recording) {
        cJSON_AddStringToObject(rec, "id", f->lesson_id);
        cJSON_AddStringToObject(rec, "title", f->info.meta.title);
        cJSON_AddStringToObject(rec, "teacher", f->info.meta.teacher);
        cJSON_AddStringToObject(rec, "course", f->info.meta.course);
        cJSON_AddStringToObject(rec, "started_at", f->started_at);
        cJSON_AddNumberToObject(rec, "elapsed_s", (double)(lb_clock_now() - f->started_us) / 1e6);
    }
    cJSON *dir = cJSON_AddObjectToObject(st, "director");
    cJSON_AddStringToObject(dir, "mode", f->manual ? "manual" : "auto");
    cJSON_AddStringToObject(dir, "shot", f->shot);
    cJSON_AddStringToObject(dir, "layout", f->layout);
    cJSON *on = cJSON_AddArrayToObject(dir, "sources");
    cJSON_AddItemToArray(on, cJSON_CreateString(f->shot));
    if (strcmp(f->layout, "single"))
        cJSON_AddItemToArray(on, cJSON_CreateString(strcmp(f->shot, "board") ? "board" : "teacher"));
    cJSON_AddStringToObject(dir, "reason", f->manual ? "operator" : "fixed teacher shot");
    pthread_mutex_unlock(&f->lock);

    cJSON *arr = cJSON_AddArrayToObject(st, "sources");
    for (int i = 0; i < NB_SOURCES; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", sources[i].name);
        cJSON_AddStringToObject(s, "role", sources[i].role);
        cJSON_AddStringToObject(s, "kind", "synthetic");
        cJSON_AddStringToObject(s, "state", i == 3 ? "reconnecting" : "live");
        cJSON_AddNumberToObject(s, "width", 1280);
        cJSON_AddNumberToObject(s, "height", 720);
        cJSON_AddNumberToObject(s, "frames", 1000 + i);
        cJSON_AddNumberToObject(s, "dropped", 0);
        cJSON_AddNumberToObject(s, "reconnects", i == 3 ? 2 : 0);
        cJSON_AddStringToObject(s, "last_error", i == 3 ? "connection refused" : "");
        cJSON_AddItemToArray(arr, s);
    }
    arr = cJSON_AddArrayToObject(st, "mics");
    for (int i = 0; i < 2; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "name", i ? "room" : "lapel");
        cJSON_AddStringToObject(m, "role", i ? "students" : "teacher");
        cJSON_AddStringToObject(m, "kind", "synthetic");
        cJSON_AddStringToObject(m, "state", "live");
        cJSON_AddNumberToObject(m, "level_dbfs", i ? -40 : -18);
        cJSON_AddItemToArray(arr, m);
    }
    arr = cJSON_AddArrayToObject(st, "outputs");
    static const char *const outs[][3] = {
        { "archive", "archive", "idle" }, { "hls", "hls", "live" }, { "srt", "srt", "live" } };
    for (int i = 0; i < 3; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", outs[i][0]);
        cJSON_AddStringToObject(o, "kind", outs[i][1]);
        cJSON_AddStringToObject(o, "state", i == 0 && f->recording ? "live" : outs[i][2]);
        cJSON_AddNumberToObject(o, "packets", 500);
        cJSON_AddNumberToObject(o, "bytes", 1234567);
        cJSON_AddNumberToObject(o, "dropped", 0);
        cJSON_AddNumberToObject(o, "reconnects", 0);
        cJSON_AddNumberToObject(o, "rtt_ms", i == 2 ? 12.5 : 0);
        cJSON_AddNumberToObject(o, "loss_pct", i == 2 ? 0.25 : 0);
        cJSON_AddNumberToObject(o, "send_kbps", i == 2 ? 2500 : 0);
        cJSON_AddStringToObject(o, "last_error", "");
        cJSON_AddItemToArray(arr, o);
    }
    return st;
}

static cJSON *fake_sources(void *opaque)
{
    cJSON *st = fake_status(opaque);
    cJSON *arr = cJSON_DetachItemFromObjectCaseSensitive(st, "sources");
    cJSON_Delete(st);
    return arr;
}

static int write_lesson(fake *f, const char *status, double duration)
{
    char path[4200], end[40] = "";
    cJSON *l = cJSON_CreateObject();
    cJSON_AddNumberToObject(l, "schema", 2);
    cJSON_AddStringToObject(l, "id", f->lesson_id);
    lb_meta_to_json(&f->info.meta, LB_META_ALL, l);   /* as streamer/lesson.c writes it */
    cJSON_AddStringToObject(l, "started_at", f->started_at);
    if (duration >= 0)
        lb_clock_iso8601(lb_clock_wall_us(), end, sizeof end);
    cJSON_AddStringToObject(l, "ended_at", end);
    cJSON_AddNumberToObject(l, "duration_s", duration >= 0 ? duration : 0);
    cJSON *srcs = cJSON_AddArrayToObject(l, "sources");
    for (int i = 0; i < 2; i++) {
        cJSON *s = cJSON_CreateObject();
        char file[64];
        snprintf(file, sizeof file, "iso/%s.mp4", sources[i].name);
        cJSON_AddStringToObject(s, "name", sources[i].name);
        cJSON_AddStringToObject(s, "role", sources[i].role);
        cJSON_AddStringToObject(s, "file", file);
        cJSON_AddItemToArray(srcs, s);
    }
    cJSON_AddArrayToObject(l, "chapters");
    cJSON_AddStringToObject(l, "status", status);
    char *text = cJSON_Print(l);
    cJSON_Delete(l);
    snprintf(path, sizeof path, "%s/lesson.json", f->lesson_dir);
    FILE *fp = fopen(path, "w");
    if (!fp || !text) {
        free(text);
        if (fp)
            fclose(fp);
        return AVERROR(EIO);
    }
    fputs(text, fp);
    fclose(fp);
    free(text);
    return 0;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ret = in && out ? 0 : AVERROR(EIO);
    while (!ret && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            ret = AVERROR(EIO);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return ret;
}

static int fake_recording(void *opaque, const lb_recording_request *req, char *err, size_t err_size)
{
    fake *f = opaque;
    int ret = 0;
    pthread_mutex_lock(&f->lock);
    if (req->start) {
        if (f->recording) {
            snprintf(err, err_size, "already recording");
            ret = AVERROR(EBUSY);
            goto done;
        }
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        f->info = *req;
        if (!f->info.meta.title[0])
            snprintf(f->info.meta.title, sizeof f->info.meta.title, "Lesson");
        snprintf(f->lesson_id, sizeof f->lesson_id, "%04d%02d%02d-%02d%02d%02d-test-%d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ++f->lessons_made);
        snprintf(f->lesson_dir, sizeof f->lesson_dir, "%s/%s", f->data_dir, f->lesson_id);
        if (mkdir(f->lesson_dir, 0755) < 0) {
            snprintf(err, err_size, "cannot create %s: %s", f->lesson_dir, strerror(errno));
            ret = AVERROR(errno);
            goto done;
        }
        lb_clock_iso8601(lb_clock_wall_us(), f->started_at, sizeof f->started_at);
        f->started_us = lb_clock_now();
        f->recording = 1;
        ret = write_lesson(f, "recording", -1);
    } else {
        if (!f->recording) {
            snprintf(err, err_size, "not recording");
            ret = AVERROR(EBUSY);
            goto done;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/program.mp4", f->lesson_dir);
        if (f->fixture)
            copy_file(f->fixture, path);
        f->recording = 0;
        ret = write_lesson(f, "complete", (double)(lb_clock_now() - f->started_us) / 1e6);
    }
done:
    pthread_mutex_unlock(&f->lock);
    return ret;
}

static void publish_tally(fake *f);

static int fake_director(void *opaque, const char *mode, const char *shot, const char *layout,
                         char *err, size_t err_size)
{
    fake *f = opaque;
    int found = !shot;
    for (int i = 0; shot && i < NB_SOURCES; i++)
        found |= !strcmp(shot, sources[i].name) || !strcmp(shot, sources[i].role);
    if (!found) {
        snprintf(err, err_size, "no source or role '%s'", shot);
        return AVERROR(EINVAL);
    }
    pthread_mutex_lock(&f->lock);
    f->manual = !strcmp(mode, "manual");
    if (!f->manual) {
        snprintf(f->shot, sizeof f->shot, "teacher");
        snprintf(f->layout, sizeof f->layout, "single");
    }
    if (shot)
        snprintf(f->shot, sizeof f->shot, "%s", shot);
    if (layout)
        snprintf(f->layout, sizeof f->layout, "%s", layout);
    pthread_mutex_unlock(&f->lock);
    publish_tally(f);
    return 0;
}

/* A solid 160x90 JPEG in the source's colour. */
static int fake_snapshot(void *opaque, const char *source, uint8_t **jpeg, size_t *size)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *enc = NULL;
    AVFrame *frame = NULL;
    AVPacket *pkt = NULL;
    int index = -1, ret;

    for (int i = 0; i < NB_SOURCES; i++)
        if (!strcmp(source, sources[i].name))
            index = i;
    if (index < 0 && strcmp(source, "program"))
        return AVERROR(ENOENT);
    if (index < 0) {                  /* the program shows the shot taken */
        fake *f = opaque;
        index = 0;
        pthread_mutex_lock(&f->lock);
        for (int i = 0; i < NB_SOURCES; i++)
            if (!strcmp(f->shot, sources[i].name) || !strcmp(f->shot, sources[i].role))
                index = i;
        pthread_mutex_unlock(&f->lock);
    }
    if (!codec || !(enc = avcodec_alloc_context3(codec)) || !(frame = av_frame_alloc()) ||
        !(pkt = av_packet_alloc())) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    enc->width = 160;
    enc->height = 90;
    enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
    enc->time_base = (AVRational){ 1, 25 };
    if ((ret = avcodec_open2(enc, codec, NULL)) < 0)
        goto fail;
    frame->format = enc->pix_fmt;
    frame->width = enc->width;
    frame->height = enc->height;
    if ((ret = av_frame_get_buffer(frame, 0)) < 0)
        goto fail;
    for (int y = 0; y < 90; y++)
        memset(frame->data[0] + y * frame->linesize[0], sources[index].y, 160);
    for (int y = 0; y < 45; y++) {
        memset(frame->data[1] + y * frame->linesize[1], sources[index].u, 80);
        memset(frame->data[2] + y * frame->linesize[2], sources[index].v, 80);
    }
    if ((ret = avcodec_send_frame(enc, frame)) < 0 || (ret = avcodec_receive_packet(enc, pkt)) < 0)
        goto fail;
    if (!(*jpeg = av_malloc((size_t)pkt->size))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    memcpy(*jpeg, pkt->data, (size_t)pkt->size);
    *size = (size_t)pkt->size;
    ret = 0;
fail:
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&enc);
    return ret;
}

static char *fake_metrics(void *opaque)
{
    fake *f = opaque;
    while (f->wedge_metrics == 1)
        pause();                    /* every signal is blocked: for good */
    while (f->wedge_metrics == 2 && !atomic_load(&f->unwedge))
        usleep(10000);
    char *text = malloc(256);
    if (text)
        snprintf(text, 256,
                 "# HELP luobo_recording Whether a lesson is being recorded.\n"
                 "# TYPE luobo_recording gauge\nluobo_recording %d\n", f->recording);
    return text;
}

/* An upload output that queues at once: upload.json says "queued", as the
 * real one's first write does. */
static int fake_upload(void *opaque, const char *lesson_dir, char *err, size_t err_size)
{
    char path[4096];
    FILE *f;
    if (snprintf(path, sizeof path, "%s/upload.json", lesson_dir) >= (int)sizeof path ||
        !(f = fopen(path, "w"))) {
        snprintf(err, err_size, "cannot queue %s", lesson_dir);
        return AVERROR(EIO);
    }
    fputs("{\"state\":\"queued\",\"files_done\":0,\"files_total\":0,\"bytes_done\":0,"
          "\"bytes_total\":0}\n", f);
    fclose(f);
    return 0;
}

static const lb_control_ops fake_ops = {
    .upload = fake_upload,
    .status = fake_status,
    .sources = fake_sources,
    .recording = fake_recording,
    .director = fake_director,
    .snapshot = fake_snapshot,
    .metrics = fake_metrics,
};

static void publish_tally(fake *f)
{
    char text[256];
    pthread_mutex_lock(&f->lock);
    snprintf(text, sizeof text, "{\"type\":\"tally\",\"program\":[\"%s\"],\"preview\":[]}", f->shot);
    pthread_mutex_unlock(&f->lock);
    lb_webui_publish(f->webui, text);
}

static void publish_burst(fake *f)
{
    char text[4200];
    char pad[4001];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    for (int i = 0; i < 3000; i++) {
        snprintf(text, sizeof text, "{\"type\":\"burst\",\"n\":%d,\"pad\":\"%s\"}", i, pad);
        lb_webui_publish(f->webui, text);
        if (i % 100 == 99)
            lb_clock_sleep_until(lb_clock_now() + 2000);   /* let the loop take them */
    }
    lb_webui_publish(f->webui, "{\"type\":\"burst_end\"}");
}

/* Publishes like the daemon: meters at 10 Hz, status at 1 Hz. */
static void *publisher(void *arg)
{
    fake *f = arg;
    for (int tick = 0; !atomic_load(&f->stop); tick++) {
        char text[256];
        lb_clock_sleep_until(lb_clock_now() + 100000);
        double a = -20 - (tick % 20), b = -35 - (tick % 7);   /* deterministic wobble */
        snprintf(text, sizeof text,
                 "{\"type\":\"meters\",\"program\":%.1f,\"mics\":{\"lapel\":%.1f,\"room\":%.1f}}",
                 a, a, b);
        lb_webui_publish(f->webui, text);
        if (tick % 10 == 0) {
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddStringToObject(ev, "type", "status");
            cJSON_AddItemToObject(ev, "status", fake_status(f));
            char *s = cJSON_PrintUnformatted(ev);
            if (s)
                lb_webui_publish(f->webui, s);
            free(s);
            cJSON_Delete(ev);
        }
    }
    return NULL;
}

/* 0 once 127.0.0.1:port can be bound (SO_REUSEADDR, as lws binds: only a
 * listener still open refuses it), -1 if not within timeout_s. */
static int wait_port_free(int port, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0)
            return -1;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        int ok = !bind(fd, (struct sockaddr *)&sa, sizeof sa);
        close(fd);
        if (ok)
            return 0;
        usleep(100000);
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *data = NULL, *www = NULL, *live = NULL, *config = NULL, *port_file = NULL, *luobo = NULL;
    char err[LB_CONFIG_ERR_SIZE] = "";
    lb_config *cfg = NULL;
    lb_thread pub = { 0 };
    fake f = { .lock = PTHREAD_MUTEX_INITIALIZER, .shot = "teacher", .layout = "single" };
    sigset_t set;
    int sig, ret = 1;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data"))
            data = argv[i + 1];
        else if (!strcmp(argv[i], "--www"))
            www = argv[i + 1];
        else if (!strcmp(argv[i], "--live"))
            live = argv[i + 1];
        else if (!strcmp(argv[i], "--config"))
            config = argv[i + 1];
        else if (!strcmp(argv[i], "--port-file"))
            port_file = argv[i + 1];
        else if (!strcmp(argv[i], "--fixture"))
            f.fixture = argv[i + 1];
        else if (!strcmp(argv[i], "--luobo"))
            luobo = argv[i + 1];
        else if (!strcmp(argv[i], "--wedge") && !strcmp(argv[i + 1], "metrics"))
            f.wedge_metrics = 1;
        else if (!strcmp(argv[i], "--wedge") && !strcmp(argv[i + 1], "metrics-briefly"))
            f.wedge_metrics = 2;
        else {
            fprintf(stderr, "webui_testd: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!data) {
        fprintf(stderr, "usage: webui_testd --data DIR [--www DIR] [--live DIR] [--config FILE] "
                        "[--port-file FILE] [--fixture MP4]\n");
        return 2;
    }
    f.data_dir = data;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (config && lb_config_load_file(&cfg, config, err, sizeof err) < 0)
        goto end;
    /* wedged on purpose, the web thread is left behind after 2 s, not the
     * daemon's 10 (webui_hardening's time) */
    lb_webui_params params = { .cfg = cfg, .data_dir = data, .www_dir = www, .live_dir = live,
                               .ops = &fake_ops, .opaque = &f, .recut_exe = luobo,
                               .stop_timeout_us = f.wedge_metrics ? 2000000 : 0 };
    if (lb_webui_create(&f.webui, &params, err, sizeof err) < 0 ||
        lb_webui_start(f.webui, err, sizeof err) < 0)
        goto end;
    if (port_file) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *fp = fopen(tmp, "w");
        if (!fp)
            goto end;
        fprintf(fp, "%d\n", lb_webui_port(f.webui));
        if (lb_webui_https_port(f.webui) > 0)
            fprintf(fp, "%d\n", lb_webui_https_port(f.webui));
        fclose(fp);
        rename(tmp, port_file);      /* readers never see a half-written port */
    }
    if (lb_thread_start(&pub, "testd-publish", publisher, &f) < 0)
        goto end;
    /* SIGUSR1: a burst of large events, to overrun slow WebSocket clients. */
    while (!sigwait(&set, &sig) && sig == SIGUSR1)
        publish_burst(&f);
    ret = 0;
end:
    if (err[0])
        fprintf(stderr, "webui_testd: %s\n", err);
    atomic_store(&f.stop, 1);
    lb_thread_join(&pub);
    int port = f.webui ? lb_webui_port(f.webui) : -1;
    lb_webui_free(&f.webui);
    if (f.wedge_metrics == 2 && port > 0) {
        atomic_store(&f.unwedge, 1);
        if (wait_port_free(port, 60) < 0) {
            fprintf(stderr, "webui_testd: port %d still bound 60 s after the web thread "
                            "came unstuck\n", port);
            ret = 1;
        } else {
            fprintf(stderr, "webui_testd: port %d free again\n", port);
        }
    }
    lb_config_free(&cfg);
    return ret;
}
