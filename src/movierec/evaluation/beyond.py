"""Beyond accuracy: coverage, novelty, popularity of what is recommended, genre diversity.

Every function takes the recommendation lists of the evaluated users as item
positions of the fitted model (``lists[u]``: ndarray of shape (m_u,), int,
m_u <= k) and the model's training statistics. Empty lists contribute no
slots; if every list is empty each function returns 0.0 (documented below),
never NaN.

References
----------
Ge, Delgado-Battenfeld, Jannach. "Beyond accuracy: evaluating recommender systems
by coverage and serendipity". RecSys 2010. doi:10.1145/1864708.1864761
Zhou, Kuscsik, Liu, Medo, Wakeling, Zhang. "Solving the apparent diversity-accuracy
dilemma of recommender systems". PNAS 107(10), 2010. doi:10.1073/pnas.1000488107
Abdollahpouri, Burke, Mobasher. "Managing popularity bias in recommender systems
with personalized re-ranking". FLAIRS 2019. arXiv:1901.07555
Ziegler, McNee, Konstan, Lausen. "Improving recommendation lists through topic
diversification". WWW 2005. doi:10.1145/1060745.1060754
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _slots(lists: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(x, dtype=np.int64) for x in lists]) if lists else np.zeros(0, np.int64)


def catalogue_coverage(lists: Sequence[np.ndarray], n_items: int) -> float:
    """Share of the n_items training films that appear in at least one list.

    coverage = |∪_u L_u| / n_items, in [0, 1]; 0.0 when n_items is 0.
    """
    return float(np.unique(_slots(lists)).size / n_items) if n_items else 0.0


def novelty(lists: Sequence[np.ndarray], item_counts: np.ndarray, n_users: int) -> float:
    """Mean self-information of the recommended films, in bits.

    novelty = mean over all slots (u, i ∈ L_u) of −log2(n_i / n_users), with
    n_i the film's training ratings (>= 1 for a training film) and n_users
    the training users. Higher = less popular. 0.0 when no slot.
    """
    s = _slots(lists)
    if s.size == 0:
        return 0.0
    p = np.maximum(item_counts[s], 1) / max(n_users, 1)
    return float(np.mean(-np.log2(p)))


def average_popularity(lists: Sequence[np.ndarray], item_counts: np.ndarray) -> float:
    """Average recommendation popularity (ARP).

    ARP = (1/|U'|) Σ_{u ∈ U'} (1/|L_u|) Σ_{i ∈ L_u} n_i, U' = users with a
    non-empty list, n_i = training ratings of film i. 0.0 when U' is empty.
    """
    means = [float(item_counts[np.asarray(x, np.int64)].mean()) for x in lists if len(x)]
    return float(np.mean(means)) if means else 0.0


def obscure_share(lists: Sequence[np.ndarray], item_counts: np.ndarray, below: int) -> float:
    """Share of recommended slots holding a film with fewer than ``below`` training ratings.

    share = |{(u, i): i ∈ L_u, n_i < below}| / Σ_u |L_u|, in [0, 1]; 0.0 when no slot.
    With the popularity guard ``min_ratings >= below`` the share is exactly 0.
    """
    s = _slots(lists)
    return float(np.mean(item_counts[s] < below)) if s.size else 0.0


def intra_list_diversity(lists: Sequence[np.ndarray], genres: Sequence[frozenset[str]]) -> float:
    """Mean pairwise genre distance inside a list, averaged over lists.

    ILD(L) = (2 / (m(m−1))) Σ_{a<b} (1 − J(G_a, G_b)), J = Jaccard similarity
    |G_a ∩ G_b| / |G_a ∪ G_b| of the genre sets (two films with no genres
    count as identical, J = 1). Lists with fewer than 2 films are skipped;
    0.0 when none has 2. In [0, 1]; higher = more varied.

    Parameters
    ----------
    genres : sequence of frozenset of str, length n_items
        Genres of each training film by position.
    """
    values = []
    for x in lists:
        m = len(x)
        if m < 2:
            continue
        gs = [genres[int(i)] for i in x]
        dist = []
        for a in range(m):
            for b in range(a + 1, m):
                union = len(gs[a] | gs[b])
                dist.append(1.0 - (len(gs[a] & gs[b]) / union if union else 1.0))
        values.append(float(np.mean(dist)))
    return float(np.mean(values)) if values else 0.0


__all__ = ["average_popularity", "catalogue_coverage", "intra_list_diversity", "novelty", "obscure_share"]
