# traces/module.mk — readers of public cluster traces (Alibaba GPU v2023).
MODULES += traces
