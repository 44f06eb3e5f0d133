"""How long the `stairway` command makes people wait: `--help`, `migrate` when the schema is
current, and `serve` (embedded servers, warm data dir) until /healthz answers.

Each figure is the median of several runs, beside a ceiling measured in the same run: a bare
typer program's `--help` for the first two, a bare FastAPI app under uvicorn answering its
first request for `serve`.
"""

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import ROOT, fresh_database, parse_args, print_table, write_result
from bench.procs import stop

STAIRWAY = str(Path(sys.executable).parent / "stairway")
BARE_TYPER = """
import typer

app = typer.Typer()


@app.command()
def one() -> None: ...


@app.command()
def two() -> None: ...


app()
"""
BARE_API = """
import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def until_healthy(command: list[str], port: int, env: dict[str, str], cwd: Path) -> float:
    """Seconds from spawning `command` to a 200 from /healthz; the process is then stopped."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command} exited with {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            stop(proc)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    args = parse_args(__doc__ or "", runs=10, serve_runs=3)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("STAIRWAY_",))}
    base_env["PYTHONPATH"] = str(ROOT)
    database_url = asyncio.run(fresh_database(args.database_url, "stairway_bench_cli"))
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "bare_typer.py").write_text(BARE_TYPER)
        (work / "bare_api.py").write_text(BARE_API)
        url_env = {**base_env, "DATABASE_URL": database_url, "REDIS_URL": args.redis_url}
        bare, help_, migrate = [], [], []
        for _ in range(args.runs):  # interleaved, so a busier moment hits all three alike
            bare.append(timed([sys.executable, str(work / "bare_typer.py"), "--help"], base_env))
            help_.append(timed([STAIRWAY, "--help"], base_env))
            migrate.append(timed([STAIRWAY, "migrate"], url_env))

        embedded_env = {k: v for k, v in base_env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        embedded_env["STAIRWAY_DATA_DIR"] = str(work / ".stairway")
        embedded_env["STAIRWAY_POLICIES_DIR"] = str(work / "no-policies")
        # The first start creates the data dir and the schema: not counted ("warm" machine).
        port = free_port()
        until_healthy([STAIRWAY, "serve", "--port", str(port)], port, embedded_env, work)
        serve, bare_api = [], []
        for _ in range(args.serve_runs):
            port = free_port()
            serve.append(
                until_healthy([STAIRWAY, "serve", "--port", str(port)], port, embedded_env, work)
            )
            port = free_port()
            bare_api.append(
                until_healthy(
                    [sys.executable, str(work / "bare_api.py"), str(port)], port, base_env, work
                )
            )

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    result = {
        "runs": args.runs,
        "bare_typer_help_s": median(bare),
        "help_s": median(help_),
        "help_ratio": round(median(help_) / median(bare), 2),
        "migrate_current_s": median(migrate),
        "migrate_ratio": round(median(migrate) / median(bare), 2),
        "serve_runs": args.serve_runs,
        "bare_api_to_healthz_s": median(bare_api),
        "serve_to_healthz_s": median(serve),
        "serve_ratio": round(median(serve) / median(bare_api), 2),
    }
    print_table(
        "stairway CLI (medians; ratio to the bare program measured in the same run)",
        [
            ("bare typer --help", f"{result['bare_typer_help_s']} s"),
            ("stairway --help", f"{result['help_s']} s ({result['help_ratio']}x)"),
            (
                "stairway migrate, current",
                f"{result['migrate_current_s']} s ({result['migrate_ratio']}x)",
            ),
            ("bare FastAPI app to /healthz", f"{result['bare_api_to_healthz_s']} s"),
            (
                "stairway serve to /healthz",
                f"{result['serve_to_healthz_s']} s ({result['serve_ratio']}x)",
            ),
        ],
    )
    write_result("cli", result)


if __name__ == "__main__":
    main()
