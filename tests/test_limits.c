/* test_limits.c - hostile input: every resource limit refuses with the figure
 * and the flag that raises it, headers that lie about their size are refused
 * before allocating, and every input the fuzzers ever crashed on
 * (fuzz/regress/<target>/) is now refused or read cleanly.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/array.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/outfile.h"
#include "../core/util.h"

#define FIX "fixtures/arrays/"
#define IMG "fixtures/images/"

static struct limits saved;
static void save_limits(void)
{
    saved = *limits_get();
}
static void restore_limits(void)
{
    *limits_get() = saved;
}

#define expect_msg_has(needle)                                                                 \
    cr_expect(strstr(error_message(), needle) != NULL, "message lacks '%s': %s", needle,       \
              error_message())

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

/* A .npy v1.0 header for `descr` and `shape` (a Python tuple), followed by
 * `data_len` zero bytes. */
static unsigned char *npy_make(const char *descr, const char *shape, size_t data_len,
                               size_t *len)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    while ((10 + n + 1) % 64)
        head[n++] = ' ';
    head[n++] = '\n';
    *len = 10 + (size_t)n + data_len;
    unsigned char *b = calloc(1, *len);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)(n & 0xff);
    b[9] = (unsigned char)(n >> 8);
    memcpy(b + 10, head, (size_t)n);
    return b;
}

/* ---- the limits and their messages ---------------------------------------- */

Test(limits, big_alloc_names_figure_limit_and_flag, .init = save_limits, .fini = restore_limits)
{
    limits_get()->max_bytes = 3 << 20;
    error_clear();
    cr_assert_null(big_alloc((size_t)5 << 20, "emb.npy", "embedding matrix"));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect_str_eq(error_path(), "emb.npy");
    expect_msg_has("embedding matrix needs 5.0 MiB, more than the 3.0 MiB allowed");
    expect_msg_has("--max-memory");
    /* the default is stated against the machine's memory */
    expect_msg_has(" of RAM");
    error_clear();
    void *p = big_alloc((size_t)3 << 20, "emb.npy", "embedding matrix");
    cr_expect_not_null(p, "%s", error_message());
    free(p);
}

Test(limits, default_memory_limit_is_three_quarters_of_ram)
{
    uint64_t mem = mem_total_bytes();
    cr_assert_gt(mem, 0);
    /* a fresh process: nothing changed the limits yet in this test's worker */
    struct limits *l = limits_get();
    if (l->max_bytes != mem / 4 * 3) cr_skip_test("limits changed by an earlier test");
    cr_expect_eq(l->max_pixels, 100000000ULL);
    cr_expect_eq(l->max_elements, 4000000000ULL);
}

Test(limits, npy_elements_names_the_flag, .init = save_limits, .fini = restore_limits)
{
    size_t len;
    unsigned char *b = npy_make("<f4", "(100, 100)", 40000, &len);
    limits_get()->max_elements = 9999;
    cr_expect_null(npy_parse(b, len, "m.npy", DT_F32, 2));
    cr_expect_eq(error_code(), ERR_INPUT);
    expect_msg_has("shape (100, 100) has 10000 elements, over the limit of 9999");
    expect_msg_has("--max-elements");
    limits_get()->max_elements = 10000;
    struct array *a = npy_parse(b, len, "m.npy", DT_F32, 2);
    cr_expect_not_null(a, "%s", error_message());
    array_free(a);
    free(b);
}

/* The header claims 2^31 x 1024 doubles (16 TiB), the file holds a few bytes: refused
 * on the element count, before any allocation, even with no element limit. */
Test(limits, npy_lying_header_is_refused_before_allocating, .init = save_limits,
     .fini = restore_limits)
{
    size_t len;
    unsigned char *b = npy_make("<f8", "(2147483648, 1024)", 16, &len);
    cr_expect_null(npy_parse(b, len, "liar.npy", DT_F64, 2));
    expect_msg_has("over the limit");
    limits_get()->max_elements = UINT64_MAX;
    cr_expect_null(npy_parse(b, len, "liar.npy", DT_F64, 2));
    cr_expect_eq(error_code(), ERR_INPUT);
    expect_msg_has("data ends early");
    free(b);
}

/* Data that fits the element limit but not the memory one: the converted
 * matrix is refused by big_alloc, naming --max-memory. */
Test(limits, npy_matrix_over_memory_names_the_flag, .init = save_limits, .fini = restore_limits)
{
    size_t len;
    unsigned char *b = npy_make("<f4", "(1000, 256)", 1000 * 256 * 4, &len);
    limits_get()->max_bytes = 512 << 10;
    cr_expect_null(npy_parse(b, len, "big.npy", DT_F64, 2));
    cr_expect_eq(error_code(), ERR_INPUT);
    expect_msg_has("needs 2.0 MiB, more than the 512.0 KiB allowed");
    expect_msg_has("--max-memory");
    free(b);
}

Test(limits, text_table_elements_names_the_flag, .init = save_limits, .fini = restore_limits)
{
    const char *csv = "1,2,3\n4,5,6\n7,8,9\n";
    struct array_opts o = array_opts_default();
    limits_get()->max_elements = 5;
    cr_expect_null(text_parse(csv, strlen(csv), "t.csv", &o, DT_F32));
    cr_expect_eq(error_code(), ERR_INPUT);
    expect_msg_has("over the limit of 5 elements");
    expect_msg_has("--max-elements");
}

/* A very wide first line over many one-character lines must not size the
 * table as (lines x width): k rows of w fields take at least 2*k*w - 1 bytes. */
Test(limits, text_wide_first_line_is_not_quadratic, .init = save_limits, .fini = restore_limits)
{
    size_t w = 20000, lines = 20000, n = 0;
    char *buf = malloc(2 * w + 2 * lines + 2);
    for (size_t i = 0; i < w; i++)
        n += (size_t)sprintf(buf + n, i ? ",1" : "1");
    buf[n++] = '\n';
    for (size_t i = 0; i < lines; i++)
        buf[n++] = '1', buf[n++] = '\n';
    /* 20000 x 20000 doubles would be 3.2 GB; the bound keeps it to 2 rows */
    limits_get()->max_bytes = 1 << 20;
    struct array_opts o = array_opts_default();
    o.header = 0;
    cr_expect_null(text_parse(buf, n, "wide.csv", &o, DT_F32));
    cr_expect_eq(error_code(), ERR_INPUT);
    expect_msg_has("line 2 has 1 fields, expected 20000");
    free(buf);
}

Test(limits, bin_matrix_over_memory_names_the_flag, .init = save_limits, .fini = restore_limits)
{
    size_t len = 4 * 100 * 1000;
    unsigned char *b = calloc(1, len);
    limits_get()->max_bytes = 100 << 10;
    cr_expect_null(bin_parse(b, len, "e.bin", 100, DT_F32, 2));
    expect_msg_has("390.6 KiB, more than the 100.0 KiB allowed");
    expect_msg_has("--max-memory");
    free(b);
}

Test(limits, image_pixels_name_the_flag, .init = save_limits, .fini = restore_limits)
{
    cr_expect_eq(image_check_pixels(10000, 10000, "a.png"), 0);
    cr_expect_lt(image_check_pixels(10000, 10001, "a.png"), 0);
    expect_msg_has("10000x10001 image is more than the limit of 100000000 pixels");
    expect_msg_has("--max-pixels");
    limits_get()->max_pixels = 200000000;
    cr_expect_eq(image_check_pixels(10000, 10001, "a.png"), 0);
    /* 2^32 x 2^32 would overflow a 64-bit product: refused on each side */
    limits_get()->max_pixels = UINT64_MAX;
    cr_expect_lt(image_check_pixels(1ULL << 32, 1ULL << 32, "a.png"), 0);
}

Test(limits, huge_image_headers_are_refused, .init = save_limits, .fini = restore_limits)
{
    struct image *im = image_load(IMG "huge_header.png");
    cr_expect_null(im);
    expect_msg_has("--max-pixels");
    im = image_load(IMG "huge_header.jpg");
    cr_expect_null(im);
    expect_msg_has("--max-pixels");
}

/* A progressive JPEG keeps whole-image coefficient buffers: with a tiny
 * memory limit it is refused, naming the flag, rather than allocated. */
Test(limits, jpeg_memory_names_the_flag, .init = save_limits, .fini = restore_limits)
{
    limits_get()->max_bytes = 256;
    struct image *im = image_load(IMG "progressive.jpg");
    cr_expect_null(im);
    cr_expect_eq(error_code(), ERR_INPUT);
    expect_msg_has("--max-memory");
}

/* fuzz_png found it: a 134-byte PNG whose tEXt chunk header claims 1.5 GB.
 * libpng allocated the claimed length before reading (and failing); now chunk
 * buffers are capped at the file's size. The allocation itself is checked by
 * `make fuzz-regress` (libFuzzer's -malloc_limit_mb); here, with the address
 * space limited to 1 GiB, the file must still be refused as malformed input,
 * not as an out-of-memory failure. (Skipped under AddressSanitizer, which
 * needs its address space unlimited.) */
Test(limits, png_chunk_length_is_not_allocated, .init = save_limits, .fini = restore_limits)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("RLIMIT_AS cannot be used under AddressSanitizer");
#else
    size_t len;
    unsigned char *b = slurp("fuzz/regress/png/oom-text-chunk-length.png", &len);
    struct rlimit rl = {1ul << 30, 1ul << 30};
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
    struct image *im = image_decode(b, len, "chunk.png");
    cr_expect_null(im);
    cr_expect_eq(error_code(), ERR_INPUT, "%s", error_message());
    cr_expect(strstr(error_message(), "memory") == NULL, "%s", error_message());
    free(b);
#endif
}

/* ---- output safety ------------------------------------------------------------ */

Test(limits, output_never_overwrites_an_input)
{
    char dir[] = "/tmp/interp-limits-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *in = path_join(dir, "in.npy"), *link = path_join(dir, "link.npy");
    struct array *a = array_load(FIX "f4_le_C_v1.npy", NULL, DT_F32);
    cr_assert_not_null(a);
    cr_assert_eq(npy_write(in, a), 0, "%s", error_message());
    struct array *b = array_load(in, NULL, DT_F32); /* registers it */
    cr_assert_not_null(b);
    cr_assert_eq(symlink(in, link), 0);
    /* the same file by another name (a symlink) is still the input */
    cr_expect_lt(npy_write(link, b), 0);
    expect_msg_has("overwrite an input");
    cr_expect_lt(csv_write(in, b, NULL), 0);
    /* nothing was left beside it */
    char *tmp = xasprintf("ls -a %s | grep -c tmp >/dev/null", dir);
    cr_expect_neq(system(tmp), 0, "a temporary was left in %s", dir);
    free(tmp);
    char *rm = xasprintf("rm -rf %s", dir);
    cr_expect_eq(system(rm), 0);
    free(rm);
    array_free(a);
    array_free(b);
    free(in);
    free(link);
}

/* ---- what the fuzzers found ----------------------------------------------------- */

/* Runs every file of fuzz/regress/<target>/ through that target's parser:
 * each must give a result or a recorded error, and never crash (the test
 * process, ASan's in `make check-asan`, is the judge). */
typedef int (*regress_fn)(const unsigned char *buf, size_t len);

static int run_npy(const unsigned char *b, size_t n)
{
    int fails = 0;
    for (int nd = 0; nd <= 2; nd++) {
        struct array *a = npy_parse(b, n, "regress.npy", DT_F64, nd);
        fails += !a && error_code() == ERR_OK;
        array_free(a);
    }
    return fails;
}

static int run_text(const unsigned char *b, size_t n)
{
    int fails = 0;
    static const enum array_format fmts[] = {FMT_CSV, FMT_TSV, FMT_TXT};
    struct array_opts o = array_opts_default();
    for (int f = 0; f < 3; f++)
        for (int h = -1; h <= 1; h++) {
            o.format = fmts[f], o.header = h;
            error_clear();
            struct array *a = text_parse(b, n, "regress.csv", &o, DT_F32);
            fails += !a && error_code() == ERR_OK;
            array_free(a);
        }
    for (size_t dim = 0; dim < 17; dim++) {
        error_clear();
        struct array *a = bin_parse(b, n, "regress.bin", dim, DT_F32, 0);
        fails += !a && error_code() == ERR_OK;
        array_free(a);
    }
    return fails;
}

static int run_labels(const unsigned char *b, size_t n)
{
    static char *const classes[] = {"bird", "cat", "dog", "0", "1"};
    error_clear();
    struct labels *l = labels_parse(b, n, "regress.txt", NULL, 0);
    int fails = !l && error_code() == ERR_OK;
    labels_free(l);
    error_clear();
    l = labels_parse(b, n, "regress.txt", classes, 5);
    fails += !l && error_code() == ERR_OK;
    labels_free(l);
    return fails;
}

static int run_image(const unsigned char *b, size_t n)
{
    error_clear();
    struct image *im = image_decode(b, n, "regress.img");
    int fails = !im && error_code() == ERR_OK;
    image_free(im);
    error_clear();
    im = image_decode_jpeg(b, n, "regress.jpg");
    fails += !im && error_code() == ERR_OK;
    image_free(im);
    /* the fuzz targets call these directly, whatever the signature */
    struct image *(*direct[])(const void *, size_t, const char *) = {
        image_decode_webp, image_decode_bmp, image_decode_gif};
    for (size_t k = 0; k < sizeof direct / sizeof *direct; k++) {
        error_clear();
        im = direct[k](b, n, "regress.img");
        fails += !im && error_code() == ERR_OK;
        image_free(im);
    }
    return fails;
}

static void regress_dir(const char *target, regress_fn fn)
{
    char dir[128];
    snprintf(dir, sizeof dir, "fuzz/regress/%s", target);
    DIR *d = opendir(dir);
    if (!d) return; /* nothing found for this target yet */
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *path = path_join(dir, e->d_name);
        size_t len;
        unsigned char *buf = slurp(path, &len);
        error_clear();
        cr_expect_eq(fn(buf, len), 0, "%s: a failure without a recorded reason", path);
        free(buf);
        free(path);
        files++;
    }
    closedir(d);
    cr_log_info("%s: %d regression inputs", target, files);
}

Test(limits, fuzz_regressions_npy, .init = save_limits, .fini = restore_limits)
{
    limits_get()->max_bytes = 256u << 20;
    regress_dir("npy", run_npy);
}
Test(limits, fuzz_regressions_text, .init = save_limits, .fini = restore_limits)
{
    limits_get()->max_bytes = 256u << 20;
    regress_dir("text", run_text);
}
Test(limits, fuzz_regressions_labels, .init = save_limits, .fini = restore_limits)
{
    limits_get()->max_bytes = 256u << 20;
    regress_dir("labels", run_labels);
}
Test(limits, fuzz_regressions_images, .init = save_limits, .fini = restore_limits)
{
    limits_get()->max_pixels = 4000000;
    limits_get()->max_bytes = 256u << 20;
    regress_dir("png", run_image);
    regress_dir("jpeg", run_image);
    regress_dir("webp", run_image);
    regress_dir("bmp", run_image);
    regress_dir("gif", run_image);
}
