"""Where independent jobs run: here (in this process or in worker processes) or on a Ray cluster.

One function, :func:`run_jobs`, used by ``physio rates --batch`` (one job a video) and ``physio evaluate``
(one job a session): it calls a picklable top-level ``fn(item, options)`` for every item and yields
``(index, result)`` as each finishes, so that callers can save as they go (a killed run loses at most
the jobs in flight).

* ``engine="local"``: ``workers == 1`` runs in this process, in order; ``workers > 1`` in that many
  spawned processes (each with one torch thread).
* ``engine="ray"``: each job a Ray task (``num_cpus=1``) on the cluster at ``address`` (``ray start
  --head`` prints it; ``"auto"`` finds one started on this machine), or, without an address, on a local
  cluster of ``workers`` CPUs started for the run and stopped after it.  At most ``workers`` jobs are in
  flight at a time, so a results file is written as steadily as with local workers.  Ray is an optional
  dependency (``pip install 'physio[ray]'``).

The jobs do the same work under every engine, so the results are the same (tested: ``physio rates
--batch`` gives the same table locally, with two workers and on a local Ray cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from physio.errors import InputError

__all__ = ["ENGINES", "run_jobs", "check_engine"]

ENGINES = ("local", "ray")


def check_engine(engine: str, workers: int, address: str | None) -> None:
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not isinstance(workers, int) or workers < 1:
        raise InputError(f"--workers must be an int >= 1, got {workers!r}")
    if address is not None and engine != "ray":
        raise InputError("--address applies to --engine ray")
    if engine == "ray":
        try:
            import ray  # noqa: F401, PLC0415
        except ImportError:
            raise InputError("--engine ray needs Ray: pip install 'physio[ray]' (or pip install ray)") from None


def _one_thread(fn: Callable, item, options):
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)
    return fn(item, options)


def run_jobs(fn: Callable, items: Sequence, options: dict, *, engine: str = "local", workers: int = 1,
             address: str | None = None) -> Iterator[tuple[int, object]]:
    """``fn(item, options)`` for every item; yields ``(index in items, result)`` as each finishes."""
    check_engine(engine, workers, address)
    if not items:
        return
    if engine == "ray":
        yield from _ray_jobs(fn, items, options, workers, address)
    elif workers == 1:
        for i, item in enumerate(items):
            yield i, fn(item, options)
    else:
        import multiprocessing as mp  # noqa: PLC0415

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_one_thread, fn, item, options): i for i, item in enumerate(items)}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()


def _ray_jobs(fn, items, options, workers, address):
    import ray  # noqa: PLC0415

    started = not ray.is_initialized()
    if started:
        kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address is None:  # a cluster of our own on this machine, loopback only
            kwargs.update(num_cpus=workers, _node_ip_address="127.0.0.1")
        else:
            kwargs["address"] = address
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(f"cannot reach a Ray cluster at {address or 'a new local cluster'}: {exc}") from None
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_one_thread)
        opts = ray.put(options)
        pending: dict = {}
        todo = list(enumerate(items))
        todo.reverse()
        while todo or pending:
            while todo and len(pending) < workers:
                i, item = todo.pop()
                pending[remote.remote(fn, item, opts)] = i
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started:
            ray.shutdown()
