# scheduler/module.mk — the scheduler service (issue 14): access tokens
# (scheduler/access.c), the Kubernetes scheduler-extender logic (scheduler/k8s.c)
# and, from the server's branch, the HTTP service and its journal.
MODULES += scheduler

# access.c: SHA-256, CRYPTO_memcmp and RAND_bytes (OpenSSL; libcrypto is already
# linked through collectors/module.mk) and base64url from libjose (in PKGS).

# The HTTP service (scheduler/httpd.c, serve.c, api.c, worker.c, world.c,
# journal.c): H2O from Debian's libh2o-dev, the build on libuv (pkg-config libh2o).
EXTRA_LIBS += $(shell pkg-config --libs libh2o 2>/dev/null || echo -lh2o)
