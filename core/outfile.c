/* outfile.c - atomic output (temporary name + rename) and the input guard.
 *
 * Temporaries live beside their target, so rename() never crosses a file
 * system. Their names are also kept in a fixed table that a signal handler can
 * walk with nothing but unlink(), which is async-signal-safe.
 */
#include "outfile.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "namelist.h"
#include "util.h"

/* ---- temporaries still open, for outfile_cleanup_all ------------------- */

#define MAX_OPEN_TEMPS 256
#define OUTFILE_BUF    (64 * 1024)
static char *volatile open_temps[MAX_OPEN_TEMPS];
static pthread_mutex_t temps_lock = PTHREAD_MUTEX_INITIALIZER;

static void temps_add(char *tmp)
{
    pthread_mutex_lock(&temps_lock);
    for (int i = 0; i < MAX_OPEN_TEMPS; i++)
        if (!open_temps[i]) {
            open_temps[i] = tmp;
            break;
        }
    pthread_mutex_unlock(&temps_lock);
}

static void temps_remove(const char *tmp)
{
    pthread_mutex_lock(&temps_lock);
    for (int i = 0; i < MAX_OPEN_TEMPS; i++)
        if (open_temps[i] == tmp) open_temps[i] = NULL;
    pthread_mutex_unlock(&temps_lock);
}

void outfile_cleanup_all(void)
{
    for (int i = 0; i < MAX_OPEN_TEMPS; i++) {
        char *t = open_temps[i];
        if (t) unlink(t);
    }
}

/* ---- the input guard ---------------------------------------------------- */

struct file_id {
    dev_t dev;
    ino_t ino;
};
static struct file_id *inputs;
static size_t n_inputs, cap_inputs;
static pthread_mutex_t inputs_lock = PTHREAD_MUTEX_INITIALIZER;

void input_register(const char *path)
{
    struct stat st;
    if (!path || !strcmp(path, "-") || stat(path, &st) != 0) return;
    pthread_mutex_lock(&inputs_lock);
    if (n_inputs == cap_inputs) {
        cap_inputs = cap_inputs ? 2 * cap_inputs : 16;
        inputs = xrealloc(inputs, cap_inputs * sizeof *inputs);
    }
    inputs[n_inputs++] = (struct file_id){st.st_dev, st.st_ino};
    pthread_mutex_unlock(&inputs_lock);
}

int input_is_registered(const char *path)
{
    struct stat st;
    int found = 0;
    if (!path || stat(path, &st) != 0) return 0;
    pthread_mutex_lock(&inputs_lock);
    for (size_t i = 0; i < n_inputs && !found; i++)
        found = inputs[i].dev == st.st_dev && inputs[i].ino == st.st_ino;
    pthread_mutex_unlock(&inputs_lock);
    return found;
}

/* ---- atomic files ------------------------------------------------------- */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    char *d = xmalloc((size_t)(slash - path) + 1);
    memcpy(d, path, (size_t)(slash - path));
    d[slash - path] = 0;
    return d;
}

int outfile_open(struct outfile *of, const char *path)
{
    struct stat st;
    memset(of, 0, sizeof *of);
    if (!path || !*path) return error_set(ERR_INPUT, path, "empty output path");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return error_set(ERR_INPUT, path, "is a directory, not a file to write");
    if (input_is_registered(path))
        return error_set(ERR_INPUT, path,
                         "output would overwrite an input file; choose another name");
    char *dir = dir_of(path);
    if (stat(dir, &st) != 0) {
        error_set(ERR_INPUT, path, "cannot write: folder %s does not exist", dir);
        free(dir);
        return ERR_INPUT;
    }
    if (!S_ISDIR(st.st_mode)) {
        error_set(ERR_INPUT, path, "cannot write: %s is not a folder", dir);
        free(dir);
        return ERR_INPUT;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *tmp = xasprintf("%s/.%s.tmp.XXXXXX", dir, base);
    free(dir);
    /* Listed before it exists: a signal between mkstemp and the listing
     * would otherwise leave the file behind (unlinking a name not yet
     * created is harmless, and the handler ends the process). */
    temps_add(tmp);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        temps_remove(tmp);
        int code = (errno == EACCES || errno == EROFS || errno == ENOENT ||
                    errno == ENAMETOOLONG || errno == ENOTDIR)
                       ? ERR_INPUT
                       : ERR_FAIL;
        error_set_errno(code, path, "cannot write");
        free(tmp);
        return code;
    }
    /* mkstemp makes 0600; give the file the mode open(2) would have. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    of->fp = fdopen(fd, "wb");
    if (!of->fp) {
        close(fd);
        unlink(tmp);
        temps_remove(tmp);
        free(tmp);
        return error_set_errno(ERR_FAIL, path, "cannot write");
    }
    /* 64 KB at a time: a map's .npy in one or two writes, not sixteen of
     * stdio's 4 KB (a bulk run writes thousands of files) */
    of->buf = xmalloc(OUTFILE_BUF);
    setvbuf(of->fp, of->buf, _IOFBF, OUTFILE_BUF);
    of->tmp = tmp;
    of->path = xstrdup(path);
    return 0;
}

static void outfile_release(struct outfile *of)
{
    if (of->tmp) temps_remove(of->tmp);
    free(of->buf);
    free(of->tmp);
    free(of->path);
    memset(of, 0, sizeof *of);
}

int outfile_commit(struct outfile *of)
{
    if (!of->fp) return error_set(ERR_FAIL, of->path, "output was not open");
    int bad = fflush(of->fp) != 0 || ferror(of->fp);
    int saved = errno;
    if (fclose(of->fp) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    of->fp = NULL;
    if (bad) {
        errno = saved;
        error_set_errno(ERR_FAIL, of->path, "write failed");
        unlink(of->tmp);
        outfile_release(of);
        return ERR_FAIL;
    }
    if (rename(of->tmp, of->path) != 0) {
        error_set_errno(ERR_FAIL, of->path, "cannot rename the finished file into place");
        unlink(of->tmp);
        outfile_release(of);
        return ERR_FAIL;
    }
    outfile_release(of);
    return 0;
}

void outfile_abort(struct outfile *of)
{
    if (of->fp) fclose(of->fp);
    if (of->tmp) unlink(of->tmp);
    outfile_release(of);
}

/* ---- folders ------------------------------------------------------------ */

int dir_ensure(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        return error_set(ERR_INPUT, dir, "exists and is not a folder");
    }
    char *copy = xstrdup(dir);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (stat(copy, &st) != 0 && mkdir(copy, 0777) != 0 && errno != EEXIST) {
            error_set_errno(ERR_INPUT, dir, "cannot create folder %s", copy);
            free(copy);
            return ERR_INPUT;
        }
        *p = '/';
    }
    free(copy);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return error_set_errno(ERR_INPUT, dir, "cannot create folder");
    return 0;
}

char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    if (n == 0) return xstrdup(name);
    return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

int outfile_write_lines(const char *path, char *const *lines, size_t n)
{
    struct outfile of;
    int rc = outfile_open(&of, path);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        namelist_put(of.fp, lines[i]);
        fputc('\n', of.fp);
    }
    return outfile_commit(&of);
}
