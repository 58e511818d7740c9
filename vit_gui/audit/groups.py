"""How a class was decided: its photos grouped by their maps (SpRAy, Lapuschkin et al. 2019).

The downsized maps (16 x 16, each scaled to unit mass) are clustered by spectral clustering
on a k-nearest-neighbour graph; the number of groups is where the graph Laplacian's sorted
eigenvalues jump most (the eigengap, as SpRAy chooses it). Each group keeps its mean map,
its size and its photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: groups per class at most: more than six groups of maps is more than a reader compares
MAX_GROUPS = 6
#: neighbours in the graph: about log2 of the photos, at least 10 (with 5, one kind of map
#: of 15 photos fell apart into two graph components, two groups of the same maps)
MIN_NEIGHBOURS = 10
#: below this many photos a class is one group: too few to split honestly
MIN_TO_SPLIT = 10


@dataclass
class Group:
    members: list[int]  # indices into the class's photos
    mean_map: np.ndarray  # (16, 16), unit mass


def group_maps(heats: np.ndarray, seed: int = 0) -> list[Group]:
    """`heats` (n, 16, 16), unit mass each -> groups, largest first."""
    n = len(heats)
    flat = heats.reshape(n, -1).astype(np.float64)
    if n < MIN_TO_SPLIT:
        return [Group(list(range(n)), heats.mean(axis=0))] if n else []
    affinity = _knn_affinity(flat)
    count = _eigengap(affinity)
    if count == 1:
        labels = np.zeros(n, int)
    else:
        import warnings

        from sklearn.cluster import SpectralClustering

        with warnings.catch_warnings():  # a graph in pieces is maps that differ: those are the groups
            warnings.filterwarnings("ignore", "Graph is not fully connected")
            labels = SpectralClustering(count, affinity="precomputed", random_state=seed,
                                        assign_labels="cluster_qr").fit_predict(affinity)
    groups = [Group(np.flatnonzero(labels == g).tolist(), heats[labels == g].mean(axis=0))
              for g in np.unique(labels)]
    return sorted(groups, key=lambda g: -len(g.members))


def _knn_affinity(flat: np.ndarray):
    from sklearn.neighbors import kneighbors_graph

    neighbours = min(len(flat) - 1, max(MIN_NEIGHBOURS, int(np.ceil(np.log2(len(flat))))))
    graph = kneighbors_graph(flat, neighbours, mode="connectivity", include_self=False)
    return 0.5 * (graph + graph.T)


def _eigengap(affinity) -> int:
    """1..MAX_GROUPS: after how many of the normalised Laplacian's smallest eigenvalues the
    largest gap comes."""
    from scipy.sparse import csgraph
    from scipy.sparse.linalg import eigsh

    laplacian = csgraph.laplacian(affinity, normed=True)
    wanted = min(MAX_GROUPS + 1, affinity.shape[0] - 1)
    try:
        if affinity.shape[0] <= 300:
            values = np.linalg.eigvalsh(laplacian.toarray())[:wanted]
        else:
            values = np.sort(eigsh(laplacian, k=wanted, sigma=-1e-3, which="LM", return_eigenvectors=False))
    except (np.linalg.LinAlgError, RuntimeError, ValueError):
        return 1
    gaps = np.diff(values)
    return int(np.argmax(gaps[:MAX_GROUPS]) + 1) if gaps.size else 1
