/* Design note: the streamer is a list of outputs, each a vtable (archive,
 * hls, srt, upload) with its own thread and bounded queue of AVPacket
 * references.  lb_streamer_send() runs on the encoder's thread(s): it refs
 * the packet once per running output and pushes it; the archive's queue
 * blocks (back-pressure, never loss), network queues drop the oldest GOP.
 *
 * Locking: `run_lock` is a writer-preferring rwlock held for reading by
 * every send for the whole push and for writing by start/stop while they
 * flip an output's `running` flag.  A stop first closes the output's queue
 * (which wakes a send blocked on a full archive queue), then takes the
 * write lock, so a blocked send can never hold a stop up.  `ctl_lock`
 * serialises the control calls (start/stop/free) against each other; a
 * removed output is unlinked under it and stopped after it. */
#include "streamer_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavutil/avutil.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_queue.h"
#include "lb_thread.h"

static const lb_output_ops *const output_kinds[] = {
    &lb_output_archive,
    &lb_output_hls,
    &lb_output_srt,
    &lb_output_upload,
};
#define NB_KINDS ((int)(sizeof output_kinds / sizeof output_kinds[0]))

enum { KIND_ARCHIVE = 1, KIND_HLS, KIND_SRT, KIND_UPLOAD };

static const lb_option_choice kind_choices[] = {
    { "archive", KIND_ARCHIVE },
    { "hls",     KIND_HLS },
    { "srt",     KIND_SRT },
    { "upload",  KIND_UPLOAD },
    { NULL, 0 },
};

typedef struct common_settings {
    int type;
    int queue_packets;
    int follow_schedule;
} common_settings;

/* Keys every [output.NAME] section has; each kind adds its own table. */
static const lb_option common_options[] = {
    { "type", LB_OPT_ENUM, offsetof(common_settings, type), 0, NULL, 0, 0, kind_choices,
      "what the output does" },
    { "queue_packets", LB_OPT_INT, offsetof(common_settings, queue_packets), 0, "1024", 16, 65536,
      NULL, "packets buffered between the encoder and the output (network outputs drop "
            "the oldest GOP beyond this; the archive blocks)" },
    { "follow_schedule", LB_OPT_BOOL, offsetof(common_settings, follow_schedule), 0, "true", 0, 0,
      NULL, "hls and srt: carry nothing while a lesson the schedule marks live = false is recorded "
            "(paused, the connection kept; the program again at the next key frame after)" },
    { NULL },
};

typedef struct output {
    const lb_output_ops *ops;
    void *priv;
    char name[64];
    int queue_packets;
    int follow_schedule;         /* a live output paused by lb_streamer_set_private */
    atomic_int resync;           /* paused lately: waits for a video key frame */
    atomic_int gap_pending;      /* the output marks a discontinuity before its next packet */
    lb_queue *queue;
    lb_thread thread;
    int running;                 /* changed under the write lock of run_lock */
    int opened;
    atomic_int failed;           /* write failed: the rest of the run is discarded */
    int first_error;
    atomic_uint_fast64_t packets, bytes;
    uint64_t dropped_before;     /* drops of the queues of earlier runs */
    atomic_int_fast64_t cpu_us;  /* this run, updated by the thread itself */
    int64_t cpu_before_us;       /* earlier runs */
} output;

struct lb_streamer {
    output **outputs;            /* pointers: a live add or remove moves none */
    int nb_outputs;
    lb_stream_desc *streams;
    int nb_streams;
    int live;
    int recording;
    atomic_int private_on;       /* lb_streamer_set_private */
    char lesson_dir[4096];
    pthread_rwlock_t run_lock;
    pthread_mutex_t ctl_lock;
    pthread_mutex_t stats_lock;  /* guards the queue pointers for get_stats */
};

static void free_packet(void *item)
{
    AVPacket *pkt = item;
    av_packet_free(&pkt);
}

/* Video key frames are where a network output may resume; the streamer
 * marks them in the queue's copy (opaque is ours in that copy). */
static int packet_is_sync(const void *item)
{
    return ((const AVPacket *)item)->opaque != NULL;
}

static void free_output(output **po)
{
    output *o = *po;
    if (!o)
        return;
    if (o->ops->uninit)
        o->ops->uninit(o->priv);
    free(o->priv);
    free(o);
    *po = NULL;
}

/* A configured output, not yet in the list. */
static int new_output(output **po, const lb_output_ops *ops, const lb_config_section *sec,
                      const char *name, int queue_packets, char *err, size_t err_size)
{
    output *o = calloc(1, sizeof *o);
    if (!o)
        return AVERROR(ENOMEM);
    o->ops = ops;
    o->queue_packets = queue_packets;
    snprintf(o->name, sizeof o->name, "%s", name);
    *po = o;
    if (!(o->priv = calloc(1, ops->priv_size ? ops->priv_size : 1)))
        return AVERROR(ENOMEM);
    return ops->configure ? ops->configure(o->priv, sec, err, err_size) : 0;
}

/* Appends o to the list; the locks keep send and get_stats off the array
 * while it moves. */
static int append_output(lb_streamer *st, output *o)
{
    pthread_rwlock_wrlock(&st->run_lock);
    pthread_mutex_lock(&st->stats_lock);
    output **grown = realloc(st->outputs, sizeof *grown * (size_t)(st->nb_outputs + 1));
    if (grown) {
        st->outputs = grown;
        st->outputs[st->nb_outputs++] = o;
    }
    pthread_mutex_unlock(&st->stats_lock);
    pthread_rwlock_unlock(&st->run_lock);
    return grown ? 0 : AVERROR(ENOMEM);
}

static int add_output(lb_streamer *st, const lb_output_ops *ops, const lb_config_section *sec,
                      const char *name, int queue_packets, char *err, size_t err_size)
{
    output *o = NULL;
    int ret = new_output(&o, ops, sec, name, queue_packets, err, err_size);
    if (ret >= 0 && (ret = append_output(st, o)) >= 0)
        return 0;
    free_output(&o);
    return ret;
}

/* Reads one [output.NAME] section and adds it (not started). */
static int add_section(lb_streamer *st, const lb_config *cfg, const lb_config_section *sec,
                       int *have_archive, char *err, size_t err_size)
{
    common_settings cs;
    int ret;
    if ((ret = lb_config_apply(sec, common_options, &cs, err, err_size)) < 0)
        return ret;
    if (cs.type == 0) {
        lb_config_error(sec, "type", err, err_size, "missing (expected archive, hls, srt, upload)");
        return AVERROR(EINVAL);
    }
    if (cs.type == KIND_ARCHIVE && (*have_archive)++) {
        lb_config_error(sec, "type", err, err_size, "only one archive output is allowed");
        return AVERROR(EINVAL);
    }
    if ((cs.type == KIND_ARCHIVE || cs.type == KIND_UPLOAD) && lb_config_get(sec, "follow_schedule")) {
        lb_config_error(sec, "follow_schedule", err, err_size, "only hls and srt outputs follow the "
                        "schedule's live flag (a lesson is always archived)");
        return AVERROR(EINVAL);
    }
    output *o = NULL;
    if ((ret = new_output(&o, output_kinds[cs.type - 1], sec, lb_config_section_instance(sec),
                          cs.queue_packets, err, err_size)) < 0)
        goto fail;
    o->follow_schedule = cs.follow_schedule && (cs.type == KIND_HLS || cs.type == KIND_SRT);
    if (cs.type == KIND_HLS || cs.type == KIND_UPLOAD) {
        /* their files default to hidden names in the data folder */
        const char *data_dir = lb_config_get(lb_config_find(cfg, "general"), "data_dir");
        char path[4096];
        data_dir = data_dir && *data_dir ? data_dir : "recordings";
        if (cs.type == KIND_HLS) {
            snprintf(path, sizeof path, "%s/.live", data_dir);
            lb_hls_set_default_dir(o->priv, path);
        } else {
            snprintf(path, sizeof path, "%s/.upload-queue", data_dir);
            lb_upload_set_default_queue(o->priv, path);
        }
    }
    if ((ret = append_output(st, o)) < 0)
        goto fail;
    return 0;
fail:
    free_output(&o);
    return ret;
}

int lb_streamer_create(lb_streamer **pst, const lb_config *cfg, char *err, size_t err_size)
{
    int ret = 0, have_archive = 0;
    lb_streamer *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, err_size, "streamer: out of memory");
        return AVERROR(ENOMEM);
    }
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&st->run_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&st->ctl_lock, NULL);
    pthread_mutex_init(&st->stats_lock, NULL);

    for (int i = 0; i < lb_config_nb_sections(cfg); i++) {
        const lb_config_section *sec = lb_config_section_at(cfg, i);
        if (strcmp(lb_config_section_kind(sec), "output"))
            continue;
        if ((ret = add_section(st, cfg, sec, &have_archive, err, err_size)) < 0)
            goto fail;
    }
    if (!have_archive) {
        common_settings cs;
        if ((ret = lb_config_apply(NULL, common_options, &cs, err, err_size)) < 0 ||
            (ret = add_output(st, &lb_output_archive, NULL, "archive", cs.queue_packets,
                              err, err_size)) < 0)
            goto fail;
    }
    *pst = st;
    return 0;
fail:
    if (ret == AVERROR(ENOMEM) && !*err)
        snprintf(err, err_size, "streamer: out of memory");
    lb_streamer_free(&st);
    return ret;
}

static int64_t thread_cpu_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *output_thread(void *arg)
{
    output *o = arg;
    uint64_t seen_drops = 0;
    int64_t last_cpu_check = 0;
    for (;;) {
        /* the thread measures itself: no clock of a thread that may be gone */
        int64_t now = lb_clock_now();
        if (now - last_cpu_check > 200000) {
            atomic_store(&o->cpu_us, thread_cpu_us());
            last_cpu_check = now;
        }
        AVPacket *pkt;
        int r = lb_queue_pop(o->queue, (void **)&pkt, o->ops->idle ? 100000 : -1);
        if (r == AVERROR(EAGAIN)) {
            o->ops->idle(o->priv);
            continue;
        }
        if (r < 0)
            break;                                   /* closed and drained */
        lb_queue_stats qs;
        lb_queue_get_stats(o->queue, &qs);
        if (qs.dropped != seen_drops || atomic_exchange(&o->gap_pending, 0)) {
            seen_drops = qs.dropped;
            if (o->ops->gap)
                o->ops->gap(o->priv);
        }
        if (!atomic_load(&o->failed)) {
            int size = pkt->size;
            int ret = o->ops->write(o->priv, pkt);
            if (ret < 0) {
                /* The output reports its own error; the rest of this run is
                 * discarded so that a failed archive never blocks the encoder. */
                o->first_error = ret;
                atomic_store(&o->failed, 1);
                LB_LOGE("streamer", "%s: write failed (%s); output stopped for this run",
                        o->name, av_err2str(ret));
            } else {
                atomic_fetch_add(&o->packets, 1);
                atomic_fetch_add(&o->bytes, (uint64_t)size);
            }
        }
        av_packet_free(&pkt);
    }
    atomic_store(&o->cpu_us, thread_cpu_us());
    return NULL;
}

/* Opens an output and starts its thread; the caller flips running. */
static int start_output(lb_streamer *st, output *o, const char *dir)
{
    int ret;
    lb_queue_params qp = {
        .name = o->name,
        .capacity = (size_t)o->queue_packets,
        .policy = o->ops->per_lesson ? LB_QUEUE_BLOCK : LB_QUEUE_DROP_OLDEST_GOP,
        .free_item = free_packet,
        .is_sync = packet_is_sync,
    };
    o->first_error = 0;
    atomic_store(&o->failed, 0);
    lb_queue *q = lb_queue_alloc(&qp);
    if (!q) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    pthread_mutex_lock(&st->stats_lock);
    o->queue = q;
    pthread_mutex_unlock(&st->stats_lock);
    o->opened = 1;
    if ((ret = o->ops->open(o->priv, st->streams, st->nb_streams, dir)) < 0) {
        LB_LOGE("streamer", "%s: cannot open: %s", o->name, av_err2str(ret));
        goto fail;
    }
    char tname[16];
    snprintf(tname, sizeof tname, "lb-out-%s", o->name);
    if ((ret = lb_thread_start(&o->thread, tname, output_thread, o)) < 0)
        goto fail;
    return 0;
fail:
    if (o->opened)
        o->ops->close(o->priv);
    o->opened = 0;
    pthread_mutex_lock(&st->stats_lock);
    lb_queue_free(&o->queue);
    pthread_mutex_unlock(&st->stats_lock);
    o->first_error = ret;
    return ret;
}

/* Under stats_lock: the queue of the current run cannot be freed meanwhile. */
static void get_stats_locked(output *o, lb_output_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    snprintf(stats->state, sizeof stats->state, "idle");
    if (o->ops->stats)
        o->ops->stats(o->priv, stats);
    snprintf(stats->name, sizeof stats->name, "%s", o->name);
    snprintf(stats->kind, sizeof stats->kind, "%s", o->ops->kind);
    if (o->ops->stream_kinds) {       /* else the output counts its own units */
        stats->packets = atomic_load(&o->packets);
        stats->bytes = atomic_load(&o->bytes);
    }
    stats->dropped = o->dropped_before;
    stats->cpu_us = o->cpu_before_us + atomic_load(&o->cpu_us);
    if (o->follow_schedule && atomic_load(&o->resync))
        snprintf(stats->state, sizeof stats->state, "paused");
    if (o->queue) {
        lb_queue_stats qs;
        lb_queue_get_stats(o->queue, &qs);
        stats->dropped += qs.dropped;
    }
}

static void get_stats(lb_streamer *st, output *o, lb_output_stats *stats)
{
    pthread_mutex_lock(&st->stats_lock);
    get_stats_locked(o, stats);
    pthread_mutex_unlock(&st->stats_lock);
}

/* Closes the queue (wakes a blocked send), stops running, drains, closes. */
static int stop_output(lb_streamer *st, output *o)
{
    if (!o->queue)
        return 0;
    lb_queue_close(o->queue);
    if (o->ops->interrupt && !o->ops->per_lesson)
        o->ops->interrupt(o->priv);      /* a dead network peer must not hold up a stop */
    pthread_rwlock_wrlock(&st->run_lock);
    o->running = 0;
    pthread_rwlock_unlock(&st->run_lock);
    lb_thread_join(&o->thread);
    if (o->opened)
        o->ops->close(o->priv);
    o->opened = 0;
    lb_queue_stats qs;
    pthread_mutex_lock(&st->stats_lock);
    lb_queue_get_stats(o->queue, &qs);
    o->dropped_before += qs.dropped;
    o->cpu_before_us += atomic_exchange(&o->cpu_us, 0);
    lb_queue_free(&o->queue);
    pthread_mutex_unlock(&st->stats_lock);
    lb_output_stats os;
    get_stats(st, o, &os);
    /* the queue's peak says whether the output kept up: a blocking queue
     * that reached its capacity held up the encoder */
    LB_LOGI("streamer", "%s (%s) stopped: %llu packets, %llu dropped in %llu drop(s), "
            "%llu reconnect(s), queue peak %zu of %d%s%s", o->name, o->ops->kind,
            (unsigned long long)os.packets, (unsigned long long)qs.dropped,
            (unsigned long long)qs.drop_events, (unsigned long long)os.reconnects, qs.max_depth,
            o->queue_packets, *os.last_error ? "; last error: " : "", os.last_error);
    return o->first_error;
}

static void free_streams(lb_streamer *st)
{
    for (int i = 0; i < st->nb_streams; i++)
        free((char *)st->streams[i].name);
    free(st->streams);
    st->streams = NULL;
    st->nb_streams = 0;
}

int lb_streamer_start_live(lb_streamer *st, const lb_stream_desc *streams, int nb_streams)
{
    int ret = 0;
    pthread_mutex_lock(&st->ctl_lock);
    if (st->live || st->recording) {
        ret = AVERROR(EINVAL);
        goto out;
    }
    free_streams(st);
    if (!(st->streams = calloc((size_t)nb_streams + 1, sizeof *st->streams))) {
        ret = AVERROR(ENOMEM);
        goto out;
    }
    for (int i = 0; i < nb_streams; i++) {
        st->streams[i] = streams[i];
        if (!(st->streams[i].name = strdup(streams[i].name ? streams[i].name : ""))) {
            st->nb_streams = i;
            free_streams(st);
            ret = AVERROR(ENOMEM);
            goto out;
        }
        st->nb_streams = i + 1;
    }
    st->nb_streams = nb_streams;
    for (int i = 0; i < st->nb_outputs; i++) {
        output *o = st->outputs[i];
        if (o->ops->per_lesson)
            continue;
        /* A live output that cannot start is reported and skipped: the
         * others and the recording go on. */
        if (start_output(st, o, NULL) < 0)
            continue;
        pthread_rwlock_wrlock(&st->run_lock);
        o->running = 1;
        pthread_rwlock_unlock(&st->run_lock);
    }
    st->live = 1;
out:
    pthread_mutex_unlock(&st->ctl_lock);
    return ret;
}

void lb_streamer_stop_live(lb_streamer *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->ctl_lock);
    for (int i = 0; i < st->nb_outputs; i++)
        if (!st->outputs[i]->ops->per_lesson)
            stop_output(st, st->outputs[i]);
    st->live = 0;
    pthread_mutex_unlock(&st->ctl_lock);
}

int lb_streamer_start_recording(lb_streamer *st, const char *lesson_dir)
{
    int ret = 0;
    pthread_mutex_lock(&st->ctl_lock);
    if (!st->streams || st->recording) {
        LB_LOGE("streamer", "start_recording: %s", st->recording ? "already recording"
                                                                 : "start_live was not called");
        ret = AVERROR(EINVAL);
        goto out;
    }
    snprintf(st->lesson_dir, sizeof st->lesson_dir, "%s", lesson_dir);
    for (int i = 0; i < st->nb_outputs; i++) {
        output *o = st->outputs[i];
        if (!o->ops->per_lesson)
            continue;
        if ((ret = start_output(st, o, lesson_dir)) < 0) {
            /* The archive is the recording: without it there is none. */
            for (int j = 0; j < i; j++)
                if (st->outputs[j]->ops->per_lesson)
                    stop_output(st, st->outputs[j]);
            goto out;
        }
        pthread_rwlock_wrlock(&st->run_lock);
        o->running = 1;
        pthread_rwlock_unlock(&st->run_lock);
    }
    st->recording = 1;
out:
    pthread_mutex_unlock(&st->ctl_lock);
    return ret;
}

int lb_streamer_stop_recording(lb_streamer *st)
{
    int ret = 0;
    if (!st)
        return 0;
    pthread_mutex_lock(&st->ctl_lock);
    if (!st->recording)
        goto out;
    for (int i = 0; i < st->nb_outputs; i++) {
        if (!st->outputs[i]->ops->per_lesson)
            continue;
        int r = stop_output(st, st->outputs[i]);
        if (r < 0 && ret == 0)
            ret = r;
    }
    st->recording = 0;
    /* a lesson a shutdown ended goes on at the next start (the upload
     * would wait for it there, holding up the queue): it is queued when it
     * really ends, or by the start that does not resume it
     * (lb_lesson_each_shut_down) */
    char path[sizeof st->lesson_dir + 16], ended_by[16] = "";
    snprintf(path, sizeof path, "%s/lesson.json", st->lesson_dir);
    lb_json_file_string(path, "ended_by", ended_by, sizeof ended_by);
    for (int i = 0; i < st->nb_outputs && strcmp(ended_by, "shutdown"); i++)
        if (st->outputs[i]->ops->lesson_done)
            st->outputs[i]->ops->lesson_done(st->outputs[i]->priv, st->lesson_dir);
out:
    pthread_mutex_unlock(&st->ctl_lock);
    return ret;
}

int lb_streamer_lesson_done(lb_streamer *st, const char *lesson_dir)
{
    int n = 0;
    if (!st)
        return 0;
    pthread_mutex_lock(&st->ctl_lock);
    for (int i = 0; i < st->nb_outputs; i++)
        if (st->outputs[i]->ops->lesson_done) {
            st->outputs[i]->ops->lesson_done(st->outputs[i]->priv, lesson_dir);
            n++;
        }
    pthread_mutex_unlock(&st->ctl_lock);
    return n;
}

int lb_streamer_send(lb_streamer *st, const AVPacket *pkt)
{
    int ret = 0;
    if (pkt->stream_index < 0 || pkt->stream_index >= st->nb_streams)
        return AVERROR(EINVAL);
    const lb_stream_desc *sd = &st->streams[pkt->stream_index];
    unsigned bit = KIND_BIT(sd->kind);
    int sync = (pkt->flags & AV_PKT_FLAG_KEY) &&
               sd->par && sd->par->codec_type == AVMEDIA_TYPE_VIDEO;
    int private_on = atomic_load(&st->private_on);
    pthread_rwlock_rdlock(&st->run_lock);
    for (int i = 0; i < st->nb_outputs; i++) {
        output *o = st->outputs[i];
        if (!o->running || !(o->ops->stream_kinds & bit))
            continue;
        if (o->follow_schedule && private_on) {
            atomic_store(&o->resync, 1);
            continue;
        }
        if (atomic_load(&o->resync)) {
            if (!sync)
                continue;
            if (atomic_exchange(&o->resync, 0))
                atomic_store(&o->gap_pending, 1);
        }
        AVPacket *ref = av_packet_clone(pkt);
        if (!ref) {
            ret = AVERROR(ENOMEM);
            continue;
        }
        ref->opaque = sync ? (void *)1 : NULL;
        int r = lb_queue_push(o->queue, ref, -1);
        if (r < 0) {
            av_packet_free(&ref);          /* the output is stopping */
            if (o->ops->per_lesson && r != AVERROR_EOF)
                ret = r;
        }
    }
    pthread_rwlock_unlock(&st->run_lock);
    return ret;
}

int lb_streamer_recording_error(lb_streamer *st)
{
    int ret = 0;
    if (!st)
        return 0;
    pthread_mutex_lock(&st->stats_lock);    /* the list may change under a reload */
    for (int i = 0; i < st->nb_outputs && !ret; i++) {
        output *o = st->outputs[i];
        /* first_error is written before failed is set (seq_cst) */
        if (o->ops->per_lesson && atomic_load(&o->failed))
            ret = o->first_error < 0 ? o->first_error : AVERROR_EXTERNAL;
    }
    pthread_mutex_unlock(&st->stats_lock);
    return ret;
}

void lb_streamer_print_options(FILE *f, lb_options_printer print)
{
    if (!print)
        print = lb_options_print;
    print(f, "output.NAME", common_options);
    for (int i = 0; i < NB_KINDS; i++) {
        char title[64];
        snprintf(title, sizeof title, "output.NAME, type = %s", output_kinds[i]->kind);
        if (output_kinds[i]->options)
            print(f, title, output_kinds[i]->options);
    }
}

const char *lb_streamer_live_dir(const lb_streamer *st)
{
    for (int i = 0; st && i < st->nb_outputs; i++)
        if (st->outputs[i]->ops == &lb_output_hls)
            return lb_hls_dir(st->outputs[i]->priv);
    return NULL;
}

int lb_streamer_nb_outputs(lb_streamer *st)
{
    if (!st)
        return 0;
    pthread_mutex_lock(&st->stats_lock);
    int n = st->nb_outputs;
    pthread_mutex_unlock(&st->stats_lock);
    return n;
}

void lb_streamer_set_private(lb_streamer *st, int on)
{
    if (!st || atomic_exchange(&st->private_on, !!on) == !!on)
        return;
    LB_LOGI("streamer", "%s", on ? "a lesson that is not live: the live outputs that follow the "
                                   "schedule pause" : "the live outputs carry the program again");
}

void lb_streamer_get_stats(lb_streamer *st, int index, lb_output_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    if (!st)
        return;
    /* the list may change under a reload: an index past its end is empty */
    pthread_mutex_lock(&st->stats_lock);
    if (index >= 0 && index < st->nb_outputs)
        get_stats_locked(st->outputs[index], stats);
    pthread_mutex_unlock(&st->stats_lock);
}

/* A reload. */
int lb_streamer_add_output(lb_streamer *st, const lb_config *cfg, const char *name,
                           char *err, size_t err_size)
{
    char full[128];
    int ret, have_archive = 1;          /* an archive is never added live */
    snprintf(full, sizeof full, "output.%s", name);
    const lb_config_section *sec = lb_config_find(cfg, full);
    if (!sec) {
        snprintf(err, err_size, "no section [%s]", full);
        return AVERROR(ENOENT);
    }
    pthread_mutex_lock(&st->ctl_lock);
    for (int i = 0; i < st->nb_outputs; i++) {
        if (!strcmp(st->outputs[i]->name, name)) {
            snprintf(err, err_size, "output %s exists already", name);
            ret = AVERROR(EEXIST);
            goto out;
        }
    }
    if ((ret = add_section(st, cfg, sec, &have_archive, err, err_size)) < 0)
        goto out;
    output *o = st->outputs[st->nb_outputs - 1];
    if (o->ops->per_lesson) {
        /* it starts with the next lesson; never in the middle of this one */
    } else if (st->live) {
        if ((ret = start_output(st, o, NULL)) < 0) {
            ret = 0;        /* logged, and in its stats, like a live output at start */
            goto out;
        }
        /* it joins at the next key frame: a network output resumes at one */
        pthread_rwlock_wrlock(&st->run_lock);
        o->running = 1;
        pthread_rwlock_unlock(&st->run_lock);
    }
    LB_LOGI("streamer", "%s (%s) added", o->name, o->ops->kind);
out:
    pthread_mutex_unlock(&st->ctl_lock);
    return ret;
}

int lb_streamer_remove_output(lb_streamer *st, const char *name)
{
    int ret = AVERROR(ENOENT);
    output *o = NULL;
    pthread_mutex_lock(&st->ctl_lock);
    for (int i = 0; i < st->nb_outputs; i++) {
        if (strcmp(st->outputs[i]->name, name))
            continue;
        if (st->outputs[i]->ops == &lb_output_archive) {
            ret = AVERROR(EPERM);       /* the recording is never touched */
            break;
        }
        if (st->outputs[i]->ops->per_lesson && st->recording) {
            ret = AVERROR(EBUSY);
            break;
        }
        /* Unlinked, nothing feeds, starts or stops it any more. */
        o = st->outputs[i];
        pthread_rwlock_wrlock(&st->run_lock);
        pthread_mutex_lock(&st->stats_lock);
        memmove(&st->outputs[i], &st->outputs[i + 1],
                sizeof *st->outputs * (size_t)(st->nb_outputs - i - 1));
        st->nb_outputs--;
        pthread_mutex_unlock(&st->stats_lock);
        pthread_rwlock_unlock(&st->run_lock);
        ret = 0;
        break;
    }
    pthread_mutex_unlock(&st->ctl_lock);
    if (!o)
        return ret;
    /* Draining and joining may take seconds (an HLS push has no interrupt):
     * outside ctl_lock, so that a recording still starts and stops meanwhile. */
    stop_output(st, o);
    LB_LOGI("streamer", "%s (%s) removed", o->name, o->ops->kind);
    free_output(&o);
    return 0;
}

void lb_streamer_free(lb_streamer **pst)
{
    lb_streamer *st = pst ? *pst : NULL;
    if (!st)
        return;
    lb_streamer_stop_recording(st);
    lb_streamer_stop_live(st);
    for (int i = 0; i < st->nb_outputs; i++)
        free_output(&st->outputs[i]);
    free(st->outputs);
    free_streams(st);
    pthread_rwlock_destroy(&st->run_lock);
    pthread_mutex_destroy(&st->ctl_lock);
    pthread_mutex_destroy(&st->stats_lock);
    free(st);
    *pst = NULL;
}
