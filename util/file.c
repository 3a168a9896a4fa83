/* util/file.c — whole-file reads; see file.h. */
#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
