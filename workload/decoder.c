/*
 * workload/decoder.c — the decoder's public face: picks a backend and forwards
 * the calls through its operations table.
 */
#include "workload/workload_internal.h"

#include <stdlib.h>

struct tp_decoder {
    const tp_backend_ops_t *ops;
    void *be;
};

int tp_decoder_new(const tp_model_t *model, tp_backend_kind_t kind,
                   const tp_decoder_opts_t *opts, tp_decoder_t **out, tp_error_t *err)
{
    *out = NULL;
    tp_decoder_t *d = calloc(1, sizeof *d);
    if (!d)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    int rc;
    if (kind == TP_BACKEND_CUDA) {
        d->ops = &tp_cuda_backend_ops;
        rc = tp_cuda_backend_new(model, opts, &d->be, err);
    } else {
        d->ops = &tp_cpu_backend_ops;
        rc = tp_cpu_backend_new(model, opts, &d->be, err);
    }
    if (rc) {
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void tp_decoder_free(tp_decoder_t *d)
{
    if (!d)
        return;
    d->ops->free(d->be);
    free(d);
}

int tp_decoder_prefill(tp_decoder_t *d, int batch, int plen, const int32_t *tokens,
                       int32_t *next, tp_error_t *err)
{
    return d->ops->prefill(d->be, batch, plen, tokens, next, err);
}

int tp_decoder_step(tp_decoder_t *d, const int32_t *in, int32_t *next, tp_error_t *err)
{
    return d->ops->step(d->be, in, next, err);
}

int tp_decoder_sync(tp_decoder_t *d, tp_error_t *err)
{
    return d->ops->sync(d->be, err);
}

int tp_decoder_logits(tp_decoder_t *d, float *out, tp_error_t *err)
{
    return d->ops->logits(d->be, out, err);
}

const char *tp_decoder_describe(const tp_decoder_t *d)
{
    return d->ops->describe(d->be);
}

const char *tp_decoder_device_name(const tp_decoder_t *d)
{
    return d->ops->device_name(d->be);
}

double tp_decoder_peak_bandwidth(const tp_decoder_t *d)
{
    return d->ops->peak_bw(d->be);
}

float tp_sample_uniform(uint64_t seed, int seq, int pos)
{
    return tp_sample_u(seed, seq, pos);
}
