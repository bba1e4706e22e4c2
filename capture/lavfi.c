/* Design note: lavfi graphs (synthetic cameras and mics: the demo classroom
 * and the tests) through libavfilter, loaded the first time a graph opens.
 * Linked, libavfilter and the thirty libraries it needs (speech synthesis
 * voices, LV2, Vulkan, LAPACK...) were loaded by every daemon, 10 MiB
 * resident, for a hall of IP cameras that never builds a graph (the slates'
 * text is FreeType's: text.c).  dlopen() by the soname of the headers we
 * are built with, and a check of the library's major version, keep the
 * ABI the compiler saw. */
#include "capture_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libavfilter/buffersink.h>
#include <libavutil/opt.h>

#define AVFILTER_SONAME "libavfilter.so." AV_STRINGIFY(LIBAVFILTER_VERSION_MAJOR)

static struct {
    __typeof__(&avfilter_version) version;
    __typeof__(&avfilter_graph_alloc) graph_alloc;
    __typeof__(&avfilter_graph_create_filter) graph_create_filter;
    __typeof__(&avfilter_get_by_name) get_by_name;
    __typeof__(&avfilter_inout_alloc) inout_alloc;
    __typeof__(&avfilter_inout_free) inout_free;
    __typeof__(&avfilter_graph_parse_ptr) graph_parse_ptr;
    __typeof__(&avfilter_graph_config) graph_config;
    __typeof__(&avfilter_graph_free) graph_free;
    __typeof__(&av_buffersink_get_frame) buffersink_get_frame;
    __typeof__(&av_buffersink_get_time_base) buffersink_get_time_base;
    char error[256];        /* why it is not loaded; empty when it is */
} lavfi = { .error = "not loaded" };
static pthread_once_t lavfi_once = PTHREAD_ONCE_INIT;

static int resolve(void *lib, const char *name, void *fn)
{
    void *sym = dlsym(lib, name);
    if (!sym)
        snprintf(lavfi.error, sizeof lavfi.error, "%s has no %s", AVFILTER_SONAME, name);
    memcpy(fn, &sym, sizeof sym);       /* object to function pointer: POSIX's way */
    return sym != NULL;
}

static void lavfi_load(void)
{
    /* never closed: its filters' statics outlive any one graph */
    void *lib = dlopen(AVFILTER_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(lavfi.error, sizeof lavfi.error, "cannot load %s (install libavfilter%d): %s",
                 AVFILTER_SONAME, LIBAVFILTER_VERSION_MAJOR, dlerror());
        return;
    }
    if (!resolve(lib, "avfilter_version", &lavfi.version) ||
        !resolve(lib, "avfilter_graph_alloc", &lavfi.graph_alloc) ||
        !resolve(lib, "avfilter_graph_create_filter", &lavfi.graph_create_filter) ||
        !resolve(lib, "avfilter_get_by_name", &lavfi.get_by_name) ||
        !resolve(lib, "avfilter_inout_alloc", &lavfi.inout_alloc) ||
        !resolve(lib, "avfilter_inout_free", &lavfi.inout_free) ||
        !resolve(lib, "avfilter_graph_parse_ptr", &lavfi.graph_parse_ptr) ||
        !resolve(lib, "avfilter_graph_config", &lavfi.graph_config) ||
        !resolve(lib, "avfilter_graph_free", &lavfi.graph_free) ||
        !resolve(lib, "av_buffersink_get_frame", &lavfi.buffersink_get_frame) ||
        !resolve(lib, "av_buffersink_get_time_base", &lavfi.buffersink_get_time_base))
        return;
    unsigned version = lavfi.version();
    if (AV_VERSION_MAJOR(version) != LIBAVFILTER_VERSION_MAJOR) {
        snprintf(lavfi.error, sizeof lavfi.error, "%s is version %u.%u, luobo was built for %d",
                 AVFILTER_SONAME, AV_VERSION_MAJOR(version), AV_VERSION_MINOR(version),
                 LIBAVFILTER_VERSION_MAJOR);
        return;
    }
    lavfi.error[0] = 0;
}

struct lb_lavfi {
    AVFilterGraph *graph;
    AVFilterContext *sink;
};

int lb_lavfi_open(lb_lavfi **pg, const char *desc, int audio, char *err, size_t err_size)
{
    AVFilterInOut *outputs = NULL;
    int ret;
    pthread_once(&lavfi_once, lavfi_load);
    if (lavfi.error[0]) {
        snprintf(err, err_size, "lavfi graph: %s", lavfi.error);
        return AVERROR(EINVAL);     /* not retried: it will not load later */
    }
    lb_lavfi *g = av_mallocz(sizeof *g);
    if (!g || !(g->graph = lavfi.graph_alloc())) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    /* one thread per graph: sources already run in their own threads, and
     * a generator is cheap next to decoding and encoding */
    g->graph->nb_threads = 1;
    ret = lavfi.graph_create_filter(&g->sink, lavfi.get_by_name(audio ? "abuffersink" : "buffersink"),
                                    "out", NULL, NULL, g->graph);
    if (ret < 0)
        goto fail;
    if (!audio) {
        enum AVPixelFormat fmts[] = { AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE };
        ret = av_opt_set_int_list(g->sink, "pix_fmts", fmts, AV_PIX_FMT_NONE, AV_OPT_SEARCH_CHILDREN);
    } else {
        enum AVSampleFormat fmts[] = { AV_SAMPLE_FMT_FLT, AV_SAMPLE_FMT_NONE };
        int rates[] = { LB_AUDIO_RATE, -1 };
        if ((ret = av_opt_set_int_list(g->sink, "sample_fmts", fmts, AV_SAMPLE_FMT_NONE, AV_OPT_SEARCH_CHILDREN)) >= 0 &&
            (ret = av_opt_set_int_list(g->sink, "sample_rates", rates, -1, AV_OPT_SEARCH_CHILDREN)) >= 0)
            ret = av_opt_set(g->sink, "ch_layouts", "mono", AV_OPT_SEARCH_CHILDREN);
    }
    if (ret < 0)
        goto fail;
    outputs = lavfi.inout_alloc();
    if (!outputs) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    /* the graph's open output pad feeds our sink, whose input is "out" */
    AVFilterInOut *inputs = lavfi.inout_alloc();
    if (!inputs) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    inputs->name = av_strdup("out");
    inputs->filter_ctx = g->sink;
    inputs->pad_idx = 0;
    ret = lavfi.graph_parse_ptr(g->graph, desc, &inputs, NULL, NULL);
    lavfi.inout_free(&inputs);
    if (ret < 0)
        goto fail;
    if ((ret = lavfi.graph_config(g->graph, NULL)) < 0)
        goto fail;
    lavfi.inout_free(&outputs);
    *pg = g;
    return 0;
fail:
    lavfi.inout_free(&outputs);
    snprintf(err, err_size, "lavfi graph: %s", av_err2str(ret));
    lb_lavfi_close(&g);
    return ret;
}

int lb_lavfi_read(lb_lavfi *g, AVFrame *frame)
{
    return lavfi.buffersink_get_frame(g->sink, frame);
}

AVRational lb_lavfi_time_base(const lb_lavfi *g)
{
    return lavfi.buffersink_get_time_base(g->sink);
}

void lb_lavfi_close(lb_lavfi **pg)
{
    lb_lavfi *g = pg ? *pg : NULL;
    if (!g)
        return;
    lavfi.graph_free(&g->graph);
    av_freep(pg);
}

void lb_lavfi_escape_text(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; *in && n + 5 < size; in++) {
        /* drawtext's text goes through two levels of escaping: the filter
         * graph parser and the option parser */
        if (strchr("':\\%,;[]", *in)) {
            out[n++] = '\\';
            out[n++] = '\\';
            out[n++] = '\\';
        }
        out[n++] = *in;
    }
    out[n] = 0;
}
