/* explain.c - what the explanation commands (gradcam, occlusion, saliency)
 * share: from the command line to the first map (model, class choice, output
 * folder, the JSON on stdout, a --shard part's images and manifest), writing
 * each map's files and record, and the batch pipeline of gradcam and
 * saliency (images decoded on one thread and maps written on another while
 * the model computes the batch between).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../analysis/cam.h"
#include "../core/array.h"
#include "../core/dataset.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/model.h"
#include "../core/outfile.h"
#include "../core/shard.h"
#include "../core/util.h"
#include "../plots/colormap.h"
#include "cli.h"

/* ---------------------------------------------------------------- set-up */
struct explain_setup explain_setup_default(const struct cli_common *c, const char *command,
                                           const char *cmap)
{
    struct explain_setup s = {0};
    s.c = c;
    s.command = command;
    s.class_arg = "pred";
    s.cmap = cmap;
    s.alpha = 0.5;
    s.spec = EXPLAIN_PRED;
    return s;
}

void explain_option(struct explain_setup *s, struct cli_common *c, struct model_prep *prep,
                    int ch, const char *arg, char **argv, const struct option *opts)
{
    if (ch == OPT_OUTPUTS)
        s->outputs_arg = arg;
    else if (ch == OPT_EXPLAIN_CLASS)
        s->class_arg = arg;
    else if (ch == OPT_EXPLAIN_CMAP)
        s->cmap = arg;
    else if (ch == OPT_EXPLAIN_ALPHA)
        s->alpha = cli_parse_double("--alpha", arg, 0, 1);
    else if (ch == OPT_EXPLAIN_CLASSES)
        s->classes_arg = arg;
    else if (!cli_prep_option(prep, ch, arg) && !cli_on_error_option(&s->skips, ch, arg) &&
             !cli_shard_option(&s->shard, ch, arg))
        cli_common_option(c, ch, arg, argv, opts);
}

struct model *explain_model_load(struct explain_setup *s, int nargs, char **args, int *status)
{
    *status = EXIT_USAGE;
    if (nargs < 2) {
        fputs(s->c->usage, stderr);
        explain_setup_release(s);
        return NULL;
    }
    if (!(s->cm = explain_colormap(s->cmap))) {
        explain_setup_release(s);
        return NULL;
    }
    s->model_path = args[0];
    s->images = args + 1;
    s->nimg = nargs - 1;
    struct model *m = model_load(s->model_path);
    *status = m ? EXIT_OK : cli_fail();
    if (!m) explain_setup_release(s);
    return m;
}

/* --shard: the images of shard K (dataset_shard's rule over the list: units
 * of s->unit images, unit j to shard j mod N), the manifest to write, and
 * whether the part is done. */
static int shard_open(struct explain_setup *s, const char *deflt)
{
    const struct cli_shard *sh = &s->shard;
    struct dataset ds = {.files = s->images, .n = (size_t)s->nimg};
    size_t n, unit = s->unit > 0 ? (size_t)s->unit : 1;
    int64_t *rows = dataset_shard(&ds, sh->k, sh->n, unit, &n);
    if (!rows) return cli_fail();
    s->run = xmalloc(sizeof(int) * (n ? n : 1));
    for (size_t t = 0; t < n; t++)
        s->run[t] = (int)rows[t];
    s->nrun = (int)n;
    free(rows);
    char *dd = cli_shard_dir_default(sh, deflt);
    s->dir = cli_out_dir(s->c, dd);
    free(dd);
    if (!s->dir) return EXIT_USAGE;
    char hex[SHA256_HEX_LEN + 1];
    s->mf = xcalloc(1, sizeof *s->mf);
    shard_manifest_init(s->mf, s->command, (struct shard){sh->k, sh->n}, (size_t)s->nimg, n,
                        unit);
    if (shard_manifest_add_input(s->mf, "model", s->model_path)) return cli_fail();
    cli_shard_list_digest(s->images, (size_t)s->nimg, hex);
    shard_manifest_add_input_digest(s->mf, "images", "IMG...", hex);
    shard_manifest_add_param(s->mf, "options", "%s", s->settings ? s->settings : "");
    int st = cli_shard_begin(s->c, sh, s->dir, s->mf, s->command);
    if (st < 0) s->done = 1, s->nrun = 0;
    return st < 0 ? EXIT_OK : st;
}

int explain_open(struct explain_setup *s, const char *method, const char *layer,
                 const char *score_used, int nclass)
{
    int status;
    if (s->classes_arg &&
        (status = explain_names_load(s->classes_arg, nclass, &s->names, &s->nnames)))
        return status;
    if ((status = explain_class_parse(s->class_arg, nclass, s->names, s->nnames, &s->spec)))
        return status;
    int outputs = EXPLAIN_OUT_ALL;
    if (s->outputs_arg && (status = explain_outputs_parse(s->outputs_arg, &outputs)))
        return status;
    char deflt[64];
    snprintf(deflt, sizeof deflt, "%s-out", s->command);
    if (s->shard.force && !s->shard.on)
        return cli_usage_error(NULL, "--force goes with --shard");
    if (s->shard.on) {
        if ((status = shard_open(s, deflt)) || s->done) return status;
    } else {
        s->run = xmalloc(sizeof(int) * (size_t)(s->nimg ? s->nimg : 1));
        for (int i = 0; i < s->nimg; i++)
            s->run[i] = i;
        s->nrun = s->nimg;
        if (!(s->dir = cli_out_dir(s->c, deflt))) return EXIT_USAGE;
    }
    s->out = (struct explain_out){.c = s->c,
                                  .dir = s->dir,
                                  .method = method,
                                  .cm = s->cm,
                                  .alpha = s->alpha,
                                  .names = s->names,
                                  .nnames = s->nnames,
                                  .unique_stems = explain_stems_unique(s->images, s->nimg),
                                  .outputs = outputs};
    if (s->c->json) {
        cli_json_begin(&s->j, s->command);
        json_key(&s->j, "model");
        json_string(&s->j, s->model_path);
        if (layer) {
            json_key(&s->j, "layer");
            json_string(&s->j, layer);
        }
        json_key(&s->j, "score_used");
        json_string(&s->j, score_used);
        json_key(&s->j, "maps");
        json_array_begin(&s->j);
        s->out.j = &s->j;
    }
    return EXIT_OK;
}

struct image *explain_image_load(struct explain_setup *s, int i, const struct model *m,
                                 const struct model_prep *prep, float *x, struct cam *cam,
                                 int *status)
{
    const char *path = s->images[i];
    struct image *im = image_load(path);
    *status = EXIT_OK;
    if (im && (model_preprocess(m, im, prep, x) || (cam && cam_forward(cam, x)))) {
        image_free(im);
        im = NULL;
    }
    if (!im && dataset_skip(&s->skips, (size_t)i, path)) *status = cli_fail();
    return im;
}

void explain_setup_release(struct explain_setup *s)
{
    dataset_skips_release(&s->skips);
    free(s->dir);
    if (s->names) class_names_free(s->names, s->nnames);
    s->dir = NULL, s->names = NULL, s->nnames = 0;
    free(s->settings);
    free(s->run);
    s->settings = NULL, s->run = NULL, s->nrun = 0;
    shard_manifest_release(s->mf);
    free(s->mf);
    s->mf = NULL;
}

/* ---------------------------------------------------------------- options */
int explain_outputs_parse(const char *arg, int *mask)
{
    static const char *const names[] = {"npy", "heatmap", "overlay", "json"};
    int m = 0;
    for (const char *p = arg;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int k = 0;
        while (k < 4 && !(strlen(names[k]) == len && !strncmp(names[k], p, len)))
            k++;
        if (k == 4)
            return cli_usage_error(NULL,
                                   "--outputs: '%.*s' is not one of npy, heatmap, overlay, "
                                   "json (a comma list)",
                                   (int)len, p);
        m |= 1 << k;
        if (!e) break;
        p = e + 1;
    }
    *mask = m;
    return 0;
}

int explain_class_parse(const char *spec, int nclass, char **names, size_t nnames, int *cls)
{
    if (!strcmp(spec, "pred")) return *cls = EXPLAIN_PRED, 0;
    if (!strcmp(spec, "all")) return *cls = EXPLAIN_ALL, 0;
    char *end;
    long v = strtol(spec, &end, 10);
    if (end != spec && !*end) {
        if (v < 0 || v >= nclass)
            return cli_usage_error(
                NULL, "--class: class %ld out of range (the model has %d classes: 0..%d)", v,
                nclass, nclass - 1);
        return *cls = (int)v, 0;
    }
    if (!names)
        return cli_usage_error(
            NULL,
            "--class: '%s' is not pred, all or a class index (class names need --classes)",
            spec);
    for (size_t k = 0; k < nnames; k++)
        if (!strcmp(names[k], spec)) return *cls = (int)k, 0;
    return cli_usage_error(NULL, "--class: no class named '%s'", spec);
}

int explain_class_list(int spec, int pred, int nclass, int *out)
{
    if (spec == EXPLAIN_ALL) {
        for (int k = 0; k < nclass; k++)
            out[k] = k;
        return nclass;
    }
    out[0] = spec == EXPLAIN_PRED ? pred : spec;
    return 1;
}

int explain_names_load(const char *arg, int nclass, char ***names, size_t *n)
{
    char **v;
    size_t k = 0;
    if (access(arg, F_OK) == 0 || !strchr(arg, ',')) {
        if (!(v = class_names_load(arg, &k))) return cli_fail();
    } else {
        size_t cap = 1;
        for (const char *s = arg; *s; s++)
            cap += *s == ',';
        v = xcalloc(cap, sizeof *v);
        for (const char *s = arg;; k++) {
            const char *e = strchr(s, ',');
            v[k] = e ? xasprintf("%.*s", (int)(e - s), s) : xstrdup(s);
            if (!e) {
                k++;
                break;
            }
            s = e + 1;
        }
    }
    if (k != (size_t)nclass) {
        class_names_free(v, k);
        return cli_usage_error(arg, "%zu class names for a model with %d classes", k, nclass);
    }
    *names = v, *n = k;
    return 0;
}

int explain_layer(const struct model *m, const char *model_path, const char *name)
{
    if (!name) {
        int t = model_default_cam_layer(m);
        if (t < 0)
            cli_usage_error(model_path, "no 4-D layer before the spatial dimensions collapse; "
                                        "name one with --layer");
        return t;
    }
    int t = model_tensor_find(m, name);
    if (t >= 0) {
        if (cam_layer_check(m, t)) {
            error_set_path_if_missing(model_path);
            cli_fail();
            return -1;
        }
        return t;
    }
    /* name the candidates: the default, then the 4-D activations in order */
    char list[1024] = "";
    size_t len = 0;
    int shown = 0, more = 0, deflt = model_default_cam_layer(m);
    for (int i = 0; i < model_tensor_count(m); i++) {
        int64_t d[MODEL_MAX_DIMS];
        if (!model_tensor_is_activation(m, i) || model_tensor_shape(m, i, d) != 4 ||
            i == model_input(m) || i == deflt)
            continue;
        if (len + strlen(model_tensor_name(m, i)) + 8 > sizeof list) {
            more++;
            continue;
        }
        len += (size_t)snprintf(list + len, sizeof list - len, "%s'%s'", shown ? ", " : "",
                                model_tensor_name(m, i));
        shown++;
    }
    char dbuf[300] = "";
    if (deflt >= 0)
        snprintf(dbuf, sizeof dbuf, "the default is '%s'; ", model_tensor_name(m, deflt));
    cli_usage_error(model_path, "--layer: no tensor named '%s'; %s4-D layers: %s%s", name, dbuf,
                    shown ? list : "none", more ? ", ..." : "");
    return -1;
}

const struct colormap *explain_colormap(const char *name)
{
    const struct colormap *cm = colormap_find(name);
    if (cm) return cm;
    char list[256] = "";
    size_t len = 0;
    for (const char *const *n = colormap_names(); *n; n++)
        len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s",
                                len ? ", " : "", *n);
    cli_usage_error(NULL, "--colormap: unknown colour map '%s' (known: %s)", name, list);
    return NULL;
}

/* ---------------------------------------------------------------- writing a map */
/* The file name without folders and extension (owned). */
static char *stem_of(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    return xasprintf("%.*s", (int)n, b);
}

int explain_stems_unique(char **images, int n)
{
    int ok = 1;
    char **s = xmalloc(sizeof(char *) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        s[i] = stem_of(images[i]);
    for (int i = 0; i < n && ok; i++)
        for (int k = 0; k < i && ok; k++)
            ok = strcmp(s[i], s[k]) != 0;
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
    return ok;
}

/* A class name made safe for a file name. */
static char *class_tag(const struct explain_out *o, int cls)
{
    if (!o->names) return xasprintf("c%d", cls);
    char *t = xasprintf("c%d-%s", cls, o->names[cls]);
    for (char *p = t; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            *p = '_';
    return t;
}

static const char *flag_name(int flag)
{
    static const char *const n[] = {NULL, "all_zero", "constant", "non_finite"};
    return flag >= 0 && flag < 4 ? n[flag] : "unknown";
}

struct record {
    const struct explain_out *o;
    const char *img;
    int cls, pred, lh, lw, ih, iw;
    const char *lname;
    double vmin, vmax;
    const struct cam_info *info;
    const char *score_what;
    const char *files[5], *keys[5];
    int nfiles;
    void (*extra)(struct json *j, void *ctx);
    void *ctx;
};

static void record_write(struct json *j, const struct record *r)
{
    json_object_begin(j);
    json_key(j, "image");
    json_string(j, r->img);
    json_key(j, "method");
    json_string(j, r->o->method);
    json_key(j, "class");
    json_int(j, r->cls);
    if (r->o->names) {
        json_key(j, "name");
        json_string(j, r->o->names[r->cls]);
    }
    json_key(j, "predicted");
    json_int(j, r->pred);
    json_key(j, "probability");
    json_double(j, r->info->prob);
    if (r->score_what) {
        json_key(j, "score");
        json_double(j, r->info->score);
        json_key(j, "score_used");
        json_string(j, r->score_what);
    }
    if (r->lname) {
        json_key(j, "layer");
        json_string(j, r->lname);
        json_key(j, "layer_size");
        json_array_begin(j);
        json_int(j, r->lh);
        json_int(j, r->lw);
        json_array_end(j);
    }
    json_key(j, "input_size");
    json_array_begin(j);
    json_int(j, r->ih);
    json_int(j, r->iw);
    json_array_end(j);
    json_key(j, "map_min");
    json_double(j, r->info->min);
    json_key(j, "map_max");
    json_double(j, r->info->max);
    json_key(j, "colorbar");
    json_object_begin(j);
    json_key(j, "colormap");
    json_string(j, r->o->cm->name);
    json_key(j, "min");
    json_double(j, r->vmin);
    json_key(j, "max");
    json_double(j, r->vmax);
    json_object_end(j);
    json_key(j, "flag");
    json_string(j, flag_name(r->info->flag));
    json_key(j, "reason");
    json_string(j, r->info->reason);
    if (r->extra) r->extra(j, r->ctx);
    json_key(j, "files");
    json_object_begin(j);
    for (int i = 0; i < r->nfiles; i++) {
        json_key(j, r->keys[i]);
        json_string(j, r->files[i]);
    }
    json_object_end(j);
    json_object_end(j);
}

static int write_plane(const char *path, const float *map, int h, int w)
{
    size_t shape[2] = {(size_t)h, (size_t)w};
    struct array *a = array_new(DT_F32, 2, shape);
    if (!a) return ERR_FAIL;
    memcpy(a->data, map, sizeof(float) * (size_t)h * w);
    int rc = npy_write(path, a);
    array_free(a);
    return rc;
}

char *explain_path(const struct explain_out *o, const char *img_path, int img_index, int cls,
                   const char *suffix)
{
    char *stem = stem_of(img_path), *tag = class_tag(o, cls);
    char *name = o->unique_stems
                     ? xasprintf("%s.%s.%s.%s", stem, tag, o->method, suffix)
                     : xasprintf("%04d-%s.%s.%s.%s", img_index, stem, tag, o->method, suffix);
    char *path = path_join(o->dir, name);
    free(name);
    free(tag);
    free(stem);
    return path;
}

int explain_write(struct explain_out *o, const char *img_path, int img_index,
                  const struct image *orig, int cls, int pred, const float *lmap, int lh,
                  int lw, const char *lname, const float *imap, int ih, int iw, double vmin,
                  double vmax, const struct cam_info *info, const char *score_what,
                  void (*extra)(struct json *j, void *ctx), void *ctx)
{
    char *stem = stem_of(img_path), *tag = class_tag(o, cls);
    char *base = o->unique_stems ? xasprintf("%s.%s.%s", stem, tag, o->method)
                                 : xasprintf("%04d-%s.%s.%s", img_index, stem, tag, o->method);
    char *name[5] = {0}, *path[5] = {0};
    struct record r = {o,    img_path, cls,  pred,       lh,  lw,  ih, iw,    lname,
                       vmin, vmax,     info, score_what, {0}, {0}, 0,  extra, ctx};
    int rc = 0, k = 0, want = o->outputs ? o->outputs : EXPLAIN_OUT_ALL;
    /* the heatmap: at the input resolution, enlarged bilinearly for small inputs */
    int f = ih >= 256 || iw >= 256 ? 1 : (256 + (ih > iw ? ih : iw) - 1) / (ih > iw ? ih : iw);
    float *big = NULL;
    if (lmap && (want & EXPLAIN_OUT_NPY)) {
        name[k] = xasprintf("%s.layer.npy", base);
        path[k] = path_join(o->dir, name[k]);
        if ((rc = write_plane(path[k], lmap, lh, lw))) goto done;
        r.keys[k] = "layer_npy", r.files[k] = path[k], k++;
    }
    if (want & EXPLAIN_OUT_NPY) {
        name[k] = xasprintf("%s.input.npy", base);
        path[k] = path_join(o->dir, name[k]);
        if ((rc = write_plane(path[k], imap, ih, iw))) goto done;
        r.keys[k] = "input_npy", r.files[k] = path[k], k++;
    }
    if (want & EXPLAIN_OUT_HEATMAP) {
        name[k] = xasprintf("%s.heatmap.png", base);
        path[k] = path_join(o->dir, name[k]);
        big = xmalloc(sizeof(float) * (size_t)ih * f * iw * f);
        cam_upsample(imap, ih, iw, big, ih * f, iw * f);
        if ((rc = heatmap_write_png(path[k], big, ih * f, iw * f, o->cm, vmin, vmax, 1)))
            goto done;
        r.keys[k] = "heatmap_png", r.files[k] = path[k], k++;
    }
    if (want & EXPLAIN_OUT_OVERLAY) {
        name[k] = xasprintf("%s.overlay.png", base);
        path[k] = path_join(o->dir, name[k]);
        if ((rc = overlay_write_png(path[k], orig, imap, ih, iw, o->cm, vmin, vmax, o->alpha)))
            goto done;
        r.keys[k] = "overlay_png", r.files[k] = path[k], k++;
    }
    r.nfiles = k;
    if (want & EXPLAIN_OUT_JSON) {
        name[k] = xasprintf("%s.json", base);
        path[k] = path_join(o->dir, name[k]);
        r.keys[k] = "json", r.files[k] = path[k], r.nfiles = k + 1;
        struct outfile of;
        if ((rc = outfile_open(&of, path[k]))) goto done;
        struct json jf;
        json_init(&jf, of.fp);
        record_write(&jf, &r);
        json_finish(&jf);
        if ((rc = outfile_commit(&of))) goto done;
        k++;
    }
    for (int i = 0; i < k; i++)
        cli_wrote(path[i]);
    if (o->j) record_write(o->j, &r);
    if (info->flag)
        cli_note(o->c, "%s: class %d: the %s map is %s: %s", img_path, cls, o->method,
                 flag_name(info->flag), info->reason);
done:
    free(big);
    for (int i = 0; i < 5; i++)
        free(name[i]), free(path[i]);
    free(base);
    free(tag);
    free(stem);
    return rc ? cli_fail() : 0;
}

/* --shard: the part's rows.npy (the images it explained: those dealt to it
 * less those left out), its --on-error skip record and, last, the manifest;
 * every other file written is the part's own. */
static int shard_finish(struct explain_setup *s, char **txt)
{
    size_t len = strlen(s->dir);
    for (size_t i = 0; i < cli_wrote_count(); i++) {
        const char *w = cli_wrote_path(i);
        BUG_ON(strncmp(w, s->dir, len) || w[len] != '/');
        size_t wl = strlen(w);
        int json = wl > 5 && !strcmp(w + wl - 5, ".json"); /* it names the maps by path */
        if (shard_manifest_add_file(s->mf, s->dir, w + len + 1,
                                    json ? SHARD_COPY_PATHS : SHARD_COPY, NULL))
            return cli_fail();
    }
    unsigned char *left = xcalloc((size_t)(s->nimg ? s->nimg : 1), 1);
    for (size_t i = 0; i < s->skips.n; i++)
        left[s->skips.rows[i]] = 1;
    size_t shape[1] = {(size_t)s->nrun - s->skips.n};
    struct array *a = array_new(DT_I64, 1, shape);
    char *p = path_join(s->dir, "rows.npy");
    int rc = a ? 0 : -1;
    for (int t = 0, o = 0; a && t < s->nrun; t++)
        if (!left[s->run[t]]) ((int64_t *)a->data)[o++] = s->run[t];
    free(left);
    if (!rc) rc = npy_write(p, a);
    if (!rc) rc = shard_manifest_add_file(s->mf, s->dir, "rows.npy", SHARD_INDEX, "int64");
    array_free(a);
    if (!rc) cli_wrote(p);
    free(p);
    if (rc) return cli_fail();
    s->mf->count = shape[0];
    int status = cli_shard_skips_finish(s->c, &s->skips, (size_t)s->nrun, s->dir, s->mf, txt);
    return status ? status : cli_shard_finish(s->mf, s->dir);
}

int explain_finish(struct explain_setup *s)
{
    if (s->done) return EXIT_OK;
    char *txt = NULL;
    dataset_skips_sort(&s->skips); /* in list order (shards: their units') */
    int status = s->shard.on
                     ? shard_finish(s, &txt)
                     : cli_skips_finish(s->c, &s->skips, (size_t)s->nimg, s->dir, NULL, &txt);
    if (s->out.j) {               /* closed even when nothing could be read: it is on stdout */
        json_array_end(s->out.j); /* "maps" */
        cli_json_skips(s->out.j, &s->skips, txt);
        cli_json_end(s->out.j);
    } else if (status == EXIT_OK) {
        cli_print_paths();
    }
    free(txt);
    return status;
}

/* ---------------------------------------------------------------- batches */
/* Three batches in flight: one decoding (the loader thread), one computing
 * (the caller, with the model run's own threads), one writing (the writer
 * thread). Each batch moves FREE -> LOADED -> COMPUTED -> FREE in order. */
enum { PIPE_SLOTS = 3 };
enum pipe_state { SLOT_FREE, SLOT_LOADED, SLOT_COMPUTED };

struct pipe_slot {
    enum pipe_state state;
    int index;  /* the batch number it holds */
    int end;    /* the position in s->run after its images */
    int nwrite; /* images to write (set by the caller) */
    int last;   /* nothing follows: the end, or an error */
    struct explain_batch b;
};

struct pipe {
    struct explain_setup *s;
    const struct model *m;
    const struct model_prep *prep;
    const struct explain_batches *eb;
    int nbatch, keep_images;
    size_t item;
    struct pipe_slot slot[PIPE_SLOTS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;         /* the writer failed: everyone stops */
    int write_status; /* the writer's exit status (0: fine) */
};

static void pipe_wait(struct pipe *p, struct pipe_slot *sl, enum pipe_state want)
{
    while (sl->state != want && !p->stop)
        pthread_cond_wait(&p->cv, &p->mu);
}

static void pipe_set(struct pipe *p, struct pipe_slot *sl, enum pipe_state st)
{
    pthread_mutex_lock(&p->mu);
    sl->state = st;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Decodes and preprocesses each batch's images into a free slot; the first
 * failure is kept (code, path, message) for the caller to report after the
 * images before it, and ends the loading. */
static void *pipe_loader(void *arg)
{
    struct pipe *p = arg;
    for (int bi = 0; bi < p->nbatch; bi++) {
        struct pipe_slot *sl = &p->slot[bi % PIPE_SLOTS];
        pthread_mutex_lock(&p->mu);
        pipe_wait(p, sl, SLOT_FREE);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        struct explain_batch *b = &sl->b;
        sl->index = bi;
        int t0 = bi * p->eb->batch;
        int cnt = p->s->nrun - t0 < p->eb->batch ? p->s->nrun - t0 : p->eb->batch;
        sl->end = t0 + cnt;
        b->n = 0;
        for (int t = t0; t < t0 + cnt; t++) {
            int i = p->s->run[t];
            const char *path = p->s->images[i];
            struct image *im = image_load(path);
            if (!im || model_preprocess(p->m, im, p->prep, b->x + (size_t)b->n * p->item)) {
                image_free(im);
                if (!dataset_skip(&p->s->skips, (size_t)i, path)) continue; /* --on-error skip */
                b->err = error_code() ? error_code() : ERR_FAIL;
                b->err_path = error_path() ? xstrdup(error_path()) : NULL;
                b->err_msg = xstrdup(error_message());
                break;
            }
            if (p->keep_images)
                b->im[b->n] = im;
            else
                image_free(im);
            b->img[b->n++] = i;
        }
        pipe_set(p, sl, SLOT_LOADED);
        if (b->err) break;
    }
    return NULL;
}

/* Writes each computed batch's maps in order, image by image and class by
 * class, as the one-image loop did; frees the slot for the loader. */
static void *pipe_writer(void *arg)
{
    struct pipe *p = arg;
    const struct explain_batches *eb = p->eb;
    size_t lhw = (size_t)eb->lh * eb->lw, ihw = (size_t)eb->ih * eb->iw;
    for (int bi = 0; bi < p->nbatch; bi++) {
        struct pipe_slot *sl = &p->slot[bi % PIPE_SLOTS];
        pthread_mutex_lock(&p->mu);
        pipe_wait(p, sl, SLOT_COMPUTED);
        pthread_mutex_unlock(&p->mu);
        struct explain_batch *b = &sl->b;
        int st = 0;
        for (int i = 0; i < sl->nwrite && !st; i++) {
            int img = b->img[i];
            for (int k = 0; k < b->nout && !st; k++) {
                size_t j = (size_t)k * b->n + i; /* slot-major: class slot k, image i */
                const struct cam_info *info = &b->info[j];
                if (b->cls[j] < 0) continue;
                st = explain_write(&p->s->out, p->s->images[img], img, b->im[i], b->cls[j],
                                   b->pred[i], eb->lh ? b->lmap + j * lhw : NULL, eb->lh,
                                   eb->lw, eb->lname, b->imap + j * ihw, eb->ih, eb->iw, 0.0,
                                   info->max > 0 ? info->max : 0.0, info, eb->score_what, NULL,
                                   NULL);
            }
            progress_update(&p->s->c->progress, p->s->command,
                            (size_t)(sl->index * eb->batch + i + 1), (size_t)p->s->nrun, NULL);
        }
        if (!st && sl->nwrite > 0) /* images left out count as done */
            progress_update(&p->s->c->progress, p->s->command, (size_t)sl->end,
                            (size_t)p->s->nrun, NULL);
        for (int i = 0; i < b->n; i++) {
            image_free(b->im[i]);
            b->im[i] = NULL;
        }
        int last = sl->last;
        pthread_mutex_lock(&p->mu);
        if (st) p->write_status = st, p->stop = 1;
        sl->state = SLOT_FREE;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (st || last) break;
    }
    return NULL;
}

int explain_run_batches(struct explain_setup *s, const struct model *m,
                        const struct model_prep *prep, const struct explain_batches *eb)
{
    struct pipe p = {.s = s, .m = m, .prep = prep, .eb = eb};
    p.nbatch = (s->nrun + eb->batch - 1) / eb->batch;
    p.item = model_tensor_item(m, model_input(m));
    int want = s->out.outputs ? s->out.outputs : EXPLAIN_OUT_ALL;
    p.keep_images = (want & EXPLAIN_OUT_OVERLAY) != 0;
    size_t B = (size_t)eb->batch, nout = (size_t)eb->nout;
    for (int k = 0; k < PIPE_SLOTS; k++) {
        struct explain_batch *b = &p.slot[k].b;
        b->nout = eb->nout;
        b->x = xmalloc(sizeof(float) * p.item * B);
        b->img = xmalloc(sizeof(int) * B);
        b->im = xcalloc(B, sizeof *b->im);
        b->pred = xmalloc(sizeof(int) * B);
        b->cls = xmalloc(sizeof(int) * B * nout);
        b->lmap = eb->lh ? xmalloc(sizeof(float) * (size_t)eb->lh * eb->lw * B * nout) : NULL;
        b->imap = xmalloc(sizeof(float) * (size_t)eb->ih * eb->iw * B * nout);
        b->info = xcalloc(B * nout, sizeof *b->info);
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t loader, writer;
    int have_loader = !pthread_create(&loader, NULL, pipe_loader, &p);
    int have_writer = have_loader && !pthread_create(&writer, NULL, pipe_writer, &p);
    int status = EXIT_OK, load_err = 0;
    struct explain_batch *failed = NULL;
    if (!have_writer) {
        pthread_mutex_lock(&p.mu);
        p.stop = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        error_set(ERR_FAIL, NULL, "cannot start the loading and writing threads");
        status = cli_fail();
    }
    for (int bi = 0; bi < p.nbatch && have_writer; bi++) {
        struct pipe_slot *sl = &p.slot[bi % PIPE_SLOTS];
        pthread_mutex_lock(&p.mu);
        pipe_wait(&p, sl, SLOT_LOADED);
        int stop = p.stop && sl->state != SLOT_LOADED;
        pthread_mutex_unlock(&p.mu);
        if (stop) break;
        struct explain_batch *b = &sl->b;
        int nw = b->n;
        if (nw > 0) {
            int st = eb->fn(eb->ctx, b);
            if (st) status = st, nw = 0;
        }
        if (b->err) load_err = 1, failed = b;
        sl->nwrite = nw;
        sl->last = status != EXIT_OK || load_err || bi == p.nbatch - 1;
        pipe_set(&p, sl, SLOT_COMPUTED);
        if (sl->last) break;
    }
    pthread_mutex_lock(&p.mu);
    p.stop |= status != EXIT_OK || load_err; /* the loader may wait for a slot */
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    if (have_writer) pthread_join(writer, NULL);
    if (have_loader) pthread_join(loader, NULL);
    if (status == EXIT_OK && p.write_status) status = p.write_status;
    if (status == EXIT_OK && load_err) { /* reported after the images before it */
        if (failed->err_path)
            error_set(failed->err, failed->err_path, "%s", failed->err_msg);
        else
            error_set(failed->err, NULL, "%s", failed->err_msg);
        status = cli_fail();
    }
    for (int k = 0; k < PIPE_SLOTS; k++) {
        struct explain_batch *b = &p.slot[k].b;
        for (int i = 0; i < eb->batch; i++)
            image_free(b->im[i]);
        free(b->x), free(b->img), free(b->im), free(b->pred), free(b->cls), free(b->lmap), free(b->imap),
            free(b->info), free(b->err_path), free(b->err_msg);
    }
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return status;
}

int explain_batch_classes(struct explain_batch *b, const struct cam *cam, int spec)
{
    int K = cam->score.nclass, *lst = xmalloc(sizeof(int) * (size_t)K);
    for (int i = 0; i < b->n; i++) {
        b->pred[i] = cam_pred_item(cam, i);
        int nc = explain_class_list(spec, b->pred[i], K, lst);
        for (int k = 0; k < b->nout; k++)
            b->cls[(size_t)k * b->n + i] = k < nc ? lst[k] : -1;
    }
    free(lst);
    return 0;
}

struct cam *explain_cam_new(const struct model *m, int layer, int flags, int nimg, int *batch)
{
    /* a Grad-CAM run keeps little above its layer; saliency keeps every
     * activation and gradient (a few MB an image at 128 x 128) */
    int want = (flags & CAM_LAYER_ONLY) && layer != model_input(m) ? 32 : 8;
    if (want > nimg) want = nimg;
    if (want < 1) want = 1;
    for (;;) {
        struct cam *c = cam_new_batch(m, layer, want, flags);
        if (c || want == 1 || error_code() != ERR_INPUT) {
            *batch = want;
            return c;
        }
        want /= 2; /* over --max-memory: fewer at a time */
    }
}
