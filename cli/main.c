/* main.c - the `interp` command: a table of subcommands, help, version,
 * "did you mean" for a mistyped command, and the signal handler that leaves
 * no partial output behind.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/outfile.h"
#include "../core/util.h"
#include "cli.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"convert", cmd_convert, "read a matrix in any supported format, write .npy or .csv"},
    {"image", cmd_image, "decode, resize and re-encode images as the model would see them"},
    {"info", cmd_info, "describe an ONNX model: input, layers, shapes, Grad-CAM layer, latent"},
    {"predict", cmd_predict, "top-k classes and probabilities of images"},
    {"embed", cmd_embed, "latents, probabilities, predictions of many images -> .npy"},
    {"pca", cmd_pca, "principal components: scores, components, variance; scatter and scree plots"},
    {"prototypes", cmd_prototypes, "per class: members nearest to and farthest from the centroid, the medoid"},
    {"metrics", cmd_metrics, "accuracy, top-k, per-class precision/recall/F1, confusion matrix"},
    {"tsne", cmd_tsne, "t-SNE of an embedding: coordinates, KL trace, scatter plot"},
    {"gradcam", cmd_gradcam, "CAM maps (Grad-CAM, Grad-CAM++, ScoreCAM, ...): raw map (.npy), heatmap and overlay (PNG)"},
    {"attribution", cmd_attribution, "input attributions: Integrated Gradients, SmoothGrad, gradient x input, guided backprop"},
    {"occlusion", cmd_occlusion, "occlusion maps: probability drop under a sliding gray patch"},
    {"saliency", cmd_saliency, "input-gradient saliency: max over channels of |d logit / d pixel|"},
    {"evaluate", cmd_evaluate, "can the maps be trusted: deletion/insertion, ROAD, randomization tests"},
    {"report", cmd_report, "everything on a folder of class folders -> one HTML page"},
    {"merge", cmd_merge, "join the parts of a --shard K/N run into what one run writes"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: interp COMMAND [OPTIONS] ARGS...\n"
            "\n"
            "Makes a trained image classifier's decisions inspectable.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(fp, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(fp,
            "\n"
            "Shared options: -o/--out PATH, --json, --quiet, --threads N, --seed N,\n"
            "-h/--help. `interp help COMMAND` or `interp COMMAND --help` for a\n"
            "command's own options. Exit status: 0 done, 2 bad usage or input,\n"
            "1 other failure. --exif-orientation: apply a JPEG's EXIF orientation\n"
            "(Keras and Pillow's Image.open ignore it; so does interp by default).\n"
            "\n"
            "Limits (inputs over them are refused with exit 2, naming the flag):\n"
            "  --max-pixels N    pixels of one decoded image (default 100M)\n"
            "  --max-elements N  elements of one array or tensor (default 4G)\n"
            "  --max-memory SIZE what one input or model may take, e.g. 8G (default 3/4 of RAM)\n"
            "  --max-model-size SIZE  an ONNX file (default 2G)\n"
            "  --max-nodes N     nodes of an ONNX graph (default 100K)\n");
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

static int unknown_command(const char *name)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        size_t d = cli_edit_distance(name, commands[i].name);
        if (d < best_d) best_d = d, best = commands[i].name;
    }
    if (best && best_d <= 2)
        fprintf(stderr, "interp: '%s' is not a command; did you mean '%s'?\n", name, best);
    else
        fprintf(stderr, "interp: '%s' is not a command; see 'interp --help'\n", name);
    return EXIT_USAGE;
}

/* On SIGINT/SIGTERM: remove the temporaries of unfinished outputs, then die
 * of the same signal so the caller sees how we ended. */
static void on_signal(int sig)
{
    outfile_cleanup_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN); /* write errors are reported by cli_finish */

    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        usage(stdout);
        return cli_finish(EXIT_OK);
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("interp %s\n", INTERP_VERSION);
        return cli_finish(EXIT_OK);
    }
    if (!strcmp(name, "help")) {
        if (argc < 3) {
            usage(stdout);
            return cli_finish(EXIT_OK);
        }
        const struct command *c = find_command(argv[2]);
        if (!c) return unknown_command(argv[2]);
        char *args[] = {(char *)c->name, "--help", NULL};
        return c->fn(2, args);
    }
    if (name[0] == '-') {
        fprintf(stderr, "interp: unknown option '%s' before the command; see 'interp --help'\n",
                name);
        return EXIT_USAGE;
    }
    const struct command *c = find_command(name);
    if (!c) return unknown_command(name);
    return c->fn(argc - 1, argv + 1);
}
