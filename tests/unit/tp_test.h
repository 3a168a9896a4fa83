/*
 * tests/unit/tp_test.h — the in-tree test runner's API.
 *
 *   TP_TEST(name) { TP_CHECK(x == 1); TP_CHECK_EQ_INT(a, b); TP_ASSERT(p != NULL); }
 *
 * Tests register themselves at start-up; build/unit-tests runs them all (or those
 * whose name contains one of its arguments, less those whose name contains an
 * argument "-S"; TP_TEST_TIMES=1 prints each test's seconds on stderr) and prints
 * "N passed, N failed, N skipped".
 * TP_CHECK records a failure and goes on; TP_ASSERT records it and returns.
 * TP_SKIP(reason) ends a test as skipped (use only for absent ../shared data).
 */
#ifndef TP_TEST_H
#define TP_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef void (*tp_test_fn)(void);
void tp_test_register(const char *name, tp_test_fn fn);
void tp_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tp_test_skip(const char *reason);
/* Directory of the shared data (TP_SHARED, default ../shared); NULL when absent. */
const char *tp_test_shared(void);
/* A whole file, NUL-terminated (caller frees), or NULL when it cannot be read.
 * len may be NULL. */
char *tp_test_slurp(const char *path, size_t *len);
/* How many times more random instances property tests run: TP_SOAK (default 1;
 * `make soak` sets it). Each extra round uses fresh seeds. */
int tp_test_soak(void);
/* In a sanitizer build, the heaviest property tests run one in TP_SAN_STRIDE of
 * their random instances (the same instances as the plain build, which runs them
 * all; tests/run.sh sets 4); 1 in the plain build or without the variable. The
 * summary line says so when it is above 1. */
int tp_test_stride(void);
/* Directory of the source tree's tests/ (for corpus files). */
const char *tp_test_srcdir(void);

#define TP_IS_FLOAT_(x) _Generic((x), float : 1, double : 1, long double : 1, default : 0)
/* For TP_CHECK_EQ_INT: an integer type, or a floating value that is a whole number
 * within long long's range (so never NaN). */
static inline bool tp_test_int_ok_(int is_float, double v)
{
    return !is_float ||
           (v == v && v >= -9.2e18 && v <= 9.2e18 && v == (double)(long long)v);
}

#define TP_TEST(name)                                                                    \
    static void name(void);                                                              \
    __attribute__((constructor)) static void name##_register(void)                       \
    {                                                                                    \
        tp_test_register(#name, name);                                                   \
    }                                                                                    \
    static void name(void)

#define TP_CHECK(cond)                                                                   \
    do {                                                                                 \
        if (!(cond))                                                                     \
            tp_test_fail(__FILE__, __LINE__, "check failed: %s", #cond);                 \
    } while (0)
#define TP_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            tp_test_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);             \
            return;                                                                      \
        }                                                                                \
    } while (0)
/* Both sides must be integers: a floating value that is NaN (a missing KPI, say),
 * out of range or not whole fails the check instead of being cast. */
#define TP_CHECK_EQ_INT(a, b)                                                            \
    do {                                                                                 \
        __typeof__(a) ta_ = (a);                                                         \
        __typeof__(b) tb_ = (b);                                                         \
        if (!tp_test_int_ok_(TP_IS_FLOAT_(ta_), (double)ta_) ||                          \
            !tp_test_int_ok_(TP_IS_FLOAT_(tb_), (double)tb_)) {                          \
            tp_test_fail(__FILE__, __LINE__, "%s == %s: %.17g, %.17g: not integers", #a, \
                         #b, (double)ta_, (double)tb_);                                  \
            break;                                                                       \
        }                                                                                \
        long long a_ = (long long)ta_, b_ = (long long)tb_;                              \
        if (a_ != b_)                                                                    \
            tp_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);  \
    } while (0)
#define TP_CHECK_EQ_DBL(a, b, tol)                                                       \
    do {                                                                                 \
        double a_ = (double)(a), b_ = (double)(b);                                       \
        if (!(a_ - b_ <= (tol) && b_ - a_ <= (tol)))                                     \
            tp_test_fail(__FILE__, __LINE__, "%s == %s: %.9g != %.9g", #a, #b, a_, b_);  \
    } while (0)
#define TP_CHECK_STR(a, b)                                                               \
    do {                                                                                 \
        const char *a_ = (a), *b_ = (b);                                                 \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                           \
            tp_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,       \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                        \
    } while (0)
#define TP_CHECK_CONTAINS(hay, needle)                                                   \
    do {                                                                                 \
        const char *h_ = (hay), *n_ = (needle);                                          \
        if (!h_ || !strstr(h_, n_))                                                      \
            tp_test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"",           \
                         h_ ? h_ : "(null)", n_);                                        \
    } while (0)
#define TP_SKIP(reason)                                                                  \
    do {                                                                                 \
        tp_test_skip(reason);                                                            \
        return;                                                                          \
    } while (0)

#endif
