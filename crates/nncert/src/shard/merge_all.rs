//! [`Merge`]: every partial of a run → one result, blocks checked and stacked in order.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::neighbours::exact::Exact;
use crate::neighbours::{KnnVotes, NeighbourLists, RnnVotes, SearchResult};
use crate::votes::Votes;

use super::{BlockStream, Partial, ShardSettings, ShardSpec};

/// Every partial of a run, merged per test block: checks that they belong to one run,
/// that every test block has every training shard exactly once, then gives the pairs that
/// need exact keys ([`Merge::pending`]) and the single-machine result ([`Merge::finish`]).
#[derive(Debug, Clone)]
pub struct Merge {
    /// One complete partial per test block, in block order.
    blocks: Vec<Partial>,
}

impl Merge {
    /// Merges `partials` (in the order given, per test block) and checks the run is
    /// complete.
    pub fn new(partials: Vec<Partial>) -> Result<Merge, Error> {
        let Some(first) = partials.first() else {
            return Err(Error::invalid(
                "merge: expected at least one partial result",
            ));
        };
        let m = first.block.count();
        // Keyed by block: memory follows the partials given, not the block count a file
        // announces.
        let mut blocks: BTreeMap<usize, Partial> = BTreeMap::new();
        let (settings, name) = (first.settings.clone(), first.describe());
        for p in partials {
            if let Some(d) = settings.difference(&p.settings) {
                return Err(Error::invalid(format!(
                    "{name} and {}: not the same run ({d})",
                    p.describe()
                )));
            }
            if p.block.count() != m {
                return Err(Error::invalid(format!(
                    "{name} and {}: test set split into {} vs {} blocks",
                    p.describe(),
                    m,
                    p.block.count()
                )));
            }
            let j = p.block.index();
            let merged = match blocks.remove(&j) {
                None => p,
                Some(have) => have.merge(p)?,
            };
            blocks.insert(j, merged);
        }
        for b in blocks.values() {
            b.check_complete()?;
        }
        if blocks.len() != m {
            // The first gap in the sorted block numbers (not a scan of 1..=m: m comes from a file).
            let first_missing = blocks
                .keys()
                .zip(1..)
                .find(|(have, j)| **have != *j)
                .map_or(blocks.len() + 1, |(_, j)| j);
            return Err(Error::invalid(format!(
                "merge: test block {first_missing}/{m} is missing (no partial for it; {} of {m} blocks missing)",
                m - blocks.len()
            )));
        }
        let blocks: Vec<Partial> = blocks.into_values().collect();
        Ok(Merge { blocks })
    }

    /// The settings of the run.
    pub fn settings(&self) -> &ShardSettings {
        &self.blocks[0].settings
    }

    /// Labels of every test row, in order.
    pub fn test_labels(&self) -> Vec<u32> {
        self.blocks
            .iter()
            .flat_map(|b| b.test_labels.iter().copied())
            .collect()
    }

    /// The (global test row, global training index) pairs that need exact keys, sorted.
    pub fn pending(&self) -> Result<Vec<(usize, u32)>, Error> {
        let mut out = Vec::new();
        for b in &self.blocks {
            out.extend(b.pending()?);
        }
        Ok(out)
    }

    /// The single-machine result from keys given with their pairs (global test row,
    /// training index, exact key), in any order: see [`Partial::finish_with`]. Use this
    /// when the pending pairs were computed elsewhere (another process may have merged
    /// the partials in another order, and asked for other pairs).
    pub fn finish_with(self, keys: &[(usize, u32, Exact)]) -> Result<SearchResult, Error> {
        let m = self.blocks.len();
        let n_test = self.settings().n_test;
        let mut per_block: Vec<Vec<(usize, u32, Exact)>> = vec![Vec::new(); m];
        for &(q, j, key) in keys {
            if q >= n_test {
                return Err(Error::invalid(format!(
                    "exact keys: test row {q} is not below n_test = {n_test}"
                )));
            }
            per_block[ShardSpec::containing(q, n_test, m) - 1].push((q, j, key));
        }
        let mut stream = BlockStream::new();
        for (b, k) in self.blocks.into_iter().zip(per_block) {
            stream.push_with(b, &k)?;
        }
        stream.finish()
    }

    /// The single-machine result; `keys` are the exact keys of [`Merge::pending`] of this
    /// same merge, in its order (keys for another process's pending list:
    /// [`Merge::finish_with`]).
    pub fn finish(self, keys: &[Exact]) -> Result<SearchResult, Error> {
        let pending = self.pending()?;
        if pending.len() != keys.len() {
            return Err(Error::invalid(format!(
                "exact keys: expected {} (one per pending pair), found {}",
                pending.len(),
                keys.len()
            )));
        }
        let mut at = 0;
        let mut stream = BlockStream::new();
        for b in self.blocks {
            let n = pending[at..]
                .iter()
                .take_while(|p| b.test_rows().contains(&p.0))
                .count();
            stream.push(b, &pending[at..at + n], &keys[at..at + n])?;
            at += n;
        }
        stream.finish()
    }
}

/// Stacks per-block results in block order.
pub(crate) fn stack(
    parts: Vec<SearchResult>,
    s: &ShardSettings,
    c: usize,
) -> Result<SearchResult, Error> {
    let labels: Vec<u32> = parts
        .iter()
        .flat_map(|p| {
            p.knn
                .first()
                .map(|k| k.votes.labels())
                .or_else(|| p.rnn.first().map(|r| r.votes.labels()))
                .unwrap_or(&[])
                .iter()
                .copied()
        })
        .collect();
    let knn = (0..s.ks.len())
        .map(|i| {
            let counts = parts
                .iter()
                .flat_map(|p| p.knn[i].votes.counts().iter().copied())
                .collect();
            Ok(KnnVotes {
                k: s.ks[i],
                votes: Votes::new(counts, c, labels.clone())?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let rnn = (0..s.radii.len())
        .map(|i| {
            let counts = parts
                .iter()
                .flat_map(|p| p.rnn[i].votes.counts().iter().copied())
                .collect();
            Ok(RnnVotes {
                radius: s.radii[i],
                votes: Votes::new(counts, c, labels.clone())?,
                empty: parts.iter().map(|p| p.rnn[i].empty).sum(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let neighbours = s.keep_neighbours.then(|| {
        let mut all = NeighbourLists::default();
        for p in &parts {
            if let Some(l) = &p.neighbours {
                all.knn.extend(l.knn.iter().cloned());
                all.rnn.extend(l.rnn.iter().cloned());
            }
        }
        all
    });
    Ok(SearchResult {
        knn,
        rnn,
        threshold_fallbacks: 0,
        neighbours,
    })
}
