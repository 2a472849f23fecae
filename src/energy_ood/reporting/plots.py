"""PNG plots for reports (matplotlib, Agg backend; nothing is shown on screen)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..metrics import curve  # noqa: E402


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def score_histograms(
    panels: dict[str, tuple[np.ndarray, np.ndarray]], path, ood_name: str = "OOD", title: str = ""
) -> Path:
    """One panel per score: ID vs OOD histograms (the energy paper's Fig. 3).
    ``panels`` = {score label: (id_scores, ood_scores)}."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.4))
    axes = np.atleast_1d(axes)
    for ax, (label, (a, b)) in zip(axes, panels.items()):
        lo, hi = np.percentile(np.r_[a, b], [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 60)
        ax.hist(a, bins=bins, alpha=0.6, density=True, label="ID", color="tab:blue")
        ax.hist(b, bins=bins, alpha=0.6, density=True, label=ood_name, color="tab:red")
        ax.set_xlabel(f"{label} (higher = ID)")
        ax.set_ylabel("density")
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def roc_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], path, title: str = "") -> Path:
    """ROC curves, ID positive; ``curves`` = {label: (id_scores, ood_scores)}."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for label, (a, b) in curves.items():
        c = curve(a, b)
        fpr = np.r_[0, c.fp / c.n_ood]
        tpr = np.r_[0, c.tp / c.n_id]
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.axhline(0.95, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("FPR (OOD accepted)")
    ax.set_ylabel("TPR (ID accepted)")
    ax.set_title(title or "ROC, ID positive")
    ax.legend(fontsize=8)
    return _save(fig, path)


def fpr_vs_temperature(temps: list[float], series: dict, path) -> Path:
    """FPR95 (percent) against temperature T, log x axis (the energy paper's Fig. 4a).
    ``series`` = {label: per-T values} or {label: seeds x T values} (mean ± std band)."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for label, fprs in series.items():
        a = 100 * np.atleast_2d(np.asarray(fprs, dtype=float))
        m = a.mean(0)
        ax.plot(temps, m, marker="o", label=label)
        if a.shape[0] > 1:
            sd = a.std(0, ddof=1)
            ax.fill_between(temps, m - sd, m + sd, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("FPR95 (%), mean over OOD sets")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def margin_heatmap(
    m_in: list[float], m_out: list[float], grid: np.ndarray, path, label: str = "FPR95 (%)"
) -> Path:
    """A heat map of a metric over the (m_in, m_out) grid (the energy paper's Fig. 4b)."""
    grid = np.asarray(grid, dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 * len(m_out) + 2.5, 1.0 * len(m_in) + 1.8))
    im = ax.imshow(grid, cmap="viridis_r", aspect="auto")
    ax.set_xticks(range(len(m_out)), [f"{v:g}" for v in m_out])
    ax.set_yticks(range(len(m_in)), [f"{v:g}" for v in m_in])
    ax.set_xlabel("m_out")
    ax.set_ylabel("m_in")
    lo, hi = np.nanmin(grid), np.nanmax(grid)
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if np.isnan(grid[i, j]):
                continue
            light = hi > lo and (grid[i, j] - lo) / (hi - lo) < 0.5  # yellow end of viridis_r
            ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=9,
                    color="black" if light else "white")  # fmt: skip
    fig.colorbar(im, ax=ax, label=label)
    return _save(fig, path)


def per_class_bars(
    classes: list[str],
    series: dict[str, tuple[list[float], list[float]]],
    path,
    ylabel: str = "AP (%)",
    skew: float | None = None,
) -> Path:
    """Grouped bars per class with std error bars; ``series`` = {label: (means, stds)}."""
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(classes) + 2), 3.8))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(classes))
    for i, (label, (m, s)) in enumerate(series.items()):
        ax.bar(
            x + i * width - 0.4 + width / 2,
            [100 * v for v in m],
            width,
            yerr=[100 * v for v in s],
            label=label,
            capsize=2,
        )
    if skew is not None:
        ax.axhline(100 * skew, color="grey", ls="--", lw=0.8, label="random (skew)")
    ax.set_xticks(x, classes, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return _save(fig, path)


def noise_panels(arrays: dict[str, tuple[np.ndarray, np.ndarray]], path, title: str = "") -> Path:
    """Why energy calls noise ID: histograms of -E (the score) and of the logit norm ||f||,
    ID test vs each noise set. ``arrays`` = {"id" | set: (norms, neg_energies)}."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.5))
    for ax, k, xlabel in ((axes[0], 1, "negative energy -E (higher = ID)"),
                          (axes[1], 0, "logit norm ||f||")):  # fmt: skip
        every = np.concatenate([a[k] for a in arrays.values()])
        lo, hi = np.percentile(every, [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 60)
        for name, a in arrays.items():
            ax.hist(a[k], bins=bins, alpha=0.5, density=True, label="ID" if name == "id" else name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def margin_sweep(labels: list[str], val: list[float], test: list[float], chosen: int, path) -> Path:
    """Validation FPR95 (what chooses) and test FPR95 (reported only) per margin point."""
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(labels) + 2), 3.6))
    x = np.arange(len(labels))
    ax.plot(x, [100 * v for v in val], marker="o", label="validation FPR95 (the criterion)")
    ax.plot(x, [100 * v for v in test], marker="s", label="test FPR95, natural sets (reported)")
    ax.axvline(chosen, color="grey", ls="--", lw=0.8, label="chosen")
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("FPR95 (%)")
    ax.set_xlabel("(m_in, m_out)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)
