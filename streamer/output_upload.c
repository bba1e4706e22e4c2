/* The upload output: not written yet. */
#include "streamer_priv.h"

#include <errno.h>

static int upload_configure(void *priv, const lb_config_section *sec, char *err, size_t err_size)
{
    lb_config_error(sec, "type", err, err_size, "upload outputs are not available in this build");
    return AVERROR(ENOSYS);
}

static int upload_open(void *priv, const lb_stream_desc *streams, int nb_streams, const char *dir)
{
    return AVERROR(ENOSYS);
}

static int upload_write(void *priv, const AVPacket *pkt)
{
    return 0;
}

static void upload_close(void *priv)
{
}

const lb_output_ops lb_output_upload = {
    .kind = "upload",
    .priv_size = 1,
    .configure = upload_configure,
    .open = upload_open,
    .write = upload_write,
    .close = upload_close,
};
