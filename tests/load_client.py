"""A small concurrent HTTP load generator for the live-server tests.

HTTP with the standard library only (http.client and threads); the WeChat side of each request
(signature, encryption, reading an encrypted answer) comes from replies.protocol.client.

`send()` makes one request on a fresh connection (gunicorn's sync workers close every
connection anyway) and returns a `Result` with the wall-clock times it started and finished, so a
test can compare them with when something else happened (a rule edit committed, the database
went away). `at_once()` fires many requests released together by a barrier; `sustain()` keeps
a number of threads sending for a while; `summarize()` gives the latency percentiles.
"""

from __future__ import annotations

import http.client
import itertools
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode


@dataclass
class Result:
    status: int  # 0 when no HTTP answer came back (connection refused, reset, timed out)
    body: bytes
    started: float  # time.time() just before connecting
    finished: float
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    tag: Any = None  # whatever the caller attached (the message sent, …)

    @property
    def elapsed(self) -> float:
        return self.finished - self.started


def send(
    address: tuple[str, int],
    *,
    method: str = "POST",
    path: str = "/wechat/",
    query: dict[str, str] | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    tag: Any = None,
) -> Result:
    """Send one request and return what came back (never raises for network errors)."""
    target = f"{path}?{urlencode(query)}" if query else path
    all_headers = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}
    all_headers.update(headers or {})
    started = time.time()
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        connection.request(
            method, target, body=body if method != "GET" else None, headers=all_headers
        )
        response = connection.getresponse()
        data = response.read()
        return Result(
            status=response.status,
            body=data,
            started=started,
            finished=time.time(),
            headers={k.lower(): v for k, v in response.getheaders()},
            tag=tag,
        )
    except (OSError, http.client.HTTPException) as error:
        return Result(
            status=0,
            body=b"",
            started=started,
            finished=time.time(),
            error=f"{type(error).__name__}: {error}",
            tag=tag,
        )
    finally:
        connection.close()


def at_once(count: int, job: Callable[[int], Result], *, timeout: float = 60.0) -> list[Result]:
    """Run `job(i)` for i in range(count) in `count` threads released together by a barrier."""
    barrier = threading.Barrier(count, timeout=timeout)
    results: list[Result | None] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        results[index] = job(index)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"requests still running after {timeout} s")
    return [result for result in results if result is not None]


def sustain(
    *,
    seconds: float,
    concurrency: int,
    job: Callable[[], Result | None],
    grace: float = 30.0,
) -> list[Result]:
    """Call `job()` from `concurrency` threads until `seconds` have passed; collect the results.

    A job returning None is skipped (nothing was sent).
    """
    stop_at = time.monotonic() + seconds
    results: list[Result] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            while time.monotonic() < stop_at:
                result = job()
                if result is not None:
                    with lock:
                        results.append(result)
        except BaseException as error:  # a broken job must fail the test, not vanish
            failures.append(error)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, stop_at - time.monotonic()) + grace)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"load threads still running {grace} s after the end")
    if failures:
        raise failures[0]
    return results


def percentile(values: Iterable[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarize(results: list[Result], seconds: float | None = None) -> dict[str, float]:
    """Return count, rate, p50/p95/p99/max latency (ms) of `results`."""
    times = [r.elapsed for r in results]
    span = seconds or (
        max(r.finished for r in results) - min(r.started for r in results) if results else 0
    )
    return {
        "requests": len(results),
        "per_second": len(results) / span if span else 0.0,
        "p50_ms": percentile(times, 0.50) * 1000,
        "p95_ms": percentile(times, 0.95) * 1000,
        "p99_ms": percentile(times, 0.99) * 1000,
        "max_ms": max(times, default=0.0) * 1000,
    }


def send_partial(
    address: tuple[str, int],
    *,
    path: str,
    declared_length: int,
    body_prefix: bytes,
    timeout: float = 10.0,
) -> tuple[socket.socket, float]:
    """Send request headers declaring `declared_length` bytes and only `body_prefix`; return the
    open socket (the caller reads or stalls) and the time.time() the last byte went out."""
    sock = socket.create_connection(address, timeout=timeout)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
        f"Content-Type: text/xml\r\nContent-Length: {declared_length}\r\n\r\n"
    ).encode()
    sock.sendall(head + body_prefix)
    return sock, time.time()


def read_response(sock: socket.socket, *, timeout: float) -> tuple[int, bytes]:
    """Read a whole HTTP/1.1 response from `sock` (the server closes after it); return
    (status, body), status 0 when the connection closed without one."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except (ConnectionResetError, TimeoutError):
        pass
    raw = b"".join(chunks)
    if not raw.startswith(b"HTTP/"):
        return 0, raw
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# --- WeChat's traffic ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One message as WeChat's servers POST it: signed query and body (a retry reuses both)."""

    seq: int
    kind: str
    mode: str
    query: dict[str, str]
    body: bytes
    xml: bytes  # the plaintext message inside


# (MsgType, fields) for every message type, and (Event, fields) for the events sent in the mix;
# "{n}" is replaced by the message's sequence number so that each one is distinct.
MESSAGE_KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "image": ("image", {"PicUrl": "http://mmbiz.qpic.cn/{n}.jpg", "MediaId": "media-{n}"}),
    "voice": ("voice", {"MediaId": "voice-{n}", "Format": "amr", "Recognition": "你好{n}"}),
    "video": ("video", {"MediaId": "video-{n}", "ThumbMediaId": "thumb-{n}"}),
    "shortvideo": ("shortvideo", {"MediaId": "sv-{n}", "ThumbMediaId": "thumb-{n}"}),
    "location": (
        "location",
        {"Location_X": "23.134", "Location_Y": "113.358", "Scale": 20, "Label": "广州{n}"},
    ),
    "link": ("link", {"Title": "t{n}", "Description": "d", "Url": "https://example.com/{n}"}),
    "miniprogrampage": (
        "miniprogrampage",
        {"AppId": "wxmini", "Title": "p{n}", "PagePath": "pages/{n}", "ThumbUrl": "http://x/"},
    ),
    "unknown-type": ("hologram", {"Payload": "{n}"}),
}
EVENT_KINDS: dict[str, dict[str, Any]] = {
    "subscribe": {"EventKey": "qrscene_{n}", "Ticket": "ticket-{n}"},
    "unsubscribe": {},
    "SCAN": {"EventKey": "{n}", "Ticket": "ticket-{n}"},
    "LOCATION": {"Latitude": "23.137466", "Longitude": "113.352425", "Precision": "119.385"},
    "CLICK": {"EventKey": "MENU_1"},
    "VIEW": {"EventKey": "https://example.com/menu/{n}", "MenuId": "1"},
    "scancode_push": {
        "EventKey": "scan_{n}",
        "ScanCodeInfo": {"ScanType": "qrcode", "ScanResult": "r{n}"},
    },
    "pic_sysphoto": {
        "EventKey": "pic_{n}",
        "SendPicsInfo": {"Count": 1, "PicList": [{"PicMd5Sum": "md5{n}"}]},
    },
    "location_select": {
        "EventKey": "loc_{n}",
        "SendLocationInfo": {"Location_X": "23", "Location_Y": "113", "Scale": "15", "Label": "x"},
    },
    "TEMPLATESENDJOBFINISH": {"MsgID": "{n}", "Status": "success"},
    "some_future_event": {"Whatever": "{n}"},
}


def _fill(value: Any, n: int) -> Any:
    if isinstance(value, str):
        return value.replace("{n}", str(n))
    if isinstance(value, dict):
        return {k: _fill(v, n) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, n) for v in value]
    return value


class Traffic:
    """Build signed deliveries of every message type and event, each one distinct, and open the
    endpoint's answers as WeChat would. Thread-safe."""

    MODES = ("plain", "compat", "aes")

    def __init__(self, credentials, *, account: str, seed: int = 0, first: int = 1):
        self.credentials = credentials
        self.account = account
        self._seq = itertools.count(first)
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._seed = seed
        # MsgIds far from the ones the Django-client tests use.
        self._msg_id_base = 7_100_000_000_000_000_000 + seed * 1_000_000_000

    def _next(self) -> int:
        with self._lock:
            return next(self._seq)

    def choice(self, values):
        with self._lock:
            return self._random.choice(values)

    def random(self) -> float:
        with self._lock:
            return self._random.random()

    def text(self, content: str, *, mode: str | None = None, openid: str | None = None):
        """Return a text message saying `content`."""
        return self.build("text", mode=mode, openid=openid, Content=content)

    def of_kind(self, kind: str, *, mode: str | None = None) -> Delivery:
        """Return a message of `kind`: a MESSAGE_KINDS or EVENT_KINDS key, or "text"."""
        if kind == "text":
            return self.build("text", mode=mode, Content="hello {n}")
        if kind in MESSAGE_KINDS:
            msg_type, fields = MESSAGE_KINDS[kind]
            return self.build(msg_type, mode=mode, kind=kind, **fields)
        return self.build("event", mode=mode, kind=kind, Event=kind, **EVENT_KINDS[kind])

    def random_kind(self) -> str:
        return self.choice(["text", *MESSAGE_KINDS, *EVENT_KINDS])

    def build(
        self,
        msg_type: str,
        *,
        mode: str | None = None,
        kind: str | None = None,
        openid: str | None = None,
        timestamp: int | None = None,
        **fields: Any,
    ) -> Delivery:
        from replies.protocol.client import build_message_xml, sign_request

        n = self._next()
        fields = _fill(fields, n)
        mode = mode or self.choice(self.MODES)
        now = int(time.time()) if timestamp is None else timestamp
        if msg_type != "event":
            fields.setdefault("MsgId", str(self._msg_id_base + n))
        # Events are told apart by follower + second (+ event, key): one follower per event,
        # so that two distinct events are never taken for a retry of each other.
        openid = openid or (
            f"o_evt_{self._seed}_{n}" if msg_type == "event" else f"o_user_{n % 50}"
        )
        xml = build_message_xml(
            msg_type=msg_type, from_user=openid, to_user=self.account, create_time=now, **fields
        )
        query, body = sign_request(
            xml=xml,
            credentials=self.credentials,
            mode=mode,
            timestamp=str(now),
            nonce=str(self._seed * 1_000_000_000 + n),
        )
        return Delivery(
            seq=n,
            kind=kind or msg_type,
            mode=mode,
            query=query,
            body=body,
            xml=xml,
        )

    def open(self, delivery: Delivery, result: Result) -> bytes:
        """Return the plaintext reply XML (or b"success") in the endpoint's answer."""
        from replies.protocol.client import open_reply

        return open_reply(
            body=result.body, credentials=self.credentials, encrypted=delivery.mode != "plain"
        )

    def post(self, address: tuple[str, int], delivery: Delivery, **kwargs) -> Result:
        return send(address, query=delivery.query, body=delivery.body, tag=delivery, **kwargs)
