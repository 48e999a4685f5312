/* inflate.c - DEFLATE decoding (RFC 1951) with the optional zlib wrapper
 * (RFC 1950) behind zlib's inflate interface (web/compat/zlib.h), for the
 * browser build: .keras archives and compressed HDF5 chunks. Written for
 * interp from the RFCs. Huffman codes decode through one table indexed by
 * the next max-length bits; a whole stream is decoded in one call (the
 * callers hand over all of it), back-references read the output itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zlib.h"

struct inflate_state {
    int wrap;    /* 1: zlib header and adler-32 trailer */
    int started; /* inflate was called once already */
};

/* ---------------------------------------------------------------- bits */
struct bits {
    const uint8_t *in, *end;
    uint64_t buf;
    int cnt;     /* valid bits in buf */
    int overrun; /* bits were asked for past the end of the input */
    uint8_t *out0, *out, *oend;
};

/* At least n (<= 56) bits in the buffer; past the input end zeros come in
 * and overrun is set once they are consumed (see used()). */
static void need(struct bits *b, int n)
{
    while (b->cnt < n) {
        uint64_t v = 0;
        if (b->in < b->end)
            v = *b->in++;
        else
            b->overrun += 8; /* phantom zero byte */
        b->buf |= v << b->cnt;
        b->cnt += 8;
    }
}

static unsigned take(struct bits *b, int n)
{
    if (n == 0) return 0;
    need(b, n);
    unsigned v = (unsigned)(b->buf & ((1ull << n) - 1));
    b->buf >>= n;
    b->cnt -= n;
    return v;
}

/* 1 when more bits were consumed than the input holds. */
static int short_input(const struct bits *b)
{
    return b->overrun > b->cnt;
}

/* ---------------------------------------------------------------- codes */
enum { MAXBITS = 15, MAXLCODES = 288, MAXDCODES = 32 };

struct huff {
    int maxlen;
    uint16_t table[1 << MAXBITS]; /* symbol << 4 | length; length 0: no code */
};

/* Canonical codes from lengths[0..n): -1 for an over-subscribed set, -2 for
 * an incomplete one that is not a single code (both invalid in DEFLATE). */
static int huff_build(struct huff *h, const uint8_t *lengths, int n)
{
    int count[MAXBITS + 1] = {0}, next[MAXBITS + 1];
    for (int i = 0; i < n; i++)
        count[lengths[i]]++;
    count[0] = 0;
    int left = 1, used = 0;
    for (int l = 1; l <= MAXBITS; l++) {
        left <<= 1;
        left -= count[l];
        used += count[l];
        if (left < 0) return -1;
    }
    if (left > 0 && used > 1) return -2;
    h->maxlen = 1;
    for (int l = 1; l <= MAXBITS; l++)
        if (count[l]) h->maxlen = l;
    memset(h->table, 0, sizeof(uint16_t) << h->maxlen);
    int code = 0; /* RFC 1951 3.2.2: the first code of each length */
    for (int l = 1; l <= MAXBITS; l++) {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    for (int s = 0; s < n; s++) {
        int l = lengths[s];
        if (!l) continue;
        unsigned c = (unsigned)next[l]++, r = 0;
        for (int k = 0; k < l; k++) /* codes are sent most significant bit first */
            r |= ((c >> k) & 1u) << (l - 1 - k);
        for (unsigned i = r; i < (1u << h->maxlen); i += 1u << l)
            h->table[i] = (uint16_t)(s << 4 | l);
    }
    return 0;
}

/* The next symbol, or -1 for a bit pattern that is no code. */
static int decode(struct bits *b, const struct huff *h)
{
    need(b, h->maxlen);
    uint16_t e = h->table[b->buf & ((1u << h->maxlen) - 1)];
    int l = e & 15;
    if (!l) return -1;
    b->buf >>= l;
    b->cnt -= l;
    return e >> 4;
}

static const uint16_t len_base[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                      15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                      67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

enum { R_END = 0, R_FULL = 1, R_SHORT = 2, R_BAD = 3 };

/* Symbols of one Huffman block to the output. */
static int codes(struct bits *b, const struct huff *lc, const struct huff *dc, const char **msg)
{
    for (;;) {
        int s = decode(b, lc);
        if (short_input(b)) return R_SHORT;
        if (s < 0) return *msg = "invalid literal/length code", R_BAD;
        if (s < 256) {
            if (b->out == b->oend) return R_FULL;
            *b->out++ = (uint8_t)s;
            continue;
        }
        if (s == 256) return R_END;
        s -= 257;
        if (s >= 29) return *msg = "invalid literal/length code", R_BAD;
        unsigned len = len_base[s] + take(b, len_extra[s]);
        int d = decode(b, dc);
        if (short_input(b)) return R_SHORT;
        if (d < 0 || d >= 30) return *msg = "invalid distance code", R_BAD;
        unsigned dist = dist_base[d] + take(b, dist_extra[d]);
        if (short_input(b)) return R_SHORT;
        if (dist > (size_t)(b->out - b->out0))
            return *msg = "invalid distance too far back", R_BAD;
        const uint8_t *from = b->out - dist;
        while (len--) { /* byte by byte: an overlapping copy repeats the pattern */
            if (b->out == b->oend) return R_FULL;
            *b->out++ = *from++;
        }
    }
}

static struct huff fixed_lit, fixed_dist;
static int fixed_ready;

static void fixed_build(void)
{
    uint8_t l[MAXLCODES];
    int i = 0;
    for (; i < 144; i++)
        l[i] = 8;
    for (; i < 256; i++)
        l[i] = 9;
    for (; i < 280; i++)
        l[i] = 7;
    for (; i < MAXLCODES; i++)
        l[i] = 8;
    huff_build(&fixed_lit, l, MAXLCODES);
    for (i = 0; i < 32; i++) /* 30 and 31 complete the code; decoding them is an error */
        l[i] = 5;
    huff_build(&fixed_dist, l, 32);
    fixed_ready = 1;
}

/* A dynamic block's code description (RFC 1951 3.2.7), then its symbols. */
static int dynamic(struct bits *b, struct huff *lc, struct huff *dc, const char **msg)
{
    static const uint8_t order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                      11, 4,  12, 3, 13, 2, 14, 1, 15};
    uint8_t lengths[MAXLCODES + MAXDCODES];
    int nlen = (int)take(b, 5) + 257, ndist = (int)take(b, 5) + 1, ncode = (int)take(b, 4) + 4;
    if (short_input(b)) return R_SHORT;
    if (nlen > 286 || ndist > 30) return *msg = "too many length or distance symbols", R_BAD;
    memset(lengths, 0, 19);
    for (int i = 0; i < ncode; i++)
        lengths[order[i]] = (uint8_t)take(b, 3);
    if (short_input(b)) return R_SHORT;
    if (huff_build(lc, lengths, 19)) return *msg = "invalid code lengths set", R_BAD;
    for (int i = 0; i < nlen + ndist;) {
        int s = decode(b, lc);
        if (short_input(b)) return R_SHORT;
        if (s < 0) return *msg = "invalid code lengths set", R_BAD;
        if (s < 16) {
            lengths[i++] = (uint8_t)s;
            continue;
        }
        int rep, val = 0;
        if (s == 16) {
            if (i == 0) return *msg = "invalid bit length repeat", R_BAD;
            val = lengths[i - 1];
            rep = 3 + (int)take(b, 2);
        } else if (s == 17)
            rep = 3 + (int)take(b, 3);
        else
            rep = 11 + (int)take(b, 7);
        if (short_input(b)) return R_SHORT;
        if (i + rep > nlen + ndist) return *msg = "invalid bit length repeat", R_BAD;
        while (rep--)
            lengths[i++] = (uint8_t)val;
    }
    if (!lengths[256]) return *msg = "invalid code -- missing end-of-block", R_BAD;
    if (huff_build(lc, lengths, nlen)) return *msg = "invalid literal/lengths set", R_BAD;
    if (huff_build(dc, lengths + nlen, ndist)) return *msg = "invalid distances set", R_BAD;
    return codes(b, lc, dc, msg);
}

/* Blocks until the last one: R_END, R_FULL, R_SHORT or R_BAD. */
static int blocks(struct bits *b, const char **msg)
{
    struct huff *lc = malloc(sizeof *lc), *dc = malloc(sizeof *dc);
    int r = R_BAD, last;
    if (!lc || !dc) {
        *msg = "out of memory";
        goto done;
    }
    if (!fixed_ready) fixed_build();
    do {
        last = (int)take(b, 1);
        int type = (int)take(b, 2);
        if (short_input(b)) {
            r = R_SHORT;
            break;
        }
        if (type == 0) { /* stored: byte-aligned LEN, NLEN, then the bytes */
            b->buf >>= b->cnt & 7;
            b->cnt &= ~7;
            unsigned len = take(b, 16), nlen = take(b, 16);
            if (short_input(b)) {
                r = R_SHORT;
                break;
            }
            if (len != (~nlen & 0xffff)) {
                *msg = "invalid stored block lengths";
                r = R_BAD;
                break;
            }
            while (len && b->cnt) { /* whole bytes still in the bit buffer */
                if (b->out == b->oend) return free(lc), free(dc), R_FULL;
                *b->out++ = (uint8_t)take(b, 8);
                len--;
                if (short_input(b)) return free(lc), free(dc), R_SHORT;
            }
            size_t have = (size_t)(b->end - b->in), room = (size_t)(b->oend - b->out);
            size_t n = len < have ? len : have;
            if (n > room) n = room;
            memcpy(b->out, b->in, n);
            b->out += n, b->in += n;
            if (n < len) {
                r = n == room ? R_FULL : R_SHORT;
                break;
            }
            r = R_END;
        } else if (type == 1) {
            r = codes(b, &fixed_lit, &fixed_dist, msg);
        } else if (type == 2) {
            r = dynamic(b, lc, dc, msg);
        } else {
            *msg = "invalid block type";
            r = R_BAD;
        }
    } while (r == R_END && !last);
done:
    free(lc);
    free(dc);
    return r;
}

static uint32_t adler32(const uint8_t *p, size_t n)
{
    uint32_t a = 1, s = 0;
    while (n) {
        size_t k = n < 5552 ? n : 5552; /* no overflow before the modulo */
        n -= k;
        while (k--) {
            a += *p++;
            s += a;
        }
        a %= 65521;
        s %= 65521;
    }
    return s << 16 | a;
}

/* ---------------------------------------------------------------- interface */
int inflateInit2(z_streamp strm, int windowBits)
{
    if (!strm) return Z_STREAM_ERROR;
    int wrap = windowBits > 0;
    int wb = windowBits < 0 ? -windowBits : windowBits;
    if (wb < 8 || wb > 15) return Z_STREAM_ERROR;
    struct inflate_state *st = calloc(1, sizeof *st);
    if (!st) return Z_MEM_ERROR;
    st->wrap = wrap;
    strm->state = st;
    strm->msg = NULL;
    strm->total_in = strm->total_out = 0;
    return Z_OK;
}

int inflateEnd(z_streamp strm)
{
    if (!strm || !strm->state) return Z_STREAM_ERROR;
    free(strm->state);
    strm->state = NULL;
    return Z_OK;
}

int inflate(z_streamp strm, int flush)
{
    (void)flush;
    if (!strm || !strm->state || (!strm->next_in && strm->avail_in)) return Z_STREAM_ERROR;
    struct inflate_state *st = strm->state;
    if (st->started) {
        strm->msg = "the browser build inflates a stream in one call";
        return Z_BUF_ERROR;
    }
    st->started = 1;
    struct bits b = {0};
    b.in = strm->next_in, b.end = b.in + strm->avail_in;
    b.out0 = b.out = strm->next_out, b.oend = b.out + strm->avail_out;
    const char *msg = NULL;
    int r;
    if (st->wrap) {
        unsigned cmf = take(&b, 8), flg = take(&b, 8);
        if (short_input(&b))
            r = R_SHORT;
        else if ((cmf & 15) != 8 || (cmf >> 4) > 7 || (cmf * 256 + flg) % 31)
            r = R_BAD, msg = "incorrect header check";
        else if (flg & 0x20)
            r = R_BAD, msg = "a preset dictionary is not supported";
        else
            r = blocks(&b, &msg);
        if (r == R_END) { /* the adler-32 of the output, big-endian, after the last block */
            b.buf >>= b.cnt & 7;
            b.cnt &= ~7;
            uint32_t want = take(&b, 8) << 24;
            want |= take(&b, 8) << 16;
            want |= take(&b, 8) << 8;
            want |= take(&b, 8);
            if (short_input(&b))
                r = R_SHORT;
            else if (want != adler32(b.out0, (size_t)(b.out - b.out0)))
                r = R_BAD, msg = "incorrect data check";
        }
    } else {
        r = blocks(&b, &msg);
    }
    /* whole bytes left in the bit buffer go back to the input */
    size_t back = b.cnt > b.overrun ? (size_t)((b.cnt - b.overrun) / 8) : 0;
    const uint8_t *in = b.in - back;
    if (in > b.end) in = b.end;
    if (r == R_SHORT) in = b.end;
    strm->total_in += (uLong)(in - strm->next_in);
    strm->avail_in -= (uInt)(in - strm->next_in);
    strm->next_in = in;
    strm->total_out += (uLong)(b.out - strm->next_out);
    strm->avail_out -= (uInt)(b.out - strm->next_out);
    strm->next_out = b.out;
    switch (r) {
    case R_END: return Z_STREAM_END;
    case R_FULL: return Z_OK;
    case R_SHORT: return Z_BUF_ERROR;
    default: strm->msg = msg ? msg : "invalid data"; return Z_DATA_ERROR;
    }
}

uLong crc32_z(uLong crc, const Bytef *buf, size_t len)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    uint32_t c = (uint32_t)crc ^ 0xffffffffu;
    while (len--)
        c = table[(c ^ *buf++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}
