/* shard.c - what the commands that run in shards share: --shard K/N and
 * --force, the settings every shard must agree on, the check that makes a
 * finished shard a no-op, and the manifest written last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/array.h"
#include "../core/dataset.h"
#include "../core/error.h"
#include "../core/outfile.h"
#include "../core/sha256.h"
#include "../core/shard.h"
#include "../core/util.h"
#include "cli.h"

int cli_shard_option(struct cli_shard *sh, int ch, const char *arg)
{
    if (ch == OPT_FORCE) {
        sh->force = 1;
        return 1;
    }
    if (ch != OPT_SHARD) return 0;
    struct shard s;
    if (shard_parse(arg, &s) < 0) exit(cli_fail());
    sh->on = 1, sh->k = s.k, sh->n = s.n;
    return 1;
}

char *cli_shard_dir_default(const struct cli_shard *sh, const char *deflt)
{
    return xasprintf("%s/part-%zu-of-%zu", deflt, sh->k, sh->n);
}

/* Options that do not change what a shard computes. */
static const char *const NEUTRAL[] = {
    "out",        "json",         "quiet",      "threads",        "shard",     "force", "help",
    "max-pixels", "max-elements", "max-memory", "max-model-size", "max-nodes", NULL};

static int listed(const char *const *list, const char *name)
{
    for (; list && *list; list++)
        if (!strcmp(*list, name)) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *cli_shard_options(int argc, char **argv, const struct option *opts,
                        const char *const *skip)
{
    char **v = xcalloc((size_t)argc + 1, sizeof(char *));
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) break;
        if (a[0] != '-' || !a[1]) continue; /* an operand */
        if (a[1] != '-') {                  /* short: only -o takes a value */
            if (a[1] == 'o' && !a[2]) i++;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct option *hit = NULL;
        int hits = 0;
        for (const struct option *o = opts; o->name; o++) {
            if (strncmp(o->name, name, len)) continue;
            if (strlen(o->name) == len) { /* exact beats any prefix */
                hit = o, hits = 1;
                break;
            }
            hit = o, hits++;
        }
        if (hits != 1) continue; /* getopt_long refuses it later */
        const char *val = eq ? eq + 1 : NULL;
        if (!val && hit->has_arg == required_argument && i + 1 < argc) val = argv[++i];
        if (listed(NEUTRAL, hit->name) || listed(skip, hit->name)) continue;
        v[n++] = val ? xasprintf("--%s=%s", hit->name, val) : xasprintf("--%s", hit->name);
    }
    if (n) qsort(v, n, sizeof(char *), cmp_str);
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *s = xmalloc(len), *o = s;
    *o = 0;
    for (size_t i = 0; i < n; i++) {
        o += sprintf(o, "%s%s", i ? " " : "", v[i]);
        free(v[i]);
    }
    free(v);
    return s;
}

void cli_shard_list_digest(char *const *paths, size_t n, char hex[65])
{
    struct sha256 s;
    sha256_init(&s);
    for (size_t i = 0; i < n; i++) {
        sha256_update(&s, paths[i], strlen(paths[i]));
        sha256_update(&s, "\n", 1);
    }
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_final(&s, d);
    sha256_hex(d, hex);
}

/* Prints a finished part as if it had just been written. */
static void print_done(const struct cli_common *c, const struct shard_manifest *m,
                       const char *dir, const char *command)
{
    for (size_t i = 0; i < m->nfiles; i++) {
        char *p = path_join(dir, m->files[i].name);
        cli_wrote(p);
        free(p);
    }
    char *p = path_join(dir, SHARD_MANIFEST);
    cli_wrote(p);
    free(p);
    if (c->json) {
        struct json j;
        cli_json_begin(&j, command);
        json_key(&j, "shard");
        json_int(&j, (int64_t)m->shard.k);
        json_key(&j, "shards");
        json_int(&j, (int64_t)m->shard.n);
        json_key(&j, "already_done");
        json_bool(&j, 1);
        cli_json_end(&j);
    } else {
        cli_print_paths();
    }
}

int cli_shard_begin(const struct cli_common *c, const struct cli_shard *sh, const char *dir,
                    const struct shard_manifest *want, const char *command)
{
    char *path = path_join(dir, SHARD_MANIFEST);
    int status = 0;
    if (access(path, F_OK) != 0) goto out; /* a fresh folder, or a shard that did not finish */
    struct shard_manifest old;
    char why[512];
    if (shard_manifest_read(dir, &old) < 0) {
        if (!sh->force) {
            cli_fail();
            fprintf(stderr, "interp: %s: --force runs the shard again into this folder\n", dir);
            status = EXIT_USAGE;
            goto out;
        }
    } else if (shard_manifest_same_run(want, &old, why, sizeof why) &&
               old.shard.k == want->shard.k) {
        if (!sh->force) {
            if (shard_manifest_verify(dir, &old) == 0) {
                cli_note(c,
                         "%s: shard %zu/%zu is already done (%s); nothing to do (--force "
                         "runs it again)",
                         dir, sh->k, sh->n, SHARD_MANIFEST);
                print_done(c, &old, dir, command);
                status = -1;
            } else {
                cli_note(c, "%s: %s; running shard %zu/%zu again", error_path(),
                         error_message(), sh->k, sh->n);
            }
        }
    } else if (!sh->force) {
        if (old.shard.k != want->shard.k &&
            shard_manifest_same_run(want, &old, why, sizeof why))
            snprintf(why, sizeof why, "it holds shard %zu/%zu", old.shard.k, old.shard.n);
        status = cli_usage_error(dir,
                                 "holds a part of another run (%s); choose another -o, or "
                                 "--force to replace it",
                                 why);
    }
    shard_manifest_release(&old);
    /* the shard runs: a manifest from before must not vouch for new files */
    if (status == 0 && unlink(path) != 0)
        status = cli_usage_error(path, "cannot remove the old manifest");
out:
    free(path);
    return status;
}

int cli_shard_finish(struct shard_manifest *m, const char *dir)
{
    if (shard_manifest_write(dir, m) < 0) return cli_fail();
    char *p = path_join(dir, SHARD_MANIFEST);
    cli_wrote(p);
    free(p);
    return 0;
}

int cli_shard_skips_finish(const struct cli_common *c, const struct dataset_skips *s,
                           size_t dealt, const char *dir, struct shard_manifest *m, char **txt)
{
    *txt = NULL;
    if (s->policy != DATASET_SKIP) return EXIT_OK;
    char *p = path_join(dir, "skipped.txt"), *q = path_join(dir, "skipped_rows.npy");
    size_t shape[1] = {s->n};
    struct array *a = array_new(DT_I64, 1, shape);
    int rc = a ? 0 : error_code();
    for (size_t i = 0; !rc && i < s->n; i++)
        ((int64_t *)a->data)[i] = (int64_t)s->rows[i];
    if (!rc && !(rc = dataset_skips_write(s, p)) && !(rc = npy_write(q, a)) &&
        !(rc = shard_manifest_add_file(m, dir, "skipped.txt", SHARD_SKIP_ROWS, NULL)))
        rc = shard_manifest_add_file(m, dir, "skipped_rows.npy", SHARD_SKIP_INDEX, "int64");
    array_free(a);
    if (rc) {
        free(p);
        free(q);
        return cli_fail();
    }
    m->skipped = s->n;
    cli_wrote(p);
    cli_wrote(q);
    free(q);
    *txt = p;
    if (s->n)
        cli_note(c,
                 "warning: skipped %zu of this shard's %zu images that could not be read "
                 "(listed with the reasons in %s)%s",
                 s->n, dealt, p,
                 s->n == dealt ? "; `interp merge` fails only if no shard read any" : "");
    return EXIT_OK;
}
