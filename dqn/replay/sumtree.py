"""A sum tree: leaf values in an array-backed binary tree, for sampling in proportion to them.

Setting a batch of leaves and drawing a batch of leaves are both O(batch * log n), vectorized
over the batch with numpy. Prioritized replay keeps one leaf per replay slot.
"""

from __future__ import annotations

import numpy as np


class SumTree:
    def __init__(self, size: int):
        self.size = size
        self.leaves = 1 << max(size - 1, 0).bit_length()  # a power of two, so every level is full
        # nodes[1] is the root; node i has children 2i and 2i+1; leaf j is nodes[leaves + j]
        self.nodes = np.zeros(2 * self.leaves, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def values(self, index: np.ndarray) -> np.ndarray:
        return self.nodes[self.leaves + np.asarray(index)]

    def set(self, index: np.ndarray, values: np.ndarray) -> None:
        """Set leaves (a repeated index takes its last value) and recompute their ancestors."""
        node = self.leaves + np.asarray(index, dtype=np.int64).ravel()
        values = np.asarray(values, dtype=np.float64).ravel()
        # numpy does not promise which of repeated indices an assignment keeps: keep the last
        _, last_from_end = np.unique(node[::-1], return_index=True)
        last = len(node) - 1 - last_from_end
        self.nodes[node[last]] = values[last]
        node = np.unique(node // 2)
        while node[0] >= 1:
            self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1]
            node = np.unique(node // 2)

    def find(self, mass: np.ndarray) -> np.ndarray:
        """For each mass in [0, total): the leaf whose prefix-sum interval holds it."""
        mass = np.array(mass, dtype=np.float64)
        node = np.ones(len(mass), dtype=np.int64)
        while node[0] < self.leaves:
            left = 2 * node
            go_right = mass >= self.nodes[left]
            mass -= np.where(go_right, self.nodes[left], 0.0)
            node = left + go_right
        # rounding can push a draw past the last non-zero leaf; callers reject zero leaves
        return np.minimum(node - self.leaves, self.size - 1)
