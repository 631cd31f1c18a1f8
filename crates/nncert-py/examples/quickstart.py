"""The README's Python quick start: prints the table `cargo run --release` prints."""

import nncert

d = nncert.datasets.load_mnist_subset()  # 6,000 training and 1,000 test MNIST images
train, test = nncert.hog(d.train_x), nncert.hog(d.test_x)  # the CLI's HOG features
index = nncert.NeighbourIndex(train, d.train_y, rank_by=d.train_x)  # ties broken as the CLI
result = index.certify(test, d.test_y, k=500, r=4)  # kNN k = 500; rNN r = 4 with ISLAND
print(result.summary(), end="")  # CA(e) at e = 0, 100, … (rounded down)
print(result.setting("rnn", 4).certified_accuracy(50, "island"))  # CA(50), joint
