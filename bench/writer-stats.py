#!/usr/bin/env python3
"""writer-stats.py OUT - a line "n p50 p99 max >50ms >200ms errors blocked-s"
of the output of bench/writer.c, in ms (nearest-rank percentiles; blocked:
seconds spent in writes over 50 ms)."""
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1])]
lat = sorted(r[1] for r in rows)
if not lat:
    print("0 - - - 0 0 0 0")
    sys.exit()
def pct(p):		# nearest rank
    return lat[max(0, -(-len(lat) * p // 100) - 1)] / 1000
print("%d %.2f %.2f %.2f %d %d %d %.2f" % (len(lat), pct(50), pct(99), lat[-1] / 1000,
      sum(l > 50000 for l in lat), sum(l > 200000 for l in lat), sum(r[2] != 0 for r in rows),
      sum(l for l in lat if l > 50000) / 1e6))
