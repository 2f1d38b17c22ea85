"""Enrols TOTP for a user of the running server, as an authenticator app would (RFC 6238:
HMAC-SHA1, 6 digits, 30 s), so that schemathesis also meets a second-factor account: its
password alone gives a half-open session, which every operation but the second step refuses.

Usage: totp_user.py BASE_URL USERNAME PASSWORD  (prints nothing; exits non-zero on failure)"""

import base64
import hashlib
import hmac
import struct
import sys
import time

import requests

COOKIE = "__Host-session"


def totp(secret: str, at: float) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def cookie_of(resp) -> str:
    """The session cookie a response sets. It is Secure, so Python's cookie jar would not hand
    it back over plain http: it is read straight from Set-Cookie."""
    for part in resp.headers.get("set-cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    raise AssertionError(f"no {COOKIE} cookie: {resp.status_code} {resp.text}")


def main():
    base, username, password = sys.argv[1:4]
    login = requests.post(f"{base}/api/auth/login", auth=(username, password), timeout=30)
    login.raise_for_status()
    cookies = {COOKIE: cookie_of(login)}
    enrol = requests.post(f"{base}/api/auth/totp", cookies=cookies, timeout=30)
    enrol.raise_for_status()
    code = totp(enrol.json()["secret"], time.time())
    confirm = requests.post(
        f"{base}/api/auth/totp/confirm", cookies=cookies, json={"code": code}, timeout=30
    )
    confirm.raise_for_status()
    again = requests.post(f"{base}/api/auth/login", auth=(username, password), timeout=30)
    assert again.status_code == 202, f"a TOTP account's login: {again.status_code} {again.text}"


if __name__ == "__main__":
    main()
