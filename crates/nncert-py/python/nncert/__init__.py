"""nncert: provable robustness of nearest-neighbour classifiers against data poisoning.

Every number is a proven lower bound: ``e_star`` is a poisoning size under which a
prediction provably does not change, and CA(e) counts test inputs certified correct.

>>> import nncert
>>> d = nncert.datasets.load_mnist_subset()
>>> knn = nncert.KNNCertifier(n_neighbors=500).fit(nncert.hog(d.train_x), d.train_y)
"""

from . import datasets
from ._core import __version__, distance_kernel
from .estimators import KNNCertifier, NeighbourIndex, NotFittedError, RNNCertifier
from .features import hog
from .results import Certificates, Setting
from .votes import certify_votes

__all__ = [
    "Certificates",
    "KNNCertifier",
    "NeighbourIndex",
    "NotFittedError",
    "RNNCertifier",
    "Setting",
    "__version__",
    "certify_votes",
    "datasets",
    "distance_kernel",
    "hog",
]
