"""The noise section's sentences come from its numbers."""

from energy_ood.bench.ood.noise_text import noise_sentences


def _row(fpr, id_n, id_e, n_n, n_e):
    return {"fpr": fpr, "id": {"median_logit_norm": id_n, "median_neg_energy": id_e},
            "noise": {"median_logit_norm": n_n, "median_neg_energy": n_e}}  # fmt: skip


def test_sides_counts_and_rank_correlation():
    rows = [_row(0.5, 10, 8, 9, 5), _row(0.7, 10, 8, 9, 6), _row(0.9, 10, 8, 11, 7),
            _row(0.95, 10, 8, 12, 9)]  # fmt: skip
    text = noise_sentences(rows, [0.5, 0.75])
    assert "In 2 of 4 rows the median ‖f‖ of noise is below ID's, in 2 above." in text
    assert "In 3 of 4 rows the median -E of noise is below ID's, in 1 above." in text
    assert "0.50, 0.75 (per seed)" in text
    assert "over the 4 rows of FPR95 with the gap of the -E medians (noise - ID): 1.00" in text


def test_too_few_rows():
    text = noise_sentences([_row(0.5, 10, 8, 9, 5), _row(0.6, 10, 8, 9, 4)], [0.9])
    assert "too few rows (2, fewer than 4)" in text
