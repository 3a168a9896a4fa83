/*
 * workload/stub/nvml_stub.c — a stand-in for libnvidia-ml.so.1, built by the test
 * build as BUILD/libnvidia-ml-stub.so and loaded through TP_NVML_LIB.
 *
 *   TP_NVML_STUB_ENERGY_FILE  a file holding the energy counter in mJ (the tests
 *                             rewrite it); without it the counter advances at
 *                             TP_NVML_STUB_WATTS (default 100 W) of real time.
 *   TP_NVML_STUB_NO_ENERGY    set: the energy call says NOT_SUPPORTED, so the
 *                             meter falls back to sampling power.
 *   TP_NVML_STUB_POWER_MW     the power reading (default 100000 mW).
 *   TP_NVML_STUB_FAIL_INIT    set: nvmlInit fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

static struct nvmlDevice_st {
    int index;
} gpu0;
static double t_init;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double env_num(const char *name, double dflt)
{
    const char *v = getenv(name);
    return v && *v ? atof(v) : dflt;
}

nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlShutdown(void);
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d);
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj);
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw);
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len);
const char *nvmlErrorString(nvmlReturn_t r);

nvmlReturn_t nvmlInit_v2(void)
{
    if (getenv("TP_NVML_STUB_FAIL_INIT"))
        return 9; /* NVML_ERROR_DRIVER_NOT_LOADED */
    t_init = now();
    return 0;
}

nvmlReturn_t nvmlShutdown(void)
{
    return 0;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d)
{
    if (i != 0)
        return 2; /* NVML_ERROR_INVALID_ARGUMENT */
    *d = &gpu0;
    return 0;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj)
{
    (void)d;
    if (getenv("TP_NVML_STUB_NO_ENERGY"))
        return 3; /* NVML_ERROR_NOT_SUPPORTED */
    const char *path = getenv("TP_NVML_STUB_ENERGY_FILE");
    if (path && *path) {
        FILE *f = fopen(path, "r");
        int ok = f && fscanf(f, "%llu", mj) == 1;
        if (f)
            fclose(f);
        return ok ? 0 : 999; /* NVML_ERROR_UNKNOWN */
    }
    *mj = 5000000ull + (unsigned long long)((now() - t_init) *
                                            env_num("TP_NVML_STUB_WATTS", 100) * 1e3);
    return 0;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw)
{
    (void)d;
    *mw = (unsigned int)env_num("TP_NVML_STUB_POWER_MW", 100000);
    return 0;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len)
{
    (void)d;
    snprintf(name, len, "Stub GPU");
    return 0;
}

const char *nvmlErrorString(nvmlReturn_t r)
{
    switch (r) {
    case 3:
        return "Not Supported";
    case 9:
        return "Driver Not Loaded";
    default:
        return "Unknown Error";
    }
}
