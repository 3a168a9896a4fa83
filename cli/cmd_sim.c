/*
 * cli/cmd_sim.c — `trustplace sim SCENARIO …` and `trustplace sim merge DIR…`:
 * run a what-if scenario under several policies (sim/sim.h), print the summary
 * table, write summary.json / timeseries.csv / report.html.
 */
#include "cli/commands.h"
#include "cli/inputs.h"
#include "sim/sim.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: trustplace sim SCENARIO [--policy P,...] [--out DIR] [--seed S]\n"
    "                      [--seeds A-B|S,...] [--shard i/n] [--quiet]\n"
    "                      [--progress-every SECONDS] [--no-validate]\n"
    "       trustplace sim merge --out DIR SHARD_DIR...\n\n"
    "Simulates the scenario (docs/sim.md) under each policy — trustplace,\n"
    "capacity-first, first-fit, efficiency-greedy — and prints a summary table.\n"
    "  --policy P,...  policies to compare (default: the scenario's list)\n"
    "  --out DIR       write DIR/summary.json, DIR/timeseries.csv, DIR/report.html\n"
    "  --seed S        override the scenario's seed\n"
    "  --seeds 1-10    run every variant with each seed (also \"1,4,9\"; the\n"
    "                  scenario's \"seeds\" by default) and report the mean and a\n"
    "                  95% confidence interval of every KPI\n"
    "  --shard i/n     run the runs u (variant v, seed k: u = v·seeds + k) with\n"
    "                  u % n == i;\n"
    "                  \"--shard n\" reads i from SLURM_ARRAY_TASK_ID (minus\n"
    "                  SLURM_ARRAY_TASK_MIN) or JOB_COMPLETION_INDEX\n"
    "  --quiet         no table, no progress\n"
    "  --progress-every S  when stderr is not a terminal, a log line every S\n"
    "                  seconds (default 30; 0: none): simulated time, events/s, ETA\n"
    "  --no-validate   skip re-checking every decision with the validator\n"
    "merge combines shard output directories into one summary and report, byte\n"
    "for byte what the unsharded run writes.\n";

typedef struct {
    int last;         /* per mille shown */
    double every_s;   /* log lines: their interval */
    double t0, t_log; /* wall clock: the start, the last line */
} progress_t;

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a terminal (Slurm, Kubernetes logs): one line every every_s seconds. */
static void progress_log(void *arg, double done, const char *what, long long events)
{
    progress_t *p = arg;
    double t = now_wall();
    if (t - p->t_log < p->every_s && done < 1)
        return;
    p->t_log = t;
    double el = t - p->t0;
    char eta[32] = "?";
    if (done > 0.001)
        snprintf(eta, sizeof eta, "%.0f s", el * (1 - done) / done);
    fprintf(stderr,
            "trustplace sim: progress %.1f%%, %s, %lld events, %.0f events/s, %.0f s "
            "elapsed, ETA %s\n",
            done * 100, what, events, el > 0 ? events / el : 0, el, eta);
    fflush(stderr);
}

static void progress(void *arg, double done, const char *what, long long events)
{
    progress_t *p = arg;
    (void)events;
    int pm = (int)(done * 1000);
    if (pm == p->last && done < 1)
        return;
    p->last = pm;
    int bar = (int)(done * 30);
    fprintf(stderr, "\r[%.*s%*s] %5.1f%%  %-40.40s", bar,
            "##############################", 30 - bar, "", done * 100, what);
    if (done >= 1)
        fputc('\n', stderr);
    fflush(stderr);
}

/* "i/n", "/n" or "n"; a missing i comes from the job-array environment. */
static int parse_shard(const char *s, int *i, int *n)
{
    const char *slash = strchr(s, '/');
    const char *ns = slash ? slash + 1 : s;
    char *e;
    long nv = strtol(ns, &e, 10);
    if (*e || nv < 1 || nv > 1000000)
        return -1;
    *n = (int)nv;
    if (slash && slash != s) {
        long iv = strtol(s, &e, 10);
        if (e != slash || iv < 0)
            return -1;
        *i = (int)iv;
        return 0;
    }
    const char *env = getenv("SLURM_ARRAY_TASK_ID");
    long base = 0;
    if (env && *env) {
        const char *min = getenv("SLURM_ARRAY_TASK_MIN");
        if (min && *min)
            base = strtol(min, NULL, 10);
    } else {
        env = getenv("JOB_COMPLETION_INDEX");
    }
    if (!env || !*env) {
        fprintf(stderr,
                "trustplace sim: --shard %s: no index given and neither "
                "SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set\n",
                s);
        return -2;
    }
    long iv = strtol(env, &e, 10) - base;
    if (*e || iv < 0)
        return -1;
    *i = (int)iv;
    return 0;
}

static int merge(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL;
    int c, quiet = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        if (c == 'h') {
            printf("%s", usage_text);
            return TP_EXIT_OK;
        }
        if (c == 'o')
            out = optarg;
        else if (c == 'q')
            quiet = 1;
        else {
            fprintf(stderr, "%s", usage_text);
            return TP_EXIT_INPUT;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "trustplace sim merge: no shard directories given\n%s",
                usage_text);
        return TP_EXIT_INPUT;
    }
    tp_sim_out_t *res;
    tp_error_t err;
    if (tp_sim_merge((const char *const *)argv + optind, argc - optind, &res, &err) < 0) {
        fprintf(stderr, "trustplace sim merge: %s\n", err.text);
        return TP_EXIT_INPUT;
    }
    int rc = TP_EXIT_OK;
    if (!quiet)
        tp_sim_out_print(res, stdout);
    if (out && tp_sim_out_write(res, out, &err) < 0) {
        fprintf(stderr, "trustplace sim merge: %s\n", err.text);
        rc = TP_EXIT_INPUT;
    }
    tp_sim_out_free(res);
    return rc;
}

int tp_cmd_sim(int argc, char **argv)
{
    static const struct option opts[] = {{"policy", required_argument, 0, 'p'},
                                         {"out", required_argument, 0, 'o'},
                                         {"seed", required_argument, 0, 's'},
                                         {"shard", required_argument, 0, 'S'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"no-validate", no_argument, 0, 'V'},
                                         {"help", no_argument, 0, 'h'},
                                         {"seeds", required_argument, 0, 'E'},
                                         {"progress-every", required_argument, 0, 'P'},
                                         {0, 0, 0, 0}};
    double every = 30;
    tp_sim_opts_t o = {0};
    const char *out = NULL;
    int c, quiet = 0;
    if (argc >= 2 && !strcmp(argv[1], "merge"))
        return merge(argc - 1, argv + 1);
    o.shard_count = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("%s", usage_text);
            return TP_EXIT_OK;
        case 'p':
            o.policies = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 's': {
            long long v = tp_parse_count(optarg);
            if (v < 0) {
                fprintf(stderr,
                        "trustplace sim: --seed: expected a non-negative integer, "
                        "got \"%s\"\n",
                        optarg);
                return TP_EXIT_INPUT;
            }
            o.seed_set = true;
            o.seed = (uint64_t)v;
            break;
        }
        case 'S': {
            int r = parse_shard(optarg, &o.shard_index, &o.shard_count);
            if (r == -1)
                fprintf(stderr,
                        "trustplace sim: --shard: expected i/n with 0 ≤ i < n, got "
                        "\"%s\"\n",
                        optarg);
            if (r < 0)
                return TP_EXIT_INPUT;
            if (o.shard_index >= o.shard_count) {
                fprintf(stderr, "trustplace sim: --shard: index %d is not below %d\n",
                        o.shard_index, o.shard_count);
                return TP_EXIT_INPUT;
            }
            break;
        }
        case 'E':
            o.seeds = optarg;
            break;
        case 'P': {
            char *e;
            every = strtod(optarg, &e);
            if (*e || e == optarg || !(every >= 0 && every <= 86400)) {
                fprintf(stderr,
                        "trustplace sim: --progress-every: expected seconds in 0..86400, "
                        "got \"%s\"\n",
                        optarg);
                return TP_EXIT_INPUT;
            }
            break;
        }
        case 'q':
            quiet = 1;
            break;
        case 'V':
            o.no_validate = true;
            break;
        default:
            fprintf(stderr, "%s", usage_text);
            return TP_EXIT_INPUT;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "trustplace sim: expected one scenario file\n%s", usage_text);
        return TP_EXIT_INPUT;
    }
    tp_scenario_t *sc;
    tp_error_t err;
    if (tp_scenario_load(argv[optind], &sc, &err) < 0) {
        fprintf(stderr, "trustplace sim: %s\n", err.text);
        return TP_EXIT_INPUT;
    }
    progress_t pr = {-1, every, now_wall(), now_wall()};
    if (!quiet && isatty(STDERR_FILENO)) {
        o.progress = progress;
        o.progress_arg = &pr;
    } else if (!quiet && every > 0) {
        o.progress = progress_log;
        o.progress_arg = &pr;
    }
    tp_sim_out_t *res;
    int rc = tp_sim_run(sc, &o, &res, &err);
    tp_scenario_free(sc);
    if (rc < 0) {
        if (o.progress == progress)
            fputc('\n', stderr);
        fprintf(stderr, "trustplace sim: %s\n", err.text);
        return rc == TP_EVIOLATION ? TP_EXIT_NO : TP_EXIT_INPUT;
    }
    double wall_s;
    long long events;
    tp_sim_out_perf(res, &wall_s, &events);
    if (!quiet) {
        tp_sim_out_print(res, stdout);
        char b1[32];
        fprintf(stderr, "trustplace sim: %s events in %.2f s (%.0f events/s)\n",
                tp_fmt_int(b1, events), wall_s, wall_s > 0 ? events / wall_s : 0);
    }
    rc = TP_EXIT_OK;
    if (out && tp_sim_out_write(res, out, &err) < 0) {
        fprintf(stderr, "trustplace sim: %s\n", err.text);
        rc = TP_EXIT_INPUT;
    }
    tp_sim_out_free(res);
    return rc;
}
