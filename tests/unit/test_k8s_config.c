/*
 * tests/unit/test_k8s_config.c — config/kube-scheduler-config.yaml names only
 * fields of kubescheduler.config.k8s.io/v1's Extender (json tags of
 * k8s.io/kube-scheduler/config/v1 types.go) and points at what scheduler/k8s.c
 * serves; and tp_k8s_binding() builds the v1.Binding the server posts.
 */
#include "scheduler/k8s.h"
#include "tests/unit/tp_test.h"

#include <ctype.h>
#include <stdlib.h>

/* The value of `key:` in the extenders stanza (first occurrence), unquoted and
 * without its comment, into out; false when absent. */
static bool yaml_value(const char *text, const char *key, char *out, size_t size)
{
    const char *ext = strstr(text, "\nextenders:");
    for (const char *p = ext; p && *p; p = strchr(p + 1, '\n')) {
        const char *s = p + 1;
        while (*s == ' ' || *s == '-')
            s++;
        size_t n = strlen(key);
        if (strncmp(s, key, n) != 0 || s[n] != ':')
            continue;
        s += n + 1;
        while (*s == ' ')
            s++;
        size_t len = strcspn(s, "#\n");
        while (len && s[len - 1] == ' ')
            len--;
        if (len >= 2 && s[0] == '"' && s[len - 1] == '"')
            s++, len -= 2;
        snprintf(out, size, "%.*s", (int)len, s);
        return true;
    }
    return false;
}

TP_TEST(k8s_config_extender_stanza)
{
    char path[512], v[256];
    snprintf(path, sizeof path, "%s/../config/kube-scheduler-config.yaml",
             tp_test_srcdir());
    char *text = tp_test_slurp(path, NULL);
    TP_ASSERT(text != NULL);
    TP_CHECK_CONTAINS(text, "\napiVersion: kubescheduler.config.k8s.io/v1\n");
    TP_CHECK_CONTAINS(text, "\nkind: KubeSchedulerConfiguration\n");
    /* Every key under extenders is a field of the upstream Extender type. */
    static const char *const fields[] = {"urlPrefix",
                                         "filterVerb",
                                         "preemptVerb",
                                         "prioritizeVerb",
                                         "weight",
                                         "bindVerb",
                                         "enableHTTPS",
                                         "tlsConfig",
                                         "httpTimeout",
                                         "nodeCacheCapable",
                                         "managedResources",
                                         "ignorable",
                                         "name",
                                         "ignoredByScheduler",
                                         NULL};
    const char *ext = strstr(text, "\nextenders:");
    TP_ASSERT(ext != NULL);
    for (const char *p = strchr(ext + 1, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        const char *s = p + 1;
        if (!isspace((unsigned char)*s) && *s != '-')
            break; /* the next top-level key */
        while (*s == ' ' || *s == '-')
            s++;
        if (*s == '#' || *s == '\n')
            continue;
        size_t n = strcspn(s, ":");
        bool known = false;
        for (int i = 0; fields[i]; i++)
            known |= strlen(fields[i]) == n && !strncmp(s, fields[i], n);
        if (!known)
            tp_test_fail(__FILE__, __LINE__, "unknown Extender field \"%.*s\"", (int)n,
                         s);
    }
    /* It points at trustplace serve's default listener and the verbs it serves. */
    TP_CHECK(yaml_value(text, "urlPrefix", v, sizeof v));
    TP_CHECK_STR(v, "http://127.0.0.1:8750/k8s");
    TP_CHECK(yaml_value(text, "filterVerb", v, sizeof v));
    TP_CHECK_STR(v, "filter");
    TP_CHECK(yaml_value(text, "prioritizeVerb", v, sizeof v));
    TP_CHECK_STR(v, "prioritize");
    TP_CHECK(yaml_value(text, "bindVerb", v, sizeof v));
    TP_CHECK_STR(v, "bind");
    TP_CHECK(!yaml_value(text, "preemptVerb", v, sizeof v)); /* not served */
    TP_CHECK(yaml_value(text, "nodeCacheCapable", v, sizeof v));
    TP_CHECK_STR(v, "true");
    TP_CHECK(yaml_value(text, "ignorable", v, sizeof v));
    TP_CHECK_STR(v, "false");
    TP_CHECK(yaml_value(text, "name", v, sizeof v));
    TP_CHECK_STR(v, "nvidia.com/gpu");
    TP_CHECK(yaml_value(text, "weight", v, sizeof v));
    TP_CHECK(atoi(v) >= 1); /* prioritize needs weight > 0 */
    free(text);
}

TP_TEST(k8s_binding_object)
{
    char path[128];
    tp_error_t err;
    json_t *args =
        json_pack("{s:s,s:s,s:s,s:s}", "PodName", "finetune-llama-7b-xk2p9",
                  "PodNamespace", "ml-team", "PodUID",
                  "b3f0d2a4-8c1e-4f6b-a7d9-2e5c9f0a1b37", "Node", "gpu-node-a");
    json_t *b = tp_k8s_binding(args, path, sizeof path, &err);
    TP_ASSERT(b != NULL);
    TP_CHECK_STR(path, "/api/v1/namespaces/ml-team/pods/finetune-llama-7b-xk2p9/binding");
    json_t *want = json_loads(
        "{\"apiVersion\": \"v1\", \"kind\": \"Binding\", \"metadata\": {\"name\": "
        "\"finetune-llama-7b-xk2p9\", \"namespace\": \"ml-team\", \"uid\": "
        "\"b3f0d2a4-8c1e-4f6b-a7d9-2e5c9f0a1b37\"}, \"target\": {\"apiVersion\": \"v1\", "
        "\"kind\": \"Node\", \"name\": \"gpu-node-a\"}}",
        0, NULL);
    TP_CHECK(json_equal(b, want));
    json_decref(want);
    json_decref(b);
    /* Nothing may escape the path. */
    static const char *const bad[][3] = {{"PodName", "../../secrets", "$.PodName"},
                                         {"PodNamespace", "ml.team", "$.PodNamespace"},
                                         {"PodNamespace", "Ml-team", "$.PodNamespace"},
                                         {"Node", "gpu node", "$.Node"},
                                         {"PodName", "a/b", "$.PodName"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *a = json_deep_copy(args);
        json_object_set_new(a, bad[i][0], json_string(bad[i][1]));
        TP_CHECK(tp_k8s_binding(a, path, sizeof path, &err) == NULL);
        TP_CHECK_CONTAINS(err.text, bad[i][2]);
        json_decref(a);
    }
    TP_CHECK(tp_k8s_binding(args, path, 20, &err) == NULL);
    TP_CHECK_EQ_INT(err.code, TP_ERANGE);
    TP_CHECK(tp_k8s_binding(NULL, path, sizeof path, &err) == NULL);
    TP_CHECK_CONTAINS(err.text, "request: $: expected an object, got nothing");
    json_decref(args);
}
