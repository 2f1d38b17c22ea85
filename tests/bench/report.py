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
timing_only = "--timing-only" in sys.argv[3:]
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


def timing_section():
    """Failed-login timing, before/after: the time of each kind of failure, and the share of
    them slower than the line between the native argon2id and the fastest imported hasher."""
    import statistics
    classes = [
        ("unknown", "unknown name"),
        ("inactive", "inactive account"),
        ("nopass", "account without a usable password"),
        ("accounts", "**every real account above, pooled** (what a name that exists costs)"),
        ("native", "native account (spa-auth argon2id 19 MiB, t=2, p=1)"),
        ("pbkdf2", "imported: Django pbkdf2_sha256, 1,000,000 iterations"),
        ("argon2", "imported: Django argon2id, 100 MiB, t=2, p=8"),
        ("bcrypt", "imported: Django bcrypt_sha256, cost 12"),
        ("scrypt", "imported: Django scrypt, N=2^14, r=8, p=5"),
    ]
    accounts = ["native", "pbkdf2", "argon2", "bcrypt", "scrypt"]
    labels = [l for l in ("before", "after") if isinstance(res.get(f"timing.{l}.unknown"), list)]
    if not labels:
        return []
    stats, lines = {}, []
    for l in labels:
        t = {c: res[f"timing.{l}.{c}"] for c, _ in classes if c != "accounts"}
        t["accounts"] = [x for c in accounts for x in t[c]]
        line = (statistics.median(t["native"])
                * min(statistics.median(t[c]) for c in accounts[1:])) ** 0.5
        stats[l] = {c: (len(v), statistics.median(v), statistics.mean(v),
                        sum(x > line for x in v) / len(v)) for c, v in t.items()}
        lines.append(f"{l}: {line:.0f} ms")
    out = ["## Failed-login timing", "",
           f"Issue 17. A site imported from Django (SQLite): {int(g('timing.n', 50))} accounts of "
           "each Django hasher at Django's default cost (not yet logged in), as many native "
           "accounts, inactive and password-less ones; each failed login once, on one keep-alive "
           "connection, all classes shuffled together, release build. \"slower\" is the share "
           "slower than the geometric mean of the native median and the fastest imported median "
           f"({', '.join(lines)}): how often a failure looks like an imported account's.", "",
           f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; {cores} cores, {cpu}; "
           f"load average before: {res.get('load.before')}, after: {res.get('load.after')}",
           f"- before: `{res.get('timing.before_bin', '-')}`; after: this tree", ""]
    head = "| failed login | n |"
    rule = "|---|---|"
    for l in labels:
        head += f" {l}: median ms | {l}: mean ms | {l}: slower |"
        rule += "---|---|---|"
    out += [head, rule]
    for c, name in classes:
        cells = [name, str(stats[labels[0]][c][0])]
        for l in labels:
            _, med, mean, slow = stats[l][c]
            cells += [f"{med:.1f}", f"{mean:.1f}", f"{slow:.0%}"]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "Targets (each label): an unknown name, an inactive and a password-less account "
            "cost what a real account costs: mean within ±25% of the pooled accounts' mean, "
            "and the share slower within 20 points of theirs.", ""]
    for l in labels:
        s = stats[l]
        _, _, amean, aslow = s["accounts"]
        ok = all(abs(s[c][2] / amean - 1) <= 0.25 and abs(s[c][3] - aslow) <= 0.20
                 for c in ("unknown", "inactive", "nopass"))
        out.append(f"- {'pass' if ok else 'FAIL'} ({l}): failures without a usable hash cost as "
                   f"real accounts do (means {s['unknown'][2]:.0f} / {s['inactive'][2]:.0f} / "
                   f"{s['nopass'][2]:.0f} ms vs {amean:.0f}; slower {s['unknown'][3]:.0%} / "
                   f"{s['inactive'][3]:.0%} / {s['nopass'][3]:.0%} vs {aslow:.0%})")
    return out


if timing_only:
    print("\n".join(timing_section()))
    sys.exit(0)


def row(name, fmt, values, target="", ok=None):
    cells = [fmt.format(v) if isinstance(v, float) else str(v) for v in values]
    verdict = "" if ok is None else ("**pass**" if all(ok) else "**FAIL**")
    if ok is not None:
        verdicts.append((name, all(ok)))
    rows.append(f"| {name} | " + " | ".join(cells) + f" | {target} | {verdict} |")


ceiling = [g(f"ceiling.{b}.rps") for b in B]
hz = [g(f"healthz.{b}.rps") for b in B]
me = [g(f"me.{b}.rps") for b in B]
me_bad = [int(g(f"me.{b}.non2xx", 0)) + int(g(f"me.{b}.timeout", 0)) + int(g(f"me.{b}.read", 0)) for b in B]
row("ceiling: a bare poem app (`tests/bench/ceiling`, same poem), `GET /healthz` req/s (c64, mean of 3 rounds)", "{:,.0f}", ceiling)
row("`GET /healthz` req/s (c64, mean of 3 rounds alternating with the ceiling's)", "{:,.0f}", hz)
row("`/healthz` ÷ ceiling", "{:.0%}", [h / c for h, c in zip(hz, ceiling)], "≥ 70%",
    [h / c >= 0.70 for h, c in zip(hz, ceiling)])
row("`GET /api/me` req/s (c64, 10,000 sessions rotating, mean of 3 rounds alternating with /healthz)", "{:,.0f}", me)
row("`/api/me` ÷ ceiling", "{:.0%}", [m / c for m, c in zip(me, ceiling)], "≥ 60%",
    [m / c >= 0.60 for m, c in zip(me, ceiling)])
row("`GET /api/me` non-2xx / errors", "{}", me_bad, "0", [x == 0 for x in me_bad])
ratio = [m / h for m, h in zip(me, hz)]
row("`/api/me` ÷ `/healthz`", "{:.0%}", ratio, "≥ 70%", [r >= 0.70 for r in ratio])
verify = [g(f"verify.{b}.rps") for b in B]
verify_bad = [int(g(f"verify.{b}.non2xx", 0)) + int(g(f"verify.{b}.timeout", 0)) + int(g(f"verify.{b}.read", 0)) for b in B]
row("`GET /api/auth/verify` req/s (forward auth, same sessions, same rounds)", "{:,.0f}", verify)
row("`GET /api/auth/verify` non-2xx / errors", "{}", verify_bad, "0", [x == 0 for x in verify_bad])
vr = [v / m for v, m in zip(verify, me)]
row("`/api/auth/verify` ÷ `/api/me`", "{:.0%}", vr, "≥ 90%", [r >= 0.90 for r in vr])
row("`/api/auth/verify` ÷ ceiling", "{:.0%}", [v / c for v, c in zip(verify, ceiling)])
row("ceiling `/healthz` p99 ms (c64)", "{:.2f}", [g(f"ceiling.{b}.p99_ms") for b in B])
row("`/healthz` p99 ms (c64)", "{:.2f}", [g(f"healthz.{b}.p99_ms") for b in B])
row("`/api/me` p99 ms (c64)", "{:.2f}", [g(f"me.{b}.p99_ms") for b in B])
row("`/api/auth/verify` p99 ms (c64)", "{:.2f}", [g(f"verify.{b}.p99_ms") for b in B])
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
print("- release build; wrk -t2; each run " + "8s (4s for the alternating ceiling, /healthz, /api/me and /api/auth/verify rounds)" + "; server defaults except where noted "
      "(sessions were created by a server with cheap argon2 parameters; every login number uses "
      "the default OWASP parameters: 19 MiB, 2 iterations, 1 lane, hash concurrency = cores, queue 64)")
print("- latency probe: one keep-alive connection, sequential `GET /api/me`, 2 ms apart, 5 s\n")
print("| metric | SQLite | PostgreSQL | target | result |")
print("|---|---|---|---|---|")
print("\n".join(rows))
print("\n## Targets\n")
for name, ok in verdicts:
    print(f"- {'pass' if ok else 'FAIL'}: {name}")
timing = timing_section()
if timing:
    print("\n" + "\n".join(timing))
