"""The HTTP side of the example on FastAPI: the page, its script, and one JSON endpoint per backend step.

Safe by construction, in layers:

* :class:`RequestGuard` (outermost, plain ASGI) refuses, before any endpoint runs, a state-changing request
  whose ``Origin`` is not one of the relying party's origins (403) or whose body is not JSON (415), either
  header repeated included, reads the body within a size limit (413) and a time limit (408), and writes one
  log line per request.
* Starlette's ``SessionMiddleware`` keeps a signed cookie (HttpOnly, SameSite=Strict, Secure off
  localhost) holding only a random session id; the id is bound to a user in the store after a passkey
  ceremony, changed at every sign-in and forgotten at logout.
* Every endpoint that reads or changes a user's data takes the user from that session (401 without one),
  never from the body; bodies are typed pydantic models (400 naming the field), parsed only after a
  nesting-depth check, as UTF-8, without NaN/Infinity and with integers of at most 78 digits.
* An SDK error becomes ``{"error": "<ClassName>", "rule": "<ErrorCode>", "message": ...}`` with the status of
  :func:`error_status`; one after the operation was sent adds ``"sent": true`` and its hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pathlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from examples.dapp_backend._backend import USER_NAME, AsyncDappBackend, DappBackend, user_tag, wei_from_eth
from examples.dapp_backend._errors import (
    BodyTimeout,
    BodyTooLarge,
    CrossSiteRequest,
    FailedAfterSend,
    InvalidRequest,
    NoPendingTransaction,
    NotSignedIn,
    OperationExpired,
    RateLimited,
    SessionNotFound,
    UnknownUser,
    UnsupportedContentType,
)
from examples.dapp_backend._sessions import FALLBACK as SESSION_FALLBACK
from examples.dapp_backend._sessions import SessionKeyVault, SessionService
from sso_signer import b64url_decode, b64url_encode, hex_encode
from sso_signer.exceptions import (
    AfterSendError,
    AlreadyExists,
    ChallengeInvalid,
    ConfigurationError,
    ErrorCode,
    InvalidInputError,
    NotFound,
    RemoteError,
    SessionRefused,
    SsoSignerError,
    StateError,
    StoreCorrupt,
    StoreUnavailable,
    VerificationError,
)
from sso_signer.rpc import AsyncEthClient
from sso_signer.webauthn import open_async_store

__all__ = ["STATIC_DIR", "RequestGuard", "WebLimits", "create_app", "error_status", "json_depth"]

STATIC_DIR = pathlib.Path(__file__).resolve().parent / "static"
_STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_JSON_TYPE = re.compile(r"^application/json\s*(;\s*charset=utf-8\s*)?$", re.IGNORECASE)
_ADDRESS = r"^0x[0-9a-fA-F]{40}$"
# Escape pairs, quotes and brackets: everything json_depth needs to look at, each token matched once.
_DEPTH_TOKEN = re.compile(rb'\\.|["\[\]{}]', re.DOTALL)
# Headers a state-changing request must carry once, and the refusal of a repeated one.
_SINGLE_HEADERS: dict[str, type[SsoSignerError]] = {
    "origin": CrossSiteRequest,
    "content-type": UnsupportedContentType,
}
# Integers in a body: a uint256 has 78 digits, nothing the endpoints take has more.
_MAX_INT_DIGITS = 78
_SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}

log = logging.getLogger("examples.dapp_backend")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ModelT = TypeVar("ModelT", bound=BaseModel)


class WebLimits:
    """HTTP-level bounds.

    Args:
        max_body: Largest request body in bytes (an attestation is a few KB).
        max_depth: Deepest JSON nesting accepted (a credential is 3 levels deep).
        body_timeout: Seconds a client gets to send its whole body.
        purge_every: Requests between two purges of expired state.
    """

    def __init__(
        self,
        *,
        max_body: int = 64 * 1024,
        max_depth: int = 16,
        body_timeout: float = 10.0,
        purge_every: int = 200,
    ) -> None:
        self.max_body = max_body
        self.max_depth = max_depth
        self.body_timeout = body_timeout
        self.purge_every = purge_every


def error_status(exc: SsoSignerError) -> HTTPStatus:
    """The HTTP status of an error a backend step raised.

    Args:
        exc: The error.

    Returns:
        400 malformed input, 401 no session, 403 a failed check (origin, signature, another user's
        data), 404 no such user or operation, 408 a body sent too slowly, 409 a state conflict (used
        challenge, taken name), 410 an expired operation, 413 too large, 415 not JSON, 429 rate limited,
        502 the chain or bundler failed, 503 the database is unavailable, 500 a set-up problem or damaged
        data.
    """
    table: tuple[tuple[type[SsoSignerError], HTTPStatus], ...] = (
        (NotSignedIn, HTTPStatus.UNAUTHORIZED),
        (BodyTimeout, HTTPStatus.REQUEST_TIMEOUT),
        (BodyTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
        (UnsupportedContentType, HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
        (RateLimited, HTTPStatus.TOO_MANY_REQUESTS),
        (OperationExpired, HTTPStatus.GONE),
        (UnknownUser, HTTPStatus.NOT_FOUND),
        # The server's own database, not the client's request: checked before StateError/InvalidInputError.
        (StoreUnavailable, HTTPStatus.SERVICE_UNAVAILABLE),
        (StoreCorrupt, HTTPStatus.INTERNAL_SERVER_ERROR),
        (ChallengeInvalid, HTTPStatus.CONFLICT),
        (AlreadyExists, HTTPStatus.CONFLICT),
        (VerificationError, HTTPStatus.FORBIDDEN),
        (StateError, HTTPStatus.CONFLICT),
        (InvalidInputError, HTTPStatus.BAD_REQUEST),
        (RemoteError, HTTPStatus.BAD_GATEWAY),
        (ConfigurationError, HTTPStatus.INTERNAL_SERVER_ERROR),
    )
    if isinstance(exc, FailedAfterSend):
        # What failed after the send decides: the store (503, 500 damaged) or the chain read (502).
        cause = exc.__cause__
        return error_status(cause) if isinstance(cause, SsoSignerError) else HTTPStatus.INTERNAL_SERVER_ERROR
    if isinstance(exc, SessionRefused) and exc.rule in SESSION_FALLBACK:
        return HTTPStatus.CONFLICT  # used up, expired or revoked: the passkey may still approve it
    if isinstance(exc, SessionNotFound):
        return HTTPStatus.NOT_FOUND
    if isinstance(exc, NoPendingTransaction) and exc.reason == "unknown":
        return HTTPStatus.NOT_FOUND
    if isinstance(exc, NotFound) and exc.rule is ErrorCode.CREDENTIAL_NOT_FOUND:
        return HTTPStatus.NOT_FOUND
    for kind, status in table:
        if isinstance(exc, kind):
            return status
    return HTTPStatus.BAD_REQUEST


def _error_response(exc: SsoSignerError) -> JSONResponse:
    status = error_status(exc)
    message = str(exc)
    headers = dict(_SECURITY_HEADERS)
    if isinstance(exc, FailedAfterSend):
        # Its message names only what was sent; the cause's text is the server's, for the log.
        log.warning("after a send: %s: %r", type(exc.__cause__).__name__, str(exc.__cause__))
    elif status in (HTTPStatus.INTERNAL_SERVER_ERROR, HTTPStatus.SERVICE_UNAVAILABLE):
        # The server's own failure: its text (database messages, paths, settings) is for the log only.
        log.warning("%s: %r", type(exc).__name__, message)  # %r: one line, whatever it holds
        message = "the service cannot answer now; retry later"
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            headers["retry-after"] = "5"
    body: dict[str, Any] = {"error": type(exc).__name__, "rule": str(exc.rule), "message": message}
    if isinstance(exc, InvalidRequest) and exc.field is not None:
        body["field"] = exc.field
    if isinstance(exc, AfterSendError):
        # It left: the client learns so, with what finds it on chain (and must not approve it again).
        body["sent"] = True
        for key, value in (
            ("transactionHash", exc.tx_hash),
            ("userOpHash", exc.user_op_hash),
            ("rawTransaction", exc.raw_transaction),
        ):
            body[key] = None if value is None else hex_encode(value)
    if isinstance(exc, FailedAfterSend):
        body["opId"] = exc.op_id
        body["status"] = exc.status
    if isinstance(exc, SessionRefused):
        body["verdict"] = exc.verdict
        body["fallback"] = exc.rule in SESSION_FALLBACK  # the page then offers the passkey path
    if isinstance(exc, RateLimited):
        headers["retry-after"] = str(max(1, round(exc.retry_after)))
    return JSONResponse(body, status_code=status, headers=headers)


def json_depth(raw: bytes) -> int:
    """The deepest bracket nesting of a JSON text, found without parsing it (strings are skipped).

    Parsing first is what must not happen: a deep enough document overflows the C parser's stack. One pass
    over the tokens, linear in the size (a regex matching whole strings backtracks quadratically on a body of
    escaped quotes).
    """
    depth = deepest = 0
    in_string = False
    for match in _DEPTH_TOKEN.finditer(raw):
        token = match.group()
        if token[0] == 0x5C:  # a backslash escape: never a quote or bracket of the structure
            continue
        if token == b'"':
            in_string = not in_string
        elif in_string:
            continue
        elif token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


class RequestGuard:
    """ASGI middleware: origin and content-type checks, a bounded and timed body read, one log line.

    Args:
        app: The wrapped application.
        origins: The origins a state-changing request may come from (the relying party's).
        limits: Body size, JSON depth and time limits.
    """

    def __init__(self, app: ASGIApp, *, origins: tuple[str, ...], limits: WebLimits) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]
        state = scope.setdefault("state", {})

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            error = None
            if scope["method"] not in _SAFE_METHODS:
                try:
                    body = await self._read_body(scope, receive)
                except SsoSignerError as exc:
                    error = exc
                else:
                    receive = _replay(body, receive)
            if error is None:
                await self.app(scope, receive, logged_send)
            else:
                await _error_response(error)(scope, receive, logged_send)
        finally:
            # One line per request: no bodies, cookies or names (the user appears as a hash). The path is
            # the client's (percent-decoded): escaped and cut, so it cannot forge or flood log lines.
            log.info(
                "%s %s %d %.0fms user=%s",
                scope["method"],
                repr(scope["path"][:200])[1:-1],
                status[0],
                (time.perf_counter() - started) * 1000,
                state.get("user_tag", "-"),
            )

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            name = key.decode("latin-1").lower()
            if name in _SINGLE_HEADERS and name in headers:
                # Two copies: whichever one this check read, a later reader may take the other.
                raise _SINGLE_HEADERS[name](f"the {name} header is repeated")
            headers[name] = value.decode("latin-1")
        origin = headers.get("origin")
        if origin not in self.origins:
            # Browsers send Origin on every cross-site and every same-origin POST: missing means not a
            # browser page of ours (or a very old browser); foreign means another site.
            raise CrossSiteRequest(f"requests must come from {sorted(self.origins)}, not {origin!r}")
        if not _JSON_TYPE.match(headers.get("content-type", "")):
            raise UnsupportedContentType("request bodies must be application/json")
        declared = headers.get("content-length")
        if declared is not None and int(declared) > self.limits.max_body:  # the server checked it is digits
            raise BodyTooLarge(f"the body exceeds {self.limits.max_body} bytes")
        try:
            return await asyncio.wait_for(self._collect(receive), self.limits.body_timeout)
        except TimeoutError:
            raise BodyTimeout(f"the body did not arrive within {self.limits.body_timeout:.0f} s") from None

    async def _collect(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BodyTimeout("the client went away before sending its body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body:
                raise BodyTooLarge(f"the body exceeds {self.limits.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# --- request bodies ---


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SignupOptions(_Body):
    """``POST /api/register/options``: the user name to sign up."""

    user: StrictStr = Field(pattern=USER_NAME.pattern)


class LoginOptions(_Body):
    """``POST /api/login/options``: optionally the user name typed (checked after the assertion)."""

    user: StrictStr | None = Field(default=None, pattern=USER_NAME.pattern)


class CredentialAnswer(_Body):
    """A ceremony's answer: the browser's PublicKeyCredential JSON."""

    credential: dict[str, Any]


class TxOptions(_Body):
    """``POST /api/tx/options``: a transfer, the amount in ETH as a decimal string."""

    to: StrictStr = Field(pattern=_ADDRESS)
    value: StrictStr = Field(max_length=64)


class TxSubmit(_Body):
    """``POST /api/tx/submit``: the operation id and the passkey's assertion over its hash."""

    opId: StrictStr = Field(min_length=1, max_length=64)  # noqa: N815 - the page's JSON name
    credential: dict[str, Any]


class SessionCreate(_Body):
    """``POST /api/sessions/options``: a capped recurring transfer (amounts in ETH, decimal strings)."""

    recipient: StrictStr = Field(pattern=_ADDRESS)
    perUseEth: StrictStr = Field(max_length=64)  # noqa: N815 - the page's JSON name
    dailyEth: StrictStr = Field(max_length=64)  # noqa: N815 - the page's JSON name
    hours: StrictInt = Field(ge=1, le=10_000)


class SessionUse(_Body):
    """``POST /api/sessions/use``: pay ``value`` ETH to the session's recipient with the session key."""

    sessionId: StrictStr = Field(min_length=1, max_length=64)  # noqa: N815 - the page's JSON name
    value: StrictStr = Field(max_length=64)


class SessionRef(_Body):
    """``POST /api/sessions/revoke``: the session to revoke."""

    sessionId: StrictStr = Field(min_length=1, max_length=64)  # noqa: N815 - the page's JSON name


class Empty(_Body):
    """An endpoint that takes nothing (``{}``)."""


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _MAX_INT_DIGITS:
        raise InvalidRequest(f"a number in the body has {digits} digits; the limit is {_MAX_INT_DIGITS}")
    return int(text)


def _not_json(name: str) -> Any:
    raise InvalidRequest(f"the body is not JSON ({name})")


async def _parse(request: Request, model: type[ModelT], limits: WebLimits) -> ModelT:
    raw = await request.body()
    if json_depth(raw) > limits.max_depth:
        raise InvalidRequest(f"the JSON body nests deeper than {limits.max_depth} levels")
    # Plain json.loads raised a bare ValueError on a 5000-digit number (a 500), took NaN/Infinity, and
    # guessed UTF-16/32 from the bytes: UTF-8 only, and hooks that refuse the rest with a 400.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text or "{}", parse_int=_bounded_int, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidRequest(f"{where}: {first['msg']}", field=where) from None


def create_app(
    backend: DappBackend,
    *,
    store: str,
    node_url: str | None = None,
    origins: tuple[str, ...],
    session_secret: str,
    limits: WebLimits | None = None,
    worker_header: bool = False,
) -> FastAPI:
    """Build the example's FastAPI application.

    The WebAuthn ceremonies and the example's tables run on :class:`AsyncDappBackend`, the async twin of
    ``backend`` on an async store of ``store`` opened in the server's lifespan (an async PostgreSQL pool
    belongs to the event loop that opened it), and the gateway's chain steps on its async clients opened
    there too: all awaited on the event loop (the Era gateway's blocking steps aside). The session-key
    endpoints' flows (``_sessions.py``) run on it as well.

    Args:
        backend: The sync backend: the async twin's settings and chain (its store creates the tables).
        store: The URL of ``backend``'s database (a file or PostgreSQL: an in-memory SQLite database is
            private to one connection).
        node_url: The gateway's node: the account view reads balances with an async client of it (else
            through the gateway, in the thread pool).
        origins: Web origins the page is served from (the relying party's origins): state-changing requests
            must name one of them in ``Origin``.
        session_secret: Key signing the session cookie (from the environment, or random per start).
        limits: HTTP bounds; defaults if None.
        worker_header: Add ``X-Example-Worker: <pid>`` to every response and close the connection after
            it, so a test sees which worker process answered and can send the next request to another one
            (off by default: it tells clients nothing they need, and costs a connection per request).

    Returns:
        The application (serve it with uvicorn, see :class:`~examples.dapp_backend.ExampleServer`).
    """
    limits = limits or WebLimits()
    # One async backend per event loop serving the app: the same app may run in two servers of one process
    # (tests serve it on a second origin), and each backend's clients and pool belong to its own loop.
    live: dict[asyncio.AbstractEventLoop, AsyncDappBackend] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        opened = await open_async_store(store)
        eth = None if node_url is None else AsyncEthClient(node_url)
        try:
            async with backend.chain.async_clients() as clients:
                live[asyncio.get_running_loop()] = AsyncDappBackend.beside(
                    backend, opened, eth=eth, clients=clients
                )
                yield
        finally:
            live.pop(asyncio.get_running_loop(), None)
            if eth is not None:
                await eth.aclose()
            await opened.close()

    app = FastAPI(
        title="sso-signer example dapp", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    served = [0]

    @app.exception_handler(SsoSignerError)
    async def sdk_error(request: Request, exc: SsoSignerError) -> Response:
        # %r: the message may quote the client (a body key, a header), whose newlines must not start a line.
        log.debug("%s -> %s: %r", request.url.path, type(exc).__name__, str(exc))
        return _error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        name = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HttpError")
        return JSONResponse(
            {"error": name, "message": f"{request.method} {request.url.path}: {exc.detail}"},
            status_code=exc.status_code,
            headers=dict(_SECURITY_HEADERS),
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("%r failed", request.url.path)
        # No message: an unexpected error's text may carry internals.
        return JSONResponse(
            {"error": "InternalError", "message": "internal error"},
            status_code=500,
            headers=dict(_SECURITY_HEADERS),
        )

    def client(request: Request) -> str:
        # The socket's peer (the backend groups IPv6 peers by /64). Behind a reverse proxy, enable uvicorn's
        # proxy_headers for that proxy only: a client-sent X-Forwarded-For is never read.
        return request.client.host if request.client else "unknown"

    def session_id(request: Request) -> str:
        sid = request.session.get("sid")
        if not isinstance(sid, str):
            sid = secrets.token_urlsafe(24)
            request.session["sid"] = sid
        return sid

    async def signed_in(request: Request, *, read: bool = False) -> str:
        sid = request.session.get("sid")
        name = None
        if isinstance(sid, str):
            name = await aio().session_user(sid)
        if read:
            # A read costs chain calls: charged before the 401, so guessing cookies is limited too.
            await aio().charge_read(name, client=client(request))
        if name is None:
            raise NotSignedIn("sign in first")
        request.state.user_tag = user_tag(name)
        return name

    async def start_session(request: Request, name: str) -> None:
        # A new id at every sign-in: a session id planted or seen before the login is worth nothing after.
        old = request.session.get("sid")
        if isinstance(old, str):
            await aio().close_session(old)
        request.session.clear()
        sid = secrets.token_urlsafe(24)
        await aio().open_session(sid, name)
        request.session["sid"] = sid
        request.state.user_tag = user_tag(name)

    def aio() -> AsyncDappBackend:
        # Served requests come after the lifespan's startup, which opened the store.
        return live[asyncio.get_running_loop()]

    async def step() -> AsyncDappBackend:
        served[0] += 1
        if served[0] % limits.purge_every == 0:
            await aio().purge()
        return aio()

    @app.get("/")
    @app.get("/index.html")
    @app.get("/app.js")
    async def static(request: Request) -> Response:
        name, content_type = _STATIC_FILES[request.url.path]
        return Response((STATIC_DIR / name).read_bytes(), media_type=content_type, headers=_SECURITY_HEADERS)

    @app.get("/api/session")
    async def session(request: Request) -> Response:
        name = await signed_in(request, read=True)
        return _ok(await (await step()).account_view(name))

    @app.post("/api/register/options")
    async def register_options(request: Request) -> Response:
        body = await _parse(request, SignupOptions, limits)
        return _ok(
            await (await step()).signup_options(session_id(request), body.user, client=client(request))
        )

    @app.post("/api/register/verify")
    async def register_verify(request: Request) -> Response:
        body = await _parse(request, CredentialAnswer, limits)
        user = await (await step()).signup(session_id(request), body.credential, client=client(request))
        await start_session(request, user.name)
        view = await aio().account_view(user.name)
        view["credentialId"] = view["passkeys"][0]["id"]
        view["message"] = f"Signed up: account {user.account} is controlled by your passkey."
        return _ok(view)

    @app.post("/api/login/options")
    async def login_options(request: Request) -> Response:
        body = await _parse(request, LoginOptions, limits)
        options, challenge = await (await step()).login_options(client=client(request))
        # The challenge is this browser's: an assertion made for another session's challenge is refused.
        request.session["login"] = b64url_encode(challenge)
        request.session["login_user"] = body.user
        return _ok(options)

    @app.post("/api/login/verify")
    async def login_verify(request: Request) -> Response:
        body = await _parse(request, CredentialAnswer, limits)
        challenge = request.session.pop("login", None)
        expected = request.session.pop("login_user", None)
        if not isinstance(challenge, str):
            raise NotSignedIn("ask for sign-in options first")
        user = await (await step()).login(
            body.credential, challenge=b64url_decode(challenge), expected_user=expected
        )
        await start_session(request, user.name)
        view = await aio().account_view(user.name)
        view["message"] = f"Signed in as {user.name}."
        return _ok(view)

    @app.post("/api/logout")
    async def logout(request: Request) -> Response:
        await _parse(request, Empty, limits)
        sid = request.session.get("sid")
        if isinstance(sid, str):
            await aio().close_session(sid)
        request.session.clear()
        return _ok({"message": "Signed out."})

    @app.post("/api/tx/options")
    async def tx_options(request: Request) -> Response:
        name = await signed_in(request)
        body = await _parse(request, TxOptions, limits)
        return _ok(await (await step()).tx_options(name, to=body.to, value=wei_from_eth(body.value)))

    @app.post("/api/tx/submit")
    async def tx_submit(request: Request) -> Response:
        name = await signed_in(request)
        body = await _parse(request, TxSubmit, limits)
        return _ok(await (await step()).tx_submit(name, body.opId, body.credential))

    @app.post("/api/keys/options")
    async def key_options(request: Request) -> Response:
        name = await signed_in(request)
        await _parse(request, Empty, limits)
        return _ok(await (await step()).key_options(session_id(request), name, client=client(request)))

    @app.post("/api/keys/link")
    async def key_link(request: Request) -> Response:
        name = await signed_in(request)
        body = await _parse(request, CredentialAnswer, limits)
        return _ok(await (await step()).key_link(session_id(request), name, body.credential))

    # Session keys (ERC-4337 with a bundler): the backend's key pays within limits the passkey approved.
    # The keys live sealed in the shared store, under a key derived from the secret every worker shares.
    sessions = SessionService(backend.store.sql, SessionKeyVault(session_secret))

    @app.get("/api/sessions")
    async def session_list(request: Request) -> Response:
        name = await signed_in(request, read=True)
        b = await step()
        return _ok(await b.run(sessions.sessions(b, name)))

    @app.post("/api/sessions/options")
    async def session_options(request: Request) -> Response:
        name = await signed_in(request)
        body = await _parse(request, SessionCreate, limits)
        per_use = wei_from_eth(body.perUseEth, field="perUseEth")
        daily = wei_from_eth(body.dailyEth, field="dailyEth")
        b = await step()
        return _ok(
            await b.run(
                sessions.create_options(
                    b, name, recipient=body.recipient, per_use=per_use, daily=daily, hours=body.hours
                )
            )
        )

    @app.post("/api/sessions/use")
    async def session_use(request: Request) -> Response:
        name = await signed_in(request)
        body = await _parse(request, SessionUse, limits)
        value = wei_from_eth(body.value)
        b = await step()
        return _ok(await b.run(sessions.use(b, name, body.sessionId, value=value)))

    @app.post("/api/sessions/revoke")
    async def session_revoke(request: Request) -> Response:
        name = await signed_in(request)
        body = await _parse(request, SessionRef, limits)
        b = await step()
        return _ok(await b.run(sessions.revoke_options(b, name, body.sessionId)))

    secure = any(urlsplit(o).hostname not in ("localhost", "127.0.0.1") for o in origins)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret,
        session_cookie="sso_example_session",
        max_age=int(backend.limits.session_ttl),
        same_site="strict",
        https_only=secure,
    )
    app.add_middleware(RequestGuard, origins=origins, limits=limits)
    if worker_header:
        worker = str(os.getpid())

        @app.middleware("http")
        async def which_worker(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            response = await call_next(request)
            response.headers["X-Example-Worker"] = worker
            # Each request on a new connection: a test can then pin the next request to another worker.
            response.headers["Connection"] = "close"
            return response

    return app


def _ok(payload: Any) -> Response:
    return JSONResponse(payload, headers=_SECURITY_HEADERS)
