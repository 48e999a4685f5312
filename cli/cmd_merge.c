/* cmd_merge.c - `interp merge PART... -o DIR`: the part folders of one
 * sharded run (embed, gradcam, occlusion, saliency, tsne --add) joined into
 * what one unsharded run writes (core/shard.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "../core/error.h"
#include "../core/shard.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp merge PART... [-o DIR] [--json] [--quiet]\n"
    "\n"
    "Joins the part folders that `--shard K/N` runs wrote (interp embed, gradcam,\n"
    "occlusion, saliency, tsne --add) into DIR (default merge-out/): the files one\n"
    "run without --shard writes, byte for byte, rows in the unsharded order.\n"
    "Refused (exit 2, naming the part): a part without manifest.json (its shard did\n"
    "not finish), parts of different runs (another model or input, another N, class\n"
    "list, interp version or settings), a shard given twice or missing, a file that\n"
    "changed since its manifest was written. Rows the shards left out (--on-error\n"
    "skip) take no place in the merged files and are listed in skipped.txt, as one\n"
    "run lists them; when every row was left out the merge fails (exit 2), as that\n"
    "run does.\n";

int cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {COMMON_LONG_OPTIONS, {0}};
    struct cli_common c = cli_common_default(USAGE);
    int ch;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1)
        cli_common_option(&c, ch, optarg, argv, opts);
    if (argc - optind < 1) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const char *out = c.out ? c.out : "merge-out";
    struct shard_merged r;
    if (shard_merge(argv + optind, (size_t)(argc - optind), out, &r) < 0) return cli_fail();
    for (size_t i = 0; i < r.nfiles; i++)
        cli_wrote(r.files[i]);
    if (r.skipped)
        cli_note(&c,
                 "merged %zu parts of a sharded %s run: %zu rows, %zu of them left out "
                 "(--on-error skip; listed in skipped.txt)",
                 r.nparts, r.command, r.total, r.skipped);
    else
        cli_note(&c, "merged %zu parts of a sharded %s run: %zu rows", r.nparts, r.command,
                 r.total);
    if (c.json) {
        struct json j;
        cli_json_begin(&j, "merge");
        json_key(&j, "parts_of");
        json_string(&j, r.command);
        json_key(&j, "parts");
        json_int(&j, (int64_t)r.nparts);
        json_key(&j, "rows");
        json_int(&j, (int64_t)r.total);
        json_key(&j, "left_out");
        json_int(&j, (int64_t)r.skipped);
        cli_json_end(&j);
    } else {
        cli_print_paths();
    }
    shard_merged_release(&r);
    return cli_finish(EXIT_OK);
}
