"""`python -m bench` (`make bench`): the hot paths against the empty-RPC ceiling, in one run.

Starts the empty-RPC ceiling server and the real userservice process (production-like:
PostgreSQL + Redis when they answer, uvloop, one process), warms them, and measures calls/s, p50
and p99 of each path, GetUser's p99 with and without a Login storm, RSS after each 100k calls,
RSS while the caches fill past their bounds (bench/soak.py), and `--workers 2` against 1. Load
comes from h2load when installed, else from bench/loadgen.py.
Prints a table and writes the same as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import argon2
import grpc
from grpc_health.v1 import health_pb2
from prometheus_client.parser import text_string_to_metric_families

from bench.ceiling import EMPTY_METHOD
from bench.environment import backends, ceiling_server, free_port, scratch, userservice
from bench.loadgen import Call, Result, h2load_path, run_load
from bench.soak import measure_soak
from bench.tracing import traced_userservice
from userservice.v1 import auth_pb2, auth_pb2_grpc, user_pb2, user_pb2_grpc

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("throughput", "login", "storm", "rss", "soak", "workers", "tracing")
EMAIL, PASSWORD = "bench@example.com", "benchmark passphrase 42"


def handled_ok(metrics_port: int, method: str, code: str = "OK") -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
    total = 0.0
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "grpc_server_handled_total"
                and labels.get("grpc_method") == method
                and labels.get("grpc_code") == code
            ):
                total += sample.value
    return total


def argon2_hash_seconds() -> float:
    hasher = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
    hasher.hash("warm-up")
    started = time.perf_counter()
    for _ in range(5):
        hasher.hash("a benchmark password")
    return (time.perf_counter() - started) / 5


def prepare(port: int) -> str:
    """A user, logged in, its GetUser cache warm; returns the access token."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        users = user_pb2_grpc.UserServiceStub(channel)
        try:
            users.CreateUser(user_pb2.CreateUserRequest(email=EMAIL, password=PASSWORD), timeout=10)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        pair = auth_pb2_grpc.AuthServiceStub(channel).Login(
            auth_pb2.LoginRequest(email=EMAIL, password=PASSWORD), timeout=10
        )
        metadata = (("authorization", f"Bearer {pair.access_token}"),)
        for _ in range(3):
            users.GetUser(user_pb2.GetUserRequest(id="me"), metadata=metadata, timeout=5)
    return pair.access_token


def merged(results: list[Result]) -> Result:
    """Several runs of one path as one: calls and seconds summed, latencies pooled."""
    return Result(
        calls=sum(r.calls for r in results),
        failed=sum(r.failed for r in results),
        seconds=sum(r.seconds for r in results),
        latencies_ms=[ms for r in results for ms in r.latencies_ms],
    )


def row(
    name: str,
    result: Result,
    ceiling: float | None,
    target: str = "",
    ok: bool | None = None,
    *,
    ratio: float | None = None,
) -> dict[str, Any]:
    if ratio is None and ceiling is not None:
        ratio = result.calls_per_second / ceiling
    return {
        "path": name,
        "calls": result.calls,
        "failed": result.failed,
        "calls_per_second": round(result.calls_per_second, 1),
        "p50_ms": round(result.p50, 3),
        "p99_ms": round(result.p99, 3),
        "ratio_to_ceiling": None if ratio is None else round(ratio, 3),
        "target": target,
        "met": ok,
    }


def print_table(rows: list[dict[str, Any]], notes: list[str]) -> None:
    header = f"{'path':<44} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'× ceiling':>9}  target"
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = "" if r["ratio_to_ceiling"] is None else f"{r['ratio_to_ceiling']:.2f}"
        verdict = {True: "met", False: "MISSED", None: ""}[r["met"]]
        rate, p50, p99 = r["calls_per_second"], r["p50_ms"], r["p99_ms"]
        print(
            f"{r['path']:<44} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f} "
            f"{ratio:>9}  {r['target']} {verdict}".rstrip()
        )
    for note in notes:
        print(note)


Load = Callable[..., Result]  # (call, total, c=, m=) against the userservice under test


def measure_tracing(
    load: Callable[..., Result],
    ceiling_port: int,
    empty: Call,
    get_user: Call,
    ports: dict[str, int],
    rows: list[dict[str, Any]],
    *,
    rounds: int = 3,
    per_round: int = 30_000,
) -> None:
    """Warm GetUser with tracing off and on, each round's ratio against the ceiling just before."""
    for port in ports.values():
        load(port, get_user, max(200, per_round // 5))  # warm: connections, caches
    ceilings: list[Result] = []
    measured: dict[str, list[Result]] = {mode: [] for mode in ports}
    ratios: dict[str, list[float]] = {mode: [] for mode in ports}
    for _ in range(rounds):
        ceilings.append(load(ceiling_port, empty, per_round))
        for mode, port in ports.items():
            result = load(port, get_user, per_round)
            measured[mode].append(result)
            ratios[mode].append(result.calls_per_second / ceilings[-1].calls_per_second)
    ceiling = merged(ceilings)
    rows.append(row("empty RPC (tracing block)", ceiling, ceiling.calls_per_second))
    # On ÷ off within each round: the two were measured back to back, so a shared machine's
    # swings cancel better than in either ratio to the ceiling.
    on_vs_off = [
        on.calls_per_second / off.calls_per_second
        for off, on in zip(measured["off"], measured["on"], strict=True)
    ]
    for mode in ports:
        ratio = statistics.median(ratios[mode])
        rows.append(
            row(
                f"GetUser warm, tracing {mode}",
                merged(measured[mode]),
                ceiling.calls_per_second,
                ratio=ratio,
            )
            | {"ratio_rounds": [round(r, 3) for r in ratios[mode]]}
        )
    rows[-1]["on_vs_off_rounds"] = [round(r, 3) for r in on_vs_off]
    rows[-1]["on_vs_off"] = round(statistics.median(on_vs_off), 3)


def measure_login(
    load: Load,
    metrics_port: int,
    login: Call,
    login_calls: int,
    rows: list[dict[str, Any]],
    notes: list[str],
) -> None:
    hash_seconds = argon2_hash_seconds()
    cores = os.cpu_count() or 1
    login_target = 0.8 * cores / hash_seconds
    before = handled_ok(metrics_port, "Login")
    busy_before = handled_ok(metrics_port, "Login", "RESOURCE_EXHAUSTED")
    sent = load(login, login_calls, c=4, m=4)
    ok = handled_ok(metrics_port, "Login") - before
    busy = handled_ok(metrics_port, "Login", "RESOURCE_EXHAUSTED") - busy_before
    if ok + busy < sent.calls:
        notes.append("! Login: some calls answered neither OK nor RESOURCE_EXHAUSTED")
    if busy:
        notes.append(f"Login: {busy:.0f} of {sent.calls} refused (the hashing queue was full)")
    # Only logins answered OK count: a refusal returns at once and frees its stream.
    result = Result(int(ok), sent.failed, sent.seconds, sent.latencies_ms)
    rows.append(
        row(
            "Login",
            result,
            None,
            f"≥ {login_target:.0f}/s (0.8 × {cores} cores ÷ {hash_seconds * 1000:.1f} ms)",
            result.calls_per_second >= login_target,
        )
    )


def measure_storm(
    load: Load,
    metrics_port: int,
    get_user: Call,
    login: Call,
    login_calls: int,
    probe_calls: int,
    rows: list[dict[str, Any]],
    notes: list[str],
) -> None:
    alone = load(get_user, probe_calls, c=2, m=2)
    rows.append(row("GetUser p99 probe, alone", alone, None))
    ok_before = handled_ok(metrics_port, "Login")
    busy_before = handled_ok(metrics_port, "Login", "RESOURCE_EXHAUSTED")
    # With h2load the storm and the probe inside it last a set time rather than a number of
    # calls: refused logins come back at once (a storm of 400 calls would be over before the
    # probe), and the probe slows down during the storm.
    probe_seconds = max(3.0, alone.seconds)
    storm_seconds = probe_seconds + 2
    storm_result: list[Result] = []
    storm = threading.Thread(
        target=lambda: storm_result.append(
            load(login, login_calls, c=4, m=4, duration=storm_seconds)
        )
    )
    storm.start()
    time.sleep(0.2)  # the storm's connections are up and hashing before the probe starts
    probe_started = time.monotonic()
    during = load(get_user, probe_calls, c=2, m=2, duration=probe_seconds)
    probe_took = time.monotonic() - probe_started
    storm.join()
    if storm_result[0].seconds < 0.2 + probe_took:
        notes.append("! Login storm: ended before the probe did")
    rows.append(
        row(
            "GetUser p99 probe, during a Login storm",
            during,
            None,
            "p99 ≤ 2 × alone",
            during.p99 <= 2 * alone.p99,
        )
    )
    # The storm's own throughput counts only logins answered OK: a refusal (the hashing queue
    # full) comes back at once and h2load sends the next login on that stream straight away.
    storm_calls = storm_result[0]
    ok = handled_ok(metrics_port, "Login") - ok_before
    busy = handled_ok(metrics_port, "Login", "RESOURCE_EXHAUSTED") - busy_before
    answered_ok = Result(int(ok), 0, storm_calls.seconds, storm_calls.latencies_ms)
    rows.append(row("Login OK during the storm (16 streams)", answered_ok, None))
    notes.append(
        f"Login storm: {storm_calls.calls} calls in {storm_calls.seconds:.1f} s, {ok:.0f} OK, "
        f"{busy:.0f} refused (RESOURCE_EXHAUSTED); p99 probe during ÷ alone = "
        f"{during.p99 / alone.p99:.1f}×"
    )


def measure_rss(
    load: Load, rss_kib: Callable[[], int], get_user: Call, rss_step: int, notes: list[str]
) -> None:
    rss = [rss_kib()]
    for _ in range(3):
        load(get_user, rss_step)
        rss.append(rss_kib())
    growth = (rss[3] - rss[2]) / rss[2]
    notes.append(
        f"RSS (KiB) at start and after each {rss_step:,} GetUser calls: "
        f"{', '.join(map(str, rss))}; 2nd→3rd change {growth:+.1%} (target ±10%: "
        f"{'met' if abs(growth) <= 0.10 else 'MISSED'})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000, help="calls per throughput path")
    parser.add_argument("--quick", action="store_true", help="tiny counts (a smoke run)")
    parser.add_argument("--generator", choices=["auto", "h2load", "python"], default="auto")
    parser.add_argument("--embedded", action="store_true", help="SQLite + memory:// only")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default bench/results/)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="the ceiling and each throughput path are measured in this many interleaved rounds",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the userservice under test (repeatable), e.g. for an A/B run",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--trace-ratio",
        type=float,
        default=1.0,
        help="tracing block: the share of calls sampled (default every call)",
    )
    args = parser.parse_args()
    sections = set(args.only.split(","))
    if unknown := sections - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    calls = 300 if args.quick else args.calls
    rss_step = 300 if args.quick else 100_000
    generator = args.generator
    if generator == "auto":
        generator = "h2load" if h2load_path() else "python"
    connections, streams = 16, 8

    def load(
        port: int,
        call: Call,
        total: int,
        c: int = connections,
        m: int = streams,
        duration: float | None = None,
    ) -> Result:
        return run_load(
            f"127.0.0.1:{port}",
            call,
            total=total,
            connections=c,
            streams=m,
            generator=generator,
            duration=duration,
        )

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    server_env = dict(pair.split("=", 1) for pair in args.server_env)
    with scratch() as tmp, backends(Path(tmp), embedded=args.embedded) as chosen:
        workdir = Path(tmp)
        metrics_port = free_port()
        with (
            ceiling_server() as ceiling_process,
            userservice(workdir, chosen.env | server_env, metrics_port=metrics_port) as server,
        ):
            token = prepare(server.port)
            bearer = (("authorization", f"Bearer {token}"),)
            empty = Call(EMPTY_METHOD, b"")
            health = Call(
                "/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest().SerializeToString()
            )
            validate = Call(
                "/userservice.v1.AuthService/ValidateToken",
                auth_pb2.ValidateTokenRequest(access_token=token).SerializeToString(),
                bearer,
            )
            get_user = Call(
                "/userservice.v1.UserService/GetUser",
                user_pb2.GetUserRequest(id="me").SerializeToString(),
                bearer,
            )
            login = Call(
                "/userservice.v1.AuthService/Login",
                auth_pb2.LoginRequest(email=EMAIL, password=PASSWORD).SerializeToString(),
            )
            # Warm-up: connections, code paths, caches.
            for call, port in (
                (empty, ceiling_process.port),
                (health, server.port),
                (validate, server.port),
                (get_user, server.port),
            ):
                load(port, call, max(200, calls // 20))

            # Interleaved rounds: each path's ratio is taken against the ceiling measured just
            # before it, and the median of the rounds is reported, so a machine that slows down
            # or speeds up during the run moves both sides of each ratio alike.
            paths = (
                ("health Check", health, "Check", 0.9),
                ("ValidateToken, warm", validate, "ValidateToken", 0.6),
                ("GetUser, authenticated, warm", get_user, "GetUser", 0.6),
            )
            per_round = max(1, calls // args.rounds)
            ceilings: list[Result] = []
            measured: dict[str, list[Result]] = {name: [] for name, *_ in paths}
            ratios: dict[str, list[float]] = {name: [] for name, *_ in paths}
            for _ in range(args.rounds if "throughput" in sections else 1):
                ceilings.append(load(ceiling_process.port, empty, per_round))
                if "throughput" not in sections:
                    break
                for name, call, method, _target in paths:
                    before = handled_ok(metrics_port, method)
                    result = load(server.port, call, per_round)
                    confirmed = handled_ok(metrics_port, method) - before
                    if confirmed < result.calls:
                        notes.append(f"! {name}: {confirmed:.0f} of {result.calls} answered OK")
                    measured[name].append(result)
                    ratios[name].append(result.calls_per_second / ceilings[-1].calls_per_second)
            ceiling = merged(ceilings)
            ceiling_rate = ceiling.calls_per_second
            rows.append(row("empty RPC (grpc.aio ceiling)", ceiling, ceiling_rate))
            for name, _call, _method, target in paths:
                if not measured[name]:
                    continue
                ratio = statistics.median(ratios[name])
                rows.append(
                    row(
                        name,
                        merged(measured[name]),
                        ceiling_rate,
                        f"≥ {target} × ceiling",
                        ratio >= target,
                        ratio=ratio,
                    )
                    | {"ratio_rounds": [round(r, 3) for r in ratios[name]]}
                )
            if "throughput" in sections:
                notes.append(
                    f"× ceiling: median over {args.rounds} interleaved rounds of the path's "
                    "calls/s ÷ the ceiling's, measured just before it; calls/s, p50, p99: all "
                    "rounds pooled"
                )
                for name, per_round in ratios.items():
                    spread = ", ".join(f"{r:.2f}" for r in per_round)
                    notes.append(f"  {name}: rounds {spread}")

            login_calls = 40 if args.quick else 400
            target = functools.partial(load, server.port)
            if "login" in sections:
                measure_login(target, metrics_port, login, login_calls, rows, notes)
            if "storm" in sections:
                probe_calls = 500 if args.quick else 5_000
                measure_storm(
                    target, metrics_port, get_user, login, login_calls, probe_calls, rows, notes
                )
            if "rss" in sections:
                measure_rss(target, server.rss_kib, get_user, rss_step, notes)
            if "tracing" in sections:
                with traced_userservice(workdir, chosen.env, ratio=args.trace_ratio) as (
                    traced,
                    posts,
                ):
                    ports = {"off": server.port, "on": traced.port}
                    measure_tracing(
                        load,
                        ceiling_process.port,
                        empty,
                        get_user,
                        ports,
                        rows,
                        rounds=args.rounds,
                        per_round=max(1, calls // args.rounds),
                    )
                on_vs_off = rows[-1]["on_vs_off_rounds"]
                notes.append(
                    f"tracing on: OTLP/HTTP to a local sink ({posts[0]} exports received), "
                    f"{args.trace_ratio:.0%} of calls sampled; same database, keys and user; "
                    f"on ÷ off per round {', '.join(f'{r:.2f}' for r in on_vs_off)}"
                )

        if "soak" in sections:
            rounds, per_round = (3, 300) if args.quick else (6, 2_500)
            measure_soak(workdir, chosen.env, notes, rounds=rounds, per_round=per_round)
        if (
            "workers" in sections
            and chosen.env.get("USERSERVICE_REDIS_URL", "memory://") != "memory://"
            and not args.quick
        ):
            with userservice(workdir, chosen.env, metrics_port=free_port(), workers=2) as pair:
                prepare(pair.port)
                pair_token = prepare(pair.port)
                two_call = Call(
                    get_user.method, get_user.request, (("authorization", f"Bearer {pair_token}"),)
                )
                load(pair.port, two_call, calls // 10)
                two = load(pair.port, two_call, calls)
                rows.append(row("GetUser warm, --workers 2", two, ceiling_rate))

    notes.insert(
        0,
        f"load generator: {generator}; backends: {chosen.description}; "
        f"{connections} connections × {streams} streams; {os.cpu_count()} cores; "
        f"{platform.python_implementation()} {platform.python_version()}",
    )
    print_table(rows, notes)
    report = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "generator": generator,
        "backends": chosen.description,
        "rows": rows,
        "notes": notes,
    }
    out = args.out or RESULTS / f"bench-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
