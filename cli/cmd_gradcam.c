/* cmd_gradcam.c - `interp gradcam MODEL IMG...`: Grad-CAM and Grad-CAM++
 * maps per image and class; also the helpers the explanation commands share
 * (class selection, --layer, --colormap, writing maps, heatmaps, overlays
 * and JSON records).
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

/* ---------------------------------------------------------------- shared helpers */
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
        json_array_end(o->j);
        cli_json_paths(o->j);
        json_object_end(o->j);
        json_finish(o->j);
    } else {
        cli_print_paths();
    }
}

/* ---------------------------------------------------------------- gradcam */
static const char USAGE[] =
    "usage: interp gradcam MODEL IMG... [--layer NAME] [--class pred|INDEX|NAME|all]\n"
    "                      [--method gradcam|gradcam++] [--colormap MAP] [--alpha A]\n"
    "                      [--classes NAMES] [--scale S] [--mean M] [--std S] [-o DIR] "
    "[--json]\n"
    "\n"
    "Grad-CAM (or Grad-CAM++) of each image: where the model looked for a class.\n"
    "The class score is the logit before any final Softmax/Sigmoid; weights are the\n"
    "spatial mean of its gradient at --layer (default: the last 4-D activation before\n"
    "the spatial dimensions collapse, see `interp info`); map = ReLU(sum_k w_k A_k),\n"
    "upsampled bilinearly. Per image and class, in DIR (default gradcam-out):\n"
    "  STEM.cK.METHOD.layer.npy   the raw map at the layer's resolution\n"
    "  STEM.cK.METHOD.input.npy   the map at the model input's resolution\n"
    "  STEM.cK.METHOD.heatmap.png colour heatmap with a colour bar\n"
    "  STEM.cK.METHOD.overlay.png the heat over the original image, at its size\n"
    "  STEM.cK.METHOD.json        class, probability, layer, map min/max, scale, flag\n"
    "--class: pred (default), all, an index, or a name from --classes (a file or a\n"
    "comma list). --colormap: jet (default), viridis, inferno, magma, turbo.\n"
    "--alpha: heat opacity in the overlay (default 0.5). An all-zero or constant map\n"
    "is written, flagged in the JSON with its likely reason, and noted on stderr.\n";

enum { OPT_LAYER = OPT_COMMAND_BASE, OPT_CLASS, OPT_METHOD, OPT_CMAP, OPT_ALPHA, OPT_CLASSES };

int cmd_gradcam(int argc, char **argv)
{
    static const struct option opts[] = {{"layer", required_argument, 0, OPT_LAYER},
                                         {"class", required_argument, 0, OPT_CLASS},
                                         {"method", required_argument, 0, OPT_METHOD},
                                         {"colormap", required_argument, 0, OPT_CMAP},
                                         {"alpha", required_argument, 0, OPT_ALPHA},
                                         {"classes", required_argument, 0, OPT_CLASSES},
                                         PREP_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    const char *layer_name = NULL, *class_arg = "pred", *classes_arg = NULL, *cmap = "jet";
    enum cam_method method = CAM_GRADCAM;
    double alpha = 0.5;
    int ch;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_LAYER: layer_name = optarg; break;
        case OPT_CLASS: class_arg = optarg; break;
        case OPT_METHOD:
            if (!strcmp(optarg, "gradcam"))
                method = CAM_GRADCAM;
            else if (!strcmp(optarg, "gradcam++"))
                method = CAM_GRADCAM_PP;
            else
                return cli_usage_error(NULL, "--method: '%s' is not gradcam or gradcam++",
                                       optarg);
            break;
        case OPT_CMAP: cmap = optarg; break;
        case OPT_ALPHA: alpha = cli_parse_double("--alpha", optarg, 0, 1); break;
        case OPT_CLASSES: classes_arg = optarg; break;
        default:
            if (!cli_prep_option(&prep, ch, optarg))
                cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    if (argc - optind < 2) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const struct colormap *cm = explain_colormap(cmap);
    if (!cm) return EXIT_USAGE;
    const char *model_path = argv[optind];
    char **images = argv + optind + 1;
    int nimg = argc - optind - 1;
    struct model *m = model_load(model_path);
    if (!m) return cli_fail();
    int status = EXIT_OK, spec = EXPLAIN_PRED;
    struct cam *cam = NULL;
    char **names = NULL, *dir = NULL;
    size_t nnames = 0;
    float *x = NULL, *lmap = NULL, *imap = NULL;
    int *cls = NULL;
    struct json j;
    struct explain_out out = {0};
    int layer = explain_layer(m, model_path, layer_name);
    if (layer < 0) {
        status = EXIT_USAGE;
        goto done;
    }
    if (!(cam = cam_new(m, layer))) {
        error_set_path_if_missing(model_path);
        status = cli_fail();
        goto done;
    }
    int K = cam->score.nclass;
    if (classes_arg && (status = explain_names_load(classes_arg, K, &names, &nnames)))
        goto done;
    if ((status = explain_class_parse(class_arg, K, names, nnames, &spec))) goto done;
    if (!(dir = cli_out_dir(&c, "gradcam-out"))) {
        status = EXIT_USAGE;
        goto done;
    }
    const char *lname = model_tensor_name(m, layer);
    out = (struct explain_out){&c,     dir,   method == CAM_GRADCAM ? "gradcam" : "gradcam++",
                               cm,     alpha, names,
                               nnames, NULL,  explain_stems_unique(images, nimg)};
    if (c.json) {
        json_init(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "command");
        json_string(&j, "gradcam");
        json_key(&j, "model");
        json_string(&j, model_path);
        json_key(&j, "layer");
        json_string(&j, lname);
        json_key(&j, "score_used");
        json_string(&j, cam->score.what);
        json_key(&j, "maps");
        json_array_begin(&j);
        out.j = &j;
    }
    size_t item = model_tensor_item(m, model_input(m));
    x = xmalloc(sizeof(float) * item);
    lmap = xmalloc(sizeof(float) * (size_t)cam->lh * cam->lw);
    imap = xmalloc(sizeof(float) * (size_t)cam->ih * cam->iw);
    cls = xmalloc(sizeof(int) * (size_t)K);
    for (int i = 0; i < nimg && status == EXIT_OK; i++) {
        struct image *im = image_load(images[i]);
        if (!im || model_preprocess(m, im, &prep, x) || cam_forward(cam, x)) {
            error_set_path_if_missing(images[i]);
            image_free(im);
            status = cli_fail();
            break;
        }
        int pred = cam_pred(cam);
        int n = explain_class_list(spec, pred, K, cls);
        for (int k = 0; k < n && status == EXIT_OK; k++) {
            struct cam_info info;
            if (cam_map(cam, cls[k], method, lmap, &info)) {
                error_set_path_if_missing(images[i]);
                status = cli_fail();
                break;
            }
            cam_upsample(lmap, cam->lh, cam->lw, imap, cam->ih, cam->iw);
            status =
                explain_write(&out, images[i], i, im, cls[k], pred, lmap, cam->lh, cam->lw,
                              lname, imap, cam->ih, cam->iw, 0.0, info.max > 0 ? info.max : 0.0,
                              &info, cam->score.what, NULL, NULL);
        }
        image_free(im);
        progress_update(&c.progress, "gradcam", (size_t)i + 1, (size_t)nimg, NULL);
    }
    if (status == EXIT_OK) explain_finish(&out);
done:
    free(x);
    free(lmap);
    free(imap);
    free(cls);
    free(dir);
    if (names) class_names_free(names, nnames);
    cam_free(cam);
    model_free(m);
    return cli_finish(status);
}
