"""OOD image folders under ``--data-mode stream`` (issue 22): ``extract`` and ``evaluate``
decode them batch by batch and score them chunk by chunk, and give the numbers of the
in-memory path."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from energy_ood.cli.main import main
from energy_ood.evaluate import scoring


def _png(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A run trained on 150 digits (8x8 PNG class folders) and an OOD folder of 70 images."""
    root = tmp_path_factory.mktemp("streamed")
    d = load_digits()
    x = np.rint(d.images[:150] * (255 / 16)).astype(np.uint8)
    for i, (a, c) in enumerate(zip(x, d.target[:150])):
        (root / "id" / f"c{c}").mkdir(parents=True, exist_ok=True)
        (root / "id" / f"c{c}" / f"{i:03d}.png").write_bytes(_png(a))
    (root / "ood").mkdir()
    rng = np.random.default_rng(0)
    for i in range(70):
        (root / "ood" / f"{i:02d}.png").write_bytes(_png(rng.integers(0, 255, (8, 8), np.uint8)))
    train = ["--quiet", "train", "--dataset", str(root / "id"), "--epochs", "1"]
    assert main([*train, "--batch-size", "32", "--out", str(root / "run")]) == 0
    return root


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("ENERGY_OOD_WORKERS", "0")
    monkeypatch.setenv("ENERGY_OOD_CACHE", str(tmp_path / "cache"))


def test_extract_streams_an_ood_folder_into_npy_files(world, tmp_path):
    out = {}
    for mode in ("memory", "stream"):
        argv = ["--quiet", "extract", "--run-dir", str(world / "run"), "--set",
                f"mine={world / 'ood'}", "--data-mode", mode, "--batch-size", "16", "--chunk",
                "2", "--out", str(tmp_path / mode)]  # fmt: skip
        assert main(argv) == 0
        out[mode] = {k: np.load(tmp_path / mode / f"mine.{k}.npy") for k in ("logits", "features")}
    for k in ("logits", "features"):
        assert out["stream"][k].shape[0] == 70
        assert np.array_equal(out["stream"][k], out["memory"][k])  # 5 chunks of 32, in order


def test_evaluate_scores_a_streamed_folder_chunk_by_chunk(world, tmp_path, monkeypatch):
    monkeypatch.setattr(scoring, "STREAM_ROWS", 24)  # 70 OOD images: chunks of 24, 24, 22
    calls = []
    real = scoring.ScoredModel.stream_scores

    def spy(self, name, scorers):
        calls.append(name)
        return real(self, name, scorers)

    monkeypatch.setattr(scoring.ScoredModel, "stream_scores", spy)
    res = {}
    for mode in ("memory", "stream"):
        path = tmp_path / f"{mode}.npz"
        argv = ["--quiet", "evaluate", "--run-dir", str(world / "run"), "--ood",
                f"mine={world / 'ood'}", "--score", "energy,mahalanobis,knn", "--data-mode",
                mode, "--save-scores", str(path), "--json",
                str(tmp_path / f"{mode}.json")]  # fmt: skip
        assert main(argv) == 0
        res[mode] = dict(np.load(path))
        res[mode + "_metrics"] = json.loads((tmp_path / f"{mode}.json").read_text())
    assert "mine" in calls  # the stream run scored the folder chunk by chunk
    assert res["stream"].keys() == res["memory"].keys()
    for k in res["memory"]:
        np.testing.assert_allclose(res["stream"][k], res["memory"][k], rtol=1e-5, atol=1e-6)
