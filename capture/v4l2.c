#include "capture_internal.h"
static int v_open(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size) { return AVERROR(ENOSYS); }
static int v_read(void *priv, const lb_source_ctx *ctx, AVFrame *f, AVPacket *p, char *err, size_t err_size) { return AVERROR(ENOSYS); }
static void v_close(void *priv) {}
const lb_source_ops lb_source_v4l2 = { .kind = "v4l2", .open = v_open, .read = v_read, .close = v_close, .live = 1 };
