/* bmp.c - Windows/OS2 bitmap decoding to float CHW, written here (no library):
 * the file and DIB headers (core, info, V2-V5, OS/2 2.x), palettes, RLE4/RLE8,
 * bit fields. Every header field is checked and every offset bounded by the
 * file's length before use; the pixel count is checked before allocation.
 * Pillow's BmpImagePlugin is the behaviour matched (channels, bit scaling).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"
#include "util.h"

#define FILE_HDR 14 /* BITMAPFILEHEADER */

enum {
    BI_RGB = 0,
    BI_RLE8 = 1,
    BI_RLE4 = 2,
    BI_BITFIELDS = 3,
    BI_JPEG = 4,
    BI_PNG = 5,
    BI_ALPHABITFIELDS = 6
};

struct bmp {
    const uint8_t *b;
    size_t len;
    const char *name;
    uint32_t off;   /* bfOffBits: where the pixel data starts */
    uint32_t hsize; /* DIB header size */
    int64_t w, h;   /* h > 0; topdown says the sign it had */
    int topdown;
    int bits, comp;
    uint32_t mask[4]; /* R, G, B, A bit fields (16/24/32 bits) */
    int shift[4], nbit[4];
    uint32_t colors;   /* palette entries (bits <= 8) */
    float pal[256][3]; /* palette as floats, RGB */
    int gray;          /* the palette is Pillow's gray ramp: one channel */
};

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int corrupt(struct bmp *m, const char *what)
{
    return error_set(ERR_INPUT, m->name, "corrupt BMP: %s", what);
}

/* ---- header ------------------------------------------------------------- */

/* A bit field: contiguous ones within the pixel's bits (or 0 = absent). */
static int mask_setup(struct bmp *m, int k, const char *which)
{
    uint32_t v = m->mask[k];
    m->shift[k] = 0, m->nbit[k] = 0;
    if (!v) return 0;
    if (m->bits < 32 && v >> m->bits)
        return error_set(ERR_INPUT, m->name,
                         "corrupt BMP: %s mask 0x%X has bits past the %d-bit pixel", which,
                         (unsigned)v, m->bits);
    while (!(v & 1))
        v >>= 1, m->shift[k]++;
    while (v & 1)
        v >>= 1, m->nbit[k]++;
    if (v)
        return error_set(ERR_INPUT, m->name, "corrupt BMP: %s mask 0x%X is not contiguous",
                         which, (unsigned)m->mask[k]);
    return 0;
}

static int masks_setup(struct bmp *m)
{
    static const char *names[4] = {"red", "green", "blue", "alpha"};
    if (m->bits == 32 && !m->mask[0] && !m->mask[1] && !m->mask[2] && !m->mask[3]) {
        /* Pillow reads all-zero 32-bit fields as BGRA */
        m->mask[0] = 0xFF0000, m->mask[1] = 0xFF00, m->mask[2] = 0xFF, m->mask[3] = 0xFF000000u;
    }
    if (!m->mask[0] && !m->mask[1] && !m->mask[2])
        return corrupt(m, "the colour masks are all 0");
    for (int k = 0; k < 4; k++)
        if (mask_setup(m, k, names[k]) < 0) return error_code();
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            if (m->mask[a] & m->mask[b])
                return error_set(
                    ERR_INPUT, m->name, "corrupt BMP: the %s and %s masks overlap (0x%X, 0x%X)",
                    names[a], names[b], (unsigned)m->mask[a], (unsigned)m->mask[b]);
    return 0;
}

/* The palette after the header; Pillow's gray test: the first `colors`
 * entries are (i, i, i), or black and white for two colours. */
static int palette_read(struct bmp *m, size_t at, int entry)
{
    size_t need = (size_t)m->colors * entry;
    if (at > m->len || m->len - at < need)
        return error_set(ERR_INPUT, m->name,
                         "truncated BMP: the %u-colour palette at byte %zu needs %zu bytes, "
                         "the file has %zu",
                         (unsigned)m->colors, at, need, m->len);
    m->gray = 1;
    for (uint32_t i = 0; i < m->colors; i++) {
        const uint8_t *e = m->b + at + (size_t)i * entry; /* B, G, R(, reserved) */
        uint32_t want = m->colors == 2 ? (i ? 255 : 0) : i;
        if (e[0] != want || e[1] != want || e[2] != want) m->gray = 0;
        m->pal[i][0] = e[2] / 255.0f, m->pal[i][1] = e[1] / 255.0f,
        m->pal[i][2] = e[0] / 255.0f;
    }
    return 0;
}

static int header_read(struct bmp *m)
{
    const uint8_t *b = m->b;
    if (m->len < FILE_HDR + 4)
        return error_set(ERR_INPUT, m->name,
                         "truncated BMP: %zu bytes, the headers need at least 18", m->len);
    if (b[0] != 'B' || b[1] != 'M') return corrupt(m, "the file does not start with \"BM\"");
    m->off = le32(b + 10);
    m->hsize = le32(b + 14);
    uint32_t hs = m->hsize;
    if (hs != 12 && hs != 40 && hs != 52 && hs != 56 && hs != 64 && hs != 108 && hs != 124)
        return error_set(ERR_INPUT, m->name,
                         "unsupported BMP header size %u (known: 12, 40, 52, 56, 64, 108, 124)",
                         (unsigned)hs);
    if (m->len - FILE_HDR < hs)
        return error_set(ERR_INPUT, m->name,
                         "truncated BMP: the %u-byte DIB header ends past the file's %zu bytes",
                         (unsigned)hs, m->len);
    const uint8_t *d = b + FILE_HDR;
    uint32_t planes, clrused = 0;
    if (hs == 12) { /* BITMAPCOREHEADER: unsigned 16-bit sides, always bottom-up */
        m->w = le16(d + 4), m->h = le16(d + 6);
        planes = le16(d + 8), m->bits = (int)le16(d + 10), m->comp = BI_RGB;
    } else {
        m->w = (int32_t)le32(d + 4), m->h = (int32_t)le32(d + 8);
        planes = le16(d + 12), m->bits = (int)le16(d + 14), m->comp = (int)le32(d + 16);
        clrused = le32(d + 32);
    }
    if (m->w <= 0)
        return error_set(ERR_INPUT, m->name, "corrupt BMP: width %lld is not positive",
                         (long long)m->w);
    if (m->h == 0) return corrupt(m, "height is 0");
    if (m->h < 0) m->topdown = 1, m->h = -m->h;
    if (m->h > INT32_MAX) return corrupt(m, "height -2147483648 is out of range");
    if (planes != 1)
        return error_set(ERR_INPUT, m->name, "corrupt BMP: %u colour planes (must be 1)",
                         (unsigned)planes);
    int bits = m->bits;
    if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32)
        return error_set(ERR_INPUT, m->name,
                         "unsupported BMP bit depth %d (known: 1, 4, 8, 16, 24, 32)", bits);
    /* The OS/2 2.x header shares 0-2 with Windows; its 3 and 4 are Huffman
     * 1D and RLE24, which nothing writes any more. */
    if (hs == 64 && m->comp >= 3)
        return error_set(ERR_INPUT, m->name,
                         "unsupported BMP: OS/2 compression %d (Huffman 1D or RLE24)", m->comp);
    switch (m->comp) {
    case BI_RGB: break;
    case BI_RLE8:
        if (bits != 8)
            return error_set(ERR_INPUT, m->name, "corrupt BMP: RLE8 with %d bits per pixel",
                             bits);
        break;
    case BI_RLE4:
        if (bits != 4)
            return error_set(ERR_INPUT, m->name, "corrupt BMP: RLE4 with %d bits per pixel",
                             bits);
        break;
    case BI_BITFIELDS:
    case BI_ALPHABITFIELDS:
        if (bits < 16)
            return error_set(ERR_INPUT, m->name,
                             "corrupt BMP: bit-field compression with %d bits per pixel", bits);
        break;
    case BI_JPEG:
    case BI_PNG:
        return error_set(ERR_INPUT, m->name,
                         "unsupported BMP: the pixels are an embedded %s (compression %d)",
                         m->comp == BI_JPEG ? "JPEG" : "PNG", m->comp);
    default: return error_set(ERR_INPUT, m->name, "unsupported BMP compression %d", m->comp);
    }
    if (image_check_pixels((uint64_t)m->w, (uint64_t)m->h, m->name) < 0) return error_code();

    size_t end = FILE_HDR + (size_t)hs; /* where the header and what follows it end */
    if (bits >= 16) {
        memset(m->mask, 0, sizeof m->mask);
        if (m->comp == BI_BITFIELDS || m->comp == BI_ALPHABITFIELDS) {
            int nmask = m->comp == BI_ALPHABITFIELDS ? 4 : 3;
            const uint8_t *mp;
            if (hs >= 52) { /* V2+: the masks are header fields; V3+ has alpha */
                mp = d + 40;
                if (hs >= 56) nmask = 4;
            } else { /* after a 40-byte header, 3 (or 4) masks follow it */
                if (m->len - end < (size_t)nmask * 4)
                    return error_set(ERR_INPUT, m->name,
                                     "truncated BMP: the file ends in the bit-field masks");
                mp = b + end;
                end += (size_t)nmask * 4;
            }
            for (int k = 0; k < nmask; k++)
                m->mask[k] = le32(mp + 4 * k);
            /* Pillow's rule: alpha only for 32-bit pixels */
            if (bits != 32) m->mask[3] = 0;
        } else if (bits == 16) { /* BI_RGB: 5-5-5 */
            m->mask[0] = 0x7C00, m->mask[1] = 0x3E0, m->mask[2] = 0x1F;
        } else { /* BI_RGB 24/32: B, G, R bytes; a 32-bit pixel's fourth byte is unused */
            m->mask[0] = 0xFF0000, m->mask[1] = 0xFF00, m->mask[2] = 0xFF;
        }
        if (masks_setup(m) < 0) return error_code();
    } else {
        m->colors = clrused ? clrused : 1u << bits;
        if (m->colors > 256)
            return error_set(ERR_INPUT, m->name,
                             "corrupt BMP: a palette of %u colours (at most 256)",
                             (unsigned)m->colors);
        int entry = hs == 12 ? 3 : 4;
        if (palette_read(m, end, entry) < 0) return error_code();
        size_t pal_end = end + (size_t)m->colors * entry;
        /* Pillow's allowance: an offset just past the header that forgot the
         * palette means the pixels follow the palette */
        if (m->off == end) m->off = (uint32_t)pal_end;
        end = pal_end;
    }
    if (m->off < end)
        return error_set(ERR_INPUT, m->name,
                         "corrupt BMP: pixel data offset %u is inside the headers%s (they end "
                         "at %zu)",
                         (unsigned)m->off, m->bits <= 8 ? " and palette" : "", end);
    if (m->off > m->len)
        return error_set(ERR_INPUT, m->name,
                         "truncated BMP: the pixel data starts at byte %u, past the file's %zu",
                         (unsigned)m->off, m->len);
    return 0;
}

/* ---- pixels ------------------------------------------------------------- */

/* Palette index v at (x, file row fy) into the image, or an error. */
static int put_index(struct bmp *m, struct image *im, int64_t x, int64_t fy, unsigned v)
{
    int64_t y = m->topdown ? fy : m->h - 1 - fy;
    if (v >= m->colors)
        return error_set(
            ERR_INPUT, m->name,
            "corrupt BMP: pixel (%lld, %lld) has palette index %u, the palette has "
            "%u colours",
            (long long)x, (long long)y, v, (unsigned)m->colors);
    size_t plane = (size_t)m->w * m->h, at = (size_t)y * m->w + x;
    if (m->gray)
        im->data[at] = m->pal[v][0];
    else
        for (int k = 0; k < 3; k++)
            im->data[k * plane + at] = m->pal[v][k];
    return 0;
}

/* A bit-field component scaled to 8 bits as Pillow's unpackers do:
 * v * 255 / max, truncated. */
static float component(const struct bmp *m, uint32_t px, int k)
{
    if (!m->nbit[k]) return 0.0f;
    uint64_t max = (1ull << m->nbit[k]) - 1, v = (px & m->mask[k]) >> m->shift[k];
    return (float)(unsigned)(v * 255 / max) / 255.0f;
}

static int decode_raw(struct bmp *m, struct image *im)
{
    size_t w = (size_t)m->w, plane = w * (size_t)m->h;
    int bpp = m->bits;
    /* stride and extents were checked against the file by the caller */
    size_t stride = ((w * bpp + 31) / 32) * 4;
    for (int64_t fy = 0; fy < m->h; fy++) {
        const uint8_t *row = m->b + m->off + (size_t)fy * stride;
        size_t y = (size_t)(m->topdown ? fy : m->h - 1 - fy);
        for (size_t x = 0; x < w; x++) {
            if (bpp <= 8) {
                unsigned v;
                if (bpp == 8)
                    v = row[x];
                else if (bpp == 4)
                    v = x & 1 ? row[x / 2] & 15 : row[x / 2] >> 4;
                else
                    v = row[x / 8] >> (7 - x % 8) & 1;
                if (put_index(m, im, (int64_t)x, fy, v) < 0) return error_code();
                continue;
            }
            const uint8_t *p = row + x * (bpp / 8);
            uint32_t px = bpp == 16 ? le16(p)
                          : bpp == 24
                              ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
                              : le32(p);
            float *dst = im->data + y * w + x;
            for (int k = 0; k < im->c; k++)
                dst[k * plane] = component(m, px, k);
        }
    }
    return 0;
}

/* RLE8/RLE4 (the BMP spec's "Bitmap Compression"): pairs (count, value) are
 * runs; (0, 0) ends a line, (0, 1) the bitmap, (0, 2, dx, dy) moves right and
 * up (down the file's rows), (0, n >= 3) starts n literal indices padded to
 * a 16-bit boundary. (x, fy) is the position in file row order; pixels never
 * written keep palette entry 0 (what the caller filled in). As Pillow, a run
 * longer than the rest of its row is cut at the row's end, and decoding stops
 * once the last row is full. */
static int decode_rle(struct bmp *m, struct image *im)
{
    const uint8_t *p = m->b + m->off, *end = m->b + m->len;
    int rle4 = m->comp == BI_RLE4;
    const char *kind = rle4 ? "RLE4" : "RLE8";
    int64_t x = 0, fy = 0, w = m->w, h = m->h;
    for (;;) {
        if (fy >= h || (fy == h - 1 && x >= w)) return 0; /* every row written */
        if (end - p < 2)
            return error_set(ERR_INPUT, m->name,
                             "truncated BMP: the %s data ends at row %lld of %lld without an "
                             "end-of-bitmap code",
                             kind, (long long)fy, (long long)h);
        unsigned n = p[0], v = p[1];
        p += 2;
        if (n) { /* a run of n pixels of v (RLE4: alternating nibbles) */
            int64_t k = n;
            if (k > w - x) k = w - x > 0 ? w - x : 0;
            for (int64_t i = 0; i < k; i++) {
                unsigned idx = rle4 ? (i & 1 ? v & 15 : v >> 4) : v;
                if (put_index(m, im, x + i, fy, idx) < 0) return error_code();
            }
            x += k;
            continue;
        }
        if (v == 0) { /* end of line */
            x = 0, fy++;
        } else if (v == 1) { /* end of bitmap: the rest stays entry 0 */
            return 0;
        } else if (v == 2) { /* delta */
            if (end - p < 2)
                return error_set(ERR_INPUT, m->name,
                                 "truncated BMP: the file ends in an %s delta", kind);
            int64_t dx = p[0], dy = p[1];
            p += 2;
            if (x + dx > w || fy + dy >= h)
                return error_set(ERR_INPUT, m->name,
                                 "corrupt BMP: %s delta (%lld, %lld) at (%lld, row %lld) moves "
                                 "past the %lldx%lld image",
                                 kind, (long long)dx, (long long)dy, (long long)x,
                                 (long long)fy, (long long)w, (long long)h);
            x += dx, fy += dy;
        } else { /* absolute: v literal indices */
            size_t bytes = rle4 ? (v + 1) / 2 : v;
            size_t padded = bytes + (bytes & 1);
            if (x + (int64_t)v > w)
                return error_set(
                    ERR_INPUT, m->name,
                    "corrupt BMP: an %s literal run of %u pixels at x = %lld passes "
                    "the end of the %lld-pixel row",
                    kind, v, (long long)x, (long long)w);
            if ((size_t)(end - p) < bytes)
                return error_set(ERR_INPUT, m->name,
                                 "truncated BMP: the file ends in an %s literal run", kind);
            for (unsigned i = 0; i < v; i++) {
                unsigned idx = rle4 ? (i & 1 ? p[i / 2] & 15 : p[i / 2] >> 4) : p[i];
                if (put_index(m, im, x + i, fy, idx) < 0) return error_code();
            }
            x += v;
            /* the pad byte may be missing at the very end of the file */
            p += (size_t)(end - p) < padded ? bytes : padded;
        }
    }
}

struct image *image_decode_bmp(const void *buf, size_t len, const char *name)
{
    struct bmp *m = xcalloc(1, sizeof *m);
    struct image *im = NULL;
    m->b = buf, m->len = len, m->name = name;
    if (header_read(m) < 0) goto fail;
    int c = m->bits <= 8 ? (m->gray ? 1 : 3) : (m->nbit[3] ? 4 : 3);
    if (m->comp != BI_RLE8 && m->comp != BI_RLE4) {
        /* (h - 1) full rows and the last without its padding, which some
         * writers leave off: all in the file before anything is allocated */
        uint64_t bits = (uint64_t)m->w * (uint64_t)m->bits; /* < 2^37 */
        uint64_t stride = (bits + 31) / 32 * 4, last = (bits + 7) / 8, need;
        if ((uint64_t)(m->h - 1) > UINT64_MAX / stride ||
            (need = (uint64_t)(m->h - 1) * stride) > UINT64_MAX - last) {
            corrupt(m, "image too large");
            goto fail;
        }
        need += last;
        if (need > len - m->off) {
            error_set(ERR_INPUT, name,
                      "truncated BMP: %lldx%lld at %d bits needs %llu bytes of pixels from "
                      "byte %u, the file has %zu",
                      (long long)m->w, (long long)m->h, m->bits, (unsigned long long)need,
                      (unsigned)m->off, len - m->off);
            goto fail;
        }
    }
    if (!(im = image_new(c, (int)m->h, (int)m->w))) goto fail;
    if (m->comp == BI_RLE8 || m->comp == BI_RLE4) {
        size_t plane = (size_t)m->w * m->h;
        for (int k = 0; k < c; k++) /* unwritten pixels: palette entry 0 */
            for (size_t i = 0; i < plane; i++)
                im->data[k * plane + i] = m->pal[0][k];
        if (decode_rle(m, im) < 0) goto fail;
    } else if (decode_raw(m, im) < 0) {
        goto fail;
    }
    free(m);
    return im;
fail:
    error_set_path_if_missing(name);
    image_free(im);
    free(m);
    return NULL;
}
