"""When a filtered vector search should score candidates exactly instead of walking the graph.

A cost model, not a fixed threshold: hnswlib 0.8's `get_items` is expensive per vector, a filtered
graph walk is expensive per rejected node, and which wins depends on how many ids are allowed
against how many are live.
"""

from __future__ import annotations

# Choosing between exact scoring and a filtered graph walk. Both costs are in units of one
# filtered graph visit (a distance plus a Python filter call, ~0.2-1 us). Measured on hnswlib
# 0.8.0: get_items costs 7-60 visits per vector (dim 16-768; it builds Python float lists), and
# a filtered walk visits about 3 * ef * live / len(allowed) nodes before it has ef hits.
EXACT_COST_PER_VECTOR = 40.0  # get_items per vector, in visits, fitted for CLIP dims 512-768
FILTERED_VISITS_PER_EF = 3.0  # nodes a filtered walk touches per (ef * live / allowed)


def exact_is_cheaper(n_candidates: int, live: int, ef: int) -> bool:
    """Whether scoring the candidates one by one beats walking the graph with a filter.

    A filtered walk steps over ~live/len(allowed) rejected nodes per hit, each costing a distance
    and a Python call, so for rare ids it degenerates into a full scan; exact scoring costs a
    get_items per candidate whatever the index size. Hence tiny `allowed` sets go exact, large
    ones (and unfiltered searches) go to the graph; the crossover grows like sqrt(live).
    """
    graph_visits = min(live, FILTERED_VISITS_PER_EF * ef * live / n_candidates)
    return n_candidates * EXACT_COST_PER_VECTOR <= graph_visits
