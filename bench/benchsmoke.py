"""Every bench script at its ``--smoke`` size, one after another: what ``make bench-smoke`` (and ``make test``) runs.

    .venv/bin/python bench/benchsmoke.py

A script is any ``bench/*.py`` but the libraries of :data:`LIBRARIES`, so a new
benchmark is picked up without being listed. One that rejects ``--smoke``, exits non-zero, or
does not end by printing ``smoke: ok`` fails the run: a schema or API change that
breaks a benchmark fails CI instead of the next person who measures. The scripts
share embedded servers of their own (``RAG_DATA_DIR``, default ``.data/bench-smoke``);
each makes and drops its own database there. Only durations are printed, never judged.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DONE = "smoke: ok"


# Imported by the scripts, never run: everything else here, the locustfile and the peer included, has --smoke.
LIBRARIES = {"benchdata.py", "benchlocustrun.py", "benchsetup.py", "benchsmoke.py"}


def bench_scripts() -> list[Path]:
    return sorted(path for path in BENCH.glob("*.py") if path.name not in LIBRARIES)


def smoke(script: Path, env: dict[str, str]) -> str | None:
    """Run ``script --smoke``, echoing its output; returns why it failed, or None."""
    with subprocess.Popen(
        [sys.executable, str(script), "--smoke"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        last = ""
        for line in process.stdout:
            print(line, end="", flush=True)
            last = line.strip() or last
    if process.returncode != 0:
        return f"exit status {process.returncode}"
    if last != DONE:
        return f"its last line is {last!r}, not {DONE!r} (does it implement --smoke?)"
    return None


def main() -> None:
    env = {**os.environ, "RAG_DATA_DIR": os.environ.get("RAG_DATA_DIR") or str(BENCH.parent / ".data" / "bench-smoke")}
    failures, durations = {}, {}
    for script in bench_scripts():
        name = script.relative_to(BENCH.parent).as_posix()
        print(f"== {name} --smoke", flush=True)
        started = time.perf_counter()
        failure = smoke(script, env)
        durations[name] = time.perf_counter() - started
        if failure:
            failures[name] = failure
    print("== bench smoke: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items()))
    for name, failure in failures.items():
        print(f"FAILED {name}: {failure}", file=sys.stderr)
    sys.exit(1 if failures or not durations else 0)


if __name__ == "__main__":
    main()
