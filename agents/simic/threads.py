"""One context: torch's CPU thread count inside a block."""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(threads: int):
    """Inside, torch uses ``threads`` CPU threads (then the count before, also after an error): small networks (a
    critic, a cloned policy) train faster on one thread than on two, and far faster beside busy worker processes;
    replaying labelled episodes needs the one thread they were made with (kernels of other counts round
    differently)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
