/* explain.c - the report's explained images: per class the most confident
 * correct, the most confident wrong and a random one, each with its
 * Grad-CAM (the picks in batches) and occlusion overlays in gallery/.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/occlusion.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/outfile.h"
#include "../core/rng.h"
#include "../core/util.h"
#include "../plots/colormap.h"
#include "report_int.h"

/* ---------------------------------------------------------------- picks */
struct conf_row {
    size_t row;
    float p;
};
static int cmp_conf(const void *a, const void *b)
{
    const struct conf_row *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return (x->row > y->row) - (x->row < y->row);
}

void rep_choose_picks(struct rep *R)
{
    size_t N = R->N, K = (size_t)R->K, want = R->p->per_class > 0 ? (size_t)R->p->per_class : 0;
    R->picks = xcalloc(K * want + 1, sizeof(struct pick));
    struct conf_row *lists[3];
    for (int t = 0; t < 3; t++)
        lists[t] = xmalloc(sizeof(struct conf_row) * N);
    char *used = xcalloc(N, 1);
    for (size_t c = 0; c < K && want; c++) {
        size_t len[3] = {0, 0, 0}, pos[3] = {0, 0, 0};
        for (size_t i = 0; i < N; i++) {
            if ((size_t)R->labels[i] != c) continue;
            int32_t pr = R->pred[i];
            struct conf_row cr = {i, R->probs[i * K + (size_t)pr]};
            lists[pr == (int32_t)c ? WHY_CORRECT : WHY_WRONG][len[pr == (int32_t)c ? 0 : 1]++] =
                cr;
            lists[WHY_RANDOM][len[2]++] = cr;
        }
        qsort(lists[0], len[0], sizeof(struct conf_row), cmp_conf);
        qsort(lists[1], len[1], sizeof(struct conf_row), cmp_conf);
        uint64_t s = R->p->seed * 0x100000001b3ULL + c; /* one stream per class */
        for (size_t t = len[2]; t > 1; t--) {
            size_t j = (size_t)splitmix64_below(&s, t);
            struct conf_row tmp = lists[2][t - 1];
            lists[2][t - 1] = lists[2][j], lists[2][j] = tmp;
        }
        size_t got = 0;
        int rank[3] = {0, 0, 0};
        for (int turn = 0, idle = 0; got < want && idle < 3; turn = (turn + 1) % 3) {
            while (pos[turn] < len[turn] && used[lists[turn][pos[turn]].row])
                pos[turn]++;
            if (pos[turn] == len[turn]) {
                idle++;
                continue;
            }
            idle = 0;
            size_t row = lists[turn][pos[turn]++].row;
            used[row] = 1;
            struct pick *pk = &R->picks[R->npicks++];
            pk->row = row;
            pk->why = (enum pick_why)turn;
            pk->rank = ++rank[turn];
            pk->nexpl = R->pred[row] == R->labels[row] ? 1 : 2;
            pk->ex[0].cls = R->pred[row];
            pk->ex[1].cls = R->labels[row];
            got++;
        }
    }
    for (int t = 0; t < 3; t++)
        free(lists[t]);
    free(used);
}

/* The image as the gallery shows it: enlarged by pixel replication to at
 * least 112 pixels on its long side (small inputs such as 28x28 stay crisp
 * and the colour bar readable), or shrunk to 256 (keeps the page light). */
static struct image *display_image(const struct image *im)
{
    int side = im->h > im->w ? im->h : im->w, f = side >= 112 ? 1 : (112 + side - 1) / side;
    if (side > 256) {
        int h = (int)lround((double)im->h * 256 / side),
            w = (int)lround((double)im->w * 256 / side);
        return image_resize(im, h < 1 ? 1 : h, w < 1 ? 1 : w);
    }
    struct image *out = image_new(im->c, im->h * f, im->w * f);
    if (!out) return NULL;
    for (int c = 0; c < im->c; c++)
        for (int y = 0; y < out->h; y++)
            for (int x = 0; x < out->w; x++)
                out->data[((size_t)c * out->h + y) * out->w + x] =
                    im->data[((size_t)c * im->h + y / f) * im->w + x / f];
    return out;
}

/* Loads pick i, writes its enlarged original once, preprocesses into x. */
static struct image *load_pick(struct rep *R, struct pick *pk, float *x)
{
    const char *file = R->files[pk->row];
    struct image *im = image_load(file), *disp = NULL;
    if (!im || model_preprocess(R->m, im, &R->p->prep, x) || !(disp = display_image(im))) {
        error_set_path_if_missing(file);
        image_free(im);
        return NULL;
    }
    image_free(im);
    if (!pk->orig.png) {
        char *name = xasprintf("%06zu.png", pk->row);
        char *pth = path_join(R->galdir, name);
        int rc = image_write_png(pth, disp);
        free(pth);
        if (!rc) rep_fig_from_file(R, &pk->orig, "gallery", name);
        free(name);
        if (rc) {
            image_free(disp);
            return NULL;
        }
    }
    return disp;
}

static int write_overlay(struct rep *R, struct fig *f, size_t row, int cls, const char *method,
                         const struct image *disp, const float *map, int h, int w,
                         const struct colormap *cm, double vmin, double vmax)
{
    char *name = xasprintf("%06zu.c%d.%s.png", row, cls, method);
    char *pth = path_join(R->galdir, name);
    int rc = overlay_write_png(pth, disp, map, h, w, cm, vmin, vmax, 0.5);
    if (!rc) rep_fig_from_file(R, f, "gallery", name);
    free(pth);
    free(name);
    return rc;
}

/* ---------------------------------------------------------------- 6 Grad-CAM */
/* The picks in batches, as `interp gradcam` runs them: one forward for the
 * batch, one backward per explained class slot (the predicted class, then
 * the true one of the wrong picks), the layers below the Grad-CAM layer
 * fused. */
int rep_stage_gradcam(struct rep *R)
{
    int B = R->npicks < 32 ? (int)R->npicks : 32;
    struct cam *cam = cam_new_batch(R->m, -1, B > 0 ? B : 1, CAM_LAYER_ONLY);
    if (!cam) {
        rep_note(R, "Grad-CAM skipped: %s", error_message());
        error_clear();
        return 0;
    }
    R->cam_layer = model_tensor_name(R->m, cam->layer);
    size_t lhw = (size_t)cam->lh * cam->lw, Bs = (size_t)(B > 0 ? B : 1);
    float *x = xmalloc(sizeof(float) * R->item * Bs);
    float *lmap = xmalloc(sizeof(float) * lhw * Bs);
    float *imap = xmalloc(sizeof(float) * (size_t)cam->ih * cam->iw);
    struct image **disp = xcalloc(Bs, sizeof *disp);
    int *cls = xmalloc(sizeof(int) * Bs);
    struct cam_info *info = xcalloc(Bs, sizeof *info);
    const struct colormap *jet = colormap_find("jet");
    int rc = 0;
    rep_stage(R, ST_GRADCAM, 0, R->npicks, NULL);
    for (size_t i0 = 0; i0 < R->npicks && !rc; i0 += Bs) {
        int n = R->npicks - i0 < Bs ? (int)(R->npicks - i0) : B;
        for (int j = 0; j < n && !rc; j++)
            if (!(disp[j] = load_pick(R, &R->picks[i0 + j], x + (size_t)j * R->item))) rc = -1;
        if (!rc && cam_forward_batch(cam, x, n)) rc = -1;
        for (int e = 0; e < 2 && !rc; e++) {
            int any = 0;
            for (int j = 0; j < n; j++) {
                const struct pick *pk = &R->picks[i0 + j];
                cls[j] = e < pk->nexpl ? pk->ex[e].cls : -1;
                any |= cls[j] >= 0;
            }
            if (!any) continue;
            if ((rc = cam_map_batch(cam, cls, CAM_GRADCAM, lmap, info))) break;
            for (int j = 0; j < n && !rc; j++) {
                if (cls[j] < 0) continue;
                struct pick *pk = &R->picks[i0 + j];
                struct expl *ex = &pk->ex[e];
                ex->cam_info = info[j];
                cam_upsample(lmap + (size_t)j * lhw, cam->lh, cam->lw, imap, cam->ih, cam->iw);
                double vmax =
                    isfinite(ex->cam_info.max) && ex->cam_info.max > 0 ? ex->cam_info.max : 0.0;
                rc = write_overlay(R, &ex->cam, pk->row, ex->cls, "gradcam", disp[j], imap,
                                   cam->ih, cam->iw, jet, 0.0, vmax);
                ex->have_cam = !rc;
            }
        }
        for (int j = 0; j < n; j++) {
            image_free(disp[j]);
            disp[j] = NULL;
        }
        if (!rc) rep_stage(R, ST_GRADCAM, i0 + n, R->npicks, NULL);
    }
    free(x);
    free(lmap);
    free(imap);
    free(disp);
    free(cls);
    free(info);
    cam_free(cam);
    return rc;
}

/* ---------------------------------------------------------------- 7 occlusion */
static int scaled(int v, int side)
{
    int s = (int)lround((double)v * side / 128.0);
    return s < 1 ? 1 : s;
}

int rep_stage_occlusion(struct rep *R)
{
    struct occlusion_params op = occlusion_params_default();
    int side = R->in.h < R->in.w ? R->in.h : R->in.w;
    op.patch = R->p->occ_patch > 0 ? R->p->occ_patch : scaled(op.patch, side);
    op.stride = R->p->occ_stride > 0 ? R->p->occ_stride : scaled(op.stride, side);
    if (op.patch < 3 && side >= 3 && !R->p->occ_patch) op.patch = 3;
    struct occlusion *o = occlusion_new(R->m, &op, &R->p->prep);
    if (!o) return -1;
    R->occ_patch = o->ph, R->occ_stride = op.stride;
    size_t hw = (size_t)o->h * o->w;
    float *x = xmalloc(sizeof(float) * R->item), *map = xmalloc(sizeof(float) * hw * 2);
    const struct colormap *cw = colormap_find("coolwarm");
    int rc = 0;
    rep_stage(R, ST_OCCL, 0, R->npicks, NULL);
    for (size_t i = 0; i < R->npicks && !rc; i++) {
        struct pick *pk = &R->picks[i];
        struct image *disp = load_pick(R, pk, x);
        int cls[2] = {pk->ex[0].cls, pk->ex[1].cls};
        if (!disp || occlusion_run(o, x, cls, pk->nexpl, NULL, map, NULL)) {
            error_set_path_if_missing(R->files[pk->row]);
            image_free(disp);
            rc = -1;
            break;
        }
        for (int e = 0; e < pk->nexpl && !rc; e++) {
            struct expl *ex = &pk->ex[e];
            const float *mk = map + (size_t)e * hw;
            occlusion_map_check(o, mk, hw, ex->cls, &ex->occ_info);
            double a = fmax(fabs(ex->occ_info.min), fabs(ex->occ_info.max));
            if (!isfinite(a)) a = 0;
            rc = write_overlay(R, &ex->occ, pk->row, ex->cls, "occlusion", disp, mk, o->h, o->w,
                               cw, -a, a);
            ex->have_occ = !rc;
        }
        image_free(disp);
        rep_stage(R, ST_OCCL, i + 1, R->npicks, NULL);
    }
    free(x);
    free(map);
    occlusion_free(o);
    return rc;
}
