#!/usr/bin/env python3
"""Small HTTP load helpers for run.sh (standard library only, raw asyncio HTTP/1.1).

  sessions URL USER PW N CONC OUT   log in N times over CONC keep-alive connections;
                                    write the session tokens to OUT, one a line
  seqlogin URL USER PW N            N sequential logins on one connection; prints the
                                    median and minimum latency in ms (JSON)
  probe URL COOKIES SECONDS         sequential GET /api/me on one connection, rotating over
                                    the tokens in COOKIES, 2 ms apart; prints p50/p99 (JSON)
  warm URL COOKIES CONC             GET /api/me once with every token (fills the cache)
  flood URL USER PW N               N logins at once, one connection each; prints status
                                    counts and failures (JSON)
  djangodb OUT N                    a Django-shaped SQLite database (auth_user, groups) to
                                    import: N users of each Django hasher at Django's default
                                    cost, N inactive, N without a usable password
  failtimes URL N                   failed logins, one per account, sequential on one
                                    connection, the classes shuffled together: N unknown names,
                                    N inactive, N password-less, N native (spa-auth argon2id,
                                    made by the caller as native0..), N of each Django hasher;
                                    prints every time in ms by class (JSON)
"""

import asyncio
import base64
import json
import resource
import statistics
import sys
import time
from urllib.parse import urlsplit

COOKIE = "__Host-session"


class Conn:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.r = self.w = None

    async def open(self):
        self.r, self.w = await asyncio.open_connection(self.host, self.port)

    async def request(self, method, path, headers=None, close=False):
        if self.w is None:
            await self.open()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 "Content-Length: 0"]
        if close:
            lines.append("Connection: close")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.w.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.w.drain()
        head = await self.r.readuntil(b"\r\n\r\n")
        status_line, *hdr_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        hdrs = []
        length = 0
        for h in hdr_lines:
            if ":" in h:
                k, v = h.split(":", 1)
                hdrs.append((k.strip().lower(), v.strip()))
                if k.strip().lower() == "content-length":
                    length = int(v)
        body = await self.r.readexactly(length) if length else b""
        return status, hdrs, body

    def close(self):
        if self.w is not None:
            self.w.close()
            self.w = None


def basic(user, pw):
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def token_of(hdrs):
    for k, v in hdrs:
        if k == "set-cookie" and v.startswith(COOKIE + "="):
            t = v.split(";", 1)[0].split("=", 1)[1]
            if t:
                return t
    return None


def hostport(url):
    u = urlsplit(url)
    return u.hostname, u.port


async def sessions(url, user, pw, n, conc, out):
    host, port = hostport(url)
    auth = {"Authorization": basic(user, pw)}
    tokens, failures = [], {}
    remaining = [n]

    async def worker():
        c = Conn(host, port)
        while remaining[0] > 0:
            remaining[0] -= 1
            status, hdrs, _ = await c.request("POST", "/api/auth/login", auth)
            t = token_of(hdrs)
            if status == 200 and t:
                tokens.append(t)
            else:
                failures[status] = failures.get(status, 0) + 1
        c.close()

    await asyncio.gather(*(worker() for _ in range(conc)))
    with open(out, "w") as f:
        f.write("\n".join(tokens) + "\n")
    print(json.dumps({"sessions": len(tokens), "failures": failures}))


async def seqlogin(url, user, pw, n):
    host, port = hostport(url)
    c = Conn(host, port)
    auth = {"Authorization": basic(user, pw)}
    took = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _, _ = await c.request("POST", "/api/auth/login", auth)
        took.append(time.perf_counter() - t0)
        assert status == 200, status
    c.close()
    print(json.dumps({"median_ms": statistics.median(took) * 1e3, "min_ms": min(took) * 1e3}))


async def probe(url, cookies, seconds):
    host, port = hostport(url)
    tokens = [l.strip() for l in open(cookies) if l.strip()]
    c = Conn(host, port)
    took, bad, i = [], 0, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        status, _, _ = await c.request("GET", "/api/me", {"Cookie": f"{COOKIE}={tokens[i % len(tokens)]}"})
        took.append(time.perf_counter() - t0)
        bad += status != 200
        i += 1
        await asyncio.sleep(0.002)
    c.close()
    took.sort()
    q = lambda p: took[min(len(took) - 1, int(p * len(took)))] * 1e3
    print(json.dumps({"n": len(took), "p50_ms": q(0.50), "p99_ms": q(0.99), "non200": bad}))


async def warm(url, cookies, conc):
    host, port = hostport(url)
    tokens = [l.strip() for l in open(cookies) if l.strip()]
    bad = []

    async def worker(part):
        c = Conn(host, port)
        for t in part:
            status, _, _ = await c.request("GET", "/api/me", {"Cookie": f"{COOKIE}={t}"})
            if status != 200:
                bad.append(status)
        c.close()

    await asyncio.gather(*(worker(tokens[i::conc]) for i in range(conc)))
    print(json.dumps({"warmed": len(tokens), "non200": len(bad)}))


async def flood(url, user, pw, n):
    host, port = hostport(url)
    auth = {"Authorization": basic(user, pw)}
    counts, failures = {}, {}
    start = asyncio.Event()

    async def one():
        c = Conn(host, port)
        try:
            await c.open()
            await start.wait()
            status, _, _ = await asyncio.wait_for(c.request("POST", "/api/auth/login", auth, close=True), 120)
            counts[status] = counts.get(status, 0) + 1
        except Exception as e:  # a failure that is not a deliberate answer
            failures[type(e).__name__] = failures.get(type(e).__name__, 0) + 1
        finally:
            c.close()

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await asyncio.sleep(0.5)
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    print(json.dumps({"statuses": {str(k): v for k, v in sorted(counts.items())},
                      "transport_failures": failures, "seconds": time.perf_counter() - t0}))


# Made by Django 5.2 (`make_password`) at its default costs; the same hash serves every account
# of a kind, since what a check costs depends only on the parameters. The password does not
# matter: every login below fails.
DJANGO_HASHES = {
    "pbkdf2": "pbkdf2_sha256$1000000$jEJEylAHChpdCfN7lLg6xX$coLinSGW9BXSByZ65GuOZbtXOVH56HLudcrulBgLO+k=",
    "argon2": "argon2$argon2id$v=19$m=102400,t=2,p=8$cFY0MWttUm5POGQ5ckVBalZZWWd6WQ$OiWz7rEzmDI2DBY/d/QFZOere9oSnCmEzC5iemADP4k",
    "bcrypt": "bcrypt_sha256$$2b$12$q6gcDoXp23Agy4obM2fB4OLPuV2LiTbq3wLyBcFtKGL55gL3pRl7e",
    "scrypt": "scrypt$16384$LpaNV2s3xUNqHGwbsdgdmW$8$5$Sl4NEhQs5RoVE35YuFdt4b0h/evFZflwUGzYjVpCNr+H1gkU5ikm9UVSnjnd1JOwHPRY2HmQ6kjfNm4mqN7tcw==",
}


def djangodb(out, n):
    import sqlite3
    db = sqlite3.connect(out)
    db.executescript("""
        CREATE TABLE auth_user (id integer PRIMARY KEY, password varchar(128), last_login datetime,
            is_superuser bool, username varchar(150) UNIQUE, first_name varchar(150),
            last_name varchar(150), email varchar(254), is_staff bool, is_active bool,
            date_joined datetime);
        CREATE TABLE auth_group (id integer PRIMARY KEY, name varchar(150) UNIQUE);
        CREATE TABLE auth_user_groups (id integer PRIMARY KEY, user_id integer, group_id integer);
    """)
    users = []
    for kind, encoded in DJANGO_HASHES.items():
        users += [(f"{kind}{i}", encoded, 1) for i in range(n)]
    users += [(f"inactive{i}", DJANGO_HASHES["pbkdf2"], 0) for i in range(n)]
    users += [(f"nopass{i}", "!Xq0lJdVzP6cR8sdxgVMBMYd2yDjFDUWR3hnrYgd7", 1) for i in range(n)]
    db.executemany(
        "INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name,"
        " email, is_staff, is_active, date_joined) VALUES (?, NULL, 0, ?, '', '', ?, 0, ?,"
        " '2024-05-01 09:30:00.000000')",
        [(pw, name, f"{name}@example.com", active) for name, pw, active in users])
    db.commit()
    print(json.dumps({"django_users": len(users)}))


async def failtimes(url, n):
    import random
    host, port = hostport(url)
    classes = ["unknown", "inactive", "nopass", "native", *DJANGO_HASHES]
    names = {"unknown": "ghost"}
    plan = [(c, f"{names.get(c, c)}{i}") for c in classes for i in range(n)]
    random.Random(17).shuffle(plan)
    c = Conn(host, port)
    for i in range(5):  # warm up the connection and the hashing threads
        await c.request("POST", "/api/auth/login", {"Authorization": basic(f"warmup{i}", "x")})
    took = {k: [] for k in classes}
    for i, (cls, user) in enumerate(plan):
        auth = {"Authorization": basic(user, f"wrong password {i}")}
        t0 = time.perf_counter()
        status, _, _ = await c.request("POST", "/api/auth/login", auth)
        took[cls].append(round((time.perf_counter() - t0) * 1e3, 2))
        assert status == 401, (user, status)
    c.close()
    print(json.dumps(took))


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cmd, *a = sys.argv[1:]
    if cmd == "sessions":
        asyncio.run(sessions(a[0], a[1], a[2], int(a[3]), int(a[4]), a[5]))
    elif cmd == "seqlogin":
        asyncio.run(seqlogin(a[0], a[1], a[2], int(a[3])))
    elif cmd == "probe":
        asyncio.run(probe(a[0], a[1], float(a[2])))
    elif cmd == "warm":
        asyncio.run(warm(a[0], a[1], int(a[2])))
    elif cmd == "djangodb":
        djangodb(a[0], int(a[1]))
    elif cmd == "failtimes":
        asyncio.run(failtimes(a[0], int(a[1])))
    elif cmd == "flood":
        asyncio.run(flood(a[0], a[1], a[2], int(a[3])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
