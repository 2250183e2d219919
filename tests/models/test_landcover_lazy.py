"""The land-cover weights load without torch; torch comes in when the network first runs."""

from __future__ import annotations

import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tiandi.errors import ModelError
from tiandi.models._archive import load_plain
from tiandi.models.landcover import DEFAULT_WEIGHTS, load_landcover
from tiandi.models.landcover_net import LandCoverNet
from tiandi.models.landcover_spec import state_shapes

WEIGHTS = sorted(DEFAULT_WEIGHTS.parent.glob("*.pt"))


def _same(plain: object, loaded: object) -> None:
    if isinstance(loaded, torch.Tensor):
        assert isinstance(plain, np.ndarray)
        assert plain.shape == tuple(loaded.shape) and plain.dtype == loaded.numpy().dtype
        assert np.array_equal(plain, loaded.numpy())
    elif isinstance(loaded, dict):
        assert isinstance(plain, dict) and list(plain) == list(loaded)
        for key in loaded:
            _same(plain[key], loaded[key])
    elif isinstance(loaded, list | tuple):
        assert type(plain) is type(loaded) and len(plain) == len(loaded)
        for a, b in zip(plain, loaded, strict=True):
            _same(a, b)
    else:
        assert plain == loaded


@pytest.mark.parametrize("path", WEIGHTS, ids=[p.stem for p in WEIGHTS])
def test_plain_reader_gives_what_torch_load_gives(path: Path) -> None:
    _same(load_plain(path), torch.load(path, map_location="cpu", weights_only=True))


def test_plain_reader_refuses_code(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"format": "tiandi.landcover-weights/1", "x": Path("/")}, evil)
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        load_plain(evil)
    with pytest.raises(ModelError, match="other than plain tensors"):
        load_landcover(evil)
    with pytest.raises(zipfile.BadZipFile):
        load_plain(Path(__file__))


def test_plain_reader_refuses_a_tensor_past_its_storage(tmp_path: Path) -> None:
    """A crafted size must not read memory outside the storage (as_strided checks nothing)."""
    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(4)}, good)
    bad = tmp_path / "bad.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                # the size tuple (4,) as pickled: BININT1 4, TUPLE1 -> (4096,) with BININT2
                assert data.count(b"K\x04\x85") == 1
                data = data.replace(b"K\x04\x85", b"M\x00\x10\x85")
            dst.writestr(info, data)
    with pytest.raises(pickle.UnpicklingError, match="past its storage"):
        load_plain(bad)


def test_shapes_follow_the_network_and_wrong_shapes_name_the_tensor(tmp_path: Path) -> None:
    for hidden in [(64, 64), (32,), (16, 8, 4)]:
        net = LandCoverNet(hidden=hidden)
        assert state_shapes(hidden) == {k: tuple(v.shape) for k, v in net.state_dict().items()}
    payload = torch.load(DEFAULT_WEIGHTS, map_location="cpu", weights_only=True)
    payload["state_dict"]["mlp.3.weight"] = torch.zeros(64, 32)
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    with pytest.raises(ModelError, match=r"bad\.pt.*'mlp\.3\.weight' has shape \[64, 32\]"):
        load_landcover(bad)


def test_lazy_net_predicts_as_the_torch_loaded_net_and_pickles() -> None:
    model = load_landcover()
    payload = torch.load(DEFAULT_WEIGHTS, map_location="cpu", weights_only=True)
    net = LandCoverNet(**payload["config"])
    net.load_state_dict(payload["state_dict"])
    net.eval()
    x = np.random.default_rng(0).uniform(0, 0.5, (6, 4096)).astype(np.float32)
    again = pickle.loads(pickle.dumps(model))  # Dask workers get it pickled
    probs = model.predict_proba(x)
    for key, tensor in net.state_dict().items():
        assert torch.equal(tensor, model.net.state_dict()[key])
    assert np.array_equal(again.predict_proba(x), probs)
    assert np.allclose(probs.sum(axis=0), 1.0, atol=1e-5)


def test_flow_imports_and_loads_its_models_without_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "import tiandi.flows.detect_changes\n"
        "from tiandi.models.landcover import load_landcover\n"
        "from tiandi.models.registry import load_detector\n"
        "m = load_landcover(); load_detector('baseline')\n"
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)\n"
        "m.predict_proba(np.full((6, 2), 0.1, np.float32))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["False", "False", "True"]
