"""Agreement of energy-ood's scorers with pytorch-ood 0.4.0's detectors, method by method, on the
same inputs.

For every method both libraries implement, both run on the same seeded inputs (images of a tiny
trained conv net, its feature maps, pooled features, logits; ``_agreement_world``) and the table
says how their scores compare:

* pytorch-ood returns OUTLIER scores (higher = OOD), energy-ood ID-ness (higher = ID): the
  comparison maps theirs first (``-theirs``, or ``-c * theirs`` where pytorch-ood scales the
  score, e.g. GEN's mean instead of a sum, Mahalanobis's 0.5 d^2 with a summed covariance);
* "same numbers": the normwise relative difference ``max|ours - mapped| / max|mapped|`` is at
  most 1e-5 (issue 11's tolerance);
* "same ranking": where the two conventions differ by a monotone map, ours and theirs rank the
  rows identically (Spearman correlation 1);
* anything else is printed as measured, with the reason in the note.

Runs on the CPU in well under a minute (no timing is taken; the load of the machine does not
matter). Needs ``.venv-bench`` (``bash benchmarks/setup_bench_env.sh``):

    .venv-bench/bin/python benchmarks/bench_agreement.py
    .venv-bench/bin/python benchmarks/bench_agreement.py --quick   # smaller splits
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _agreement_world as W  # noqa: E402
import _baselines as B  # noqa: E402

TOL = 1e-5
VIM_DIMS = (3, 11)  # principal dimensions: at a wide eigengap of these features, a narrow one
EPS_ODIN, T_ODIN, EPS_MAHA = 0.0014, 1000.0, 0.002
GEN_M_SMALL = 5


@dataclass
class Row:
    method: str  # energy-ood name
    pood: str  # pytorch-ood class
    comparison: str
    result: str
    verdict: str  # "same numbers" | "same ranking" | "differs" | "error"
    note: str = ""


def _np(t) -> np.ndarray:
    return t.detach().double().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def compare(method, pood, ours, mapped, comparison, note="", rank_map=None) -> Row:
    """Row for ours vs pytorch-ood's score after the convention map. ``rank_map`` names the
    monotone map when only the ranking can agree; the numbers are reported all the same."""
    ours, mapped = _np(ours), _np(mapped)
    rel = W.rel_err(ours, mapped)
    order = W.same_order(ours, mapped)
    rho_s = "1 (identical ordering)" if order else f"{W.spearman(ours, mapped):.9f}"
    if rel <= TOL:
        return Row(method, pood, comparison, f"max rel. diff {rel:.1e}", "same numbers", note)
    if order and rank_map:
        res = f"Spearman {rho_s}; max rel. diff {rel:.1e}"
        return Row(method, pood, comparison, res, "same ranking", f"{rank_map}. {note}".strip())
    res = f"max rel. diff {rel:.1e}; Spearman {rho_s}"
    return Row(method, pood, comparison, res, "differs", note)


def ours(name: str, **params):
    from energy_ood.score import create_scorer

    return create_scorer(name, **params)


# every pytorch-ood 0.4.0 detector compared here -> its module in pytorch_ood.detector
POOD_DETECTORS = {
    "ASH": "ash",
    "DICE": "dice",
    "EnergyBased": "energy",
    "Entropy": "entropy",
    "fDBD": "fdbd",
    "GEN": "gen",
    "GradNorm": "gradnorm",
    "KLMatching": "klmatching",
    "KNN": "knn",
    "Mahalanobis": "mahalanobis",
    "MahalanobisODIN": "mahalanobis",
    "MaxLogit": "maxlogit",
    "MaxSoftmax": "softmax",
    "MCM": "mcm",
    "NNGuide": "nnguide",
    "ODIN": "odin",
    "RankFeat": "rankfeat",
    "ReAct": "react",
    "SCALE": "scale",
    "SHE": "she",
    "TemperatureScaling": "tscaling",
    "ViM": "vim",
    "WeightedEBO": "webo",
}


def det(cls: str) -> type:
    return B.pood_detector(POOD_DETECTORS[cls], cls)


def score(scorer, x) -> np.ndarray:
    return np.asarray(scorer.score(x), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# logits
# ---------------------------------------------------------------------------------------------
def check_msp(w):
    theirs = det("MaxSoftmax")(None).predict_logits(w.logits_test)
    return [
        compare("msp", "MaxSoftmax", score(ours("msp"), w.logits_test), -theirs, "ours vs -theirs")
    ]


def check_maxlogit(w):
    theirs = det("MaxLogit")(None).predict_logits(w.logits_test)
    return [
        compare("maxlogit", "MaxLogit", score(ours("maxlogit"), w.logits_test), -theirs,
                "ours vs -theirs")
    ]  # fmt: skip


def check_energy(w):
    rows = []
    for t in (1.0, 10.0):
        theirs = det("EnergyBased")(None, t=t).predict_logits(w.logits_test)
        s = score(ours("energy", T=t), w.logits_test)
        rows.append(compare(f"energy (T={t:g})", "EnergyBased", s, -theirs, "ours vs -theirs"))
    return rows


def _unclipped(logits: torch.Tensor, lo: float, hi: float) -> np.ndarray:
    p = logits.double().softmax(1)
    return ((p >= lo) & (p <= hi)).all(1).numpy()


def clipped(method, pood, s, mapped, keep, comparison, clip, rank_map=None) -> list[Row]:
    """Rows for a detector that clamps probabilities (``clip`` says how): all rows, and, when
    they are not the same numbers, the rows the clamp leaves alone."""
    everything = compare(method, pood, s, mapped, f"{comparison}, all rows", clip, rank_map)
    if everything.verdict == "same numbers":
        everything.note = f"{clip}; on these inputs its effect stays below the tolerance"
        return [everything]
    part = compare(
        method, pood, s[keep], mapped[keep],
        f"{comparison} on the {keep.sum()} of {keep.size} rows that no clamp touches",
        "the same formula where the clamp does not act",
    )  # fmt: skip
    return [part, everything]


def check_entropy(w):
    theirs = _np(det("Entropy")(None).predict_logits(w.logits_test))
    s = score(ours("entropy"), w.logits_test)
    keep = _unclipped(w.logits_test, 1e-7, 1.0)
    clip = "pytorch-ood clips p to [1e-7, 1] before the log (we take 0 log 0 = 0)"
    return clipped("entropy", "Entropy", s, -theirs, keep, "ours vs -theirs", clip)


def check_gen(w):
    rows = []
    keep = _unclipped(w.logits_test, 1e-7, 1 - 1e-7)
    for m in (None, GEN_M_SMALL):
        theirs = _np(det("GEN")(None, gamma=0.1, M=m).predict_logits(w.logits_test))
        mm = W.K if m is None else m
        s = score(ours("gen", gamma=0.1, M=mm), w.logits_test)
        clip = (
            f"pytorch-ood averages the M terms (we sum them, as the authors' code: x {mm}) and "
            "clamps p to [1e-7, 1 - 1e-7]; p^0.1 magnifies the clamp (1e-16^0.1 = 0.025, "
            "1e-7^0.1 = 0.2)"
        )
        rows += clipped(f"gen (gamma=0.1, M={mm})", f"GEN(gamma=0.1, M={m})", s, -mm * theirs,
                        keep, f"ours vs -{mm} * theirs", clip)  # fmt: skip
    return rows


def _nll(logits: torch.Tensor, y: torch.Tensor, t: float) -> float:
    return float(torch.nn.functional.cross_entropy(logits.double() / t, y))


def check_temp_scaling(w):
    ts = ours("temp_scaling").fit(w.logits_val, w.y_val)
    t_ours = float(ts.temperature)
    d = det("TemperatureScaling")(None).fit_logits(w.logits_val, w.y_val)
    t_theirs = d.t.detach().item()
    nll = {t: _nll(w.logits_val, w.y_val, t) for t in (t_ours, t_theirs)}
    around = min(_nll(w.logits_val, w.y_val, t_ours * f) for f in (0.999, 1.001))
    s = score(ts, w.logits_test)
    with torch.no_grad():
        own = _np(d.predict_logits(w.logits_test))
        d.t.fill_(t_ours)
        same_t = _np(d.predict_logits(w.logits_test))
    same = abs(t_ours - t_theirs) <= TOL * abs(t_ours)
    fit = Row(
        "temp_scaling (the fit)", "TemperatureScaling.fit_logits", "fitted T, validation NLL",
        f"T: ours {t_ours:.6g}, theirs {t_theirs:.6g}; NLL: ours {nll[t_ours]:.8f}, theirs "
        f"{nll[t_theirs]:.8f}",
        "same numbers" if same else "differs",
        "ours: bounded 1-D search of the NLL over log(1/T) (convex); theirs: L-BFGS, lr 0.01, "
        "50 iterations, from T = 1. NLL at our T x (1 +- 0.001): "
        f"{around:.8f} ({'higher: a minimum' if around >= nll[t_ours] else 'LOWER'})",
    )  # fmt: skip
    rows = [
        compare("temp_scaling", "TemperatureScaling", s, -same_t,
                "ours vs -theirs, their T set to ours", "the score once T is the same"),
        fit,
    ]  # fmt: skip
    if not same:
        rows.append(compare("temp_scaling", "TemperatureScaling (own fit)", s, -own,
                            "ours vs -theirs, each with its own T",
                            "MSP at another T ranks the samples differently"))  # fmt: skip
    return rows


def check_kl_matching(w):
    kl = ours("kl_matching").fit(w.logits_val)
    d = det("KLMatching")(None).fit_logits(w.logits_val)
    s = score(kl, w.logits_test)
    theirs = _np(d.predict_logits(w.logits_test))
    # ours: KL to the template of the predicted class; theirs: the smallest KL over all
    # templates, so -ours >= theirs on every row, with equality where the predicted class's
    # template is the closest
    gap = -s - theirs
    same = np.abs(gap) <= TOL * np.max(np.abs(theirs))
    note = (
        f"ours: KL(p || d_yhat), the template of the predicted class (SPEC section 7); "
        f"pytorch-ood 0.4 (and OpenOOD): min_k KL(p || d_k) over all templates. Equal on "
        f"{same.sum()} of {same.size} rows, -ours >= theirs on every row: "
        f"{bool((gap >= -TOL * np.max(np.abs(theirs))).all())}"
    )
    return [
        compare("kl_matching", "KLMatching", s[same], -theirs[same],
                f"ours vs -theirs on the {same.sum()} rows where d_yhat is the closest template",
                "the same formula where both pick the same template"),
        compare("kl_matching", "KLMatching", s, -theirs, "ours vs -theirs, all rows", note),
    ]  # fmt: skip


def check_weighted_ebo(w):
    g = torch.Generator().manual_seed(11)
    cw = torch.randn(W.K, generator=g)  # some negative: both take relu(w)
    theirs = det("WeightedEBO")(None, cw).predict_logits(w.logits_test)
    s = score(ours("weighted_ebo").fit(class_weights=cw), w.logits_test)
    return [compare("weighted_ebo", "WeightedEBO", s, -theirs, "ours vs -theirs",
                    f"{int((cw <= 0).sum())} of {W.K} class weights <= 0 (relu)")]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# features (and the final layer)
# ---------------------------------------------------------------------------------------------
def _head_fn(net):
    return lambda maps: net.fc(maps.flatten(1))


def _maps(h: torch.Tensor) -> torch.Tensor:
    """Pooled features as (n, C, 1, 1): pytorch-ood's shapings take 4-D maps and flatten them."""
    return h[:, :, None, None]


def check_mahalanobis(w):
    m = ours("mahalanobis", ridge=0.0).fit(w.h_fit, w.y_fit)
    d = det("Mahalanobis")(None).fit_features(w.h_fit, w.y_fit)
    n = w.h_fit.shape[0]
    theirs = _np(d.predict_features(w.h_test))
    return [compare(
        "mahalanobis", "Mahalanobis", score(m, w.h_test), -2 * n * theirs,
        f"ours (-min d^2) vs -2N * theirs, N = {n}",
        "pytorch-ood returns 0.5 d^2 with the covariance summed over the N samples (not "
        "averaged) plus 1e-6 I, inverted in float32; ours: averaged, Cholesky in float64 "
        "(ridge 0 here)",
    )]  # fmt: skip


def check_knn(w):
    k = ours("knn", k=50).fit(w.h_fit)
    d = det("KNN")(None, k=50).fit_features(w.h_fit, torch.zeros(len(w.h_fit)))
    theirs = _np(d.predict_features(w.h_test))
    s = score(k, w.h_test)
    # the exact k-th distance, float64 and without the 2 - 2 q.b expansion, to say whose it is
    unit = torch.nn.functional.normalize
    exact = torch.cdist(
        unit(w.h_test.double(), dim=1),
        unit(w.h_fit.double(), dim=1),
        compute_mode="donot_use_mm_for_euclid_dist",
    )
    exact = _np(exact.kthvalue(50, dim=1).values)
    note = (
        f"against the exact float64 k-th distance: ours {W.rel_err(-s, exact):.1e}, theirs "
        f"{W.rel_err(theirs, exact):.1e}. Our search ({k.backend_}) runs in float32 on inner "
        "products, d = sqrt(2 - 2 q.b): absolute error about eps32 / d, largest for the "
        f"nearest rows (smallest k-th distance here {exact.min():.3g}, largest {exact.max():.3g})"
    )
    return [compare("knn (k=50)", "KNN (scikit-learn)", s, -theirs,
                    "ours (-k-th distance) vs -theirs", note)]  # fmt: skip


def check_vim(w):
    fc, rows = w.net.fc, []
    for dim in VIM_DIMS:
        v = ours("vim", dim=dim).fit(w.h_fit, head=fc)
        d = det("ViM")(None, d=dim, w=fc.weight, b=fc.bias)
        d.fit_features(w.h_fit, w.y_fit)
        theirs = _np(d.predict_features(w.h_test))
        ev = _spectrum(w.h_fit - v.origin)
        note = (
            f"alpha: ours {float(v.alpha):.7g}, theirs {d.alpha:.7g}. Eigenvalues of the "
            f"shifted features around the split: {ev[dim - 1]:.3g} | {ev[dim]:.3g} (largest "
            f"{ev[0]:.3g}); ours fits in float64, pytorch-ood in float32, whose subspace moves "
            f"by about eps32 x largest / gap = {2**-24 * ev[0] / (ev[dim - 1] - ev[dim]):.1e}"
        )
        rows.append(compare(f"vim (dim={dim})", f"ViM(d={dim})", score(v, w.h_test), -theirs,
                            "ours vs -theirs", note))  # fmt: skip
    return rows


def _spectrum(x: torch.Tensor) -> np.ndarray:
    """Eigenvalues (descending) of the uncentred second moment of ``x``, in float64."""
    x = x.double()
    return torch.linalg.eigvalsh(x.T @ x / x.shape[0]).flip(0).numpy()


def check_react(w):
    fc = w.net.fc
    r = ours("react", percentile=90).fit(w.h_fit, head=fc)
    d = det("ReAct")(None, _head_fn(w.net), percentile=0.9)
    d.fit_feature_maps(_maps(w.h_fit), w.y_fit)
    theirs = _np(d.predict_feature_maps(_maps(w.h_test)))
    note = f"threshold: ours {float(r.threshold):.7g}, theirs {d.threshold:.7g}"
    return [compare("react (90th percentile, energy)", "ReAct(percentile=0.9)",
                    score(r, w.h_test), -theirs, "ours vs -theirs", note)]  # fmt: skip


def check_ash(w):
    rows = []
    for v in ("ash_p", "ash_b", "ash_s"):
        s = score(ours(v, percentile=90).fit(head=w.net.fc), w.h_test)
        d = det("ASH")(None, _head_fn(w.net), variant=v.replace("_", "-"), percentile=0.9)
        theirs = _np(d.predict_feature_maps(_maps(w.h_test)))
        name = f"ASH('{v.replace('_', '-')}', 0.9)"
        how = "ours vs -theirs on (n, C, 1, 1) pooled features"
        rows.append(compare(f"{v} (90, energy)", name, s, -theirs, how))
    return rows


def check_scale(w):
    s = score(ours("scale", percentile=85).fit(head=w.net.fc), w.h_test)
    d = det("SCALE")(None, _head_fn(w.net), percentile=0.85)
    theirs = _np(d.predict_feature_maps(_maps(w.h_test)))
    return [compare("scale (85, energy)", "SCALE(percentile=0.85)", s, -theirs,
                    "ours vs -theirs on (n, C, 1, 1) pooled features")]  # fmt: skip


def check_dice(w):
    fc = w.net.fc
    s = score(ours("dice", sparsity=90).fit(w.h_fit, head=fc), w.h_test)
    d = det("DICE")(None, fc.weight, fc.bias, p=0.9).fit_features(w.h_fit, w.y_fit)
    theirs = _np(d.predict_features(w.h_test))
    return [compare("dice (sparsity 90, energy)", "DICE(p=0.9)", s, -theirs, "ours vs -theirs")]


def check_she(w):
    fc = w.net.fc
    s = score(ours("she").fit(w.h_fit, w.y_fit, head=fc), w.h_test)
    d = det("SHE")(None, fc).fit_features(w.h_fit, w.y_fit)
    theirs = _np(d.predict_features(w.h_test))
    return [compare("she", "SHE", s, -theirs, "ours vs -theirs")]


def check_nnguide(w):
    fc = w.net.fc
    s = score(ours("nnguide", k=10).fit(w.h_fit, head=fc), w.h_test)
    d = det("NNGuide")(None, fc, k=10).fit_features(w.h_fit, w.y_fit)
    theirs = _np(d.predict_features(w.h_test))
    return [compare("nnguide (k=10)", "NNGuide(k=10)", s, -theirs, "ours vs -theirs",
                    "both: bank = unit features x energy, mean of the k largest inner "
                    "products")]  # fmt: skip


def check_fdbd(w):
    fc = w.net.fc
    s = score(ours("fdbd").fit(w.h_fit, head=fc), w.h_test)
    d = det("fDBD")(None, fc).fit_features(w.h_fit)
    theirs = _np(d.predict_features(w.h_test))
    return [compare("fdbd", "fDBD", s, -theirs, "ours vs -theirs")]


def check_gradnorm(w):
    s = score(ours("gradnorm").fit(head=w.net.fc), w.h_test)
    d = det("GradNorm")(w.net, param_filter=lambda n: n == "fc.weight")
    theirs = _np(d.predict(w.x_test))
    return [compare("gradnorm", "GradNorm (fc.weight)", s, -theirs,
                    "ours (closed form ||p - u||_1 ||h||_1) vs -theirs (per-sample autograd)",
                    "their loss is the cross-entropy to uniform averaged over the classes, the "
                    "KL up to a constant: the same gradient")]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# model inputs and vision-language
# ---------------------------------------------------------------------------------------------
def _step_note(plain: np.ndarray, stepped: np.ndarray) -> str:
    """How much the input step moved our scores: shows that the comparison exercises it."""
    return f"the step itself moves our scores by {W.rel_err(stepped, plain):.1e} (vs eps = 0)"


def check_odin(w):
    s = score(ours("odin", model=w.net, T=T_ODIN, eps=EPS_ODIN), w.x_test)
    plain = score(ours("odin", model=w.net, T=T_ODIN, eps=0.0), w.x_test)
    d = det("ODIN")(w.net, eps=EPS_ODIN, temperature=T_ODIN)
    theirs = _np(d.predict(w.x_test))
    return [compare(f"odin (T={T_ODIN:g}, eps={EPS_ODIN})", "ODIN", s, -theirs,
                    "ours vs -theirs on the images", _step_note(plain, s))]  # fmt: skip


def check_mahalanobis_pre(w):
    def fitted(eps):
        m = ours("mahalanobis_pre", eps=eps, ridge=0.0)
        return m.fit(w.h_fit, w.y_fit, model=w.net)

    s, plain = score(fitted(EPS_MAHA), w.x_test), score(fitted(0.0), w.x_test)
    d = det("MahalanobisODIN")(w.net.features, eps=EPS_MAHA)
    d.fit_features(w.h_fit, w.y_fit)
    n = w.h_fit.shape[0]
    theirs = _np(d.predict(w.x_test))
    return [compare(
        f"mahalanobis_pre (eps={EPS_MAHA})", "MahalanobisODIN", s, -2 * n * theirs,
        f"ours vs -2N * theirs on the images, N = {n}",
        "both step along the sign of the input gradient of the closest class's distance; "
        + _step_note(plain, s),
    )]  # fmt: skip


def check_rankfeat(w):
    s = score(ours("rankfeat", model=w.net, layer="act"), w.x_test)
    d = det("RankFeat")(w.net.maps, w.net.head)
    with torch.no_grad():
        theirs = _np(d.predict_feature_maps(w.net.maps(w.x_test)))
    return [
        compare(
            "rankfeat (energy)",
            "RankFeat",
            s,
            -theirs,
            "ours vs -theirs: rank-1 part of the 32 x 64 map removed, then pool + fc",
        )
    ]


def check_mcm(w):
    e = torch.nn.functional.normalize
    cos = e(w.img_emb, dim=1) @ e(w.text_emb, dim=1).T
    s = score(ours("mcm", tau=1.0), cos)
    theirs = det("MCM")(None, w.text_emb, temperature=1.0).predict_features(w.img_emb)
    return [compare("mcm (tau=1)", "MCM", s, -theirs,
                    "ours on the cosine matrix vs -theirs on the embeddings")]  # fmt: skip


CHECKS: list[Callable] = [
    check_msp, check_maxlogit, check_energy, check_entropy, check_gen, check_temp_scaling,
    check_kl_matching, check_weighted_ebo, check_mahalanobis, check_knn, check_vim, check_react,
    check_ash, check_scale, check_dice, check_she, check_nnguide, check_fdbd, check_gradnorm,
    check_odin, check_mahalanobis_pre, check_rankfeat, check_mcm,
]  # fmt: skip
NOT_IN_POOD = (
    "self_normalized_energy, residual, clip_msp, clip_energy, clip_maxlogit, delta_energy "
    "(pytorch-ood 0.4.0 has no detector for them)"
)


def run(world) -> list[Row]:
    rows = []
    for check in CHECKS:
        name = check.__name__[6:]
        try:
            rows.extend(check(world))
        except Exception as e:  # a failing check is a row, and the exit code says so
            rows.append(Row(name, "?", "-", f"{type(e).__name__}: {e}".splitlines()[0], "error"))
    return rows


def table(rows: list[Row]) -> str:
    out = ["| method (energy-ood) | pytorch-ood 0.4.0 | comparison | result | verdict | note |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        cells = (r.method, r.pood, r.comparison, r.result, f"**{r.verdict}**", r.note)
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="splits at 1/4 size")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the rows and the verdict counts here")
    a = p.parse_args()
    B.set_threads(a.threads)
    t0 = time.perf_counter()
    world = W.build(seed=a.seed, scale=0.25 if a.quick else 1.0)
    rows = run(world)
    print("### Agreement with pytorch-ood 0.4.0, method by method")
    print()
    print(f"Machine: {B.machine()}  ")
    print(f"Command: `{B.command_line()}`  ")
    n_test = world.x_test.shape[0]
    print(
        f"Inputs: seed {a.seed}; a tiny conv net (3x3 conv to {W.C} channels, Softplus, average "
        f"pooling, linear head to {W.K} classes) trained on {world.x_fit.shape[0]} seeded "
        f"images (test accuracy {world.accuracy:.1%}); fit split {world.x_fit.shape[0]}, "
        f"validation {world.x_val.shape[0]}, test {n_test} (ID and OOD). Same numbers: "
        f"max|ours - mapped| / max|mapped| <= {TOL:g}; same ranking: the rows in identical "
        "order (Spearman 1). "
        f"Run time {time.perf_counter() - t0:.0f} s."
    )
    print()
    print(table(rows))
    print()
    print(f"Not compared: {NOT_IN_POOD}.")
    counts = {v: sum(r.verdict == v for r in rows) for v in dict.fromkeys(r.verdict for r in rows)}
    print("Summary: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".")
    figs = [B.figure(f"agreement/{v}", n, "rows", f"rows: {v}") for v, n in counts.items()]
    B.write_json(a.json, [r.__dict__ for r in rows], None, figs)
    return 1 if counts.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
