/* explain.c - what the explanation commands (gradcam, occlusion, saliency)
 * share: from the command line to the first map (model, class choice, output
 * folder, the JSON on stdout), and writing each map's files and record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../analysis/cam.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/model.h"
#include "../core/outfile.h"
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

struct model *explain_model_load(struct explain_setup *s, int nargs, char **args, int *status)
{
    *status = EXIT_USAGE;
    if (nargs < 2) {
        fputs(s->c->usage, stderr);
        return NULL;
    }
    if (!(s->cm = explain_colormap(s->cmap))) return NULL;
    s->model_path = args[0];
    s->images = args + 1;
    s->nimg = nargs - 1;
    struct model *m = model_load(s->model_path);
    *status = m ? EXIT_OK : cli_fail();
    return m;
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
    char deflt[64];
    snprintf(deflt, sizeof deflt, "%s-out", s->command);
    if (!(s->dir = cli_out_dir(s->c, deflt))) return EXIT_USAGE;
    s->out = (struct explain_out){.c = s->c,
                                  .dir = s->dir,
                                  .method = method,
                                  .cm = s->cm,
                                  .alpha = s->alpha,
                                  .names = s->names,
                                  .nnames = s->nnames,
                                  .unique_stems = explain_stems_unique(s->images, s->nimg)};
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

struct image *explain_image_load(const struct model *m, const struct model_prep *prep,
                                 const char *path, float *x, struct cam *cam)
{
    struct image *im = image_load(path);
    if (im && (model_preprocess(m, im, prep, x) || (cam && cam_forward(cam, x)))) {
        image_free(im);
        im = NULL;
    }
    if (!im) error_set_path_if_missing(path);
    return im;
}

void explain_setup_release(struct explain_setup *s)
{
    free(s->dir);
    if (s->names) class_names_free(s->names, s->nnames);
    s->dir = NULL, s->names = NULL, s->nnames = 0;
}

/* ---------------------------------------------------------------- options */
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
    int rc = 0, k = 0;
    /* the heatmap: at the input resolution, enlarged bilinearly for small inputs */
    int f = ih >= 256 || iw >= 256 ? 1 : (256 + (ih > iw ? ih : iw) - 1) / (ih > iw ? ih : iw);
    float *big = NULL;
    if (lmap) {
        name[k] = xasprintf("%s.layer.npy", base);
        path[k] = path_join(o->dir, name[k]);
        if ((rc = write_plane(path[k], lmap, lh, lw))) goto done;
        r.keys[k] = "layer_npy", r.files[k] = path[k], k++;
    }
    name[k] = xasprintf("%s.input.npy", base);
    path[k] = path_join(o->dir, name[k]);
    if ((rc = write_plane(path[k], imap, ih, iw))) goto done;
    r.keys[k] = "input_npy", r.files[k] = path[k], k++;

    name[k] = xasprintf("%s.heatmap.png", base);
    path[k] = path_join(o->dir, name[k]);
    big = xmalloc(sizeof(float) * (size_t)ih * f * iw * f);
    cam_upsample(imap, ih, iw, big, ih * f, iw * f);
    if ((rc = heatmap_write_png(path[k], big, ih * f, iw * f, o->cm, vmin, vmax, 1))) goto done;
    r.keys[k] = "heatmap_png", r.files[k] = path[k], k++;

    name[k] = xasprintf("%s.overlay.png", base);
    path[k] = path_join(o->dir, name[k]);
    if ((rc = overlay_write_png(path[k], orig, imap, ih, iw, o->cm, vmin, vmax, o->alpha)))
        goto done;
    r.keys[k] = "overlay_png", r.files[k] = path[k], k++;

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

void explain_finish(struct explain_out *o)
{
    if (o->j) {
        json_array_end(o->j); /* "maps" */
        cli_json_end(o->j);
    } else {
        cli_print_paths();
    }
}
