/* fixture.h - loading the committed fixtures in the unit tests. */
#ifndef INTERP_TEST_FIXTURE_H
#define INTERP_TEST_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/array.h"
#include "../core/error.h"

/* The array at dir followed by name, as dtype t with ndim dimensions (0:
 * any); fails the test when it cannot be read. Owned by the caller. */
static inline struct array *fixture_load(const char *dir, const char *name, enum dtype t,
                                         int ndim)
{
    struct array_opts o = array_opts_default();
    o.want_ndim = ndim;
    char path[1024];
    snprintf(path, sizeof path, "%s%s", dir, name);
    struct array *a = array_load(path, &o, t);
    cr_assert_not_null(a, "cannot load %s: %s", path, error_message());
    return a;
}

/* ---- fixtures/cam/MODEL/: torch's references for one model ---- */

/* MODEL/FILE as float32, any shape. */
static inline struct array *cam_ref_load(const char *model, const char *file)
{
    char dir[512];
    snprintf(dir, sizeof dir, "fixtures/cam/%s/", model);
    return fixture_load(dir, file, DT_F32, 0);
}

/* The value of `key` in MODEL/meta.txt ("key value" lines) into out. */
static inline void cam_meta_get(const char *model, const char *key, char *out, size_t size)
{
    char path[512], line[512];
    snprintf(path, sizeof path, "fixtures/cam/%s/meta.txt", model);
    FILE *fp = fopen(path, "r");
    cr_assert(fp, "cannot open %s", path);
    out[0] = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, key, kl) && line[kl] == ' ') {
            line[strcspn(line, "\n")] = 0;
            snprintf(out, size, "%s", line + kl + 1);
            break;
        }
    fclose(fp);
    cr_assert(out[0], "%s: no %s", path, key);
}

static inline int cam_meta_int(const char *model, const char *key)
{
    char v[64];
    cam_meta_get(model, key, v, sizeof v);
    return atoi(v);
}

#endif
