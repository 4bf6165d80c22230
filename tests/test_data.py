import pickle
import sys

import numpy as np
import pytest
import torch

from esper_env.data import DatasetError, DeviceLoader, load_cifar10, load_splits, random_crop_flip, split_indices
from esper_env.data.cifar import TRAIN_FILES, read_batch, write_batch
from esper_env.data.synthetic import generate, load_synthetic


def make_folder(root, per_batch=7, test=5, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name in (*TRAIN_FILES, "test_batch"):
        n = test if name == "test_batch" else per_batch
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, n)
        write_batch(folder / name, x, y)
        batches[name] = (x, y)
    return batches


def test_reads_tiny_folder_exactly(tmp_path):
    batches = make_folder(tmp_path)
    tx, ty, ex, ey = load_cifar10(tmp_path)
    assert tx.dtype == torch.uint8 and tx.shape == (35, 3, 32, 32) and ty.dtype == torch.int64
    assert ex.shape == (5, 3, 32, 32)
    np.testing.assert_array_equal(tx[7:14].numpy(), batches["data_batch_2"][0])
    np.testing.assert_array_equal(ey.numpy(), batches["test_batch"][1])
    # The folder itself is accepted as root too.
    assert load_cifar10(tmp_path / "cifar-10-batches-py")[0].shape == tx.shape


def test_row_layout_is_rgb_planes(tmp_path):
    img = np.zeros((1, 3, 32, 32), np.uint8)
    img[0, 1, 2, 3] = 200  # green channel, row 2, col 3
    write_batch(tmp_path / "b", img, [4])
    x, y = read_batch(tmp_path / "b")
    with open(tmp_path / "b", "rb") as f:
        raw = pickle.load(f, encoding="latin1")["data"][0]
    assert raw[1024 + 2 * 32 + 3] == 200 and x[0, 1, 2, 3] == 200 and y[0] == 4


def test_truncated_file_names_the_file(tmp_path):
    make_folder(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DatasetError, match="data_batch_3"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize("entry, match", [
    ({"labels": [1]}, "expected a dict"),
    ({"data": np.zeros((2, 100), np.uint8), "labels": [1, 2]}, r"\[K, 3072\]"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [1]}, "labels"),
    ({"data": np.zeros((1, 3072), np.uint8), "labels": [12]}, "0..9"),
])
def test_malformed_content_is_rejected(tmp_path, entry, match):
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump(entry, f)
    with pytest.raises(DatasetError, match=match):
        read_batch(path)


def test_pickle_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Evil(), "labels": []}))
    with pytest.raises(DatasetError, match="refusing"):
        read_batch(path)


def test_missing_folder_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("ESPER_DATA_DIR", raising=False)
    with pytest.raises(DatasetError, match="ESPER_DATA_DIR"):
        load_cifar10(tmp_path / "nowhere")
    assert "torchvision" not in sys.modules  # offline failure never imports torchvision


def test_env_var_points_at_data(tmp_path, monkeypatch):
    make_folder(tmp_path)
    monkeypatch.setenv("ESPER_DATA_DIR", str(tmp_path))
    assert load_cifar10()[0].shape[0] == 35


def test_real_subset(subset_root):
    tx, ty, ex, ey = load_cifar10(subset_root)
    assert tx.shape == (5170, 3, 32, 32) and ex.shape == (1017, 3, 32, 32)
    assert set(ty.unique().tolist()) == set(range(10))
    assert 80 < tx.float().mean() < 160  # real photos, not blanks
    assert "torchvision" not in sys.modules


def test_splits_deterministic_and_disjoint():
    a_tr, a_va = split_indices(100, 60, 30, seed=3)
    b_tr, b_va = split_indices(100, 60, 30, seed=3)
    c_tr, _ = split_indices(100, 60, 30, seed=4)
    assert torch.equal(a_tr, b_tr) and torch.equal(a_va, b_va) and not torch.equal(a_tr, c_tr)
    assert len(a_tr) == 60 and len(a_va) == 30
    assert not set(a_tr.tolist()) & set(a_va.tolist())
    assert len(split_indices(100, None, 30, seed=0)[0]) == 70


def test_split_too_large_is_clear():
    with pytest.raises(DatasetError, match="lower the sizes"):
        split_indices(100, 90, 20, seed=0)


def test_validation_comes_from_training_images(subset_root):
    sp = load_splits("cifar10", train_size=1000, val_size=500, test_size=200, data_root=subset_root)
    train_rows = {bytes(r) for r in sp.train_x.flatten(1).numpy()}
    test_rows = {bytes(r) for r in sp.test_x.flatten(1).numpy()}
    val_rows = [bytes(r) for r in sp.val_x.flatten(1).numpy()]
    assert not (set(val_rows) & train_rows) and not (set(val_rows) & test_rows)
    assert len(sp.test_x) == 200


def test_crop_flip_shapes_and_ranges():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    out = random_crop_flip(x, g)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert not torch.equal(out, x)  # 16 images: some crop or flip happened
    padded = torch.nn.functional.pad(x.float(), (4,) * 4, mode="reflect").to(torch.uint8)
    for i in range(len(x)):  # every output is one crop of its reflect-padded input, flipped or not
        crops = [padded[i, :, dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(-1)) for c in crops), i


def test_crop_flip_is_a_shifted_window():
    # A constant image stays constant (reflect padding never invents values); a ramp shifts by <= 4.
    g = torch.Generator().manual_seed(1)
    ramp = torch.arange(32, dtype=torch.uint8).expand(8, 3, 32, 32).contiguous()
    out = random_crop_flip(ramp, g)
    rows = out[:, 0, 0].float()
    diffs = (rows[:, 1:] - rows[:, :-1]).abs()
    assert diffs.max() <= 1  # still a (possibly flipped, reflected) ramp, not scrambled pixels
    assert torch.equal(random_crop_flip(torch.full((4, 3, 32, 32), 7, dtype=torch.uint8), g).unique(),
                       torch.tensor([7], dtype=torch.uint8))


def test_loader_batches_normalised_and_reproducible():
    x = torch.randint(0, 256, (100, 3, 32, 32), dtype=torch.uint8)
    y = torch.arange(100) % 10

    def run(seed):
        loader = DeviceLoader(x, y, 32, train=True, generator=torch.Generator().manual_seed(seed))
        return list(loader)
    a, b, c = run(0), run(0), run(1)
    assert len(a) == 3 and a[0][0].shape == (32, 3, 32, 32) and a[0][0].dtype == torch.float32
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))
    assert not torch.equal(a[0][1], c[0][1])
    assert -3 < a[0][0].mean() < 3 and a[0][0].abs().max() < 3.5
    evald = list(DeviceLoader(x, y, 32, train=False))
    assert len(evald) == 4 and torch.equal(torch.cat([e[1] for e in evald]), y)


def test_synthetic_deterministic_and_prefix_stable():
    x1, y1 = generate(1200, seed=0)
    x2, y2 = generate(1500, seed=0)
    x3, _ = generate(1200, seed=1)
    assert x1.dtype == np.uint8 and x1.shape == (1200, 3, 32, 32)
    np.testing.assert_array_equal(x1, x2[:1200])
    np.testing.assert_array_equal(y1, y2[:1200])
    assert not np.array_equal(x1, x3)
    assert np.bincount(y1[:1000]).tolist() == [100] * 10


def test_synthetic_cache_round_trip(tmp_path):
    a = load_synthetic(300, 100, seed=2, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    b = load_synthetic(300, 100, seed=2, cache_dir=tmp_path)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    # A damaged cache file is regenerated, not fatal.
    for f in tmp_path.glob("*.npz"):
        f.write_bytes(b"junk")
    c = load_synthetic(300, 100, seed=2, cache_dir=tmp_path)
    assert all(torch.equal(p, q) for p, q in zip(a, c))


def test_atomic_path_replaces_whole_file_with_normal_permissions(tmp_path):
    import os

    from esper_env.fileio import atomic_path
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]  # no debris
    with atomic_path(target) as tmp:
        open(tmp, "wb").write(b"new")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_bytes() == b"new" and (target.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_resize_averages_areas_and_keeps_uint8():
    from esper_env.data import resize

    x = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    x[..., ::2, ::2] = 200  # one pixel in four
    y = resize(x, 16)
    assert y.dtype == torch.uint8 and y.shape == (1, 3, 16, 16) and bool((y == 50).all())
    assert resize(x, 32) is x


def test_image_size_downsamples_every_image_and_the_flops_follow():
    import gymnasium as gym

    import esper_env  # noqa: F401
    from esper_env.config import ConfigError

    small = dict(train_size=128, val_size=64, test_size=64, max_epochs=2)
    envs = {s: gym.make("Esper-Tiny-v0", image_size=s, **small).unwrapped for s in (32, 16)}
    for s, env in envs.items():
        assert env.pool.train_x.shape[-2:] == (s, s) and env.pool.test_x.shape[-2:] == (s, s)
        env.reset(seed=0)
        _, _, _, _, info = env.step(0)
        assert info["report"].val_accuracy >= 0
    assert envs[16].train_loader.pad == 2 and envs[32].train_loader.pad == 4
    f32, f16 = (envs[s].model.flops_per_image() for s in (32, 16))
    assert 3.5 < f32 / f16 < 4.5  # convolutions scale with the pixels; the head does not
    with pytest.raises(ConfigError, match="image_size"):
        gym.make("Esper-Tiny-v0", image_size=12, **small)
