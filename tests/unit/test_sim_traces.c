/*
 * tests/unit/test_sim_traces.c — the simulator's trace readers: the real Azure
 * and Alibaba files load with the documented counts, and malformed input is
 * refused with the file, the line and the column that is wrong.
 */
#include "tests/unit/tp_test.h"

#include "sim/traces.h"

#include <stdio.h>

TP_TEST(sim_azure_parses_rows)
{
    static const char text[] = "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
                               "2023-11-16 18:15:46.6805900,374,44\r\n"
                               "2023-11-16 18:15:50.9951690,396,109\r\n"
                               "2023-11-16 18:15:50.9951690,0,0\r\n";
    tp_azure_trace_t t;
    tp_error_t err;
    TP_ASSERT(tp_sim_azure_parse("a.csv", text, sizeof text - 1, &t, &err) == 0);
    TP_CHECK_EQ_INT(t.n, 3);
    TP_CHECK_EQ_INT(t.req[0].t_us, 0);
    TP_CHECK_EQ_INT(t.req[1].t_us, 4314579); /* 50.995169 − 46.680590 s */
    TP_CHECK_EQ_INT(t.req[1].context_tokens, 396);
    TP_CHECK_EQ_INT(t.req[1].generated_tokens, 109);
    TP_CHECK_EQ_INT(t.req[2].t_us, t.req[1].t_us);
    /* 2023-11-16T18:15:46.68059Z */
    TP_CHECK_EQ_INT(t.epoch_us, 1700158546680590LL);
    tp_sim_azure_fini(&t);
    /* The 2024 week-long files' form: an offset and fewer digits. */
    static const char week[] = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                               "2024-05-10 00:00:00.01+00:00,10,2\n"
                               "2024-05-10 00:00:01+00:00,10,2\n";
    TP_ASSERT(tp_sim_azure_parse("w.csv", week, sizeof week - 1, &t, &err) == 0);
    TP_CHECK_EQ_INT(t.req[1].t_us, 990000);
    tp_sim_azure_fini(&t);
}

TP_TEST(sim_azure_rejects_malformed_rows)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "bad.csv:1: empty file"},
        {"timestamp,ctx,gen\n", "bad.csv:1: expected the header"},
        {"TIMESTAMP,ContextTokens,GeneratedTokens\n", "bad.csv:2: no requests"},
        {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,1,2\n"
         "2023-13-16 18:15:46.1,1,2\n",
         "bad.csv:3: TIMESTAMP: expected"},
        {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,1,2\n"
         "2023-11-16 18:15:45.1,1,2\n",
         "bad.csv:3: TIMESTAMP: \"2023-11-16 18:15:45.1\" is earlier than the row "
         "before"},
        {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,-4,2\n",
         "bad.csv:2: ContextTokens: expected an integer in 0..10000000, got \"-4\""},
        {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,4,2x\n",
         "bad.csv:2: GeneratedTokens: expected an integer"},
        {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,4\n",
         "bad.csv:2: expected 3 fields, got 2"},
        {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,4,5,6\n",
         "bad.csv:2: expected 3 fields, got 4"},
        {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,,5\n",
         "bad.csv:2: ContextTokens: expected an integer"},
        {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1+02:00,1,5\n",
         "bad.csv:2: TIMESTAMP"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_azure_trace_t t;
        tp_error_t err;
        int rc =
            tp_sim_azure_parse("bad.csv", cases[i].text, strlen(cases[i].text), &t, &err);
        TP_CHECK_EQ_INT(rc, TP_EPARSE);
        TP_CHECK_CONTAINS(err.text, cases[i].want);
        TP_CHECK(t.req == NULL && t.n == 0);
    }
}

#define POD_HEADER                                                                       \
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"  \
    "deletion_time,scheduled_time\n"

TP_TEST(sim_pods_parse_and_reject)
{
    static const char good[] = POD_HEADER
        "openb-pod-0000,12000,16384,1,1000,,LS,Running,0,12537496,0\n"
        "openb-pod-0035,16000,32768,1,460,V100M16|V100M32,BE,Pending,9967058,9968575,\n"
        "openb-pod-0017,88000,327680,8,1000,,Burstable,Succeeded,9437497,10769854,"
        "9437497\n";
    tp_pod_list_t pl;
    tp_error_t err;
    TP_ASSERT(
        tp_alibaba_pod_list_buffer("p.csv", good, sizeof good - 1, &pl, NULL, &err) == 0);
    TP_CHECK_EQ_INT(pl.n, 3);
    TP_CHECK_STR(pl.pod[1].gpu_spec, "V100M16|V100M32");
    TP_CHECK_EQ_INT(pl.pod[1].gpu_milli, 460);
    TP_CHECK_EQ_INT(pl.pod[1].scheduled_s, -1);
    TP_CHECK_EQ_INT(pl.pod[1].qos, TP_QOS_BE);
    TP_CHECK_EQ_INT(pl.pod[2].num_gpu, 8);
    TP_CHECK_EQ_INT(pl.pod[2].deletion_s, 10769854);
    TP_CHECK_EQ_INT(pl.pod[1].priority, 10); /* BE: the lowest, preemptible */
    TP_CHECK(pl.pod[1].preemptible);
    TP_CHECK_EQ_INT(pl.pod[2].priority, 40); /* Burstable: promised its requests */
    TP_CHECK(!pl.pod[2].preemptible);
    TP_CHECK_EQ_INT(pl.pod[0].priority, 70);
    tp_alibaba_pod_list_fini(&pl);
    /* The checks the sim's former parser had, now in the one parser. */
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"name,cpu\n", "p.csv:1: header column 2"},
        {POD_HEADER "x,1,1,65,1000,,LS,Running,0,5,0\n",
         "p.csv:2: column \"num_gpu\": expected an integer 0..64, got \"65\""},
        {POD_HEADER "x,1,1,1,1000,,LS,Running,0,5,\n",
         "p.csv:2: column \"scheduled_time\": empty, but the pod is Running"},
        {POD_HEADER "x,1,1,1,1000,,LS,Running,0,5,7\n", "p.csv:2: times out of order"},
        {POD_HEADER "x,1,1,1,1000,V100 M16,LS,Running,0,5,0\n",
         "p.csv:2: column \"gpu_spec\""},
        {POD_HEADER "x,1,1,1,1000,,LS,Running,0,5,0\ny,1,1,1,1001,,LS,Running,0,5,0\n",
         "p.csv:3: column \"gpu_milli\": expected an integer 0..1000"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = tp_alibaba_pod_list_buffer("p.csv", bad[i].text, strlen(bad[i].text),
                                            &pl, NULL, &err);
        TP_CHECK(rc == TP_EPARSE || rc == TP_ERANGE);
        TP_CHECK_CONTAINS(err.text, bad[i].want);
        TP_CHECK(pl.pod == NULL && pl.n == 0);
    }
}

TP_TEST(sim_real_traces_load)
{
    const char *sh = tp_test_shared();
    char path[512];
    tp_error_t err;
    if (!sh)
        TP_SKIP("../shared (TP_SHARED) is absent: no traces to read");
    static const struct {
        const char *file;
        size_t rows;
        int64_t span_s;
    } az[] = {{"AzureLLMInferenceTrace_code.csv", 8819, 3436},
              {"AzureLLMInferenceTrace_conv.csv", 19366, 3502}};
    for (size_t i = 0; i < 2; i++) {
        tp_azure_trace_t t;
        snprintf(path, sizeof path, "%s/traces/azure-llm/%s", sh, az[i].file);
        int rc = tp_sim_azure_load(path, &t, &err);
        if (rc < 0)
            fprintf(stderr, "  %s\n", err.text);
        TP_ASSERT(rc == 0);
        TP_CHECK_EQ_INT(t.n, az[i].rows);
        TP_CHECK_EQ_INT((t.req[t.n - 1].t_us + 500000) / 1000000,
                        az[i].span_s); /* README: rounded */
        tp_sim_azure_fini(&t);
    }
    tp_pod_list_t pl;
    snprintf(path, sizeof path,
             "%s/traces/alibaba-gpu-v2023/openb_pod_list_gpuspec33.csv", sh);
    TP_ASSERT(tp_alibaba_pod_list(path, &pl, NULL, &err) == 0);
    TP_CHECK_EQ_INT(pl.n, 8152);
    size_t gpu = 0, spec = 0;
    for (size_t i = 0; i < pl.n; i++) {
        gpu += pl.pod[i].num_gpu > 0;
        spec += pl.pod[i].gpu_spec[0] != '\0';
    }
    TP_CHECK_EQ_INT(gpu, 8152 - 1088);
    TP_CHECK_EQ_INT(spec, 2388);
    tp_alibaba_pod_list_fini(&pl);
    /* A missing file is an I/O error naming it. */
    TP_CHECK_EQ_INT(tp_sim_azure_load("/nonexistent/x.csv", &(tp_azure_trace_t){0}, &err),
                    TP_EIO);
    TP_CHECK_CONTAINS(err.text, "/nonexistent/x.csv");
}
