"""Several hosts: the ``jax.distributed.initialize`` path for sweeps across processes.

Every process runs the same command. Process 0 hosts the coordinator; the seed
axis of each sweep is sharded over the devices of all processes (a global 1-D
mesh), each process computes its shard, and the results are all-gathered so that
every process holds the whole sweep; only process 0 writes files. On CPUs the
cross-process collectives use gloo.

Set-up, either by flags or by environment variables:

    jaxopt-course run P3 --coordinator HOST0:12345 --num-processes 2 --process-id 0   # on host 0
    jaxopt-course run P3 --coordinator HOST0:12345 --num-processes 2 --process-id 1   # on host 1

    JAXOPT_COORDINATOR=HOST0:12345 JAXOPT_NUM_PROCESSES=2 JAXOPT_PROCESS_ID=1 jaxopt-course run P3

On SLURM, Open MPI or Cloud TPU, ``--distributed`` alone lets JAX detect them.
Checkpointed chunks (``--resume``) need a file system that all processes share.
"""

from __future__ import annotations

import os

import jax

ENV = {"coordinator": "JAXOPT_COORDINATOR", "num_processes": "JAXOPT_NUM_PROCESSES", "process_id": "JAXOPT_PROCESS_ID"}


def settings_from(coordinator=None, num_processes=None, process_id=None) -> dict:
    """Explicit values, else the JAXOPT_* environment variables; {} when nothing asks for several processes."""
    values = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    for name, var in ENV.items():
        if values[name] is None and os.environ.get(var):
            values[name] = os.environ[var]
    if all(v is None for v in values.values()):
        return {}
    missing = [ENV[k] for k, v in values.items() if v is None]
    if missing:
        raise ValueError(f"a multi-process run needs all of --coordinator, --num-processes and --process-id "
                         f"(or {', '.join(ENV.values())}); missing: {', '.join(missing)}")
    num, pid = _integer(values, "num_processes"), _integer(values, "process_id")
    if num < 1 or not 0 <= pid < num:
        raise ValueError(f"need num_processes >= 1 and 0 <= process_id < num_processes, got {num} and {pid}")
    return {"coordinator": _address(str(values["coordinator"])), "num_processes": num, "process_id": pid}


def _integer(values: dict, name: str) -> int:
    """values[name] as an int; ValueError naming the flag and its variable otherwise."""
    try:
        return int(values[name])
    except (TypeError, ValueError):
        raise ValueError(f"--{name.replace('_', '-')} / {ENV[name]} must be an integer, got {values[name]!r}") from None


def _address(text: str) -> str:
    """HOST:PORT with a resolvable host and a port in 1..65535 (checked here: jax.distributed crashes on bad ones)."""
    import socket

    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--coordinator / {ENV['coordinator']} must be HOST:PORT, got {text!r}")
    try:
        socket.getaddrinfo(host.strip("[]"), int(port))
    except (socket.gaierror, UnicodeError):
        raise ValueError(f"--coordinator / {ENV['coordinator']}: cannot resolve host {host!r}") from None
    return text


def initialize(settings: dict | None = None, *, auto_detect: bool = False) -> bool:
    """Join the process group (before any JAX computation); False when running as one process."""
    if not settings and not auto_detect:
        return False
    # Cross-process collectives on CPU devices go through gloo (GPUs and TPUs ignore this).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if settings:
        jax.distributed.initialize(settings["coordinator"], settings["num_processes"], settings["process_id"])
    else:
        jax.distributed.initialize()
    return True


def is_writer() -> bool:
    """True in the process that writes results (process 0, or the only one)."""
    return jax.process_index() == 0
