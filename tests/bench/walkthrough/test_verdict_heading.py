"""The walk-through's fine-tuning heading says what the paired verdict found: lowers, raises
or neither (inconclusive), following the numbers."""

from energy_ood.bench.walkthrough.report import finetune_verdict


def test_heading_follows_the_verdict():
    pre = [0.50, 0.52, 0.55]
    head, body = finetune_verdict("photos", "energy", [0.30, 0.31, 0.35], pre)
    assert head == "photos: energy fine-tuning lowers the energy score's FPR95"
    assert body.endswith("**yes**")
    head, body = finetune_verdict("photos", "energy", [0.70, 0.73, 0.74], pre)
    assert head == "photos: energy fine-tuning raises the energy score's FPR95"
    assert body.endswith("**no**")
    head, _ = finetune_verdict("photos", "energy", [0.40, 0.60, 0.55], pre)
    assert "neither lowers nor raises (inconclusive)" in head
