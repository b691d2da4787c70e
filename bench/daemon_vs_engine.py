"""Latency and memory of a warm cloak: through the daemon (websocket, real subprocess) vs the
engine called directly (its own subprocess). Prints a Markdown table.

    .venv/bin/python bench/daemon_vs_engine.py [--image PATH] [--mode low] [--repeats 3]

Each side runs alone (one after the other) so they do not compete for the CPU. Latency is
wall time per cloak after warm-up (the daemon side includes the websocket round trip,
the limits check and the queue); memory is the process's peak RSS (VmHWM) after the runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

DIRECT = """
import json, resource, sys, time
from cloaker.engine import Engine
data = open(sys.argv[1], "rb").read()
engine = Engine(device="cpu")
engine.warm()
times = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    engine.cloak_bytes(data, mode=sys.argv[2], seed=0)
    times.append(time.perf_counter() - t)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"times": times, "peak_rss_mb": int(hwm) / 1024}))
"""


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def run_direct(image: Path, mode: str, repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", DIRECT, str(image), mode, str(repeats)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_daemon(image: Path, mode: str, repeats: int) -> dict:
    from daemon_util import start_daemon, wait_for

    data = image.read_bytes()
    with tempfile.TemporaryDirectory() as home:
        daemon = start_daemon(Path(home), "--device", "cpu", "--job-timeout", "3600")
        try:
            with daemon.client() as client:
                wait_for(
                    lambda: client.request("status")["data"]["state"] == "ready",
                    600,
                    "warm engine",
                    interval_s=0.5,
                )
                client.request("settings.set", {"mode": mode})
                times, engine_s = [], []
                for _ in range(repeats):
                    t = time.perf_counter()
                    job = client.wait_job(client.send_cloak(data), 3600)
                    times.append(time.perf_counter() - t)
                    assert job.terminal and job.terminal["type"] == "result", job.terminal
                    assert (
                        hashlib.sha256(job.payload or b"").hexdigest()
                        == job.terminal["data"]["sha256"]
                    )
                    engine_s.append(job.terminal["data"]["seconds"])
            return {
                "times": times,
                "engine_seconds": engine_s,
                "peak_rss_mb": peak_rss_mb(daemon.proc.pid),
            }
        finally:
            daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=ROOT / "examples" / "astronaut.jpg")
    parser.add_argument("--mode", default="mid")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("CLOAKER_MODELS_DIR", str(ROOT / ".models"))
    direct = run_direct(args.image, args.mode, args.repeats)
    daemon = run_daemon(args.image, args.mode, args.repeats)
    load = os.getloadavg()[0]
    print(
        f"image {args.image.name}, mode {args.mode}, {args.repeats} warm runs each, "
        f"{os.cpu_count()} CPUs, load average {load:.1f}\n"
    )
    print("| path | median latency (s) | min (s) | peak RSS (MB) |")
    print("| --- | --- | --- | --- |")
    for name, res in (("engine direct", direct), ("through daemon", daemon)):
        print(
            f"| {name} | {statistics.median(res['times']):.2f} | {min(res['times']):.2f} "
            f"| {res['peak_rss_mb']:.0f} |"
        )
    overhead = [a - b for a, b in zip(daemon["times"], daemon["engine_seconds"], strict=True)]
    print(
        f"\ndaemon overhead beyond the engine's own time: "
        f"median {statistics.median(overhead):.3f} s"
    )


if __name__ == "__main__":
    main()
