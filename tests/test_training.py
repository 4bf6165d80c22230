import pytest
import torch

from esper_env.data import DeviceLoader
from esper_env.kasmina import MorphogeneticModel, host_widths
from esper_env.training import batch_statistics, cosine_lr, evaluate, resolve_precision


def test_batch_statistics_leave_running_stats_and_modes_alone():
    m = MorphogeneticModel(host_widths("tiny"))
    m.eval()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (64,))
    loader = DeviceLoader(x, y, 32, train=False)
    eval_stats = evaluate(m, loader)
    batch = evaluate(m, loader, batch_stats=True)
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not m.training and not any(mod.training for mod in m.modules())
    assert batch.loss != pytest.approx(eval_stats.loss)  # it really used batch statistics
    with batch_statistics(m):
        assert all(bn.training for bn in m.modules() if isinstance(bn, torch.nn.BatchNorm2d))
    assert all(bn.momentum == 0.1 for bn in m.modules() if isinstance(bn, torch.nn.BatchNorm2d))


def test_cosine_lr_and_precision():
    assert cosine_lr(0.1, 0, 10) == pytest.approx(0.1)
    assert cosine_lr(0.1, 5, 10) == pytest.approx(0.05)
    assert cosine_lr(0.1, 10, 10) == pytest.approx(0.0)
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8", torch.device("cpu"))


def test_auto_precision_is_bf16_exactly_where_the_cpu_has_bfloat16_units():
    """README: precision="auto" trains in bf16 on CPUs with bfloat16 units and in fp32 on AVX2-only ones (read from
    the CPU's own flags, not from the probe resolve_precision uses)."""
    from pathlib import Path

    info = Path("/proc/cpuinfo")
    if not info.is_file():
        pytest.skip("needs /proc/cpuinfo to read the CPU's flags")
    flags = set(next((ln.split(":", 1)[1].split() for ln in info.read_text().splitlines()
                      if ln.startswith("flags")), []))
    if flags & {"avx512_bf16", "amx_bf16"}:
        assert resolve_precision("auto", torch.device("cpu")) == "bf16"
    elif not any(f.startswith("avx512") for f in flags):
        assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    else:
        pytest.skip("AVX-512 without bfloat16 units: oneDNN may emulate bf16; no stated expectation")

