#include "capture_internal.h"
static int a_open(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size) { return AVERROR(ENOSYS); }
static int a_read(void *priv, const lb_source_ctx *ctx, lb_mic_block *blk, char *err, size_t err_size) { return AVERROR(ENOSYS); }
static void a_close(void *priv) {}
const lb_mic_ops lb_mic_alsa = { .kind = "alsa", .open = a_open, .read = a_read, .close = a_close, .live = 1 };
