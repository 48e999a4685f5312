/* cmd_prototypes.c - `interp prototypes`: per class, the members nearest to
 * the centroid, the farthest, and the medoid, as CSV and JSON, with an image
 * montage when the images behind the rows are known.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../analysis/prototypes.h"
#include "../core/array.h"
#include "../core/dataset.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "../plots/colormap.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp prototypes EMB --labels L [--classes NAMES] [-k K]\n"
    "                         [--metric euclidean|cosine] [--images FILES.txt|DIR]\n"
    "                         [--cell PX] [--no-medoid] [--dim D] [-o OUT] [--json]\n"
    "\n"
    "For each class of L (one label per row of EMB): the centroid, the K members\n"
    "nearest to it (typical examples), the K farthest (atypical, often\n"
    "mislabelled) and the medoid (the member with the least summed distance to\n"
    "the others; exact, O(m^2 D) for a class of m). Ties go to the lower row.\n"
    "Writes into OUT (default prototypes-out/): prototypes.csv (class, name,\n"
    "count, kind, rank, index, distance to the centroid -- for the medoid the\n"
    "sum of its distances to the other members -- and image), prototypes.json,\n"
    "centroids.npy (classes x D; NaN rows for classes without members) and, with\n"
    "--images, montage.png: one row per class, the nearest K (nearest first),\n"
    "a blank column, then the farthest K (farthest first).\n"
    "\n"
    "  -k K            members listed each way (default 3)\n"
    "  --metric M      euclidean (default) or cosine (1 - cosine similarity)\n"
    "  --images F      the image of each row: a text file with one path per line\n"
    "                  (relative paths from the current folder, else from the\n"
    "                  file's folder), or the folder `interp embed` read: its\n"
    "                  images (.png .jpg .jpeg .webp .bmp .gif) in the same order\n"
    "                  (class folders in sorted order, each sorted by name)\n"
    "  --cell PX       montage cell size in pixels (default 96)\n"
    "  --no-medoid     skip the medoid (its cost grows with the square of the\n"
    "                  class size)\n"
    "A class with one member has it as nearest, farthest and medoid.\n";

enum {
    OPT_LABELS = OPT_COMMAND_BASE,
    OPT_CLASSES,
    OPT_METRIC,
    OPT_IMAGES,
    OPT_CELL,
    OPT_NO_MEDOID,
    OPT_DIM,
};

/* ---- the image list ----------------------------------------------------- */

struct paths {
    char **v;
    size_t n, cap;
};

static void paths_free(struct paths *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
}

/* Reads FILES.txt (one path per line, blank lines skipped) or lists DIR (as
 * `interp embed` read it): core/dataset.h. */
static int load_image_list(const char *src, struct paths *out)
{
    struct stat st;
    if (stat(src, &st) != 0) return error_set_errno(ERR_INPUT, src, "cannot read");
    struct dataset ds;
    int rc = S_ISDIR(st.st_mode) ? dataset_scan(src, 0, &ds) : dataset_read_list(src, &ds);
    if (rc) return rc;
    out->v = ds.files, out->n = ds.n; /* taken over */
    ds.files = NULL, ds.n = 0;
    dataset_release(&ds);
    return 0;
}

/* ---- outputs ------------------------------------------------------------- */

/* Class c's name, or its number when L has no names. */
static const char *class_name(const struct labels *l, size_t c, char *buf, size_t len)
{
    return cli_class_name(l->names, l->nclasses, c, buf, len);
}

static void csv_row(FILE *fp, size_t c, const char *name, size_t count, const char *kind,
                    size_t rank, int64_t idx, double dist, const struct paths *img)
{
    fprintf(fp, "%zu,", c);
    cli_csv_field(fp, name);
    fprintf(fp, ",%zu,%s,%zu,%lld,%.17g,", count, kind, rank, (long long)idx, dist);
    if (img && idx >= 0) cli_csv_field(fp, img->v[idx]);
    fputc('\n', fp);
}

static int write_csv(const char *path, const struct prototypes *pr, const struct labels *l,
                     const struct paths *img)
{
    struct outfile of;
    if (outfile_open(&of, path) < 0) return ERR_INPUT;
    fputs("class,name,count,kind,rank,index,distance,image\n", of.fp);
    char buf[32];
    for (size_t c = 0; c < pr->nclasses; c++) {
        const struct proto_class *pc = &pr->cls[c];
        const char *name = class_name(l, c, buf, sizeof buf);
        for (size_t i = 0; i < pc->n_near; i++)
            csv_row(of.fp, c, name, pc->count, "nearest", i + 1, pc->near[i], pc->near_dist[i],
                    img);
        for (size_t i = 0; i < pc->n_far; i++)
            csv_row(of.fp, c, name, pc->count, "farthest", i + 1, pc->far[i], pc->far_dist[i],
                    img);
        if (pc->medoid >= 0)
            csv_row(of.fp, c, name, pc->count, "medoid", 1, pc->medoid, pc->medoid_sum, img);
    }
    return outfile_commit(&of);
}

static void json_members(struct json *j, const char *key, const int64_t *idx,
                         const double *dist, size_t n, const struct paths *img)
{
    json_key(j, key);
    json_array_begin(j);
    for (size_t i = 0; i < n; i++) {
        json_object_begin(j);
        json_key(j, "index");
        json_int(j, idx[i]);
        json_key(j, "distance");
        json_double(j, dist[i]);
        if (img) {
            json_key(j, "image");
            json_string(j, img->v[idx[i]]);
        }
        json_object_end(j);
    }
    json_array_end(j);
}

static void json_body(struct json *j, const struct prototypes *pr, const struct labels *l,
                      const struct paths *img, size_t n)
{
    char buf[32];
    json_key(j, "n");
    json_int(j, (int64_t)n);
    json_key(j, "d");
    json_int(j, (int64_t)pr->d);
    json_key(j, "k");
    json_int(j, (int64_t)pr->k);
    json_key(j, "metric");
    json_string(j, proto_metric_name(pr->metric));
    json_key(j, "classes");
    json_array_begin(j);
    for (size_t c = 0; c < pr->nclasses; c++) {
        const struct proto_class *pc = &pr->cls[c];
        json_object_begin(j);
        json_key(j, "class");
        json_int(j, (int64_t)c);
        json_key(j, "name");
        json_string(j, class_name(l, c, buf, sizeof buf));
        json_key(j, "count");
        json_int(j, (int64_t)pc->count);
        json_members(j, "nearest", pc->near, pc->near_dist, pc->n_near, img);
        json_members(j, "farthest", pc->far, pc->far_dist, pc->n_far, img);
        json_key(j, "medoid");
        if (pc->medoid >= 0) {
            json_object_begin(j);
            json_key(j, "index");
            json_int(j, pc->medoid);
            json_key(j, "distance_sum");
            json_double(j, pc->medoid_sum);
            if (img) {
                json_key(j, "image");
                json_string(j, img->v[pc->medoid]);
            }
            json_object_end(j);
        } else {
            json_null(j);
        }
        json_object_end(j);
    }
    json_array_end(j);
}

static int write_json_file(const char *path, const struct prototypes *pr,
                           const struct labels *l, const struct paths *img, size_t n)
{
    struct outfile of;
    struct json j;
    if (cli_json_file_open(&of, &j, path) < 0) return ERR_INPUT;
    json_body(&j, pr, l, img, n);
    return cli_json_file_commit(&of, &j);
}

/* The centroids, classes x D float64. */
static int write_centroids(const char *path, const struct prototypes *pr)
{
    size_t shape[2] = {pr->nclasses, pr->d};
    struct array *ca = array_new(DT_F64, 2, shape);
    if (!ca) return ERR_FAIL;
    memcpy(ca->data, pr->centroids, pr->nclasses * pr->d * sizeof(double));
    int rc = npy_write(path, ca);
    array_free(ca);
    return rc;
}

/* One row per class: nearest k, a blank column, farthest k (blank cells too
 * when a class has fewer than k members). */
static int write_montage(const char *path, const struct prototypes *pr, const struct labels *l,
                         const struct paths *img, int cell)
{
    size_t rows = pr->nclasses, cols = 2 * pr->k + 1, ncell; /* blank column between */
    if (!mul_ok(rows, cols, &ncell) || ncell > 100000 || cols > 10000)
        return error_set(ERR_INPUT, path, "montage of %zu x %zu cells is too large", rows,
                         cols);
    struct image **cells = xcalloc(ncell, sizeof *cells);
    char **names = xcalloc(rows, sizeof *names);
    char buf[32];
    int rc = 0;
    for (size_t c = 0; c < rows && rc == 0; c++) {
        const struct proto_class *pc = &pr->cls[c];
        names[c] = xstrdup(class_name(l, c, buf, sizeof buf));
        for (size_t i = 0; i < pc->n_near + pc->n_far; i++) {
            int64_t idx = i < pc->n_near ? pc->near[i] : pc->far[i - pc->n_near];
            size_t col = i < pc->n_near ? i : pr->k + 1 + (i - pc->n_near);
            struct image *im = image_load(img->v[idx]);
            if (!im) {
                rc = ERR_INPUT;
                break;
            }
            cells[c * cols + col] = im;
        }
    }
    if (rc == 0)
        rc = montage_write_png(path, (const struct image *const *)cells, (int)rows, (int)cols,
                               cell, names);
    for (size_t i = 0; i < ncell; i++)
        image_free(cells[i]);
    for (size_t c = 0; c < rows; c++)
        free(names[c]);
    free(cells);
    free(names);
    return rc;
}

int cmd_prototypes(int argc, char **argv)
{
    static const struct option opts[] = {{"labels", required_argument, 0, OPT_LABELS},
                                         {"classes", required_argument, 0, OPT_CLASSES},
                                         {"metric", required_argument, 0, OPT_METRIC},
                                         {"images", required_argument, 0, OPT_IMAGES},
                                         {"cell", required_argument, 0, OPT_CELL},
                                         {"no-medoid", no_argument, 0, OPT_NO_MEDOID},
                                         {"dim", required_argument, 0, OPT_DIM},
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct proto_params pp = proto_params_default();
    const char *labels_path = NULL, *classes_path = NULL, *images = NULL;
    size_t dim = 0;
    int cell = 96, ch;
    while ((ch = getopt_long(argc, argv, "k:" COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case 'k': pp.k = (size_t)cli_parse_long("-k", optarg, 1, 100000); break;
        case OPT_LABELS: labels_path = optarg; break;
        case OPT_CLASSES: classes_path = optarg; break;
        case OPT_METRIC: {
            int m = proto_metric_parse(optarg);
            if (m < 0)
                return cli_usage_error(NULL, "--metric: '%s' is not euclidean or cosine",
                                       optarg);
            pp.metric = (enum proto_metric)m;
            break;
        }
        case OPT_IMAGES: images = optarg; break;
        case OPT_CELL: cell = (int)cli_parse_long("--cell", optarg, 8, 1024); break;
        case OPT_NO_MEDOID: pp.medoid = 0; break;
        case OPT_DIM: dim = (size_t)cli_parse_long("--dim", optarg, 1, 1L << 30); break;
        default: cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    if (argc - optind != 1) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    if (!labels_path) return cli_usage_error(NULL, "--labels is required");
    const char *emb_path = argv[optind];
    pp.progress = &c.progress;

    int status = EXIT_OK;
    struct array *x = NULL;
    struct labels *lab = NULL;
    struct prototypes *pr = NULL;
    struct paths img = {0};
    char *out = NULL;
    double t0 = now_seconds();

    struct array_opts ao = array_opts_default();
    ao.dim = dim;
    if (!(x = array_load(emb_path, &ao, DT_F32))) goto fail;
    size_t n = array_rows(x), d = array_cols(x);
    if (!(lab = labels_load(labels_path, classes_path))) goto fail;
    if (labels_check_rows(lab, n, labels_path) < 0) goto fail;
    if (images) {
        if (load_image_list(images, &img) < 0) goto fail;
        if (img.n != n) {
            error_set(ERR_INPUT, images, "%zu images for %zu rows of %s", img.n, n, emb_path);
            goto fail;
        }
    }
    if (!(pr = prototypes_compute(x->data, n, d, lab->id, lab->n, lab->nclasses, &pp))) {
        error_set_path_if_missing(emb_path);
        goto fail;
    }
    if ((status = cli_out_dir_make(&c, "prototypes-out", &out))) goto done;
    {
        const struct paths *ip = images ? &img : NULL;
        char *p = path_join(out, "prototypes.csv");
        if (cli_wrote_result(p, write_csv(p, pr, lab, ip)) < 0) goto fail;
        p = path_join(out, "prototypes.json");
        if (cli_wrote_result(p, write_json_file(p, pr, lab, ip, n)) < 0) goto fail;
        p = path_join(out, "centroids.npy");
        if (cli_wrote_result(p, write_centroids(p, pr)) < 0) goto fail;
        if (images) {
            p = path_join(out, "montage.png");
            if (cli_wrote_result(p, write_montage(p, pr, lab, &img, cell)) < 0) goto fail;
        }
    }
    for (size_t k = 0; k < pr->nclasses; k++)
        if (pr->cls[k].count == 0) {
            char buf[32];
            cli_note(&c, "class %s has no members", class_name(lab, k, buf, sizeof buf));
        }

    if (c.json) {
        struct json j;
        cli_json_begin(&j, "prototypes");
        json_key(&j, "input");
        json_string(&j, emb_path);
        json_body(&j, pr, lab, images ? &img : NULL, n);
        json_key(&j, "seconds");
        json_double(&j, now_seconds() - t0);
        cli_json_end(&j);
    } else {
        cli_print_paths();
    }
    goto done;
fail:
    status = cli_fail();
done:
    array_free(x);
    labels_free(lab);
    prototypes_free(pr);
    paths_free(&img);
    free(out);
    return cli_finish(status);
}
