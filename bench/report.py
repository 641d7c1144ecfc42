"""Turn the benchmark's results (bench/results.json) into bench/RESULTS.md.

    python bench/report.py bench/results.json > bench/RESULTS.md

bench/run.py calls `render_markdown()` itself; this module is also a script so the tables can be
redrawn from a saved JSON file without measuring again.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median_range  # noqa: E402

# The targets of the performance issue (13; issue 5 had asked 0.9× of the floor).
RATIO_TARGET = 0.8
P99_TARGET_MS = 30
SAFE_MODE_SLOWDOWN = 0.10
MATCH_TARGET_US = 50
REBUILD_TARGET_S = 2
ADMIN_TARGET_MS = 300

ENGINE_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _targets_by_key(results: dict) -> dict:
    return {t["key"]: t for t in results.get("http", {}).get("targets", [])}


def _rps(target: dict | None) -> float | None:
    return target["summary"]["rps"]["median"] if target else None


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "—"
    return f"{numerator / denominator:.2f}×"


# The group-commit targets, shown against the one-INSERT floor too (bench/floor/group_commit.py).
_THREADED_FLOORS = {
    f"{kind}-{engine}"
    for kind in ("floor-insert-threaded", "floor-group-commit")
    for engine in ("sqlite", "postgresql")
}


def _floor_insert_for(target: dict, by_key: dict) -> dict | None:
    return by_key.get(f"floor-insert-{target['engine']}") if target["engine"] else None


def http_table(results: dict) -> list[str]:
    http = results["http"]
    by_key = _targets_by_key(results)
    floor = by_key.get("floor")
    lines = [
        "| target | req/s | p50 ms | p99 ms | × floor + INSERT (same DB) | × bare floor "
        "| errors | rows stored / answered | other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target in http["targets"]:
        summary = target["summary"]
        floor_insert = _floor_insert_for(target, by_key)
        same_db = (
            _ratio(_rps(target), _rps(floor_insert))
            if floor_insert and (target["group"] == "wxsite" or target["key"] in _THREADED_FLOORS)
            else "—"
        )
        rows = f"{summary['rows']:,} / {summary['requests']:,}" if target["engine"] else "—"
        foreign = [r.get("foreign_cpu") or 0 for r in target["rounds"]]
        lines.append(
            f"| {target['label']} | {median_range(summary['rps'])} "
            f"| {median_range(summary['p50_ms'], '{:.1f}')} "
            f"| {median_range(summary['p99_ms'], '{:.1f}')} | {same_db} "
            f"| {_ratio(_rps(target), _rps(floor)) if target['key'] != 'floor' else '1.00×'} "
            f"| {summary['errors']} | {rows} | {max(foreign, default=0):.0%} |"
        )
    return lines


def steps_table(results: dict) -> list[str]:
    lines = ["| step | mode | µs per message |", "|---|---|---:|"]
    for row in results["inprocess"]["steps"]:
        lines.append(f"| {row['step']} | {row['mode']} | {row['us']:.1f} |")
    return lines


def matching_table(results: dict) -> list[str]:
    lines = [
        "| keywords | rules | regexes | index build s | find µs median | find µs p99 | hit rate |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["inprocess"]["matching"]:
        lines.append(
            f"| {row['keywords']:,} | {row['rules']:,} | {row['regexes']} | {row['build_s']:.3f} "
            f"| {row['find_us_median']:.1f} | {row['find_us_p99']:.1f} | {row['hit_rate']:.0%} |"
        )
    return lines


def rebuild_table(results: dict) -> list[str]:
    lines = [
        "| database | rules | keywords | read rules from the DB s "
        "| read + build (a worker's rebuild) s |",
        "|---|---:|---:|---:|---:|",
    ]
    for engine, data in results["rebuild"].items():
        rebuild = data["rebuild"]
        lines.append(
            f"| {ENGINE_LABELS.get(engine, engine)} | {rebuild['rules']:,} "
            f"| {rebuild['keywords']:,} | {rebuild['load_from_db_s']:.2f} "
            f"| {rebuild['rebuild_s']:.2f} |"
        )
    return lines


def admin_table(results: dict) -> list[str]:
    engines = list(results["admin"])
    header = " | ".join(f"{ENGINE_LABELS.get(e, e)} ms (min–max)" for e in engines)
    lines = [
        f"| page | {header} | queries | slowest query ms |",
        "|---|" + "---:|" * (len(engines) + 2),
    ]
    pages = [page["page"] for page in results["admin"][engines[0]]["pages"]]
    for number, name in enumerate(pages):
        cells, queries, slowest = [], [], []
        for engine in engines:
            page = results["admin"][engine]["pages"][number]
            cells.append(f"{page['ms']:,.0f} ({page['ms_min']:,.0f}–{page['ms_max']:,.0f})")
            queries.append(str(page["queries"]))
            slowest.append(f"{page['slowest_sql_ms']:,.0f}")
        lines.append(
            f"| {name} | {' | '.join(cells)} | {' / '.join(queries)} | {' / '.join(slowest)} |"
        )
    return lines


def slow_plans(results: dict) -> list[str]:
    lines = []
    for engine, data in results.get("admin", {}).items():
        for page in data["pages"]:
            if page["ms"] <= ADMIN_TARGET_MS or not page.get("explain"):
                continue
            lines += [
                f"<details><summary>{ENGINE_LABELS.get(engine, engine)}, {page['page']}: "
                f"{page['ms']:,.0f} ms — EXPLAIN ANALYZE of its slowest query</summary>",
                "",
                "```sql",
                page["slowest_sql"][:2000],
                "```",
                "```",
                page["explain"][:4000],
                "```",
                "</details>",
                "",
            ]
    return lines


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def goals_table(results: dict) -> list[str]:
    """Return the issue's targets, each with the measured figure and whether it was met."""
    rows = []
    by_key = _targets_by_key(results)
    for engine in ("sqlite", "postgresql"):
        floor_insert = by_key.get(f"floor-insert-{engine}")
        plain = by_key.get(f"wxsite-plain-small-{engine}")
        aes = by_key.get(f"wxsite-aes-small-{engine}")
        label = ENGINE_LABELS[engine]
        if plain and floor_insert:
            ratio = _rps(plain) / _rps(floor_insert)
            rows.append(
                (
                    f"full path ≥ {RATIO_TARGET}× floor + INSERT ({label})",
                    f"{ratio:.2f}×",
                    ratio >= RATIO_TARGET,
                )
            )
        if plain:
            p99 = plain["summary"]["p99_ms"]["median"]
            rows.append(
                (
                    f"p99 < {P99_TARGET_MS} ms at 32 connections ({label})",
                    f"{p99:.1f} ms",
                    p99 < P99_TARGET_MS,
                )
            )
        if plain and aes:
            slowdown = 1 - _rps(aes) / _rps(plain)
            rows.append(
                (
                    f"safe mode ≤ {SAFE_MODE_SLOWDOWN:.0%} slower than plaintext ({label})",
                    f"{slowdown:+.1%}",
                    slowdown <= SAFE_MODE_SLOWDOWN,
                )
            )
    matching = results.get("inprocess", {}).get("matching", [])
    biggest = max(matching, key=lambda row: row["keywords"], default=None)
    if biggest:
        rows.append(
            (
                f"match ≤ {MATCH_TARGET_US} µs at {biggest['keywords']:,} keywords",
                f"{biggest['find_us_median']:.1f} µs median, {biggest['find_us_p99']:.1f} p99",
                biggest["find_us_p99"] <= MATCH_TARGET_US,
            )
        )
        rows.append(
            (
                f"index build ≤ {REBUILD_TARGET_S} s at {biggest['keywords']:,} keywords",
                f"{biggest['build_s']:.2f} s",
                biggest["build_s"] <= REBUILD_TARGET_S,
            )
        )
    for engine, data in results.get("rebuild", {}).items():
        seconds = data["rebuild"]["rebuild_s"]
        rows.append(
            (
                f"rebuild from the database ≤ {REBUILD_TARGET_S} s "
                f"({ENGINE_LABELS.get(engine, engine)}, {data['rebuild']['keywords']:,} keywords)",
                f"{seconds:.2f} s",
                seconds <= REBUILD_TARGET_S,
            )
        )
    for engine, data in results.get("admin", {}).items():
        worst = max(data["pages"], key=lambda page: page["ms"])
        rows.append(
            (
                f"admin pages ≤ {ADMIN_TARGET_MS} ms at {results['admin_rows']:,} rows "
                f"({ENGINE_LABELS.get(engine, engine)})",
                f"slowest: {worst['page']} {worst['ms']:,.0f} ms",
                worst["ms"] <= ADMIN_TARGET_MS,
            )
        )
    lines = ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {goal} | {measured} | {_verdict(ok)} |" for goal, measured, ok in rows]
    return lines


def render_markdown(results: dict) -> str:
    machine = results["machine"]
    out = [
        "# wxsite benchmark results",
        "",
        f"Made by `.venv/bin/python {results['command']}` on {machine['date']}"
        + (
            " — **quick smoke run: short rounds, few targets, not for comparison**."
            if results.get("quick")
            else "."
        ),
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory']} RAM, "
        f"{machine['os']}. Python {machine['python']}, Django {machine['django']}, "
        f"lxml {machine['lxml']}, gunicorn {machine['gunicorn']}, "
        f"PostgreSQL {machine['postgresql'] or 'not reachable'}, SQLite {machine['sqlite']}, "
        f"wrk {machine['wrk'] or 'not installed'}.",
        "",
    ]
    if results.get("not_run"):
        out += ["Not measured in this run:", ""]
        out += [f"- {item}" for item in results["not_run"]]
        out.append("")
    out += ["## Targets of the performance issue", ""] + goals_table(results) + [""]
    if "http" in results:
        http = results["http"]
        out += [
            "## HTTP: requests per second and latency",
            "",
            f"Every target under the same gunicorn (bench/gunicorn_conf.py): {http['workers']} "
            f"sync workers (2 × cores + 1), no access log; load by "
            f"{'wrk' if http['loadgen'] == 'wrk' else 'the Python load generator'} with "
            f"{http['connections']} connections, {http['rounds']} interleaved rounds of "
            f"{http['duration_s']:g} s per target (after {http['warmup_s']:g} s warm-ups, repeated "
            "until the rate is steady: a wxsite worker builds its rule index on its first "
            "message), "
            "each request a distinct signed text message signed right before its round "
            "(WECHAT_TIMESTAMP_WINDOW stays 300 s). Medians over the rounds, min–max in "
            'brackets. "other load": the largest share of the CPU that processes outside the '
            'benchmark took during a round (the machine may be shared); "rows stored": rows '
            "in the table after each round, summed (requests still in flight when wrk stops "
            "are stored but not counted as answered).",
            "",
        ]
        out += http_table(results) + [""]
        codes = {r.get("code") for t in http["targets"] for r in t["rounds"]} - {None}
        if len(codes) > 1:
            out += [
                f"**The code changed during this run** ({len(codes)} versions of wxsite/, "
                "replies/ and gunicorn.conf.py across the rounds; see `code` in results.json): "
                "the rounds of one target may not be comparable.",
                "",
            ]
        for key, errors in http.get("failed", {}).items():
            out += [f"**{key} failed** in {len(errors)} round(s): `{errors[0][:300]}`", ""]
    if "inprocess" in results:
        samples = results["inprocess"]["samples"]
        out += [
            "## In process: the protocol steps (no HTTP, no database)",
            "",
            f"Mean per message over {samples['messages']:,} distinct signed text messages, "
            f"best of {samples['passes']} passes (bench/inprocess.py).",
            "",
        ]
        out += steps_table(results) + [""]
        out += [
            "## In process: rule matching (bench/match_bench.py)",
            "",
            "`RuleIndex.find()` over about 1,000 realistic texts (hits and misses), and "
            "`RuleIndex.build()` at each size.",
            "",
        ]
        out += matching_table(results) + [""]
    if "rebuild" in results:
        out += [
            "## A worker's rebuild after a rule edit, from the database",
            "",
            "`replies.rules.ruleset.get_rule_index()` after the version moved: read every rule, "
            "trigger and reply with the ORM, then build the index (median of 3).",
            "",
        ]
        out += rebuild_table(results) + [""]
    if "admin" in results:
        out += [
            f"## Admin: the message log at {results['admin_rows']:,} rows",
            "",
            "Logged-in superuser, Django's test client in process (the whole middleware and "
            "template stack, no HTTP server); median of 5 loads after one warm load.",
            "",
        ]
        out += admin_table(results) + [""]
        out += slow_plans(results)
    out.append(f"Whole run: {results.get('elapsed_s', 0):,.0f} s.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results.json"
    print(render_markdown(json.loads(path.read_text(encoding="utf-8"))), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
