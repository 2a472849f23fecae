"""Benchmark protocols: the shared machinery (typed config sections ``sections``, config files
``config_files``, the protocol registry ``registry``, statistics ``stats``, claims ``claims``,
report sections ``report_sections``) and one sub-package per protocol (``ood``, ``holdout``,
``walkthrough``, ``vlm``), each with the same four parts: ``config``, ``run``, ``results``,
``report``. Adding a protocol is one sub-package and one TOML under ``configs/``."""
