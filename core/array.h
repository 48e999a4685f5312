/* array.h - matrices and label vectors read from .npy, .bin, .csv/.tsv, text.
 *
 * Every reader converts to one of interp's working dtypes (float32 or float64
 * matrices, int32/int64 vectors), row-major (C order), whatever the file held.
 * Formats are recognised by content first (the .npy magic), extension second.
 *
 *     struct array_opts o = array_opts_default();
 *     struct array *emb = array_load("emb.npy", &o, DT_F32);    // N x D
 *     if (!emb) ... error_message() ...
 *     float *row = (float *)emb->data + i * emb->shape[1];
 *     array_free(emb);
 */
#ifndef INTERP_ARRAY_H
#define INTERP_ARRAY_H

#include <stddef.h>
#include <stdint.h>

enum dtype { DT_F32, DT_F64, DT_I32, DT_I64, DT_U8 };

#define ARRAY_MAX_DIMS 4

struct array {
    enum dtype dtype;
    int ndim;                     /* 1..ARRAY_MAX_DIMS */
    size_t shape[ARRAY_MAX_DIMS]; /* unused dims are 1 */
    void *data;                   /* C order, owned */
};

size_t dtype_size(enum dtype t);
const char *dtype_name(enum dtype t); /* "float32", ... */

/* New zero-filled array (big_calloc: input-sized, checked). NULL + error on
 * refusal. ndim 1..4; shape[] of length ndim. */
struct array *array_new(enum dtype t, int ndim, const size_t *shape);
void array_free(struct array *a);          /* NULL is a no-op */
size_t array_count(const struct array *a); /* product of the shape */
/* Rows and columns of a matrix view: 1-D of n = n x 1. */
size_t array_rows(const struct array *a);
size_t array_cols(const struct array *a);

/* FMT_TXT: text with the delimiter detected from the first data line: comma
 * if it has one, else tab if it has tabs and no spaces, else runs of blanks
 * (what np.savetxt writes by default). */
enum array_format { FMT_AUTO, FMT_NPY, FMT_BIN, FMT_CSV, FMT_TSV, FMT_TXT };

struct array_opts {
    enum array_format format; /* FMT_AUTO: content, then extension */
    size_t dim;               /* .bin: columns per row (required for .bin) */
    int header;               /* csv/tsv: -1 auto (first row non-numeric), 0 no, 1 yes */
    int want_ndim;            /* 2: a 1-D array is refused (ERR_INPUT), 1: 2-D n x 1 or 1 x n
                                 accepted as 1-D, 0: anything up to 4-D */
};
struct array_opts array_opts_default(void); /* FMT_AUTO, dim 0, header -1, want_ndim 2 */

/* Reads `path` ("-" = all of stdin, read into memory) and converts to `want`
 * (DT_F32/DT_F64 for matrices, DT_I32/DT_I64 for integer vectors, DT_U8;
 * converting non-integral floats, or ints out of range, to ints is an error;
 * f8 -> f32 rounds to nearest). The format: the .npy magic first, then
 * opts->format, then the extension (.npy .bin .csv .tsv .txt; stdin without
 * the magic: text, delimiter detected). Registers path as an input
 * (outfile.h). Returns an owned array or NULL with ERR_INPUT (missing file,
 * malformed, wrong shape; NaN is allowed here) or ERR_FAIL (I/O); the error's
 * path is `path` ("<stdin>" for "-"). opts may be NULL for defaults.
 * Shapes with a 0 dimension are returned as they are (callers check). */
struct array *array_load(const char *path, const struct array_opts *opts, enum dtype want);

/* Reads a .npy from memory (for fuzzing and stdin); `name` is used in errors.
 * Format 1.0/2.0/3.0, '<' '>' '|' '=' byte orders, f2 f4 f8 i1-i8 u1-u8 b1,
 * C or Fortran order (returned in C order). want/want_ndim as array_load. */
struct array *npy_parse(const void *buf, size_t len, const char *name, enum dtype want,
                        int want_ndim);

/* Reads CSV/TSV/whitespace text from memory: opts->format FMT_CSV (','),
 * FMT_TSV (tab), anything else: detected. opts->header as in array_opts.
 * Blank lines and lines starting with '#' are skipped; fields are trimmed;
 * "nan", "inf", "-inf" parse. Ragged rows and non-numbers are ERR_INPUT
 * naming the line and column. The result is rows x columns. */
struct array *text_parse(const void *buf, size_t len, const char *name,
                         const struct array_opts *opts, enum dtype want);

/* Reads raw little-endian float32 from memory as (len / (4*dim)) x dim;
 * dim 0, or len not a multiple of 4*dim, is ERR_INPUT. */
struct array *bin_parse(const void *buf, size_t len, const char *name, size_t dim,
                        enum dtype want, int want_ndim);

/* A buffer of elements as a file stores them: what the readers convert. */
enum raw_kind { RAW_FLOAT, RAW_INT, RAW_UINT, RAW_BOOL };
struct raw_view {
    const unsigned char *data; /* product(shape) elements, no alignment needed */
    enum raw_kind kind;
    size_t itemsize; /* floats 2, 4, 8; ints 1, 2, 4, 8; bool 1 */
    int big_endian;  /* elements stored most significant byte first */
    int fortran;     /* column-major (first index fastest) */
    int ndim;        /* 0..ARRAY_MAX_DIMS */
    size_t shape[ARRAY_MAX_DIMS];
};
/* Converts a raw buffer to an owned C-order array of `want`, after checking
 * ndim against want_ndim (see array_opts; 0-D is always refused). Errors as
 * array_load, with `name` as the error path. */
struct array *array_from_raw(const struct raw_view *v, const char *name, enum dtype want,
                             int want_ndim);

/* Formats a shape as Python prints a tuple: "(3,)", "(2, 3)", "()". Returns buf. */
char *array_shape_str(const size_t *shape, int ndim, char *buf, size_t len);

/* A whole input file in memory: mapped when it is a regular file, read
 * otherwise ("-" = stdin, read to the end). data may be NULL when len is 0. */
struct filebuf {
    const unsigned char *data;
    size_t len;
    void *map_;  /* private: mmap base, or NULL */
    void *heap_; /* private: malloc'd copy, or NULL */
};
/* 0, or ERR_INPUT (missing, a directory, over limits_get()->max_bytes) /
 * ERR_FAIL (read error) with `path` recorded. Release with filebuf_release. */
int filebuf_load(struct filebuf *fb, const char *path);
void filebuf_release(struct filebuf *fb); /* safe on a zeroed or released one */
/* The name for messages: "<stdin>" for "-", else path. */
const char *input_name(const char *path);

/* Writes a .npy (format 1.0, little-endian, C order) atomically. f32/f64/
 * i32/i64/u8, any ndim. */
int npy_write(const char *path, const struct array *a);
/* Writes a 2-D (or 1-D, one value per line) array as CSV with an optional
 * header line (column names, comma separated, may be NULL). float32 with
 * %.9g, float64 with %.17g (both round-trip exactly), NaN as "nan". Atomic. */
int csv_write(const char *path, const struct array *a, const char *header);

/* Labels: one int per row. From .npy ints (any int dtype, or integral floats),
 * or a text file with one label per line: all ints, or class names (names get
 * ids in order of first appearance, unless `classes` gives the list). */
struct labels {
    size_t n;
    int32_t *id;     /* n ids, >= 0 */
    size_t nclasses; /* max id + 1, or the number of names */
    char **names;    /* nclasses names (owned), or NULL when unknown */
};

/* classes_path: optional file with one class name per line (may be NULL).
 * When given, text labels must be among those names, ints must be < count,
 * and names are that list. Without it, ints give nclasses = max + 1 and no
 * names. Negative ids, non-integral floats, unknown names, a blank line
 * between labels, no labels at all: ERR_INPUT naming the row/line. Registers
 * the paths as inputs. "-" reads stdin. Free with labels_free. */
struct labels *labels_load(const char *path, const char *classes_path);
/* The same on text in memory (or .npy bytes, by the magic); classes may be
 * NULL (nclasses 0). The names are copied. */
struct labels *labels_parse(const void *buf, size_t len, const char *name, char *const *classes,
                            size_t nclasses);
/* Reads a class-name list (one per line, surrounding blanks trimmed, blank
 * lines skipped; a line starting with a double quote is a quoted name as
 * interp writes classes.txt, core/namelist.h). Sets *n. Duplicate names or no names: ERR_INPUT.
 * Returns an owned array of owned strings (class_names_free), NULL on error. */
char **class_names_load(const char *path, size_t *n);
void class_names_free(char **names, size_t n);
void labels_free(struct labels *l);
/* 0, or ERR_INPUT "N labels for M rows" (path recorded) unless l->n == rows. */
int labels_check_rows(const struct labels *l, size_t rows, const char *path);

#endif
