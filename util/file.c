/* util/file.c — whole-file reads and atomic replacement; see file.h. */
#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tp_file_read(const char *path, size_t max, char **text, size_t *len, tp_error_t *err)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    int rc = 0;
    *text = NULL;
    *len = 0;
    if (!fp)
        return tp_error_set(err, TP_EIO, "%s: %s", path, strerror(errno));
    /* Grow while reading: pipes and /proc files have no size up front. */
    do {
        if (n > max) {
            rc = tp_error_set(err, TP_ERANGE, "%s: larger than %zu bytes", path, max);
            break;
        }
        if (n == cap) {
            char *b = realloc(buf, (cap = cap ? 2 * cap : 1 << 16) + 1);
            if (!b) {
                rc = tp_error_set(err, TP_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = b;
        }
        got = fread(buf + n, 1, cap - n, fp);
        n += got;
    } while (got > 0);
    if (rc == 0 && ferror(fp))
        rc = tp_error_set(err, TP_EIO, "%s: read error", path);
    fclose(fp);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

FILE *tp_file_replace_open(const char *path, char **tmp, tp_error_t *err)
{
    size_t n = strlen(path);
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
    char *t = malloc(n + 16);
    mode_t mask;
    FILE *f;
    int fd;
    *tmp = NULL;
    if (!t) {
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    /* ".NAME.XXXXXX" beside NAME: the same file system, so rename() is atomic. */
    snprintf(t, n + 16, "%.*s.%s.XXXXXX", (int)dl, path, path + dl);
    if ((fd = mkstemp(t)) < 0) {
        tp_error_set(err, TP_EIO, "%s: cannot create a temporary beside it: %s", path,
                     strerror(errno));
        free(t);
        return NULL;
    }
    mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0644 & ~mask) != 0 || !(f = fdopen(fd, "w"))) {
        tp_error_set(err, TP_EIO, "%s: %s", t, strerror(errno));
        close(fd);
        unlink(t);
        free(t);
        return NULL;
    }
    *tmp = t;
    return f;
}

int tp_file_replace_close(FILE *f, char *tmp, const char *path, bool ok, tp_error_t *err)
{
    int rc = 0;
    if (ok && (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0))
        rc = tp_error_set(err, TP_EIO, "%s: %s", path, strerror(errno));
    if (fclose(f) != 0 && ok && rc == 0)
        rc = tp_error_set(err, TP_EIO, "%s: %s", path, strerror(errno));
    if (ok && rc == 0 && rename(tmp, path) != 0)
        rc = tp_error_set(err, TP_EIO, "rename %s → %s: %s", tmp, path, strerror(errno));
    if (!ok || rc != 0)
        unlink(tmp);
    free(tmp);
    return ok ? rc : TP_EIO;
}
