"""One-time tokens for the web UI (`nomad ui -authenticate`), and a TEST-ONLY page at /ui/.

Read from Nomad v1.10.5:
- command/agent/http.go registers /v1/acl/token/onetime and /v1/acl/token/onetime/exchange;
  command/agent/acl_endpoint.go UpsertOneTimeToken / ExchangeOneTimeToken take PUT or POST
  (else 405 "Invalid method"); the exchange decodes {"OneTimeSecretID": ...} from the body
  (400 with the decoder's error otherwise); both set X-Nomad-Index.
- nomad/acl_endpoint.go UpsertOneTimeToken: "ACL support disabled" without ACLs; no capability
  check, the caller's own token is looked up by its secret (unknown: 403 "Permission denied");
  the OTT is {OneTimeSecretID: a new UUID, AccessorID: the token's, ExpiresAt: now + 10 min,
  CreateIndex, ModifyIndex}, written through raft; the reply is
  {"OneTimeToken": {...}, "Index": N} (OneTimeTokenUpsertResponse with WriteMeta inlined).
- ExchangeOneTimeToken: unknown secret, expired (ExpiresAt before now) or its ACL token gone:
  403 "Permission denied"; otherwise every OTT of that accessor is deleted through raft
  (OneTimeTokenDeleteRequest{AccessorIDs}) and the reply is {"Token": <the ACL token>,
  "Index": N}: a one-time token is exchanged once.
- command/agent/http.go handleRootFallthrough: `/` answers 307 to `/ui/` with the query kept.

The page at /ui/ is NOT Nomad's UI (an Ember application). It is a few lines of HTML whose
script does what Nomad's UI does with `?ott=` (ui/app/routes/application.js beforeModel,
services/token.js exchangeOneTimeToken, adapters/token.js): POST the secret to
/v1/acl/token/onetime/exchange, keep the returned SecretID in localStorage.nomadTokenSecret,
clear `ott` from the address bar, then read /v1/acl/token/self with X-Nomad-Token and show
"Signed in as <Name>". Enough for the browser test of `nomadctl ui`, nothing more.
"""

from __future__ import annotations

import datetime
import re
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .common import ApiError
from .transport import Response, ok

if TYPE_CHECKING:
    from .api import Api, Call
    from .state import ClusterState

OTT_TTL = datetime.timedelta(minutes=10)  # nomad/acl_endpoint.go: time.Now().Add(10 * time.Minute)

ANY = "GET|PUT|POST|DELETE"
# Placed before /v1/acl/token/<id> in api.ROUTES, as Nomad's mux prefers the longer pattern.
ROUTES_SPEC = [
    # Every method reaches the handler, which answers 405 itself (acl_endpoint.go), so that a
    # GET is not taken for /v1/acl/token/<accessor>.
    (ANY, "/v1/acl/token/onetime", "ott_upsert", "leader"),
    (ANY, "/v1/acl/token/onetime/exchange", "ott_exchange", "leader"),
    ("GET", "/ui/.*", "ott_ui_page", "agent"),
    ("GET", "/", "ott_root", "agent"),
]


def _write_method(call: Call) -> None:
    if call.method not in ("PUT", "POST"):
        raise ApiError(405, "Invalid method")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class OneTime:
    """The two endpoints, on the leader's replicated state (ClusterState.one_time_tokens)."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def ott_upsert(self, call: Call, m: re.Match[str]) -> Response:
        _write_method(call)
        srv = self.api._srv()
        with srv.lock:
            tok = srv.state.token_by_secret(call.token) if call.token else None
        if tok is None:
            raise ApiError(403, "Permission denied")
        accessor = tok["AccessorID"]

        def fn(st: ClusterState, idx: int) -> dict[str, Any]:
            ott = {
                "OneTimeSecretID": str(uuid.uuid4()),
                "AccessorID": accessor,
                "ExpiresAt": (_now() + OTT_TTL).isoformat().replace("+00:00", "Z"),
                "CreateIndex": idx,
                "ModifyIndex": idx,
            }
            st.one_time_tokens[ott["OneTimeSecretID"]] = ott
            return {"OneTimeToken": dict(ott), "Index": idx}

        reply = srv.apply(fn)
        srv.log("DEBUG", f"nomad.acl: one-time token created: accessor={accessor}")
        return ok(reply, {"X-Nomad-Index": str(reply["Index"])})

    def ott_exchange(self, call: Call, m: re.Match[str]) -> Response:
        _write_method(call)
        if not call.body:  # http.go decodeBody
            raise ApiError(400, "Request body is empty")
        body = call.json()  # `null` and {} decode to an empty secret, which is not found
        if body is not None and not isinstance(body, dict):
            kind = "array" if isinstance(body, list) else "number or string"
            raise ApiError(
                400,
                f"json: cannot unmarshal {kind} into Go value of type "
                "structs.OneTimeTokenExchangeRequest",
            )
        secret = (body or {}).get("OneTimeSecretID") or ""
        if not isinstance(secret, str):
            raise ApiError(
                400,
                "json: cannot unmarshal into Go struct field "
                "OneTimeTokenExchangeRequest.OneTimeSecretID of type string",
            )
        srv = self.api._srv()

        def fn(st: ClusterState, idx: int) -> dict[str, Any]:
            ott = st.one_time_tokens.get(secret)
            if ott is None or datetime.datetime.fromisoformat(ott["ExpiresAt"]) < _now():
                raise ApiError(403, "Permission denied")  # expired ones are left for GC
            token = st.tokens.get(ott["AccessorID"])
            if token is None:
                raise ApiError(403, "Permission denied")
            for key in [
                k for k, v in st.one_time_tokens.items() if v["AccessorID"] == token["AccessorID"]
            ]:
                del st.one_time_tokens[key]
            return {"Token": dict(token), "Index": idx}

        reply = srv.apply(fn)
        name = reply["Token"].get("Name") or ""
        # The record the browser test reads: who signed in, never a secret.
        srv.log(
            "INFO",
            f"nomad.acl: one-time token exchanged: accessor={reply['Token']['AccessorID']} "
            f"name={name!r}",
        )
        return ok(reply, {"X-Nomad-Index": str(reply["Index"])})

    def ott_root(self, call: Call, m: re.Match[str]) -> Response:
        raw = urlencode(call.query)  # handleRootFallthrough keeps the query
        return Response(307, b"", "text/html", {"Location": "/ui/" + (f"?{raw}" if raw else "")})

    def ott_ui_page(self, call: Call, m: re.Match[str]) -> Response:
        return Response(200, UI_PAGE.encode(), "text/html; charset=utf-8")


# TEST PART: a stand-in for Nomad's web UI, only the one-time-token sign-in.
UI_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Nomad (stand-in UI)</title></head>
<body>
<h1>Nomad stand-in UI</h1>
<p id="status">loading</p>
<script>
(async () => {
  const status = document.getElementById("status");
  const params = new URLSearchParams(window.location.search);
  const ott = params.get("ott");
  try {
    if (ott) {
      const r = await fetch("/v1/acl/token/onetime/exchange", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({OneTimeSecretID: ott}),
      });
      if (!r.ok) throw new Error("exchange failed: " + r.status);
      const {Token: token} = await r.json();
      window.localStorage.nomadTokenSecret = token.SecretID;
      params.delete("ott");
      const rest = params.toString();
      history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
    }
    const secret = window.localStorage.nomadTokenSecret;
    if (!secret) { status.textContent = "Not signed in"; return; }
    const self = await fetch("/v1/acl/token/self", {headers: {"X-Nomad-Token": secret}});
    if (!self.ok) throw new Error("token/self failed: " + self.status);
    const me = await self.json();
    status.textContent = "Signed in as " + me.Name;
  } catch (e) {
    status.textContent = "Error: " + e.message;
  }
})();
</script>
</body></html>
"""
