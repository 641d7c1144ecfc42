"""Time the endpoint's protocol steps and the rule index in process: no HTTP, no database.

Each step of a message's way through wxsite is called directly, on a batch of distinct signed
messages (the same kind the HTTP benchmark sends), and timed per message: verify the signature,
parse the safe-mode envelope, verify msg_signature, decrypt, parse the message, match it against
the small rule set, render the reply, encrypt it; then the composite calls the endpoint makes
(open_request, seal_reply). The rule index is timed by bench/match_bench.py's own `measure()` at
200, 10,000 and 100,000 keywords (find per message, and the build at each size).

    python bench/inprocess.py [--quick] [--json PATH]
"""

import argparse
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import match_bench  # noqa: E402 - the path above makes `bench` importable
from bench.common import ACCOUNT, AES_KEY, APP_ID, TOKEN  # noqa: E402
from bench.rulesets import build_ruleset  # noqa: E402
from replies.protocol import (  # noqa: E402
    Credentials,
    TextReply,
    check_msg_signature,
    check_signature,
    check_timestamp,
    decode_aes_key,
    decrypt_with_keys,
    open_request,
    parse_message,
    parse_xml,
    render_reply,
    seal_reply,
)
from replies.protocol.client import build_message_xml, sign_request  # noqa: E402
from replies.rules.index import Query, RuleIndex  # noqa: E402

CREDENTIALS = Credentials(token=TOKEN, app_id=APP_ID, aes_keys=(decode_aes_key(AES_KEY),))
WINDOW = 300


def make_messages(count: int, *, mode: str, now: int) -> list[tuple[dict, bytes, bytes]]:
    """Return `count` distinct (query, body, message xml) triples signed in `mode`."""
    messages = []
    for number in range(count):
        openid = f"oBench{number % 1000:022d}"
        xml = build_message_xml(
            msg_type="text",
            from_user=openid,
            to_user=ACCOUNT,
            create_time=now,
            Content="营业时间",
            MsgId=24_000_000_000_000_000 + number,
        )
        query, body = sign_request(
            xml=xml,
            credentials=CREDENTIALS,
            mode=mode,
            timestamp=str(now),
            nonce=str(1_000_000_000 + number),
            openid=openid,
        )
        messages.append((query, body, xml))
    return messages


def time_per_call(function, inputs: list, passes: int) -> float:
    """Return the mean µs one call of `function` takes, in the best of `passes` passes.

    The best pass, as timeit does: on a machine shared with other work the slower passes
    measure the other work, not the call.
    """
    function(inputs[0])  # first-call costs (lazy imports, caches) are not per message
    means = []
    for _ in range(passes):
        gc.collect()
        started = time.perf_counter_ns()
        for item in inputs:
            function(item)
        means.append((time.perf_counter_ns() - started) / len(inputs) / 1000)
    return min(means)


def measure_steps(*, count: int, passes: int) -> list[dict]:
    """Return one row per protocol step: its name, mode and µs per message."""
    now = int(time.time())
    plain = make_messages(count, mode="plain", now=now)
    aes = make_messages(count, mode="aes", now=now)
    envelopes = [(query, body, parse_xml(body)["Encrypt"]) for query, body, _ in aes]
    rules, _texts = build_ruleset("small")
    index = RuleIndex.build(rules)
    keyword_query = Query(msg_type="text", text="营业时间")
    match_now = match_bench.NOW
    reply = TextReply("每天 9:00-21:00 营业，欢迎光临。")
    opened_aes = [
        open_request(query=query, body=body, credentials=CREDENTIALS, now=now, window=WINDOW)
        for query, body, _ in aes
    ]
    reply_xml = render_reply(
        reply, to_user="oFollower", from_user=ACCOUNT, create_time=now, in_reply_to="text"
    )

    def verify_plain(item):
        query = item[0]
        check_timestamp(timestamp=query["timestamp"], now=now, window=WINDOW)
        check_signature(
            token=TOKEN,
            signature=query["signature"],
            timestamp=query["timestamp"],
            nonce=query["nonce"],
        )

    def verify_aes(item):
        query, _body, encrypt = item
        check_timestamp(timestamp=query["timestamp"], now=now, window=WINDOW)
        check_msg_signature(
            token=TOKEN,
            msg_signature=query["msg_signature"],
            timestamp=query["timestamp"],
            nonce=query["nonce"],
            encrypt=encrypt,
        )

    def open_plain(item):
        open_request(query=item[0], body=item[1], credentials=CREDENTIALS, now=now, window=WINDOW)

    def seal(opened):
        seal_reply(
            reply_xml=reply_xml,
            opened=opened,
            credentials=CREDENTIALS,
            timestamp=str(now),
            nonce="1234567890",
        )

    steps = [
        ("verify signature", "plain", verify_plain, plain),
        ("parse envelope", "aes", lambda item: parse_xml(item[1]), aes),
        ("verify msg_signature", "aes", verify_aes, envelopes),
        (
            "decrypt",
            "aes",
            lambda item: decrypt_with_keys(
                encrypt=item[2], keys=CREDENTIALS.aes_keys, app_id=APP_ID
            ),
            envelopes,
        ),
        ("parse message", "both", lambda item: parse_message(item[2]), plain),
        (
            "match (small rule set)",
            "both",
            lambda _: index.find(keyword_query, now=match_now),
            plain,
        ),
        (
            "render reply",
            "both",
            lambda item: render_reply(
                reply, to_user="oFollower", from_user=ACCOUNT, create_time=now, in_reply_to="text"
            ),
            plain,
        ),
        ("encrypt reply", "aes", seal, opened_aes),
        ("open_request (verify+parse)", "plain", open_plain, plain),
        (
            "open_request (verify+decrypt+parse)",
            "aes",
            lambda item: open_request(
                query=item[0], body=item[1], credentials=CREDENTIALS, now=now, window=WINDOW
            ),
            aes,
        ),
    ]
    return [
        {"step": name, "mode": mode, "us": round(time_per_call(function, inputs, passes), 2)}
        for name, mode, function, inputs in steps
    ]


def measure_matching(sizes: tuple[int, ...]) -> list[dict]:
    """Return match_bench's numbers at each keyword count."""
    return [match_bench.measure(size) for size in sizes]


def run(*, quick: bool) -> dict:
    """Return every in-process number, fewer samples in quick mode."""
    count, passes = (300, 3) if quick else (2_000, 7)
    return {
        "steps": measure_steps(count=count, passes=passes),
        "matching": measure_matching(match_bench.SIZES),
        "samples": {"messages": count, "passes": passes},
    }


def print_tables(results: dict) -> None:
    print("| step | mode | µs per message |")
    print("|---|---|---:|")
    for row in results["steps"]:
        print(f"| {row['step']} | {row['mode']} | {row['us']:.1f} |")
    print()
    print("| keywords | rules | build s | find µs median | find µs p99 |")
    print("|---:|---:|---:|---:|---:|")
    for row in results["matching"]:
        print(
            f"| {row['keywords']:,} | {row['rules']:,} | {row['build_s']:.3f} "
            f"| {row['find_us_median']:.1f} | {row['find_us_p99']:.1f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke test)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    results = run(quick=args.quick)
    print_tables(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
