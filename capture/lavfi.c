#include "capture_internal.h"

#include <stdio.h>
#include <string.h>

#include <libavfilter/buffersink.h>
#include <libavutil/opt.h>

struct lb_lavfi {
    AVFilterGraph *graph;
    AVFilterContext *sink;
};

int lb_lavfi_open(lb_lavfi **pg, const char *desc, int audio, char *err, size_t err_size)
{
    AVFilterInOut *outputs = NULL;
    int ret;
    lb_lavfi *g = av_mallocz(sizeof *g);
    if (!g || !(g->graph = avfilter_graph_alloc())) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    /* one thread per graph: sources already run in their own threads, and
     * a generator is cheap next to decoding and encoding */
    g->graph->nb_threads = 1;
    ret = avfilter_graph_create_filter(&g->sink, avfilter_get_by_name(audio ? "abuffersink" : "buffersink"),
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
    outputs = avfilter_inout_alloc();
    if (!outputs) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    /* the graph's open output pad feeds our sink, whose input is "out" */
    AVFilterInOut *inputs = avfilter_inout_alloc();
    if (!inputs) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    inputs->name = av_strdup("out");
    inputs->filter_ctx = g->sink;
    inputs->pad_idx = 0;
    ret = avfilter_graph_parse_ptr(g->graph, desc, &inputs, NULL, NULL);
    avfilter_inout_free(&inputs);
    if (ret < 0)
        goto fail;
    if ((ret = avfilter_graph_config(g->graph, NULL)) < 0)
        goto fail;
    avfilter_inout_free(&outputs);
    *pg = g;
    return 0;
fail:
    avfilter_inout_free(&outputs);
    snprintf(err, err_size, "lavfi graph: %s", av_err2str(ret));
    lb_lavfi_close(&g);
    return ret;
}

int lb_lavfi_read(lb_lavfi *g, AVFrame *frame)
{
    return av_buffersink_get_frame(g->sink, frame);
}

AVRational lb_lavfi_time_base(const lb_lavfi *g)
{
    return av_buffersink_get_time_base(g->sink);
}

void lb_lavfi_close(lb_lavfi **pg)
{
    lb_lavfi *g = pg ? *pg : NULL;
    if (!g)
        return;
    avfilter_graph_free(&g->graph);
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
