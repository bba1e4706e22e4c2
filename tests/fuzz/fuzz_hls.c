/* fuzz_hls: the live playlist an HLS output finds in its folder when it
 * starts, as a restart continues it (streamer/output_hls.c).
 *
 * The input is the playlist.  It is read by lb_hls_read_playlist(), then
 * by the output itself: configured, opened on a program video and audio
 * stream table (which continues the playlist and clears the folder), and
 * closed, which writes the new, empty playlist.
 *
 * Oracles beyond the sanitizers: what the reader accepts has sequence
 * numbers in [0, 2^53); the playlist the output writes reads back, and its
 * numbers go on from the old one's (never backwards). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/codec_par.h>

#include "fuzz_common.h"
#include "lb_config.h"
#include "lb_log.h"
#include "streamer_priv.h"

static char live_dir[PATH_MAX], playlist[PATH_MAX + 16];
static lb_config *cfg;
static AVCodecParameters *video_par, *audio_par;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const dict[] = {
        "#EXTM3U\n", "#EXT-X-VERSION:3\n", "#EXT-X-TARGETDURATION:", "#EXT-X-MEDIA-SEQUENCE:",
        "#EXT-X-DISCONTINUITY-SEQUENCE:", "#EXT-X-DISCONTINUITY\n", "#EXTINF:2.000,\n",
        "#EXT-X-PROGRAM-DATE-TIME:2026-12-04T20:42:23.154Z\n", "#EXT-X-ENDLIST\n",
        "#EXT-X-STREAM-INF:BANDWIDTH=", "program-1796416942.ts\n", "9007199254740991",
        "9007199254740992", "18446744073709551615", "\r\n",
    };
    char text[PATH_MAX + 256], err[LB_CONFIG_ERR_SIZE];
    const char *top = fuzz_scratch_dir("hls");

    snprintf(live_dir, sizeof live_dir, "%s/live", top);
    snprintf(playlist, sizeof playlist, "%s/program.m3u8", live_dir);
    snprintf(text, sizeof text, "[output.live]\ntype = hls\ndir = %s\n", live_dir);
    if (lb_config_load_string(&cfg, "fuzz.ini", text, err, sizeof err) < 0)
        fuzz_fail("%s", err);
    if (!(video_par = avcodec_parameters_alloc()) || !(audio_par = avcodec_parameters_alloc()))
        abort();
    video_par->codec_type = AVMEDIA_TYPE_VIDEO;
    video_par->codec_id = AV_CODEC_ID_H264;
    video_par->width = 640;
    video_par->height = 360;
    audio_par->codec_type = AVMEDIA_TYPE_AUDIO;
    audio_par->codec_id = AV_CODEC_ID_AAC;
    audio_par->sample_rate = 48000;

    fuzz_use_words(argc, argv, top, "hls", dict, sizeof dict / sizeof dict[0]);
    lb_log_set_level(LB_LOG_ERROR);
    return 0;
}

static void check_numbers(const char *what, int64_t next_seq, int64_t disc_seq)
{
    if (next_seq < 0 || disc_seq < 0 || next_seq >= LB_HLS_MAX_SEQ ||
        disc_seq >= LB_HLS_MAX_SEQ)
        fuzz_fail("%s: next sequence %lld, discontinuity sequence %lld", what,
                  (long long)next_seq, (long long)disc_seq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[LB_CONFIG_ERR_SIZE];
    int64_t old_seq = -1, old_disc = -1, new_seq, new_disc;
    const lb_stream_desc streams[] = {
        { LB_STREAM_PROGRAM_VIDEO, "program", video_par },
        { LB_STREAM_PROGRAM_AUDIO, "audio", audio_par },
    };
    void *priv;
    int ret;

    fuzz_remove_tree(live_dir);
    if (mkdir(live_dir, 0755) < 0)
        fuzz_fail("cannot create %s: %s", live_dir, strerror(errno));
    fuzz_write_file(playlist, data, size);

    if (lb_hls_read_playlist(playlist, &old_seq, &old_disc) == 0)
        check_numbers("the old playlist", old_seq, old_disc);
    else
        old_seq = old_disc = -1;

    if (!(priv = calloc(1, lb_output_hls.priv_size)))
        abort();
    if (lb_output_hls.configure(priv, lb_config_find(cfg, "output.live"), err, sizeof err) < 0)
        fuzz_fail("cannot configure: %s", err);
    if ((ret = lb_output_hls.open(priv, streams, 2, NULL)) < 0)
        fuzz_fail("cannot open: %s", av_err2str(ret));
    lb_output_hls.close(priv);
    lb_output_hls.uninit(priv);
    free(priv);

    if ((ret = lb_hls_read_playlist(playlist, &new_seq, &new_disc)) < 0)
        fuzz_fail("the playlist the output wrote does not read back: %s", av_err2str(ret));
    check_numbers("the new playlist", new_seq, new_disc);
    if (old_seq >= 0 && (new_seq < old_seq || new_disc != old_disc))
        fuzz_fail("restart went from sequence %lld (discontinuities %lld) to %lld (%lld)",
                  (long long)old_seq, (long long)old_disc, (long long)new_seq,
                  (long long)new_disc);
    return 0;
}
