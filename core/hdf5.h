/* hdf5.h - interp's own reader of the HDF5 subset Keras files use: groups,
 * string attributes and numeric datasets, read from a buffer in memory
 * without libhdf5.
 *
 *     struct h5file *f = h5_open(buf, len, "model.weights.h5");
 *     if (!f) return -1;              // ERR_INPUT: "HDF5: ..." reason
 *     int ndim;
 *     uint64_t dims[H5_MAX_RANK];
 *     if (h5_dataset_shape(f, "layers/dense/vars/0", &ndim, dims) == 0) {
 *         float *w = malloc(dims[0] * dims[1] * sizeof *w);
 *         h5_dataset_read_f32(f, "layers/dense/vars/0", w, dims[0] * dims[1]);
 *     }
 *     h5_close(f);
 *
 * What it reads: superblocks 0-3 (after a user block too), object headers v1
 * and v2, symbol-table groups, compact and dense (fractal heap) link and
 * attribute storage, integer and IEEE float datasets (f16/f32/f64, either
 * byte order), fixed and variable-length strings, compact, contiguous and
 * chunked layouts (v1 B-tree, single chunk, implicit, fixed array,
 * extensible array and v2 B-tree chunk indexes) with the deflate, shuffle
 * and fletcher32 filters. The checksums (Jenkins lookup3) of version 2
 * metadata are verified, except those of fractal heap blocks and in
 * fuzzing builds. Everything else (compound types,
 * references, external or virtual storage, other filters, the
 * shared-message table) is refused with a message naming it.
 *
 * Paths are '/'-separated names from the root ("" or "/" is the root), e.g.
 * "model_weights/dense/dense/kernel:0". Every failure records ERR_INPUT with
 * a reason "HDF5: 'OBJECT': what is wrong" and the file name as its path.
 * The buffer must stay alive and unchanged until h5_close. Hard links may
 * make cycles (a group may contain its own ancestor): a recursive walker
 * must bound its depth or remember what it visited (h5_object_addr).
 */
#ifndef INTERP_HDF5_H
#define INTERP_HDF5_H

#include <stddef.h>
#include <stdint.h>

#define H5_MAX_RANK 8 /* dataset ranks h5_dataset_shape reports */

struct h5file;

/* Opens the HDF5 file in buf[0..len) (the superblock may follow a user
 * block of 512, 1024, 2048, ... bytes). Keeps pointers into buf and a copy of
 * name (used in messages). NULL with ERR_INPUT when the buffer is not HDF5
 * or its superblock or root group is malformed. Free with h5_close. */
struct h5file *h5_open(const void *buf, size_t len, const char *name);

/* Releases f; NULL is a no-op. */
void h5_close(struct h5file *f);

enum h5_kind {
    H5_NONE = 0,    /* no such object */
    H5_GROUP = 1,   /* a group */
    H5_DATASET = 2, /* a dataset */
    H5_OTHER = 3,   /* a committed datatype, or anything else */
};

/* What the object at path is: an enum h5_kind, H5_NONE with no error
 * recorded when the object is absent (a name is missing, a name before the
 * last is not a group, or a soft link dangles); or ERR_INPUT (negative, the
 * reason recorded) when the file is malformed on the way, a soft link loops,
 * or the path goes through an external link. Soft links are followed. */
int h5_kind(struct h5file *f, const char *path);

/* The children of the group at path, in the order h5py lists them: by
 * creation order where the group tracks it, by name (byte order) otherwise.
 * *names is an array of *n NUL-terminated strings, owned by the caller (free
 * each, then the array; NULL when *n is 0). 0, or ERR_INPUT when path is not
 * a group or the group is malformed. */
int h5_list(struct h5file *f, const char *path, char ***names, size_t *n);

/* The attribute names of the object (group or dataset) at path, in the order
 * h5py lists them (creation order where tracked, by name otherwise);
 * ownership as h5_list. 0 or ERR_INPUT. */
int h5_attr_names(struct h5file *f, const char *path, char ***names, size_t *n);

/* The string attribute attr of the object at path: a fixed-length string
 * (numpy 'S', null-terminated, null- or space-padded) or a variable-length
 * one, ASCII or UTF-8 (bytes as stored), a scalar or an array of one
 * element. Trailing padding is stripped. *out is NUL-terminated, owned by
 * the caller (free()). 0, or ERR_INPUT when absent, not a string, or
 * malformed. */
int h5_attr_string(struct h5file *f, const char *path, const char *attr, char **out);

/* The array-of-strings attribute attr (e.g. Keras 2 'layer_names' and
 * 'weight_names'): any rank, flattened in C order; a scalar gives one
 * string. Strings as h5_attr_string; *out is an array of *n strings owned by
 * the caller (free each, then the array; NULL when *n is 0). 0 or ERR_INPUT. */
int h5_attr_strings(struct h5file *f, const char *path, const char *attr, char ***out,
                    size_t *n);

/* The shape of the dataset at path: *ndim in 0..H5_MAX_RANK (0 = scalar) and
 * dims[0..*ndim). 0, or ERR_INPUT when it is not a dataset, has no data space
 * (a null dataspace, h5py.Empty) or more than H5_MAX_RANK dimensions. */
int h5_dataset_shape(struct h5file *f, const char *path, int *ndim, uint64_t dims[H5_MAX_RANK]);

/* Reads the numeric dataset at path (IEEE f16/f32/f64, integers of 1-8
 * bytes, signed or not, either byte order; enums by their integer values)
 * converted to float, in C order, into out[0..count). count must equal the
 * number of elements. Chunks never written read as the fill value (zero when
 * the file sets none). 0, or ERR_INPUT on a count mismatch, a non-numeric
 * type, a filter other than deflate/shuffle/fletcher32, a size over
 * limits_get()->max_bytes or max_elements, or a malformed file. */
int h5_dataset_read_f32(struct h5file *f, const char *path, float *out, size_t count);

/* The address of the object header at path (a stable identity: two paths
 * name the same object when their addresses are equal), for walkers that
 * must not loop through hard-link cycles. 0, or ERR_INPUT when absent or
 * malformed. */
int h5_object_addr(struct h5file *f, const char *path, uint64_t *addr);

#endif
