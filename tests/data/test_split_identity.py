"""Splits by file identity: each file's side is a function of its path and the seed alone."""

from __future__ import annotations

import numpy as np

from kerascnn.data import identity_scores, split_by_identity


def _sides(names, fraction=0.2, seed=0) -> dict:
    keep, held = split_by_identity(names, fraction, seed)
    return {**{names[i]: "train" for i in keep}, **{names[i]: "test" for i in held}}


def test_adding_or_removing_files_moves_only_those_files():
    names = [f"{c}/{i:05d}.jpg" for c in ("cat", "dog", "owl") for i in range(400)]
    before = _sides(names)
    rng = np.random.default_rng(0)
    removed = set(rng.choice(names, 150, replace=False))
    after = _sides([n for n in names if n not in removed] + [f"new/{i}.png" for i in range(90)])
    assert all(after[n] == before[n] for n in names if n not in removed)
    assert 0.17 < sum(s == "test" for s in before.values()) / len(before) < 0.23


def test_the_score_depends_on_the_name_and_seed_only_not_on_the_array():
    names = np.array(["a/1.png", "b/ü.png", "c/" + "x" * 200 + ".png"])
    alone = np.array([identity_scores([n])[0] for n in names])
    np.testing.assert_array_equal(identity_scores(names), alone)
    np.testing.assert_array_equal(identity_scores(list(names)), alone)
    assert not np.array_equal(identity_scores(names, seed=1), alone)
    assert ((alone >= 0) & (alone < 1)).all()


def test_a_tiny_set_still_gets_one_image_on_each_side():
    keep, held = split_by_identity(["a", "b"], 0.01)
    assert len(keep) == 1 and len(held) == 1
