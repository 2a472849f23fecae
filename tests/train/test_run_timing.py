"""A run's recorded timing (train/timing): its training seconds and speed from metrics.json."""

from energy_ood.train.timing import run_speed, run_training_s


def _hist(*secs):
    return {"history": [{"epoch": i + 1, "seconds": s, "images_per_s": 100.0 * (i + 1)}
                        for i, s in enumerate(secs)]}  # fmt: skip


def test_training_seconds_are_the_sum_of_the_epochs():
    assert run_training_s(_hist(1.5, 2.0, 3.25)) == 6.75
    assert run_speed(_hist(1.0, 1.0, 1.0)) == {"images_per_s": 200.0}


def test_a_record_without_them_is_none():
    assert run_training_s({}) is None and run_training_s({"history": []}) is None
    m = _hist(1.0, 2.0)
    del m["history"][1]["seconds"]
    assert run_training_s(m) is None
    assert run_training_s({"history": [{"seconds": "1"}]}) is None
