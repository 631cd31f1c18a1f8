"""Certifying a kNN / rNN classifier on your own embeddings (any (n, d) float array)."""

from __future__ import annotations

import numpy as np

import nncert

rng = np.random.default_rng(0)
y_train = rng.integers(0, 3, size=2000)
x_train = (rng.normal(size=(2000, 16)) + 2.0 * y_train[:, None]).astype(np.float32)
y_test = rng.integers(0, 3, size=300)
x_test = (rng.normal(size=(300, 16)) + 2.0 * y_test[:, None]).astype(np.float32)

knn = nncert.KNNCertifier(n_neighbors=101, metric="l2").fit(x_train, y_train)
predicted, e_star = knn.certify(x_test)  # e_star[i]: poisoning size provably tolerated
result = knn.certified_accuracy(x_test, y_test)
print(result)
print("CA at e = 10:", result.certified_accuracy(10))

rnn = nncert.RNNCertifier(radius=6.0, metric="l2", joint=("island", "best")).fit(x_train, y_train)
joint = rnn.certified_accuracy(x_test, y_test, e=50)
for name, curve in joint.curves.items():
    print(f"{name:>10}: CA(25) = {curve[25]:.3f}")
votes = nncert.certify_votes(rnn.votes(x_test), y_test, "rnn").votes
print(votes.shape)
