#!/usr/bin/env python3
"""Turns run.sh's key=value results into RESULTS.md (Markdown on stdout)."""

import datetime
import json
import platform
import sys

res, seen = {}, {}
for line in open(sys.argv[1]):
    k, _, v = line.strip().partition("=")
    try:
        v = json.loads(v)
    except ValueError:
        pass
    seen.setdefault(k, []).append(v)
# A key measured in several rounds: the mean.
for k, vs in seen.items():
    nums = [x for x in vs if isinstance(x, (int, float))]
    res[k] = sum(nums) / len(nums) if len(nums) == len(vs) and len(vs) > 1 else vs[-1]
cores = int(sys.argv[2])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
B = ["sqlite", "postgres"]
ARGON2_MIB = 19  # 19456 KiB, OWASP


def g(k, default=float("nan")):
    v = res.get(k, default)
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


rows, verdicts = [], []


def row(name, fmt, values, target="", ok=None):
    cells = [fmt.format(v) if isinstance(v, float) else str(v) for v in values]
    verdict = "" if ok is None else ("**pass**" if all(ok) else "**FAIL**")
    if ok is not None:
        verdicts.append((name, all(ok)))
    rows.append(f"| {name} | " + " | ".join(cells) + f" | {target} | {verdict} |")


hz = [g(f"healthz.{b}.rps") for b in B]
me = [g(f"me.{b}.rps") for b in B]
me_bad = [int(g(f"me.{b}.non2xx", 0)) + int(g(f"me.{b}.timeout", 0)) + int(g(f"me.{b}.read", 0)) for b in B]
row("`GET /healthz` req/s (c64, mean of 3 rounds)", "{:,.0f}", hz)
row("`GET /api/me` req/s (c64, 10,000 sessions rotating, mean of 3 rounds alternating with /healthz)", "{:,.0f}", me)
row("`GET /api/me` non-2xx / errors", "{}", me_bad, "0", [x == 0 for x in me_bad])
ratio = [m / h for m, h in zip(me, hz)]
row("`/api/me` ÷ `/healthz`", "{:.0%}", ratio, "≥ 70%", [r >= 0.70 for r in ratio])
row("`/healthz` p99 ms (c64)", "{:.2f}", [g(f"healthz.{b}.p99_ms") for b in B])
row("`/api/me` p99 ms (c64)", "{:.2f}", [g(f"me.{b}.p99_ms") for b in B])
hash_ms = [(g(f"seqlogin1.{b}.median_ms") + g(f"seqlogin2.{b}.median_ms")) / 2 for b in B]
row("one login, sequential (median ms, before / after the run)", "{}",
    [f"{g(f'seqlogin1.{b}.median_ms'):.1f} / {g(f'seqlogin2.{b}.median_ms'):.1f}" for b in B])
bound = [cores * 1000 / h for h in hash_ms]
row(f"argon2 bound: {cores} cores ÷ mean of those (logins/s)", "{:.1f}", bound)
login = [g(f"login.{b}.rps") for b in B]
row("`POST /api/auth/login` req/s (c8)", "{:.1f}", login)
lr = [l / b for l, b in zip(login, bound)]
row("login ÷ argon2 bound", "{:.0%}", lr, "≥ 90%", [r >= 0.90 for r in lr])
row("`/api/me` p50 / p99 ms, quiet", "{}", [f"{g(f'quiet.{b}.p50_ms'):.2f} / {g(f'quiet.{b}.p99_ms'):.2f}" for b in B])
row("`/api/me` p50 / p99 ms, under login flood (c64)", "{}", [f"{g(f'flooded.{b}.p50_ms'):.2f} / {g(f'flooded.{b}.p99_ms'):.2f}" for b in B])
pr = [g(f"flooded.{b}.p99_ms") / g(f"quiet.{b}.p99_ms") for b in B]
probe_bad = [int(g(f"quiet.{b}.non200", 0)) + int(g(f"flooded.{b}.non200", 0)) for b in B]
row("p99 under flood ÷ quiet p99", "{:.1f}×", pr, "≤ 3×", [r <= 3 for r in pr])
row("probe non-200", "{}", probe_bad, "0", [x == 0 for x in probe_bad])
base = [g(f"rss.{b}.base_kib") / 1024 for b in B]
peak = [g(f"rss.{b}.peak_kib") / 1024 for b in B]
limit = [x + cores * ARGON2_MIB + 64 for x in base]
row("RSS base MiB", "{:.1f}", base)
row("RSS peak MiB, 1,000 concurrent logins (VmHWM)", "{:.1f}", peak)
row(f"limit: base + {cores} × {ARGON2_MIB} MiB + 64 MiB", "{:.1f}", limit, "peak ≤ limit", [p <= l for p, l in zip(peak, limit)])
row("threads after the flood", "{}", [res.get(f"rss.{b}.threads", "?") for b in B])
statuses = [res.get(f"flood.{b}.statuses", {}) for b in B]
row("flood answers", "{}", [", ".join(f"{k}: {v}" for k, v in s.items()) for s in statuses])
fails = []
for b, s in zip(B, statuses):
    other = sum(v for k, v in s.items() if k not in ("200", "503", "429"))
    other += sum(res.get(f"flood.{b}.transport_failures", {}).values())
    fails.append(other)
row("flood failures (not 200/503/429)", "{}", fails, "0", [f == 0 for f in fails])

print("# spa-auth benchmark results\n")
print(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
print(f"- machine: {cores} cores (`nproc`), {cpu}, {platform.system()} {platform.release()}")
print(f"- load average (1/5/15 min) before: {res.get('load.before')}, after: {res.get('load.after')}"
      " — other builds share these cores, and wrk and the Python clients run on them too")
print("- release build; wrk -t2; each run " + "8s (4s for the alternating /healthz and /api/me rounds)" + "; server defaults except where noted "
      "(sessions were created by a server with cheap argon2 parameters; every login number uses "
      "the default OWASP parameters: 19 MiB, 2 iterations, 1 lane, hash concurrency = cores, queue 64)")
print("- latency probe: one keep-alive connection, sequential `GET /api/me`, 2 ms apart, 5 s\n")
print("| metric | SQLite | PostgreSQL | target | result |")
print("|---|---|---|---|---|")
print("\n".join(rows))
print("\n## Targets\n")
for name, ok in verdicts:
    print(f"- {'pass' if ok else 'FAIL'}: {name}")
