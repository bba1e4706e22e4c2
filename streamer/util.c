/* File helpers of the streamer: free space, and the two MP4
 * post-processing steps (probe the real duration, rewrite to fast start). */
#include "streamer_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libavutil/avstring.h>
#include <libavutil/dict.h>

#include "lb_file.h"
#include "lb_log.h"

int lb_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return AVERROR(errno);
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return AVERROR(errno);
    return 0;
}

int64_t lb_free_bytes(const char *path)
{
    struct statvfs sv;
    if (statvfs(path, &sv) < 0)
        return -1;
    return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
}

static uint64_t be32(const uint8_t *b)
{
    return (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
}

int64_t lb_mp4_cut_torn(const char *path)
{
    int64_t ret = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return AVERROR(errno);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ret = AVERROR(errno);
        goto fail;
    }
    int64_t size = st.st_size, pos = 0, keep = 0, moov_end = -1;
    int moof_open = 0;                  /* a moof whose mdat has not come yet */
    while (size - pos >= 8) {
        uint8_t h[16];
        ssize_t n = pread(fd, h, sizeof h, pos);
        if (n < 8) {
            ret = n < 0 ? AVERROR(errno) : AVERROR(EIO);
            goto fail;
        }
        uint64_t len = be32(h);
        if (len == 1) {                 /* a 64-bit size follows the type */
            if (n < 16)
                break;
            len = be32(h + 8) << 32 | be32(h + 12);
        }
        /* 0 ("to the end of the file") is never written by the archive: a
         * zeroed tail */
        if (len < 8 || len > (uint64_t)(size - pos))
            break;
        if (!memcmp(h + 4, "moov", 4))
            moov_end = pos + (int64_t)len;
        if (!memcmp(h + 4, "moof", 4))
            moof_open = 1;
        else if (!memcmp(h + 4, "mdat", 4))
            moof_open = 0;
        pos += (int64_t)len;
        if (!moof_open)
            keep = pos;
    }
    if (moov_end < 0 || keep >= size)
        goto fail;                      /* nothing to cut (ret 0) */
    if (ftruncate(fd, keep) < 0 || fdatasync(fd) < 0) {
        ret = AVERROR(errno);
        goto fail;
    }
    ret = size - keep;
fail:
    close(fd);
    return ret;
}

int lb_media_probe_duration(const char *path, double *duration_s)
{
    AVFormatContext *ic = NULL;
    AVPacket *pkt = av_packet_alloc();
    int ret;
    *duration_s = 0;
    if (!pkt)
        return AVERROR(ENOMEM);
    if ((ret = avformat_open_input(&ic, path, NULL, NULL)) < 0)
        goto out;
    if ((ret = avformat_find_stream_info(ic, NULL)) < 0)
        goto out;
    int si = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si < 0)
        si = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (si < 0) {
        ret = AVERROR_STREAM_NOT_FOUND;
        goto out;
    }
    /* A crashed recording has no index to trust: read every packet (the
     * headers are what costs; this runs once, at start-up). */
    int64_t first = AV_NOPTS_VALUE, end = AV_NOPTS_VALUE;
    AVRational tb = ic->streams[si]->time_base;
    while (av_read_frame(ic, pkt) >= 0) {
        if (pkt->stream_index == si && pkt->pts != AV_NOPTS_VALUE) {
            int64_t e = pkt->pts + pkt->duration;
            if (first == AV_NOPTS_VALUE || pkt->pts < first)
                first = pkt->pts;
            if (end == AV_NOPTS_VALUE || e > end)
                end = e;
        }
        av_packet_unref(pkt);
    }
    ret = 0;
    if (first != AV_NOPTS_VALUE)
        *duration_s = (double)(end - first) * av_q2d(tb);
out:
    av_packet_free(&pkt);
    avformat_close_input(&ic);
    return ret;
}

int lb_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return AVERROR(errno);
    int ret = fsync(fd) < 0 ? AVERROR(errno) : 0;
    close(fd);
    return ret;
}

static const char *const tag_keys[] = { "title", "artist", "date", "comment", "genre" };

void lb_mp4_tags(AVDictionary **dict, const lb_lesson_meta *m, const char *started_at)
{
    const char *values[] = { m->title, m->teacher, started_at, m->description, m->subject };
    for (int i = 0; i < 5; i++)
        if (values[i] && *values[i])
            av_dict_set(dict, tag_keys[i], values[i], 0);
}

void lb_mp4_copy_tags(AVDictionary **dst, const AVDictionary *src)
{
    for (int i = 0; i < 5; i++) {
        const AVDictionaryEntry *e = av_dict_get(src, tag_keys[i], NULL, 0);
        if (e)
            av_dict_set(dst, tag_keys[i], e->value, 0);
    }
}

int lb_mp4_faststart(const char *path)
{
    return lb_mp4_faststart_tags(path, NULL);
}

int lb_mp4_faststart_tags(const char *path, const AVDictionary *tags)
{
    return lb_mp4_remux(path, tags, NULL, 0, NULL);
}

int lb_mp4_remux(const char *path, const AVDictionary *tags, const lb_chapter *chapters,
                 int nb_chapters, int64_t *end_us)
{
    AVFormatContext *ic = NULL, *oc = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVDictionary *opts = NULL;
    char tmp[PATH_MAX];
    int ret, header = 0, *map = NULL;
    int64_t *last_dts = NULL, end = 0;

    if (!pkt)
        return AVERROR(ENOMEM);
    if (snprintf(tmp, sizeof tmp, "%s.faststart.tmp", path) >= (int)sizeof tmp) {
        ret = AVERROR(ENAMETOOLONG);
        goto fail;
    }
    if ((ret = avformat_open_input(&ic, path, NULL, NULL)) < 0)
        goto fail;
    if ((ret = avformat_find_stream_info(ic, NULL)) < 0)
        goto fail;
    if ((ret = avformat_alloc_output_context2(&oc, NULL, "mp4", tmp)) < 0)
        goto fail;
    if (!(last_dts = av_calloc(ic->nb_streams, sizeof *last_dts)) ||
        !(map = av_calloc(ic->nb_streams, sizeof *map))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        /* a chapter track (a file remuxed before) is read as a data stream
         * the demuxer discards: the chapters are written anew */
        enum AVMediaType type = ic->streams[i]->codecpar->codec_type;
        map[i] = -1;
        last_dts[i] = AV_NOPTS_VALUE;
        if (ic->streams[i]->discard == AVDISCARD_ALL ||
            (type != AVMEDIA_TYPE_VIDEO && type != AVMEDIA_TYPE_AUDIO))
            continue;
        AVStream *os = avformat_new_stream(oc, NULL);
        if (!os) {
            ret = AVERROR(ENOMEM);
            goto fail;
        }
        if ((ret = avcodec_parameters_copy(os->codecpar, ic->streams[i]->codecpar)) < 0)
            goto fail;
        os->codecpar->codec_tag = 0;
        os->time_base = ic->streams[i]->time_base;
        map[i] = os->index;
    }
    /* the lesson's tags survive the rewrite (libavformat copies none) */
    lb_mp4_copy_tags(&oc->metadata, ic->metadata);
    if (tags)
        lb_mp4_copy_tags(&oc->metadata, tags);
    if ((ret = avio_open(&oc->pb, tmp, AVIO_FLAG_WRITE)) < 0)
        goto fail;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    if ((ret = avformat_write_header(oc, &opts)) < 0)
        goto fail;
    header = 1;
    for (;;) {
        ret = av_read_frame(ic, pkt);
        if (ret == AVERROR_EOF)
            break;
        if (ret < 0) {
            /* A crashed file ends in a torn fragment: keep what came before. */
            LB_LOGW("archive", "%s: read stopped early: %s", path, av_err2str(ret));
            break;
        }
        unsigned si = (unsigned)pkt->stream_index;
        if (si >= ic->nb_streams || map[si] < 0 ||
            (last_dts[si] != AV_NOPTS_VALUE && pkt->dts != AV_NOPTS_VALUE && pkt->dts <= last_dts[si])) {
            av_packet_unref(pkt);
            continue;
        }
        last_dts[si] = pkt->dts;
        if (pkt->pts != AV_NOPTS_VALUE) {
            AVStream *is = ic->streams[si];
            int64_t e = av_rescale_q(pkt->pts + pkt->duration -
                                     (is->start_time != AV_NOPTS_VALUE ? is->start_time : 0),
                                     is->time_base, AV_TIME_BASE_Q);
            if (e > end)
                end = e;
        }
        pkt->stream_index = map[si];
        av_packet_rescale_ts(pkt, ic->streams[si]->time_base, oc->streams[map[si]]->time_base);
        pkt->pos = -1;
        if ((ret = av_interleaved_write_frame(oc, pkt)) < 0)
            goto fail;
    }
    /* chapters added now go in with the trailer (the muxer takes them then
     * when it does not fragment), each end known */
    if (nb_chapters && (ret = lb_mp4_add_chapters(oc, chapters, nb_chapters, end)) < 0)
        goto fail;
    if (end_us)
        *end_us = end;
    header = 0;
    if ((ret = av_write_trailer(oc)) < 0)
        goto fail;
    if ((ret = avio_closep(&oc->pb)) < 0)
        goto fail;
    if ((ret = lb_fsync_path(tmp)) < 0)
        goto fail;
    if (rename(tmp, path) < 0) {
        ret = AVERROR(errno);
        goto fail;
    }
    lb_fsync_parents(path, 1);
    ret = 0;
    goto out;
fail:
    LB_LOGW("archive", "%s: remux failed (%s); the file is kept as it was", path, av_err2str(ret));
    if (header)
        av_write_trailer(oc);
    if (oc)
        avio_closep(&oc->pb);
    unlink(tmp);
out:
    av_dict_free(&opts);
    av_free(last_dts);
    av_free(map);
    av_packet_free(&pkt);
    if (oc)
        avformat_free_context(oc);
    avformat_close_input(&ic);
    return ret;
}

int lb_json_file_string(const char *path, const char *key, char *buf, size_t size)
{
    char text[65536];
    int ret = AVERROR(ENOENT);
    FILE *f = fopen(path, "re");
    buf[0] = 0;
    if (!f)
        return AVERROR(errno);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cJSON *root = cJSON_Parse(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsString(v)) {
        snprintf(buf, size, "%s", v->valuestring);
        ret = 0;
    }
    cJSON_Delete(root);
    return ret;
}
