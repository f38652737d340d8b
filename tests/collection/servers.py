"""Real local HTTP servers implementing the platforms' documented protocols,
for the collectors to talk to (127.0.0.1, a random port, a thread each)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit


def cloudstack_signature(params: dict[str, str], secret_key: str) -> str:
    """Written from the CloudStack docs, independently of the collector's code."""
    pairs = sorted(params.items(), key=lambda kv: kv[0].lower())
    text = "&".join(f"{k}={quote(v, safe='*')}" for k, v in pairs).lower()
    return base64.b64encode(
        hmac.new(secret_key.encode(), text.encode(), hashlib.sha1).digest()
    ).decode()


REFUSED = "unable to verify user credentials and/or request signature"


@dataclass
class CloudStackState:
    api_key: str
    secret_key: str
    # day (YYYY-MM-DD) -> records
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # statuses to answer before serving normally (429, 503, 500 ...), consumed in order
    fail_next: list[int] = field(default_factory=list)
    # days whose every request fails with 530 ("the usage server is down")
    broken_days: set[str] = field(default_factory=set)
    requests: list[dict[str, str]] = field(default_factory=list)
    refused_signatures: int = 0


def _cloudstack_handler(state: CloudStackState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _answer(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, text: str) -> None:
            self._answer(
                status,
                {
                    "listusagerecordsresponse": {
                        "uuidList": [],
                        "errorcode": status,
                        "cserrorcode": 9999,
                        "errortext": text,
                    }
                },
                {"Retry-After": "0"} if status in (429, 503) else None,
            )

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/client/api":
                return self._error(404, "no such path")
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            state.requests.append(params)
            sig = params.pop("signature", None)
            if params.get("apiKey") != state.api_key or sig is None:
                state.refused_signatures += 1
                return self._error(
                    401, "unable to verify user credentials and/or request signature"
                )
            if not hmac.compare_digest(sig, cloudstack_signature(params, state.secret_key)):
                state.refused_signatures += 1
                return self._error(
                    401, "unable to verify user credentials and/or request signature"
                )
            if state.fail_next:
                status = state.fail_next.pop(0)
                text = {
                    429: "There are too many API calls; please retry later",
                    503: "Usage server is busy",
                }.get(status, "Internal error executing command")
                return self._error(status, text)
            if params.get("command") != "listUsageRecords":
                return self._error(
                    432, f"The given command does not exist: {params.get('command')}"
                )
            start, end = params.get("startdate"), params.get("enddate")
            if not start or not end:
                return self._error(
                    431,
                    "Unable to execute API command listusagerecords due to "
                    "missing parameter startdate",
                )
            if start in state.broken_days:
                return self._error(530, "Unable to list usage records: usage job not run")
            page = int(params.get("page", "1"))
            size = int(params.get("pagesize", "500"))
            found = [
                r for day, rs in sorted(state.records.items()) if start <= day <= end for r in rs
            ]
            chunk = found[(page - 1) * size : page * size]
            body: dict[str, Any] = {}
            if found:
                body = {"count": len(found), "usagerecord": chunk}
            self._answer(200, {"listusagerecordsresponse": body})

    return Handler


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def cloudstack_server(state: CloudStackState) -> Iterator[str]:
    with serve(_cloudstack_handler(state)) as base:
        yield base + "/client/api"


@dataclass
class AzureStackState:
    client_id: str
    client_secret: str
    subscription: str
    # day (YYYY-MM-DD) -> aggregates
    aggregates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 2
    fail_next: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # tokens handed out, newest last
    expire_next_token: bool = False  # the next usage call refuses the current token once
    requests: list[str] = field(default_factory=list)
    refused: int = 0


def _azure_stack_handler(state: AzureStackState) -> type[BaseHTTPRequestHandler]:
    usage_path = f"/subscriptions/{state.subscription}/providers/Microsoft.Commerce/usageAggregates"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _answer(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, message: str) -> None:
            retry = {"Retry-After": "0"} if status in (429, 503) else None
            self._answer(status, {"error": {"code": code, "message": message}}, retry)

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/oauth2/token":
                return self._error(404, "NotFound", "no such path")
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            if (
                form.get("grant_type") != "client_credentials"
                or form.get("client_id") != state.client_id
                or form.get("client_secret") != state.client_secret
            ):
                state.refused += 1
                body = {"error": "invalid_client", "error_description": "AADSTS7000215: "
                        "Invalid client secret provided."}  # fmt: skip
                return self._answer(401, body)
            token = f"token-{len(state.tokens) + 1}"
            state.tokens.append(token)
            self._answer(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            state.requests.append(self.path)
            auth = self.headers.get("Authorization", "")
            current = f"Bearer {state.tokens[-1]}" if state.tokens else None
            if auth != current or state.expire_next_token:
                state.expire_next_token = False
                state.refused += 1
                return self._error(401, "ExpiredAuthenticationToken", "The access token expiry "
                                   "UTC time is earlier than current UTC time.")  # fmt: skip
            if parts.path != usage_path:
                return self._error(404, "SubscriptionNotFound", "The subscription was not found.")
            params = dict(parse_qsl(parts.query))
            if params.get("api-version") != "2015-06-01-preview":
                return self._error(400, "InvalidApiVersionParameter", "bad api-version")
            start = params.get("reportedStartTime", "")
            if not start.endswith("T00:00:00Z") or params.get("aggregationGranularity") != "Daily":
                return self._error(400, "InvalidInput", "Daily granularity needs midnight times")
            if state.fail_next:
                status = state.fail_next.pop(0)
                return self._error(status, "TooManyRequests", "Rate limit exceeded")
            found = state.aggregates.get(start[:10], [])
            offset = int(params.get("continuationToken", "0"))
            chunk = found[offset : offset + state.page_size]
            doc: dict[str, Any] = {"value": chunk}
            if offset + state.page_size < len(found):
                host = f"http://{self.headers['Host']}"
                nxt = dict(params, continuationToken=str(offset + state.page_size))
                doc["nextLink"] = f"{host}{parts.path}?{urlencode(nxt)}"
            self._answer(200, doc)

    return Handler


@contextmanager
def azure_stack_server(state: AzureStackState) -> Iterator[str]:
    with serve(_azure_stack_handler(state)) as base:
        yield base


@dataclass
class InventoryState:
    token: str | None
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 3
    fail_next: list[int] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)


def _inventory_handler(state: InventoryState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _answer(self, status: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query))
            state.requests.append(params)
            if state.token and self.headers.get("Authorization") != f"Bearer {state.token}":
                return self._answer(401, {"error": {"message": "bad token"}})
            if state.fail_next:
                return self._answer(state.fail_next.pop(0), {"error": {"message": "slow down"}})
            lo, hi = params.get("from", ""), params.get("to", "")
            if not lo or not hi:
                return self._answer(400, {"error": {"message": "from and to are required"}})
            found = [s for s in state.snapshots if lo <= s["taken_at"] < hi]
            offset = int(params.get("offset", "0"))
            doc: dict[str, Any] = {"snapshots": found[offset : offset + state.page_size]}
            if offset + state.page_size < len(found):
                nxt = dict(params, offset=str(offset + state.page_size))
                doc["nextLink"] = f"http://{self.headers['Host']}{parts.path}?{urlencode(nxt)}"
            self._answer(200, doc)

    return Handler


@contextmanager
def inventory_server(state: InventoryState) -> Iterator[str]:
    with serve(_inventory_handler(state)) as base:
        yield base + "/inventory"
