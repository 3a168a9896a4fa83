/* tests/unit/test_util_csv.c — the shared CSV line reader and whole-file reader. */
#include "tests/unit/tp_test.h"

#include "util/csv.h"
#include "util/file.h"

#include <stdlib.h>
#include <unistd.h>

TP_TEST(util_csv_lines_and_errors)
{
    static const char text[] = "a,b,,c\r\nx\n\nlast";
    tp_csv_t c;
    tp_error_t err;
    tp_csv_init(&c, "t.csv", text, sizeof text - 1);
    TP_CHECK_EQ_INT(tp_csv_next(&c, &err), 1);
    TP_CHECK_EQ_INT(c.nfield, 4);
    TP_CHECK_STR(c.field[2], "");
    TP_CHECK_STR(c.field[3], "c"); /* CR stripped */
    TP_CHECK_EQ_INT(tp_csv_next(&c, &err), 1);
    TP_CHECK(!tp_csv_blank(&c));
    TP_CHECK_EQ_INT(tp_csv_next(&c, &err), 1);
    TP_CHECK(tp_csv_blank(&c) && !tp_csv_at_end(&c));
    TP_CHECK_EQ_INT(tp_csv_next(&c, &err), 1);
    TP_CHECK_STR(c.field[0], "last");
    TP_CHECK(tp_csv_at_end(&c));
    TP_CHECK_EQ_INT(c.line, 4);
    TP_CHECK_EQ_INT(tp_csv_next(&c, &err), 0);

    static const char nul[] = "ok\nbad\0line\n";
    tp_csv_init(&c, "n.csv", nul, sizeof nul - 1);
    TP_CHECK_EQ_INT(tp_csv_next(&c, &err), 1);
    TP_CHECK_EQ_INT(tp_csv_next(&c, &err), TP_EPARSE);
    TP_CHECK_STR(err.text, "n.csv:2: NUL byte in the line");

    char many[64] = "";
    for (int i = 0; i <= TP_CSV_MAX_FIELDS; i++)
        strcat(many, i ? ",f" : "f");
    tp_csv_init(&c, "m.csv", many, strlen(many));
    TP_CHECK_EQ_INT(tp_csv_next(&c, &err), TP_EPARSE);
    TP_CHECK_STR(err.text, "m.csv:1: more than 16 fields");

    char *long_line = malloc(TP_CSV_MAX_LINE + 2);
    TP_ASSERT(long_line != NULL);
    memset(long_line, 'x', TP_CSV_MAX_LINE + 1);
    tp_csv_init(&c, "l.csv", long_line, TP_CSV_MAX_LINE + 1);
    TP_CHECK_EQ_INT(tp_csv_next(&c, &err), TP_EPARSE);
    TP_CHECK_STR(err.text, "l.csv:1: line longer than 1023 bytes");
    tp_csv_init(&c, "l.csv", long_line, TP_CSV_MAX_LINE);
    TP_CHECK_EQ_INT(tp_csv_next(&c, &err), 1);
    free(long_line);
}

TP_TEST(util_file_read)
{
    char path[] = "/tmp/tp-file-XXXXXX", *text = (char *)1;
    size_t len = 99;
    tp_error_t err;
    int fd = mkstemp(path);
    TP_ASSERT(fd >= 0);
    /* Larger than the first allocation, to cross a growth step. */
    char *big = malloc(200000);
    TP_ASSERT(big != NULL);
    memset(big, 'q', 200000);
    TP_ASSERT(write(fd, big, 200000) == 200000);
    close(fd);
    TP_CHECK_EQ_INT(tp_file_read(path, 1 << 20, &text, &len, &err), 0);
    TP_CHECK_EQ_INT(len, 200000);
    TP_CHECK(text && text[199999] == 'q' && text[200000] == '\0');
    free(text);
    TP_CHECK_EQ_INT(tp_file_read(path, 100000, &text, &len, &err), TP_ERANGE);
    TP_CHECK(text == NULL && len == 0);
    TP_CHECK_CONTAINS(err.text, "larger than 100000 bytes");
    unlink(path);
    TP_CHECK_EQ_INT(tp_file_read(path, 1 << 20, &text, &len, &err), TP_EIO);
    TP_CHECK_CONTAINS(err.text, path);
    free(big);
}
