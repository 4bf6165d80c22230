import os
from pathlib import Path

import pytest
import torch

SUBSET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-subset"


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_root(tmp_path_factory):
    """Synthetic-data cache in a temporary folder, so tests never touch the user's cache."""
    root = tmp_path_factory.mktemp("esper-data")
    old = os.environ.get("ESPER_DATA_DIR")
    os.environ["ESPER_DATA_DIR"] = str(root)
    # Under pytest-xdist every worker is a process of its own: one thread each, as Esper's own workers run
    # (two 2-thread processes on 2 cores run far slower than two 1-thread ones).
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers) if workers > 1 else min(2, os.cpu_count() or 1))
    yield root
    if old is None:
        os.environ.pop("ESPER_DATA_DIR", None)
    else:
        os.environ["ESPER_DATA_DIR"] = old


@pytest.fixture
def subset_root():
    if not (SUBSET / "cifar-10-batches-py" / "data_batch_1").is_file():
        pytest.skip(f"real CIFAR-10 subset not present at {SUBSET}")
    return SUBSET
