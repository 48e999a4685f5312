/* conv_wino_kern.h - the vector half of conv_wino.c, included there once per
 * instruction set with these macros defined (a template, never compiled on
 * its own):
 *   WK(name)      the function's name for this set (name##_avx2, ...)
 *   WK_TARGET     its target attribute
 *   WK_VW         floats per vector (8, 16); WK_MB output channels per block
 *   wk_vec        the vector type; wk_load/wk_store (unaligned), wk_set1,
 *                 wk_add, wk_sub, wk_fma(a, b, c) = a * b + c, wk_max (NaN in
 *                 the first operand yields the second), wk_zero;
 *                 wk_loadn(p, n): the first n (1 .. WK_VW) floats at p, zeros after;
 *                 wk_storen(p, v, n): stores the first n lanes of v only;
 *                 wk_deint(a, b, e, o): the even and odd elements of a:b;
 *                 wk_inter(a, b, lo, hi): a0 b0 a1 b1 ... in lo:hi
 * The GEMM's register block is WK_MB channels x 16 tiles (16 / WK_VW vectors),
 * and with AVX-512 a second 16 tiles beside them (WK_WIDE).
 */

/* The band's padded input rows 2*ty0 .. 2*(ty0+R)+1 of every channel, each
 * split into even and odd padded columns: padded (row j, column s) is input
 * (2*ty0 + j - pt, s - pl), zero outside the image. The input's columns go
 * over in pairs from the first one that lands on an even padded column:
 * 2 * WK_VW of them at a time, split by wk_deint. */
WK_TARGET static void WK(wino_pad)(float *pad, const float *inp_b, const struct conv_src *cs,
                                   int b, const struct wino_geom *g, int ty0, int R)
{
    size_t rs = g->rs, rows = (size_t)(2 * R + 2);
    int lo = g->pl, x0 = lo & 1, k0 = (lo + x0) / 2;
    float row[CONV_SRC_MAX_W]; /* a computed input row (cs) */
    for (int c = 0; c < g->c; c++) {
        const float *src = cs ? row : inp_b + (size_t)c * g->h * g->w;
        for (size_t j = 0; j < rows; j++) {
            float *ev = pad + ((size_t)c * rows + j) * 2 * rs, *od = ev + rs;
            int y = 2 * ty0 + (int)j - g->pt;
            if (y < 0 || y >= g->h) {
                memset(ev, 0, sizeof(float) * 2 * rs);
                continue;
            }
            if (cs) cs->row(cs, b, c, y, row);
            const float *s = cs ? row : src + (size_t)y * g->w;
            for (int k = 0; k < k0; k++) /* the left padding */
                ev[k] = od[k] = 0.0f;
            if (x0) /* column 0 lands in the odd half, beside a zero */
                od[k0 - 1] = s[0];
            int x = x0, k = k0;
            for (; x + 2 * WK_VW <= g->w; x += 2 * WK_VW, k += WK_VW) {
                wk_vec e, o;
                wk_deint(wk_load(s + x), wk_load(s + x + WK_VW), e, o);
                wk_store(ev + k, e);
                wk_store(od + k, o);
            }
            if (x < g->w) { /* the rest, zeros after it: one more step */
                int rem = g->w - x;
                wk_vec a = wk_loadn(s + x, rem < WK_VW ? rem : WK_VW);
                wk_vec b = rem > WK_VW ? wk_loadn(s + x + WK_VW, rem - WK_VW) : wk_zero();
                wk_vec e, o;
                wk_deint(a, b, e, o);
                wk_store(ev + k, e);
                wk_store(od + k, o);
                k += WK_VW;
            }
            /* zeros to the end of the half-rows; the last store may overlap
             * the zeros above, never the data (rs leaves 16 floats past it) */
            for (; (size_t)k + WK_VW <= rs; k += WK_VW) {
                wk_store(ev + k, wk_zero());
                wk_store(od + k, wk_zero());
            }
            if ((size_t)k < rs) {
                wk_store(ev + rs - WK_VW, wk_zero());
                wk_store(od + rs - WK_VW, wk_zero());
            }
        }
    }
}

/* V[xi][c][t] of the band: the 4x4 input tile of each 2x2 output tile t,
 * transformed as B^T d B (Lavin & Gray, eq. 7). pad holds, per channel, the
 * band's 2R+2 padded rows, each split into its even and odd columns (so the
 * four columns of tile k are even[k], odd[k], even[k+1], odd[k+1]). */
WK_TARGET static void WK(wino_input)(float *V, const float *pad, const struct wino_geom *g,
                                     int R)
{
    size_t T = conv_wino_tiles(g, R), used = (size_t)R * g->ntx, rs = g->rs;
    size_t cstride = (size_t)(2 * R + 2) * 2 * rs;
    size_t xs = conv_wino_vstride(g, R); /* V stride between the 16 components */
    for (int c = 0; c < g->c; c++) {
        const float *pc = pad + (size_t)c * cstride;
        for (int r = 0; r < R; r++)
            for (int k = 0; k < g->ntx; k += WK_VW) {
                wk_vec d[4][4], e[4][4], v[16];
                for (int i = 0; i < 4; i++) {
                    const float *ev = pc + (size_t)(2 * r + i) * 2 * rs + k, *od = ev + rs;
                    d[i][0] = wk_load(ev), d[i][1] = wk_load(od);
                    d[i][2] = wk_load(ev + 1), d[i][3] = wk_load(od + 1);
                }
                for (int j = 0; j < 4; j++) { /* B^T d: rows */
                    e[0][j] = wk_sub(d[0][j], d[2][j]);
                    e[1][j] = wk_add(d[1][j], d[2][j]);
                    e[2][j] = wk_sub(d[2][j], d[1][j]);
                    e[3][j] = wk_sub(d[1][j], d[3][j]);
                }
                for (int i = 0; i < 4; i++) { /* (.) B: columns */
                    v[4 * i + 0] = wk_sub(e[i][0], e[i][2]);
                    v[4 * i + 1] = wk_add(e[i][1], e[i][2]);
                    v[4 * i + 2] = wk_sub(e[i][2], e[i][1]);
                    v[4 * i + 3] = wk_sub(e[i][1], e[i][3]);
                }
                /* tile rows follow each other: a row's last vector stores
                 * only its own tiles */
                float *o = V + (size_t)c * T + (size_t)r * g->ntx + k;
                int nk = g->ntx - k < WK_VW ? g->ntx - k : WK_VW;
                for (int q = 0; q < 16; q++) {
                    if (nk == WK_VW)
                        wk_store(o + (size_t)q * xs, v[q]);
                    else
                        wk_storen(o + (size_t)q * xs, v[q], nk);
                }
            }
        for (int q = 0; q < 16 && used < T; q++) /* the lanes past the last tile */
            memset(V + (size_t)q * xs + (size_t)c * T + used, 0, sizeof(float) * (T - used));
    }
}

/* One block of the products: WK_MB channels [m0, m0 + WK_MB) x 16 tiles at t
 * of component xi: P[m][t] = sum_c U[m][c] V[c][t]. u points at the block's
 * weights (C x WK_MB, channel-minor), v at V[xi][0][t], p at P[xi][m0][t]. */
#define WK_NV (16 / WK_VW)
WK_TARGET static inline void WK(wino_block)(float *p, const float *u, const float *v, int C,
                                            size_t T)
{
    wk_vec acc[WK_MB][WK_NV];
#pragma GCC unroll 16
    for (int m = 0; m < WK_MB; m++)
#pragma GCC unroll 4
        for (int j = 0; j < WK_NV; j++)
            acc[m][j] = wk_zero();
    for (int c = 0; c < C; c++, u += WK_MB, v += T) {
        wk_vec x[WK_NV];
#pragma GCC unroll 4
        for (int j = 0; j < WK_NV; j++)
            x[j] = wk_load(v + j * WK_VW);
#pragma GCC unroll 16
        for (int m = 0; m < WK_MB; m++) {
            wk_vec b = wk_set1(u[m]);
#pragma GCC unroll 4
            for (int j = 0; j < WK_NV; j++)
                acc[m][j] = wk_fma(b, x[j], acc[m][j]);
        }
    }
#pragma GCC unroll 16
    for (int m = 0; m < WK_MB; m++)
#pragma GCC unroll 4
        for (int j = 0; j < WK_NV; j++)
            wk_store(p + (size_t)m * T + j * WK_VW, acc[m][j]);
}

#ifdef WK_WIDE
/* The same for 32 tiles (two blocks side by side share the weights). */
WK_TARGET static inline void WK(wino_block2)(float *p, const float *u, const float *v, int C,
                                             size_t T)
{
    wk_vec acc[WK_MB][2];
#pragma GCC unroll 16
    for (int m = 0; m < WK_MB; m++)
        acc[m][0] = acc[m][1] = wk_zero();
    for (int c = 0; c < C; c++, u += WK_MB, v += T) {
        wk_vec x0 = wk_load(v), x1 = wk_load(v + 16);
#pragma GCC unroll 16
        for (int m = 0; m < WK_MB; m++) {
            wk_vec b = wk_set1(u[m]);
            acc[m][0] = wk_fma(b, x0, acc[m][0]);
            acc[m][1] = wk_fma(b, x1, acc[m][1]);
        }
    }
#pragma GCC unroll 16
    for (int m = 0; m < WK_MB; m++) {
        wk_store(p + (size_t)m * T, acc[m][0]);
        wk_store(p + (size_t)m * T + 16, acc[m][1]);
    }
}
#endif

#ifdef WK_WIDE
/* 2 x WK_MB channels x 16 tiles: for a band's last 16 tiles, 16 accumulators
 * where wino_block has 8 (u: two of the weight blocks, one after the other) */
WK_TARGET static inline void WK(wino_block_tall)(float *p, const float *u, const float *v,
                                                 int C, size_t T)
{
    wk_vec acc[2 * WK_MB];
    const float *u2 = u + (size_t)C * WK_MB;
#pragma GCC unroll 16
    for (int m = 0; m < 2 * WK_MB; m++)
        acc[m] = wk_zero();
    for (int c = 0; c < C; c++, u += WK_MB, u2 += WK_MB, v += T) {
        wk_vec x = wk_load(v);
#pragma GCC unroll 16
        for (int m = 0; m < WK_MB; m++) {
            acc[m] = wk_fma(wk_set1(u[m]), x, acc[m]);
            acc[WK_MB + m] = wk_fma(wk_set1(u2[m]), x, acc[WK_MB + m]);
        }
    }
#pragma GCC unroll 16
    for (int m = 0; m < 2 * WK_MB; m++)
        wk_store(p + (size_t)m * T, acc[m]);
}
#endif

/* P[xi] = U[xi] V[xi] for the 16 components: mpad x T each. */
WK_TARGET static void WK(wino_gemm)(float *P, const float *U, const float *V,
                                    const struct wino_geom *g, int R)
{
    size_t T = conv_wino_tiles(g, R), C = (size_t)g->c;
    size_t vs = conv_wino_vstride(g, R), ps = conv_wino_pstride(g, R);
    for (int xi = 0; xi < 16; xi++) {
        const float *u = U + (size_t)xi * g->mpad * C, *v = V + (size_t)xi * vs;
        float *p = P + (size_t)xi * ps;
        size_t t = 0;
#ifdef WK_WIDE
        for (; t + 32 <= T; t += 32)
            for (int m0 = 0; m0 < g->mpad; m0 += WK_MB)
                WK(wino_block2)(p + (size_t)m0 * T + t, u + (size_t)m0 * C, v + t, g->c, T);
        if (t < T && g->mpad % (2 * WK_MB) == 0) {
            for (int m0 = 0; m0 < g->mpad; m0 += 2 * WK_MB)
                WK(wino_block_tall)(p + (size_t)m0 * T + t, u + (size_t)m0 * C, v + t, g->c, T);
            t += 16;
        }
#endif
        for (; t < T; t += 16)
            for (int m0 = 0; m0 < g->mpad; m0 += WK_MB)
                WK(wino_block)(p + (size_t)m0 * T + t, u + (size_t)m0 * C, v + t, g->c, T);
    }
}

/* Y = A^T P A per tile (2x2 outputs), bias, then the ReLU'd 2x2 maximum into
 * the pooled map (and, with am_b, the index of the window's first maximum in
 * the conv map, as maxpool_forward gives it over the ReLU'd map), or the four
 * outputs (ReLU'd when g->relu) into the conv map, clipped to its size. */
WK_TARGET static void WK(wino_output)(float *out_b, int32_t *am_b, const float *P,
                                      const float *bias, const struct wino_geom *g, int ty0,
                                      int R)
{
    size_t T = conv_wino_tiles(g, R), xs = conv_wino_pstride(g, R);
    float tmp[4][WK_VW];
    for (int m = 0; m < g->m; m++) {
        wk_vec b = wk_set1(bias ? bias[m] : 0.0f), zero = wk_zero(), one = wk_set1(1.0f);
        for (int r = 0; r < R; r++) {
            int ty = ty0 + r;
            for (int k = 0; k < g->ntx; k += WK_VW) {
                const float *p = P + (size_t)m * T + (size_t)r * g->ntx + k;
                wk_vec s[2][4];
                for (int j = 0; j < 4; j++) { /* A^T P: rows */
                    wk_vec m0 = wk_load(p + (size_t)j * xs),
                           m1 = wk_load(p + (size_t)(4 + j) * xs);
                    wk_vec m2 = wk_load(p + (size_t)(8 + j) * xs);
                    wk_vec m3 = wk_load(p + (size_t)(12 + j) * xs);
                    s[0][j] = wk_add(wk_add(m0, m1), m2);
                    s[1][j] = wk_sub(wk_sub(m1, m2), m3);
                }
                wk_vec y[4]; /* (.) A: columns; y00 y01 y10 y11 */
                for (int i = 0; i < 2; i++) {
                    y[2 * i] = wk_add(wk_add(wk_add(s[i][0], s[i][1]), s[i][2]), b);
                    y[2 * i + 1] = wk_add(wk_sub(wk_sub(s[i][1], s[i][2]), s[i][3]), b);
                }
                int nk = g->ntx - k < WK_VW ? g->ntx - k : WK_VW;
                if (g->pool && am_b) {
                    /* ReLU'd (a NaN becomes 0), then the first maximum by the
                     * comparisons of maxpool2x2: offsets 0, 1, W, W + 1 */
                    wk_vec r0 = wk_max(y[0], zero), r1 = wk_max(y[1], zero);
                    wk_vec r2 = wk_max(y[2], zero), r3 = wk_max(y[3], zero);
                    wk_vec w0 = wk_set1((float)g->ow), w1 = wk_set1((float)(g->ow + 1));
                    wk_vec b01 = wk_sel_gt(r1, r0, r1, r0), o01 = wk_sel_gt(r1, r0, one, zero);
                    wk_vec b23 = wk_sel_gt(r3, r2, r3, r2), o23 = wk_sel_gt(r3, r2, w1, w0);
                    wk_vec v = wk_sel_gt(b23, b01, b23, b01),
                           off = wk_sel_gt(b23, b01, o23, o01);
                    size_t at = ((size_t)m * g->poh + ty) * g->pow + k;
                    wk_storen(out_b + at, v, nk);
                    wk_store_idx(am_b + at, off, 2 * ty * g->ow + 2 * k, nk);
                    continue;
                }
                if (g->pool) {
                    /* max starting from 0, the running value second: a NaN
                     * never wins (conv_relu_max2x2) */
                    wk_vec v = wk_max(y[0], zero);
                    v = wk_max(y[1], v), v = wk_max(y[2], v), v = wk_max(y[3], v);
                    float *d = out_b + ((size_t)m * g->poh + ty) * g->pow + k;
                    if (nk == WK_VW)
                        wk_store(d, v);
                    else {
                        wk_store(tmp[0], v);
                        for (int x = 0; x < nk; x++)
                            d[x] = tmp[0][x];
                    }
                    continue;
                }
                if (g->relu)
                    for (int q = 0; q < 4; q++)
                        y[q] = wk_max(y[q], zero);
                int full = 2 * (k + WK_VW) <= g->ow;
                if (!full)
                    for (int q = 0; q < 4; q++)
                        wk_store(tmp[q], y[q]);
                for (int i = 0; i < 2; i++) {
                    int oy = 2 * ty + i;
                    if (oy >= g->oh) break;
                    float *d = out_b + ((size_t)m * g->oh + oy) * g->ow + 2 * k;
                    if (full) { /* the two outputs of each tile side by side */
                        wk_vec lo, hi;
                        wk_inter(y[2 * i], y[2 * i + 1], lo, hi);
                        wk_store(d, lo);
                        wk_store(d + WK_VW, hi);
                        continue;
                    }
                    int nx = g->ow - 2 * k < 2 * nk ? g->ow - 2 * k : 2 * nk;
                    for (int x = 0; x < nx; x++)
                        d[x] = tmp[2 * i + (x & 1)][x >> 1];
                }
            }
        }
    }
}

#undef WK_NV
