/* The hls output: not written yet. */
#include "streamer_priv.h"

#include <errno.h>

static int hls_configure(void *priv, const lb_config_section *sec, char *err, size_t err_size)
{
    lb_config_error(sec, "type", err, err_size, "hls outputs are not available in this build");
    return AVERROR(ENOSYS);
}

static int hls_open(void *priv, const lb_stream_desc *streams, int nb_streams, const char *dir)
{
    return AVERROR(ENOSYS);
}

static int hls_write(void *priv, const AVPacket *pkt)
{
    return 0;
}

static void hls_close(void *priv)
{
}

const lb_output_ops lb_output_hls = {
    .kind = "hls",
    .priv_size = 1,
    .configure = hls_configure,
    .open = hls_open,
    .write = hls_write,
    .close = hls_close,
};
