//! Sharded search and the exact merge against the single-machine search: for every metric,
//! on tie-heavy integer data and on random f32 data with near-ties, any split of the
//! training set into N ≤ 5 shards and of the test set into blocks, merged in a random tree
//! order (through the file format too), gives the same votes and neighbour lists bit for
//! bit. And every malformed input to a merge is refused.

use nncert::features::FeatureMatrix;
use nncert::neighbours::{Kernel, Metric, Reference, SearchConfig, SearchResult, search};
use nncert::rank::{Rank, rank, tie_break_positions};
use nncert::rng::SplitMix64;
use nncert::shard::{self, BlockStream, Merge, Partial, ShardSpec, TestBlock, TrainShard};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const METRICS: [Metric; 5] = [
    Metric::L1,
    Metric::L2,
    Metric::Linf,
    Metric::Ip,
    Metric::Cosine,
];

/// A random problem.
#[derive(Debug, Clone)]
struct Problem {
    train: FeatureMatrix,
    test: FeatureMatrix,
    labels: Vec<u32>,
    test_labels: Vec<u32>,
    positions: Vec<u32>,
    /// Each training row's SHA-1 rank: what a shard job computes of its own rows.
    ranks: Vec<Rank>,
    c: usize,
    config: SearchConfig,
}

/// Values: small integers (many exact ties) or values near a few centres with tiny
/// relative offsets (near-ties the f32 kernels cannot separate).
fn value(rng: &mut SplitMix64, ties: bool) -> f32 {
    if ties {
        rng.below(3) as f32
    } else {
        let centre = [0.5f32, 1.25, 3.0][rng.below(3) as usize];
        let sign = if rng.below(5) == 0 { -1.0 } else { 1.0 };
        sign * centre * (1.0 + (rng.below(7) as f32 - 3.0) * 1e-7)
    }
}

fn problem(seed: u64, metric: Metric, ties: bool, neighbours: bool) -> Problem {
    let mut rng = SplitMix64::new(seed);
    let n_train = 1 + rng.below(50) as usize;
    let n_test = 1 + rng.below(12) as usize;
    let dim = 1 + rng.below(6) as usize;
    let c = 2 + rng.below(3) as usize;
    let rows = |n: usize, rng: &mut SplitMix64| FeatureMatrix {
        n,
        dim,
        data: (0..n * dim).map(|_| value(rng, ties)).collect(),
    };
    let mut train = rows(n_train, &mut rng);
    // Sometimes (ℓ2) one training row of huge norm: the shard holding it searches with
    // the kernels, the others through matrix multiplication, so the merge compares
    // candidates of different key domains.
    if metric == Metric::L2 && rng.below(3) == 0 {
        let j = rng.below(n_train as u64) as usize;
        train.data[j * dim] = 1e18;
    }
    let test = rows(n_test, &mut rng);
    let mut labels: Vec<u32> = (0..n_train).map(|_| rng.below(c as u64) as u32).collect();
    // Identical examples (row and label), often in different shards: the same rank, so
    // the index alone decides between them.
    for _ in 0..rng.below(4) {
        let (a, b) = (
            rng.below(n_train as u64) as usize,
            rng.below(n_train as u64) as usize,
        );
        let row = train.data[a * dim..(a + 1) * dim].to_vec();
        train.data[b * dim..(b + 1) * dim].copy_from_slice(&row);
        labels[b] = labels[a];
    }
    let test_labels: Vec<u32> = (0..n_test).map(|_| rng.below(c as u64) as u32).collect();
    let records: Vec<u8> = train.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let positions = tie_break_positions(&labels, &records, dim * 4);
    let ranks: Vec<Rank> = (0..n_train)
        .map(|i| rank(labels[i], &records[i * dim * 4..(i + 1) * dim * 4]))
        .collect();
    // k and r in the order asked, sometimes unsorted or repeated: results follow that
    // order in both runs.
    let mut ks: Vec<usize> = (0..1 + rng.below(3))
        .map(|_| 1 + rng.below(n_train as u64 + 3) as usize)
        .collect();
    let keep_order = rng.below(2) == 0;
    if !keep_order {
        ks.sort_unstable();
        ks.dedup();
    }
    let scale = if ties { 1.0 } else { 0.7 };
    let radii: Vec<f64> = (0..rng.below(3))
        .map(|_| {
            let r = rng.below(8) as f64 * scale * dim as f64 / 4.0;
            match metric {
                Metric::Ip => r - dim as f64,
                Metric::Cosine => r / (2.0 * dim as f64),
                _ => r,
            }
        })
        .collect();
    let mut radii_unique = radii.clone();
    if !keep_order {
        radii_unique.sort_by(f64::total_cmp);
        radii_unique.dedup();
    }
    Problem {
        train,
        test,
        labels,
        test_labels,
        positions,
        ranks,
        c,
        config: SearchConfig {
            metric,
            ks,
            radii: radii_unique,
            kernel: Kernel::detect().unwrap(),
            keep_neighbours: neighbours,
        },
    }
}

impl Problem {
    fn reference(&self) -> Reference<'_> {
        Reference {
            features: &self.train,
            labels: &self.labels,
            positions: &self.positions,
            n_classes: self.c,
        }
    }

    fn single(&self) -> SearchResult {
        search(
            self.reference(),
            &self.test,
            &self.test_labels,
            &self.config,
            &|_| {},
        )
        .unwrap()
    }

    /// The partial of shard `train` and block `block`, searched as a shard job does: its
    /// own rows with their own SHA-1 ranks only (`shard::search_rows`).
    fn partial(&self, train: ShardSpec, block: ShardSpec) -> Partial {
        let tr = train.range(self.train.n).unwrap();
        let te = block.range(self.test.n).unwrap();
        let rows = |m: &FeatureMatrix, r: std::ops::Range<usize>| FeatureMatrix {
            n: r.len(),
            dim: m.dim,
            data: m.data[r.start * m.dim..r.end * m.dim].to_vec(),
        };
        shard::search_rows(
            TrainShard {
                spec: train,
                n_train: self.train.n,
                features: &rows(&self.train, tr.clone()),
                labels: &self.labels[tr.clone()],
                ranks: &self.ranks[tr],
                n_classes: self.c,
            },
            TestBlock {
                spec: block,
                n_test: self.test.n,
                features: &rows(&self.test, te.clone()),
                labels: &self.test_labels[te],
            },
            &self.config,
            "test data",
        )
        .unwrap()
    }

    /// Every partial of an N × M split, merged per block in a random tree order (some
    /// through bytes), then finished with the exact keys asked for.
    fn sharded(&self, n: usize, m: usize, rng: &mut SplitMix64) -> SearchResult {
        let mut all = Vec::new();
        for j in 1..=m {
            let block = ShardSpec::new(j, m).unwrap();
            let mut parts: Vec<Partial> = (1..=n)
                .map(|i| self.partial(ShardSpec::new(i, n).unwrap(), block))
                .map(|p| {
                    if rng.below(2) == 0 {
                        Partial::from_bytes(&p.to_bytes()).unwrap()
                    } else {
                        p
                    }
                })
                .collect();
            // A random tree: merge two random neighbours until few are left.
            let leave = 1 + rng.below(2) as usize;
            while parts.len() > leave {
                let at = rng.below(parts.len() as u64 - 1) as usize;
                let b = parts.remove(at + 1);
                let a = parts.remove(at);
                let merged = if rng.below(2) == 0 {
                    a.merge(b)
                } else {
                    b.merge(a)
                }
                .unwrap();
                parts.insert(at, merged);
            }
            all.extend(parts);
        }
        // Blocks in a random order.
        for i in (1..all.len()).rev() {
            all.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let merge = Merge::new(all).unwrap();
        let pending = merge.pending().unwrap();
        let keys =
            shard::exact_keys(self.config.metric, &self.train, 0, &self.test, 0, &pending).unwrap();
        merge.finish(&keys).unwrap()
    }
}

/// The same votes and lists: indices always; f32 distances bit for bit for ℓ1 and ℓ∞
/// (the kernels sum in one fixed order), and for ℓ2, the inner product and cosine within
/// a relative 1e-3 (the same exact distance, but through matrix multiplication or the
/// kernels depending on each search's norms and fallbacks: `docs/SHARD-CHECKS.md`).
fn assert_same(
    single: &SearchResult,
    sharded: &SearchResult,
    metric: Metric,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&single.knn, &sharded.knn);
    prop_assert_eq!(&single.rnn, &sharded.rnn);
    match (&single.neighbours, &sharded.neighbours) {
        (None, None) => {}
        (Some(a), Some(b)) => {
            let idx = |l: &Vec<Vec<nncert::neighbours::Neighbour>>| -> Vec<Vec<u32>> {
                l.iter()
                    .map(|v| v.iter().map(|x| x.index).collect())
                    .collect()
            };
            prop_assert_eq!(idx(&a.knn), idx(&b.knn));
            prop_assert_eq!(idx(&a.rnn), idx(&b.rnn));
            if matches!(metric, Metric::L1 | Metric::Linf) {
                prop_assert_eq!(a, b);
            } else {
                let all = |l: &nncert::neighbours::NeighbourLists| -> Vec<f32> {
                    l.knn
                        .iter()
                        .chain(&l.rnn)
                        .flatten()
                        .map(|x| x.distance)
                        .collect()
                };
                for (x, y) in all(a).into_iter().zip(all(b)) {
                    prop_assert!(
                        (x - y).abs() <= 1e-3 * x.abs().max(1.0),
                        "distance {} vs {}",
                        x,
                        y
                    );
                }
            }
        }
        _ => prop_assert!(false, "neighbour lists in one result only"),
    }
    Ok(())
}

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(400, 0x05a4_d000))]

    #[test]
    fn merged_shards_equal_one_search(
        seed in any::<u64>(),
        metric in 0usize..5,
        ties in any::<bool>(),
        neighbours in any::<bool>(),
        // Up to 12 shards: the merge scans the heads of up to 8 and uses a heap above.
        n in 1usize..=12,
        m in 1usize..=3,
    ) {
        let metric = METRICS[metric];
        let p = problem(seed, metric, ties, neighbours);
        let n = n.min(p.train.n);
        let m = m.min(p.test.n);
        let single = p.single();
        let mut rng = SplitMix64::new(seed ^ 0x5eed);
        let sharded = p.sharded(n, m, &mut rng);
        assert_same(&single, &sharded, metric)?;
    }
}

impl Problem {
    /// One block's partials merged left to right in the order `order` (a permutation of
    /// the shards), through the file format.
    fn block_merged(&self, n: usize, block: ShardSpec, order: &[usize]) -> Partial {
        order
            .iter()
            .map(|&i| {
                let p = self.partial(ShardSpec::new(i, n).unwrap(), block);
                Partial::from_bytes(&p.to_bytes()).unwrap()
            })
            .reduce(|a, b| a.merge(b).unwrap())
            .unwrap()
    }

    /// Every block merged in shard order `order`, streamed block by block through a
    /// [`BlockStream`], each block finished with the keys of its own pending pairs.
    fn streamed(&self, n: usize, m: usize, order: &[usize]) -> SearchResult {
        let mut stream = BlockStream::new();
        for j in 1..=m {
            let block = self.block_merged(n, ShardSpec::new(j, m).unwrap(), order);
            let pending = block.pending().unwrap();
            let keys =
                shard::exact_keys(self.config.metric, &self.train, 0, &self.test, 0, &pending)
                    .unwrap();
            stream.push(block, &pending, &keys).unwrap();
        }
        stream.finish().unwrap()
    }

    /// Every block merged in shard order `order`, all blocks at once through [`Merge`].
    fn in_memory(&self, n: usize, m: usize, order: &[usize]) -> SearchResult {
        let blocks = (1..=m)
            .map(|j| self.block_merged(n, ShardSpec::new(j, m).unwrap(), order))
            .collect();
        let merge = Merge::new(blocks).unwrap();
        let pending = merge.pending().unwrap();
        let keys =
            shard::exact_keys(self.config.metric, &self.train, 0, &self.test, 0, &pending).unwrap();
        merge.finish(&keys).unwrap()
    }
}

proptest! {
    #![proptest_config(config(120, 0x5742_ea11))]

    /// The block-by-block merge (what `nncert merge` does) equals the all-at-once merge
    /// bit for bit — distances included, for every metric: both finish the same candidates
    /// — and neither depends on the order the shards were merged in.
    #[test]
    fn streamed_merge_equals_in_memory_merge_in_any_order(
        seed in any::<u64>(),
        metric in 0usize..5,
        ties in any::<bool>(),
        neighbours in any::<bool>(),
        n in 1usize..=5,
        m in 1usize..=3,
    ) {
        let metric = METRICS[metric];
        let p = problem(seed, metric, ties, neighbours);
        let n = n.min(p.train.n);
        let m = m.min(p.test.n);
        let mut rng = SplitMix64::new(seed ^ 0x0bde);
        let mut order: Vec<usize> = (1..=n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let ascending: Vec<usize> = (1..=n).collect();
        let reference = p.in_memory(n, m, &ascending);
        prop_assert_eq!(&p.streamed(n, m, &order), &reference);
        prop_assert_eq!(&p.in_memory(n, m, &order), &reference);
        let reversed: Vec<usize> = order.iter().rev().copied().collect();
        prop_assert_eq!(&p.streamed(n, m, &reversed), &reference);
        assert_same(&p.single(), &reference, metric)?;
    }
}

#[test]
fn a_block_stream_refuses_blocks_out_of_order_and_incomplete_runs() {
    let p = small();
    let order = [1, 2];
    let block = |j: usize| p.block_merged(2, spec(j, 2), &order);
    let finished = |b: Partial| {
        let pending = b.pending().unwrap();
        let keys = shard::exact_keys(p.config.metric, &p.train, 0, &p.test, 0, &pending).unwrap();
        (b, pending, keys)
    };
    let mut stream = BlockStream::new();
    let (b, pairs, keys) = finished(block(2));
    refused(stream.push(b, &pairs, &keys), "test block 1/2 is missing");
    let mut stream = BlockStream::new();
    let (b, pairs, keys) = finished(block(1));
    stream.push(b, &pairs, &keys).unwrap();
    refused(stream.finish(), "test block 2/2 is missing");
    refused(BlockStream::new().finish(), "at least one partial");
    // A block of another split of the test set.
    let mut stream = BlockStream::new();
    let (b, pairs, keys) = finished(block(1));
    stream.push(b, &pairs, &keys).unwrap();
    let other = p.block_merged(2, spec(2, 3), &order);
    refused(stream.push(other, &[], &[]), "blocks");
    // An incomplete block (one training shard of two).
    let mut stream = BlockStream::new();
    refused(
        stream.push(p.partial(spec(1, 2), spec(1, 2)), &[], &[]),
        "training shard 2/2 of test block 1/2 is missing",
    );
}

/// A fixed problem for the refusals.
fn small() -> Problem {
    let mut p = problem(7, Metric::L1, true, true);
    while p.train.n < 6 || p.test.n < 2 || p.config.ks.is_empty() {
        p = problem(
            p.train.n as u64 * 31 + p.test.n as u64 + 1000,
            Metric::L1,
            true,
            true,
        );
    }
    p
}

fn spec(i: usize, n: usize) -> ShardSpec {
    ShardSpec::new(i, n).unwrap()
}

fn refused(r: Result<impl std::fmt::Debug, nncert::Error>, expect: &str) {
    let e = r.expect_err("should be refused").to_string();
    assert!(e.contains(expect), "{e:?} should mention {expect:?}");
    assert!(!e.contains('\n'), "one line: {e:?}");
}

#[test]
fn merges_of_partials_that_do_not_fit_together_are_refused() {
    let p = small();
    let b1 = spec(1, 2);
    let part = |i, n| {
        p.partial(spec(i, n), b1)
            .with_origin(&format!("s{i}of{n}.part"))
    };
    // The same shard twice (also after a merge).
    refused(
        part(1, 3).merge(part(1, 3)),
        "s1of3.part: training shard 1/3 of test block 1/2 given twice",
    );
    refused(
        part(1, 3).merge(part(2, 3)).unwrap().merge(part(2, 3)),
        "given twice",
    );
    // Overlapping splits (1/2 and 2/3 share rows).
    refused(
        part(1, 2).merge(part(2, 3)),
        "training split into 2 vs 3 shards",
    );
    // Another test block.
    refused(
        part(1, 3).merge(p.partial(spec(2, 3), spec(2, 2))),
        "different test blocks",
    );
    // Other settings or data.
    let other = shard::search(
        p.reference(),
        &p.test,
        &p.test_labels,
        &p.config,
        spec(2, 3),
        b1,
        "other data",
    )
    .unwrap();
    refused(part(1, 3).merge(other), "not the same run (data/settings");
    let mut config = p.config.clone();
    config.ks.push(p.train.n + 7);
    let other = shard::search(
        p.reference(),
        &p.test,
        &p.test_labels,
        &config,
        spec(2, 3),
        b1,
        "test data",
    )
    .unwrap();
    refused(part(1, 3).merge(other), "not the same run (k");
    // A missing shard, a missing block.
    refused(
        Merge::new(vec![part(1, 3), part(3, 3)]),
        "training shard 2/3 of test block 1/2 is missing",
    );
    refused(part(1, 3).pending(), "is missing");
    let whole = |j| p.partial(ShardSpec::WHOLE, spec(j, 2));
    refused(Merge::new(vec![whole(2)]), "test block 1/2 is missing");
    assert!(Merge::new(vec![whole(2), whole(1)]).is_ok());
    refused(
        Merge::new(vec![whole(1), whole(1), whole(2)]),
        "given twice",
    );
    // Keys that do not match the pending pairs.
    let merge = Merge::new(vec![whole(1), whole(2)]).unwrap();
    let n_pending = merge.pending().unwrap().len();
    refused(
        merge.finish(&vec![nncert::neighbours::exact::Exact::ZERO; n_pending + 1]),
        "exact keys: expected",
    );
    // Shard specs.
    refused(ShardSpec::parse("0/2"), "shard 0/2");
    refused(spec(1, 99).range(p.train.n), "would leave a shard empty");
    refused(
        shard::search(
            p.reference(),
            &p.test,
            &p.test_labels,
            &p.config,
            spec(1, 99),
            b1,
            "",
        ),
        "would leave a shard empty",
    );
}

#[test]
fn corrupt_truncated_and_foreign_files_are_refused() {
    let p = small();
    let bytes = p.partial(spec(2, 3), spec(1, 2)).to_bytes();
    assert_eq!(Partial::from_bytes(&bytes).unwrap().to_bytes(), bytes);
    for cut in [0, 5, 12, 40, bytes.len() / 2, bytes.len() - 1] {
        refused(Partial::from_bytes(&bytes[..cut]), "partial result");
    }
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    refused(Partial::from_bytes(&flipped), "checksum mismatch");
    let mut version = bytes.clone();
    version[8] = 9;
    refused(Partial::from_bytes(&version), "format version 9");
    refused(
        Partial::from_bytes(b"P6\n1 1\n255\n\0\0\0"),
        "not an nncert partial result",
    );
    // A file whose checksum is right but whose counts lie: refused, without allocating
    // what the counts announce.
    let mut lying = bytes[..bytes.len() - nncert::shard::CHECKSUM_BYTES].to_vec();
    let at = lying.len() - 8; // the count of known keys
    lying[at..].copy_from_slice(&u64::MAX.to_le_bytes());
    let digest = nncert::shard::checksum(&lying);
    lying.extend_from_slice(&digest);
    refused(Partial::from_bytes(&lying), "truncated or corrupt");
    // Named after the file when read from one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.part");
    std::fs::write(&path, &flipped).unwrap();
    refused(Partial::read(&path), "bad.part: partial result corrupt");
}
