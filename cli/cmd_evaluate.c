/* cmd_evaluate.c - `interp evaluate MODEL IMG...`: which maps can be
 * trusted. Deletion/insertion, ROAD and the model-parameter randomization
 * test for each method (analysis/evaluate.h); a table (CSV, JSON), the
 * curves (gnuplot) and the randomization montage; a verdict in words.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/evaluate.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/model.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "../plots/eval_figures.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp evaluate MODEL IMG... [--methods LIST] [--controls] [--steps N]\n"
    "                       [--del-substrate gray|blur|black] [--ins-substrate "
    "blur|gray|black]\n"
    "                       [--no-road] [--randomization both|cascade|single|none]\n"
    "                       [--max-layers N] [--threshold R] [--layer NAME] [--ig-steps N]\n"
    "                       [--samples N] [--noise S] [--patch P] [--stride S] [--seed N]\n"
    "                       [--batch N] [--scale S] [--mean M] [--std S] [-o DIR] [--json]\n"
    "\n"
    "Can these maps be trusted? For each image (its predicted class) and method:\n"
    "  deletion, insertion  Petsiuk et al. 2018: the class probability as the pixels are\n"
    "                       removed (replaced by --del-substrate, default gray) or put back\n"
    "                       (from --ins-substrate, default blur) in the map's order, in\n"
    "                       --steps N steps (default 100), and the areas under the curves\n"
    "                       (deletion: lower is better; insertion: higher)\n"
    "  ROAD                 Rong et al. 2022: the probability with the most (MoRF) or least\n"
    "                       (LeRF) relevant 10..90%% of the pixels removed and filled by "
    "noisy\n"
    "                       linear imputation; gap = LeRF - MoRF (larger is better)\n"
    "  randomization        Adebayo et al. 2018: weight layers re-initialised from the\n"
    "                       logits down (cascade) and one at a time (single), the map\n"
    "                       recomputed; Spearman correlation of the map and of |map| and\n"
    "                       SSIM with the original. A method FAILS the sanity check when\n"
    "                       the Spearman correlation of |map|, averaged over the cascade's\n"
    "                       steps and the images, is at least --threshold (default 0.5)\n"
    "--methods: comma list of gradcam, gradcam++, hirescam, xgradcam, layercam, eigencam,\n"
    "eigengradcam, gradcamelementwise, scorecam, ablationcam, ig, smoothgrad, gxi,\n"
    "guided-backprop, guided-gradcam, occlusion, random, sobel (default\n"
    "gradcam,gradcam++,ig,smoothgrad,gxi,guided-backprop); --controls adds random and\n"
    "sobel (an edge detector), the two maps that do not depend on the model.\n"
    "Method options: --layer (CAM), --ig-steps (default 50), --samples (SmoothGrad,\n"
    "default 25), --noise, --patch/--stride (occlusion; default 24/8 at 128 pixels,\n"
    "scaled to the input as the report does). Writes to DIR (default\n"
    "evaluate-out): evaluate.csv and evaluate.json (method x metric, mean and sd over\n"
    "the images; per image curves), deletion, insertion, road_morf, road_lerf and\n"
    "randomization figures (gnuplot), randomization_montage.png (the first image).\n";

enum {
    OPT_METHODS = OPT_COMMAND_BASE,
    OPT_CONTROLS,
    OPT_STEPS,
    OPT_DEL,
    OPT_INS,
    OPT_NO_ROAD,
    OPT_RAND,
    OPT_MAX_LAYERS,
    OPT_THRESHOLD,
    OPT_LAYER,
    OPT_IG_STEPS,
    OPT_SAMPLES,
    OPT_NOISE,
    OPT_PATCH,
    OPT_STRIDE,
    OPT_BATCH
};

#define DEFAULT_METHODS "gradcam,gradcam++,ig,smoothgrad,gxi,guided-backprop"
#define MAX_METHODS     64

/* Parses the comma list into specs (duplicates dropped); exits 2 on an
 * unknown name with a did-you-mean. */
static int parse_methods(const char *list, struct explainer_spec *specs, int n)
{
    char *s = xstrdup(list);
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        while (*tok == ' ')
            tok++;
        if (!*tok) continue;
        struct explainer_spec sp;
        if (explainer_parse(tok, &sp)) {
            int k = explainer_name_count();
            const char **names = xmalloc(sizeof(char *) * (size_t)k);
            for (int i = 0; i < k; i++)
                names[i] = explainer_name_at(i);
            int st = cli_unknown_name("--methods", "method", tok, names, k);
            free(names);
            free(s);
            exit(st);
        }
        int dup = 0;
        for (int j = 0; j < n; j++)
            dup |= specs[j].kind == sp.kind && specs[j].method == sp.method;
        if (!dup && n < MAX_METHODS) specs[n++] = sp;
    }
    free(s);
    return n;
}

static void stat_json(struct json *j, const char *key, struct eval_stat s)
{
    json_key(j, key);
    json_object_begin(j);
    json_key(j, "mean");
    json_double(j, s.mean);
    json_key(j, "sd");
    json_double(j, s.sd);
    json_object_end(j);
}

static void doubles_json(struct json *j, const char *key, const double *v, size_t n,
                         size_t stride)
{
    json_key(j, key);
    json_array_begin(j);
    for (size_t k = 0; k < n; k++)
        json_double(j, v[k * stride]);
    json_array_end(j);
}

static const char *sanity_word(const struct eval_result *res, const struct eval_summary_row *r,
                               int j)
{
    if (!res->cascade) return "not run";
    if (res->controls[j]) return r->fails ? "fail (control)" : "pass (control)";
    return r->fails ? "fail" : "pass";
}

/* The summary table and everything measured, as one JSON object. */
static void result_json(struct json *j, const struct eval_result *res,
                        const struct eval_summary_row *rows, const struct eval_params *p,
                        char *const *images, char **sentences)
{
    int n = res->nimg, J = res->nmeth, L = res->nlayers, N = res->steps;
    json_key(j, "steps");
    json_int(j, N);
    json_key(j, "deletion_substrate");
    json_string(j, eval_substrate_name(p->del_sub));
    json_key(j, "insertion_substrate");
    json_string(j, eval_substrate_name(p->ins_sub));
    json_key(j, "road_fractions");
    json_array_begin(j);
    for (int k = 0; k < EVAL_ROAD_N; k++)
        json_double(j, eval_road_fractions[k]);
    json_array_end(j);
    json_key(j, "road_noise");
    json_double(j, p->road_noise);
    json_key(j, "seed");
    json_int(j, (int64_t)p->seed);
    json_key(j, "weight_layers");
    json_array_begin(j);
    for (int l = 0; l < L; l++)
        json_string(j, res->layer_names[l]);
    json_array_end(j);
    json_key(j, "sanity_rule");
    json_object_begin(j);
    json_key(j, "metric");
    json_string(j, "Spearman rank correlation of |map| with the original, averaged over the "
                   "cascade's steps (weight layers re-initialised from the logits down, one "
                   "more each step) and over the images");
    json_key(j, "fails_at_or_above");
    json_double(j, p->fail_rho);
    json_object_end(j);
    json_key(j, "fail_sanity_check");
    json_array_begin(j);
    for (int m = 0; m < J; m++)
        if (rows[m].fails) json_string(j, res->methods[m]);
    json_array_end(j);
    json_key(j, "table");
    json_array_begin(j);
    for (int m = 0; m < J; m++) {
        const struct eval_summary_row *r = &rows[m];
        json_object_begin(j);
        json_key(j, "method");
        json_string(j, res->methods[m]);
        json_key(j, "control");
        json_bool(j, res->controls[m]);
        stat_json(j, "deletion_auc", r->del_auc);
        stat_json(j, "insertion_auc", r->ins_auc);
        if (res->road) {
            stat_json(j, "road_morf", r->morf);
            stat_json(j, "road_lerf", r->lerf);
            stat_json(j, "road_gap", r->road_gap);
        }
        if (res->cascade) {
            stat_json(j, "cascade_mean_spearman_abs", r->casc_mean_rho_abs);
            stat_json(j, "randomized_spearman", r->casc_rho);
            stat_json(j, "randomized_spearman_abs", r->casc_rho_abs);
            stat_json(j, "randomized_ssim", r->casc_ssim);
            json_key(j, "randomized_constant_maps");
            json_int(j, r->undefined);
        }
        if (res->single) stat_json(j, "single_layer_spearman_abs", r->indep_rho_abs);
        json_key(j, "sanity");
        json_string(j, sanity_word(res, r, m));
        json_key(j, "summary");
        json_string(j, sentences[m]);
        json_object_end(j);
    }
    json_array_end(j);
    json_key(j, "images");
    json_array_begin(j);
    for (int i = 0; i < n; i++) {
        json_object_begin(j);
        json_key(j, "file");
        json_string(j, images[i]);
        json_key(j, "class");
        json_int(j, res->pred[i]);
        json_key(j, "probability");
        json_double(j, res->prob[i]);
        json_key(j, "methods");
        json_object_begin(j);
        for (int m = 0; m < J; m++) {
            size_t ij = (size_t)i * J + m;
            json_key(j, res->methods[m]);
            json_object_begin(j);
            json_key(j, "deletion_auc");
            json_double(j, res->del_auc[ij]);
            json_key(j, "insertion_auc");
            json_double(j, res->ins_auc[ij]);
            doubles_json(j, "deletion", res->del + ij * (N + 1), (size_t)N + 1, 1);
            doubles_json(j, "insertion", res->ins + ij * (N + 1), (size_t)N + 1, 1);
            if (res->road) {
                doubles_json(j, "road_morf", res->morf + ij * EVAL_ROAD_N, EVAL_ROAD_N, 1);
                doubles_json(j, "road_lerf", res->lerf + ij * EVAL_ROAD_N, EVAL_ROAD_N, 1);
            }
            static const char *const mk[EVAL_RAND_METRICS] = {"spearman", "spearman_abs",
                                                              "ssim"};
            for (int pass = 0; pass < 2; pass++) {
                if (!(pass ? res->single : res->cascade)) continue;
                json_key(j, pass ? "single_layer" : "cascade");
                json_object_begin(j);
                const double *v = (pass ? res->indep : res->casc) + ij * L * EVAL_RAND_METRICS;
                for (int k = 0; k < EVAL_RAND_METRICS; k++)
                    doubles_json(j, mk[k], v + k, (size_t)L, EVAL_RAND_METRICS);
                json_object_end(j);
            }
            json_object_end(j);
        }
        json_object_end(j);
        json_object_end(j);
    }
    json_array_end(j);
    json_key(j, "seconds");
    json_object_begin(j);
    json_key(j, "maps");
    json_double(j, res->seconds_maps);
    json_key(j, "deletion_insertion");
    json_double(j, res->seconds_curves);
    json_key(j, "road");
    json_double(j, res->seconds_road);
    json_key(j, "randomization");
    json_double(j, res->seconds_rand);
    json_object_end(j);
}

static int write_csv(const char *path, const struct eval_result *res,
                     const struct eval_summary_row *rows)
{
    struct outfile of;
    int rc = outfile_open(&of, path);
    if (rc) return rc;
    FILE *fp = of.fp;
    fprintf(fp, "method,control,deletion_auc,deletion_auc_sd,insertion_auc,insertion_auc_sd");
    if (res->road)
        fprintf(fp, ",road_morf,road_morf_sd,road_lerf,road_lerf_sd,road_gap,road_gap_sd");
    if (res->cascade)
        fprintf(fp, ",cascade_mean_spearman_abs,cascade_mean_spearman_abs_sd,"
                    "randomized_spearman,randomized_spearman_sd,randomized_spearman_abs,"
                    "randomized_spearman_abs_sd,randomized_ssim,randomized_ssim_sd");
    if (res->single) fprintf(fp, ",single_layer_spearman_abs,single_layer_spearman_abs_sd");
    fprintf(fp, ",sanity\n");
    for (int m = 0; m < res->nmeth; m++) {
        const struct eval_summary_row *r = &rows[m];
        cli_csv_field(fp, res->methods[m]);
        fprintf(fp, ",%d,%.6g,%.6g,%.6g,%.6g", res->controls[m], r->del_auc.mean, r->del_auc.sd,
                r->ins_auc.mean, r->ins_auc.sd);
        if (res->road)
            fprintf(fp, ",%.6g,%.6g,%.6g,%.6g,%.6g,%.6g", r->morf.mean, r->morf.sd,
                    r->lerf.mean, r->lerf.sd, r->road_gap.mean, r->road_gap.sd);
        if (res->cascade)
            fprintf(fp, ",%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g", r->casc_mean_rho_abs.mean,
                    r->casc_mean_rho_abs.sd, r->casc_rho.mean, r->casc_rho.sd,
                    r->casc_rho_abs.mean, r->casc_rho_abs.sd, r->casc_ssim.mean,
                    r->casc_ssim.sd);
        if (res->single) fprintf(fp, ",%.6g,%.6g", r->indep_rho_abs.mean, r->indep_rho_abs.sd);
        fprintf(fp, ",%s\n", sanity_word(res, r, m));
    }
    return outfile_commit(&of);
}

int cmd_evaluate(int argc, char **argv)
{
    static const struct option opts[] = {{"methods", required_argument, 0, OPT_METHODS},
                                         {"controls", no_argument, 0, OPT_CONTROLS},
                                         {"steps", required_argument, 0, OPT_STEPS},
                                         {"del-substrate", required_argument, 0, OPT_DEL},
                                         {"ins-substrate", required_argument, 0, OPT_INS},
                                         {"no-road", no_argument, 0, OPT_NO_ROAD},
                                         {"randomization", required_argument, 0, OPT_RAND},
                                         {"max-layers", required_argument, 0, OPT_MAX_LAYERS},
                                         {"threshold", required_argument, 0, OPT_THRESHOLD},
                                         {"layer", required_argument, 0, OPT_LAYER},
                                         {"ig-steps", required_argument, 0, OPT_IG_STEPS},
                                         {"samples", required_argument, 0, OPT_SAMPLES},
                                         {"noise", required_argument, 0, OPT_NOISE},
                                         {"patch", required_argument, 0, OPT_PATCH},
                                         {"stride", required_argument, 0, OPT_STRIDE},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         PREP_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    struct eval_params p = eval_params_default();
    struct explainer_params ep = explainer_params_default();
    const char *methods = DEFAULT_METHODS, *layer_name = NULL;
    int controls = 0, ch, sub, patch_set = 0, stride_set = 0;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_METHODS: methods = optarg; break;
        case OPT_CONTROLS: controls = 1; break;
        case OPT_STEPS:
            p.steps = (int)cli_parse_long("--steps", optarg, 1, EVAL_STEPS_MAX);
            break;
        case OPT_DEL:
        case OPT_INS:
            if ((sub = eval_substrate_parse(optarg)) < 0) {
                const char *names[3] = {"gray", "blur", "black"};
                return cli_unknown_name(ch == OPT_DEL ? "--del-substrate" : "--ins-substrate",
                                        "substrate", optarg, names, 3);
            }
            if (ch == OPT_DEL)
                p.del_sub = sub;
            else
                p.ins_sub = sub;
            break;
        case OPT_NO_ROAD: p.road = 0; break;
        case OPT_RAND:
            if (!strcmp(optarg, "both"))
                p.cascade = p.single = 1;
            else if (!strcmp(optarg, "cascade"))
                p.cascade = 1, p.single = 0;
            else if (!strcmp(optarg, "single"))
                p.cascade = 0, p.single = 1;
            else if (!strcmp(optarg, "none"))
                p.cascade = p.single = 0;
            else {
                const char *names[4] = {"both", "cascade", "single", "none"};
                return cli_unknown_name("--randomization", "test", optarg, names, 4);
            }
            break;
        case OPT_MAX_LAYERS:
            p.max_layers = (int)cli_parse_long("--max-layers", optarg, 1, 1 << 20);
            break;
        case OPT_THRESHOLD: p.fail_rho = cli_parse_double("--threshold", optarg, -1, 1); break;
        case OPT_LAYER: layer_name = optarg; break;
        case OPT_IG_STEPS:
            ep.attr.steps = (int)cli_parse_long("--ig-steps", optarg, 1, ATTR_STEPS_MAX);
            break;
        case OPT_SAMPLES:
            ep.attr.samples = (int)cli_parse_long("--samples", optarg, 1, ATTR_SAMPLES_MAX);
            break;
        case OPT_NOISE: ep.attr.noise = cli_parse_double("--noise", optarg, 0, 1e30); break;
        case OPT_PATCH:
            ep.occ.patch = (int)cli_parse_long("--patch", optarg, 1, 1 << 20);
            patch_set = 1;
            break;
        case OPT_STRIDE:
            ep.occ.stride = (int)cli_parse_long("--stride", optarg, 1, 1 << 20);
            stride_set = 1;
            break;
        case OPT_BATCH: p.batch = (int)cli_parse_long("--batch", optarg, 1, 4096); break;
        default:
            if (!cli_prep_option(&prep, ch, optarg))
                cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    if (c.seed_set) p.seed = ep.seed = ep.attr.seed = c.seed;
    struct explainer_spec specs[MAX_METHODS];
    int nspec = parse_methods(methods, specs, 0);
    if (controls) nspec = parse_methods("random,sobel", specs, nspec);
    if (nspec == 0) return cli_usage_error(NULL, "--methods: no method named");
    int nargs = argc - optind;
    if (nargs < 2) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const char *model_path = argv[optind];
    char **images = argv + optind + 1;
    int nimg = nargs - 1, status = EXIT_OK;
    struct model *m = model_load(model_path);
    if (!m) return cli_fail();
    struct eval *ev = NULL;
    struct eval_result res = {0};
    float **x = xcalloc((size_t)nimg, sizeof(float *));
    char *dir = NULL;
    char **sentences = NULL;
    struct eval_summary_row *rows = NULL;
    struct model_input_info in;
    if (!model_input_info(m,
                          &in)) { /* occlusion: 24 and 8 at 128 pixels, as the report scales */
        int side = in.h < in.w ? in.h : in.w, ps = (int)(24.0 * side / 128 + 0.5),
            ss = (int)(8.0 * side / 128 + 0.5);
        if (!patch_set) ep.occ.patch = ps < 3 ? 3 : ps;
        if (!stride_set) ep.occ.stride = ss < 1 ? 1 : ss;
    }
    if (layer_name && (ep.layer = explain_layer(m, model_path, layer_name)) < 0) {
        status = EXIT_USAGE;
        goto done;
    }
    if (!(ev = eval_new(m, &prep, specs, nspec, &ep, &p))) {
        error_set_path_if_missing(model_path);
        status = cli_fail();
        goto done;
    }
    size_t item = model_tensor_item(m, model_input(m));
    for (int i = 0; i < nimg; i++) {
        x[i] = xmalloc(sizeof(float) * item);
        if (model_preprocess_file(m, images[i], &prep, x[i])) {
            status = cli_fail();
            goto done;
        }
    }
    if ((status = cli_out_dir_make(&c, "evaluate-out", &dir))) goto done;
    if (eval_run(ev, (const float *const *)x, nimg, &res, &c.progress)) {
        error_set_path_if_missing(model_path);
        status = cli_fail();
        goto done;
    }
    rows = xcalloc((size_t)nspec, sizeof *rows);
    eval_summary(&res, p.fail_rho, rows);
    sentences = xcalloc((size_t)nspec, sizeof(char *));
    for (int j = 0; j < nspec; j++) {
        sentences[j] = xmalloc(1024);
        eval_describe(&res, rows, j, p.fail_rho, sentences[j], 1024);
    }
    /* the table, the figures, the montage */
    char *path = path_join(dir, "evaluate.csv");
    if (cli_wrote_result(path, write_csv(path, &res, rows)) < 0) {
        status = cli_fail();
        goto done;
    }
    path = path_join(dir, "evaluate.json");
    struct outfile of;
    struct json jf;
    if (cli_json_file_open(&of, &jf, path) < 0) {
        free(path);
        status = cli_fail();
        goto done;
    }
    json_key(&jf, "model");
    json_string(&jf, model_path);
    result_json(&jf, &res, rows, &p, images, sentences);
    if (cli_wrote_result(path, cli_json_file_commit(&of, &jf)) < 0) {
        status = cli_fail();
        goto done;
    }
    struct plot_result figs[EVAL_FIGURES];
    if (eval_figures_write(dir, &res, figs) < 0) {
        status = cli_fail();
        goto done;
    }
    for (int k = 0; k < EVAL_FIGURES; k++) {
        if (figs[k].script) cli_plot_wrote(&c, &figs[k]);
        plot_result_release(&figs[k]);
    }
    if (res.cascade) {
        path = path_join(dir, "randomization_montage.png");
        if (cli_wrote_result(path, eval_montage_write(path, &res, res.h >= 96 ? res.h : 96)) <
            0) {
            status = cli_fail();
            goto done;
        }
    }
    /* the verdict in words */
    for (int j = 0; j < nspec; j++)
        cli_note(&c, "%s", sentences[j]);
    if (res.cascade) {
        char list[512] = "";
        size_t len = 0;
        for (int j = 0; j < nspec; j++)
            if (rows[j].fails)
                len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0,
                                        "%s%s", len ? ", " : "", res.methods[j]);
        cli_note(&c,
                 "sanity check (fails when the Spearman correlation of |map| with the "
                 "original, averaged over the cascade, is >= %.2f): %s",
                 p.fail_rho, len ? list : "every method passes");
    }
    if (c.json) {
        struct json j;
        cli_json_begin(&j, "evaluate");
        json_key(&j, "model");
        json_string(&j, model_path);
        result_json(&j, &res, rows, &p, images, sentences);
        cli_json_end(&j);
    } else {
        cli_print_paths();
    }
done:
    for (int i = 0; i < nimg; i++)
        free(x[i]);
    free(x);
    for (int j = 0; sentences && j < nspec; j++)
        free(sentences[j]);
    free(sentences);
    free(rows);
    free(dir);
    eval_result_release(&res);
    eval_free(ev);
    model_free(m);
    return cli_finish(status);
}
