"""Black-box test of `spa-auth import django`: Django itself makes the users (one per
hasher, an unusable password, an inactive user, staff + superuser with groups), the built
spa-auth binary imports them, and the users log in over HTTP.

Run by run.sh once per database kind:
    test_import.py sqlite|postgres SPA_AUTH_BINARY
PostgreSQL: the server of SPA_AUTH_TEST_PG (default postgres://postgres@127.0.0.1:5432/test);
the test creates its own two databases and drops them.
"""

import base64
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import requests

HERE = Path(__file__).resolve().parent
KIND = sys.argv[1]
BINARY = sys.argv[2]
PG_ADMIN = os.environ.get("SPA_AUTH_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok   {name}")
    else:
        failed += 1
        print(f"  FAIL {name} {detail}")


def pg_url(dbname):
    u = urlparse(PG_ADMIN)
    return urlunparse(u._replace(path="/" + dbname))


# --- the two databases -------------------------------------------------------------------

tmp = Path(tempfile.mkdtemp(prefix="spa-auth-dj-"))
suffix = secrets.token_hex(4)
pg_dbs = []
if KIND == "sqlite":
    django_db_path = tmp / "django.sqlite3"
    DJANGO_URL_FOR_DJANGO = f"sqlite:///{django_db_path}"
    DJANGO_URL = f"sqlite://{django_db_path}"
    SPA_URL = f"sqlite://{tmp / 'spa-auth.db'}?mode=rwc"
else:
    src, dst = f"spa_auth_t_dj_{suffix}_src", f"spa_auth_t_dj_{suffix}_dst"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        for name in (src, dst):
            c.execute(f'CREATE DATABASE "{name}"')
            pg_dbs.append(name)
    DJANGO_URL_FOR_DJANGO = DJANGO_URL = pg_url(src)
    SPA_URL = pg_url(dst)


def spa_query(sql, params=()):
    """Rows of the spa-auth database, read directly."""
    if KIND == "sqlite":
        path = tmp / "spa-auth.db"
        if not path.exists():
            return None
        with sqlite3.connect(path) as c:
            try:
                return c.execute(sql, params).fetchall()
            except sqlite3.OperationalError:
                return None
    with psycopg.connect(SPA_URL) as c:
        try:
            return c.execute(sql.replace("?", "%s"), params).fetchall()
        except psycopg.errors.UndefinedTable:
            return None


def roles_of(username):
    rows = spa_query("SELECT roles FROM users WHERE username_key = ?", (username.lower(),))
    value = rows[0][0]
    return sorted(json.loads(value) if isinstance(value, str) else value)


def stored_hash(username):
    rows = spa_query("SELECT password_hash FROM users WHERE username_key = ?", (username.lower(),))
    return rows[0][0] if rows else "<no such user>"


def dump_users():
    return spa_query("SELECT * FROM users ORDER BY username_key")


def spa_auth(*args):
    """Runs the binary; returns (exit code, stdout + stderr)."""
    r = subprocess.run(
        [BINARY, *args], capture_output=True, text=True, timeout=300,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    return r.returncode, r.stdout + r.stderr


def do_import(*extra):
    return spa_auth("import", "django", "--from", DJANGO_URL, "--database-url", SPA_URL, *extra)


def summary(out):
    m = re.search(r"(\d+) imported, (\d+) updated, (\d+) unchanged, (\d+) without usable password, (\d+) skipped", out)
    return tuple(int(x) for x in m.groups()) if m else None


# --- Django makes its users --------------------------------------------------------------

os.environ["DJANGO_TEST_DB_URL"] = DJANGO_URL_FOR_DJANGO
os.environ["DJANGO_SETTINGS_MODULE"] = "djproj.settings"
sys.path.insert(0, str(HERE))
import django  # noqa: E402

django.setup()
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)

# username, hasher, password, extra attributes
USERS = [
    ("pbkdf2", "pbkdf2_sha256", "pbkdf2 horse battery", {}),
    ("pbkdf2sha1", "pbkdf2_sha1", "sha1 horse battery", {}),
    ("argon", "argon2", "argon horse battery", {}),
    ("bcryptsha", "bcrypt_sha256", "bcrypt sha horse " + "x" * 80, {}),
    ("bcryptplain", "bcrypt", "bcrypt plain horse", {}),
    ("scrypt", "scrypt", "scrypt horse battery", {}),
    ("Zoë.Unicode", "pbkdf2_sha256", "pässwörd ✓ ünïcode", {"first_name": "Zoë", "last_name": "Ünïcode"}),
    ("Admin", "argon2", "admin horse battery", {"is_staff": True, "is_superuser": True}),
    ("inactive", "pbkdf2_sha256", "inactive horse battery", {"is_active": False}),
    ("md5user", "md5", "md5 horse battery", {}),
    ("later", "pbkdf2_sha256", "later horse battery", {}),
]
editors = Group.objects.create(name="editors")
billing = Group.objects.create(name="billing")
for username, hasher, password, extra in USERS:
    u = User.objects.create_user(username, email=f"{username.lower()}@example.com", password=None, **extra)
    u.password = make_password(password, hasher=hasher)
    u.last_login = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    u.save()
admin = User.objects.get(username="Admin")
admin.groups.add(editors, billing)
User.objects.get(username="scrypt").groups.add(editors)
nopass = User.objects.create_user("nopass", email="nopass@example.com")  # unusable: "!..."
check("django: unusable password", not nopass.has_usable_password())
ALL = len(USERS) + 1
NO_PASSWORD = {"md5user", "nopass"}

print(f"\n== {KIND}: import")

# --- dry run on a fresh database: reports, writes nothing ---------------------------------

code, out = do_import("--dry-run")
check("dry run on a fresh database exits 0", code == 0, out)
check("dry run reports every user as to import", summary(out) == (ALL, 0, 0, 2, 0), out)
check("dry run lists users", "would import Admin" in out, out)
check("dry run created no tables", not spa_query("SELECT * FROM users"), dump_users())

# --- the import ---------------------------------------------------------------------------

code, out = do_import()
print("    " + out.strip().replace("\n", "\n    "))
check("import exits 0", code == 0, out)
check("import summary", summary(out) == (ALL, 0, 0, 2, 0), out)
check("no hash appears in the output", "pbkdf2_sha256$" not in out and "argon2$" not in out, out)
check("every user once", spa_query("SELECT COUNT(*) FROM users")[0][0] == ALL)
check("roles of staff + superuser + groups", roles_of("admin") == ["billing", "editors", "staff", "superuser"], roles_of("admin"))
check("group as role", roles_of("scrypt") == ["editors"], roles_of("scrypt"))
check("no roles", roles_of("pbkdf2") == [], roles_of("pbkdf2"))
for name in sorted(NO_PASSWORD):
    check(f"{name} has no usable password (NULL)", stored_hash(name) is None, stored_hash(name))
    check(f"{name} listed as without usable password", f"no usable password: {name}" in out, out)
check("Django hash kept as is", stored_hash("pbkdf2") == User.objects.get(username="pbkdf2").password)
active = spa_query("SELECT is_active FROM users WHERE username_key = 'inactive'")[0][0]
check("inactive stays inactive", not active, active)

code, out = do_import()
check("second run: all unchanged", code == 0 and summary(out) == (0, 0, ALL, 2, 0), out)
check("second run: no duplicates", spa_query("SELECT COUNT(*) FROM users")[0][0] == ALL)

# --- logging in over HTTP -----------------------------------------------------------------

print(f"\n== {KIND}: logins over HTTP")
server = subprocess.Popen(
    [BINARY, "serve", "--bind", "127.0.0.1:0", "--database-url", SPA_URL],
    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
)
port = None
deadline = time.time() + 60
while time.time() < deadline:
    line = server.stderr.readline()
    if not line:
        break
    m = re.search(r"spa-auth listening on http://localhost:(\d+)", line)
    if m:
        port = int(m.group(1))
        break
check("server started", port is not None)
base = f"http://127.0.0.1:{port}"
timings = {}


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def login(user, password):
    t = time.perf_counter()
    r = requests.post(f"{base}/api/auth/login", headers=basic(user, password), timeout=120)
    return r, time.perf_counter() - t


def session_cookie(resp):
    m = re.match(r"(__Host-session=[^;]+)", resp.headers.get("Set-Cookie", ""))
    return m.group(1) if m else None


try:
    for username, hasher, password, extra in USERS:
        usable = username not in NO_PASSWORD and extra.get("is_active", True)
        if username == "later":
            continue  # logs in after its password changes in Django, below
        r, _ = login(username, password + "-wrong")
        check(f"{username} ({hasher}): wrong password is 401", r.status_code == 401, r.status_code)
        r, took = login(username, password)
        if not usable:
            check(f"{username} ({hasher}): right password still 401", r.status_code == 401, r.status_code)
            check(f"{username}: hash not replaced", not (stored_hash(username) or "").startswith("$argon2id$"))
            continue
        timings[hasher] = took
        check(f"{username} ({hasher}): right password is 200", r.status_code == 200, (r.status_code, r.text))
        cookie = session_cookie(r)
        check(f"{username}: session cookie set", cookie is not None, r.headers)
        me = requests.get(f"{base}/api/me", headers={"Cookie": cookie or ""}, timeout=30)
        check(f"{username}: /api/me answers 200", me.status_code == 200, me.status_code)
        body = me.json() if me.status_code == 200 else {}
        check(f"{username}: /api/me is the user", body.get("username") == username, body)
        check(f"{username}: an imported address counts as verified", body.get("email_verified") is True, body)
        dj = User.objects.get(username=username)
        joined = body.get("date_joined", "").replace("Z", "+00:00")
        check(f"{username}: date_joined from Django",
              joined and datetime.fromisoformat(joined) == dj.date_joined, (joined, dj.date_joined))
        if "roles" in body:
            check(f"{username}: /api/me roles", sorted(body["roles"]) == roles_of(username), body)
        check(f"{username}: hash replaced by argon2id at first login",
              stored_hash(username).startswith("$argon2id$"), stored_hash(username)[:20])
        r2, took2 = login(username, password)
        check(f"{username}: logs in again with the new hash", r2.status_code == 200, r2.status_code)
        timings[hasher + " (after rehash)"] = took2

    # After logins: spa-auth's own hashes and later last_login are kept by a re-run.
    code, out = do_import()
    check("re-run after logins: all unchanged", code == 0 and summary(out) == (0, 0, ALL, 2, 0), out)
    check("re-run kept the argon2id hashes", stored_hash("pbkdf2").startswith("$argon2id$"))

    # Changes in Django come over; a dry run only reports them.
    later = User.objects.get(username="later")
    later.set_password("later changed in django")  # Django's default: pbkdf2_sha256
    later.email = "later-new@example.com"
    later.save()
    admin.groups.remove(billing)
    User.objects.create_user("newcomer", email="n@example.com", password="newcomer horse battery")
    before = dump_users()
    code, out = do_import("--dry-run")
    check("dry run of changes", code == 0 and summary(out) == (1, 2, ALL - 2, 2, 0), out)
    check("dry run names the fields", "would update later: email, password" in out, out)
    check("dry run wrote nothing", dump_users() == before)
    code, out = do_import()
    check("import of changes", code == 0 and summary(out) == (1, 2, ALL - 2, 2, 0), out)
    check("removed group is a removed role", roles_of("admin") == ["editors", "staff", "superuser"], roles_of("admin"))
    r, _ = login("later", "later horse battery")
    check("later: old Django password no longer works", r.status_code == 401, r.status_code)
    r, _ = login("later", "later changed in django")
    check("later: new Django password works", r.status_code == 200, r.status_code)
    r, _ = login("newcomer", "newcomer horse battery")
    check("newcomer: imported on the second run and logs in", r.status_code == 200, r.status_code)
finally:
    server.terminate()
    server.wait(timeout=30)

# --- errors -------------------------------------------------------------------------------

print(f"\n== {KIND}: errors")
User.objects.create_user("Carol", password="carol horse battery")
User.objects.create_user("carol", password="carol horse battery")
code, out = do_import()
check("case clash: exits non-zero", code != 0, out)
check("case clash: both listed", "skipped Carol: username clashes ignoring case with carol" in out
      and "skipped carol: username clashes ignoring case with Carol" in out, out)
check("case clash: neither imported", stored_hash("carol") == "<no such user>")
check("case clash: the rest still imported", summary(out) is not None and summary(out)[4] == 2, out)

code, out = spa_auth("import", "django", "--from", SPA_URL, "--database-url", SPA_URL, "--dry-run")
check("not a Django database: clear error", code != 0 and "not a Django database" in out, out)
if KIND == "sqlite":
    code, out = spa_auth("import", "django", "--from", f"sqlite://{tmp / 'missing.sqlite3'}",
                         "--database-url", SPA_URL)
    check("missing Django SQLite file: error, not created",
          code != 0 and not (tmp / "missing.sqlite3").exists(), out)

print(f"\n== {KIND}: time of the first login (Django hash + new argon2id) and the next (argon2id)")
for name, took in timings.items():
    print(f"    {name:32s} {took * 1000:7.0f} ms")

# --- clean up -----------------------------------------------------------------------------

from django.db import connections  # noqa: E402

connections.close_all()
if pg_dbs:
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        for name in pg_dbs:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
shutil.rmtree(tmp, ignore_errors=True)

print(f"django import ({KIND}): {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
