/*
 * tests/unit/test_kubeapi.c — collectors/kubeapi.h's configuration: in-cluster
 * autodetection (KUBERNETES_SERVICE_HOST/PORT and a service-account directory),
 * https only, no userinfo/path/query in the URL, token files that could inject
 * a header, and errors that never quote the token. The requests themselves are
 * tested against a fake API server in tests/serve/k8s_bind.py.
 */
#include "collectors/kubeapi.h"
#include "tests/unit/tp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void put(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* tp_kubeapi_new with o; the error code (0 on success); *k freed unless kept. */
static int try_new(const tp_kubeapi_opts_t *o, tp_error_t *err, tp_kubeapi_t **keep)
{
    tp_kubeapi_t *k = NULL;
    *err = (tp_error_t){0};
    int rc = tp_kubeapi_new(o, &k, err);
    if (keep)
        *keep = k;
    else
        tp_kubeapi_free(k);
    return rc;
}

TP_TEST(kubeapi_config)
{
    char dir[] = "/tmp/tp-kubeapi-XXXXXX", tf[600], bad[600];
    TP_ASSERT(mkdtemp(dir) != NULL);
    put(dir, "token", "s3cr3t-token-value\n");
    put(dir, "ca.crt", "-----BEGIN CERTIFICATE-----\n");
    put(dir, "two-lines", "s3cr3t\nX-Injected: yes\n");
    snprintf(tf, sizeof tf, "%s/token", dir);
    snprintf(bad, sizeof bad, "%s/two-lines", dir);
    char *old_host = getenv("KUBERNETES_SERVICE_HOST");
    char *old_port = getenv("KUBERNETES_SERVICE_PORT");
    old_host = old_host ? strdup(old_host) : NULL;
    old_port = old_port ? strdup(old_port) : NULL;
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    tp_error_t err;
    tp_kubeapi_t *k = NULL;

    /* nothing configured, not in a cluster: no client, no error */
    TP_CHECK_EQ_INT(try_new(&(tp_kubeapi_opts_t){.sa_dir = dir}, &err, &k), 0);
    TP_CHECK(k == NULL);
    TP_CHECK_EQ_INT(try_new(&(tp_kubeapi_opts_t){.token_file = tf}, &err, NULL),
                    TP_EUSAGE);

    /* in a cluster: the service's address, the service account's token and CA */
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    TP_CHECK_EQ_INT(try_new(&(tp_kubeapi_opts_t){.sa_dir = dir}, &err, &k), 0);
    TP_ASSERT(k != NULL);
    TP_CHECK_STR(tp_kubeapi_server(k), "https://10.96.0.1:443");
    TP_CHECK_STR(tp_kubeapi_token_file(k), tf);
    TP_CHECK(tp_kubeapi_in_cluster(k));
    tp_kubeapi_free(k);
    setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
    TP_CHECK_EQ_INT(try_new(&(tp_kubeapi_opts_t){.sa_dir = dir}, &err, &k), 0);
    TP_ASSERT(k != NULL);
    TP_CHECK_STR(tp_kubeapi_server(k), "https://[fd00:10:96::1]:443");
    tp_kubeapi_free(k);
    /* a pod without a mounted token: refused, the file named */
    TP_CHECK_EQ_INT(
        try_new(&(tp_kubeapi_opts_t){.sa_dir = "/nonexistent/sa"}, &err, NULL), TP_EIO);
    TP_CHECK_CONTAINS(err.text, "/nonexistent/sa/token");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");

    /* explicit server: https only, scheme://host[:port] only, a token required */
    TP_CHECK_EQ_INT(try_new(&(tp_kubeapi_opts_t){.server = "https://api.example:6443/",
                                                 .token_file = tf},
                            &err, &k),
                    0);
    TP_ASSERT(k != NULL);
    TP_CHECK_STR(tp_kubeapi_server(k), "https://api.example:6443");
    TP_CHECK(!tp_kubeapi_in_cluster(k));
    tp_kubeapi_free(k);
    static const char *const refused[] = {"http://127.0.0.1:8080",
                                          "https://u:p@api.example",
                                          "https://tok@api.example",
                                          "https://api.example/api",
                                          "https://api.example?x=1",
                                          "ftp://api.example",
                                          "not a url",
                                          NULL};
    for (int i = 0; refused[i]; i++) {
        int rc = try_new(&(tp_kubeapi_opts_t){.server = refused[i], .token_file = tf},
                         &err, NULL);
        if (rc != TP_EUSAGE)
            tp_test_fail(__FILE__, __LINE__, "%s: rc %d (%s)", refused[i], rc, err.text);
    }
    TP_CHECK_EQ_INT(try_new(&(tp_kubeapi_opts_t){.server = "http://127.0.0.1:8080",
                                                 .token_file = tf,
                                                 .allow_http = true},
                            &err, NULL),
                    0);
    TP_CHECK_EQ_INT(
        try_new(&(tp_kubeapi_opts_t){.server = "https://api.example"}, &err, NULL),
        TP_EUSAGE);
    TP_CHECK_CONTAINS(err.text, "--kube-token-file");
    /* a token that would end its header line: refused, never quoted */
    TP_CHECK_EQ_INT(
        try_new(&(tp_kubeapi_opts_t){.server = "https://api.example", .token_file = bad},
                &err, NULL),
        TP_EINVAL);
    TP_CHECK(!strstr(err.text, "s3cr3t") && !strstr(err.text, "Injected"));
    TP_CHECK_EQ_INT(try_new(&(tp_kubeapi_opts_t){.server = "https://api.example",
                                                 .token_file = tf,
                                                 .ca_file = "/nonexistent/ca.pem"},
                            &err, NULL),
                    TP_EIO);

    /* a call that gets no answer (nothing listens on port 1): an error, no token */
    TP_CHECK_EQ_INT(try_new(&(tp_kubeapi_opts_t){.server = "https://127.0.0.1:1",
                                                 .token_file = tf,
                                                 .timeout_ms = 2000},
                            &err, &k),
                    0);
    if (k) {
        int st = -1;
        char *ans = (char *)"x";
        TP_CHECK(tp_kubeapi_call(k, "GET", "/api/v1/namespaces/a/pods/b", NULL, &st, &ans,
                                 &err) < 0);
        TP_CHECK(st == 0 && ans == NULL);
        TP_CHECK(!strstr(err.text, "s3cr3t"));
        TP_CHECK(tp_kubeapi_call(k, "GET", "api/v1", NULL, &st, &ans, &err) == TP_EINVAL);
        tp_kubeapi_free(k);
    }

    if (old_host)
        setenv("KUBERNETES_SERVICE_HOST", old_host, 1);
    if (old_port)
        setenv("KUBERNETES_SERVICE_PORT", old_port, 1);
    free(old_host);
    free(old_port);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    TP_CHECK(system(cmd) == 0);
}

/* config/kube-rbac.yaml grants exactly what scheduler/kubebind.c calls: create
 * on pods/binding (the POST) and get on pods (the read-back). */
TP_TEST(kubeapi_rbac_example)
{
    char path[512];
    snprintf(path, sizeof path, "%s/../config/kube-rbac.yaml", tp_test_srcdir());
    char *text = tp_test_slurp(path, NULL);
    TP_ASSERT(text != NULL);
    TP_CHECK_CONTAINS(text, "kind: ClusterRole\n");
    TP_CHECK_CONTAINS(text, "kind: ClusterRoleBinding\n");
    TP_CHECK_CONTAINS(text, "kind: ServiceAccount\n");
    const char *b = strstr(text, "resources: [\"pods/binding\"]");
    TP_ASSERT(b != NULL);
    TP_CHECK(!strncmp(strstr(b, "verbs:"), "verbs: [\"create\"]", 17));
    const char *p = strstr(text, "resources: [\"pods\"]");
    TP_ASSERT(p != NULL);
    TP_CHECK(!strncmp(strstr(p, "verbs:"), "verbs: [\"get\"]", 14));
    TP_CHECK(!strstr(text, "\"*\"") && !strstr(text, "\"list\"") &&
             !strstr(text, "\"watch\"") && !strstr(text, "\"secrets\""));
    free(text);
}
