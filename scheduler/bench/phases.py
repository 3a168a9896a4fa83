"""scheduler/bench/phases.py PORT snap FILE | PORT diff FILE — part of `make bench-serve`.

snap: saves the service's placement phase histograms (GET /metrics,
trustplace_placement_phase_seconds) to FILE; diff: prints, for the requests
answered since that snapshot, each phase's mean and its p50 and p99
(interpolated within the histogram's buckets, so approximate), and the
service's CPU time per decision when /proc has the pid (BENCH_PID)."""
import http.client, json, os, re, sys

PAT = re.compile(r'^trustplace_placement_phase_seconds_(bucket|sum|count)\{phase="(\w+)"'
                 r'(?:,le="([^"]+)")?\} (\S+)$')


def scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    h = {}
    for line in text.splitlines():
        m = PAT.match(line)
        if not m:
            continue
        kind, phase, le, v = m.group(1), m.group(2), m.group(3), float(m.group(4))
        p = h.setdefault(phase, {"buckets": [], "sum": 0.0, "count": 0.0})
        if kind == "bucket":
            p["buckets"].append((float("inf") if le == "+Inf" else float(le), v))
        else:
            p[kind] = v
    return h


def cpu(pid):
    try:
        f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def quantile(buckets, q):
    total = buckets[-1][1]
    if total <= 0:
        return 0.0
    want, lo, prev = q * total, 0.0, 0.0
    for le, cum in buckets:
        if cum >= want:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * ((want - prev) / (cum - prev) if cum > prev else 1)
        lo, prev = le, cum
    return lo


def main():
    port, mode, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    pid = os.environ.get("BENCH_PID")
    now = scrape(port)
    if mode == "snap":
        json.dump({"h": now, "cpu": cpu(pid) if pid else None}, open(path, "w"))
        return
    old = json.load(open(path))
    before = old["h"]
    n = 0
    print("   phase       mean    p50    p99  (ms, per placement request, from /metrics)")
    for phase in ("queue", "solve", "validate", "commit", "audit", "respond", "total"):
        a, b = now.get(phase), before.get(phase, {"buckets": [], "sum": 0, "count": 0})
        if not a:
            continue
        prev = dict((le, v) for le, v in b["buckets"])
        d = [(le, v - prev.get(le, 0)) for le, v in a["buckets"]]
        cnt = a["count"] - b["count"]
        n = max(n, cnt)
        mean = (a["sum"] - b["sum"]) / cnt if cnt else 0
        print("   %-9s %6.2f %6.2f %6.2f" % (phase, mean * 1e3, quantile(d, .5) * 1e3,
                                           quantile(d, .99) * 1e3))
    c1 = cpu(pid) if pid else None
    if c1 is not None and old.get("cpu") is not None and n:
        print("   service CPU time: %.3f ms per decision (%d decisions)" % (
            (c1 - old["cpu"]) / n * 1e3, n))


main()
