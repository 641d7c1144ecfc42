"""A Python load generator, used only when wrk cannot be installed.

It does what bench/wrk_post.lua does — POST each pre-signed request once over a fixed number of
concurrent connections for a fixed time — with asyncio in one process. It costs the machine more
CPU per request than wrk, so its numbers run lower; RESULTS.md says which generator was used.
"""

import asyncio
import statistics
import time


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


async def _connection(host, port, requests, deadline, latencies, errors, position):
    while time.monotonic() < deadline:
        index = position[0]
        position[0] += 1
        path, body = requests[index % len(requests)]
        if index >= len(requests):
            errors["reused"] += 1
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(head + body)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), timeout=5)
            writer.close()
        except (OSError, TimeoutError):
            errors["read_errors"] += 1
            continue
        latencies.append((time.perf_counter() - started) * 1_000_000)
        if not answer.startswith(b"HTTP/1.1 2") and not answer.startswith(b"HTTP/1.0 2"):
            errors["status_errors"] += 1


async def _run(host, port, requests, connections, duration):
    latencies: list[float] = []
    errors = {"read_errors": 0, "status_errors": 0, "reused": 0}
    position = [0]
    started = time.monotonic()
    deadline = started + duration
    await asyncio.gather(
        *(
            _connection(host, port, requests, deadline, latencies, errors, position)
            for _ in range(connections)
        )
    )
    elapsed = time.monotonic() - started
    return latencies, errors, elapsed


def run_load(*, host: str, port: int, lines: list[str], connections: int, duration: float) -> dict:
    """POST `lines` ("path\\tbody") for `duration` seconds; return wrk_post.lua's numbers."""
    requests = [(line.split("\t", 1)[0], line.split("\t", 1)[1].encode()) for line in lines]
    latencies, errors, elapsed = asyncio.run(_run(host, port, requests, connections, duration))
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1_000_000),
        "p50_us": _percentile(latencies, 0.50),
        "p99_us": _percentile(latencies, 0.99),
        "mean_us": statistics.fmean(latencies) if latencies else 0.0,
        "max_us": max(latencies, default=0.0),
        "connect_errors": 0,
        "write_errors": 0,
        "timeouts": 0,
        **errors,
    }
