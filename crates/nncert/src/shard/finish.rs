//! From a complete [`Partial`] to the single-machine [`SearchResult`]: the pairs that
//! still need exact keys, then votes and neighbour lists in exact order.

use std::cmp::Reverse;

use rayon::prelude::*;

use crate::error::Error;
use crate::neighbours::exact::Exact;
use crate::neighbours::{KnnVotes, Neighbour, NeighbourLists, RnnVotes, SearchResult};
use crate::rank::Rank;
use crate::votes::Votes;

use super::order::{Needs, clusters, ordered};
use super::partial::{Partial, Segment, ShardTables};

impl Partial {
    /// The distinct effective k, ascending.
    fn boundaries(&self) -> Vec<usize> {
        let mut b: Vec<usize> = self
            .settings
            .ks
            .iter()
            .map(|&k| k.min(self.settings.n_train))
            .collect();
        b.sort_unstable();
        b.dedup();
        b
    }

    /// The lists of a row whose order is decided, with what decides it.
    fn lists_of<'a>(
        &'a self,
        row: usize,
        boundaries: &'a [usize],
    ) -> Vec<(&'a [Segment], Needs<'a>)> {
        let r = &self.rows[row];
        let mut out = Vec::new();
        if !self.settings.ks.is_empty() {
            out.push((
                &r.knn[..],
                Needs {
                    boundaries,
                    full_order: self.settings.keep_neighbours,
                    limit: self.settings.k_max(),
                },
            ));
        }
        if self.settings.keep_neighbours && !self.settings.radii.is_empty() {
            out.push((
                &r.rnn[..],
                Needs {
                    boundaries: &[],
                    full_order: true,
                    limit: usize::MAX,
                },
            ));
        }
        out
    }

    /// The (global test row, global training index) pairs whose exact keys the order still
    /// needs, sorted, without the keys already known. Meaningful once every training shard
    /// is in (an error otherwise). Compute them with [`super::exact_keys`] and pass them
    /// with their pairs to [`Partial::finish_with`] (or, in this order and to this same
    /// partial, to [`Partial::finish`]). The set depends on the order the partials were
    /// merged in ([`Partial::merge`]); the finished result does not.
    pub fn pending(&self) -> Result<Vec<(usize, u32)>, Error> {
        self.check_complete()?;
        let boundaries = self.boundaries();
        let first = self.test_rows().start;
        // Rows in parallel, concatenated in row order.
        let per_row = (0..self.rows.len())
            .into_par_iter()
            .map(|row| {
                crate::cancel::check()?;
                let q = first + row;
                let mut out = Vec::new();
                for (segments, needs) in self.lists_of(row, &boundaries) {
                    let domains = self.segment_domains(segments)?;
                    let (items, cl) = clusters(segments, &domains, &needs);
                    for (range, exact) in cl {
                        if exact {
                            out.extend(
                                items[range]
                                    .iter()
                                    .filter(|i| !self.known.contains_key(&(q as u64, i.index)))
                                    .map(|i| (q, i.index)),
                            );
                        }
                    }
                }
                Ok(out)
            })
            .collect::<Vec<Result<Vec<(usize, u32)>, Error>>>()
            .into_iter()
            .collect::<Result<Vec<_>, Error>>()?;
        let mut out: Vec<(usize, u32)> = per_row.into_iter().flatten().collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Adds exact keys: `keys[i]` is the key of `pairs[i]` (as [`super::exact_keys`] gives
    /// them). Later merges and [`Partial::finish`] use them. Refuses a pair that is not a
    /// (test row of this block, candidate of that row) — a key for it would be a key
    /// matched to the wrong pair — and a pair whose key is already known differently or is
    /// given twice with different keys. Nothing is added when a pair is refused.
    pub fn add_keys(&mut self, pairs: &[(usize, u32)], keys: &[Exact]) -> Result<(), Error> {
        if pairs.len() != keys.len() {
            return Err(Error::invalid(format!(
                "exact keys: expected {} (one per pair), found {}",
                pairs.len(),
                keys.len()
            )));
        }
        let rows = self.test_rows();
        // The candidates of each test row asked about, sorted once (pairs come in any
        // order; a scan per pair would be quadratic in k_max).
        let mut candidates: std::collections::BTreeMap<usize, Vec<u32>> = Default::default();
        for &(q, _) in pairs {
            if rows.contains(&q) && !candidates.contains_key(&q) {
                let r = &self.rows[q - rows.start];
                let mut c: Vec<u32> = r
                    .knn
                    .iter()
                    .chain(&r.rnn)
                    .flat_map(|seg| seg.items.iter().map(|&(i, _)| i))
                    .collect();
                c.sort_unstable();
                candidates.insert(q, c);
            }
        }
        // Keys of this call, checked against each other as well as against the keys
        // already known: two different keys for one pair in one call would otherwise let
        // the last one win silently.
        let mut batch: std::collections::BTreeMap<(u64, u32), Exact> = Default::default();
        for (&(q, j), &key) in pairs.iter().zip(keys) {
            let candidate = candidates
                .get(&q)
                .is_some_and(|c| c.binary_search(&j).is_ok());
            if !candidate {
                return Err(Error::invalid(format!(
                    "{}: exact key for test row {q}, training row {j}, which is not a candidate of test block {}",
                    self.describe(),
                    self.block
                )));
            }
            if self.known.get(&(q as u64, j)).is_some_and(|&k| k != key) {
                return Err(Error::invalid(format!(
                    "{}: a different exact key for test row {q}, training row {j} is already known",
                    self.describe()
                )));
            }
            if batch.insert((q as u64, j), key).is_some_and(|k| k != key) {
                return Err(Error::invalid(format!(
                    "{}: two different exact keys given for test row {q}, training row {j}",
                    self.describe()
                )));
            }
        }
        self.known.extend(batch);
        Ok(())
    }

    /// The votes of every k and r (and the neighbour lists, if the run keeps them) of the
    /// block's test rows, exactly as one search of the whole training set gives them.
    /// `keys` are the exact keys of [`Partial::pending`] of this same partial, in its
    /// order (keys computed from another process's pending list: use
    /// [`Partial::finish_with`], which matches keys to pairs by the pairs themselves).
    /// `threshold_fallbacks` is 0 (a speed statistic of single searches, not merged).
    pub fn finish(mut self, keys: &[Exact]) -> Result<SearchResult, Error> {
        let pending = self.pending()?;
        self.add_keys(&pending, keys)?;
        self.finish_known()
    }

    /// [`Partial::finish`] with the pairs given: `keys[i]` is the key of `pairs[i]`, and
    /// the pairs are this partial's [`Partial::pending`] (or more candidates of the
    /// block), as the caller computed them once; the pending pairs are not computed again.
    /// A pair the order needs without a key is an error naming it.
    pub fn finish_pairs(
        mut self,
        pairs: &[(usize, u32)],
        keys: &[Exact],
    ) -> Result<SearchResult, Error> {
        self.add_keys(pairs, keys)?;
        self.finish_known()
    }

    /// [`Partial::finish`] from keys given with their pairs, (global test row, training
    /// index, exact key), in any order: every pair must be a candidate of this block,
    /// and every pair the order needs must be among them (or known already), else an
    /// error naming the first missing pair.
    pub fn finish_with(mut self, keys: &[(usize, u32, Exact)]) -> Result<SearchResult, Error> {
        let pairs: Vec<(usize, u32)> = keys.iter().map(|&(q, j, _)| (q, j)).collect();
        let values: Vec<Exact> = keys.iter().map(|k| k.2).collect();
        self.add_keys(&pairs, &values)?;
        if let Some(&(q, j)) = self.pending()?.first() {
            return Err(Error::invalid(format!(
                "{}: exact key for test row {q}, training row {j} missing",
                self.describe()
            )));
        }
        self.finish_known()
    }

    /// The result once every key the order needs is known.
    fn finish_known(self) -> Result<SearchResult, Error> {
        self.check_complete()?;
        let boundaries = self.boundaries();
        let s = &self.settings;
        let c = s.n_classes;
        // Rows in parallel, assembled in row order: the same bytes for any thread count.
        let tables = self.tables();
        let rows = (0..self.rows.len())
            .into_par_iter()
            .map(|row| {
                crate::cancel::check()?;
                self.finish_row(row, &boundaries, &tables)
            })
            .collect::<Vec<Result<FinishedRow, Error>>>()
            .into_iter()
            .collect::<Result<Vec<_>, Error>>()?;
        // Grown as rows are counted: no capacity from numbers read from a file.
        let mut knn_counts: Vec<Vec<u32>> = vec![Vec::new(); s.ks.len()];
        let mut lists = NeighbourLists::default();
        for r in rows {
            for (ki, counts) in r.knn_counts.chunks(c.max(1)).enumerate() {
                knn_counts[ki].extend_from_slice(counts);
            }
            lists.knn.extend(r.knn_list);
            lists.rnn.extend(r.rnn_list);
        }
        let knn =
            s.ks.iter()
                .zip(knn_counts)
                .map(|(&k, counts)| {
                    Ok(KnnVotes {
                        k,
                        votes: Votes::new(counts, c, self.test_labels.clone())?,
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
        let rnn = s
            .radii
            .iter()
            .enumerate()
            .map(|(ri, &radius)| {
                let counts: Vec<u32> = self
                    .rows
                    .iter()
                    .flat_map(|r| r.rnn_counts[ri * c..(ri + 1) * c].iter().copied())
                    .collect();
                let empty = counts
                    .chunks(c)
                    .filter(|r| r.iter().all(|&v| v == 0))
                    .count();
                Ok(RnnVotes {
                    radius,
                    votes: Votes::new(counts, c, self.test_labels.clone())?,
                    empty,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(SearchResult {
            knn,
            rnn,
            threshold_fallbacks: 0,
            neighbours: s.keep_neighbours.then_some(lists),
        })
    }

    /// One test row of [`Partial::finish_known`]: its kNN counts (every k, in the order
    /// asked) and, with neighbour lists, its lists in exact order.
    fn finish_row(
        &self,
        row: usize,
        boundaries: &[usize],
        tables: &ShardTables<'_>,
    ) -> Result<FinishedRow, Error> {
        let s = &self.settings;
        let c = s.n_classes;
        let q = self.test_rows().start + row;
        // A row no covered shard holds cannot be a candidate (checked on reading); it
        // would sort last.
        let tie = |index: u32| {
            let rank = tables.of(index).map_or(Rank([0; 20]), |(t, i)| t.ranks[i]);
            (Reverse(rank), index)
        };
        let label = |index: u32| tables.of(index).map_or(u32::MAX, |(t, i)| t.labels[i]);
        let corrupt = |what: String| Error::invalid(format!("{}: {what}", self.describe()));
        let key = |index: u32| self.known.get(&(q as u64, index)).copied();
        let mut out = FinishedRow::default();
        for (li, (segments, needs)) in self.lists_of(row, boundaries).into_iter().enumerate() {
            let domains = self.segment_domains(segments)?;
            let items = ordered(segments, &domains, &needs, &key, &tie)
                .map_err(|j| corrupt(format!("no exact key for test row {q}, training row {j}")))?;
            let is_knn = li == 0 && !s.ks.is_empty();
            if is_knn {
                if items.len() < needs.limit {
                    return Err(corrupt(format!(
                        "test row {q}: {} kNN candidates, expected at least {}",
                        items.len(),
                        needs.limit
                    )));
                }
                // One pass over the nearest, the counts of each k taken as it passes
                // (k ascending), instead of one pass per k.
                let mut by_k: Vec<(usize, usize)> =
                    s.ks.iter()
                        .enumerate()
                        .map(|(ki, &k)| (k.min(s.n_train), ki))
                        .collect();
                by_k.sort_unstable();
                let mut running = vec![0u32; c];
                let mut counted = 0;
                let mut per_k = vec![Vec::new(); s.ks.len()];
                for (k, ki) in by_k {
                    for it in &items[counted..k] {
                        let l = label(it.index) as usize;
                        *running.get_mut(l).ok_or_else(|| {
                            corrupt(format!("training row {} has no label", it.index))
                        })? += 1;
                    }
                    counted = k;
                    per_k[ki] = running.clone();
                }
                out.knn_counts.extend(per_k.into_iter().flatten());
            }
            if s.keep_neighbours {
                let list: Vec<Neighbour> = items
                    .iter()
                    .map(|it| Neighbour {
                        index: it.index,
                        distance: domains[it.seg].reported(it.fast),
                    })
                    .collect();
                if is_knn {
                    out.knn_list = Some(list);
                } else {
                    out.rnn_list = Some(list);
                }
            }
        }
        Ok(out)
    }
}

/// What [`Partial::finish_row`] gives for one test row.
#[derive(Default)]
struct FinishedRow {
    /// `ks.len() × c` kNN counts, k in the order asked.
    knn_counts: Vec<u32>,
    /// The kNN list (with neighbour lists).
    knn_list: Option<Vec<Neighbour>>,
    /// The rNN list (with neighbour lists and radii).
    rnn_list: Option<Vec<Neighbour>>,
}
