/*
 * workload/workload.h — the reference inference workload: a Llama-architecture
 * decoder, its checkpoints, the CPU and CUDA backends, energy meters and the
 * benchmark that turns them into fleet `profiles` entries (docs/workload.md).
 *
 * Ownership: every `_new`/`_open`/`_load` returns an object the caller frees with
 * the matching `_free`/`_close` (which accept NULL). Every fallible call returns 0
 * or a negative TP_E* code and writes the detail into the caller's tp_error_t.
 */
#ifndef TP_WORKLOAD_H
#define TP_WORKLOAD_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- tensors and checkpoints ------------------------------------------------ */

typedef enum { TP_DT_F32 = 0, TP_DT_F16 = 1, TP_DT_BF16 = 2 } tp_dtype_t;

/* "F32", "F16", "BF16" (the safetensors spelling). */
const char *tp_dtype_name(tp_dtype_t dt);
/* Parses "f32"/"float32"/"F32", "f16"/"float16", "bf16"/"bfloat16". */
int tp_dtype_parse(const char *s, tp_dtype_t *out);
size_t tp_dtype_size(tp_dtype_t dt);

/* The hyper-parameters of a Llama model, as in a Hugging Face config.json. */
typedef struct {
    int hidden;       /* hidden_size */
    int intermediate; /* intermediate_size */
    int layers;       /* num_hidden_layers */
    int heads;        /* num_attention_heads */
    int kv_heads;     /* num_key_value_heads (GQA) */
    int head_dim;     /* head_dim, default hidden / heads */
    int vocab;        /* vocab_size */
    int max_pos;      /* max_position_embeddings */
    double rms_eps;   /* rms_norm_eps */
    double rope_theta;
    bool tied;        /* tie_word_embeddings: lm_head is embed_tokens */
    tp_dtype_t dtype; /* torch_dtype: what a synthetic checkpoint is written in */
    /* rope_scaling {"rope_type": "llama3", ...}; rope_factor 0 when absent */
    double rope_factor, rope_low_freq, rope_high_freq;
    int rope_orig_max_pos;
} tp_llama_config_t;

/* Fills cfg with a named shape: "tiny", "llama-1b" (Llama 3.2 1B), "llama-8b"
 * (Llama 3.1 8B). TP_ENOENT for an unknown name. */
int tp_llama_shape(const char *name, tp_llama_config_t *cfg, tp_error_t *err);
/* Space-separated list of the shape names (static string). */
const char *tp_llama_shape_names(void);
/* Parses a config.json text (file names the source in errors). Unknown keys are
 * ignored (HF configs carry many), but every key the decoder depends on is
 * checked, and features it does not implement are rejected. */
int tp_llama_config_parse(const char *text, size_t len, const char *file,
                          tp_llama_config_t *cfg, tp_error_t *err);
/* Checks internal consistency (positive sizes, heads divisible, ...). */
int tp_llama_config_check(const tp_llama_config_t *cfg, tp_error_t *err);
/* Number of parameters and bytes of the weight tensors in cfg->dtype. */
uint64_t tp_llama_param_count(const tp_llama_config_t *cfg);

/* A parsed, validated safetensors file, its data mmap'ed read-only. */
typedef struct tp_safetensors tp_safetensors_t;
typedef struct {
    const char *name; /* borrowed from the file object */
    tp_dtype_t dtype;
    int ndim;
    int64_t shape[4];
    uint64_t begin, end; /* byte range within the data section */
    const void *data;    /* borrowed: mmap'ed, may be unaligned */
} tp_tensor_t;

/* Opens and validates path: header length, JSON (duplicates rejected), every
 * entry's dtype, shape and byte range, no overlaps, no holes, no truncation. */
int tp_safetensors_open(const char *path, tp_safetensors_t **out, tp_error_t *err);
void tp_safetensors_close(tp_safetensors_t *st);
size_t tp_safetensors_count(const tp_safetensors_t *st);
/* NULL when absent. The tensor is borrowed until tp_safetensors_close. */
const tp_tensor_t *tp_safetensors_find(const tp_safetensors_t *st, const char *name);
const tp_tensor_t *tp_safetensors_at(const tp_safetensors_t *st, size_t i);

/* A loaded model: its config plus borrowed views of every weight tensor. */
typedef struct {
    const void *attn_norm, *q, *k, *v, *o, *mlp_norm, *gate, *up, *down;
} tp_layer_weights_t;

typedef struct tp_model {
    tp_llama_config_t cfg;
    tp_dtype_t dtype;                         /* all matrices share one dtype */
    const void *embed, *final_norm, *lm_head; /* lm_head == embed when tied */
    tp_layer_weights_t *layer;                /* cfg.layers entries */
    uint64_t weight_bytes;                    /* all tensors */
    char name[128];                           /* basename of the directory */
    tp_safetensors_t *st;                     /* owned */
} tp_model_t;

/* Loads DIR/config.json and DIR/model.safetensors and checks that every tensor
 * the config implies is present with the right shape and one common dtype, and
 * that there are no unexpected tensors. Caller frees with tp_model_free. */
int tp_model_load(const char *dir, tp_model_t **out, tp_error_t *err);
void tp_model_free(tp_model_t *m);
/* Touches every page of the weights so that timing does not include faults. */
void tp_model_prefault(const tp_model_t *m);

/* Writes a synthetic checkpoint of cfg (weights in cfg->dtype, seeded uniform
 * random, norms 1) into dir (created if needed): config.json + model.safetensors. */
int tp_checkpoint_write_synthetic(const char *dir, const tp_llama_config_t *cfg,
                                  uint64_t seed, tp_error_t *err);

/* ---- the decoder ------------------------------------------------------------ */

typedef enum { TP_BACKEND_CPU = 0, TP_BACKEND_CUDA = 1 } tp_backend_kind_t;

typedef struct {
    int max_batch;       /* sequences decoded together */
    int max_seq;         /* prompt + generated tokens per sequence */
    int threads;         /* CPU backend; 0 = all online CPUs */
    float temperature;   /* 0 = greedy (argmax, lowest index on ties) */
    uint64_t seed;       /* sampling seed */
    int device;          /* CUDA device ordinal */
    bool no_graphs;      /* CUDA: launch kernels directly instead of a graph */
    const char *cpu_isa; /* CPU kernels: NULL = best available, or "generic",
                            "avx2", "avx512" (TP_EUNSUPPORTED if the CPU lacks it) */
} tp_decoder_opts_t;

typedef struct tp_decoder tp_decoder_t;

/* model is borrowed for the decoder's lifetime. TP_EUNSUPPORTED when the CUDA
 * backend is not built or no GPU is usable (err says which). */
int tp_decoder_new(const tp_model_t *model, tp_backend_kind_t kind,
                   const tp_decoder_opts_t *opts, tp_decoder_t **out, tp_error_t *err);
void tp_decoder_free(tp_decoder_t *d);
/* Resets the KV cache and runs the prompts (batch × plen tokens, row-major) at
 * positions 0..plen-1; writes the first sampled token of each sequence to next
 * (may be NULL). */
int tp_decoder_prefill(tp_decoder_t *d, int batch, int plen, const int32_t *tokens,
                       int32_t *next, tp_error_t *err);
/* One decode step for every sequence at its next position. in: the input tokens
 * (batch entries) or NULL to feed back the tokens the decoder sampled last;
 * next: receives the sampled tokens, or NULL (the CUDA backend then does not
 * synchronise). */
int tp_decoder_step(tp_decoder_t *d, const int32_t *in, int32_t *next, tp_error_t *err);
/* Waits for queued work (CUDA); a no-op on the CPU. */
int tp_decoder_sync(tp_decoder_t *d, tp_error_t *err);
/* Copies the logits of the last prefill/step: batch × vocab floats. */
int tp_decoder_logits(tp_decoder_t *d, float *out, tp_error_t *err);
/* "cpu (avx512, 2 threads)" or "cuda (NVIDIA H100 80GB HBM3)". */
const char *tp_decoder_describe(const tp_decoder_t *d);
/* The device's name for the profile's gpu_model ("cpu" for the CPU backend). */
const char *tp_decoder_device_name(const tp_decoder_t *d);
/* Peak memory bandwidth in bytes/s from the device's properties; 0 if unknown. */
double tp_decoder_peak_bandwidth(const tp_decoder_t *d);

/* Whether the CUDA backend was compiled in. */
bool tp_cuda_built(void);

/* Sampling shared by both backends: a uniform in [0,1) from (seed, seq, pos). */
float tp_sample_uniform(uint64_t seed, int seq, int pos);

/* ---- energy meters ---------------------------------------------------------- */

typedef enum {
    TP_METER_NONE = 0,
    TP_METER_NVML,
    TP_METER_RAPL,
    TP_METER_REDFISH,
    TP_METER_AUTO
} tp_meter_kind_t;

/* A power sample in watts for the Redfish meter (the node's draw as the BMC
 * reports it). Returns 0 or a TP_E* code. Provided by the collectors. */
typedef int (*tp_power_sample_fn)(void *ctx, double *watts, tp_error_t *err);

typedef struct {
    const char *powercap_root;         /* RAPL sysfs root; NULL: $TP_POWERCAP_ROOT or
                                          /sys/class/powercap */
    const char *nvml_lib;              /* NULL: $TP_NVML_LIB or "libnvidia-ml.so.1" */
    int nvml_device;                   /* GPU index for NVML */
    tp_power_sample_fn redfish_sample; /* NULL: no BMC configured */
    void *redfish_ctx;
    int poll_ms; /* counter poll / power sampling period; 0 = meter default */
} tp_meter_opts_t;

typedef struct tp_meter tp_meter_t;

int tp_meter_kind_parse(const char *s, tp_meter_kind_t *out);
const char *tp_meter_kind_name(tp_meter_kind_t k);

/* Opens a meter of kind (TP_METER_AUTO tries nvml then none for CUDA, rapl then
 * none for the CPU: prefer_gpu selects). A kind that is unavailable fails with
 * TP_EUNSUPPORTED and says why. TP_METER_NONE always succeeds. */
int tp_meter_open(tp_meter_kind_t kind, bool prefer_gpu, const tp_meter_opts_t *opts,
                  tp_meter_t **out, tp_error_t *err);
void tp_meter_close(tp_meter_t *m);
tp_meter_kind_t tp_meter_kind(const tp_meter_t *m);
/* "rapl: 1 package zone(s), 1e-06 J counter, polled every 1000 ms". */
const char *tp_meter_describe(const tp_meter_t *m);
/* Smallest energy step the meter can resolve (J); 0 for none. */
double tp_meter_resolution_j(const tp_meter_t *m);
/* Starts measuring (a polling thread runs until tp_meter_end). */
int tp_meter_begin(tp_meter_t *m, tp_error_t *err);
/* Stops and returns the energy since begin in joules; *measured is false (and
 * *joules 0) for the none meter. */
int tp_meter_end(tp_meter_t *m, double *joules, bool *measured, tp_error_t *err);
/* The interval the last begin..end measured over (s): from the first reading to
 * the last. Energy per second over any other interval (the caller's own timing,
 * which the polling thread's start and stop fall outside of) is not power. */
double tp_meter_window_s(const tp_meter_t *m);
/* How many readings the last window took, its first and last included (0: none). */
long tp_meter_readings(const tp_meter_t *m);

/* ---- the benchmark ---------------------------------------------------------- */

typedef struct {
    int batch, prompt, gen;
    double ttft_s;              /* prefill until the first tokens are sampled */
    double total_s;             /* prefill + all decode steps */
    double decode_s;            /* the decode steps alone */
    uint64_t tokens;            /* batch × gen generated tokens */
    double tokens_per_s;        /* tokens / total_s */
    double decode_tokens_per_s; /* batch × (gen - 1) / decode_s */
    bool energy_measured;
    long meter_readings; /* readings the meter took over the run (0 without one) */
    double joules, watts, j_per_token, tokens_per_j;
    double bytes_per_step; /* weights + KV cache read by one decode step */
    double achieved_bw;    /* bytes_per_step × steps / decode_s (bytes/s) */
} tp_bench_result_t;

typedef void (*tp_bench_progress_fn)(void *ctx, int done, int total);

/* Runs one batch size: prefill, then gen - 1 decode steps, timed and metered
 * (meter may be NULL). prompt tokens are drawn from seed. */
int tp_bench_run(tp_decoder_t *d, const tp_model_t *m, tp_meter_t *meter, int batch,
                 int prompt, int gen, uint64_t seed, tp_bench_progress_fn progress,
                 void *progress_ctx, tp_bench_result_t *r, tp_error_t *err);
/* Bytes one decode step reads at batch size and context length ctx. */
double tp_bench_step_bytes(const tp_model_t *m, int batch, int ctx);
/* Measured copy bandwidth, STREAM convention (bytes read + written per second),
 * with threads threads (0 = all CPUs) over two buffers of bytes each. */
int tp_bench_copy_bandwidth(int threads, size_t bytes, double *bw, tp_error_t *err);

/* Compares the CUDA backend's logits with the CPU reference on m: prefill and a
 * few teacher-forced steps. *max_rel receives the worst error relative to each
 * row's largest |logit|. TP_EVIOLATION when over tp_check_tolerance(dtype). */
int tp_bench_check(const tp_model_t *m, int device, double *max_rel, tp_error_t *err);
double tp_check_tolerance(tp_dtype_t dt);

#endif
