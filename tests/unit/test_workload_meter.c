/*
 * tests/unit/test_workload_meter.c — the energy meters against fakes: a powercap
 * tree built in a temp dir (counter wrap included), the stub NVML library the
 * test build makes (BUILD/libnvidia-ml-stub.so, next to this binary), and a
 * Redfish sampling hook.
 */
#include "tests/unit/tp_test.h"
#include "workload/workload.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *tmpdir(void)
{
    char *d = strdup("/tmp/tp-meter-XXXXXX");
    return mkdtemp(d) ? d : NULL;
}

static void rmtree(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", d);
}

/* Atomic, so that a polling meter never reads half a file. */
static void put(const char *dir, const char *file, const char *text)
{
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    fputs(text, f);
    fclose(f);
    rename(tmp, path);
}

static void zone(const char *root, const char *name, const char *kind, const char *energy,
                 const char *range)
{
    char d[512];
    snprintf(d, sizeof d, "%s/%s", root, name);
    mkdir(d, 0777);
    put(d, "name", kind);
    put(d, "energy_uj", energy);
    put(d, "max_energy_range_uj", range);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

TP_TEST(workload_meter_rapl_wraps)
{
    char *root = tmpdir(), d0[512];
    TP_ASSERT(root);
    zone(root, "intel-rapl:0", "package-0\n", "262143328000\n", "262143328850\n");
    zone(root, "intel-rapl:0:0", "core\n", "5\n", "1000\n"); /* part of package 0 */
    zone(root, "intel-rapl:1", "psys\n", "7\n", "1000\n");   /* overlaps the packages */
    zone(root, "intel-rapl:2", "package-1\n", "1000000\n", "262143328850\n");
    tp_meter_opts_t o = {.powercap_root = root, .poll_ms = 5};
    tp_meter_t *m = NULL;
    tp_error_t err;
    tp_error_clear(&err);
    TP_ASSERT(tp_meter_open(TP_METER_RAPL, false, &o, &m, &err) == 0);
    TP_CHECK_EQ_INT(tp_meter_kind(m), TP_METER_RAPL);
    TP_CHECK_CONTAINS(tp_meter_describe(m), "2 package zone(s)");
    TP_CHECK_EQ_DBL(tp_meter_resolution_j(m), 1e-6, 0);
    TP_ASSERT(tp_meter_begin(m, &err) == 0);
    snprintf(d0, sizeof d0, "%s/intel-rapl:0", root);
    sleep_ms(20);
    put(d0, "energy_uj", "262143328700\n"); /* +700 µJ */
    sleep_ms(20);
    put(d0, "energy_uj", "1300\n"); /* wrapped: +150 to the top, +1300 after */
    snprintf(d0, sizeof d0, "%s/intel-rapl:2", root);
    put(d0, "energy_uj", "3500000\n"); /* +2.5 J on package 1 */
    sleep_ms(20);
    double j = -1;
    bool measured = false;
    TP_ASSERT(tp_meter_end(m, &j, &measured, &err) == 0);
    TP_CHECK(measured);
    TP_CHECK_EQ_DBL(j, 2.5 + (700 + 150 + 1300) * 1e-6, 1e-12);
    /* a second run starts from the current readings */
    TP_ASSERT(tp_meter_begin(m, &err) == 0);
    TP_ASSERT(tp_meter_end(m, &j, &measured, &err) == 0);
    TP_CHECK_EQ_DBL(j, 0, 0);
    tp_meter_close(m);

    /* unreadable counters and empty trees are unavailable, with the reason */
    rmtree(root);
    mkdir(root, 0777);
    TP_CHECK_EQ_INT(tp_meter_open(TP_METER_RAPL, false, &o, &m, &err), TP_EUNSUPPORTED);
    TP_CHECK_CONTAINS(err.text, "no package zones");
    zone(root, "intel-rapl:0", "package-0\n", "abc\n", "100\n");
    TP_CHECK_EQ_INT(tp_meter_open(TP_METER_RAPL, false, &o, &m, &err), TP_EPARSE);
    TP_CHECK_CONTAINS(err.text, "energy_uj: not an unsigned integer");
    rmtree(root);
    TP_CHECK_EQ_INT(tp_meter_open(TP_METER_RAPL, false, &o, &m, &err), TP_EUNSUPPORTED);
    /* auto on the CPU falls back to none, and says why */
    TP_ASSERT(tp_meter_open(TP_METER_AUTO, false, &o, &m, &err) == 0);
    TP_CHECK_EQ_INT(tp_meter_kind(m), TP_METER_NONE);
    TP_CHECK_CONTAINS(tp_meter_describe(m), "unmeasured");
    TP_ASSERT(tp_meter_begin(m, &err) == 0);
    TP_ASSERT(tp_meter_end(m, &j, &measured, &err) == 0);
    TP_CHECK(!measured);
    TP_CHECK_EQ_DBL(j, 0, 0);
    tp_meter_close(m);
    free(root);
}

static bool stub_path(char *buf, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return false;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    snprintf(buf, n, "%s/libnvidia-ml-stub.so", exe);
    return access(buf, R_OK) == 0;
}

TP_TEST(workload_meter_nvml_stub)
{
    char lib[PATH_MAX + 32];
    if (!stub_path(lib, sizeof lib)) {
        tp_test_fail(__FILE__, __LINE__, "%s missing: run make tests", lib);
        return;
    }
    char *dir = tmpdir(), efile[256];
    TP_ASSERT(dir);
    snprintf(efile, sizeof efile, "%s/energy", dir);
    put(dir, "energy", "1000\n");
    setenv("TP_NVML_STUB_ENERGY_FILE", efile, 1);
    tp_meter_opts_t o = {.nvml_lib = lib, .poll_ms = 5};
    tp_meter_t *m = NULL;
    tp_error_t err;
    tp_error_clear(&err);
    TP_ASSERT(tp_meter_open(TP_METER_NVML, true, &o, &m, &err) == 0);
    TP_CHECK_CONTAINS(tp_meter_describe(m), "Stub GPU");
    TP_CHECK_CONTAINS(tp_meter_describe(m), "total-energy counter");
    TP_CHECK_EQ_DBL(tp_meter_resolution_j(m), 1e-3, 0);
    TP_ASSERT(tp_meter_begin(m, &err) == 0);
    sleep_ms(15);
    put(dir, "energy", "2250\n");
    sleep_ms(15);
    put(dir, "energy", "3500\n");
    double j = 0;
    bool measured = false;
    TP_ASSERT(tp_meter_end(m, &j, &measured, &err) == 0);
    TP_CHECK(measured);
    TP_CHECK_EQ_DBL(j, 2.5, 1e-12);
    /* a counter that runs backwards is an error, not negative energy */
    TP_ASSERT(tp_meter_begin(m, &err) == 0);
    put(dir, "energy", "10\n");
    TP_CHECK_EQ_INT(tp_meter_end(m, &j, &measured, &err), TP_EIO);
    TP_CHECK_CONTAINS(err.text, "backwards");
    tp_meter_close(m);
    unsetenv("TP_NVML_STUB_ENERGY_FILE");

    /* no energy counter: power is sampled and integrated (100 W stub) */
    setenv("TP_NVML_STUB_NO_ENERGY", "1", 1);
    setenv("TP_NVML_STUB_POWER_MW", "100000", 1);
    TP_ASSERT(tp_meter_open(TP_METER_NVML, true, &o, &m, &err) == 0);
    TP_CHECK_CONTAINS(tp_meter_describe(m), "power sampled every 5 ms");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    TP_ASSERT(tp_meter_begin(m, &err) == 0);
    sleep_ms(60);
    TP_ASSERT(tp_meter_end(m, &j, &measured, &err) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt =
        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    TP_CHECK(measured);
    TP_CHECK(j > 100 * 0.055 && j <= 100 * dt + 1e-9);
    tp_meter_close(m);
    unsetenv("TP_NVML_STUB_NO_ENERGY");
    unsetenv("TP_NVML_STUB_POWER_MW");

    setenv("TP_NVML_STUB_FAIL_INIT", "1", 1);
    TP_CHECK_EQ_INT(tp_meter_open(TP_METER_NVML, true, &o, &m, &err), TP_EUNSUPPORTED);
    TP_CHECK_CONTAINS(err.text, "Driver Not Loaded");
    /* auto on a GPU run falls back to none */
    TP_ASSERT(tp_meter_open(TP_METER_AUTO, true, &o, &m, &err) == 0);
    TP_CHECK_EQ_INT(tp_meter_kind(m), TP_METER_NONE);
    tp_meter_close(m);
    unsetenv("TP_NVML_STUB_FAIL_INIT");
    o.nvml_lib = "/nonexistent/libnvidia-ml.so.1";
    TP_CHECK_EQ_INT(tp_meter_open(TP_METER_NVML, true, &o, &m, &err), TP_EUNSUPPORTED);
    TP_CHECK_CONTAINS(err.text, "cannot load");
    rmtree(dir);
    free(dir);
}

static int fake_bmc(void *ctx, double *watts, tp_error_t *err)
{
    (void)err;
    *watts = *(double *)ctx;
    return 0;
}

TP_TEST(workload_meter_redfish_hook)
{
    tp_meter_t *m = NULL;
    tp_error_t err;
    tp_error_clear(&err);
    TP_CHECK_EQ_INT(tp_meter_open(TP_METER_REDFISH, false, NULL, &m, &err),
                    TP_EUNSUPPORTED);
    TP_CHECK_CONTAINS(err.text, "not available: no BMC configured");
    double w = 250;
    tp_meter_opts_t o = {.redfish_sample = fake_bmc, .redfish_ctx = &w, .poll_ms = 5};
    TP_ASSERT(tp_meter_open(TP_METER_REDFISH, false, &o, &m, &err) == 0);
    TP_CHECK_CONTAINS(tp_meter_describe(m), "whole node");
    TP_ASSERT(tp_meter_begin(m, &err) == 0);
    sleep_ms(40);
    double j = 0;
    bool measured = false;
    TP_ASSERT(tp_meter_end(m, &j, &measured, &err) == 0);
    TP_CHECK(measured && j > 250 * 0.035 && j < 250 * 1.0);
    tp_meter_close(m);
    tp_meter_kind_t k;
    TP_CHECK_EQ_INT(tp_meter_kind_parse("rapl", &k), 0);
    TP_CHECK_EQ_INT(k, TP_METER_RAPL);
    TP_CHECK_EQ_INT(tp_meter_kind_parse("watts", &k), TP_EINVAL);
}
