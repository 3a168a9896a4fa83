/*
 * traces/alibaba.h — the Alibaba GPU cluster trace v2023 ("openb", Weng et al.,
 * "Beware of Fragmentation", USENIX ATC 2023) as trustplace inputs: the node
 * list becomes a fleet document, the pod list a pending-workload document, both
 * in the formats of docs/formats.md, to be loaded with tp_fleet_load_buffer() and
 * tp_workloads_load_buffer() like any user's file.
 *
 * The trace carries GPU counts, GPU models, GPU requests, GPU-model bindings and
 * QoS — no power, attestation or token data. What is synthesised, and why:
 *   - power: per-GPU planning watts by GPU model (P100 250, V100M16/V100M32 300,
 *     T4 70, A10 150, undisclosed G1/G2/G3 and any other model 300), node idle
 *     300 W + 50 W per GPU, node cap = full-load draw; racks of
 *     `nodes_per_rack` consecutive nodes capped at their full-load draw; one
 *     site capped at `site_cap_share` of the fleet's full-load draw, so power
 *     binds once the fleet is nearly full;
 *   - security: one region "openb" (country CN), cpu_tee none, one class
 *     "public" — every pod may run on every node its GPU binding allows;
 *   - pods: CPU-only pods (num_gpu 0) are skipped; a GPU-sharing pod
 *     (gpu_milli < 1000) asks for one whole GPU (trustplace places whole GPUs);
 *     gpu_spec "A|B" becomes gpu_models ["A", "B"] (pods bound to a GPU model
 *     keep that binding); priority by QoS: Guaranteed 90, LS 70, Burstable 40,
 *     BE 10; only BE pods are preemptible (Kubernetes QoS: a BestEffort pod is
 *     promised nothing; a Burstable one is promised its requests). This is the
 *     one pod-list parser: `trustplace sim`'s alibaba source reads the same
 *     tp_pod_list_t with the same priority and preemptibility.
 *
 * Input is validated strictly: the exact header, the column count of every row,
 * integers in range, identifiers, QoS and phase values from the trace's
 * vocabulary, unique names. Errors name file:line and the column.
 */
#ifndef TP_TRACES_ALIBABA_H
#define TP_TRACES_ALIBABA_H

#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int nodes_per_rack;    /* 0: 8 */
    double site_cap_share; /* 0: 0.9 */
} tp_alibaba_opts_t;

typedef struct {
    int rows;       /* data rows read */
    int kept;       /* nodes with GPUs / pods asking for GPUs */
    int skipped;    /* CPU-only nodes / pods */
    int fractional; /* pods sharing a GPU (gpu_milli < 1000), rounded up to one */
    long long gpus; /* GPUs in the fleet / asked for */
} tp_alibaba_stats_t;

/* openb_node_list_gpu_node.csv or openb_node_list_all_node.csv → a fleet
 * document (caller decrefs *out). o and st may be NULL. */
int tp_alibaba_fleet(const char *path, const tp_alibaba_opts_t *o, json_t **out,
                     tp_alibaba_stats_t *st, tp_error_t *err);
int tp_alibaba_fleet_buffer(const char *name, const char *text, size_t len,
                            const tp_alibaba_opts_t *o, json_t **out,
                            tp_alibaba_stats_t *st, tp_error_t *err);

/* One row of a pod list (every row, CPU-only pods included). */
typedef enum { TP_QOS_GUARANTEED, TP_QOS_LS, TP_QOS_BURSTABLE, TP_QOS_BE } tp_qos_t;

typedef struct {
    char name[65];
    int num_gpu;   /* 0..64 */
    int gpu_milli; /* 0..1000: share of one GPU for GPU-sharing pods */
    char
        gpu_spec[128]; /* "V100M16|V100M32" (duplicates dropped), "" when unconstrained */
    tp_qos_t qos;
    int priority;                                /* tp_alibaba_qos_priority(qos) */
    bool preemptible;                            /* tp_alibaba_qos_preemptible(qos) */
    int64_t creation_s, deletion_s, scheduled_s; /* scheduled_s -1: never */
} tp_pod_t;

typedef struct {
    tp_pod_t *pod; /* owned; tp_alibaba_pod_list_fini frees */
    size_t n;
} tp_pod_list_t;

int tp_alibaba_qos_priority(tp_qos_t q);
bool tp_alibaba_qos_preemptible(tp_qos_t q);
/* Is model one of the '|'-joined names of spec? */
bool tp_alibaba_spec_has(const char *spec, const char *model);

/* openb_pod_list_*.csv → every row, validated (all-or-nothing: on error *out is
 * empty). st may be NULL. */
int tp_alibaba_pod_list(const char *path, tp_pod_list_t *out, tp_alibaba_stats_t *st,
                        tp_error_t *err);
int tp_alibaba_pod_list_buffer(const char *name, const char *text, size_t len,
                               tp_pod_list_t *out, tp_alibaba_stats_t *st,
                               tp_error_t *err);
void tp_alibaba_pod_list_fini(tp_pod_list_t *p);

/* openb_pod_list_*.csv → a pending-workload list document. st may be NULL. */
int tp_alibaba_pods(const char *path, json_t **out, tp_alibaba_stats_t *st,
                    tp_error_t *err);
int tp_alibaba_pods_buffer(const char *name, const char *text, size_t len, json_t **out,
                           tp_alibaba_stats_t *st, tp_error_t *err);

#endif
