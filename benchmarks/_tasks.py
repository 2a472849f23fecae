"""The benchmarks ``run.py`` runs, with their arguments in each mode.

A task is one benchmark script run once (``--json`` gives its structured results); ``smoke``
is the tiny mode the test suite runs (tens of seconds), ``quick`` about 5 minutes on 2 quiet
cores (every issue-22 target: metrics at 1e6 and 1e7, Mahalanobis fit and score spread, KNN at
the default shape on random, clustered and real features), ``full`` everything (about an hour
on 2 cores: all sizes, thread counts, training throughput and the 100k-image scale run).
``{cores}``, ``{real}`` (real KNN features) and ``{run}`` (a trained run folder) are filled in
by the runner; a task whose input is missing is skipped with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("smoke", "quick", "full")


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    script: str
    args: dict = field(default_factory=dict)  # mode -> argument list (absent: not run)
    needs: tuple[str, ...] = ()  # "real" (KNN features), "run" (a run folder)
    timeout: int = 3600


TASKS = (
    Task(
        "features",
        "Real features for the KNN benchmark (a Fashion-MNIST CNN, 1 epoch)",
        "_features.py",
        {"quick": [], "full": []},
        timeout=1800,
    ),
    Task(
        "metrics",
        "Metrics: FPR95, AUROC, AUPR-In and AUPR-Out at once",
        "bench_metrics.py",
        {
            "smoke": ["--sizes", "2e4", "--repeats", "1", "--methods", "np.sort,ours,ours@avx2"],
            "quick": [
                "--sizes",
                "1e6,1e7",
                "--repeats",
                "3",  # one call at 1e7 varied 171-426 ms on a quiet Zen 4: best of 3
                "--methods",
                "np.sort,ours,ours_radix,ours_npsort,np.sort@avx2,ours@avx2",
            ],
            "full": ["--sizes", "1e6,1e7", "--repeats", "3"],
        },  # fmt: skip
    ),
    Task(
        "scorers",
        "Scorers on precomputed logits and features, Mahalanobis fit, KNN",
        "bench_scorers.py",
        {
            "smoke": ["--tasks", "maha", "--sizes", "maha=2e3", "--threads", "1", "--repeats", "1"],
            "quick": ["--quick", "--sizes", "maha=1e5,knn=1e4", "--threads", "{cores}"],
            "full": [],
        },  # fmt: skip
    ),
    Task(
        "knn",
        "KNN search backends (exact k-th neighbour similarity, k = 50)",
        "bench_knn.py",
        {
            "smoke": [
                "--quick",
                "--shapes",
                "small",
                "--data",
                "random",
                "--backends",
                "brute,faiss,auto",
            ],
            "quick": [
                "--shapes",
                "default",
                "--data",
                "random,mix:10:2,real-id",
                "--repeats",
                "2",  # one call varied +-30% from run to run (faiss 0.9-1.35 s, same data)
                "--real",
                "{real}",
            ],
            "full": ["--shapes", "default,large", "--real", "{real}", "--threads", "1,{cores}"],
        },  # fmt: skip
        needs=("real",),
    ),
    Task(
        "agreement",
        "Agreement with pytorch-ood 0.4.0, method by method",
        "bench_agreement.py",
        {"quick": ["--quick"], "full": []},
    ),
    Task(
        "train",
        "The training loop, processes and data paths",
        "bench_train.py",
        {"full": []},
    ),
    Task(
        "models",
        "Training throughput",
        "bench_models.py",
        {"full": ["--models", "cnn", "wrn40_2", "--steps", "20", "--big-steps", "3"]},
    ),
    Task(
        "scale",
        "Scale without memory growth: extract and evaluate on a streamed image folder",
        "bench_scale.py",
        {"full": ["--sizes", "10000,100000", "--run-dir", "{run}"]},
        needs=("run",),
        timeout=7200,
    ),
)


def by_name() -> dict[str, Task]:
    return {t.name: t for t in TASKS}
