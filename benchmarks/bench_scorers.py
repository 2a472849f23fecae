"""Speed of the scorers on precomputed logits / features, against the bare operation, the
machine's limit and pytorch-ood 0.4.0's detectors.

Tasks (sizes from the issue; ``--sizes task=rows`` changes them):

* ``logits``: every logit-kind scorer of the registry (energy, MSP, MaxLogit, entropy, GEN at
  M = K and M = 10, temperature scaling with a fitted T, KL-Matching with fitted templates,
  WeightedEBO with given class weights, the self-normalized energy) on (rows x 100) float32
  logits (default 1e6 rows), each against the bare torch expression it is made of (e.g.
  ``torch.logsumexp(x, 1)``; the list is in ``_logit_pairs.py``). energy-ood is timed through
  its real path, ``scorer.score(numpy float32)`` -> numpy; the bare expression runs on the same
  memory as a tensor, plus the ``.numpy()`` of its result. Target: <= 1.5x (issue 11), <= 1.2x
  for energy / MSP / MaxLogit (the earlier target). A check column shows that both compute the
  same numbers.
* ``similarity``: the vision-language scorers (MCM, CLIP MSP / energy / MaxLogit,
  Delta-Energy) the same way on (rows x 100) float32 cosine similarities (default 1e6 rows).
* ``maha``: Mahalanobis scoring of (rows x 128) float32 features (default 1e5), 10 classes,
  fitted beforehand on 5e4 features (fit not timed). vs pytorch-ood's ``Mahalanobis``
  (``fit_features`` / ``predict_features`` on the same tensors) and the limit: a Cholesky of
  the covariance and one (rows x 128) @ (128 x 128) product. Target: <= 0.1 s.
* ``knn``: KNN scoring of ``rows`` queries (default 1e4) against a 50k x 128 bank, k = 50
  (fit = normalising the bank and building the search index, not timed), with the default
  ``index="auto"`` (the row names the search it resolved to) and with each exhaustive backend
  forced (``faiss`` when installed, ``brute``; every backend side by side on more data and
  shapes: bench_knn.py). vs pytorch-ood's ``KNN`` (scikit-learn ``NearestNeighbors``,
  ``n_jobs=-1``) and the limit: the brute-force similarity product alone (queries @ bank.T,
  2 * rows * 5e4 * 128 flops, into a reused buffer, 1024 rows at a time). Target: <= 0.2 s.

Features are a 10-class Gaussian mixture with a shared random covariance (what penultimate
features look like to these scorers). Each (task, torch threads) pair runs in a fresh
subprocess that builds the data, warms every method up once, then times the methods
interleaved, best of ``--repeats``. Every method runs at each of ``--threads`` (torch intra-op
threads and BLAS/OpenMP pools via threadpoolctl); ratios compare methods at the same thread
count, and the summary uses the thread count that is best for energy-ood.

    .venv-bench/bin/python benchmarks/bench_scorers.py
    .venv-bench/bin/python benchmarks/bench_scorers.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _baselines as B  # noqa: E402
import _logit_pairs as P  # noqa: E402

DEFAULT_SIZES = {"logits": 1_000_000, "similarity": 1_000_000, "maha": 100_000, "knn": 10_000}
QUICK_SIZES = {"logits": 200_000, "similarity": 200_000, "maha": 20_000, "knn": 2_000}
N_CLASSES_LOGITS, DIM, N_CLASSES, N_FIT_MAHA, N_BANK, K = 100, 128, 10, 50_000, 50_000, 50
TARGETS = {"maha": 0.1, "knn": 0.2}
HAVE_POOD = B.available("pytorch_ood")
CHECK_ROWS = 2000  # rows of the agreement checks


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` x 128 float32 features from a 10-class mixture with a shared covariance."""
    rng = np.random.default_rng(1000)  # the same means and covariance for every call
    means = rng.normal(0.0, 2.0, size=(N_CLASSES, DIM)).astype(np.float32)
    mix = (rng.standard_normal((DIM, DIM)) / np.sqrt(DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, size=n)
    z = rng.standard_normal((n, DIM), dtype=np.float32) @ mix + means[y]
    return np.ascontiguousarray(z, dtype=np.float32), y


# ---------------------------------------------------------------------------------------------
# methods: name -> (description, callable); built inside the child
# ---------------------------------------------------------------------------------------------
def build_pairs(task: str, n: int) -> dict:
    """``ours:NAME`` (the scorer's real path, numpy in and out) and ``bare:NAME`` (its bare torch
    expression on the very same float32 memory, plus the ``.numpy()`` of the result)."""
    import torch

    x_np = P.INPUTS[task](n, N_CLASSES_LOGITS)
    x = torch.from_numpy(x_np)  # shares memory: the bare ops get the very same array
    m = {}
    for pair in P.PAIRS[task](N_CLASSES_LOGITS):
        m[f"ours:{pair.name}"] = (
            f"energy-ood `{pair.call}`",
            pair.scorer.score,
            x_np,
            {"target": pair.target},
        )
        m[f"bare:{pair.name}"] = (
            f"`{pair.bare}`",
            lambda t, fn=pair.fn: fn(t).numpy(),
            x,
            {},
        )
    return m


def build_logits(n: int) -> dict:
    return build_pairs("logits", n)


def build_similarity(n: int) -> dict:
    return build_pairs("similarity", n)


def build_maha(n: int) -> dict:
    import torch

    from energy_ood.score import create_scorer

    z_fit, y_fit = features(N_FIT_MAHA, seed=1)
    z_np, _ = features(n, seed=2)
    z = torch.from_numpy(z_np)
    ours = create_scorer("mahalanobis").fit(z_fit, y_fit)
    pood = None
    if HAVE_POOD:
        pood = B.pood_detector("mahalanobis")(None)
        pood.fit_features(torch.from_numpy(z_fit), torch.from_numpy(y_fit))
    # the limit: one Cholesky of the (tied) covariance and one product with the inverse factor
    zc = torch.from_numpy(z_fit).double()
    zc = zc - zc.mean(0)
    cov = (zc.T @ zc / zc.shape[0]).float()
    eye = torch.eye(DIM)

    def limit(t):
        L = torch.linalg.cholesky(cov)
        w = torch.linalg.solve_triangular(L, eye, upper=False)
        return t @ w.T

    m = {"ours": ("energy-ood `mahalanobis.score(np)`", ours.score, z_np)}
    if pood is not None:
        m["pood"] = ("pytorch-ood 0.4.0 `Mahalanobis.predict_features`", pood.predict_features, z)
    m["limit"] = ("limit: Cholesky + one (n x 128)(128 x 128) product", limit, z)
    return m


def maha_fit_and_stability(repeats: int) -> dict:
    """Fit times (ours, pytorch-ood; 5e4 x 128, 10 classes; interleaved, best of ``repeats``)
    and our score time on 1e5 rows after each of several workloads (best of ``repeats``
    each): max / min says how much what ran before moves it (target <= 1.2)."""
    import torch

    from energy_ood.score import create_scorer

    z_fit, y_fit = features(N_FIT_MAHA, seed=1)
    zt, yt = torch.from_numpy(z_fit), torch.from_numpy(y_fit)
    fits = {"ours": lambda: create_scorer("mahalanobis").fit(z_fit, y_fit)}
    if HAVE_POOD:
        cls = B.pood_detector("mahalanobis")
        fits["pood"] = lambda: cls(None).fit_features(zt, yt)
    fit_s = {k: float("inf") for k in fits}
    for _ in range(repeats + 1):  # the first round warms up
        for k, f in fits.items():
            fit_s[k] = min(fit_s[k], B.time_call(f)["seconds"])
    ours = fits["ours"]()
    q, _ = features(100_000, seed=2)
    knn = create_scorer("knn", index="brute").fit(features(20_000, seed=3)[0])
    th = torch.get_num_threads()

    def threads_dance():
        torch.set_num_threads(1)
        torch.mm(torch.ones(512, 512), torch.ones(512, 512))
        torch.set_num_threads(th)

    before = {
        "nothing": lambda: None,
        "a 100 MB allocation": lambda: np.ones(12_500_000).sum(),
        "a KNN search": lambda: knn.score(q[:2000]),
        "a thread-count change": threads_dance,
    }
    if HAVE_POOD:
        pood = fits["pood"]()
        before["pytorch-ood's predict"] = lambda: pood.predict_features(torch.from_numpy(q))
    after = {k: float("inf") for k in before}
    for _ in range(repeats):
        for k, f in before.items():
            f()
            after[k] = min(after[k], B.time_call(lambda: ours.score(q))["seconds"])
    return {"fit": fit_s, "score_after": after}


def maha_check(rows: np.ndarray, ours_d2: np.ndarray, pood: np.ndarray) -> dict:
    """Both libraries' squared distances on the first rows against float64 ones computed here
    (each with its own ridge), and how far our default ridge moves them."""
    import torch

    from energy_ood.score import create_scorer

    z_fit, y_fit = features(N_FIT_MAHA, seed=1)
    z = torch.from_numpy(rows).double()
    zf, yf = torch.from_numpy(z_fit).double(), torch.from_numpy(y_fit)
    mu = torch.stack([zf[yf == c].mean(0) for c in range(N_CLASSES)])
    cov = (zf - mu[yf]).T @ (zf - mu[yf]) / len(zf)
    ridge = create_scorer("mahalanobis").ridge
    eye = torch.eye(DIM, dtype=torch.float64)

    def exact(r: float) -> np.ndarray:
        prec = torch.linalg.inv(cov + r * cov.diagonal().mean() * eye)
        d = torch.stack([(((z - m) @ prec) * (z - m)).sum(1) for m in mu], 1)
        return d.amin(1).numpy()

    def rel(a, b):
        return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))

    ev = torch.linalg.eigvalsh(cov)
    with_ridge, without = exact(ridge), exact(0.0)
    return {
        "ours": rel(ours_d2, with_ridge),
        "pood": rel(2 * N_FIT_MAHA * pood, without),  # it returns 0.5 d^2 / N (Sigma summed)
        "ridge": ridge,
        "ridge_moves": rel(with_ridge, without),
        "eig_ratio": float(ev[0] / ev.mean()),
    }


def build_knn(n: int) -> dict:
    import torch

    from energy_ood.score import create_scorer

    bank_np, _ = features(N_BANK, seed=3)
    q_np, _ = features(n, seed=4)
    from energy_ood.score._knn_backends import faiss_available

    ours = create_scorer("knn", k=K).fit(bank_np)  # index="auto"
    brute = create_scorer("knn", k=K, index="brute").fit(bank_np)
    extra = {}
    if faiss_available():
        fa = create_scorer("knn", k=K, index="faiss").fit(bank_np)
        extra["faiss"] = (f"energy-ood `knn.score(np)` (k={K}, index='faiss')", fa.score, q_np)
    if HAVE_POOD:
        pood = B.pood_detector("knn")(None, k=K)
        pood.fit_features(torch.from_numpy(bank_np), torch.zeros(N_BANK, dtype=torch.long))
        extra["pood"] = (
            "pytorch-ood 0.4.0 `KNN.predict_features` (sklearn)",
            pood.predict_features,
            torch.from_numpy(q_np),
        )
    qn = torch.nn.functional.normalize(torch.from_numpy(q_np), dim=1)
    bn = brute.bank
    rows = 1024
    buf = torch.empty(rows, bn.shape[0])

    def limit(t):
        for i in range(0, t.shape[0], rows):
            part = t[i : i + rows]
            torch.mm(part, bn.T, out=buf[: part.shape[0]])
        return buf

    return {
        "ours": (
            f"energy-ood `knn.score(np)` (k={K}, index='auto': {ours.backend_}, exact)",
            ours.score,
            q_np,
        ),
        **extra,
        "brute": (f"energy-ood `knn.score(np)` (k={K}, index='brute')", brute.score, q_np),
        "limit": ("limit: the similarity product alone (2*n*5e4*128 flop)", limit, qn),
    }


BUILDERS = {
    "logits": build_logits,
    "similarity": build_similarity,
    "maha": build_maha,
    "knn": build_knn,
}
PAIR_TASKS = ("logits", "similarity")


def child(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    B.set_threads(a.threads)
    import torch

    methods = BUILDERS[a.task](a.n)
    out = {}
    for name, (d, _, _, *meta) in methods.items():
        out[name] = {
            "desc": d,
            "seconds": float("inf"),
            "peak_mb": 0.0,
            **(meta[0] if meta else {}),
        }
    with torch.no_grad():
        for _, fn, x, *_ in methods.values():  # warm-up: lazy init, thread pools, sklearn
            fn(x[:256])
        for _ in range(a.repeats):
            for name, (_, fn, x, *_) in methods.items():
                r = B.time_call(lambda fn=fn, x=x: fn(x))
                o = out[name]
                o["seconds"] = min(o["seconds"], r["seconds"])
                o["peak_mb"] = max(o["peak_mb"], r["peak_mb"])
    # agreement: our scores against pytorch-ood's (sign conventions differ)
    if a.task == "maha":
        out["fit_stability"] = maha_fit_and_stability(a.repeats)
    if a.task in ("maha", "knn") and HAVE_POOD:
        with torch.no_grad():
            ours = np.asarray(methods["ours"][1](methods["ours"][2][:CHECK_ROWS]), np.float64)
            pood = methods["pood"][1](methods["pood"][2][:CHECK_ROWS]).double().numpy()
        if a.task == "maha":
            out["check"] = maha_check(methods["ours"][2][:CHECK_ROWS], -ours, pood)
        else:  # ours: -distance; pytorch-ood: +distance
            out["check"] = float(np.max(np.abs(-ours - pood)))
    else:  # the bare expression computes the same numbers as the scorer (first 4096 rows)
        with torch.no_grad():
            for name in [k[5:] for k in methods if k.startswith("ours:")]:
                _, fo, xo, *_ = methods[f"ours:{name}"]
                _, fb, xb, *_ = methods[f"bare:{name}"]
                out[f"ours:{name}"]["check"] = P.max_rel_diff(fo(xo[:4096]), fb(xb[:4096]))
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# parent
# ---------------------------------------------------------------------------------------------
def parse_sizes(text: str, base: dict) -> dict:
    sizes = dict(base)
    for item in filter(None, text.split(",")):
        k, v = item.split("=")
        if k not in sizes:
            raise SystemExit(f"--sizes: unknown task {k!r}; tasks: {list(sizes)}")
        sizes[k] = int(float(v))
    return sizes


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="", help="task=rows,... e.g. logits=1e6,maha=1e5,knn=1e4")
    p.add_argument("--tasks", default="logits,similarity,maha,knn")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per method; best kept")
    p.add_argument("--threads", default="1,2", help="torch/BLAS thread counts to run at")
    p.add_argument("--quick", action="store_true", help="small sizes, 2 repeats")
    p.add_argument("--json", help="write the results, the report and its figures here")
    a = p.parse_args()
    base = QUICK_SIZES if a.quick else DEFAULT_SIZES
    if a.quick:
        a.repeats = min(a.repeats, 2)
    sizes = parse_sizes(a.sizes, base)
    tasks = [t for t in a.tasks.split(",") if t]
    threads = [int(t) for t in a.threads.split(",") if t]
    script = os.path.abspath(__file__)
    load0 = B.loadavg()
    res: dict = {}
    for t in tasks:
        for th in threads:
            args = [
                "--task",
                t,
                "--n",
                str(sizes[t]),
                "--threads",
                str(th),
                "--repeats",
                str(a.repeats),
            ]
            res[t, th] = B.measure_in_subprocess(script, args)
            print(f"  {t} threads={th} done", file=sys.stderr)
    a.load = f"{load0} before, {B.loadavg()} after"
    md = report(tasks, threads, sizes, res, a)
    print(md)
    B.write_json(a.json, {f"{t}|{th}": r for (t, th), r in res.items()}, md, figures(res))


def figures(res: dict) -> list[dict]:
    """Every timed method at every thread count, the Mahalanobis fit and score spread."""
    out = []
    for (t, th), r in res.items():
        for name, v in r.items():
            if isinstance(v, dict) and "seconds" in v:
                out.append(B.figure(f"scorers/{t}/{name}/{th}t", v["seconds"], "s",
                                    f"{v.get('desc', name)}, {t}, {th} thread(s)"))  # fmt: skip
        fsb = r.get("fit_stability")
        if fsb:
            for k, v in fsb["fit"].items():
                out.append(B.figure(f"scorers/maha/fit/{k}/{th}t", v, "s", f"maha fit {k}, {th}t"))
            after = fsb["score_after"]
            out.append(B.figure(f"scorers/maha/score_spread/{th}t",
                                max(after.values()) / min(after.values()), "x",
                                f"maha score max/min over prior workloads, {th}t"))  # fmt: skip
    return out


def _threads_label(th: int) -> str:
    return f"{th} thread{'s' * (th > 1)}"


def pair_table(t: str, threads: list[int], res: dict) -> tuple[list[str], list[str]]:
    """One row per scorer: its time and its bare expression's at each thread count, the ratio
    at the thread count that is best for energy-ood, the target, and the check that both
    compute the same numbers."""
    r0 = res[t, threads[0]]
    names = [k[5:] for k in r0 if k.startswith("ours:")]
    head = "| scorer | bare torch expression (+ `.numpy()`) | "
    head += " | ".join(f"ours, {_threads_label(th)} | bare, {_threads_label(th)}" for th in threads)
    head += " | ours / bare | target | max rel. diff |"
    lines = [head, "|---|---|" + "---:|---:|" * len(threads) + "---:|---|---:|"]
    verdicts = []
    for name in names:
        ours, bare = f"ours:{name}", f"bare:{name}"
        th = min(threads, key=lambda th: res[t, th][ours]["seconds"])
        ratio = res[t, th][ours]["seconds"] / res[t, th][bare]["seconds"]
        target = r0[ours]["target"]
        ok = "met" if ratio <= target else "NOT met"
        cells = [B.fmt_s(res[t, k][m]["seconds"]) for k in threads for m in (ours, bare)]
        lines.append(
            f"| {r0[ours]['desc']} | {r0[bare]['desc']} | "
            + " | ".join(cells)
            + f" | {ratio:.2f}x (at {th}) | <= {target}x: {ok} | {r0[ours]['check']:.1e} |"
        )
        verdicts.append(
            f"- {name}: {ratio:.2f}x its bare torch ops (at {th} thread(s)), target <= "
            f"{target}x: {ok}"
        )
    return lines, verdicts


def method_table(t: str, threads: list[int], res: dict) -> tuple[list[str], list[str]]:
    """Rows of methods against energy-ood (maha, knn), the agreement with pytorch-ood and the
    target verdict."""
    lines = [
        "| method | "
        + " | ".join(_threads_label(th) for th in threads)
        + " | ratio to energy-ood (best thread count) |",
        "|---|" + "---:|" * (len(threads) + 1),
    ]
    names = [k for k in res[t, threads[0]] if k not in ("check", "fit_stability")]
    best_th = {}
    for name in names:
        best_th[name] = min(threads, key=lambda th: res[t, th][name]["seconds"])
    for name in names:
        desc = res[t, threads[0]][name]["desc"]
        cells = [B.fmt_s(res[t, th][name]["seconds"]) for th in threads]
        if name == "ours":
            ratio = "1x"
        else:  # side by side: both at the thread count that is best for energy-ood
            th = best_th["ours"]
            ratio = (
                B.fmt_ratio(res[t, th][name]["seconds"] / res[t, th]["ours"]["seconds"])
                + f" (at {th})"
            )
        lines.append(f"| {desc} | " + " | ".join(cells) + f" | {ratio} |")
    lines.append("")
    if "check" in res[t, threads[0]]:
        c = res[t, threads[0]]["check"]
        if t == "maha":
            lines.append(
                f"Agreement (first {CHECK_ROWS} rows; max relative error of the squared "
                f"distances against float64 ones with the same ridge): energy-ood {c['ours']:.1e}"
                f", pytorch-ood {c['pood']:.1e}. Our default ridge ({c['ridge']:g} x the mean "
                f"variance) moves the distances by {c['ridge_moves']:.1e} here: the covariance's "
                f"smallest eigenvalue is {c['eig_ratio']:.1e} x its mean.  "
            )
        else:
            lines.append(f"Agreement: max |our k-th distance - pytorch-ood's| = {c:.1e}  ")
    th = best_th["ours"]
    s = res[t, th]["ours"]["seconds"]
    lim = res[t, th]["limit"]["seconds"]
    pd = res[t, th].get("pood", {}).get("seconds")
    verdict = (
        f"- {t}: {B.fmt_s(s)} (target <= {TARGETS[t]} s: "
        f"{'met' if s <= TARGETS[t] else 'NOT met'}); "
        + (f"{pd / s:.1f}x pytorch-ood; " if pd else "")
        + f"{s / lim:.2f}x the limit ({B.fmt_s(lim)}) at {th} thread(s)"
    )
    verdicts = [verdict]
    if t == "maha":
        more, v = fit_stability_lines(threads, res)
        lines += more
        verdicts += v
    return lines, verdicts


def fit_stability_lines(threads: list[int], res: dict) -> tuple[list[str], list[str]]:
    """The Mahalanobis fit against pytorch-ood's and the score after other workloads."""
    lines = ["", f"**Mahalanobis fit ({N_FIT_MAHA:.0e} x {DIM}, {N_CLASSES} classes) and score "
             f"({100_000:.0e} rows) after other work**", ""]  # fmt: skip
    lines.append("| | " + " | ".join(_threads_label(th) for th in threads) + " |")
    lines.append("|---|" + "---:|" * len(threads))
    fs = {th: res["maha", th]["fit_stability"] for th in threads}
    first = fs[threads[0]]
    for k in first["fit"]:
        who = "energy-ood" if k == "ours" else "pytorch-ood 0.4.0"
        lines.append(
            f"| {who} fit | " + " | ".join(B.fmt_s(fs[th]["fit"][k]) for th in threads) + " |"
        )
    for k in first["score_after"]:
        cells = " | ".join(B.fmt_s(fs[th]["score_after"][k]) for th in threads)
        lines.append(f"| energy-ood score after {k} | {cells} |")
    verdicts = []
    for th in threads:
        f, after = fs[th]["fit"], fs[th]["score_after"]
        if "pood" in f:
            x = f["ours"] / f["pood"]
            verdicts.append(f"- maha fit at {th} thread(s): {x:.2f}x pytorch-ood's "
                            f"(target <= 1x: {'met' if x <= 1 else 'NOT met'})")  # fmt: skip
        spread = max(after.values()) / min(after.values())
        verdicts.append(f"- maha score spread at {th} thread(s): max / min = {spread:.2f} "
                        f"(target <= 1.2: {'met' if spread <= 1.2 else 'NOT met'})")  # fmt: skip
    return lines, verdicts


def report(tasks, threads, sizes, res, a) -> str:
    out = ["### Scorers on precomputed logits / features", ""]
    out.append(f"Machine: {B.machine()}  ")
    out.append(f"Command: `{B.command_line()}`  ")
    out.append(
        f"Best of {a.repeats} timed calls per method, methods interleaved, one subprocess per "
        f"(task, threads). Load average (1/5/15 min): {a.load}."
    )
    out.append("")
    verdicts = []
    for t in tasks:
        n = sizes[t]
        title = {
            "logits": f"{n:.0e} x {N_CLASSES_LOGITS} float32 logits: every logit scorer against "
            "the bare torch ops it is made of",
            "similarity": f"{n:.0e} x {N_CLASSES_LOGITS} float32 cosine similarities: the "
            "vision-language scorers against their bare torch ops",
            "maha": f"Mahalanobis, {n:.0e} x {DIM} features, {N_CLASSES} classes",
            "knn": f"KNN, {n:.0e} queries vs {N_BANK:.0e} x {DIM} bank, k={K}",
        }[t]
        out.append(f"**{title}**")
        out.append("")
        lines, v = (pair_table if t in PAIR_TASKS else method_table)(t, threads, res)
        out.extend(lines)
        out.append("")
        verdicts.extend(v)
    if any(t in PAIR_TASKS for t in tasks):
        out.append(
            "ours = `scorer.score(x)` on the float32 numpy array (the library's real path: "
            "chunks, the finiteness check, numpy out); bare = the expression on the same "
            "memory as a torch tensor, plus `.numpy()`. Ratio at energy-ood's best thread "
            "count. Max rel. diff = max |ours - bare| / max(1, |bare|) over 4096 rows: both "
            "compute the same numbers."
        )
        out.append("")
    out.append("Targets:")
    out.extend(verdicts)
    return "\n".join(out)


if __name__ == "__main__":
    main()
