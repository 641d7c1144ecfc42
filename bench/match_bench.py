"""Measure how fast the reply-rule index builds and answers as the number of keywords grows.

Builds synthetic rule sets of 200, 10,000 and 100,000 keywords (Chinese and Latin keywords, about
50% exact, 35% contains, 10% prefix and 5% regex with at most 300 regexes, plus menu, follow,
message-type and default rules), times `RuleIndex.build()` and `RuleIndex.find()` over a fixed set
of about 1,000 realistic texts (hits and misses), and prints a Markdown table. Everything is
seeded, so two runs on one machine compare. It also times catastrophic-backtracking patterns
(`(a+)+$` against "a"*30 + "b"), alone and inside an index: on RE2 they take microseconds, on a
backtracking engine minutes. No Django needed:

    python bench/match_bench.py [--sizes 200,10000,100000] [--json PATH]
"""

import argparse
import gc
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from replies.rules.index import (  # noqa: E402 - the path above makes `replies` importable
    CLICK,
    CONTAINS,
    DEFAULT,
    EXACT,
    KEYWORD,
    MSG_TYPE,
    PREFIX,
    REGEX,
    SUBSCRIBE,
    Query,
    RuleIndex,
    RuleSpec,
    Schedule,
    Trigger,
    compile_pattern,
)

SEED = 20250314
SIZES = (200, 10_000, 100_000)
MAX_REGEXES = 300
QUERY_COUNT = 1_000
TIMED_PASSES = 3
NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)

# Content characters keywords are made of, and filler that chat messages wrap them in.
HANZI = (
    "订单查询物流快递发货退款换货优惠券会员积分活动报名价格地址电话客服营业时间门店预约课程"
    "老师学校考试成绩报告天气新闻电影音乐游戏手机电脑充值流量套餐账户密码登录注册绑定解绑"
    "发票开具申请审核进度投诉建议合作招聘简历面试工资福利保险医院挂号医生药品健康体检旅游"
    "酒店机票火车汽车停车地图导航美食外卖餐厅菜单咖啡奶茶水果蔬菜超市商品库存尺码颜色款式"
)
FILLER = "的了吗呢吧啊我你他她它们在是有这那么什怎样请问一下可以帮看想要能不好谢"
PUNCTUATION = "，。？！、 "
SYLLABLES = (
    "ba be bi bo bu ka ke ki ko ku ma me mi mo mu na ne ni no nu ra re ri ro ru "
    "sa se si so su ta te ti to tu la le li lo lu va ve vi vo vu za ze zi zo zu"
).split()
LATIN_WORDS = (
    "hello hi help order refund vip coupon price menu shop store news game app ios android "
    "wifi code login account invoice delivery track status contact service booking ticket"
).split()
MSG_TYPES = ("image", "voice", "video", "location", "link")


def make_word(rng: random.Random) -> str:
    """Return a plausible keyword: Chinese, Latin, or a mix such as "vip会员" or "iphone15"."""
    roll = rng.random()
    if roll < 0.6:
        return "".join(rng.choices(HANZI, k=rng.randint(2, 4)))
    if roll < 0.85:
        word = "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))
        return rng.choice([word, word.capitalize(), rng.choice(LATIN_WORDS) + word])
    return rng.choice(LATIN_WORDS) + "".join(rng.choices(HANZI, k=rng.randint(1, 3)))


def make_regex(rng: random.Random, number: int) -> str:
    word, other = make_word(rng), make_word(rng)
    templates = (
        rf"^{word}\d{{4,8}}$",
        rf"({word}|{other}).*\d+",
        rf"{word}[0-9a-z]{{3,}}",
        rf"^(?:{word}|{other})[:：]?\s*\d+",
        rf"{word}.{{0,10}}{other}",
        rf"\b{rng.choice(LATIN_WORDS)}{number}\b",
        rf"1[3-9]\d{{9}}.*{word}",
        rf"(a+)+{word}$",
    )
    return rng.choice(templates)


def make_rules(rng: random.Random, keyword_total: int) -> tuple[list[RuleSpec], dict]:
    """Return rules with `keyword_total` keywords in all, and the keywords grouped by mode."""
    rules: list[RuleSpec] = []
    by_mode: dict[str, list[str]] = {EXACT: [], CONTAINS: [], PREFIX: [], REGEX: []}
    regex_budget = min(MAX_REGEXES, keyword_total // 20)
    made = 0
    while made < keyword_total:
        triggers = []
        for _ in range(min(rng.randint(1, 10), keyword_total - made)):
            roll = rng.random()
            mode = EXACT if roll < 0.5 else CONTAINS if roll < 0.85 else PREFIX
            if roll >= 0.95 and len(by_mode[REGEX]) < regex_budget:
                mode = REGEX
            value = make_regex(rng, made) if mode == REGEX else make_word(rng)
            by_mode[mode].append(value)
            triggers.append(Trigger(kind=KEYWORD, value=value, match=mode))
            made += 1
        rules.append(make_rule(rng, len(rules) + 1, triggers))
    extras = [[Trigger(kind=CLICK, value=f"MENU_{n}")] for n in range(max(3, len(rules) // 100))]
    extras += [[Trigger(kind=SUBSCRIBE, value=str(n))] for n in range(max(2, len(rules) // 200))]
    extras += [[Trigger(kind=SUBSCRIBE)]] + [[Trigger(kind=MSG_TYPE, value=t)] for t in MSG_TYPES]
    extras += [[Trigger(kind=DEFAULT)]]
    for triggers in extras:
        rules.append(make_rule(rng, len(rules) + 1, triggers))
    return rules, by_mode


def make_rule(rng: random.Random, rule_id: int, triggers: list[Trigger]) -> RuleSpec:
    schedule = None
    if rng.random() < 0.1:
        schedule = Schedule(daily_from=wall_time(rng.choice([9, 18])))
    return RuleSpec(
        id=rule_id,
        name=f"rule {rule_id}",
        priority=rng.choice([0, 0, 0, 0, 1, 2, 5]),
        created_at=NOW - timedelta(minutes=rng.randint(0, 10**6)),
        triggers=tuple(triggers),
        schedule=schedule,
        payload={"reply": f"reply {rule_id}"},
    )


def filler(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(FILLER + PUNCTUATION, k=size))


def make_queries(rng: random.Random, by_mode: dict) -> list[Query]:
    """Return about 1,000 texts of 2-60 characters: keyword hits of each mode, and misses."""
    texts = []
    for _ in range(QUERY_COUNT):
        roll = rng.random()
        if roll < 0.3 and by_mode[EXACT]:
            word = rng.choice(by_mode[EXACT])
            texts.append(rng.choice([word, f" {word} ", word.upper()]))
        elif roll < 0.5 and by_mode[CONTAINS]:
            word = rng.choice(by_mode[CONTAINS])
            texts.append(filler(rng, rng.randint(0, 20)) + word + filler(rng, rng.randint(0, 30)))
        elif roll < 0.6 and by_mode[PREFIX]:
            texts.append(rng.choice(by_mode[PREFIX]) + filler(rng, rng.randint(0, 40)))
        elif roll < 0.65:
            texts.append(rng.choice(LATIN_WORDS) + str(rng.randint(0, 400)) + " " + filler(rng, 8))
        elif roll < 0.8:
            texts.append(filler(rng, rng.randint(2, 60)))
        else:
            words = " ".join(rng.choices(LATIN_WORDS + SYLLABLES, k=rng.randint(1, 8)))
            texts.append(words + filler(rng, rng.randint(0, 10)))
    return [Query(msg_type="text", text=text[:60]) for text in texts]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def measure(keyword_total: int) -> dict:
    rng = random.Random(f"{SEED}-{keyword_total}")
    rules, by_mode = make_rules(rng, keyword_total)
    queries = make_queries(rng, by_mode)
    gc.collect()
    started = time.perf_counter()
    index = RuleIndex.build(rules)
    build_seconds = time.perf_counter() - started

    hits = sum(
        1
        for query in queries
        if (match := index.find(query, now=NOW)) and match.trigger.kind != DEFAULT
    )  # also the untimed warm-up pass: RE2 fills its DFA caches lazily
    samples = []
    find = index.find
    clock = time.perf_counter_ns
    for _ in range(TIMED_PASSES):
        for query in queries:
            started_ns = clock()
            find(query, now=NOW)
            samples.append((clock() - started_ns) / 1000)
    return {
        "keywords": index.keyword_count,
        "rules": index.rule_count,
        "regexes": len(by_mode[REGEX]),
        "build_s": round(build_seconds, 3),
        "find_us_median": round(statistics.median(samples), 2),
        "find_us_p99": round(percentile(samples, 0.99), 2),
        "find_us_max": round(max(samples), 2),
        "hit_rate": round(hits / len(queries), 3),
        "queries": len(queries),
    }


# Patterns that backtrack exponentially on Python's re; RE2 must run them in linear time.
CATASTROPHIC = ((r"(a+)+$", "a" * 30 + "b"), (r"(x+x+)+y", "x" * 40))
CATASTROPHIC_BUDGET_S = 0.010  # per search; a backtracking engine would take minutes


def measure_catastrophic() -> list[dict]:
    """Time each catastrophic pattern alone and in an index, best of 5 (seconds)."""

    def best_of(call, passes: int = 5) -> float:
        timings = []
        for _ in range(passes):
            started = time.perf_counter()
            call()
            timings.append(time.perf_counter() - started)
        return min(timings)

    index = RuleIndex.build(
        [
            RuleSpec(
                id=number,
                name=f"catastrophic {number}",
                priority=0,
                created_at=NOW,
                triggers=(Trigger(kind=KEYWORD, value=pattern, match=REGEX),),
                payload={"reply": f"reply {number}"},
            )
            for number, (pattern, _) in enumerate(CATASTROPHIC, start=1)
        ]
    )
    rows = []
    for pattern, subject in CATASTROPHIC:
        compiled = compile_pattern(pattern)
        query = Query(msg_type="text", text=subject)
        rows.append(
            {
                "pattern": pattern,
                "subject_length": len(subject),
                "search_s": best_of(lambda c=compiled, s=subject: c.search(s)),
                "index_find_s": best_of(lambda q=query: index.find(q, now=NOW)),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="keyword totals")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    results = [measure(int(size)) for size in args.sizes.split(",")]
    print("| keywords | rules | regexes | build s | find µs median | find µs p99 | hit rate |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in results:
        print(
            f"| {row['keywords']:,} | {row['rules']:,} | {row['regexes']} | {row['build_s']:.3f} "
            f"| {row['find_us_median']:.1f} | {row['find_us_p99']:.1f} | {row['hit_rate']:.0%} |"
        )
    catastrophic = measure_catastrophic()
    print()
    budget_ms = CATASTROPHIC_BUDGET_S * 1000
    print(f"| catastrophic regex | text length | search ms | find ms | under {budget_ms:.0f} ms |")
    print("|---|---:|---:|---:|:---:|")
    for row in catastrophic:
        worst = max(row["search_s"], row["index_find_s"])
        print(
            f"| `{row['pattern']}` | {row['subject_length']} | {row['search_s'] * 1000:.3f} "
            f"| {row['index_find_s'] * 1000:.3f} "
            f"| {'yes' if worst < CATASTROPHIC_BUDGET_S else 'NO'} |"
        )
    if args.json:
        payload = {
            "python": sys.version.split()[0],
            "seed": SEED,
            "results": results,
            "catastrophic": catastrophic,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
