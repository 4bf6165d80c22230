"""Where a saved result came from: package version, commit, machine, instruction set and date.

Every file a learner or an experiment writes (demonstrations, labels, policies, run records) carries
:func:`run_metadata`, so a number can be traced to the code and the machine that made it.
"""

from __future__ import annotations

import datetime
import functools
import os
import platform
import subprocess
from pathlib import Path

import torch

import esper_env


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


RESULTS = "benchmarks/results"
"""Committed results (and the seed ledger): what evaluations write, not code, so changes there leave a checkout
clean (an evaluation's second split claims its seeds after the first one's claim changed the ledger)."""


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The checkout's commit (``+dirty`` when tracked files other than :data:`RESULTS` differ from it), or "unknown"
    outside a checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", ".",
                                f":(exclude){RESULTS}"], capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "") if head else "unknown"


def isa_level() -> str:
    """The CPU instruction-set level torch's kernels use here (``AVX512``, ``AVX2``, ``DEFAULT``...), with the
    oneDNN limit when ``ONEDNN_MAX_CPU_ISA`` sets one; ``ATEN_CPU_CAPABILITY`` lowers it."""
    level = torch.backends.cpu.get_cpu_capability()
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return f"{level} (oneDNN {onednn})" if onednn else level


def run_metadata() -> dict:
    """Package version, commit, machine, instruction set and date, recorded with every saved result."""
    return dict(version=esper_env.__version__, date=datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), machine=f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores",
        cpus=torch.get_num_threads(), python=platform.python_version(), torch=torch.__version__,
        commit=git_commit(), isa=isa_level())
