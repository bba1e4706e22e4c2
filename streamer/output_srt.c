/* The srt output: not written yet. */
#include "streamer_priv.h"

#include <errno.h>

static int srt_configure(void *priv, const lb_config_section *sec, char *err, size_t err_size)
{
    lb_config_error(sec, "type", err, err_size, "srt outputs are not available in this build");
    return AVERROR(ENOSYS);
}

static int srt_open(void *priv, const lb_stream_desc *streams, int nb_streams, const char *dir)
{
    return AVERROR(ENOSYS);
}

static int srt_write(void *priv, const AVPacket *pkt)
{
    return 0;
}

static void srt_close(void *priv)
{
}

const lb_output_ops lb_output_srt = {
    .kind = "srt",
    .priv_size = 1,
    .configure = srt_configure,
    .open = srt_open,
    .write = srt_write,
    .close = srt_close,
};
