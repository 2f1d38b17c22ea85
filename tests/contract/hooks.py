"""Schemathesis hooks for spa-auth: authentication that behaves as a real client does.

login takes HTTP Basic. Every cookie-protected operation gets a session of its own: the hook
logs in and sends the fresh cookie; a quarter of them are the half-open session of an account
with TOTP enrolled (password given, second step not yet), which the spec says every operation
but the second step refuses. A shared session would not do: logout, endSession and
endOtherSessions end sessions, so a cookie shared between test cases would die mid-run, and a
global `Cookie` header would also ride along on the negative tests that must go without it.
Schemathesis runs its `ignored_auth` check by dropping what this hook adds.
"""

import base64
import os
import random

import requests
import schemathesis

from totp_user import COOKIE, cookie_of

BASE_URL = os.environ["SPA_AUTH_BASE_URL"]
USERNAME = os.environ["SPA_AUTH_TEST_USER"]
PASSWORD = os.environ["SPA_AUTH_TEST_PASSWORD"]
# An account with TOTP enrolled (tests/contract/totp_user.py): its password gives a session
# that awaits the second step. Seeded: the run stays deterministic.
TOTP_USER = os.environ.get("SPA_AUTH_TEST_TOTP_USER")
HALF_OPEN_SHARE = 0.25
_choice = random.Random(7411)


def _operation_id(case) -> str:
    return case.operation.definition.raw.get("operationId", "")


def _fresh_session(username: str = USERNAME) -> str:
    """Logs in and returns the new session's cookie value (half-open for the TOTP account)."""
    resp = requests.post(
        f"{BASE_URL}/api/auth/login", auth=(username, PASSWORD), timeout=30
    )
    resp.raise_for_status()
    return cookie_of(resp)


# refresh_interval=None: never cache, since a cached session may have been ended by the test
# case before. retry_on=[]: a 401 is an answer to check, not a reason to log in again.
@schemathesis.auth(refresh_interval=None, retry_on=[]).skip_for(operation_id="getHealth")
class SpaAuth:
    def get(self, case, context):
        if _operation_id(case) == "login":
            token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
            return ("basic", token)
        # Sign-up and the mailed links come before any session: the spec declares no
        # security for them, and a cookie would only hide what they do without one.
        if not case.operation.definition.raw.get("security"):
            return ("none", "")
        if TOTP_USER and _choice.random() < HALF_OPEN_SHARE:
            return ("cookie", _fresh_session(TOTP_USER))
        return ("cookie", _fresh_session())

    def set(self, case, data, context):
        kind, value = data
        if kind == "none":
            return
        if kind == "basic":
            case.headers = {**(case.headers or {}), "Authorization": f"Basic {value}"}
        else:
            case.cookies = {**(case.cookies or {}), COOKIE: value}
