/*
 * cli/cmd_bench.c — `trustplace bench`: runs the reference decoder (workload/)
 * on a checkpoint or a synthetic shape, per batch size, and reports tokens/s,
 * energy per token, time to first token and memory bandwidth; writes a fleet
 * `profiles` file with --out. See docs/workload.md. The Redfish meter samples
 * one node's draw through the collectors' Redfish code (--config, --node).
 */
#include "cli/commands.h"
#include "collectors/collectors.h"
#include "model/model.h"
#include "workload/workload.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_BATCHES 16

typedef struct {
    const char *model_dir, *shape, *dtype, *cache, *out, *report, *write_ckpt;
    const char *report_to, *token_file; /* --report-to URL: POST the profile to serve */
    tp_post_tls_t report_tls;           /* --report-ca/-cert/-key (mTLS) */
    const char *model_name, *gpu_model, *isa;
    const char *fleet, *node; /* --meter redfish: the fleet config and the node */
    int meter_ms;             /* --meter-interval: sampling / poll period */
    tp_backend_kind_t backend;
    tp_meter_kind_t meter;
    int batch[MAX_BATCHES], nbatch;
    int prompt, gen, threads, device, profile_batch;
    unsigned long long seed;
    double temperature;
    bool check, no_graphs, no_copy_bw;
} opts_t;

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: trustplace bench [--model DIR | --shape NAME] [--backend cpu|cuda]\n"
        "         [--batch 1,8,32] [--prompt P] [--gen G]\n"
        "         [--meter auto|nvml|rapl|redfish|none] [--out profile.json]\n"
        "         [--report report.json] [--check] [options]\n\n"
        "Runs the reference Llama decoder and measures tokens per watt.\n\n"
        "  --model DIR         Hugging Face-style checkpoint (config.json +\n"
        "                      model.safetensors; bf16, f16 or f32)\n"
        "  --shape NAME        synthetic checkpoint: %s (default tiny)\n"
        "  --dtype T           dtype of a synthetic checkpoint: bf16, f16, f32\n"
        "  --cache DIR         where synthetic checkpoints are kept\n"
        "                      (default $TP_CACHE_DIR or /tmp/trustplace-shapes)\n"
        "  --seed N            weights and prompt seed (default 1)\n"
        "  --backend B         cpu (default) or cuda\n"
        "  --threads N         CPU threads (default: all CPUs)\n"
        "  --device N          CUDA device (default 0)\n"
        "  --batch LIST        batch sizes, comma-separated (default 1)\n"
        "  --prompt P          prompt tokens per sequence (default 16)\n"
        "  --gen G             generated tokens per sequence (default 16)\n"
        "  --temperature T     0 = greedy (default), else seeded sampling\n"
        "  --meter M           energy meter (default auto: nvml for cuda, rapl\n"
        "                      for cpu, else none)\n"
        "  --config FLEET      --meter redfish: the fleet file whose collectors\n"
        "                      section reaches the BMC (credentials, TLS)\n"
        "  --node ID           --meter redfish: the node whose BMC draw is sampled\n"
        "  --meter-interval MS meter poll / sampling period (default: the meter's;\n"
        "                      1000 for redfish)\n"
        "  --out FILE          write a fleet `profiles` array (needs a meter)\n"
        "  --report-to URL     POST that array to `trustplace serve` (URL of the\n"
        "                      service; /v1/profiles is appended) with the bearer\n"
        "                      token in --token-file F or $TRUSTPLACE_TOKEN\n"
        "  --report-ca PEM     --report-to https: trust this CA (default: the\n"
        "                      system's)\n"
        "  --report-cert PEM --report-key PEM  present this client certificate\n"
        "                      (a service with --tls-client-ca requires one)\n"
        "  --profile-batch N   batch size whose figures go in --out (default: the\n"
        "                      one with the most tokens per joule)\n"
        "  --model-name NAME   profile `model` (default: shape or directory name)\n"
        "  --gpu-model NAME    profile `gpu_model` (default: the device's name)\n"
        "  --report FILE       every measurement as JSON\n"
        "  --check             first compare CUDA logits with the CPU reference on\n"
        "                      the tiny and llama-1b shapes\n"
        "  --write-checkpoint DIR  write the --shape checkpoint to DIR and exit\n"
        "  --no-graphs         CUDA: launch kernels directly, not as a graph\n"
        "  --no-copy-bandwidth skip measuring the CPU copy bandwidth\n"
        "  --cpu-isa ISA       force CPU kernels: generic, avx2, avx512\n\n"
        "Exit status: 0 ok, 1 the measurement or check failed, 2 bad usage or input.\n",
        tp_llama_shape_names());
}

static int bad(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "trustplace bench: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n(try `trustplace bench --help`)\n");
    return TP_EXIT_INPUT;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_batches(const char *s, opts_t *o)
{
    char buf[256];
    if (strlen(s) >= sizeof buf || strstr(s, ",,") || s[0] == ',')
        return false;
    snprintf(buf, sizeof buf, "%s", s);
    o->nbatch = 0;
    char *save, *tok = strtok_r(buf, ",", &save);
    for (; tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->nbatch == MAX_BATCHES || !parse_int(tok, 1, 1024, &o->batch[o->nbatch]))
            return false;
        o->nbatch++;
    }
    return o->nbatch > 0 && s[strlen(s) - 1] != ',';
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    o->backend = TP_BACKEND_CPU;
    o->meter = TP_METER_AUTO;
    o->batch[0] = 1;
    o->nbatch = 1;
    o->prompt = 16;
    o->gen = 16;
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char name[64];
        const char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) != 0)
            return bad("unexpected argument '%s'%s", a, "");
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else
            snprintf(name, sizeof name, "%s", a);
        /* flags */
        static const char *const flags[] = {"--check", "--no-graphs",
                                            "--no-copy-bandwidth", "--help"};
        bool is_flag = false;
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
            is_flag |= !strcmp(name, flags[f]);
        if (is_flag) {
            if (v)
                return bad("%s takes no value%s", name, "");
            if (!strcmp(name, "--help")) {
                usage(stdout);
                return -1;
            }
            if (!strcmp(name, "--check"))
                o->check = true;
            else if (!strcmp(name, "--no-graphs"))
                o->no_graphs = true;
            else
                o->no_copy_bw = true;
            continue;
        }
        if (!v) {
            if (i + 1 >= argc)
                return bad("%s needs a value%s", name, "");
            v = argv[++i];
        }
        if (!strcmp(name, "--model"))
            o->model_dir = v;
        else if (!strcmp(name, "--shape"))
            o->shape = v;
        else if (!strcmp(name, "--dtype"))
            o->dtype = v;
        else if (!strcmp(name, "--cache"))
            o->cache = v;
        else if (!strcmp(name, "--out"))
            o->out = v;
        else if (!strcmp(name, "--report"))
            o->report = v;
        else if (!strcmp(name, "--report-to"))
            o->report_to = v;
        else if (!strcmp(name, "--token-file"))
            o->token_file = v;
        else if (!strcmp(name, "--report-ca"))
            o->report_tls.ca_file = v;
        else if (!strcmp(name, "--report-cert"))
            o->report_tls.cert_file = v;
        else if (!strcmp(name, "--report-key"))
            o->report_tls.key_file = v;
        else if (!strcmp(name, "--write-checkpoint"))
            o->write_ckpt = v;
        else if (!strcmp(name, "--model-name"))
            o->model_name = v;
        else if (!strcmp(name, "--gpu-model"))
            o->gpu_model = v;
        else if (!strcmp(name, "--cpu-isa"))
            o->isa = v;
        else if (!strcmp(name, "--config"))
            o->fleet = v;
        else if (!strcmp(name, "--node"))
            o->node = v;
        else if (!strcmp(name, "--meter-interval")) {
            if (!parse_int(v, 10, 60000, &o->meter_ms))
                return bad("--meter-interval: '%s' is not in 10..60000 ms%s", v, "");
        } else if (!strcmp(name, "--backend")) {
            if (!strcmp(v, "cpu"))
                o->backend = TP_BACKEND_CPU;
            else if (!strcmp(v, "cuda"))
                o->backend = TP_BACKEND_CUDA;
            else
                return bad("--backend: '%s' is not cpu or cuda%s", v, "");
        } else if (!strcmp(name, "--meter")) {
            if (tp_meter_kind_parse(v, &o->meter))
                return bad("--meter: '%s' is not auto, nvml, rapl, redfish or none%s", v,
                           "");
        } else if (!strcmp(name, "--batch")) {
            if (!parse_batches(v, o))
                return bad("--batch: '%s' is not a list of 1 to 16 sizes in 1..1024%s", v,
                           "");
        } else if (!strcmp(name, "--prompt")) {
            if (!parse_int(v, 1, 1 << 16, &o->prompt))
                return bad("--prompt: '%s' is not in 1..65536%s", v, "");
        } else if (!strcmp(name, "--gen")) {
            if (!parse_int(v, 1, 1 << 16, &o->gen))
                return bad("--gen: '%s' is not in 1..65536%s", v, "");
        } else if (!strcmp(name, "--threads")) {
            if (!parse_int(v, 1, 1024, &o->threads))
                return bad("--threads: '%s' is not in 1..1024%s", v, "");
        } else if (!strcmp(name, "--device")) {
            if (!parse_int(v, 0, 1024, &o->device))
                return bad("--device: '%s' is not a device number%s", v, "");
        } else if (!strcmp(name, "--profile-batch")) {
            if (!parse_int(v, 1, 1024, &o->profile_batch))
                return bad("--profile-batch: '%s' is not in 1..1024%s", v, "");
        } else if (!strcmp(name, "--seed")) {
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || *v == '-')
                return bad("--seed: '%s' is not an unsigned integer%s", v, "");
        } else if (!strcmp(name, "--temperature")) {
            char *end;
            o->temperature = strtod(v, &end);
            if (end == v || *end || !(o->temperature >= 0 && o->temperature <= 100))
                return bad("--temperature: '%s' is not in 0..100%s", v, "");
        } else
            return bad("unknown option '%s'%s", name, "");
    }
    if (o->model_dir && o->shape)
        return bad("--model and --shape exclude each other%s%s", "", "");
    if (!o->model_dir && !o->shape)
        o->shape = "tiny";
    if (o->model_dir && (o->dtype || o->write_ckpt))
        return bad("%s applies to --shape only%s",
                   o->dtype ? "--dtype" : "--write-checkpoint", "");
    tp_dtype_t dt;
    if (o->dtype && tp_dtype_parse(o->dtype, &dt))
        return bad("--dtype: '%s' is not bf16, f16 or f32%s", o->dtype, "");
    if (o->meter == TP_METER_REDFISH && (!o->fleet || !o->node))
        return bad("--meter redfish samples a node's BMC: give --config FLEET and "
                   "--node ID%s%s",
                   "", "");
    if ((o->fleet || o->node) && o->meter != TP_METER_REDFISH)
        return bad("--config and --node go with --meter redfish%s%s", "", "");
    if (!o->report_tls.cert_file != !o->report_tls.key_file)
        return bad("--report-cert and --report-key go together%s%s", "", "");
    if ((o->report_tls.ca_file || o->report_tls.cert_file) && !o->report_to)
        return bad("--report-ca, --report-cert and --report-key go with --report-to%s%s",
                   "", "");
    if ((o->report_to || o->token_file) && !o->out)
        return bad("--report-to and --token-file send the --out profile: give --out%s%s",
                   "", "");
    if (o->out && o->meter == TP_METER_NONE)
        return bad("--out writes measured watts, which --meter none cannot give; pick a "
                   "meter%s%s",
                   "", "");
    if (o->profile_batch) {
        bool found = false;
        for (int i = 0; i < o->nbatch; i++)
            found |= o->batch[i] == o->profile_batch;
        if (!found)
            return bad("--profile-batch %s is not one of --batch %s", "", "");
    }
    return 0;
}

/* ---- model resolution ---- */

static int shape_config(const opts_t *o, tp_llama_config_t *cfg, tp_error_t *err)
{
    int rc = tp_llama_shape(o->shape, cfg, err);
    if (!rc && o->dtype)
        tp_dtype_parse(o->dtype, &cfg->dtype);
    return rc;
}

static bool same_config(const tp_llama_config_t *a, const tp_llama_config_t *b)
{
    return a->hidden == b->hidden && a->intermediate == b->intermediate &&
           a->layers == b->layers && a->heads == b->heads && a->kv_heads == b->kv_heads &&
           a->head_dim == b->head_dim && a->vocab == b->vocab && a->tied == b->tied &&
           a->dtype == b->dtype && a->rope_theta == b->rope_theta &&
           a->rope_factor == b->rope_factor;
}

/* Loads the synthetic checkpoint of shape from the cache, writing it first when
 * it is absent or does not match. */
static int load_shape(const char *shape, const char *dtype, const opts_t *o,
                      tp_model_t **m, tp_error_t *err)
{
    opts_t so = *o;
    so.shape = shape;
    so.dtype = dtype;
    tp_llama_config_t cfg;
    int rc = shape_config(&so, &cfg, err);
    if (rc)
        return rc;
    const char *root = o->cache ? o->cache : getenv("TP_CACHE_DIR");
    char dir[4096];
    if (!root || !*root)
        root = "/tmp/trustplace-shapes";
    if (mkdir(root, 0777) != 0 && errno != EEXIST)
        return tp_error_set(err, TP_EIO, "%s: %s", root, strerror(errno));
    snprintf(dir, sizeof dir, "%.3000s/%s-%s-seed%llu", root, shape,
             tp_dtype_name(cfg.dtype), o->seed);
    tp_error_t ignored;
    tp_error_clear(&ignored);
    if (tp_model_load(dir, m, &ignored) == 0) {
        if (same_config(&(*m)->cfg, &cfg))
            goto named;
        tp_model_free(*m);
        *m = NULL;
    }
    fprintf(
        stderr, "trustplace bench: writing the synthetic %s checkpoint (%.2f GB) to %s\n",
        shape,
        (double)tp_llama_param_count(&cfg) * (double)tp_dtype_size(cfg.dtype) / 1e9, dir);
    if ((rc = tp_checkpoint_write_synthetic(dir, &cfg, o->seed, err)) ||
        (rc = tp_model_load(dir, m, err)))
        return rc;
named:
    snprintf((*m)->name, sizeof(*m)->name, "%.127s", shape);
    return 0;
}

/* ---- output ---- */

typedef struct {
    bool tty;
    int batch;
} progress_t;

static void progress(void *ctx, int done, int total)
{
    progress_t *p = ctx;
    if (!p->tty)
        return;
    int w = 30, fill = total ? done * w / total : w;
    fprintf(stderr, "\r  batch %-4d [%.*s%*s] %d/%d tokens", p->batch, fill,
            "==============================", w - fill, "", done, total);
    if (done == total)
        fprintf(stderr, "\r%*s\r", 70, "");
    fflush(stderr);
}

static void fmt_energy(char *buf, size_t n, bool measured, const char *fmt, double v)
{
    if (measured)
        snprintf(buf, n, fmt, v);
    else
        snprintf(buf, n, "unmeasured");
}

static json_t *result_json(const tp_bench_result_t *r, double peak)
{
    json_t *o = json_pack(
        "{s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:I, s:f, s:f}", "batch", r->batch,
        "prompt", r->prompt, "gen", r->gen, "ttft_s", r->ttft_s, "total_s", r->total_s,
        "decode_s", r->decode_s, "tokens_per_s", r->tokens_per_s, "decode_tokens_per_s",
        r->decode_tokens_per_s, "tokens", (json_int_t)r->tokens, "bytes_per_step",
        r->bytes_per_step, "achieved_bw_bytes_per_s", r->achieved_bw);
    if (!o)
        return NULL;
    json_object_set_new(o, "energy_measured", json_boolean(r->energy_measured));
    if (r->energy_measured) {
        json_object_set_new(o, "joules", json_real(r->joules));
        json_object_set_new(o, "watts", json_real(r->watts));
        json_object_set_new(o, "meter_readings", json_integer(r->meter_readings));
        json_object_set_new(o, "j_per_token", json_real(r->j_per_token));
        json_object_set_new(o, "tokens_per_j", json_real(r->tokens_per_j));
    }
    if (peak > 0)
        json_object_set_new(o, "bw_fraction_of_peak", json_real(r->achieved_bw / peak));
    return o;
}

static int write_json(const char *path, json_t *j)
{
    if (!j)
        return -1;
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(j);
    return rc;
}

/* --report-to: POST the profile array to the service's /v1/profiles with the
 * bearer token from --token-file or $TRUSTPLACE_TOKEN (never from argv, never
 * printed). */
static int report_to(const opts_t *o, const json_t *prof)
{
    char url[1024], token[256] = "", *text = NULL, *resp = NULL;
    int status = 0, rc = TP_EXIT_OK;
    tp_error_t err = {0};
    size_t n = strlen(o->report_to);
    while (n && o->report_to[n - 1] == '/')
        n--;
    const char *suffix = "/v1/profiles";
    if (n >= strlen(suffix) &&
        !strncmp(o->report_to + n - strlen(suffix), suffix, strlen(suffix)))
        suffix = "";
    if (snprintf(url, sizeof url, "%.*s%s", (int)n, o->report_to, suffix) >=
        (int)sizeof url) {
        fprintf(stderr, "trustplace bench: --report-to: URL too long\n");
        return TP_EXIT_INPUT;
    }
    if (o->token_file) {
        FILE *f = fopen(o->token_file, "r");
        if (!f || !fgets(token, sizeof token, f)) {
            fprintf(stderr, "trustplace bench: --token-file %s: cannot read a token\n",
                    o->token_file);
            if (f)
                fclose(f);
            return TP_EXIT_INPUT;
        }
        fclose(f);
        token[strcspn(token, "\r\n")] = '\0';
    } else if (getenv("TRUSTPLACE_TOKEN")) {
        snprintf(token, sizeof token, "%s", getenv("TRUSTPLACE_TOKEN"));
    }
    if (!(text = json_dumps(prof, JSON_COMPACT | JSON_REAL_PRECISION(12)))) {
        fprintf(stderr, "trustplace bench: out of memory\n");
        return TP_EXIT_NO;
    }
    if (tp_post_json(url, token[0] ? token : NULL, &o->report_tls, text, 30000, &status,
                     &resp, &err) < 0) {
        fprintf(stderr, "trustplace bench: --report-to: %s\n", err.text);
        rc = TP_EXIT_NO;
    } else if (status < 200 || status > 299) {
        fprintf(stderr, "trustplace bench: --report-to %s: HTTP %d: %s\n", url, status,
                resp);
        rc = TP_EXIT_NO;
    } else {
        printf("reported %s: HTTP %d %s\n", url, status, resp);
    }
    explicit_bzero(token, sizeof token);
    free(text);
    free(resp);
    return rc;
}

static int run_check(const opts_t *o)
{
    /* tiny in every dtype the backends compute in, and the 1B shape as published */
    static const struct {
        const char *shape, *dtype;
    } cases[] = {
        {"tiny", "f32"}, {"tiny", "f16"}, {"tiny", "bf16"}, {"llama-1b", "bf16"}};
    if (!tp_cuda_built()) {
        fprintf(stderr,
                "trustplace bench: --check: the CUDA backend is not built into this "
                "binary (nvcc was not found at build time, or this is the "
                "sanitizer build)\n");
        return TP_EXIT_NO;
    }
    int status = TP_EXIT_OK;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_error_t err;
        tp_error_clear(&err);
        tp_model_t *m = NULL;
        double rel = 0;
        int rc = load_shape(cases[i].shape, cases[i].dtype, o, &m, &err);
        if (!rc)
            rc = tp_bench_check(m, o->device, &rel, &err);
        tp_dtype_t dt;
        tp_dtype_parse(cases[i].dtype, &dt);
        if (rc) {
            fprintf(stderr, "check %-8s %-4s FAIL: %s\n", cases[i].shape, cases[i].dtype,
                    err.text);
            status = TP_EXIT_NO;
        } else
            printf("check %-8s %-4s ok: max relative logit error %.3g (tolerance %.3g)\n",
                   cases[i].shape, cases[i].dtype, rel, tp_check_tolerance(dt));
        tp_model_free(m);
        if (rc)
            break;
    }
    return status;
}

static void sampler_log(void *arg, tp_log_level_t lv, const char *msg)
{
    (void)arg;
    fprintf(stderr, "trustplace bench: %s%s\n", lv >= TP_LOG_ERROR ? "error: " : "", msg);
}

/* The Redfish meter's sampler for --node of --config: the fleet, its collectors
 * section (credentials files, TLS) and a sampler that borrows both. */
typedef struct {
    tp_fleet_t *f;
    tp_collect_cfg_t *cfg;
    tp_power_sampler_t *s;
} redfish_t;

static int redfish_open(const opts_t *o, redfish_t *r, tp_error_t *err)
{
    int rc;
    if ((rc = tp_fleet_load(o->fleet, &r->f, err)) ||
        (rc = tp_collect_config_load(r->f, &r->cfg, err)))
        return rc == TP_EIO ? TP_EINVAL : rc; /* an unreadable config is bad input */
    return tp_power_sampler_new(r->f, r->cfg, o->node, sampler_log, NULL, &r->s, err);
}

static void redfish_close(redfish_t *r)
{
    tp_power_sampler_free(r->s);
    tp_collect_config_free(r->cfg);
    tp_fleet_free(r->f);
}

static int exit_for(int rc)
{
    return rc == TP_EUNSUPPORTED || rc == TP_EVIOLATION || rc == TP_EIO ? TP_EXIT_NO
                                                                        : TP_EXIT_INPUT;
}

int tp_cmd_bench(int argc, char **argv)
{
    opts_t o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? TP_EXIT_OK : rc;
    tp_error_t err;
    tp_error_clear(&err);
    int status = TP_EXIT_OK;
    tp_model_t *m = NULL;
    tp_meter_t *meter = NULL;
    tp_decoder_t *d = NULL;
    tp_bench_result_t res[MAX_BATCHES];
    json_t *rep = NULL;
    redfish_t rf = {0};

    if (o.write_ckpt) {
        tp_llama_config_t cfg;
        if ((rc = shape_config(&o, &cfg, &err)) ||
            (rc = tp_checkpoint_write_synthetic(o.write_ckpt, &cfg, o.seed, &err)))
            goto fail;
        printf("wrote the %s shape (%s) to %s\n", o.shape, tp_dtype_name(cfg.dtype),
               o.write_ckpt);
        return TP_EXIT_OK;
    }
    tp_meter_opts_t mo = {.nvml_device = o.device, .poll_ms = o.meter_ms};
    if (o.meter == TP_METER_REDFISH) {
        if ((rc = redfish_open(&o, &rf, &err)))
            goto fail;
        mo.redfish_sample = tp_power_sampler_read;
        mo.redfish_ctx = rf.s;
    }
    if ((rc = tp_meter_open(o.meter, o.backend == TP_BACKEND_CUDA, &mo, &meter, &err)))
        goto fail;
    if (o.out && tp_meter_kind(meter) == TP_METER_NONE) {
        fprintf(stderr,
                "trustplace bench: --out needs measured watts, but no energy meter is "
                "available (%s)\n",
                tp_meter_describe(meter));
        status = TP_EXIT_NO;
        goto done;
    }
    if (o.check && (status = run_check(&o)) != TP_EXIT_OK)
        goto done;
    if (o.model_dir)
        rc = tp_model_load(o.model_dir, &m, &err);
    else
        rc = load_shape(o.shape, o.dtype, &o, &m, &err);
    if (rc)
        goto fail;
    if (o.prompt + o.gen > m->cfg.max_pos) {
        fprintf(stderr,
                "trustplace bench: --prompt + --gen = %d exceeds the model's %d "
                "positions\n",
                o.prompt + o.gen, m->cfg.max_pos);
        status = TP_EXIT_INPUT;
        goto done;
    }
    int max_batch = 0;
    for (int i = 0; i < o.nbatch; i++)
        max_batch = o.batch[i] > max_batch ? o.batch[i] : max_batch;
    tp_decoder_opts_t dopt = {.max_batch = max_batch,
                              .max_seq = o.prompt + o.gen,
                              .threads = o.threads,
                              .temperature = (float)o.temperature,
                              .seed = o.seed,
                              .device = o.device,
                              .no_graphs = o.no_graphs,
                              .cpu_isa = o.isa};
    if ((rc = tp_decoder_new(m, o.backend, &dopt, &d, &err)))
        goto fail;
    tp_model_prefault(m);

    const tp_llama_config_t *c = &m->cfg;
    double peak = tp_decoder_peak_bandwidth(d);
    printf("model    %s: %d layers, hidden %d, %d/%d heads, vocab %d, %s, %.3f GB of "
           "weights\n",
           m->name, c->layers, c->hidden, c->heads, c->kv_heads, c->vocab,
           tp_dtype_name(m->dtype), (double)m->weight_bytes / 1e9);
    printf("backend  %s\n", tp_decoder_describe(d));
    printf("meter    %s\n", tp_meter_describe(meter));
    if (o.backend == TP_BACKEND_CPU && !o.no_copy_bw) {
        if ((rc = tp_bench_copy_bandwidth(o.threads, 256u << 20, &peak, &err)))
            goto fail;
        printf("copy     %.2f GB/s measured (simple copy loop, bytes read + written, 2 × "
               "256 MiB)\n",
               peak / 1e9);
    } else if (peak > 0)
        printf("peak     %.1f GB/s device memory bandwidth\n", peak / 1e9);
    printf("\n%5s %6s %5s %10s %10s %9s %8s %9s %9s %9s %6s\n", "batch", "prompt", "gen",
           "tokens/s", "decode t/s", "TTFT ms", "avg W", "J/token", "tokens/J", "GB/s",
           "%peak");
    progress_t pr = {isatty(2) == 1, 0};
    for (int i = 0; i < o.nbatch; i++) {
        pr.batch = o.batch[i];
        if ((rc = tp_bench_run(d, m, meter, o.batch[i], o.prompt, o.gen, o.seed, progress,
                               &pr, &res[i], &err)))
            goto fail;
        const tp_bench_result_t *r = &res[i];
        char w[32], jt[32], tj[32], pk[16] = "-";
        fmt_energy(w, sizeof w, r->energy_measured, "%.1f", r->watts);
        fmt_energy(jt, sizeof jt, r->energy_measured, "%.4g", r->j_per_token);
        fmt_energy(tj, sizeof tj, r->energy_measured, "%.4g", r->tokens_per_j);
        if (peak > 0 && r->achieved_bw > 0)
            snprintf(pk, sizeof pk, "%.0f%%", 100 * r->achieved_bw / peak);
        printf("%5d %6d %5d %10.2f %10.2f %9.1f %8s %9s %9s %9.2f %6s\n", r->batch,
               r->prompt, r->gen, r->tokens_per_s, r->decode_tokens_per_s,
               r->ttft_s * 1e3, w, jt, tj, r->achieved_bw / 1e9, pk);
        fflush(stdout);
    }
    double step1 = tp_bench_step_bytes(m, 1, o.prompt + o.gen / 2);
    if (peak > 0) {
        printf("\nroofline batch 1: <= %.2f tokens/s (%.2f GB/s / %.3f GB read per step)",
               peak / step1, peak / 1e9, step1 / 1e9);
        for (int i = 0; i < o.nbatch; i++)
            if (res[i].batch == 1 && res[i].decode_tokens_per_s > 0)
                printf("; achieved %.2f = %.0f%%", res[i].decode_tokens_per_s,
                       100 * res[i].decode_tokens_per_s / (peak / step1));
        printf("\n");
    }
    if (!res[0].energy_measured)
        printf("energy   unmeasured (no meter): tokens/s only\n");

    const char *model_name = o.model_name ? o.model_name : m->name;
    const char *gpu_model = o.gpu_model ? o.gpu_model : tp_decoder_device_name(d);
    if (o.report) {
        rep =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:[]}", "model", model_name,
                      "gpu_model", gpu_model, "backend", tp_decoder_describe(d), "dtype",
                      tp_dtype_name(m->dtype), "meter", tp_meter_describe(meter),
                      "meter_resolution_j", tp_meter_resolution_j(meter),
                      "peak_bw_bytes_per_s", peak, "runs");
        for (int i = 0; rep && i < o.nbatch; i++)
            json_array_append_new(json_object_get(rep, "runs"),
                                  result_json(&res[i], peak));
        if (write_json(o.report, rep)) {
            fprintf(stderr, "trustplace bench: cannot write %s\n", o.report);
            status = TP_EXIT_NO;
        }
    }
    if (o.out) {
        int best = 0;
        for (int i = 0; i < o.nbatch; i++) {
            if (o.profile_batch ? res[i].batch == o.profile_batch
                                : res[i].tokens_per_j > res[best].tokens_per_j)
                best = i;
        }
        /* Exactly the fleet's profile keys: its loader rejects any other. */
        json_t *prof = json_pack("[{s:s, s:s, s:f, s:f}]", "model", model_name,
                                 "gpu_model", gpu_model, "tokens_per_s",
                                 res[best].tokens_per_s, "watts", res[best].watts);
        if (write_json(o.out, json_incref(prof))) {
            fprintf(stderr, "trustplace bench: cannot write %s\n", o.out);
            status = TP_EXIT_NO;
        } else
            printf("profile  %s: batch %d, %.2f tokens/s at %.1f W\n", o.out,
                   res[best].batch, res[best].tokens_per_s, res[best].watts);
        if (o.report_to && status == TP_EXIT_OK)
            status = report_to(&o, prof);
        json_decref(prof);
    }
    goto done;
fail:
    fprintf(stderr, "trustplace bench: %s\n", err.text[0] ? err.text : tp_strerror(rc));
    status = exit_for(rc);
done:
    tp_decoder_free(d);
    tp_meter_close(meter);
    redfish_close(&rf);
    tp_model_free(m);
    return status;
}
