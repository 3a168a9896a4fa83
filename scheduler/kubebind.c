/*
 * scheduler/kubebind.c — /k8s/bind's second half: creating the pod's v1.Binding
 * in the Kubernetes API server (collectors/kubeapi.h), from the worker's job,
 * after policy and validator accepted the node and before the journal commit.
 *
 * An answer other than 201 — 409 (already bound), a 5xx, a timeout — does not
 * say by itself where the pod is: an earlier attempt may have bound it (a POST
 * that timed out on our side but committed on the API server). So the pod is
 * read back: bound to the same node with the same UID counts as bound (the
 * placement is journaled, nothing runs untracked); unbound or elsewhere is an
 * error, nothing is journaled and the capacity stays free.
 */
#include "collectors/kubeapi.h"
#include "scheduler/serve_internal.h"

#include <stdio.h>
#include <string.h>

/* ": " and the API server's Status.message (at most 200 bytes), or "". */
static void status_message(const char *answer, char *out, size_t n)
{
    json_t *doc = answer ? json_loads(answer, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(doc, "message"));
    snprintf(out, n, "%s%.200s", m ? ": " : "", m ? m : "");
    for (char *c = out; *c; c++) /* it reaches the log: one line, no terminal codes */
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    json_decref(doc);
}

/* Where the pod is bound now: 1 on node (same UID), 0 unbound, 2 elsewhere (*other set),
 * -1 when it cannot be read. */
static int pod_bound(const svc_t *s, const op_t *op, const char *node, char *other,
                     size_t n)
{
    char path[512];
    size_t len = strlen(op->kpath), suffix = strlen("/binding");
    if (len <= suffix || len - suffix >= sizeof path)
        return -1;
    memcpy(path, op->kpath, len - suffix);
    path[len - suffix] = '\0';
    int st = 0, rc;
    char *ans = NULL;
    tp_error_t err = {0};
    if (tp_kubeapi_call(s->kube, "GET", path, NULL, &st, &ans, &err) < 0 || st != 200) {
        free(ans);
        return -1;
    }
    json_t *pod = json_loads(ans, 0, NULL), *binding = json_loads(op->body, 0, NULL);
    free(ans);
    const char *want =
        json_string_value(json_object_get(json_object_get(binding, "metadata"), "uid"));
    const char *have =
        json_string_value(json_object_get(json_object_get(pod, "metadata"), "uid"));
    const char *on =
        json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    if (!pod || !want || !have || strcmp(want, have))
        rc = -1; /* another pod of that name: not ours to judge */
    else if (!on || !*on)
        rc = 0;
    else if (!strcmp(on, node))
        rc = 1;
    else {
        snprintf(other, n, "%.253s", on);
        rc = 2;
    }
    json_decref(pod);
    json_decref(binding);
    return rc;
}

int kube_bind(const svc_t *s, const op_t *op, const char *node, char *msg, size_t n)
{
    int st = 0;
    char *ans = NULL, why[512], other[256] = "";
    tp_error_t err = {0};
    int rc = tp_kubeapi_call(s->kube, "POST", op->kpath, op->body, &st, &ans, &err);
    if (rc == 0 && st == 201) {
        free(ans);
        return 0;
    }
    if (rc < 0) {
        snprintf(why, sizeof why, "%s", err.text);
    } else {
        char m[220];
        status_message(ans, m, sizeof m);
        snprintf(why, sizeof why, "the API server answered %d%s%s", st, m,
                 st == 401 || st == 403
                     ? " (check the token and the RBAC: create on pods/binding)"
                     : "");
    }
    free(ans);
    if (rc < 0 || st == 409 || st >= 500) {
        switch (pod_bound(s, op, node, other, sizeof other)) {
        case 1:
            svc_log(s, "POST %s: %s; the pod is bound to %s already: accepted", op->kpath,
                    why, node);
            return 0;
        case 2:
            snprintf(msg, n, "pod is already bound to node %s, not %s (%s)", other, node,
                     why);
            svc_log(s, "POST %s: %s", op->kpath, msg);
            return TP_EDUP;
        default:
            break;
        }
    }
    snprintf(msg, n, "binding the pod to %s failed: %s", node, why);
    svc_log(s, "POST %s: %s", op->kpath, msg);
    return TP_EIO;
}
