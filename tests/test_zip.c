/* test_zip.c - the zip reader against Python's zipfile (fixtures/make_zipjson.py):
 * every entry of every valid archive byte for byte, each hostile archive
 * refused with its reason, the size cap, and truncated or corrupted copies
 * read without a crash. Archives are loaded into buffers of their exact size,
 * so a read past the end shows under AddressSanitizer (make check-asan).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../core/error.h"
#include "../core/util.h"
#include "../core/zip.h"

#define DIR "fixtures/zip/"

static unsigned char *slurp(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, DIR "%s", name);
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(n ? (size_t)n : 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n, "short read of %s", path);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

/* An exact-size copy of buf[0..len) (so ASan sees any read past len). */
static unsigned char *exact_copy(const unsigned char *buf, size_t len)
{
    unsigned char *c = malloc(len ? len : 1);
    memcpy(c, buf, len);
    return c;
}

#define expect_msg_has(needle)                                                                 \
    cr_expect(strstr(error_message(), needle) != NULL, "message lacks \"%s\": %s", needle,     \
              error_message())

/* ---- valid archives against zipfile's reading ------------------------------ */

struct ref_entry {
    size_t size;
    unsigned long crc;
    char name[256];
};

/* X.list: "bin FILE" then "size crc name" lines; returns the entry count. */
static size_t read_list(const char *arch, struct ref_entry *ents, size_t cap, char *bin,
                        size_t bin_len)
{
    char path[256], line[512];
    snprintf(path, sizeof path, DIR "%.*s.list", (int)(strlen(arch) - 4), arch);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp, "cannot open %s", path);
    cr_assert(fgets(line, sizeof line, fp) && !strncmp(line, "bin ", 4), "%s: no bin line",
              path);
    line[strcspn(line, "\n")] = 0;
    snprintf(bin, bin_len, "%.63s", line + 4);
    size_t n = 0;
    while (fgets(line, sizeof line, fp)) {
        cr_assert_lt(n, cap);
        line[strcspn(line, "\n")] = 0;
        int off = 0;
        cr_assert_eq(sscanf(line, "%zu %lx %n", &ents[n].size, &ents[n].crc, &off), 2,
                     "%s: bad line %s", path, line);
        snprintf(ents[n].name, sizeof ents[n].name, "%s", line + off);
        n++;
    }
    fclose(fp);
    return n;
}

static void check_archive(const char *arch)
{
    struct ref_entry ents[16];
    char bin[64];
    size_t n = read_list(arch, ents, 16, bin, sizeof bin);
    size_t len, blen = 0;
    unsigned char *buf = slurp(arch, &len);
    unsigned char *want = strcmp(bin, "-") ? slurp(bin, &blen) : NULL;
    struct zip *z = zip_open(buf, len, arch);
    cr_assert_not_null(z, "%s: %s", arch, error_message());
    cr_assert_eq(zip_count(z), n, "%s: %zu entries, zipfile has %zu", arch, zip_count(z), n);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(zip_name(z, i), ents[i].name, "%s: entry %zu", arch, i);
        cr_expect_eq(zip_find(z, ents[i].name), (long)i, "%s: zip_find(%s)", arch,
                     ents[i].name);
        cr_expect_eq(zip_size(z, i), ents[i].size);
        void *data;
        size_t dlen;
        /* the exact size is allowed ... */
        int rc = zip_read(z, i, ents[i].size, &data, &dlen);
        cr_assert_eq(rc, 0, "%s: %s: %s", arch, ents[i].name, error_message());
        cr_assert_eq(dlen, ents[i].size, "%s: %s: %zu bytes, zipfile read %zu", arch,
                     ents[i].name, dlen, ents[i].size);
        cr_expect_eq(((unsigned char *)data)[dlen], 0, "no NUL after the data");
        cr_expect_eq(crc32_z(0, data, dlen), ents[i].crc, "%s: %s: CRC", arch, ents[i].name);
        if (want) {
            cr_assert_leq(at + dlen, blen);
            size_t k = 0;
            while (k < dlen && ((unsigned char *)data)[k] == want[at + k])
                k++;
            cr_expect_eq(k, dlen, "%s: %s: first difference from zipfile at byte %zu", arch,
                         ents[i].name, k);
            at += dlen;
        }
        free(data);
        /* ... one byte less is not */
        if (ents[i].size) {
            cr_expect_eq(zip_read(z, i, ents[i].size - 1, &data, &dlen), ERR_INPUT);
            cr_expect_null(data);
            cr_expect_eq(dlen, 0);
            expect_msg_has("more than the");
        }
    }
    if (want) cr_expect_eq(at, blen, "%s: %zu of the %zu reference bytes read", arch, at, blen);
    cr_expect_eq(zip_find(z, "no such entry"), -1);
    cr_expect_eq(zip_find(z, ""), -1);
    zip_free(z);
    free(buf);
    free(want);
}

Test(zip, stored)
{
    check_archive("stored.zip");
}
Test(zip, deflated)
{
    check_archive("deflated.zip");
}
Test(zip, stored_and_deflated_mixed)
{
    check_archive("mixed.zip");
}
Test(zip, comment_of_65535_bytes)
{
    check_archive("comment_max.zip");
}
/* Python's zipfile takes the signature inside the comment for the end record. */
Test(zip, comment_holding_the_end_signature)
{
    check_archive("comment_sig.zip");
}
Test(zip, data_descriptors)
{
    check_archive("descriptor.zip");
    check_archive("descriptor_stored.zip");
}
Test(zip, zip64_local_fields)
{
    check_archive("zip64_local.zip");
    check_archive("zip64_descriptor.zip");
}
Test(zip, zip64_end_records)
{
    check_archive("zip64_end.zip");
}
Test(zip, empty_archive)
{
    check_archive("empty.zip");
}
Test(zip, keras_layout)
{
    check_archive("keras_like.zip");
}
Test(zip, bomb_read_in_full_when_allowed)
{
    check_archive("bomb.zip");
}

/* ---- hostile archives ------------------------------------------------------- */

struct hostile {
    const char *file;
    const char *entry; /* NULL: zip_open refuses; else zip_read of this entry does */
    size_t max_len;
    const char *why;
};

static const struct hostile hostile[] = {
    {"bomb.zip", "zeros", 1 << 20,
     "entry 'zeros' declares 10485760 bytes (10.0 MiB) uncompressed, more than the 1.0 MiB "
     "allowed"},
    {"bomb_lying.zip", "zeros", (size_t)1 << 30,
     "entry 'zeros' inflates to more than its declared 1000 bytes"},
    {"bomb_claims.zip", "zeros", (size_t)2 << 30, "more than deflate can produce (1032:1)"},
    {"overlap_quoted.zip", NULL, 0, "entries '0' and '1' overlap"},
    {"overlap_stored.zip", NULL, 0, "entries 'a' and 'b' overlap"},
    {"overlap_same.zip", NULL, 0, "entry 'b': its local header names it 'a'"},
    {"trav_dotdot.zip", NULL, 0, "entry '../x' escapes the archive"},
    {"trav_abs.zip", NULL, 0, "entry '/etc/x' escapes the archive"},
    {"trav_inner.zip", NULL, 0, "entry 'a/../../x' escapes the archive"},
    {"trav_end.zip", NULL, 0, "entry 'a/..' escapes the archive"},
    {"trav_backslash.zip", NULL, 0, "entry '..\\x' escapes the archive"},
    {"trav_nul.zip", NULL, 0, "entry 'a\\x00b' escapes the archive"},
    {"dup.zip", NULL, 0, "two entries are named 'same.txt'"},
    {"trunc_end.zip", NULL, 0, "no end of central directory record"},
    {"trunc_half.zip", NULL, 0, "no end of central directory record"},
    {"trunc_middle.zip", NULL, 0, "does not end where the end record begins"},
    {"trunc_empty.zip", NULL, 0, "not a zip archive (0 bytes"},
    {"not_zip.zip", NULL, 0, "not a zip archive, or truncated"},
    {"cd_count.zip", NULL, 0, "the central directory ends inside entry 8"},
    {"cd_offset.zip", NULL, 0, "does not end where the end record begins"},
    {"local_offset.zip", NULL, 0, "entry 'dir/': no local header at offset"},
    {"data_past_end.zip", NULL, 0, "run past the data area"},
    {"badcrc_stored.zip", "s.txt", 1 << 20, "entry 's.txt' fails its CRC-32 check"},
    {"badcrc_deflate.zip", "hello.txt", 1 << 20, "entry 'hello.txt' fails its CRC-32 check"},
    {"corrupt_deflate.zip", "p.json", 1 << 20, "entry 'p.json': corrupt deflate data"},
    {"encrypted.zip", "hello.txt", 1 << 20, "entry 'hello.txt' is encrypted"},
    {"bzip2.zip", "b.txt", 1 << 20, "uses compression method 12 (bzip2)"},
    {"lzma.zip", "l.txt", 1 << 20, "uses compression method 14 (LZMA)"},
    {"local_method.zip", NULL, 0, "its local header says method 0, the central directory 8"},
    {"local_size.zip", NULL, 0, "entry 'hello.txt': its local header (CRC-32"},
    {"local_name.zip", NULL, 0, "entry 'hello.txt': its local header names it 'hellO.txt'"},
    {"descriptor_bad.zip", NULL, 0,
     "entry 'a.txt': its data descriptor is missing or disagrees"},
};

Test(zip, hostile_archives_are_refused_with_the_reason)
{
    for (size_t t = 0; t < sizeof hostile / sizeof *hostile; t++) {
        const struct hostile *h = &hostile[t];
        size_t len;
        unsigned char *buf = slurp(h->file, &len);
        error_clear();
        struct zip *z = zip_open(buf, len, h->file);
        if (!h->entry) {
            cr_expect_null(z, "%s: opened", h->file);
        } else {
            cr_assert_not_null(z, "%s: %s", h->file, error_message());
            long i = zip_find(z, h->entry);
            cr_assert_geq(i, 0, "%s: no entry %s", h->file, h->entry);
            void *data = (void *)1;
            size_t dlen = 1;
            cr_expect_eq(zip_read(z, (size_t)i, h->max_len, &data, &dlen), ERR_INPUT,
                         "%s: read", h->file);
            cr_expect_null(data);
            cr_expect_eq(dlen, 0);
        }
        cr_expect_eq(error_code(), ERR_INPUT, "%s", h->file);
        cr_expect(!strncmp(error_message(), "zip: ", 5), "%s: %s", h->file, error_message());
        cr_expect(strstr(error_message(), h->why) != NULL, "%s: message lacks \"%s\": %s",
                  h->file, h->why, error_message());
        cr_expect_str_eq(error_path() ? error_path() : "(null)", h->file);
        zip_free(z);
        free(buf);
    }
}

/* A zip inside a zip: each level is its own zip_open, capped by its own max_len. */
Test(zip, nested_bomb_is_capped_at_each_level)
{
    size_t len;
    unsigned char *buf = slurp("bomb_nested.zip", &len);
    struct zip *outer = zip_open(buf, len, "bomb_nested.zip");
    cr_assert_not_null(outer, "%s", error_message());
    cr_assert_eq(zip_count(outer), 2);
    for (size_t i = 0; i < 2; i++) {
        void *inner_buf;
        size_t inner_len;
        cr_assert_eq(zip_read(outer, i, 1 << 20, &inner_buf, &inner_len), 0, "%s",
                     error_message());
        struct zip *inner = zip_open(inner_buf, inner_len, zip_name(outer, i));
        cr_assert_not_null(inner, "%s", error_message());
        void *data;
        size_t dlen;
        cr_expect_eq(zip_read(inner, 0, 1 << 20, &data, &dlen), ERR_INPUT);
        expect_msg_has("more than the 1.0 MiB allowed");
        zip_free(inner);
        free(inner_buf);
    }
    zip_free(outer);
    free(buf);
}

/* The cap holds against limits_get()->max_bytes too, before allocating. */
Test(zip, entry_over_the_memory_limit_names_the_flag)
{
    struct limits saved = *limits_get();
    limits_get()->max_bytes = 1 << 20;
    size_t len;
    unsigned char *buf = slurp("bomb.zip", &len);
    struct zip *z = zip_open(buf, len, "bomb.zip");
    cr_assert_not_null(z);
    void *data;
    size_t dlen;
    cr_expect_eq(zip_read(z, 0, (size_t)1 << 30, &data, &dlen), ERR_INPUT);
    expect_msg_has("--max-memory");
    zip_free(z);
    free(buf);
    *limits_get() = saved;
}

/* ---- end records made here -------------------------------------------------- */

static void put16(unsigned char *p, unsigned v)
{
    p[0] = v & 0xff, p[1] = v >> 8 & 0xff;
}
static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xffff), put16(p + 2, v >> 16);
}
static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v), put32(p + 4, (uint32_t)(v >> 32));
}

static void expect_refused(const unsigned char *buf, size_t len, const char *why)
{
    unsigned char *c = exact_copy(buf, len);
    struct zip *z = zip_open(c, len, "made.zip");
    cr_expect_null(z, "opened (expected: %s)", why);
    expect_msg_has(why);
    zip_free(z);
    free(c);
}

Test(zip, too_many_entries)
{
    unsigned char end[22] = {'P', 'K', 5, 6};
    put16(end + 8, 65535);
    put16(end + 10, 65535);
    expect_refused(end, sizeof end,
                   "the central directory (0 bytes) is too small for 65535 entries");
    /* ZIP64 end record claiming 70,000 and then 2^40 entries */
    unsigned char z[56 + 20 + 22] = {0};
    unsigned char *e64 = z, *loc = z + 56, *e = z + 76;
    memcpy(e64, "PK\x06\x06", 4);
    put64(e64 + 4, 44);
    put64(e64 + 24, 70000);
    put64(e64 + 32, 70000);
    memcpy(loc, "PK\x06\x07", 4);
    put64(loc + 8, 0);
    put32(loc + 16, 1);
    memcpy(e, "PK\x05\x06", 4);
    put16(e + 8, 0xffff);
    put16(e + 10, 0xffff);
    put32(e + 12, 0xffffffff);
    put32(e + 16, 0xffffffff);
    expect_refused(z, sizeof z, "70000 entries, more than the 65536 allowed");
    put64(e64 + 24, (uint64_t)1 << 40);
    put64(e64 + 32, (uint64_t)1 << 40);
    expect_refused(z, sizeof z, "1099511627776 entries, more than the 65536 allowed");
    /* the classic record contradicting the ZIP64 one */
    put64(e64 + 24, 3);
    put64(e64 + 32, 3);
    put16(e + 10, 2);
    expect_refused(z, sizeof z, "the end record and the ZIP64 end record disagree");
    /* a locator pointing past itself, or at no record */
    put16(e + 10, 0xffff);
    put64(loc + 8, 1000);
    expect_refused(z, sizeof z, "no ZIP64 end record at offset 1000");
    put64(loc + 8, 0);
    put64(e64 + 4, 45);
    expect_refused(z, sizeof z, "the ZIP64 end record at offset 0 says 45 bytes");
    /* multi-disk */
    put64(e64 + 4, 44);
    put32(loc + 16, 2);
    expect_refused(z, sizeof z, "multi-disk archives are not supported");
}

/* ---- damaged copies never crash ---------------------------------------------- */

/* Opens buf and reads every entry (capped at 1 MiB); either works or fails
 * with a recorded reason. Returns 1 when all entries read. */
static int open_and_read_all(const unsigned char *buf, size_t len)
{
    unsigned char *c = exact_copy(buf, len);
    error_clear();
    struct zip *z = zip_open(c, len, "damaged.zip");
    int ok = z != NULL;
    if (!z) cr_assert(error_code() == ERR_INPUT && *error_message(), "no reason recorded");
    for (size_t i = 0; z && i < zip_count(z); i++) {
        void *data;
        size_t dlen;
        error_clear();
        if (zip_read(z, i, 1 << 20, &data, &dlen) == 0) {
            cr_assert_eq(((unsigned char *)data)[dlen], 0);
            free(data);
        } else {
            cr_assert(error_code() != ERR_OK && *error_message(), "no reason recorded");
            ok = 0;
        }
    }
    zip_free(z);
    free(c);
    return ok;
}

Test(zip, every_truncation_is_refused)
{
    const char *files[] = {"deflated.zip", "zip64_end.zip", "descriptor.zip", "keras_like.zip"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t len;
        unsigned char *buf = slurp(files[f], &len);
        /* every length near the end (the end records), a sample elsewhere */
        for (size_t n = 0; n < len; n += n + 300 < len ? 97 : 1)
            cr_expect_eq(open_and_read_all(buf, n), 0, "%s cut to %zu bytes was read", files[f],
                         n);
        free(buf);
    }
}

Test(zip, every_flipped_byte_is_read_or_refused)
{
    const char *files[] = {"keras_like.zip", "descriptor.zip"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t len;
        unsigned char *good = slurp(files[f], &len);
        int read_ok = 0;
        for (size_t i = 0; i < len; i += 1 + i / 256) {
            unsigned char *c = exact_copy(good, len);
            c[i] ^= 0xff;
            read_ok += open_and_read_all(c, len);
            free(c);
        }
        /* a flipped timestamp or attribute byte leaves a valid archive */
        cr_expect_gt(read_ok, 0, "%s", files[f]);
        cr_expect_eq(open_and_read_all(good, len), 1);
        free(good);
    }
}
