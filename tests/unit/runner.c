/* tests/unit/runner.c — registers, runs and counts the unit and property tests. */
#include "tests/unit/tp_test.h"

#include "util/file.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_TESTS 1024

struct test {
    const char *name;
    tp_test_fn fn;
};
static struct test tests[MAX_TESTS];
static int ntests;
static int cur_failed, cur_skipped;

void tp_test_register(const char *name, tp_test_fn fn)
{
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(2);
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

void tp_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cur_failed++;
}

void tp_test_skip(const char *reason)
{
    fprintf(stderr, "  skipped: %s\n", reason);
    cur_skipped = 1;
}

const char *tp_test_shared(void)
{
    const char *d = getenv("TP_SHARED");
    struct stat st;
    if (!d || !*d)
        d = "../shared";
    return stat(d, &st) == 0 && S_ISDIR(st.st_mode) ? d : NULL;
}

char *tp_test_slurp(const char *path, size_t *len)
{
    char *text;
    size_t n;
    tp_error_t err;
    if (tp_file_read(path, (size_t)1 << 30, &text, &n, &err) < 0)
        return NULL;
    if (len)
        *len = n;
    return text;
}

int tp_test_soak(void)
{
    const char *s = getenv("TP_SOAK");
    int k = s ? atoi(s) : 1;
    return k >= 1 ? k : 1;
}

/* Built with -fsanitize=address (GCC defines the first, clang has the second). */
#if defined(__SANITIZE_ADDRESS__)
#define TP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TP_SANITIZED 1
#endif
#endif
#ifndef TP_SANITIZED
#define TP_SANITIZED 0
#endif

int tp_test_stride(void)
{
    const char *s = TP_SANITIZED ? getenv("TP_SAN_STRIDE") : NULL;
    int k = s ? atoi(s) : 1;
    return k >= 1 ? k : 1;
}

const char *tp_test_srcdir(void)
{
    const char *d = getenv("TP_SRCDIR");
    return d && *d ? d : "tests";
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct test *)a)->name, ((const struct test *)b)->name);
}

/* Arguments are filters on test names (substrings): with one or more plain
 * ones, a test runs when it matches any; "-S" leaves out every test whose name
 * holds S (tests/run.sh splits the tests into disjoint groups this way). */
static bool selected(const char *name, int argc, char **argv)
{
    bool any_in = false, in = false;
    for (int a = 1; a < argc; a++) {
        if (argv[a][0] == '-') {
            if (strstr(name, argv[a] + 1))
                return false;
        } else {
            any_in = true;
            in = in || strstr(name, argv[a]);
        }
    }
    return in || !any_in;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    /* TP_TEST_TIMES=1: each test's line ends with its wall-clock seconds (to find
     * the slow ones; nothing asserts them). */
    int times = getenv("TP_TEST_TIMES") != NULL;

    qsort(tests, (size_t)ntests, sizeof tests[0], by_name);
    for (int i = 0; i < ntests; i++) {
        if (!selected(tests[i].name, argc, argv))
            continue;
        cur_failed = cur_skipped = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (times)
            fprintf(stderr, "time %s %.3f\n", tests[i].name,
                    (double)(t1.tv_sec - t0.tv_sec) +
                        (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        if (cur_failed) {
            failed++;
            printf("FAIL %s\n", tests[i].name);
        } else if (cur_skipped) {
            skipped++;
            printf("skip %s\n", tests[i].name);
        } else {
            passed++;
            printf("ok   %s\n", tests[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d skipped", passed, failed, skipped);
    if (tp_test_stride() > 1)
        printf(" (sanitizer build: 1 in %d of the heavy random instances)",
               tp_test_stride());
    printf("\n");
    /* Out before exit: a sanitizer that kills the process at exit (a leak) must
     * still leave the counts for tests/run.sh. */
    fflush(stdout);
    return failed ? 1 : 0;
}
