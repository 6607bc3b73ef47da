"""Parsing in a child process, with a real deadline.

A parser stuck on a hostile file (a PDF with a cyclic page tree, a regex-heavy
page) cannot be interrupted from a thread, so parsing runs in a long-lived child
process that is killed and replaced when a document overruns the timeout. The
child also runs under an address-space limit (``SOURCE_PARSE_MEMORY_BYTES``), so a
decompression bomb that gets past the zip checks, or any document that needs more
memory than that to parse, fails there, alone and with a reason, instead of taking
the worker down.

Protocol over the child's stdin/stdout: length-prefixed pickles, one request
``(data, media_type, name)`` answered by ``("ok", text, title)`` or ``("error", reason)``.
"""

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import threading

from django.conf import settings

from sources.parsers import dispatch
from sources.parsers.base import Parsed, ParseError

_HEADER = struct.Struct("!Q")
_lock = threading.Lock()
_child: subprocess.Popen | None = None
_child_memory_limit: int | None = None


def _read_exact(stream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _send(stream, value) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _receive(stream):
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    # Only ever our own child process on the other end of the pipe.
    return pickle.loads(_read_exact(stream, size))  # noqa: S301


def _memory_limit() -> int:
    return int(getattr(settings, "SOURCE_PARSE_MEMORY_BYTES", 2 * 1024**3))


def _start(memory_limit: int) -> subprocess.Popen:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-m", "sources.parsers.sandbox", str(memory_limit)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=root,
    )
    if _receive(child.stdout) != "ready":  # imports happen before the clock starts
        raise RuntimeError("parser process did not start")
    return child


def _stop() -> None:
    global _child
    if _child is not None:
        _child.kill()
        _child.wait()
        _child = None


def parse(data: bytes, *, media_type: str, name: str, timeout: float) -> Parsed:
    """Parse ``data`` in the child process; ``ParseError`` if it fails or overruns ``timeout`` seconds."""
    global _child, _child_memory_limit
    with _lock:
        limit = _memory_limit()
        if _child is not None and _child_memory_limit != limit:
            _stop()  # the setting changed: a child under the new limit
        if _child is None or _child.poll() is not None:
            _child, _child_memory_limit = _start(limit), limit
        try:
            _send(_child.stdin, (data, media_type, name))
            ready, _, _ = select.select([_child.stdout], [], [], timeout)
            if not ready:
                _stop()
                raise ParseError(f"parser timeout: gave up after {timeout:g} s")
            answer = _receive(_child.stdout)
        except (EOFError, BrokenPipeError, OSError):
            code = _child.poll() if _child else None
            _stop()
            raise ParseError(f"parser crashed (exit {code}): file too large to unpack, or malformed") from None
    if answer[0] == "ok":
        return Parsed(text=answer[1], title=answer[2])
    raise ParseError(answer[1])


def _serve(memory_limit: int) -> None:
    import resource

    with contextlib.suppress(ValueError, OSError):  # not every platform enforces it
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    # Load the parsers now, so their import time is not billed to the first document.
    import bs4  # noqa: F401
    import docx  # noqa: F401
    import pypdf  # noqa: F401

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must not corrupt the protocol
    _send(stdout, "ready")
    while True:
        try:
            data, media_type, name = _receive(stdin)
        except EOFError:
            return
        try:
            parsed = dispatch.parse_bytes(data, media_type=media_type, name=name)
            _send(stdout, ("ok", parsed.text, parsed.title))
        except ParseError as exc:
            _send(stdout, ("error", str(exc)))
        except MemoryError:
            _send(stdout, ("error", "refused: the document needs too much memory to parse"))
        except Exception as exc:  # noqa: BLE001 -- a parser library's own bug on a malformed file
            _send(stdout, ("error", f"unreadable {media_type}: {type(exc).__name__}: {exc}"[:300]))


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
