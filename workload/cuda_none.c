/*
 * workload/cuda_none.c — stands in for workload/cuda.cu when nvcc was not found
 * at build time (or in the sanitizer build): the CUDA backend reports that it
 * is not built, cleanly.
 */
#include "workload/workload_internal.h"

#ifndef TP_HAVE_CUDA

bool tp_cuda_built(void)
{
    return false;
}

int tp_cuda_backend_new(const tp_model_t *m, const tp_decoder_opts_t *o, void **out,
                        tp_error_t *err)
{
    (void)m;
    (void)o;
    *out = NULL;
    return tp_error_set(err, TP_EUNSUPPORTED,
                        "the CUDA backend is not built into this binary (nvcc was not "
                        "found at build time, or this is the sanitizer build)");
}

/* Never reached: tp_cuda_backend_new always fails. */
const tp_backend_ops_t tp_cuda_backend_ops = {.name = "cuda"};

#else
typedef int tp_cuda_none_unused_t; /* ISO C forbids an empty translation unit */
#endif
