//! Poisoned training sets: the whole set as a [`Dataset`] (for re-running the real
//! pipeline), and one query's votes on a targeted poisoning (computed directly).

use std::cmp::Reverse;

use super::Target;
use crate::data::{Content, Dataset, Split};
use crate::neighbours::exact::{Bound, Exact, exact_key, select_exact, within_radius};
use crate::neighbours::kernel::{Metric, scalar};
use crate::rank::Rank;

/// Votes of one query on `D − removed + copies × (query image, label)`: the classifier
/// re-run on the poisoned set, with the inserted copies at distance 0 from the query and
/// their own SHA-1 rank.
#[allow(clippy::too_many_arguments)]
pub(super) fn poisoned_votes(
    target: Target,
    metric: Metric,
    train: &[Vec<f32>],
    labels: &[u32],
    ranks: &[Rank],
    query: &[f32],
    removed: &[usize],
    copies: usize,
    inserted: (u32, Rank),
    n_classes: usize,
) -> Vec<u32> {
    let mut is_removed = vec![false; train.len()];
    for &j in removed {
        is_removed[j] = true;
    }
    let inserted_distance = scalar::distance(metric, query, query); // 0
    // Decisions as exact arithmetic makes them, like the search (docs/SEARCH.md).
    let bound = Bound::for_kernels(metric, query.len());
    let mut votes = vec![0u32; n_classes];
    match target {
        Target::Rnn(r) => {
            for (j, row) in train.iter().enumerate() {
                let fast = scalar::distance(metric, query, row);
                if !is_removed[j] && within_radius(&bound, metric, query, row, fast, r) {
                    votes[labels[j] as usize] += 1;
                }
            }
            if f64::from(inserted_distance) <= r {
                votes[inserted.0 as usize] += copies as u32;
            }
        }
        Target::Knn(k) => {
            // (distance bits, rank, index): inserted copies get indices after the training set.
            let mut all: Vec<(u32, Reverse<Rank>, usize, u32)> = train
                .iter()
                .enumerate()
                .filter(|(j, _)| !is_removed[*j])
                .map(|(j, row)| {
                    (
                        scalar::distance(metric, query, row).to_bits(),
                        Reverse(ranks[j]),
                        j,
                        labels[j],
                    )
                })
                .collect();
            for c in 0..copies {
                all.push((
                    inserted_distance.to_bits(),
                    Reverse(inserted.1),
                    train.len() + c,
                    inserted.0,
                ));
            }
            let k = k.min(all.len());
            select_exact(
                &bound,
                &mut all,
                k,
                |x| f32::from_bits(x.0),
                |x| match train.get(x.2) {
                    Some(row) => exact_key(metric, query, row),
                    None => Exact::ZERO, // an inserted copy of the query
                },
                |x| (x.1, x.2),
            );
            all.truncate(k);
            for &(_, _, _, l) in &all {
                votes[l as usize] += 1;
            }
        }
    }
    votes
}

/// `D − removed + inserted`, where each insertion is a copy of a test image with a label.
pub(crate) fn poisoned_dataset(
    dataset: &Dataset,
    removed: &[usize],
    inserted: &[(usize, u32)],
) -> Dataset {
    // A training split held in the search layout: back to rows first.
    let unpacked;
    let train = if dataset.train.layout.is_some() {
        unpacked = dataset.train.truncated(dataset.train.len());
        &unpacked
    } else {
        &dataset.train
    };
    let len = train.record_len;
    let mut is_removed = vec![false; train.len()];
    for &j in removed {
        is_removed[j] = true;
    }
    let mut records = Vec::with_capacity(train.records.len() + inserted.len() * len);
    let mut labels = Vec::with_capacity(train.len() + inserted.len());
    for j in (0..train.len()).filter(|&j| !is_removed[j]) {
        records.extend_from_slice(train.record(j));
        labels.push(train.labels[j]);
    }
    for &(i, label) in inserted {
        records.extend_from_slice(dataset.test.record(i));
        labels.push(label);
    }
    let features = train.features.as_ref().map(|_| {
        // Feature datasets: the features of the kept rows, then the test rows inserted.
        let dim = match dataset.content {
            Content::Features { dim, .. } => dim,
            Content::Images(s) => s.len(),
        };
        let tr = train.features.as_ref().expect("checked");
        let te = dataset
            .test
            .features
            .as_ref()
            .expect("feature datasets have both");
        let mut f = Vec::with_capacity(labels.len() * dim);
        for j in (0..train.len()).filter(|&j| !is_removed[j]) {
            f.extend_from_slice(&tr[j * dim..(j + 1) * dim]);
        }
        for &(i, _) in inserted {
            f.extend_from_slice(&te[i * dim..(i + 1) * dim]);
        }
        f
    });
    let mut d = dataset.clone();
    d.train = Split {
        records,
        labels,
        record_len: len,
        features,
        layout: None,
    };
    d
}
