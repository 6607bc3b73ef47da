"""Background thread pools of a process, made on first use and kept for its life.

A pool's threads keep their per-thread state between tasks (a database connection,
OpenMP's thread count), which is what makes handing work to them cheap.
"""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_pools: dict[str, ThreadPoolExecutor] = {}
_started: dict[str, int] = {}  # threads each pool has started (they live as long as the pool)
_lock = threading.Lock()


def background_pool(
    name: str, *, max_workers: int, initializer: Callable | None = None, initargs=()
) -> ThreadPoolExecutor:
    """The process's pool ``name``, made on the first call (later calls' arguments are ignored)."""

    def started(*args) -> None:
        with _lock:
            _started[name] = _started.get(name, 0) + 1
        if initializer is not None:
            initializer(*args)

    with _lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(
                max_workers=max_workers, thread_name_prefix=name, initializer=started, initargs=initargs
            )
        return pool


def on_each_pool_thread(name: str, task: Callable[[], None], *, timeout: float = 30) -> None:
    """Run ``task`` once on every thread pool ``name`` has started (at shutdown: close what they hold).

    Each run waits at a barrier until all have started, so no thread takes two.
    """
    with _lock:
        pool, threads = _pools.get(name), _started.get(name, 0)
    if pool is None or not threads:
        return
    barrier = threading.Barrier(threads, timeout=timeout)

    def run_once() -> None:
        task()
        barrier.wait()

    for future in [pool.submit(run_once) for _ in range(threads)]:
        future.result(timeout=timeout)
