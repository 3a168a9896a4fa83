/*
 * cli/cmd_collect.c — `trustplace collect`: poll the fleet's BMCs, verifiers and
 * GPU exporters into an observed state (the file `place --state` reads). With
 * --once, one cycle; otherwise one cycle per interval, rewriting --out
 * atomically each time, until SIGINT/SIGTERM (or --cycles N), then log out of
 * every Redfish session.
 */
#include "cli/commands.h"
#include "cli/inputs.h"
#include "collectors/collectors.h"
#include "model/state_json.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

typedef struct {
    uv_loop_t *loop;
    const tp_fleet_t *f;
    tp_collector_t *c;
    const char *out, *telemetry_out;
    bool once, stats;
    long cycles, done_cycles;
    int interval_s;
    int verbosity; /* 0 errors, 1 warnings, 2 info, 3 debug */
    int rc;
    long logged, suppressed; /* per cycle: a fleet of broken BMCs must not flood */
    uv_timer_t timer;
    uv_signal_t sigint, sigterm;
    bool stopping;
} run_t;

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: trustplace collect --config FLEET [--once] [--out STATE.json]\n"
        "                          [--interval S] [--cycles N] [--telemetry-out F]\n"
        "                          [--stats] [-v|--verbose] [-q|--quiet]\n"
        "Polls every node's BMC (Redfish), verifier (signed attestation results) and,\n"
        "when configured, dcgm-exporter, as the fleet file's \"collectors\" section "
        "says\n"
        "(docs/collectors.md), and writes the observed state. --once: one cycle (to\n"
        "stdout without --out). Otherwise one cycle per interval (the section's\n"
        "interval_s), rewriting --out atomically, until SIGINT/SIGTERM or --cycles N.\n"
        "--stats prints the cycle time, CPU seconds, peak RSS, requests and the naive\n"
        "sequential estimate to stderr. Exit 0, or 2 on bad input.\n");
}

static void log_fn(void *arg, tp_log_level_t lv, const char *msg)
{
    run_t *r = arg;
    static const char *const names[] = {"debug", "info", "warning", "error"};
    int need = lv == TP_LOG_ERROR ? 0 : lv == TP_LOG_WARN ? 1 : lv == TP_LOG_INFO ? 2 : 3;
    if (need > r->verbosity)
        return;
    if (r->verbosity < 3 && r->logged >= 50) {
        r->suppressed++;
        return;
    }
    r->logged++;
    fprintf(stderr, "trustplace collect: %s: %s\n", names[lv], msg);
}

static void print_stats(run_t *r)
{
    const tp_collect_stats_t *s = tp_collector_stats(r->c);
    struct rusage ru;
    double cpu = 0, mean = s->requests ? s->latency_sum_s / (double)s->requests : 0;
    double per_bmc = s->bmcs ? (double)s->requests / s->bmcs : 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    fprintf(stderr,
            "collect: cycle %.2f s wall, %.2f s CPU (process), peak RSS %.1f MB\n"
            "collect: %d BMCs (%d answered), %.1f requests per BMC, %llu requests, %llu "
            "failed, "
            "%llu retries, %.1f MB, at most %d in flight, %llu new connections\n"
            "collect: attestation: %d accepted, %d rejected\n"
            "collect: mean request latency %.0f ms; naive sequential estimate "
            "(requests x mean latency) %.0f s = %.1f h, i.e. %.0fx slower\n",
            s->wall_s, cpu, (double)ru.ru_maxrss / 1024.0, s->bmcs, s->bmcs_ok, per_bmc,
            (unsigned long long)s->requests, (unsigned long long)s->failures,
            (unsigned long long)s->retries, (double)s->bytes / 1e6, s->max_inflight,
            (unsigned long long)s->connects, s->nodes_attested, s->nodes_rejected,
            mean * 1000, s->latency_sum_s, s->latency_sum_s / 3600,
            s->wall_s > 0 ? s->latency_sum_s / s->wall_s : 0);
}

static int write_telemetry(run_t *r)
{
    json_t *doc = json_object();
    FILE *f;
    int rc;
    for (int n = 0; doc && n < r->f->nnodes; n++) {
        const tp_dcgm_t *d = tp_collector_telemetry(r->c, n);
        json_t *gpus = json_array();
        if (!d || !gpus) {
            json_decref(gpus);
            continue;
        }
        for (int g = 0; g < d->ngpus; g++) {
            const tp_dcgm_gpu_t *x = &d->gpus[g];
            json_t *o = json_pack("{s:i,s:s,s:s}", "gpu", x->gpu, "uuid", x->uuid,
                                  "model", x->model);
            if (!o)
                continue;
            if (!isnan(x->power_w))
                json_object_set_new(o, "power_w", json_real(x->power_w));
            if (!isnan(x->util_pct))
                json_object_set_new(o, "util_pct", json_real(x->util_pct));
            if (!isnan(x->fb_free_mib))
                json_object_set_new(o, "fb_free_mib", json_real(x->fb_free_mib));
            json_array_append_new(gpus, o);
        }
        json_object_set_new(
            doc, r->f->nodes[n].id,
            json_pack("{s:s,s:o}", "hostname", d->hostname, "gpus", gpus));
    }
    f = doc ? tp_out_open(r->telemetry_out) : NULL;
    if (!f) {
        json_decref(doc);
        return -1;
    }
    rc = json_dumpf(doc, f, JSON_INDENT(1)) < 0 ? -1 : 0;
    fputc('\n', f);
    json_decref(doc);
    return tp_out_close(f, r->telemetry_out) < 0 ? -1 : rc;
}

static void stop(run_t *r);

static void cycle_done(tp_collector_t *c, void *arg)
{
    run_t *r = arg;
    tp_error_t err = {0};
    const tp_state_t *s = tp_collector_state(c);
    int rc;
    r->done_cycles++;
    if (r->suppressed)
        fprintf(stderr,
                "trustplace collect: %ld more messages this cycle not shown (-vv shows "
                "all)\n",
                r->suppressed);
    r->logged = r->suppressed = 0;
    if (r->out)
        rc = tp_state_save(r->out, r->f, s, &err);
    else
        rc = tp_state_write(stdout, r->f, s, &err) == 0 && fflush(stdout) == 0 ? 0
                                                                               : TP_EIO;
    if (rc < 0) {
        fprintf(stderr, "trustplace collect: %s\n",
                err.text[0] ? err.text : "write error");
        r->rc = TP_EXIT_INPUT;
    }
    if (r->telemetry_out && write_telemetry(r) < 0)
        r->rc = TP_EXIT_INPUT;
    if (r->stats)
        print_stats(r);
    if (r->once || (r->cycles > 0 && r->done_cycles >= r->cycles) || r->stopping)
        stop(r);
}

static void on_tick(uv_timer_t *t)
{
    run_t *r = t->data;
    if (!r->stopping && tp_collector_cycle(r->c, cycle_done, r) < 0)
        log_fn(r, TP_LOG_WARN, "the previous cycle is still running; skipping this one");
}

static void closed(uv_handle_t *h)
{
    (void)h;
}

static void collector_closed(void *arg)
{
    run_t *r = arg;
    r->c = NULL;
    uv_close((uv_handle_t *)&r->timer, closed);
    uv_close((uv_handle_t *)&r->sigint, closed);
    uv_close((uv_handle_t *)&r->sigterm, closed);
}

static void stop(run_t *r)
{
    if (r->stopping && !r->c)
        return;
    r->stopping = true;
    uv_timer_stop(&r->timer);
    if (r->c) {
        tp_collector_t *c = r->c;
        tp_collector_close(c, collector_closed, r);
    }
}

static void on_signal(uv_signal_t *s, int sig)
{
    run_t *r = s->data;
    (void)sig;
    if (r->stopping)
        return;
    log_fn(r, TP_LOG_INFO, "signal: logging out and stopping");
    stop(r);
}

int tp_cmd_collect(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"once", no_argument, 0, '1'},
                                         {"out", required_argument, 0, 'o'},
                                         {"interval", required_argument, 0, 'i'},
                                         {"cycles", required_argument, 0, 'n'},
                                         {"telemetry-out", required_argument, 0, 't'},
                                         {"stats", no_argument, 0, 's'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *config = NULL;
    run_t r = {0};
    tp_fleet_t *f = NULL;
    tp_collect_cfg_t *cfg = NULL;
    tp_error_t err = {0};
    uv_loop_t loop;
    long long v;
    int c;
    r.verbosity = 1;
    r.interval_s = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vq", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case '1':
            r.once = true;
            break;
        case 'o':
            r.out = optarg;
            break;
        case 'i':
            if ((v = tp_parse_count(optarg)) < 1 || v > 86400) {
                fprintf(stderr,
                        "trustplace collect: --interval wants 1..86400 seconds\n");
                return TP_EXIT_INPUT;
            }
            r.interval_s = (int)v;
            break;
        case 'n':
            if ((v = tp_parse_count(optarg)) < 1) {
                fprintf(stderr, "trustplace collect: --cycles wants a positive count\n");
                return TP_EXIT_INPUT;
            }
            r.cycles = (long)v;
            break;
        case 't':
            r.telemetry_out = optarg;
            break;
        case 's':
            r.stats = true;
            break;
        case 'v':
            r.verbosity++;
            break;
        case 'q':
            r.verbosity = 0;
            break;
        case 'h':
            usage(stdout);
            return TP_EXIT_OK;
        default:
            usage(stderr);
            return TP_EXIT_INPUT;
        }
    }
    if (!config || optind != argc || (!r.once && !r.out)) {
        if (config && !r.once && !r.out)
            fprintf(stderr, "trustplace collect: polling needs --out (or use --once)\n");
        usage(stderr);
        return TP_EXIT_INPUT;
    }
    if (tp_fleet_load(config, &f, &err) < 0 ||
        tp_collect_config_load(f, &cfg, &err) < 0) {
        fprintf(stderr, "trustplace collect: %s\n", err.text);
        tp_fleet_free(f);
        return TP_EXIT_INPUT;
    }
    if (r.interval_s < 0)
        r.interval_s = cfg->interval_s;
    {
        /* Thousands of BMCs need thousands of sockets. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    uv_loop_init(&loop);
    r.loop = &loop;
    r.f = f;
    r.c = tp_collector_new(&loop, f, cfg, &err);
    if (!r.c) {
        fprintf(stderr, "trustplace collect: %s\n", err.text);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        tp_collect_config_free(cfg);
        tp_fleet_free(f);
        return TP_EXIT_INPUT;
    }
    tp_collector_set_log(r.c, log_fn, &r);
    uv_timer_init(&loop, &r.timer);
    r.timer.data = &r;
    uv_signal_init(&loop, &r.sigint);
    uv_signal_init(&loop, &r.sigterm);
    r.sigint.data = r.sigterm.data = &r;
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    if (r.once)
        on_tick(&r.timer);
    else
        uv_timer_start(&r.timer, on_tick, 0, (uint64_t)r.interval_s * 1000);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "trustplace collect: internal error: handles left open\n");
    tp_collect_config_free(cfg);
    tp_fleet_free(f);
    return r.rc;
}
