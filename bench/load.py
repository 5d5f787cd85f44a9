"""Under load: 50 keep-alive clients against ``metacrm serve`` (issue 16 item 4).

    .venv/bin/python bench/load.py [--quick|--smoke] [--database-url URL] [--clients N] [--seconds S]
                                   [--workers N] [--threads N]

PostgreSQL only. Object ``deal`` (10 fields) with 4,000 rows (--smoke 200):
a quarter owned by a sales rep (role ``sales_rep``: reads and edits its own
records only), the rest by an admin; each has an API token.

The server is the real one: a subprocess running ``metacrm serve --host
127.0.0.1 --port <free port>`` with its defaults (workers, threads,
keep-alive, access log to standard output — here a file), configured
through ``METACRM_*`` environment variables for the bench's namespaces.
Once it answers ``/api/v1/health``, ``--clients`` (50) closed-loop clients —
half with the rep's token, half with the admin's — each on one keep-alive
HTTP/1.1 connection, send for ``--seconds`` (60; --quick 13, --smoke 3),
after a 2-second warm-up that is not counted:

* 30 % ``list``: ``GET /api/v1/data/deal?where=amount > X and stage = "S"&limit=20``;
* 40 % ``get``: ``GET /api/v1/data/deal/<id>`` of a record the caller may read;
* 15 % ``create``: ``POST /api/v1/data/deal``;
* 15 % ``patch``: ``PATCH /api/v1/data/deal/<id>`` (each client its own records).

The baseline, in the same run: a bare Flask app of one view that selects the
same row with SQLAlchemy Core (its own default engine) served by the same
``run_gunicorn`` with the same settings, driven by the same clients with
GET only (as long as the mix; --quick 5 s). Both servers boot together
before the first phase. Ratios: metacrm mix rps ÷ bare rps, metacrm get
p99 ÷ bare p99. Also reported: the CPU time per request of the server's
processes, of its PostgreSQL backends (found by application_name) and of
the client, and from them the requests/s two otherwise idle cores could
serve — the machine is shared, so that estimate travels better than rps.

Every non-2xx answer and every connection error counts as an error (the
first few are printed). The client is one asyncio process writing raw
HTTP/1.1; its CPU share, the server's (gunicorn's processes) and the
machine's are reported so one can see the client is not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import _common as c
import sqlalchemy as sa
from argon2 import PasswordHasher

from metacrm.access import provision_member
from metacrm.platform import identity as identities
from metacrm.platform.database import DEFAULT_POOL_SIZE, POOL_OVERFLOW
from metacrm.platform.server import DEFAULT_THREADS, DEFAULT_WORKERS, run_gunicorn

BENCH = "load"
OBJECT = "deal"
MIX = (("list", 30), ("get", 40), ("create", 15), ("patch", 15))
WARMUP_S = 2.0


def extra_args(parser) -> None:
    parser.add_argument("--clients", type=int, default=50, help="concurrent keep-alive clients (default 50)")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per phase (default 60/15/3)")
    parser.add_argument("--workers", type=int, default=None, help="pass --workers to serve (default: serve's)")
    parser.add_argument("--threads", type=int, default=None, help="pass --threads to serve (default: serve's)")
    parser.add_argument("--skip-bare", action="store_true", help="no baseline phase (tuning runs)")
    # Internal: the baseline server's process.
    parser.add_argument("--serve-bare", nargs=3, metavar=("URL", "SCHEMA", "PORT"), help=argparse.SUPPRESS)


# -- the baseline server ---------------------------------------------------------------


def serve_bare(url: str, schema: str, port: int, workers: int | None, threads: int | None) -> None:
    threads = threads or DEFAULT_THREADS
    pool = {"pool_size": max(DEFAULT_POOL_SIZE, threads), "max_overflow": POOL_OVERFLOW}  # as serve sizes metacrm's
    run_gunicorn(
        lambda: c.bare_app(url, schema, OBJECT, **pool)[0],
        host="127.0.0.1",
        port=port,
        workers=workers or DEFAULT_WORKERS,
        threads=threads,
    )


# -- servers as subprocesses ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess (a gunicorn master), its log in a file."""

    def __init__(self, name: str, argv: list[str], env: dict, port: int, health: str, log_dir: Path):
        self.name, self.port, self.health = name, port, health
        self.log_path = log_dir / f"{name}.log"
        self.log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log_file, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.sendall(f"GET {self.health} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within {timeout} s:\n{self.tail()}")

    def wait_workers(self, workers: int, timeout: float = 30.0) -> None:
        """Until ``workers`` workers run and none is busy building its app
        (workers build it after the fork; one that is still booting when the
        clients connect would leave every connection to the others)."""
        started = time.perf_counter()
        last: dict[int, float] = {}
        while time.perf_counter() - started < timeout:
            now = {pid: proc_cpu_seconds(pid) for pid in self.pids()[1:]}
            settled = len(now) >= workers and now.keys() == last.keys()
            if settled and all(now[pid] - last[pid] < 0.02 for pid in now):
                return
            last = now
            time.sleep(0.3)
        c.log(f"{self.name}: workers still busy after {timeout} s; driving anyway")

    def pids(self) -> list[int]:
        """The master and its workers."""
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            pids += [int(p) for p in children]
        except OSError:
            pass
        return pids

    def cpu_seconds(self) -> float:
        return sum(proc_cpu_seconds(pid) for pid in self.pids())

    def tail(self, lines: int = 30) -> str:
        self.log_file.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.log_file.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies over all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# -- the client -------------------------------------------------------------------------------


class Results:
    def __init__(self):
        self.latencies: dict[str, list[float]] = {}
        self.errors = 0
        self.error_samples: list[str] = []
        self.counting = False

    def add(self, op: str, seconds: float) -> None:
        if self.counting:
            self.latencies.setdefault(op, []).append(seconds)

    def error(self, op: str, text: str) -> None:
        if self.counting:
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{op}: {text}")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = await reader.read()
    keep = headers.get("connection", "").lower() != "close"
    return status, body, keep


class Client:
    """One closed-loop client on one keep-alive connection."""

    def __init__(self, port: int, token: str, plan, results: Results, rng: random.Random):
        self.port, self.plan, self.results, self.rng = port, plan, results, rng
        self.auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.reader = self.writer = None
        self.done = 0  # answered requests in the measured window

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            await self.connect()
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{self.auth}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        status, payload, keep = await read_response(self.reader)
        if not keep:
            self.close()
        return status, payload

    async def run(self, deadline: float) -> None:
        clock = time.perf_counter
        while clock() < deadline:
            op, method, path, body, on_ok = self.plan(self.rng)
            started = clock()
            try:
                status, payload = await self.request(method, path, body)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                self.results.error(op, f"connection: {exc!r}")
                self.close()
                await asyncio.sleep(0.01)
                continue
            elapsed = clock() - started
            if 200 <= status < 300:
                self.results.add(op, elapsed)
                self.done += self.results.counting
                if on_ok:
                    on_ok(payload)
            else:
                self.results.error(op, f"{status} {payload[:200]!r}")
        self.close()


class Caller:
    """What one client may do: the records it reads and the ones it patches."""

    def __init__(self, readable: list[int], patchable: list[int], weights=MIX):
        self.readable = readable
        self.patchable = patchable
        self.ops = [op for op, _w in weights]
        self.weights = [w for _op, w in weights]
        self.serial = 0

    def plan(self, rng: random.Random):
        op = rng.choices(self.ops, self.weights)[0]
        if op == "get":
            return op, "GET", f"/api/v1/data/{OBJECT}/{rng.choice(self.readable)}", None, None
        if op == "list":
            where = f'amount > {rng.randrange(0, 9000)} and stage = "{rng.choice(c.STAGES)}"'
            query = urllib.parse.urlencode({"where": where, "limit": 20})
            return op, "GET", f"/api/v1/data/{OBJECT}?{query}", None, None
        if op == "create":
            self.serial += 1
            record = c.deal_record(rng.randrange(10**6))
            record["name"] = f"Load {self.serial}"
            return op, "POST", f"/api/v1/data/{OBJECT}", json.dumps(record).encode(), self._created
        record_id = rng.choice(self.patchable)
        body = json.dumps({"probability": rng.randrange(101), "notes": f"patched {self.serial}"}).encode()
        return op, "PATCH", f"/api/v1/data/{OBJECT}/{record_id}", body, None

    def _created(self, payload: bytes) -> None:
        self.readable.append(json.loads(payload)["id"])


class BareCaller:
    def __init__(self, ids: list[int]):
        self.ids = ids

    def plan(self, rng: random.Random):
        return "get", "GET", f"/deal/{rng.choice(self.ids)}", None, None


async def drive(port: int, callers: list[tuple[str, object]], seconds: float, warmup: float, probe) -> dict:
    results = Results()
    clients = [Client(port, token, caller.plan, results, random.Random(k)) for k, (token, caller) in enumerate(callers)]
    await asyncio.gather(*(client.connect() for client in clients))
    start = time.perf_counter()
    tasks = [asyncio.create_task(client.run(start + warmup + seconds)) for client in clients]
    await asyncio.sleep(warmup)
    results.counting = True
    measures = {
        "cpu0": resource.getrusage(resource.RUSAGE_SELF),
        "busy0": machine_busy(),
        "procs0": probe(),
        "t0": time.perf_counter(),
    }
    await asyncio.sleep(max(0.0, start + warmup + seconds - time.perf_counter()))
    elapsed = time.perf_counter() - measures["t0"]
    results.counting = False
    cpu1, busy1, procs1 = resource.getrusage(resource.RUSAGE_SELF), machine_busy(), probe()
    await asyncio.gather(*tasks)
    done = sorted(client.done for client in clients)
    client_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (measures["cpu0"].ru_utime + measures["cpu0"].ru_stime)
    busy = (busy1[0] - measures["busy0"][0]) / max(1, busy1[1] - measures["busy0"][1])
    return {
        "results": results,
        "elapsed": elapsed,
        "client_cpu_s": client_cpu,
        "machine_busy": busy,
        # CPU seconds of the server's processes and of its PostgreSQL backends
        # in the window (a backend that appeared meanwhile counts from zero).
        "procs_cpu_s": {
            group: sum(cpu - measures["procs0"][group].get(pid, 0.0) for pid, cpu in now.items())
            for group, now in procs1.items()
        },
        "per_client": {"min": done[0], "median": done[len(done) // 2], "max": done[-1]},
    }


def summarize(run: dict) -> dict:
    results: Results = run["results"]
    elapsed = run["elapsed"]
    every = [s for samples in results.latencies.values() for s in samples]
    out = {"requests": len(every), "rps": c.rnd(len(every) / elapsed, 1), "errors": results.errors}
    out.update(latency_ms(every))
    out["by_op"] = {op: {"n": len(s), **latency_ms(s)} for op, s in sorted(results.latencies.items())}
    out["client_cpu_pct_of_one_core"] = c.rnd(100 * run["client_cpu_s"] / elapsed, 1)
    out["machine_busy_pct"] = c.rnd(100 * run["machine_busy"], 1)
    # Requests answered per client: a wide spread means some connections wait
    # behind busier workers (connections stay on the worker that accepted them).
    out["requests_per_client"] = run["per_client"]
    return out


def latency_ms(samples: list[float]) -> dict:
    ms = [s * 1000 for s in samples]
    if not ms:
        return {}
    return {
        "p50_ms": c.rnd(c.percentile(ms, 50), 1),
        "p95_ms": c.rnd(c.percentile(ms, 95), 1),
        "p99_ms": c.rnd(c.percentile(ms, 99), 1),
        "max_ms": c.rnd(max(ms), 1),
    }


def report(name: str, summary: dict, server_cpu: float, elapsed: float, results: Results) -> None:
    c.log(
        f"{name}: {summary['requests']} requests, {summary['rps']} req/s, errors {summary['errors']}; "
        f"p50 {summary.get('p50_ms')} p95 {summary.get('p95_ms')} p99 {summary.get('p99_ms')} "
        f"max {summary.get('max_ms')} ms; CPU: client {summary['client_cpu_pct_of_one_core']} %, "
        f"server {100 * server_cpu / elapsed:.1f} %, its PostgreSQL backends "
        f"{summary['postgres_cpu_pct_of_one_core']} % of one core; machine {summary['machine_busy_pct']} % of all; "
        f"requests per client {summary['requests_per_client']}"
    )
    c.log(
        f"   CPU ms per request: {summary.get('cpu_ms_per_request')}; "
        f"2 free cores would serve ~{summary.get('rps_if_2_cores_were_free')} req/s"
    )
    for op, stats in summary["by_op"].items():
        c.log(
            f"   {op:7s} n {stats['n']:6d}  p50 {stats['p50_ms']:7.1f}  p95 {stats['p95_ms']:7.1f}  "
            f"p99 {stats['p99_ms']:7.1f}  max {stats['max_ms']:7.1f} ms"
        )
    for sample in results.error_samples:
        c.log(f"   error: {sample}")


def phase(server: Server, callers, seconds: float, name: str, backends) -> dict:
    def probe() -> dict:
        return {
            "server": {pid: proc_cpu_seconds(pid) for pid in server.pids()},
            "postgres": {pid: proc_cpu_seconds(pid) for pid in backends()},
        }

    run = asyncio.run(drive(server.port, callers, seconds, WARMUP_S, probe))
    summary = summarize(run)
    elapsed, cpu = run["elapsed"], run["procs_cpu_s"]
    summary["server_cpu_pct_of_one_core"] = c.rnd(100 * cpu["server"] / elapsed, 1)
    summary["postgres_cpu_pct_of_one_core"] = c.rnd(100 * cpu["postgres"] / elapsed, 1)
    if summary["requests"]:
        per = {
            "server": 1000 * cpu["server"] / summary["requests"],
            "postgres": 1000 * cpu["postgres"] / summary["requests"],
            "client": 1000 * run["client_cpu_s"] / summary["requests"],
        }
        summary["cpu_ms_per_request"] = {k: c.rnd(v, 2) for k, v in per.items()}
        # What 2 otherwise idle cores could serve at this CPU cost (server +
        # PostgreSQL; the client excluded): an estimate for a shared machine.
        served = per["server"] + per["postgres"]
        summary["rps_if_2_cores_were_free"] = c.rnd(2000 / served, 1) if served else None
    report(name, summary, cpu["server"], elapsed, run["results"])
    return summary


def pg_backends(engine: sa.Engine, application_name: str):
    """The process ids of the PostgreSQL backends serving the named application
    (PostgreSQL on this machine: their CPU time is read from /proc)."""

    def backends() -> list[int]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"), {"a": application_name}
                ).scalars()
            )

    return backends


def with_application_name(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


# -- setup ------------------------------------------------------------------------------------------


def make_rep(env: c.BenchEnv) -> int:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    original, identities._hasher = identities._hasher, cheap
    try:
        user_id = identities.create_user(
            env.instance, tenant=env.tenant_slug, email="rep@bench.test", password=c.PASSWORD, role="sales_rep"
        )
        provision_member(env.instance, env.binding, user_id)
    finally:
        identities._hasher = original
    return user_id


def token_for(env: c.BenchEnv, user_id: int) -> str:
    identity = identities.identity_for(env.instance, user_id, env.tenant_slug)
    return identities.create_token(env.instance, identity, "bench")[1]


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0], extra_args)
    if args.serve_bare:
        url, schema, port = args.serve_bare
        serve_bare(url, schema, int(port), args.workers, args.threads)
        return 0
    if c.is_sqlite(args.database_url):
        c.log("load.py runs on PostgreSQL only")
        return 2
    mode = c.mode(args)
    rows = 200 if args.smoke else 4_000
    seconds = args.seconds or {"smoke": 3.0, "quick": 13.0, "full": 60.0}[mode]
    bare_seconds = seconds if mode == "full" else min(seconds, 5.0)
    n = max(2, args.clients)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    c.log(f"load average before: {' '.join(load_before)}")
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        rep = make_rep(env)
        owner_sql = f"(CASE WHEN i % 4 = 0 THEN {rep} ELSE {env.user_id} END)"
        env.load_series(OBJECT, rows, owner_sql=owner_sql)
        rep_ids = [i for i in range(1, rows + 1) if i % 4 == 0]
        admin_ids = [i for i in range(1, rows + 1) if i % 4 != 0]
        tokens = {"rep": token_for(env, rep), "admin": env.token}
        url = env.engine.url.render_as_string(hide_password=False)
        tmp = Path(tempfile.mkdtemp(prefix="metacrm-load-", dir=env.tmp))
        server_env = {
            **os.environ,
            "METACRM_DATABASE_URL": with_application_name(url, f"load_metacrm_{env.suffix}"),
            "METACRM_PLATFORM_SCHEMA": env.platform_schema,
            "METACRM_TENANT_SCHEMA_PREFIX": env.tenant_prefix,
            "METACRM_DATA_DIR": str(tmp / "data"),
            "METACRM_SECRET_KEY": "bench-load-" + env.suffix,
        }
        sizing = []
        if args.workers:
            sizing += ["--workers", str(args.workers)]
        if args.threads:
            sizing += ["--threads", str(args.threads)]
        metacrm_cli = Path(sys.executable).with_name("metacrm")
        argv = [str(metacrm_cli)] if metacrm_cli.exists() else [sys.executable, "-m", "metacrm.cli"]
        env.instance.dispose()  # the server's workers open their own connections
        servers: dict[str, Server] = {}
        try:
            # Both servers boot together (the bare one idles while metacrm is measured).
            port = free_port()
            servers["metacrm"] = Server(
                "metacrm",
                [*argv, "serve", "--host", "127.0.0.1", "--port", str(port), *sizing],
                server_env,
                port,
                "/api/v1/health",
                tmp,
            )
            if not args.skip_bare:
                port = free_port()
                bare_url = with_application_name(url, f"load_bare_{env.suffix}")
                bare_argv = [sys.executable, __file__, "--serve-bare", bare_url, env.schema, str(port), *sizing]
                servers["bare"] = Server("bare", bare_argv, os.environ.copy(), port, "/health", tmp)
            for name, server in servers.items():
                c.log(f"{name} server ({' '.join(sizing) or 'defaults'}) answered after {server.wait_ready():.1f} s")
                server.wait_workers(args.workers or DEFAULT_WORKERS)
            callers = []
            for k in range(n):
                if k % 2 == 0:
                    own = rep_ids[k // 2 :: (n + 1) // 2]
                    callers.append((tokens["rep"], Caller(list(rep_ids), own or rep_ids[:1])))
                else:
                    own = admin_ids[k // 2 :: n // 2]
                    callers.append((tokens["admin"], Caller(list(admin_ids), own or admin_ids[:1])))
            c.log(f"driving {n} clients for {seconds:.0f} s (+{WARMUP_S:.0f} s warm-up), mix {dict(MIX)} ...")
            backends = pg_backends(env.engine, f"load_metacrm_{env.suffix}")
            metacrm = phase(servers["metacrm"], callers, seconds, "metacrm mix", backends)
            servers["metacrm"].stop()
            bare = None
            if "bare" in servers:
                ids = list(range(1, rows + 1))
                callers = [(None, BareCaller(ids)) for _ in range(n)]
                backends = pg_backends(env.engine, f"load_bare_{env.suffix}")
                bare = phase(servers["bare"], callers, bare_seconds, "bare get", backends)
        finally:
            for server in servers.values():
                server.stop()
        with env.engine.connect() as conn:
            created = conn.execute(sa.text(f"SELECT count(*) FROM {env.qualified(OBJECT)}")).scalar_one() - rows
        c.log(f"records created during the run: {created}")
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    c.log(f"load average after: {' '.join(load_after)}")
    get_p99 = metacrm["by_op"].get("get", {}).get("p99_ms")
    ratio = {}
    if bare and bare["rps"] and get_p99:
        ratio = {
            "mix_rps_over_bare_rps_higher_is_better": c.rnd(metacrm["rps"] / bare["rps"], 2),
            "get_p99_over_bare_p99_lower_is_better": c.rnd(get_p99 / bare["p99_ms"], 2),
        }
    c.emit(
        BENCH,
        {
            "errors": metacrm["errors"],
            "p99_ms_max": max(s["p99_ms"] for s in metacrm["by_op"].values()),
            "overall": {k: metacrm[k] for k in ("rps", "requests", "p50_ms", "p95_ms", "p99_ms", "max_ms")},
            "by_op": metacrm["by_op"],
            "cpu": {
                "client_pct_of_one_core": metacrm["client_cpu_pct_of_one_core"],
                "server_pct_of_one_core": metacrm["server_cpu_pct_of_one_core"],
                "postgres_pct_of_one_core": metacrm["postgres_cpu_pct_of_one_core"],
                "machine_busy_pct": metacrm["machine_busy_pct"],
                "ms_per_request": metacrm.get("cpu_ms_per_request"),
            },
            "rps_if_2_cores_were_free": metacrm.get("rps_if_2_cores_were_free"),
            "requests_per_client": metacrm["requests_per_client"],
        },
        {
            "bare_flask_core_get": None
            if bare is None
            else {
                k: bare.get(k)
                for k in (
                    "rps",
                    "errors",
                    "p50_ms",
                    "p95_ms",
                    "p99_ms",
                    "max_ms",
                    "cpu_ms_per_request",
                    "rps_if_2_cores_were_free",
                    "requests_per_client",
                )
            }  # fmt: skip
        },
        ratio,
        {"errors": 0, "p99_ms_max": 500},
        mode=mode,
        database="postgresql",
        reference={
            "clients": n,
            "seconds": c.rnd(seconds, 1),
            "bare_seconds": c.rnd(bare_seconds, 1),
            "rows": rows,
            "mix_pct": dict(MIX),
            "serve": {
                "workers": args.workers or DEFAULT_WORKERS,
                "threads": args.threads or DEFAULT_THREADS,
            },
            "created": created,
            "load_average_before": " ".join(load_before),
            "load_average_after": " ".join(load_after),
        },
    )
    return 0 if metacrm["requests"] else 1


if __name__ == "__main__":
    sys.exit(main())
