/*
 * workload/meter.c — energy meters behind one interface.
 *
 *   rapl     Linux powercap package counters (energy_uj), wrap-around handled
 *            with max_energy_range_uj; polled so that no wrap is missed.
 *   nvml     NVIDIA's library through dlopen: the GPU's total-energy counter
 *            where the GPU has one, else its power draw sampled and integrated.
 *   redfish  the node's draw from the BMC, sampled through a callback that the
 *            Redfish collector provides; unavailable without one.
 *   none     measures nothing: energy is reported as unmeasured, not invented.
 *
 * Counters and power samples are both read by one polling thread between
 * tp_meter_begin and tp_meter_end.
 */
#include "workload/workload_internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RAPL_MAX_ZONES 16

/* The slice of the NVML API the meter uses (nvml.h is not needed to build). */
typedef int nvml_return_t;
typedef struct nvml_device *nvml_device_t;
enum { NVML_OK = 0, NVML_NOT_SUPPORTED = 3 };

typedef struct {
    void *dl;
    nvml_return_t (*init)(void);
    nvml_return_t (*shutdown)(void);
    nvml_return_t (*handle)(unsigned int, nvml_device_t *);
    nvml_return_t (*energy)(nvml_device_t, unsigned long long *);
    nvml_return_t (*power)(nvml_device_t, unsigned int *);
    nvml_return_t (*name)(nvml_device_t, char *, unsigned int);
    const char *(*errstr)(nvml_return_t);
    nvml_device_t dev;
    bool inited;
} nvml_t;

struct tp_meter {
    tp_meter_kind_t kind;
    bool counter; /* read() gives a raw counter; otherwise watts */
    double resolution_j;
    int poll_ms;
    char desc[320];
    /* rapl */
    int nzones;
    char *zone_energy[RAPL_MAX_ZONES];
    uint64_t zone_max[RAPL_MAX_ZONES], zone_last[RAPL_MAX_ZONES];
    /* nvml */
    nvml_t nv;
    unsigned long long nv_last;
    /* redfish */
    tp_power_sample_fn sample;
    void *sample_ctx;
    /* the polling thread */
    pthread_t th;
    bool running, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    double joules, last_w, last_t;
    double t_first, t_read; /* when the window's first and latest readings were taken */
    long readings;   /* readings taken in the window, its first and last included */
    tp_error_t fail; /* first failure while polling */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *const kind_names[] = {"none", "nvml", "rapl", "redfish", "auto"};

int tp_meter_kind_parse(const char *s, tp_meter_kind_t *out)
{
    for (int i = 0; i <= TP_METER_AUTO; i++)
        if (!strcmp(s, kind_names[i])) {
            *out = (tp_meter_kind_t)i;
            return 0;
        }
    return TP_EINVAL;
}

const char *tp_meter_kind_name(tp_meter_kind_t k)
{
    return (unsigned)k <= TP_METER_AUTO ? kind_names[k] : "?";
}

/* ---- rapl ---- */

static int read_u64(const char *path, uint64_t *v, tp_error_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tp_error_set(err, errno == EACCES ? TP_EUNSUPPORTED : TP_EIO, "%s: %s%s",
                            path, strerror(errno),
                            errno == EACCES ? " (RAPL counters are readable by root only)"
                                            : "");
    unsigned long long x;
    int n = fscanf(f, "%llu", &x);
    fclose(f);
    if (n != 1)
        return tp_error_set(err, TP_EPARSE, "%s: not an unsigned integer", path);
    *v = x;
    return 0;
}

static bool is_package_zone(const char *dir, const char *ent)
{
    /* Top-level zones are "intel-rapl:N"; "intel-rapl:N:M" are their parts. */
    const char *p = "intel-rapl:";
    size_t n = strlen(p);
    if (strncmp(ent, p, n) != 0 || !ent[n])
        return false;
    for (const char *c = ent + n; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    char path[4096], name[64] = "";
    snprintf(path, sizeof path, "%s/%s/name", dir, ent);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(name, sizeof name, f) && !strncmp(name, "package", 7);
    fclose(f);
    return ok; /* "psys" and others overlap the packages */
}

static int rapl_open(tp_meter_t *m, const tp_meter_opts_t *o, tp_error_t *err)
{
    const char *root =
        o && o->powercap_root ? o->powercap_root : getenv("TP_POWERCAP_ROOT");
    if (!root || !*root)
        root = "/sys/class/powercap";
    DIR *d = opendir(root);
    if (!d)
        return tp_error_set(err, TP_EUNSUPPORTED, "rapl: %s: %s", root, strerror(errno));
    struct dirent *e;
    char names[RAPL_MAX_ZONES][256];
    while ((e = readdir(d)) && m->nzones < RAPL_MAX_ZONES)
        if (is_package_zone(root, e->d_name))
            snprintf(names[m->nzones++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    if (m->nzones == 0)
        return tp_error_set(err, TP_EUNSUPPORTED, "rapl: no package zones under %s",
                            root);
    for (int i = 0; i < m->nzones; i++) {
        char path[4400];
        int rc;
        if (strlen(root) > 4000)
            return tp_error_set(err, TP_ERANGE, "rapl: powercap root path too long");
        snprintf(path, sizeof path, "%.4000s/%.255s/max_energy_range_uj", root, names[i]);
        if ((rc = read_u64(path, &m->zone_max[i], err)))
            return rc;
        if (m->zone_max[i] == 0)
            return tp_error_set(err, TP_EPARSE, "%s: range is 0", path);
        snprintf(path, sizeof path, "%.4000s/%.255s/energy_uj", root, names[i]);
        if (!(m->zone_energy[i] = strdup(path)))
            return tp_error_set(err, TP_ENOMEM, "out of memory");
        if ((rc = read_u64(path, &m->zone_last[i], err)))
            return rc;
    }
    m->counter = true;
    m->resolution_j = 1e-6;
    m->poll_ms = o && o->poll_ms > 0 ? o->poll_ms : 1000;
    snprintf(m->desc, sizeof m->desc,
             "rapl: %d package zone(s) under %s, 1e-06 J counter, polled every %d ms",
             m->nzones, root, m->poll_ms);
    return 0;
}

/* Energy since the last poll, counting one wrap of each zone at most; the
 * poll period keeps well under the shortest wrap time. */
static int rapl_poll(tp_meter_t *m, double *dj, tp_error_t *err)
{
    uint64_t cur[RAPL_MAX_ZONES];
    int rc;
    for (int i = 0; i < m->nzones; i++)
        if ((rc = read_u64(m->zone_energy[i], &cur[i], err)))
            return rc;
    double sum = 0;
    for (int i = 0; i < m->nzones; i++) {
        uint64_t d = cur[i] >= m->zone_last[i]
                         ? cur[i] - m->zone_last[i]
                         : m->zone_max[i] - m->zone_last[i] + cur[i];
        sum += (double)d * 1e-6;
        m->zone_last[i] = cur[i];
    }
    *dj = sum;
    return 0;
}

/* ---- nvml ---- */

static const char *nv_err(const nvml_t *nv, nvml_return_t r)
{
    static const char unknown[] = "unknown NVML error";
    return nv->errstr ? nv->errstr(r) : unknown;
}

static int nvml_open(tp_meter_t *m, const tp_meter_opts_t *o, tp_error_t *err)
{
    nvml_t *nv = &m->nv;
    const char *lib = o && o->nvml_lib ? o->nvml_lib : getenv("TP_NVML_LIB");
    if (!lib || !*lib)
        lib = "libnvidia-ml.so.1";
    if (!(nv->dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL))) {
        const char *why = dlerror();
        return tp_error_set(err, TP_EUNSUPPORTED, "nvml: cannot load %s: %s", lib,
                            why ? why : "?");
    }
    /* POSIX: dlsym's void * converts to a function pointer through memcpy. */
#define SYM(field, name)                                                                 \
    do {                                                                                 \
        void *p_ = dlsym(nv->dl, name);                                                  \
        if (!p_)                                                                         \
            return tp_error_set(err, TP_EUNSUPPORTED, "nvml: %s lacks %s", lib, name);   \
        memcpy(&nv->field, &p_, sizeof p_);                                              \
    } while (0)
    SYM(init, "nvmlInit_v2");
    SYM(shutdown, "nvmlShutdown");
    SYM(handle, "nvmlDeviceGetHandleByIndex_v2");
    SYM(energy, "nvmlDeviceGetTotalEnergyConsumption");
    SYM(power, "nvmlDeviceGetPowerUsage");
    SYM(name, "nvmlDeviceGetName");
    SYM(errstr, "nvmlErrorString");
#undef SYM
    nvml_return_t r = nv->init();
    if (r != NVML_OK)
        return tp_error_set(err, TP_EUNSUPPORTED, "nvml: nvmlInit: %s", nv_err(nv, r));
    nv->inited = true;
    int idx = o ? o->nvml_device : 0;
    if (idx < 0 || (r = nv->handle((unsigned)idx, &nv->dev)) != NVML_OK)
        return tp_error_set(err, TP_EUNSUPPORTED, "nvml: GPU %d: %s", idx,
                            idx < 0 ? "bad index" : nv_err(nv, r));
    char name[96] = "?";
    if (nv->name(nv->dev, name, sizeof name) != NVML_OK)
        snprintf(name, sizeof name, "?");
    r = nv->energy(nv->dev, &m->nv_last);
    if (r == NVML_OK) {
        m->counter = true;
        m->resolution_j = 1e-3;
        m->poll_ms = o && o->poll_ms > 0 ? o->poll_ms : 1000;
        snprintf(m->desc, sizeof m->desc,
                 "nvml: GPU %d (%s), total-energy counter, 0.001 J", idx, name);
        return 0;
    }
    unsigned int mw;
    if (r == NVML_NOT_SUPPORTED && (r = nv->power(nv->dev, &mw)) == NVML_OK) {
        m->counter = false;
        m->poll_ms = o && o->poll_ms > 0 ? o->poll_ms : 100;
        m->resolution_j = 1e-3 * m->poll_ms * 1e-3;
        snprintf(m->desc, sizeof m->desc,
                 "nvml: GPU %d (%s), power sampled every %d ms and integrated (no energy "
                 "counter)",
                 idx, name, m->poll_ms);
        return 0;
    }
    return tp_error_set(err, TP_EUNSUPPORTED,
                        "nvml: GPU %d reports neither energy nor power: %s", idx,
                        nv_err(nv, r));
}

static int nvml_poll(tp_meter_t *m, double *dj, tp_error_t *err)
{
    unsigned long long e;
    nvml_return_t r = m->nv.energy(m->nv.dev, &e);
    if (r != NVML_OK)
        return tp_error_set(err, TP_EIO, "nvml: energy counter: %s", nv_err(&m->nv, r));
    if (e < m->nv_last)
        return tp_error_set(err, TP_EIO,
                            "nvml: energy counter went backwards (%llu < %llu)", e,
                            m->nv_last);
    *dj = (double)(e - m->nv_last) * 1e-3;
    m->nv_last = e;
    return 0;
}

/* ---- power samples (nvml without a counter, redfish) ---- */

static int read_watts(tp_meter_t *m, double *w, tp_error_t *err)
{
    if (m->kind == TP_METER_REDFISH)
        return m->sample(m->sample_ctx, w, err);
    unsigned int mw;
    nvml_return_t r = m->nv.power(m->nv.dev, &mw);
    if (r != NVML_OK)
        return tp_error_set(err, TP_EIO, "nvml: power: %s", nv_err(&m->nv, r));
    *w = mw * 1e-3;
    return 0;
}

/* One poll: adds the energy since the previous one. Called with m->mu held. */
static int poll_once(tp_meter_t *m, tp_error_t *err)
{
    double dj = 0;
    int rc;
    if (m->counter) {
        double t = now_s(); /* just before the counter is read */
        rc = m->kind == TP_METER_RAPL ? rapl_poll(m, &dj, err) : nvml_poll(m, &dj, err);
        if (rc == 0)
            m->t_read = t;
    } else {
        double w, t = now_s();
        if ((rc = read_watts(m, &w, err)) == 0) {
            dj = 0.5 * (w + m->last_w) * (t - m->last_t); /* trapezoid */
            m->last_w = w;
            m->last_t = m->t_read = t;
        }
    }
    if (rc == 0) {
        m->joules += dj;
        m->readings++;
    }
    return rc;
}

static void *poller(void *arg)
{
    tp_meter_t *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(m->poll_ms % 1000) * 1000000L;
        ts.tv_sec += m->poll_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        int w = 0;
        while (!m->stop && w != ETIMEDOUT)
            w = pthread_cond_timedwait(&m->cv, &m->mu, &ts);
        if (m->stop)
            break;
        tp_error_t e;
        tp_error_clear(&e);
        if (poll_once(m, &e) != 0 && m->fail.code == 0)
            m->fail = e;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ---- the interface ---- */

static int open_kind(tp_meter_kind_t kind, const tp_meter_opts_t *o, tp_meter_t **out,
                     tp_error_t *err)
{
    tp_meter_t *m = calloc(1, sizeof *m);
    if (!m)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    m->kind = kind;
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = 0;
    switch (kind) {
    case TP_METER_NONE:
        snprintf(m->desc, sizeof m->desc, "none: energy unmeasured");
        break;
    case TP_METER_RAPL:
        rc = rapl_open(m, o, err);
        break;
    case TP_METER_NVML:
        rc = nvml_open(m, o, err);
        break;
    case TP_METER_REDFISH:
        if (!o || !o->redfish_sample) {
            rc = tp_error_set(err, TP_EUNSUPPORTED,
                              "redfish: not available: no BMC configured");
            break;
        }
        m->sample = o->redfish_sample;
        m->sample_ctx = o->redfish_ctx;
        m->poll_ms = o->poll_ms > 0 ? o->poll_ms : 1000;
        m->resolution_j = 1.0 * m->poll_ms * 1e-3; /* BMCs report whole watts */
        snprintf(m->desc, sizeof m->desc,
                 "redfish: node power from the BMC, sampled every %d ms and integrated "
                 "(whole node, not one GPU)",
                 m->poll_ms);
        break;
    default:
        rc = tp_error_set(err, TP_EINVAL, "meter kind %d", (int)kind);
    }
    if (rc) {
        tp_meter_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

int tp_meter_open(tp_meter_kind_t kind, bool prefer_gpu, const tp_meter_opts_t *opts,
                  tp_meter_t **out, tp_error_t *err)
{
    *out = NULL;
    if (kind != TP_METER_AUTO)
        return open_kind(kind, opts, out, err);
    tp_error_t ignored;
    tp_error_clear(&ignored);
    if (open_kind(prefer_gpu ? TP_METER_NVML : TP_METER_RAPL, opts, out, &ignored) == 0)
        return 0;
    int rc = open_kind(TP_METER_NONE, opts, out, err);
    if (rc == 0)
        snprintf((*out)->desc, sizeof(*out)->desc,
                 "none: energy unmeasured (auto: %.200s)", ignored.text);
    return rc;
}

void tp_meter_close(tp_meter_t *m)
{
    if (!m)
        return;
    if (m->running) {
        double j;
        bool meas;
        tp_meter_end(m, &j, &meas, NULL);
    }
    for (int i = 0; i < m->nzones; i++)
        free(m->zone_energy[i]);
    if (m->nv.dl) {
        if (m->nv.inited)
            m->nv.shutdown();
        dlclose(m->nv.dl);
    }
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m);
}

tp_meter_kind_t tp_meter_kind(const tp_meter_t *m)
{
    return m->kind;
}

const char *tp_meter_describe(const tp_meter_t *m)
{
    return m->desc;
}

double tp_meter_resolution_j(const tp_meter_t *m)
{
    return m->resolution_j;
}

long tp_meter_readings(const tp_meter_t *m)
{
    return m->kind == TP_METER_NONE ? 0 : m->readings;
}

double tp_meter_window_s(const tp_meter_t *m)
{
    return m->kind == TP_METER_NONE ? 0 : m->t_read - m->t_first;
}

int tp_meter_begin(tp_meter_t *m, tp_error_t *err)
{
    if (m->running)
        return tp_error_set(err, TP_EINVAL, "meter already running");
    m->joules = 0;
    tp_error_clear(&m->fail);
    if (m->kind == TP_METER_NONE)
        return 0;
    int rc = 0;
    double dj;
    m->t_first = m->t_read = now_s();
    m->readings = 1;
    if (m->counter) /* re-read the baselines */
        rc = m->kind == TP_METER_RAPL ? rapl_poll(m, &dj, err) : nvml_poll(m, &dj, err);
    else {
        /* The window starts when the sample is in hand, i.e. when the caller
         * starts its work: a slow sample (a BMC walk) must not widen it. */
        rc = read_watts(m, &m->last_w, err);
        m->t_first = m->t_read = m->last_t = now_s();
    }
    if (rc)
        return rc;
    m->stop = false;
    if (pthread_create(&m->th, NULL, poller, m) != 0)
        return tp_error_set(err, TP_EIO, "meter: cannot start the polling thread");
    m->running = true;
    return 0;
}

int tp_meter_end(tp_meter_t *m, double *joules, bool *measured, tp_error_t *err)
{
    *joules = 0;
    *measured = false;
    if (m->kind == TP_METER_NONE)
        return 0;
    if (!m->running)
        return tp_error_set(err, TP_EINVAL, "meter not running");
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->th, NULL);
    m->running = false;
    int rc = poll_once(m, err);
    if (rc)
        return rc;
    if (m->fail.code) {
        if (err)
            *err = m->fail;
        return m->fail.code;
    }
    *joules = m->joules;
    *measured = true;
    return 0;
}
