/* cmd_image.c - `interp image`: decode images, optionally convert channels and
 * resize (bilinear, half-pixel centres, as the model's preprocessing does),
 * and write them as 8-bit PNG: a way to see what the model will see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/image.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp image IMG... [--size HxW] [--gray|--rgb] [-o OUT] [--json]\n"
    "\n"
    "Decodes PNG, JPEG, WebP, BMP or GIF images, recognised by their content (gray,\n"
    "gray+alpha, RGB, RGBA, palette, 16-bit PNG, interlaced; a GIF's first frame),\n"
    "converts them to 1 (--gray) or 3 (--rgb) channels, resizes them to HxW with\n"
    "bilinear interpolation (half-pixel centres, as PyTorch and OpenCV do), and\n"
    "writes 8-bit PNGs. OUT is a .png file for one image, else a folder (default\n"
    "image-out/), where each image keeps its base name with .png.\n"
    "--max-pixels N raises the decoding limit (default 100000000).\n"
    "--exif-orientation turns a JPEG as its EXIF orientation says (default: not).\n";

enum { OPT_SIZE = OPT_COMMAND_BASE, OPT_GRAY, OPT_RGB };

static int parse_size(const char *arg, int *h, int *w)
{
    char *end;
    long a = strtol(arg, &end, 10);
    if (end == arg || (*end != 'x' && *end != 'X')) return -1;
    const char *rest = end + 1;
    long b = strtol(rest, &end, 10);
    if (end == rest || *end || a < 1 || b < 1 || a > 65535 || b > 65535) return -1;
    *h = (int)a, *w = (int)b;
    return 0;
}

static char *png_name(const char *dir, const char *in)
{
    const char *base = strrchr(in, '/') ? strrchr(in, '/') + 1 : in;
    const char *dot = strrchr(base, '.');
    size_t n = dot ? (size_t)(dot - base) : strlen(base);
    char *name = xasprintf("%.*s.png", (int)n, base);
    char *path = path_join(dir, name);
    free(name);
    return path;
}

int cmd_image(int argc, char **argv)
{
    static const struct option opts[] = {
        {"size", required_argument, 0, OPT_SIZE},
        {"gray", no_argument, 0, OPT_GRAY},
        {"rgb", no_argument, 0, OPT_RGB},
        COMMON_LONG_OPTIONS,
        {0}};
    struct cli_common c = cli_common_default(USAGE);
    int h = 0, w = 0, channels = 0, ch;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_SIZE:
            if (parse_size(optarg, &h, &w) < 0)
                return cli_usage_error(NULL, "--size: '%s' is not HxW (e.g. 128x128)", optarg);
            break;
        case OPT_GRAY: channels = 1; break;
        case OPT_RGB: channels = 3; break;
        default: cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    int n = argc - optind;
    if (n < 1) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    size_t len = c.out ? strlen(c.out) : 0;
    int single_file = n == 1 && len > 4 && !strcmp(c.out + len - 4, ".png");
    char *dir = NULL;
    if (!single_file && !(dir = cli_out_dir(&c, "image-out"))) return EXIT_USAGE;

    struct json j;
    if (c.json) {
        json_init(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "images");
        json_array_begin(&j);
    }
    int status = EXIT_OK;
    for (int i = 0; i < n && status == EXIT_OK; i++) {
        const char *in = argv[optind + i];
        struct image *im = image_load(in), *conv = NULL, *sized = NULL;
        if (!im) {
            status = cli_fail();
            break;
        }
        const struct image *cur = im;
        if (channels && channels != cur->c) cur = conv = image_to_channels(cur, channels);
        if (cur && h && (h != cur->h || w != cur->w)) cur = sized = image_resize(cur, h, w);
        char *out = single_file ? xstrdup(c.out) : png_name(dir, in);
        for (size_t k = 0; k < cli_wrote_count(); k++)
            if (!strcmp(cli_wrote_path(k), out)) {
                error_set(ERR_INPUT, in, "would write %s again (two inputs share a base name)",
                          out);
                cur = NULL;
            }
        if (!cur || image_write_png(out, cur) < 0) {
            status = cli_fail();
        } else {
            cli_wrote(out);
            if (c.json) {
                json_object_begin(&j);
                json_key(&j, "input");
                json_string(&j, in);
                json_key(&j, "width");
                json_int(&j, im->w);
                json_key(&j, "height");
                json_int(&j, im->h);
                json_key(&j, "channels");
                json_int(&j, im->c);
                json_key(&j, "output");
                json_string(&j, out);
                json_object_end(&j);
            }
        }
        free(out);
        image_free(sized);
        image_free(conv);
        image_free(im);
    }
    free(dir);
    if (c.json) {
        json_array_end(&j);
        cli_json_paths(&j);
        json_object_end(&j);
        json_finish(&j);
    } else {
        cli_print_paths();
    }
    return cli_finish(status);
}
