/* gif.c - GIF decoding to float CHW, written here (no library): the first
 * frame only, composited onto the logical screen as Pillow does for frame 0.
 * Blocks are bounds-checked as they are walked, the LZW decoder checks every
 * code, and decoded indices go to a buffer grown as they arrive, so a header
 * claiming a huge image over a few bytes of data fails before its size is
 * allocated. Spec: GIF89a (W3C/CompuServe, 1990), sections 18-23 and
 * appendices D-F.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"
#include "util.h"

#define LZW_MAX 4096 /* 12-bit codes */

struct gif {
    const uint8_t *b;
    size_t len, pos;
    const char *name;
};

static unsigned le16(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static int truncated(struct gif *g, const char *where)
{
    return error_set(ERR_INPUT, g->name, "truncated GIF: the file ends %s", where);
}

/* Skips data sub-blocks (length byte, bytes) up to the 0 terminator; with
 * out != NULL also copies their bytes there (room for all checked by the
 * caller's first pass) and sets *n to how many. */
static int sub_blocks(struct gif *g, uint8_t *out, size_t *n, const char *where)
{
    size_t total = 0;
    for (;;) {
        if (g->pos >= g->len) return truncated(g, where);
        size_t k = g->b[g->pos++];
        if (!k) break;
        if (g->len - g->pos < k) return truncated(g, where);
        if (out) memcpy(out + total, g->b + g->pos, k);
        total += k;
        g->pos += k;
    }
    if (n) *n = total;
    return 0;
}

/* ---- LZW (appendix F): variable-length codes, LSB first --------------------- */

struct lzw_out {
    uint8_t *pix; /* decoded indices, grown as they arrive */
    size_t n, cap, want;
};

/* Room for `need` indices (need <= want), by doubling. */
static int out_reserve(struct lzw_out *o, size_t need, const char *name)
{
    if (need <= o->cap) return 0;
    size_t cap = o->cap ? o->cap : 1 << 16;
    while (cap < need)
        cap = cap > o->want / 2 ? o->want : cap * 2;
    if (cap > o->want) cap = o->want;
    uint8_t *p = big_alloc(cap, name, "GIF pixel indices");
    if (!p) return error_code();
    if (o->n) memcpy(p, o->pix, o->n);
    free(o->pix);
    o->pix = p;
    o->cap = cap;
    return 0;
}

/* Decodes d[0..dn) with minimum code size mcs until o->want indices, the
 * end-of-information code or the end of the data, whichever comes first. */
static int lzw_decode(struct gif *g, const uint8_t *d, size_t dn, int mcs, struct lzw_out *o)
{
    /* 24 KB of tables on the stack: code -> (prefix code, last byte, first
     * byte, string length) */
    uint16_t pre[LZW_MAX], length[LZW_MAX];
    uint8_t suffix[LZW_MAX], first[LZW_MAX];
    unsigned clear = 1u << mcs, eoi = clear + 1, next = clear + 2, width = mcs + 1;
    int prev = -1, rc = 0;
    for (unsigned i = 0; i < clear; i++)
        pre[i] = 0, length[i] = 1, suffix[i] = first[i] = (uint8_t)i;
    uint32_t acc = 0;
    unsigned nbits = 0;
    size_t bp = 0;
    while (o->n < o->want) {
        while (nbits < width && bp < dn)
            acc |= (uint32_t)d[bp++] << nbits, nbits += 8;
        if (nbits < width) break; /* the data ends */
        unsigned code = acc & ((1u << width) - 1);
        acc >>= width, nbits -= width;
        if (code == clear) {
            next = clear + 2, width = mcs + 1, prev = -1;
            continue;
        }
        if (code == eoi) break;
        if (prev < 0) {
            if (code >= clear) {
                rc = error_set(ERR_INPUT, g->name,
                               "corrupt GIF: LZW code %u at pixel %zu where a literal (below "
                               "%u) must come",
                               code, o->n, clear);
                break;
            }
        } else {
            uint8_t k;
            if (code < next)
                k = first[code];
            else if (code == next) /* the string being defined: prev + its first */
                k = first[prev];
            else {
                rc = error_set(ERR_INPUT, g->name,
                               "corrupt GIF: LZW code %u at pixel %zu is not defined (the next "
                               "free code is %u)",
                               code, o->n, next);
                break;
            }
            if (next < LZW_MAX) {
                pre[next] = (uint16_t)prev, suffix[next] = k, first[next] = first[prev];
                length[next] = (uint16_t)(length[prev] + 1);
                next++;
                if (next == 1u << width && width < 12) width++;
            }
        }
        /* the string of code, written back to front, cut at o->want */
        size_t len = length[code], room = o->want - o->n, keep = len < room ? len : room;
        if ((rc = out_reserve(o, o->n + keep, g->name)) < 0) break;
        unsigned c = code;
        for (size_t i = len; i-- > 0;) {
            if (i < keep) o->pix[o->n + i] = suffix[c];
            c = pre[c];
        }
        o->n += keep;
        prev = (int)code;
    }
    return rc;
}

/* The row of the r-th decoded row of an interlaced image of h rows: pass 1
 * every 8th from 0, pass 2 every 8th from 4, pass 3 every 4th from 2, pass 4
 * every 2nd from 1 (appendix E). */
static size_t interlaced_row(size_t r, size_t h)
{
    size_t n1 = (h + 7) / 8, n2 = (h + 3) / 8, n3 = (h + 1) / 4;
    if (r < n1) return 8 * r;
    r -= n1;
    if (r < n2) return 4 + 8 * r;
    r -= n2;
    if (r < n3) return 2 + 4 * r;
    return 1 + 2 * (r - n3);
}

/* ---- the file ------------------------------------------------------------- */

struct frame {
    unsigned x0, y0, w, h;
    int interlace, mcs, transp;
    const uint8_t *pal; /* 3 bytes per entry, or NULL */
    unsigned npal;
};

/* Pillow's _is_palette_needed: a palette whose every entry i is (i, i, i)
 * is no palette, and the image is gray ("L"). */
static int gray_ramp(const uint8_t *pal, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (pal[3 * i] != i || pal[3 * i + 1] != i || pal[3 * i + 2] != i) return 0;
    return 1;
}

static struct image *composite(struct gif *g, const struct frame *f, const uint8_t *idx,
                               unsigned cw, unsigned ch)
{
    int gray = !f->pal || gray_ramp(f->pal, f->npal), alpha = f->transp >= 0;
    int c = (gray ? 1 : 3) + alpha;
    /* Pillow's core palette starts as the gray ramp and the file's entries
     * overwrite the first npal (only the fill index can point past them) */
    float pal[256][3];
    for (unsigned i = 0; i < 256; i++) {
        for (int k = 0; k < 3; k++)
            pal[i][k] = (float)i / 255.0f;
        if (f->pal && i < f->npal)
            for (int k = 0; k < 3; k++)
                pal[i][k] = (float)f->pal[3 * i + k] / 255.0f;
    }
    struct image *im = image_new(c, (int)ch, (int)cw);
    if (!im) return NULL;
    size_t plane = (size_t)cw * ch;
    int colors = c - alpha;
    /* the screen: the transparent index where there is one, else index 0 */
    unsigned fill = alpha ? (unsigned)f->transp : 0;
    for (int k = 0; k < colors; k++)
        for (size_t i = 0; i < plane; i++)
            im->data[k * plane + i] = pal[fill][k];
    /* alpha stays 0 (calloc) outside the frame: the fill is transparent */
    for (size_t r = 0; r < f->h; r++) {
        size_t y = f->y0 + (f->interlace ? interlaced_row(r, f->h) : r);
        const uint8_t *src = idx + r * f->w;
        for (size_t x = 0; x < f->w; x++) {
            unsigned v = src[x];
            if (f->pal && v >= f->npal) {
                error_set(ERR_INPUT, g->name,
                          "corrupt GIF: pixel (%zu, %zu) has index %u, the palette has %u "
                          "colours",
                          f->x0 + x, y, v, f->npal);
                image_free(im);
                return NULL;
            }
            size_t at = y * cw + f->x0 + x;
            for (int k = 0; k < colors; k++)
                im->data[k * plane + at] = pal[v][k];
            if (alpha) im->data[colors * plane + at] = (int)v == f->transp ? 0.0f : 1.0f;
        }
    }
    return im;
}

/* Walks the blocks up to the first image descriptor: graphic control
 * extensions set the transparent index (the last one with the flag wins, as
 * in Pillow), other extensions are skipped. */
static int find_frame(struct gif *g, struct frame *f, const uint8_t *gpal, unsigned ngpal)
{
    f->transp = -1;
    for (;;) {
        if (g->pos >= g->len) return truncated(g, "before its first image");
        size_t at = g->pos;
        unsigned t = g->b[g->pos++];
        if (t == 0x3B) return error_set(ERR_INPUT, g->name, "corrupt GIF: it has no image");
        if (t == 0x21) {
            if (g->pos >= g->len) return truncated(g, "in an extension");
            unsigned label = g->b[g->pos++];
            if (label == 0xF9) { /* graphic control: size 4, flags, delay, index */
                if (g->pos >= g->len) return truncated(g, "in a graphic control extension");
                const uint8_t *e = g->b + g->pos;
                if (e[0] != 4)
                    return error_set(ERR_INPUT, g->name,
                                     "corrupt GIF: a graphic control extension of %u bytes "
                                     "(must be 4)",
                                     e[0]);
                if (g->len - g->pos < 5) return truncated(g, "in a graphic control extension");
                if (e[1] & 1) f->transp = e[4];
            }
            if (sub_blocks(g, NULL, NULL, "in an extension") < 0) return error_code();
            continue;
        }
        if (t != 0x2C)
            return error_set(ERR_INPUT, g->name,
                             "corrupt GIF: block type 0x%02X at byte %zu is not an image, an "
                             "extension or the trailer",
                             t, at);
        if (g->len - g->pos < 9) return truncated(g, "in the first image's descriptor");
        const uint8_t *d = g->b + g->pos;
        f->x0 = le16(d), f->y0 = le16(d + 2), f->w = le16(d + 4), f->h = le16(d + 6);
        unsigned flags = d[8];
        g->pos += 9;
        f->interlace = (flags & 0x40) != 0;
        f->pal = gpal, f->npal = ngpal;
        if (flags & 0x80) { /* a local palette replaces the global one */
            unsigned n = 2u << (flags & 7);
            if (g->len - g->pos < 3 * (size_t)n) return truncated(g, "in the local palette");
            f->pal = g->b + g->pos, f->npal = n;
            g->pos += 3 * (size_t)n;
        }
        if (g->pos >= g->len) return truncated(g, "before the first image's data");
        f->mcs = g->b[g->pos++];
        if (f->mcs < 1 || f->mcs > 8)
            return error_set(ERR_INPUT, g->name,
                             "corrupt GIF: LZW minimum code size %d (must be 1-8)", f->mcs);
        if (!f->w || !f->h)
            return error_set(ERR_INPUT, g->name, "corrupt GIF: the first image is %ux%u pixels",
                             f->w, f->h);
        return 0;
    }
}

struct image *image_decode_gif(const void *buf, size_t len, const char *name)
{
    struct gif g = {buf, len, 0, name};
    struct frame f;
    struct lzw_out o = {0};
    uint8_t *data = NULL;
    struct image *im = NULL;
    const uint8_t *b = buf, *gpal = NULL;
    unsigned ngpal = 0;
    if (len < 13) {
        truncated(&g, "in its 13-byte header");
        goto done;
    }
    if (memcmp(b, "GIF87a", 6) && memcmp(b, "GIF89a", 6)) {
        error_set(ERR_INPUT, name, "not a GIF image (no GIF87a/GIF89a signature)");
        goto done;
    }
    unsigned sw = le16(b + 6), sh = le16(b + 8), flags = b[10];
    g.pos = 13;
    if (flags & 0x80) {
        ngpal = 2u << (flags & 7);
        if (len - g.pos < 3 * (size_t)ngpal) {
            truncated(&g, "in the global palette");
            goto done;
        }
        gpal = b + g.pos;
        g.pos += 3 * (size_t)ngpal;
    }
    if (find_frame(&g, &f, gpal, ngpal) < 0) goto done;
    /* Pillow grows the screen to hold a frame that sticks out of it */
    unsigned cw = sw > f.x0 + f.w ? sw : f.x0 + f.w, ch = sh > f.y0 + f.h ? sh : f.y0 + f.h;
    if (image_check_pixels(cw, ch, name) < 0) goto done;
    /* the frame's data sub-blocks: measured, then gathered in one piece */
    size_t start = g.pos, dn;
    if (sub_blocks(&g, NULL, &dn, "in the first image's data") < 0) goto done;
    if (!(data = big_alloc(dn ? dn : 1, name, "GIF image data"))) goto done;
    g.pos = start;
    sub_blocks(&g, data, &dn, "in the first image's data");
    o.want = (size_t)f.w * f.h;
    if (lzw_decode(&g, data, dn, f.mcs, &o) < 0) goto done;
    if (o.n < o.want) {
        error_set(
            ERR_INPUT, name,
            "corrupt GIF: the first image's data ends after %zu of its %ux%u = %zu pixels", o.n,
            f.w, f.h, o.want);
        goto done;
    }
    im = composite(&g, &f, o.pix, cw, ch);
done:
    if (!im) error_set_path_if_missing(name);
    free(data);
    free(o.pix);
    return im;
}
