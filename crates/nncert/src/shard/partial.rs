//! [`Partial`]: what one (training shard, test block) job found, and the exact merge of
//! partials of one test block.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::error::Error;
use crate::neighbours::Metric;
use crate::neighbours::exact::{Bound, Exact};
use crate::neighbours::key_interval::KeyDomain;
use crate::rank::Rank;

use super::ShardSpec;

/// The settings every partial of one run shares: a merge refuses partials that differ in
/// any of them.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardSettings {
    /// Distance.
    pub metric: Metric,
    /// kNN sizes, in the order asked.
    pub ks: Vec<usize>,
    /// rNN radii, in the order asked.
    pub radii: Vec<f64>,
    /// Whether neighbour lists are wanted in the merged result.
    pub keep_neighbours: bool,
    /// Rows of the whole training set.
    pub n_train: usize,
    /// Rows of the whole test set.
    pub n_test: usize,
    /// Number of classes.
    pub n_classes: usize,
    /// Free text from the caller that must match too: what the data and features are
    /// (e.g. dataset checksums, feature kind, tie rule), as the CLI records them.
    pub context: String,
}

impl ShardSettings {
    /// The largest k that matters: `min(max k, n_train)` (0 without k).
    pub fn k_max(&self) -> usize {
        self.ks.iter().max().map_or(0, |&k| k.min(self.n_train))
    }

    /// The first difference from `other`, in words (`None`: the same).
    pub fn difference(&self, other: &ShardSettings) -> Option<String> {
        let bits = |r: &[f64]| r.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let diffs = [
            (self.metric != other.metric)
                .then(|| format!("metric {} vs {}", self.metric, other.metric)),
            (self.ks != other.ks).then(|| format!("k {:?} vs {:?}", self.ks, other.ks)),
            (bits(&self.radii) != bits(&other.radii))
                .then(|| format!("r {:?} vs {:?}", self.radii, other.radii)),
            (self.keep_neighbours != other.keep_neighbours).then(|| {
                format!(
                    "neighbour lists {} vs {}",
                    self.keep_neighbours, other.keep_neighbours
                )
            }),
            (self.n_train != other.n_train)
                .then(|| format!("n_train {} vs {}", self.n_train, other.n_train)),
            (self.n_test != other.n_test)
                .then(|| format!("n_test {} vs {}", self.n_test, other.n_test)),
            (self.n_classes != other.n_classes)
                .then(|| format!("classes {} vs {}", self.n_classes, other.n_classes)),
            (self.context != other.context)
                .then(|| format!("data/settings {:?} vs {:?}", self.context, other.context)),
        ];
        diffs.into_iter().flatten().next()
    }
}

/// What a partial knows about the training rows of one shard it covers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShardTable {
    /// The shard number `I` (1-based).
    pub index: usize,
    /// What the shard search's fast values measure.
    pub domain: KeyDomain,
    /// Label of each of the shard's rows.
    pub labels: Vec<u32>,
    /// Tie-break rank of each of the shard's rows (SHA-1 of its label and record,
    /// `docs/METHOD.md` §2; ties go to the larger rank, then the smaller global index).
    pub ranks: Vec<Rank>,
    /// Where this shard's result came from (a file name; for messages, not stored).
    pub origin: String,
}

/// The covered shards' tables with their rows' ranges ([`Partial::tables`]): computed once
/// per partial, so that a lookup costs a binary search over a few ranges, not divisions.
pub(crate) struct ShardTables<'a> {
    /// Global training rows of each covered shard (ascending, as the shards are sorted).
    ranges: Vec<std::ops::Range<usize>>,
    shards: &'a [ShardTable],
}

impl ShardTables<'_> {
    /// The table of the shard holding training row `index`, and the row's place in it
    /// (`None`: no covered shard holds it).
    pub(crate) fn of(&self, index: u32) -> Option<(&ShardTable, usize)> {
        let i = index as usize;
        let p = self
            .ranges
            .partition_point(|r| r.start <= i)
            .checked_sub(1)?;
        let r = &self.ranges[p];
        (i < r.end).then(|| (&self.shards[p], i - r.start))
    }
}

/// One shard's list for one test row: the shard's exact k_max nearest (or its rNN ball)
/// as a set, listed by fast value, with the error bound of their fast values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    /// The shard number `I` (1-based).
    pub shard: usize,
    /// Error bound of the fast values.
    pub bound: Bound,
    /// (global training index, fast value), by fast value then position.
    pub items: Vec<(u32, f32)>,
}

/// One test row of a partial.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Row {
    /// rNN label counts, `radii.len() × c` (radii in the order asked), summed over shards.
    pub rnn_counts: Vec<u32>,
    /// kNN candidates, one segment per shard (sorted by shard).
    pub knn: Vec<Segment>,
    /// Every example within the largest radius, one segment per shard (only with
    /// neighbour lists).
    pub rnn: Vec<Segment>,
}

/// The result of one training shard (or of several, merged) for one test block: per test
/// row, each shard's exact k_max nearest (a set) with proven intervals of their exact keys, its
/// rNN label counts and, with neighbour lists, its rNN balls.
///
/// Partials of the same test block and disjoint training shards [`merge`](Partial::merge)
/// in any order and grouping; once every shard is in, [`Partial::pending`] names the few
/// (test row, training row) pairs whose exact keys the order still needs and
/// [`Partial::finish`] gives the single-machine result (`docs/SCALING.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    pub(crate) settings: ShardSettings,
    /// Number of training shards `N`.
    pub(crate) train_count: usize,
    /// Covered training shards, sorted by index.
    pub(crate) shards: Vec<ShardTable>,
    /// The test block.
    pub(crate) block: ShardSpec,
    /// Labels of the block's test rows.
    pub(crate) test_labels: Vec<u32>,
    /// One per test row of the block.
    pub(crate) rows: Vec<Row>,
    /// Exact keys already known: (global test row, training index) → key.
    pub(crate) known: BTreeMap<(u64, u32), Exact>,
}

impl Partial {
    /// The settings of the run.
    pub fn settings(&self) -> &ShardSettings {
        &self.settings
    }

    /// The test block.
    pub fn test_block(&self) -> ShardSpec {
        self.block
    }

    /// The number of training shards `N` of the run.
    pub fn train_shard_count(&self) -> usize {
        self.train_count
    }

    /// The training shards covered (numbers `I`, ascending).
    pub fn train_shards(&self) -> Vec<usize> {
        self.shards.iter().map(|s| s.index).collect()
    }

    /// Whether every training shard is in.
    pub fn is_complete(&self) -> bool {
        self.shards.len() == self.train_count
    }

    /// The global test rows of the block.
    pub fn test_rows(&self) -> std::ops::Range<usize> {
        self.block.range_unchecked(self.settings.n_test)
    }

    /// Labels of the block's test rows.
    pub fn test_labels(&self) -> &[u32] {
        &self.test_labels
    }

    /// Names every shard's result with `origin` (e.g. the file it was read from), for
    /// error messages.
    pub fn with_origin(mut self, origin: &str) -> Partial {
        for s in &mut self.shards {
            s.origin = origin.to_string();
        }
        self
    }

    /// A name for error messages: the origins of the covered shards.
    pub(crate) fn describe(&self) -> String {
        let mut names: Vec<&str> = self.shards.iter().map(|s| s.origin.as_str()).collect();
        names.dedup();
        if names.iter().all(|n| n.is_empty()) {
            format!(
                "partial (train shards {:?} of {}, test block {})",
                self.train_shards(),
                self.train_count,
                self.block
            )
        } else {
            names.join(" + ")
        }
    }

    /// Where each covered shard's rows start and end, to find the table of a training row
    /// by a binary search over the covered shards ([`ShardTables::of`]).
    pub(crate) fn tables(&self) -> ShardTables<'_> {
        let n = self.settings.n_train;
        let ranges = self
            .shards
            .iter()
            .map(|t| {
                ShardSpec::new(t.index, self.train_count)
                    .map_or(0..0, |spec| spec.range_unchecked(n))
            })
            .collect();
        ShardTables {
            ranges,
            shards: &self.shards,
        }
    }

    /// Merges the partial of other training shards of the same test block into this one.
    /// Refuses partials of another run (settings, shard count, test block, test labels),
    /// that share a training shard, or that know different exact keys for one pair.
    ///
    /// The *result* ([`Partial::finish`]) is the same for any order and grouping of
    /// merges, but the candidates a merge keeps are not: pruning drops candidates that
    /// provably are not among the k_max nearest, and which ones it can prove that of
    /// depends on what was merged before. So [`Partial::pending`] may differ between two
    /// merges of the same files in different orders; pass keys with their pairs
    /// ([`Partial::finish_with`]) when pending and finish happen in different processes.
    pub fn merge(mut self, other: Partial) -> Result<Partial, Error> {
        if let Some(d) = self.settings.difference(&other.settings) {
            return Err(Error::invalid(format!(
                "{} and {}: not the same run ({d})",
                self.describe(),
                other.describe()
            )));
        }
        if self.train_count != other.train_count {
            return Err(Error::invalid(format!(
                "{} and {}: training split into {} vs {} shards",
                self.describe(),
                other.describe(),
                self.train_count,
                other.train_count
            )));
        }
        if self.block != other.block {
            return Err(Error::invalid(format!(
                "{} and {}: different test blocks ({} vs {})",
                self.describe(),
                other.describe(),
                self.block,
                other.block
            )));
        }
        if self.test_labels != other.test_labels {
            return Err(Error::invalid(format!(
                "{} and {}: different test labels for test block {}",
                self.describe(),
                other.describe(),
                self.block
            )));
        }
        for (pair, key) in &other.known {
            if self.known.get(pair).is_some_and(|k| k != key) {
                return Err(Error::invalid(format!(
                    "{} and {}: different exact keys for test row {}, training row {}",
                    self.describe(),
                    other.describe(),
                    pair.0,
                    pair.1
                )));
            }
        }
        for s in &other.shards {
            if let Ok(p) = self.shards.binary_search_by_key(&s.index, |t| t.index) {
                return Err(Error::invalid(format!(
                    "{}: training shard {}/{} of test block {} given twice (also in {})",
                    if s.origin.is_empty() {
                        "partial"
                    } else {
                        &s.origin
                    },
                    s.index,
                    self.train_count,
                    self.block,
                    if self.shards[p].origin.is_empty() {
                        "another partial"
                    } else {
                        &self.shards[p].origin
                    }
                )));
            }
        }
        self.shards.extend(other.shards);
        self.shards.sort_by_key(|s| s.index);
        let k_max = self.settings.k_max();
        let mut rows = std::mem::take(&mut self.rows);
        // Rows are independent: merged in parallel, each the same whatever the threads.
        let merged: Vec<Result<(), Error>> = rows
            .par_iter_mut()
            .zip(other.rows.into_par_iter())
            .map(|(row, o)| {
                // Ctrl-C in Python: a merge of large partials stops within a row.
                crate::cancel::check()?;
                for (a, b) in row.rnn_counts.iter_mut().zip(o.rnn_counts) {
                    *a = a.saturating_add(b);
                }
                row.knn.extend(o.knn);
                row.knn.sort_by_key(|s| s.shard);
                let domains = self.segment_domains(&row.knn)?;
                super::order::prune(&mut row.knn, k_max, &domains);
                row.rnn.extend(o.rnn);
                row.rnn.sort_by_key(|s| s.shard);
                Ok(())
            })
            .collect();
        // The first error in row order, whatever the threads.
        merged.into_iter().collect::<Result<(), Error>>()?;
        self.rows = rows;
        self.known.extend(other.known);
        Ok(self)
    }

    /// The key domain of each segment's shard; a segment of a shard this partial does not
    /// cover is an error (never a default domain, which could order its candidates
    /// wrongly).
    pub(crate) fn segment_domains(&self, segments: &[Segment]) -> Result<Vec<KeyDomain>, Error> {
        segments
            .iter()
            .map(|seg| {
                self.shards
                    .binary_search_by_key(&seg.shard, |t| t.index)
                    .map(|p| self.shards[p].domain)
                    .map_err(|_| {
                        Error::invalid(format!(
                            "{}: a candidate list from training shard {}, which it does not cover",
                            self.describe(),
                            seg.shard
                        ))
                    })
            })
            .collect()
    }

    /// Checks that every training shard is in (for [`Partial::pending`] and
    /// [`Partial::finish`]).
    pub(crate) fn check_complete(&self) -> Result<(), Error> {
        if let Some(missing) = (1..=self.train_count)
            .find(|i| self.shards.binary_search_by_key(i, |s| s.index).is_err())
        {
            return Err(Error::invalid(format!(
                "{}: training shard {missing}/{} of test block {} is missing",
                self.describe(),
                self.train_count,
                self.block
            )));
        }
        // Every row has exactly one rank: each covered shard's table has one per row of
        // the shard (checked when the partial was read or searched), and the shards are
        // every shard once (above). Any 20 bytes are a rank, and (rank descending, index
        // ascending) is a total order, so nothing else can break the tie rule; the global
        // positions are never needed (the merge compares ranks, `docs/SCALING.md`).
        let n = self.settings.n_train;
        let total: usize = self.shards.iter().map(|t| t.ranks.len()).sum();
        if total != n {
            return Err(Error::invalid(format!(
                "{}: {total} tie-break ranks for {n} training rows",
                self.describe()
            )));
        }
        Ok(())
    }
}
