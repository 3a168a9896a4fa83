/*
 * tests/unit/test_solver_alibaba.c — the Alibaba GPU v2023 trace reader: strict
 * input checks with file:line, documents that load through the model's loaders,
 * and the solver on the real trace (skipped without ../shared).
 */
#include "tests/unit/tp_test.h"

#include "model/model.h"
#include "solver/solver.h"
#include "traces/alibaba.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const NODE_HDR = "sn,cpu_milli,memory_mib,gpu,model\n";
static const char *const POD_HDR =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,"
    "pod_phase,creation_time,deletion_time,scheduled_time\n";

static int nodes(const char *body, json_t **out, tp_error_t *err)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", NODE_HDR, body);
    return tp_alibaba_fleet_buffer("n.csv", text, strlen(text), NULL, out, NULL, err);
}

static int pods(const char *body, json_t **out, tp_error_t *err)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", POD_HDR, body);
    return tp_alibaba_pods_buffer("p.csv", text, strlen(text), out, NULL, err);
}

TP_TEST(solver_alibaba_nodes_strict)
{
    static const struct {
        const char *body, *want;
    } bad[] = {
        {"n1,64000,262144,2\n", "n.csv:2: 4 fields, expected 5"},
        {"n1,64000,262144,x,P100\n", "n.csv:2: column \"gpu\": expected an integer"},
        {"n1,64000,262144,2,P100\nn1,1,1,2,T4\n",
         "n.csv:3: column \"sn\": \"n1\" appears twice"},
        {"n1,64000,262144,2,\n", "n.csv:2: column \"model\""},
        {"n1,64000,262144,0,T4\n", "n.csv:2: column \"model\": \"T4\" given for a node"},
        {"n 1,64000,262144,2,T4\n", "n.csv:2: column \"sn\""},
        {"n1,64000,262144,2,T4\n\nn2,1,1,1,T4\n", "n.csv:3: empty line"},
        {"n1,\"64000\",262144,2,T4\n", "n.csv:2: quoted fields"},
        {"n1,1,1,0,\n", "no node with GPUs"},
        {"n1,-5,1,1,T4\n", "column \"cpu_milli\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *doc = NULL;
        tp_error_t err;
        TP_CHECK(nodes(bad[i].body, &doc, &err) < 0);
        TP_CHECK(doc == NULL);
        TP_CHECK_CONTAINS(err.text, bad[i].want);
    }
    json_t *doc = NULL;
    tp_error_t err;
    TP_CHECK(tp_alibaba_fleet_buffer("n.csv", "sn,cpu_milli,memory_mib,gpu\n", 27, NULL,
                                     &doc, NULL, &err) < 0);
    TP_CHECK_CONTAINS(err.text, "n.csv:1: header");
}

TP_TEST(solver_alibaba_pods_strict)
{
    static const struct {
        const char *body, *want;
    } bad[] = {
        {"p1,1,1,1,1000,,LS,Running,0,10\n", "p.csv:2: 10 fields, expected 11"},
        {"p1,1,1,1,1000,,XX,Running,0,10,0\n", "p.csv:2: column \"qos\""},
        {"p1,1,1,1,1000,,LS,Done,0,10,0\n", "p.csv:2: column \"pod_phase\""},
        {"p1,1,1,2,500,,LS,Running,0,10,0\n", "p.csv:2: column \"gpu_milli\""},
        {"p1,1,1,1,1000,,LS,Running,10,5,10\n", "p.csv:2: times out of order"},
        {"p1,1,1,1,1000,T4||V100,LS,Running,0,10,0\n", "p.csv:2: column \"gpu_spec\""},
        {"p1,1,1,0,0,T4,LS,Running,0,10,0\n",
         "p.csv:2: column \"gpu_spec\": given for a pod"},
        {"p1,1,1,1,1000,,LS,Running,0,10,0\np1,1,1,1,1000,,LS,Running,0,10,0\n",
         "p.csv:3: column \"name\": \"p1\" appears twice"},
        {"p1,1,1,1,1000,,LS,Running,0,10,x\n", "p.csv:2: column \"scheduled_time\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *doc = NULL;
        tp_error_t err;
        TP_CHECK(pods(bad[i].body, &doc, &err) < 0);
        TP_CHECK(doc == NULL);
        TP_CHECK_CONTAINS(err.text, bad[i].want);
    }
}

TP_TEST(solver_alibaba_small_documents_load)
{
    json_t *fdoc, *pdoc;
    tp_error_t err;
    tp_fleet_t *f = NULL;
    tp_workloads_t *w = NULL;
    TP_ASSERT(nodes("n1,64000,262144,2,P100\nn2,1,1,0,\nn3,1,1,8,V100M32\r\n", &fdoc,
                    &err) == 0);
    TP_ASSERT(pods("p1,1,1,1,460,,LS,Running,0,10,0\n"
                   "p2,1,1,0,0,,BE,Pending,0,10,\n"
                   "p3,1,1,8,1000,V100M16|V100M32|V100M32,BE,Pending,0,10,\n",
                   &pdoc, &err) == 0);
    char *ft = json_dumps(fdoc, 0), *pt = json_dumps(pdoc, 0);
    TP_ASSERT(ft && pt);
    TP_CHECK(tp_fleet_load_buffer("fleet", ft, strlen(ft), &f, &err) == 0);
    TP_ASSERT(f);
    TP_CHECK_EQ_INT(f->nnodes, 2);
    TP_CHECK(tp_workloads_load_buffer("pods", pt, strlen(pt), f, TP_WL_PENDING, &w,
                                      &err) == 0);
    TP_ASSERT(w);
    TP_CHECK_EQ_INT(w->n, 2); /* the CPU-only pod is skipped */
    TP_CHECK_EQ_INT(w->w[0].gpus, 1);
    TP_CHECK_EQ_INT(w->w[0].priority, 70);
    TP_CHECK(!w->w[0].preemptible);
    TP_CHECK(w->w[1].preemptible);
    TP_CHECK(!w->w[1].any_gpu_model);
    TP_CHECK_EQ_INT(w->w[1].ngpu_models, 1); /* V100M16 is not in this fleet */
    tp_workloads_free(w);
    tp_fleet_free(f);
    free(ft);
    free(pt);
    json_decref(fdoc);
    json_decref(pdoc);
}

TP_TEST(solver_alibaba_real_trace_beats_greedy)
{
    const char *shared = tp_test_shared();
    char path[1024];
    json_t *fdoc, *pdoc;
    tp_error_t err;
    tp_fleet_t *f = NULL;
    tp_workloads_t *w = NULL;
    tp_state_t *s = NULL;
    if (!shared)
        TP_SKIP("no ../shared");
    snprintf(path, sizeof path,
             "%s/traces/alibaba-gpu-v2023/openb_node_list_gpu_node.csv", shared);
    tp_alibaba_stats_t ns, ps;
    /* Absent: skipped. Present but unreadable or malformed: a failure. */
    if (access(path, F_OK) != 0)
        TP_SKIP("no Alibaba trace in ../shared");
    if (tp_alibaba_fleet(path, NULL, &fdoc, &ns, &err) < 0) {
        tp_test_fail(__FILE__, __LINE__, "%s", err.text);
        return;
    }
    snprintf(path, sizeof path,
             "%s/traces/alibaba-gpu-v2023/openb_pod_list_gpuspec33.csv", shared);
    if (tp_alibaba_pods(path, &pdoc, &ps, &err) < 0) {
        tp_test_fail(__FILE__, __LINE__, "%s", err.text);
        json_decref(fdoc);
        return;
    }
    TP_CHECK_EQ_INT(ns.kept, 1213);
    TP_CHECK_EQ_INT(ns.gpus, 6212);
    TP_CHECK_EQ_INT(ps.rows, 8152);
    TP_CHECK_EQ_INT(ps.kept + ps.skipped, 8152);
    char *ft = json_dumps(fdoc, 0), *pt = json_dumps(pdoc, 0);
    TP_ASSERT(ft && pt);
    TP_ASSERT(tp_fleet_load_buffer("fleet", ft, strlen(ft), &f, &err) == 0);
    TP_ASSERT(tp_workloads_load_buffer("pods", pt, strlen(pt), f, TP_WL_PENDING, &w,
                                       &err) == 0);
    TP_ASSERT((s = tp_state_new_empty(f)) != NULL);
    tp_solver_opts_t o = {.now = 0, .time_limit_ms = 60000};
    tp_solution_t *ours = NULL, *greedy = NULL;
    TP_CHECK(tp_solve(f, s, w, NULL, &o, &ours, &err) == 0);
    o.method = TP_SOLVER_GREEDY;
    TP_CHECK(tp_solve(f, s, w, NULL, &o, &greedy, &err) == 0);
    if (ours && greedy) {
        TP_CHECK(ours->weighted_gpus >= greedy->weighted_gpus);
        TP_CHECK(ours->result->gap <= 0.01);
    }
    tp_solution_free(ours);
    tp_solution_free(greedy);
    tp_state_free(s);
    tp_workloads_free(w);
    tp_fleet_free(f);
    free(ft);
    free(pt);
    json_decref(fdoc);
    json_decref(pdoc);
}
