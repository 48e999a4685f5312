/* test_plots.c - colour tables against matplotlib's values, heatmap/overlay/
 * montage PNGs decoded back to their pixels, the bitmap font, and the gnuplot
 * writers (script and data content, the rendered PNG's size, failures).
 * References: fixtures/plots/colormaps_ref.txt (plots/gen_colormaps.py).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/image.h"
#include "../plots/colormap.h"
#include "../plots/plot.h"

#define REF "fixtures/plots/colormaps_ref.txt"

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/interp-plots-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmpdir);
}

static char *tpath(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Width and height from a PNG's IHDR. */
static void png_size(const char *path, unsigned *w, unsigned *h)
{
    unsigned char b[24];
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "no PNG at %s", path);
    cr_assert_eq(fread(b, 1, 24, fp), 24);
    fclose(fp);
    cr_assert(!memcmp(b, "\x89PNG\r\n\x1a\n", 8) && !memcmp(b + 12, "IHDR", 4), "%s: not a PNG",
              path);
    *w = (unsigned)b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
    *h = (unsigned)b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
}

/* 8-bit RGB of pixel (x, y) of a decoded image. */
static void pixel(const struct image *im, int x, int y, int rgb[3])
{
    size_t plane = (size_t)im->h * im->w;
    for (int k = 0; k < 3; k++) {
        int c = im->c >= 3 ? k : 0;
        rgb[k] = (int)lrintf(im->data[c * plane + (size_t)y * im->w + x] * 255.0f);
    }
}

/* ---- colour tables ------------------------------------------------------------ */

Test(plots, colormaps_equal_matplotlib)
{
    FILE *fp = fopen(REF, "r");
    cr_assert_not_null(fp, "missing %s (run plots/gen_colormaps.py)", REF);
    char line[256], kind[16], name[32], worst_where[96] = "";
    double worst = 0;
    int entries = 0, calls = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        double pos, ref[3];
        cr_assert_eq(sscanf(line, "%15s %31s %lf %lf %lf %lf", kind, name, &pos, &ref[0],
                            &ref[1], &ref[2]),
                     6, "bad line: %s", line);
        const struct colormap *cm = colormap_find(name);
        cr_assert_not_null(cm, "colour map %s not found", name);
        uint8_t got[3];
        if (!strcmp(kind, "entry")) {
            memcpy(got, cm->table[(int)pos], 3);
            entries++;
        } else {
            colormap_rgb(cm, pos, got);
            calls++;
        }
        for (int k = 0; k < 3; k++) {
            double d = fabs(got[k] - 255.0 * ref[k]);
            if (d > worst) {
                worst = d;
                snprintf(worst_where, sizeof worst_where, "%s %s %g channel %d: %d vs %.4f",
                         kind, name, pos, k, got[k], 255.0 * ref[k]);
            }
        }
    }
    fclose(fp);
    cr_log_info(
        "colour maps: %d entries, %d lookups; worst |ours - 255*matplotlib| = %.4f (%s)",
        entries, calls, worst, worst_where);
    cr_assert(entries >= 6 * 10 && calls >= 6 * 10);
    /* 8-bit entries are round(255 v): off by at most half a step */
    cr_assert(worst <= 0.5 + 1e-6, "worst difference %.4f at %s", worst, worst_where);
}

Test(plots, colormap_ends_clamping_names)
{
    const char *const *names = colormap_names();
    int n = 0;
    for (; names[n]; n++) {
        const struct colormap *cm = colormap_find(names[n]);
        cr_assert_not_null(cm, "%s", names[n]);
        cr_assert_str_eq(cm->name, names[n]);
        uint8_t a[3], b[3];
        colormap_rgb(cm, -3.0, a);
        cr_assert(!memcmp(a, cm->table[0], 3), "%s: below 0 must clamp to the first entry",
                  names[n]);
        colormap_rgb(cm, NAN, a);
        cr_assert(!memcmp(a, cm->table[0], 3), "%s: NaN must give the first entry", names[n]);
        colormap_rgb(cm, 1.0, a);
        colormap_rgb(cm, 7.5, b);
        cr_assert(!memcmp(a, cm->table[255], 3) && !memcmp(b, cm->table[255], 3),
                  "%s: 1 and above must give the last entry", names[n]);
    }
    cr_assert_eq(n, 6);
    cr_assert_null(colormap_find("Viridis"));
    cr_assert_null(colormap_find(NULL));
    cr_assert(colormap_find("coolwarm")->diverging && !colormap_find("jet")->diverging);
    cr_assert_eq(colormap_index(0.5), 128);
    cr_assert_eq(colormap_index(0.999), 255);
    cr_assert_eq(colormap_index(0.2499), 63);
}

/* ---- text ------------------------------------------------------------------ */

Test(plots, text_draw_glyph_and_clipping)
{
    enum { W = 40, H = 50 };
    uint8_t buf[W * H * 3];
    memset(buf, 0, sizeof buf);
    const uint8_t white[3] = {255, 255, 255};
    /* misc-fixed 8x13 '|': column 3, rows 2..10 of its cell; at scale 2 that is
     * columns 6-7, rows 4-21 from the origin */
    text_draw(buf, W, H, 10, 20, "|", white, 2);
    int bad = 0, set = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int want = x >= 16 && x <= 17 && y >= 24 && y <= 41;
            int got = buf[(y * W + x) * 3] == 255;
            set += got;
            if (got != want) bad++;
        }
    cr_assert_eq(bad, 0, "'|' drawn wrongly at %d pixels (%d set)", bad, set);
    /* partly and fully outside: clipped, no write outside the buffer (ASan) */
    text_draw(buf, W, H, -5, -7, "Wg\nxy\xc3\xa9", white, 1);
    text_draw(buf, W, H, W - 3, H - 4, "MM", white, 3);
    text_draw(buf, W, H, 1000, 1000, "M", white, 1);
}

/* ---- heatmap / overlay / montage ------------------------------------------------ */

Test(plots, heatmap_png_pixels, .init = make_tmpdir, .fini = remove_tmpdir)
{
    const struct colormap *cm = colormap_find("jet");
    /* 3 x 4 map over [-1, 3]: t = (v + 1) / 4 */
    const float map[12] = {-1, 0, 1, 3, 5, -9, 0.2f, NAN, 2, 2.975f, -0.5f, 1.0f};
    const char *p = tpath("h.png");
    cr_assert_eq(heatmap_write_png(p, map, 3, 4, cm, -1, 3, 0), 0, "%s", error_message());
    struct image *im = image_load(p);
    cr_assert_not_null(im, "%s", error_message());
    cr_assert(im->c == 3 && im->h == 3 && im->w == 4, "got %d x %d x %d", im->c, im->h, im->w);
    /* expected table indices floor(256 t) computed by hand, clamped */
    const int idx[12] = {0, 64, 128, 255, 255, 0, 76, 0, 192, 254, 32, 128};
    for (int i = 0; i < 12; i++) {
        int got[3];
        pixel(im, i % 4, i / 4, got);
        const uint8_t *want = cm->table[idx[i]];
        cr_assert(got[0] == want[0] && got[1] == want[1] && got[2] == want[2],
                  "pixel %d (value %g): got %d,%d,%d want entry %d = %d,%d,%d", i, map[i],
                  got[0], got[1], got[2], idx[i], want[0], want[1], want[2]);
    }
    image_free(im);

    /* with the bar: wider, at least 34 rows, the map unchanged at the top left,
     * the bar's top row near the last entry and bottom near the first, and
     * some black text pixels right of it. (A new name: image_load registered
     * h.png as an input, which outfile then refuses to overwrite.) */
    p = tpath("hb.png");
    cr_assert_eq(heatmap_write_png(p, map, 3, 4, cm, -1, 3, 1), 0, "%s", error_message());
    im = image_load(p);
    cr_assert_not_null(im);
    cr_assert(im->w > 4 + 20 && im->h >= 34, "%d x %d", im->w, im->h);
    int got[3];
    pixel(im, 3, 0, got);
    cr_assert(got[0] == cm->table[255][0] && got[2] == cm->table[255][2]);
    pixel(im, 0, 4, got); /* below the 3-row map: background */
    cr_assert(got[0] == 255 && got[1] == 255 && got[2] == 255);
    int bx = -1;
    for (int x = 4; x < im->w && bx < 0; x++) {
        pixel(im, x, im->h / 2, got);
        if (got[0] == 0 && got[1] == 0 && got[2] == 0) bx = x; /* the bar's frame */
    }
    cr_assert(bx > 4, "no colour bar frame found");
    int top[3], bot[3];
    pixel(im, bx + 3, 1, top);
    pixel(im, bx + 3, im->h - 2, bot);
    /* jet: dark red at the top (blue 0), dark blue at the bottom (red 0); the
     * rows sample the map at their centres, a few entries from the ends */
    cr_assert(abs(top[0] - cm->table[255][0]) < 30 && top[1] == 0 && top[2] == 0,
              "bar top %d,%d,%d", top[0], top[1], top[2]);
    cr_assert(abs(bot[2] - cm->table[0][2]) < 30 && bot[0] == 0 && bot[1] == 0,
              "bar bottom %d,%d,%d", bot[0], bot[1], bot[2]);
    int text = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = bx + 16; x < im->w; x++) {
            pixel(im, x, y, got);
            text += got[0] == 0 && got[1] == 0 && got[2] == 0;
        }
    cr_assert(text > 10, "no label text beside the bar");
    image_free(im);

    /* bad range */
    cr_assert_eq(heatmap_write_png(p, map, 3, 4, cm, 2, 1, 0), ERR_INPUT);
    cr_assert_eq(heatmap_write_png(p, map, 3, 4, cm, 0, INFINITY, 0), ERR_INPUT);
}

Test(plots, overlay_blend_by_hand, .init = make_tmpdir, .fini = remove_tmpdir)
{
    const struct colormap *cm = colormap_find("viridis");
    /* RGB image 4 x 4 of (0.2, 0.4, 0.7); map 2 x 2 [[0, 1], [0, 1]] upsampled
     * with half-pixel centres: column x samples 2 x 2 at (x + 0.5) / 2 - 0.5,
     * i.e. -0.25 (clamped: 0), 0.25, 0.75, 1.25 (clamped: 1). */
    struct image *im = image_new(3, 4, 4);
    for (int i = 0; i < 16; i++) {
        im->data[i] = 0.2f;
        im->data[16 + i] = 0.4f;
        im->data[32 + i] = 0.7f;
    }
    const float map[4] = {0, 1, 0, 1};
    const char *p = tpath("o.png");
    double alpha = 0.3;
    cr_assert_eq(overlay_write_png(p, im, map, 2, 2, cm, 0, 1, alpha), 0, "%s",
                 error_message());
    struct image *out = image_load(p);
    cr_assert_not_null(out, "%s", error_message());
    cr_assert(out->h >= 34 && out->w > 4);
    /* t = 0, 0.25, 0.75, 1 -> entries 0, 64, 192, 255 */
    const int idx[4] = {0, 64, 192, 255};
    const double base[3] = {0.2, 0.4, 0.7};
    double worst = 0;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            int got[3];
            pixel(out, x, y, got);
            for (int k = 0; k < 3; k++) {
                double want = (1 - alpha) * 255 * base[k] + alpha * cm->table[idx[x]][k];
                double d = fabs(got[k] - want);
                if (d > worst) worst = d;
                cr_assert(d <= 0.5 + 1e-4, "pixel (%d,%d) channel %d: got %d, by hand %.3f", x,
                          y, k, got[k], want);
            }
        }
    cr_log_info("overlay: worst |png - by hand| = %.4f", worst);
    /* spelled out once: pixel (1, 0), red: 0.7 * 51 + 0.3 * viridis[64].r */
    int g[3];
    pixel(out, 1, 0, g);
    cr_assert_eq(g[0], (int)lrint(0.7 * 51 + 0.3 * cm->table[64][0]));
    image_free(out);

    /* gray image: all three channels carry the same base */
    struct image *gray = image_new(1, 4, 4);
    for (int i = 0; i < 16; i++)
        gray->data[i] = 0.5f;
    p = tpath("o2.png");
    cr_assert_eq(overlay_write_png(p, gray, map, 2, 2, cm, 0, 1, 0.0), 0, "%s",
                 error_message());
    out = image_load(p);
    pixel(out, 2, 2, g);
    cr_assert(g[0] == 128 && g[1] == 128 && g[2] == 128, "%d %d %d", g[0], g[1], g[2]);
    image_free(out);
    cr_assert_eq(overlay_write_png(p, gray, map, 2, 2, cm, 0, 1, 1.5), ERR_INPUT);
    image_free(gray);
    image_free(im);
}

Test(plots, montage_layout, .init = make_tmpdir, .fini = remove_tmpdir)
{
    struct image *red = image_new(3, 30, 60); /* wide: letterboxed in its cell */
    for (int i = 0; i < 30 * 60; i++)
        red->data[i] = 1.0f;
    struct image *gray = image_new(1, 200, 200); /* shrinks 5x: box first */
    for (int i = 0; i < 200 * 200; i++)
        gray->data[i] = 0.25f;
    const struct image *cells[6] = {red, NULL, gray, gray, red, NULL};
    char *labels[2] = {"AI_SD_ukiyo-e", "Human"};
    const char *p = tpath("m.png");
    const int cell = 40;
    cr_assert_eq(montage_write_png(p, cells, 2, 3, cell, labels), 0, "%s", error_message());
    struct image *im = image_load(p);
    cr_assert_not_null(im, "%s", error_message());
    /* label column: 13 glyphs of 8 px + 2 * 4 padding; cells 40 + 4 apart */
    int lw = 13 * 8 + 8;
    cr_assert_eq(im->w, lw + 3 * (cell + 4) + 4);
    cr_assert_eq(im->h, 2 * (cell + 4) + 4);
    int g[3];
    /* cell (0,0): red centred, 20 rows tall -> white above and below */
    pixel(im, lw + 4 + 20, 4 + 20, g);
    cr_assert(g[0] == 255 && g[1] == 0 && g[2] == 0, "red cell centre %d,%d,%d", g[0], g[1],
              g[2]);
    pixel(im, lw + 4 + 20, 4 + 3, g);
    cr_assert(g[0] == 255 && g[1] == 255 && g[2] == 255, "letterbox %d,%d,%d", g[0], g[1],
              g[2]);
    /* cell (0,1) is NULL: white; cell (0,2) gray 0.25 */
    pixel(im, lw + 4 + 44 + 20, 24, g);
    cr_assert(g[0] == 255 && g[1] == 255 && g[2] == 255);
    pixel(im, lw + 4 + 88 + 20, 24, g);
    cr_assert(g[0] == 64 && g[1] == 64 && g[2] == 64, "gray cell %d,%d,%d", g[0], g[1], g[2]);
    /* label text: black pixels in the label column of each row */
    for (int r = 0; r < 2; r++) {
        int black = 0;
        for (int y = 4 + r * 44; y < 4 + r * 44 + cell; y++)
            for (int x = 0; x < lw; x++) {
                pixel(im, x, y, g);
                black += g[0] == 0;
            }
        cr_assert(black > 20, "row %d label missing", r);
    }
    image_free(im);
    cr_assert_eq(montage_write_png(p, cells, 0, 3, cell, labels), ERR_INPUT);
    image_free(red);
    image_free(gray);
}

/* ---- gnuplot writers ------------------------------------------------------------ */

static char *const tricky[3] = {"it's_a \"quoted\" name", "back\\slash_and_under_score",
                                "plain"};

Test(plots, scatter_script_data_png, .init = make_tmpdir, .fini = remove_tmpdir)
{
    plot_set_gnuplot(NULL);
    enum { N = 9 };
    const float x[N] = {0, 1, 2, 3, 4, 5, 6, NAN, 8};
    const float y[N] = {1, 1, 1, 2, 2, 2, 4, 4, 4};
    /* class 1 has no points: no block, no key entry */
    const int32_t lab[N] = {0, 2, 0, 2, 0, 3, 0, 3, 3};
    char *names[4] = {tricky[0], "empty", tricky[1], tricky[2]};
    struct scatter s = {.x = x,
                        .y = y,
                        .n = N,
                        .labels = lab,
                        .nclasses = 4,
                        .class_names = names,
                        .title = "t_SNE 'x'",
                        .xlabel = "a",
                        .ylabel = "b",
                        .width = 640,
                        .height = 480};
    struct plot_result r;
    cr_assert_eq(plot_scatter(tmpdir, "sc", &s, &r), 0, "%s", error_message());
    cr_assert_str_eq(r.script, tpath("sc.gp"));
    cr_assert_str_eq(r.data, tpath("sc.dat"));

    /* data: three blocks split by two blank lines, points in order per class */
    char *dat = slurp(r.data);
    int blocks = 1;
    for (char *q = dat; (q = strstr(q, "\n\n\n")); q += 3)
        blocks++;
    cr_assert_eq(blocks, 3, "data:\n%s", dat);
    char *b0 =
        strstr(dat, "# class 0: it's_a \"quoted\" name (4 points)\n0 1\n2 1\n4 2\n6 4\n");
    char *b2 = strstr(dat, "# class 2: back\\slash_and_under_score (2 points)\n1 1\n3 2\n");
    char *b3 = strstr(dat, "# class 3: plain (2 points)\n5 2\n8 4\n"); /* NaN point left out */
    cr_assert(b0 && b2 && b3 && b0 < b2 && b2 < b3, "data:\n%s", dat);
    cr_assert_null(strstr(dat, "empty"));
    free(dat);

    char *gp = slurp(r.script);
    cr_assert_not_null(strstr(gp, "noenhanced"));
    cr_assert_not_null(strstr(gp, "size 640,480"));
    cr_assert_not_null(strstr(gp, "title 'it''s_a \"quoted\" name'"), "script:\n%s", gp);
    cr_assert_not_null(strstr(gp, "title 'back\\slash_and_under_score'"), "script:\n%s", gp);
    cr_assert_not_null(strstr(gp, "set title 't_SNE ''x'''"));
    cr_assert(strstr(gp, "index 0 ") && strstr(gp, "index 1 ") && strstr(gp, "index 2 ") &&
                  !strstr(gp, "index 3 "),
              "script:\n%s", gp);
    cr_assert_null(strstr(gp, "'empty'"));
    free(gp);

    if (plot_gnuplot_available()) {
        cr_assert(r.rendered && r.png, "gnuplot is installed but nothing was rendered");
        unsigned w, h;
        png_size(r.png, &w, &h);
        cr_assert(w == 640 && h == 480, "PNG is %u x %u", w, h);
        /* the PNG really shows the quoted name: gnuplot accepted the script */
    } else {
        cr_log_warn("gnuplot not installed: PNG checks skipped");
        cr_assert(!r.rendered && !r.png);
    }
    plot_result_release(&r);
    plot_result_release(&r); /* released twice is harmless */

    /* labels outside the classes */
    const int32_t badlab[N] = {0, 0, 0, 0, 4, 0, 0, 0, 0};
    s.labels = badlab;
    cr_assert_eq(plot_scatter(tmpdir, "bad", &s, &r), ERR_INPUT);
    cr_assert_not_null(strstr(error_message(), "label 4"), "%s", error_message());
}

Test(plots, without_gnuplot_scripts_only, .init = make_tmpdir, .fini = remove_tmpdir)
{
    plot_set_gnuplot("");
    cr_assert_eq(plot_gnuplot_available(), 0);
    const float x[2] = {0, 1}, y[2] = {1, 0};
    struct scatter s = {.x = x, .y = y, .n = 2};
    struct plot_result r;
    cr_assert_eq(plot_scatter(tmpdir, "s", &s, &r), 0, "%s", error_message());
    cr_assert(!r.rendered && !r.png && exists(r.script) && exists(r.data));
    cr_assert(!exists(tpath("s.png")));
    plot_result_release(&r);
    plot_set_gnuplot(NULL);
}

Test(plots, gnuplot_failure_is_an_error, .init = make_tmpdir, .fini = remove_tmpdir)
{
    /* a "gnuplot" that rejects the script the way gnuplot does */
    const char *fake = tpath("fakeplot");
    FILE *fp = fopen(fake, "w");
    fputs("#!/bin/sh\necho 'plot foo' >&2\necho '     ^' >&2\n"
          "echo '\"x.gp\" line 3: undefined variable: foo' >&2\nexit 1\n",
          fp);
    fclose(fp);
    chmod(fake, 0755);
    plot_set_gnuplot(fake);
    cr_assert_eq(plot_gnuplot_available(), 1);
    double xs[3] = {1, 2, 3}, ys[3] = {3, 2, 1};
    const double *yy[1] = {ys};
    struct line_plot lp = {.x = xs, .n = 3, .y = yy, .nseries = 1};
    struct plot_result r;
    int rc = plot_lines(tmpdir, "l", &lp, &r);
    plot_set_gnuplot(NULL);
    cr_assert_eq(rc, ERR_FAIL);
    cr_assert_not_null(strstr(error_message(), "line 3: undefined variable: foo"), "%s",
                       error_message());
    cr_assert_null(r.script);
    /* no PNG and no temporary left behind; script and data stay */
    DIR *d = opendir(tmpdir);
    for (struct dirent *e; (e = readdir(d));)
        cr_assert(!strstr(e->d_name, ".png") && !strstr(e->d_name, ".tmp"), "left: %s",
                  e->d_name);
    closedir(d);
    cr_assert(exists(tpath("l.gp")) && exists(tpath("l.dat")));
}

Test(plots, lines_scree_and_logy, .init = make_tmpdir, .fini = remove_tmpdir)
{
    plot_set_gnuplot(NULL);
    double x[4] = {1, 2, 3, 4}, ratio[4] = {0.5, 0.25, 0.125, 0.0625}, cum[4];
    for (int i = 0; i < 4; i++)
        cum[i] = (i ? cum[i - 1] : 0) + ratio[i];
    const double *y[2] = {ratio, cum};
    char *names[2] = {"ratio_per component", "cumulative"};
    struct line_plot lp = {.x = x,
                           .n = 4,
                           .y = y,
                           .nseries = 2,
                           .series_names = names,
                           .title = "scree",
                           .xlabel = "component",
                           .ylabel = "ratio",
                           .with_bars = 1};
    struct plot_result r;
    cr_assert_eq(plot_lines(tmpdir, "scree", &lp, &r), 0, "%s", error_message());
    char *dat = slurp(r.data);
    cr_assert_not_null(
        strstr(dat, "\n1 0.5 0.5\n2 0.25 0.75\n3 0.125 0.875\n4 0.0625 0.9375\n"), "data:\n%s",
        dat);
    free(dat);
    char *gp = slurp(r.script);
    cr_assert_not_null(strstr(gp, "using 1:2 with boxes"), "script:\n%s", gp);
    cr_assert_not_null(strstr(gp, "using 1:3 with linespoints"));
    cr_assert_not_null(strstr(gp, "title 'ratio_per component'"));
    free(gp);
    if (plot_gnuplot_available()) {
        unsigned w, h;
        png_size(r.png, &w, &h);
        cr_assert(w == 900 && h == 600, "PNG is %u x %u", w, h);
    }
    plot_result_release(&r);

    /* log y: values <= 0 become NaN (missing) */
    double kl[4] = {3, 0, 1.5, -1};
    const double *y1[1] = {kl};
    struct line_plot kp = {
        .x = x, .n = 4, .y = y1, .nseries = 1, .logy = 1, .width = 500, .height = 300};
    cr_assert_eq(plot_lines(tmpdir, "kl", &kp, &r), 0, "%s", error_message());
    dat = slurp(r.data);
    cr_assert_not_null(strstr(dat, "\n1 3\n2 NaN\n3 1.5\n4 NaN\n"), "data:\n%s", dat);
    free(dat);
    gp = slurp(r.script);
    cr_assert_not_null(strstr(gp, "set logscale y"));
    free(gp);
    if (plot_gnuplot_available()) {
        unsigned w, h;
        png_size(r.png, &w, &h);
        cr_assert(w == 500 && h == 300, "PNG is %u x %u", w, h);
    }
    plot_result_release(&r);
}

Test(plots, matrix_confusion, .init = make_tmpdir, .fini = remove_tmpdir)
{
    plot_set_gnuplot(NULL);
    const int64_t cnt[9] = {50, 2, 0, 3, 40, 7, 0, 1, 9};
    double v[9];
    for (int i = 0; i < 3; i++) {
        double t = 0;
        for (int j = 0; j < 3; j++)
            t += cnt[i * 3 + j];
        for (int j = 0; j < 3; j++)
            v[i * 3 + j] = cnt[i * 3 + j] / t;
    }
    struct matrix_plot m = {.values = v,
                            .annot = cnt,
                            .rows = 3,
                            .cols = 3,
                            .row_names = tricky,
                            .col_names = tricky,
                            .title = "confusion",
                            .xlabel = "predicted",
                            .ylabel = "true",
                            .vmin = 0,
                            .vmax = 1};
    struct plot_result r;
    cr_assert_eq(plot_matrix(tmpdir, "cm", &m, &r), 0, "%s", error_message());
    char *dat = slurp(r.data);
    /* "column row value count", rows as scan lines */
    cr_assert_not_null(strstr(dat, "\n0 0 0.961538462 50\n1 0 0.0384615385 2\n2 0 0 0\n\n0 1 "),
                       "data:\n%s", dat);
    cr_assert_not_null(strstr(dat, "\n2 2 0.9 9\n"), "data:\n%s", dat);
    free(dat);
    char *gp = slurp(r.script);
    cr_assert_not_null(
        strstr(gp, "'it''s_a \"quoted\" name' 0, 'back\\slash_and_under_score' 1"),
        "script:\n%s", gp);
    cr_assert_not_null(strstr(gp, "with image"));
    cr_assert_not_null(strstr(gp, "with labels"));
    cr_assert_not_null(strstr(gp, "set cbrange [vmin:vmax]"));
    int W = 0, H = 0;
    char *sz = strstr(gp, "size ");
    cr_assert(sz && sscanf(sz, "size %d,%d", &W, &H) == 2);
    free(gp);
    if (plot_gnuplot_available()) {
        unsigned w, h;
        png_size(r.png, &w, &h);
        cr_assert(w == (unsigned)W && h == (unsigned)H, "PNG %u x %u, script %d x %d", w, h, W,
                  H);
    }
    plot_result_release(&r);

    /* 47 classes: bigger figure, zero counts hidden by default */
    enum { K = 47 };
    static double big[K * K];
    static int64_t bc[K * K];
    for (int i = 0; i < K; i++) {
        bc[i * K + i] = 100 + i;
        bc[i * K + (i + 1) % K] = 7;
        big[i * K + i] = 0.9;
        big[i * K + (i + 1) % K] = 0.1;
    }
    struct matrix_plot mb = {
        .values = big, .annot = bc, .rows = K, .cols = K, .title = "47", .vmin = 0, .vmax = 1};
    cr_assert_eq(plot_matrix(tmpdir, "cm47", &mb, &r), 0, "%s", error_message());
    gp = slurp(r.script);
    cr_assert_not_null(strstr(gp, "show_zeros = 0"));
    cr_assert_not_null(strstr(gp, "rotate by 90"));
    sz = strstr(gp, "size ");
    cr_assert(sz && sscanf(sz, "size %d,%d", &W, &H) == 2 && W > 1200 && H > 1200, "%d x %d", W,
              H);
    free(gp);
    if (plot_gnuplot_available()) {
        unsigned w, h;
        png_size(r.png, &w, &h);
        cr_assert(w == (unsigned)W && h == (unsigned)H);
    }
    plot_result_release(&r);
}
