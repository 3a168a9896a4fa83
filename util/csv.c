/* util/csv.c — splits unquoted CSV lines; see csv.h. */
#include "util/csv.h"

#include <string.h>

void tp_csv_init(tp_csv_t *c, const char *name, const char *text, size_t len)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->p = text;
    c->end = text + len;
}

int tp_csv_next(tp_csv_t *c, tp_error_t *err)
{
    if (c->p >= c->end)
        return 0;
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    const char *stop = nl ? nl : c->end;
    size_t len = (size_t)(stop - c->p);
    c->line++;
    if (len && c->p[len - 1] == '\r')
        len--;
    if (len > TP_CSV_MAX_LINE)
        return tp_error_set(err, TP_EPARSE, "%s:%d: line longer than %d bytes", c->name,
                            c->line, TP_CSV_MAX_LINE);
    if (memchr(c->p, '\0', len))
        return tp_error_set(err, TP_EPARSE, "%s:%d: NUL byte in the line", c->name,
                            c->line);
    memcpy(c->buf, c->p, len);
    c->buf[len] = '\0';
    c->p = nl ? nl + 1 : c->end;
    c->nfield = 0;
    for (char *s = c->buf;;) {
        if (c->nfield == TP_CSV_MAX_FIELDS)
            return tp_error_set(err, TP_EPARSE, "%s:%d: more than %d fields", c->name,
                                c->line, TP_CSV_MAX_FIELDS);
        c->field[c->nfield++] = s;
        char *comma = strchr(s, ',');
        if (!comma)
            break;
        *comma = '\0';
        s = comma + 1;
    }
    return 1;
}

bool tp_csv_blank(const tp_csv_t *c)
{
    return c->nfield == 1 && !c->field[0][0];
}

bool tp_csv_at_end(const tp_csv_t *c)
{
    return c->p >= c->end;
}
