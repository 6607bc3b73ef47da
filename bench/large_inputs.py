"""A JSONL export of a million tickets read by the tickets connector: time, and memory beside the file's size.

    .venv/bin/python bench/large_inputs.py [--tickets 1000000]
    .venv/bin/python bench/large_inputs.py --smoke   # seconds: 2,000 tickets

The export (tickets of about 1 KB, and one line that is not JSON at the end) is
written to a temporary file and read through ``get_connector("tickets").fetch``, as
the sync's fetch step reads it; Python's allocations are traced meanwhile. Prints
the file's size, the tickets and failures read, tickets per second and the traced
peak, and fails if the peak is not well below the file (the test at 100,000 tickets,
``tests/reliability/test_large_inputs.py``, asserts a quarter; here the bound is the
same). On its own embedded servers (``RAG_DATA_DIR``, default ``.data/bench-inputs``),
in a scratch database: the source is created through ``source_create``.
"""

import argparse
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

from benchsetup import django_setup

django_setup(data_dir="bench-inputs")

from benchdata import scratch_database, sources_folder  # noqa: E402

from sources.connectors import FetchFailure, get_connector  # noqa: E402
from sources.services.crud import source_create  # noqa: E402

BODY = "The printer on floor 3 jams when duplex printing is on. " * 18


def export_write(path: Path, tickets: int) -> int:
    """``tickets`` tickets and one bad line; returns the file's size in bytes."""
    with path.open("w") as out:
        for i in range(tickets):
            out.write(json.dumps({"id": i, "title": f"Ticket {i}", "body": f"{i}: {BODY}"}) + "\n")
        out.write("not json\n")
    return path.stat().st_size


def export_read(path: Path) -> dict:
    source = source_create(name="tickets", kind="tickets", config={"path": str(path), "format": "jsonl"})
    connector = get_connector(source.kind)
    count, failures = 0, []
    tracemalloc.start()
    started = time.perf_counter()
    try:
        for item in connector.fetch(source.config, source_id=source.pk):
            if isinstance(item, FetchFailure):
                failures.append(f"{item.external_id}: {item.reason[:40]}")
            else:
                count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {"tickets": count, "failures": failures, "seconds": time.perf_counter() - started, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="2,000 tickets")
    args = parser.parse_args()
    tickets = 2_000 if args.smoke else args.tickets
    with tempfile.TemporaryDirectory(dir=sources_folder()) as folder, scratch_database():
        path = Path(folder) / "tickets.jsonl"
        size = export_write(path, tickets)
        read = export_read(path)
    print(f"export: {tickets:,} tickets + 1 bad line, {size / 1e6:,.1f} MB")
    print(f"read: {read['tickets']:,} tickets, failures {read['failures']}")
    print(f"time: {read['seconds']:.1f} s = {read['tickets'] / read['seconds']:,.0f} tickets/s")
    print(f"traced peak: {read['peak'] / 1e6:,.1f} MB = {read['peak'] / size:.3f} of the file")
    if read["tickets"] != tickets or len(read["failures"]) != 1:
        raise SystemExit("the connector did not read every ticket and exactly one failure")
    if not args.smoke and read["peak"] >= size / 4:
        raise SystemExit("memory grew with the export: the peak is not below a quarter of the file")
    if args.smoke:
        print("smoke: ok")


if __name__ == "__main__":
    main()
