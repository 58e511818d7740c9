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
#: above this many photos the graph's eigenproblem is solved by Lanczos on the normalised
#: adjacency (matrix products only: memory and time linear in the photos) instead of
#: shift-invert, whose sparse LU of a nearest-neighbour graph fills in: on 10,000 maps of random
#: values the eigengap alone had not finished in 300 s (beside other work; benchmarks/results/audit.md)
LANCZOS_FROM = 300


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
    if n > LANCZOS_FROM:
        labels = _large_labels(affinity, seed)
    elif (count := _eigengap(affinity)) == 1:
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
    import sklearn
    from sklearn.neighbors import kneighbors_graph

    neighbours = min(len(flat) - 1, max(MIN_NEIGHBOURS, int(np.ceil(np.log2(len(flat))))))
    with sklearn.config_context(working_memory=64):  # distances in chunks of 64 MB, not up to 1 GB
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


def _large_labels(affinity, seed: int) -> np.ndarray:
    """What SpectralClustering(assign_labels="cluster_qr") computes, with the eigenvectors from
    Lanczos: the normalised Laplacian's smallest eigenvalues are 1 minus the normalised
    adjacency's largest; the embedding is its eigenvectors over the square root of the degree."""
    import warnings

    from scipy.linalg import qr, svd
    from scipy.sparse import csgraph, identity
    from scipy.sparse.linalg import lobpcg

    n = affinity.shape[0]
    laplacian, root_degree = csgraph.laplacian(affinity, normed=True, return_diag=True)
    wanted = min(MAX_GROUPS + 1, n - 1)
    start = np.random.default_rng(seed).uniform(-1, 1, (n, wanted))
    with warnings.catch_warnings():  # not converged to the last digit: the gaps are read to a few per cent
        warnings.simplefilter("ignore", UserWarning)
        values, vectors = lobpcg(identity(n, format="csr") - laplacian, start, largest=True, tol=1e-5, maxiter=500)
    order = np.argsort(-values)
    gaps = np.diff(1 - values[order])
    count = int(np.argmax(gaps[:MAX_GROUPS]) + 1) if gaps.size else 1
    if count == 1:
        return np.zeros(n, int)
    embedding = vectors[:, order[:count]] / root_degree[:, None]
    _, _, pivots = qr(embedding.T, pivoting=True)  # cluster_qr (Damle et al. 2019), as scikit-learn's
    left, _, right = svd(embedding[pivots[:count], :].T)
    return np.abs(embedding @ (left @ right.conj())).argmax(axis=1)
