"""The audit's analysis for large folders (issue #30): classes of thousands of photos are
grouped with memory and time linear in the photos (benchmarks/results/audit-memory.md)."""

import numpy as np
from test_audit import blob

from vit_gui.audit import groups


def test_many_maps_are_grouped_as_the_shift_invert_path_groups_them(monkeypatch):
    """Above LANCZOS_FROM the eigenvectors come from LOBPCG: the same partition as the
    scikit-learn path on 600 maps peaked anywhere."""
    rng = np.random.default_rng(1)
    heats = np.stack([blob(*rng.uniform(2, 13, 2), rng.uniform(1, 3)) for _ in range(600)])
    large = groups.group_maps(heats)
    monkeypatch.setattr(groups, "LANCZOS_FROM", 10**9)
    small = groups.group_maps(heats)
    assert len(large) > 1
    assert sorted(map(tuple, (g.members for g in large))) == sorted(map(tuple, (g.members for g in small)))


def test_thousands_of_maps_in_three_kinds_fall_into_three_groups():
    rng = np.random.default_rng(0)
    centres = [(3, 3), (3, 12), (12, 7)]
    heats = np.stack([blob(*(np.array(centres[i % 3]) + rng.normal(0, .7, 2)), 1.5) for i in range(3000)])
    found = groups.group_maps(heats)
    assert sorted(len(g.members) for g in found) == [1000, 1000, 1000]
    assert all(len({m % 3 for m in g.members}) == 1 for g in found)
