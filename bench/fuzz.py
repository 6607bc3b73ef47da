"""The larger Schemathesis run of the whole REST API: many examples per operation, boundary values on.

    .venv/bin/python bench/fuzz.py [--examples 100] [--no-coverage]
    .venv/bin/python bench/fuzz.py --smoke   # seconds: collects the fuzz tests, runs nothing

``make test`` runs ``tests/reliability/test_api_fuzz.py`` with 2 examples per
operation; this runs the same checks (no 5xx, every error in the error shape, every
documented response valid against the schema; as staff and as an ordinary user) with
``--examples`` per operation and Schemathesis' coverage phase, on its own embedded
servers (``RAG_DATA_DIR``, default ``.data/bench-fuzz``), and prints pytest's summary
and the time it took. A failure prints the request Schemathesis can replay.
"""

import argparse
import os
import subprocess
import sys
import time

from benchsetup import ROOT

TEST = "tests/reliability/test_api_fuzz.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="generated requests per operation and user")
    parser.add_argument("--no-coverage", action="store_true", help="skip the boundary-value (coverage) phase")
    parser.add_argument("--smoke", action="store_true", help="collect the fuzz tests only")
    args = parser.parse_args()
    env = {
        **os.environ,
        "RAG_DATA_DIR": os.environ.get("RAG_DATA_DIR") or str(ROOT / ".data" / "bench-fuzz"),
        "FUZZ_EXAMPLES": str(args.examples),
        "FUZZ_COVERAGE": "0" if args.no_coverage else "1",
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST]
    if args.smoke:
        command.append("--collect-only")
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env)
    seconds = time.perf_counter() - started
    coverage = env["FUZZ_COVERAGE"] == "1"
    ran = "collected only" if args.smoke else f"{args.examples} examples per operation, coverage phase {coverage}"
    print(f"fuzz: {ran}, {seconds:.0f} s")
    if result.returncode:
        raise SystemExit(f"pytest exited {result.returncode}")
    if args.smoke:
        print("smoke: ok")


if __name__ == "__main__":
    main()
