/* Design note: the "no signal" slates' text, drawn with FreeType.
 *
 * The slates used to be a lavfi graph (color and drawtext), which made
 * every daemon load libavfilter and the thirty libraries it pulls in
 * (speech synthesis voices, LV2, Vulkan...): 10 MiB resident for two lines
 * of text.  FreeType is the font engine drawtext itself uses, and is mapped
 * already (through libavcodec's SVG decoder).  A slate's text is a name and
 * a state on a flat grey picture: one line each, no shaping (Latin and CJK
 * need none), anti-aliased grey on grey, so only the luma plane changes.
 * The layout is drawtext's, so that the slates look as they did: a line's
 * box is as high as its glyphs reach above and below the baseline (th),
 * centred across the picture, glyph after glyph by their advances (no
 * kerning: drawtext asks FreeType for it with character codes where glyph
 * indices belong, and in effect has none). */
#include "capture_internal.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H

#include <libavutil/common.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>

/* The glyphs of one line, and their box. */
typedef struct text_line {
    FT_UInt glyph[LB_TEXT_MAX_CHARS];
    int nb_glyphs;
    int width;              /* pen advance, pixels */
    int y_max, y_min;       /* highest and lowest reach about the baseline */
} text_line;

static void lay_out(FT_Face face, const char *utf8, text_line *l)
{
    const uint8_t *p = (const uint8_t *)utf8;
    l->nb_glyphs = l->width = 0;
    l->y_max = INT_MIN;
    l->y_min = INT_MAX;
    while (*p && l->nb_glyphs < LB_TEXT_MAX_CHARS) {
        uint32_t cp;
        /* a byte that is not UTF-8 (a label saved in Latin-1) is drawn as
         * U+FFFD; GET_UTF8's error statement runs inside its own loop,
         * hence the goto */
        GET_UTF8(cp, *p ? *p++ : 0, cp = 0xFFFD; goto decoded;)
decoded:;
        FT_UInt g = FT_Get_Char_Index(face, cp);     /* 0: the font's "missing" box */
        if (FT_Load_Glyph(face, g, FT_LOAD_DEFAULT))
            continue;
        /* the glyph's box in whole pixels (a blank's is empty, at the
         * baseline), as drawtext measures it */
        const FT_Glyph_Metrics *m = &face->glyph->metrics;
        l->y_max = FFMAX(l->y_max, (int)((m->horiBearingY + 63) >> 6));
        l->y_min = FFMIN(l->y_min, (int)((m->horiBearingY - m->height) >> 6));
        l->width += (int)(face->glyph->advance.x >> 6);
        l->glyph[l->nb_glyphs++] = g;
    }
    if (!l->nb_glyphs)
        l->y_max = l->y_min = 0;
}

/* Blends each glyph's coverage into the luma plane: luma at full
 * coverage, the picture's own where there is none. */
static void render(FT_Face face, const text_line *l, AVFrame *f, int x0, int top, int luma)
{
    int pen = x0;
    for (int i = 0; i < l->nb_glyphs; i++) {
        FT_UInt g = l->glyph[i];
        if (FT_Load_Glyph(face, g, FT_LOAD_RENDER))
            continue;
        FT_GlyphSlot s = face->glyph;
        const FT_Bitmap *b = &s->bitmap;
        int mono = b->pixel_mode == FT_PIXEL_MODE_MONO;  /* a font's embedded bitmaps */
        if (b->pixel_mode == FT_PIXEL_MODE_GRAY || mono) {
            int gx = pen + s->bitmap_left, gy = top + l->y_max - s->bitmap_top;
            for (unsigned r = 0; r < b->rows; r++) {
                int y = gy + (int)r;
                if (y < 0 || y >= f->height)
                    continue;
                /* a negative pitch: the rows are stored bottom up */
                const uint8_t *src = b->pitch >= 0 ? b->buffer + (ptrdiff_t)r * b->pitch
                                                   : b->buffer + (ptrdiff_t)(b->rows - 1 - r) * -b->pitch;
                uint8_t *row = f->data[0] + (ptrdiff_t)y * f->linesize[0];
                for (unsigned c = 0; c < b->width; c++) {
                    int x = gx + (int)c, cov = mono ? (src[c >> 3] >> (7 - (c & 7)) & 1) * 255 : src[c];
                    if (x >= 0 && x < f->width && cov)
                        row[x] = (uint8_t)(row[x] + ((luma - row[x]) * cov + 127) / 255);
                }
            }
        }
        pen += (int)(s->advance.x >> 6);
    }
}

int lb_text_draw_line(AVFrame *f, const char *utf8, const char *font_file, int px_size,
                      double th_offset, int luma)
{
    FT_Library lib = NULL;
    FT_Face face = NULL;
    text_line *l = NULL;
    int ret = AVERROR_EXTERNAL;
    if (FT_Init_FreeType(&lib))
        goto end;
    if (FT_New_Face(lib, font_file, 0, &face) || FT_Set_Pixel_Sizes(face, 0, (FT_UInt)FFMAX(px_size, 1))) {
        ret = AVERROR(ENOENT);
        goto end;
    }
    if (!(l = av_malloc(sizeof *l))) {
        ret = AVERROR(ENOMEM);
        goto end;
    }
    lay_out(face, utf8, l);
    int th = l->y_max - l->y_min;
    render(face, l, f, (f->width - l->width) / 2, (int)(f->height / 2.0 + th_offset * th), luma);
    ret = 0;
end:
    av_free(l);
    if (face)
        FT_Done_Face(face);
    if (lib)
        FT_Done_FreeType(lib);
    return ret;
}
