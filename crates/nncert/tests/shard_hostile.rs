//! Hostile and inconsistent partial results: files built by serialising a real partial,
//! editing fields and recomputing the XXH3-128 trailer (the checksum is an integrity check,
//! not authentication), and in-memory inputs a merge must not accept. Each must be a
//! one-line error — never a panic, an abort, an allocation the bytes do not justify, or a
//! silently wrong result.

use nncert::features::FeatureMatrix;
use nncert::neighbours::exact::Exact;
use nncert::neighbours::{Kernel, Metric, Reference, SearchConfig, search};
use nncert::rank::Rank;
use nncert::shard::{self, Merge, Partial, ShardSpec, TestBlock, TrainShard};
use sha2::Digest as _;

/// A small fixed problem: integer features (many ties), 3 classes.
struct Problem {
    train: FeatureMatrix,
    test: FeatureMatrix,
    labels: Vec<u32>,
    test_labels: Vec<u32>,
    positions: Vec<u32>,
    config: SearchConfig,
}

fn problem(metric: Metric, radii: Vec<f64>, neighbours: bool) -> Problem {
    let (n_train, n_test, dim) = (12, 4, 3);
    let value = |i: usize| ((i * 7 + i / 5) % 4) as f32;
    Problem {
        train: FeatureMatrix {
            n: n_train,
            dim,
            data: (0..n_train * dim).map(value).collect(),
        },
        test: FeatureMatrix {
            n: n_test,
            dim,
            data: (0..n_test * dim).map(|i| value(i * 3 + 1)).collect(),
        },
        labels: (0..n_train as u32).map(|i| i % 3).collect(),
        test_labels: (0..n_test as u32).map(|i| (i + 1) % 3).collect(),
        // Reversed: positions differ from indices, so a wrong tie rule would show.
        positions: (0..n_train as u32).rev().collect(),
        config: SearchConfig {
            metric,
            ks: vec![3, 1],
            radii,
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
            n_classes: 3,
        }
    }

    fn partial(&self, train: ShardSpec, block: ShardSpec) -> Partial {
        shard::search(
            self.reference(),
            &self.test,
            &self.test_labels,
            &self.config,
            train,
            block,
            "ctx",
        )
        .unwrap()
    }
}

fn spec(i: usize, n: usize) -> ShardSpec {
    ShardSpec::new(i, n).unwrap()
}

fn refused(r: Result<impl std::fmt::Debug, nncert::Error>, expect: &str) {
    let e = r.expect_err("should be refused").to_string();
    assert!(e.contains(expect), "{e:?} should mention {expect:?}");
    assert!(!e.contains('\n'), "one line: {e:?}");
}

/// Where the fields of a partial-result file are (the layout of `docs/SCALING.md`).
#[derive(Debug, Default)]
struct Layout {
    n_test: usize,
    n_classes: usize,
    radii: Vec<usize>,
    block_count: usize,
    n_shards: usize,
    /// Per shard table: where its ranks start.
    ranks: Vec<usize>,
    /// Of test row 0's kNN lists: the segment count, then each segment's start and end.
    knn_count: usize,
    knn_segments: Vec<(usize, usize)>,
    known_count: usize,
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

fn u64_at(b: &[u8], at: usize) -> usize {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize
}

/// Walks a valid file (without its trailer).
fn layout(b: &[u8]) -> Layout {
    let mut l = Layout {
        n_test: 22,
        n_classes: 30,
        ..Layout::default()
    };
    let n_train = u64_at(b, 14);
    let c = u64_at(b, 30);
    let mut at = 38;
    let nk = u32_at(b, at);
    at += 4 + 8 * nk;
    let nr = u32_at(b, at);
    at += 4;
    for _ in 0..nr {
        l.radii.push(at);
        at += 8;
    }
    at += 4 + u32_at(b, at);
    let train_count = u64_at(b, at);
    at += 8 + 8;
    l.block_count = at;
    let (block_index, block_count) = (u64_at(b, at - 8), u64_at(b, at));
    at += 8;
    l.n_shards = at;
    let n_shards = u32_at(b, at);
    at += 4;
    for _ in 0..n_shards {
        let i = u64_at(b, at);
        let len = spec(i, train_count).range(n_train).unwrap().len();
        at += 9 + 4 * len;
        l.ranks.push(at);
        at += 20 * len;
    }
    let n_test = u64_at(b, 22);
    let rows = spec(block_index, block_count).range(n_test).unwrap().len();
    at += 4 * rows;
    for row in 0..rows {
        at += 4 * nr * c;
        for list in 0..2 {
            if row == 0 && list == 0 {
                l.knn_count = at;
            }
            let n_seg = u32_at(b, at);
            at += 4;
            for _ in 0..n_seg {
                let start = at;
                at += 4 + 28;
                at += 4 + 8 * u32_at(b, at);
                if row == 0 && list == 0 {
                    l.knn_segments.push((start, at));
                }
            }
        }
    }
    l.known_count = at;
    l
}

/// The file without its trailer.
fn body(p: &Partial) -> Vec<u8> {
    let b = p.to_bytes();
    b[..b.len() - shard::CHECKSUM_BYTES].to_vec()
}

/// `body` with a valid trailer again, parsed.
fn reseal(mut body: Vec<u8>) -> Result<Partial, nncert::Error> {
    let digest = shard::checksum(&body);
    body.extend_from_slice(&digest);
    Partial::from_bytes(&body)
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn the_walker_reads_a_valid_file() {
    let p = problem(Metric::L1, vec![1.0, 2.0], true);
    let part = p.partial(spec(2, 3), spec(1, 2));
    let b = body(&part);
    let l = layout(&b);
    assert_eq!(l.known_count + 8, b.len());
    assert_eq!(l.knn_segments.len(), 1);
    assert_eq!(reseal(b).unwrap(), part);
}

/// Review A2: class counts and block counts from a file must not decide memory or
/// overflow arithmetic.
#[test]
fn huge_class_and_block_counts_are_refused_without_allocating() {
    // n_classes · radii overflows usize.
    let p = problem(Metric::L1, vec![1.0, 2.0], false);
    let mut b = body(&p.partial(ShardSpec::WHOLE, spec(1, 2)));
    let l = layout(&b);
    put_u64(&mut b, l.n_classes, 1 << 63);
    refused(reseal(b), "n_classes");
    // 2^40 classes without radii: nothing in the file, but finish would allocate n · c.
    let p = problem(Metric::L1, vec![], false);
    let mut b = body(&p.partial(ShardSpec::WHOLE, spec(1, 2)));
    let l = layout(&b);
    put_u64(&mut b, l.n_classes, 1 << 40);
    refused(reseal(b), "n_classes");
    // A block of one test row announced as block 2 of 2^32 − 1.
    let one_row = p.partial(ShardSpec::WHOLE, spec(2, 4));
    assert_eq!(one_row.test_rows().len(), 1);
    let mut b = body(&one_row);
    let l = layout(&b);
    put_u64(&mut b, l.n_test, u32::MAX as u64);
    put_u64(&mut b, l.block_count, u32::MAX as u64);
    let hostile = reseal(b).unwrap();
    refused(
        Merge::new(vec![hostile]),
        "test block 1/4294967295 is missing (no partial for it; 4294967294 of 4294967295",
    );
}

/// Review B1: one kNN list per covered shard, unique candidates.
#[test]
fn repeated_lists_and_candidates_are_refused() {
    let p = problem(Metric::L2, vec![], false);
    let good = p.partial(spec(1, 2), spec(1, 1));
    let b = body(&good);
    let l = layout(&b);
    // The row's kNN list repeated (it would count its labels twice).
    let (s, e) = l.knn_segments[0];
    let mut dup = b[..e].to_vec();
    dup.extend_from_slice(&b[s..]);
    put_u32(&mut dup, l.knn_count, 2);
    refused(reseal(dup), "kNN lists from training shards [1, 1]");
    // No kNN list at all for the row.
    let mut none = b[..s].to_vec();
    none.extend_from_slice(&b[e..]);
    put_u32(&mut none, l.knn_count, 0);
    refused(reseal(none), "kNN lists from training shards []");
    // A candidate listed twice.
    let mut twice = b.clone();
    let first = s + 36;
    let (j0, _) = (u32_at(&b, first), 0);
    put_u32(&mut twice, first + 8, j0 as u32);
    refused(reseal(twice), "listed twice");
}

/// Review B2: fast values and bounds no search produces.
#[test]
fn impossible_fast_values_and_bounds_are_refused() {
    let p = problem(Metric::L1, vec![], false);
    let b = body(&p.partial(spec(1, 2), spec(1, 1)));
    let l = layout(&b);
    let (s, _) = l.knn_segments[0];
    let first_fast = s + 36 + 4;
    for bad in [f32::NAN, f32::NEG_INFINITY, -1.0] {
        let mut e = b.clone();
        e[first_fast..first_fast + 4].copy_from_slice(&bad.to_le_bytes());
        refused(reseal(e), "fast value");
    }
    // relative, absolute, floor (f64) then overflow (f32) after the shard number.
    for (offset, bad) in [(4, f64::NAN), (4, -1.0), (12, f64::NAN), (20, -1.0)] {
        let mut e = b.clone();
        e[s + offset..s + offset + 8].copy_from_slice(&bad.to_le_bytes());
        refused(reseal(e), "error bound");
    }
    let mut e = b.clone();
    e[s + 28..s + 32].copy_from_slice(&f32::NAN.to_le_bytes());
    refused(reseal(e), "error bound");
    // A finite relative error of 1 or more would make the interval ends decrease with the
    // fast value (the merge's pruning and ordering rely on them increasing); +∞ is fine.
    for bad in [1.0, 2.0, f64::MAX] {
        let mut e = b.clone();
        e[s + 4..s + 12].copy_from_slice(&bad.to_le_bytes());
        refused(reseal(e), "error bound");
    }
    let mut e = b.clone();
    e[s + 4..s + 12].copy_from_slice(&f64::INFINITY.to_le_bytes());
    assert!(reseal(e).is_ok());
}

/// The merge's pruning finds the candidates to keep by binary search, so each list must be
/// in non-decreasing order of fast value: a list out of order is refused, not misread.
#[test]
fn lists_out_of_fast_value_order_are_refused() {
    let p = problem(Metric::L1, vec![], false);
    let b = body(&p.partial(spec(1, 2), spec(1, 1)));
    let l = layout(&b);
    let (s, end) = l.knn_segments[0];
    let items = s + 36;
    assert!(end - items >= 16, "at least two candidates");
    let fast = |b: &[u8], i: usize| {
        f32::from_le_bytes(b[items + 8 * i + 4..items + 8 * i + 8].try_into().unwrap())
    };
    // Raise the first fast value above the second: still a valid value, but out of order.
    let mut e = b.clone();
    let above = fast(&b, 1) + 1.0;
    e[items + 4..items + 8].copy_from_slice(&above.to_le_bytes());
    refused(reseal(e), "not listed by fast value");
    // Equal values are in order.
    let mut e = b.clone();
    let same = fast(&b, 1);
    e[items + 4..items + 8].copy_from_slice(&same.to_le_bytes());
    assert!(reseal(e).is_ok());
}

/// `read_header` reads the header only: it names the block of a valid file, and
/// refuses a foreign, truncated or lying header with a one-line error naming the file.
#[test]
fn headers_are_read_alone_and_checked() {
    let dir = std::env::temp_dir().join(format!("nncert-peek-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("partial.nncert");
    let p = problem(Metric::L1, vec![], false);
    let bytes = p.partial(spec(1, 2), spec(2, 3)).to_bytes();
    std::fs::write(&path, &bytes).unwrap();
    let header = shard::read_header(&path).unwrap();
    assert_eq!(header.test_block, spec(2, 3));
    assert_eq!((header.train_count, header.train_shards), (2, vec![1]));
    let l = layout(&bytes[..bytes.len() - shard::CHECKSUM_BYTES]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"NOTAPART0000".to_vec(), "no NNCERTPR header"),
        (
            bytes[..30].to_vec(),
            "partial result truncated: the file ends at byte 30, inside its header (a 16-byte field at byte 22)",
        ),
        (
            bytes[..l.block_count].to_vec(),
            "partial result truncated: the file ends at byte",
        ),
        (
            {
                let mut e = bytes.clone();
                put_u32(&mut e, 8, 99);
                e
            },
            "format version 99",
        ),
        (
            {
                // A k count announcing more bytes than the file has.
                let mut e = bytes.clone();
                put_u32(&mut e, 38, u32::MAX);
                e
            },
            "partial result corrupt or truncated: the header announces 34359738360 bytes of the k list at byte 42, past the end of the file",
        ),
        (
            {
                // Audit finding 13: one flipped byte of a length, in a file of full length,
                // was reported as "truncated: header incomplete".
                let mut e = bytes.clone();
                e[40] ^= 1;
                e
            },
            "partial result corrupt or truncated: the header announces 524304 bytes of the k list at byte 42",
        ),
        (
            {
                let mut e = bytes.clone();
                put_u64(&mut e, l.block_count - 8, 4);
                e
            },
            "test block",
        ),
    ];
    for (content, expect) in cases {
        std::fs::write(&path, &content).unwrap();
        let e = shard::read_header(&path).unwrap_err().to_string();
        assert!(
            e.contains(expect) && e.contains("partial.nncert"),
            "{e:?} should mention {expect:?}"
        );
        assert!(!e.contains('\n'), "one line: {e:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Review B6: radii from a file are finite; a partial covers at least one shard.
#[test]
fn non_finite_radii_and_empty_partials_are_refused() {
    let p = problem(Metric::L1, vec![1.0], false);
    let b = body(&p.partial(spec(1, 2), spec(1, 1)));
    let l = layout(&b);
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        let mut e = b.clone();
        e[l.radii[0]..l.radii[0] + 8].copy_from_slice(&bad.to_le_bytes());
        refused(reseal(e), "radius: expected a finite r");
    }
    let mut e = b.clone();
    put_u32(&mut e, l.n_shards, 0);
    refused(reseal(e), "covers no training shard");
}

/// Review B3: another test block's labels or a different exact key for one pair.
#[test]
fn conflicting_test_labels_and_keys_are_refused() {
    let p = problem(Metric::L2, vec![], true);
    let mut q = problem(Metric::L2, vec![], true);
    q.test_labels[0] = (q.test_labels[0] + 1) % 3;
    refused(
        p.partial(spec(1, 2), spec(1, 1))
            .merge(q.partial(spec(2, 2), spec(1, 1))),
        "different test labels",
    );
    // Shard 1 knows a key for (test 0, its first candidate); a file of shard 2 claims
    // another one for the same pair.
    let mut one = p.partial(spec(1, 2), spec(1, 1));
    let b = body(&one);
    let j = u32_at(&b, layout(&b).knn_segments[0].0 + 36) as u32;
    let key = shard::exact_keys(Metric::L2, &p.train, 0, &p.test, 0, &[(0, j)]).unwrap()[0];
    // Two different keys for one pair in the same call: before this check the last
    // one won silently; nothing of a refused call is kept.
    refused(
        one.add_keys(&[(0, j), (0, j)], &[key, Exact::ZERO]),
        "two different exact keys given for test row 0",
    );
    one.add_keys(&[(0, j), (0, j)], &[key, key]).unwrap();
    refused(one.add_keys(&[(0, j)], &[Exact::ZERO]), "already known");
    let mut b = body(&p.partial(spec(2, 2), spec(1, 1)));
    let at = layout(&b).known_count;
    put_u64(&mut b, at, 1);
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&j.to_le_bytes());
    b.extend_from_slice(&Exact::ZERO.to_le_bytes());
    let two = reseal(b).unwrap();
    refused(
        one.merge(two),
        &format!("different exact keys for test row 0, training row {j}"),
    );
}

/// Format version 3: a shard carries its rows' ranks (20 bytes each) and the merge
/// breaks ties by (rank descending, index ascending) itself. Ranks are used: editing the
/// rank of a row that ties with another (identical rows, same label, in two shards)
/// changes which of them is a neighbour — and the merge of the honest files equals the
/// single search.
#[test]
fn the_merge_breaks_ties_by_the_ranks_in_the_file() {
    // Every training row identical, two labels: the tie rule alone decides the order.
    let train = FeatureMatrix {
        n: 4,
        dim: 2,
        data: vec![1.0; 8],
    };
    let test = FeatureMatrix {
        n: 1,
        dim: 2,
        data: vec![0.0, 0.0],
    };
    let labels = vec![0, 0, 1, 1];
    let config = SearchConfig {
        metric: Metric::L1,
        // k_max = 2, each shard's size: every row is its shard's candidate, so the
        // order among the four is the merge's alone.
        ks: vec![1, 2],
        radii: vec![],
        kernel: Kernel::detect().unwrap(),
        keep_neighbours: true,
    };
    let records: Vec<u8> = train.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let ranks: Vec<Rank> = (0..4)
        .map(|i| nncert::rank::rank(labels[i], &records[i * 8..(i + 1) * 8]))
        .collect();
    let positions = nncert::rank::positions_of_ranks(&ranks);
    let reference = Reference {
        features: &train,
        labels: &labels,
        positions: &positions,
        n_classes: 2,
    };
    let single = search(reference, &test, &[0], &config, &|_| {}).unwrap();
    let part = |i: usize, ranks: &[Rank]| {
        let rows = spec(i, 2).range(4).unwrap();
        let shard_rows = FeatureMatrix {
            n: 2,
            dim: 2,
            data: train.data[rows.start * 2..rows.end * 2].to_vec(),
        };
        shard::search_rows(
            TrainShard {
                spec: spec(i, 2),
                n_train: 4,
                features: &shard_rows,
                labels: &labels[rows.clone()],
                ranks: &ranks[rows],
                n_classes: 2,
            },
            TestBlock {
                spec: ShardSpec::WHOLE,
                n_test: 1,
                features: &test,
                labels: &[0],
            },
            &config,
            "ctx",
        )
        .unwrap()
    };
    let finish = |ranks: &[Rank]| {
        let merged = part(1, ranks).merge(part(2, ranks)).unwrap();
        let keys =
            shard::exact_keys(Metric::L1, &train, 0, &test, 0, &merged.pending().unwrap()).unwrap();
        merged.finish(&keys).unwrap()
    };
    let honest = finish(&ranks);
    assert_eq!(honest.knn, single.knn);
    assert_eq!(honest.neighbours, single.neighbours);
    let winner = single.neighbours.as_ref().unwrap().knn[0][0].index;
    // The highest rank of the other label, edited in shard 2's file, wins instead.
    let loser = (0..4u32)
        .filter(|&i| labels[i as usize] != labels[winner as usize])
        .max_by_key(|&i| ranks[i as usize])
        .unwrap();
    let mut edited = ranks.clone();
    edited[loser as usize] = Rank([0xff; 20]);
    let owner = if loser < 2 { 1 } else { 2 };
    let mut b = body(&part(owner, &ranks));
    let at = layout(&b).ranks[0] + 20 * (loser as usize % 2);
    b[at..at + 20].copy_from_slice(&[0xff; 20]);
    let from_file = reseal(b).unwrap();
    let other = part(3 - owner, &ranks);
    let merged = from_file.merge(other).unwrap();
    let keys =
        shard::exact_keys(Metric::L1, &train, 0, &test, 0, &merged.pending().unwrap()).unwrap();
    let done = merged.finish(&keys).unwrap();
    assert_eq!(done.neighbours.as_ref().unwrap().knn[0][0].index, loser);
    assert_eq!(done, finish(&edited));
}

/// Review B5, B6: a shard search validates what the whole search validates.
#[test]
fn shard_searches_validate_k_radii_and_sizes() {
    let p = problem(Metric::L1, vec![], false);
    let run = |config: &SearchConfig| {
        shard::search(
            p.reference(),
            &p.test,
            &p.test_labels,
            config,
            spec(1, 2),
            spec(1, 1),
            "",
        )
    };
    let mut config = p.config.clone();
    config.ks = vec![2, 0];
    refused(run(&config), "k: expected at least 1, found 0");
    let mut config = p.config.clone();
    config.radii = vec![f64::NAN];
    refused(run(&config), "radius: expected a finite r");
    config.radii = vec![-1.0];
    refused(run(&config), "radius: expected a finite r");
    // n_train above 2^32 − 1: global indices would wrap.
    let rows = FeatureMatrix {
        n: 2,
        dim: 3,
        data: vec![0.0; 6],
    };
    let shard_of_huge = TrainShard {
        spec: spec(1, u32::MAX as usize),
        n_train: 1 << 33,
        features: &rows,
        labels: &[0, 1],
        ranks: &[Rank([0; 20]); 2],
        n_classes: 3,
    };
    let block = TestBlock {
        spec: ShardSpec::WHOLE,
        n_test: p.test.n,
        features: &p.test,
        labels: &p.test_labels,
    };
    refused(
        shard::search_rows(shard_of_huge, block, &p.config, ""),
        "above 2^32 − 1",
    );
}

/// Review A3: keys given with their pairs finish any merge order; a key for a pair that
/// is not a candidate, or a missing key, is refused — never assigned to another pair.
#[test]
fn keys_with_their_pairs_finish_any_merge_order() {
    for metric in [Metric::L2, Metric::L1, Metric::Cosine] {
        let p = problem(metric, vec![], true);
        let single = search(p.reference(), &p.test, &p.test_labels, &p.config, &|_| {}).unwrap();
        let parts = |order: &[usize]| -> Partial {
            let mut it = order.iter().map(|&i| p.partial(spec(i, 4), spec(1, 1)));
            let first = it.next().unwrap();
            it.fold(first, |a, b| a.merge(b).unwrap())
        };
        let forward = parts(&[1, 2, 3, 4]);
        let backward = parts(&[4, 3, 2, 1]);
        let keyed = |pairs: &[(usize, u32)]| -> Vec<(usize, u32, Exact)> {
            let keys = shard::exact_keys(metric, &p.train, 0, &p.test, 0, pairs).unwrap();
            pairs
                .iter()
                .zip(keys)
                .map(|(&(q, j), k)| (q, j, k))
                .collect()
        };
        let all_pending: Vec<(usize, u32)> = {
            let mut v = forward.pending().unwrap();
            v.extend(backward.pending().unwrap());
            v.sort_unstable();
            v.dedup();
            v
        };
        // Keys of either order's pending pairs, given in reverse, finish both.
        let mut keys = keyed(&all_pending);
        keys.reverse();
        for merged in [forward.clone(), backward.clone()] {
            let done = merged.finish_with(&keys).unwrap();
            assert_eq!(done.knn, single.knn, "{metric}");
            assert_eq!(
                done.neighbours.as_ref().map(|n| n.knn.len()),
                single.neighbours.as_ref().map(|n| n.knn.len())
            );
        }
        let own = forward.pending().unwrap();
        if let Some(&(q, j)) = own.first() {
            // One key short: the missing pair is named.
            let short: Vec<_> = keyed(&own)[1..].to_vec();
            refused(
                forward.clone().finish_with(&short),
                &format!("exact key for test row {q}, training row {j} missing"),
            );
        }
        // A key for a pair that is not a candidate.
        refused(
            forward
                .clone()
                .finish_with(&[(p.test.n + 5, 0, Exact::ZERO)]),
            "not a candidate",
        );
        // The same through Merge.
        let merge = Merge::new(vec![backward]).unwrap();
        assert_eq!(merge.finish_with(&keys).unwrap().knn, single.knn);
    }
}

/// Format version 3 (ranks; XXH3-128 trailer since version 2): a version-1 file (SHA-256
/// trailer) and a version-2 file (global positions) are refused by the reader and by
/// `read_header` with a message that says what to do; a change to any byte of the
/// trailer, or a trailer of the old length, is refused as corrupt.
#[test]
fn old_versions_and_bad_trailers_are_refused() {
    assert_eq!(shard::FORMAT_VERSION, 3);
    let p = problem(Metric::L1, vec![], false);
    let bytes = p.partial(spec(1, 2), spec(1, 1)).to_bytes();
    // The trailer is the checksum of everything before it.
    let (body, trailer) = bytes.split_at(bytes.len() - shard::CHECKSUM_BYTES);
    assert_eq!(trailer, shard::checksum(body));
    // Version 1: the same body with version 1 and a 32-byte SHA-256 trailer.
    let mut v1 = body.to_vec();
    put_u32(&mut v1, 8, 1);
    let digest = sha2::Sha256::digest(&v1);
    v1.extend_from_slice(&digest);
    refused(Partial::from_bytes(&v1), "format version 1");
    refused(Partial::from_bytes(&v1), "run the shard jobs again");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.nncert");
    std::fs::write(&path, &v1).unwrap();
    let e = shard::read_header(&path).unwrap_err().to_string();
    assert!(
        e.contains("old.nncert") && e.contains("format version 1") && !e.contains('\n'),
        "{e}"
    );
    // Version 2: global positions (4 bytes a row) instead of ranks, XXH3-128 trailer.
    let mut v2 = body.to_vec();
    put_u32(&mut v2, 8, 2);
    let digest = shard::checksum(&v2);
    v2.extend_from_slice(&digest);
    refused(
        Partial::from_bytes(&v2),
        "format version 2 (global tie-break positions)",
    );
    refused(Partial::from_bytes(&v2), "run the shard jobs again");
    std::fs::write(&path, &v2).unwrap();
    let e = shard::read_header(&path).unwrap_err().to_string();
    assert!(
        e.contains("old.nncert") && e.contains("format version 2") && !e.contains('\n'),
        "{e}"
    );
    // Every byte of the trailer matters.
    for i in 0..shard::CHECKSUM_BYTES {
        let mut e = bytes.clone();
        let at = bytes.len() - shard::CHECKSUM_BYTES + i;
        e[at] ^= 0x80;
        refused(Partial::from_bytes(&e), "checksum mismatch");
    }
    // A valid body followed by a SHA-256 trailer (the old length) is corrupt.
    let mut long = body.to_vec();
    long.extend_from_slice(&sha2::Sha256::digest(body));
    refused(Partial::from_bytes(&long), "checksum mismatch");
}
