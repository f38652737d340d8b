"""`make bench`: run every benchmark in bench/ and print one JSON summary.

Each bench_*.py prints one JSON object (or a list) on its last stdout line;
this runner collects them. Sizes scale with RERATE_BENCH_SCALE (default 1.0).

    python bench/run.py                 # every benchmark, full size
    python bench/run.py load            # only bench_load.py
    python bench/run.py --quick load    # smoke size (RERATE_BENCH_QUICK=1, scale 0.02)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    only = {a for a in sys.argv[1:] if not a.startswith("--")}
    env = os.environ.copy()
    if quick:
        env["RERATE_BENCH_QUICK"] = "1"
        env.setdefault("RERATE_BENCH_SCALE", "0.02")
    results: dict[str, object] = {}
    failed = False
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        sys.stderr.write(proc.stderr)
        lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
        if proc.returncode != 0 or not lines:
            results[name] = {"error": f"exit {proc.returncode}", "stderr_tail": proc.stderr[-2000:]}
            failed = True
            continue
        try:
            results[name] = json.loads(lines[-1])
        except json.JSONDecodeError:
            results[name] = {"error": "last line is not JSON", "stdout_tail": lines[-5:]}
            failed = True
            continue
        sys.stderr.write(f"{name}: {time.perf_counter() - started:.1f} s\n")
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
