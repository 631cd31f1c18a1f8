//! [`BlockStream`]: the merged result of a run built one test block at a time, so that a
//! merge holds the candidates of one block only (`docs/SCALING.md`, *Merge*).

use crate::error::Error;
use crate::neighbours::SearchResult;
use crate::neighbours::exact::Exact;

use super::merge_all::stack;
use super::{Partial, ShardSettings};

/// Complete test blocks of one run, given in block order `1..=M` and finished one by
/// one: after [`BlockStream::push`] only the block's finished votes (and lists) are kept,
/// not its candidates. [`BlockStream::finish`] stacks them into the single-machine result,
/// the same bytes as [`super::Merge::finish`] of all partials at once.
#[derive(Debug, Default)]
pub struct BlockStream {
    /// The settings of the first block (every later block must have the same).
    settings: Option<ShardSettings>,
    /// The number of test blocks `M` of the first block.
    count: usize,
    /// Finished blocks, in order.
    done: Vec<SearchResult>,
    /// Test labels of the finished blocks, in order.
    labels: Vec<u32>,
}

impl BlockStream {
    /// An empty stream.
    pub fn new() -> BlockStream {
        BlockStream::default()
    }

    /// The settings of the run (`None` before the first block).
    pub fn settings(&self) -> Option<&ShardSettings> {
        self.settings.as_ref()
    }

    /// Labels of the test rows of the blocks finished so far, in order.
    pub fn test_labels(&self) -> &[u32] {
        &self.labels
    }

    /// The number of the block [`BlockStream::push`] expects next (1-based).
    pub(crate) fn next_block(&self) -> usize {
        self.done.len() + 1
    }

    /// Adds the next test block: `block` is the merge of every training shard's partial
    /// of it, `pairs` its [`Partial::pending`] pairs and `keys` their exact keys, in the
    /// same order ([`Partial::finish_pairs`]). Refuses a block of another run (settings,
    /// number of blocks), a block out of order (naming the one missing), and an
    /// incomplete block.
    pub fn push(
        &mut self,
        block: Partial,
        pairs: &[(usize, u32)],
        keys: &[Exact],
    ) -> Result<(), Error> {
        self.check_fits(&block)?;
        let labels = block.test_labels.clone();
        let result = block.finish_pairs(pairs, keys)?;
        self.labels.extend(labels);
        self.done.push(result);
        Ok(())
    }

    /// [`BlockStream::push`] with keys given with their pairs (global test row, training
    /// index, key), in any order ([`Partial::finish_with`]).
    pub(crate) fn push_with(
        &mut self,
        block: Partial,
        keys: &[(usize, u32, Exact)],
    ) -> Result<(), Error> {
        self.check_fits(&block)?;
        let labels = block.test_labels.clone();
        let result = block.finish_with(keys)?;
        self.labels.extend(labels);
        self.done.push(result);
        Ok(())
    }

    /// Whether `block` is the next block of this run.
    fn check_fits(&mut self, block: &Partial) -> Result<(), Error> {
        match &self.settings {
            None => {
                self.settings = Some(block.settings.clone());
                self.count = block.block.count();
            }
            Some(s) => {
                if let Some(d) = s.difference(&block.settings) {
                    return Err(Error::invalid(format!(
                        "{}: not the same run as the blocks before ({d})",
                        block.describe()
                    )));
                }
                if block.block.count() != self.count {
                    return Err(Error::invalid(format!(
                        "{}: test set split into {} vs {} blocks",
                        block.describe(),
                        block.block.count(),
                        self.count
                    )));
                }
            }
        }
        let next = self.next_block();
        if block.block.index() != next {
            return Err(Error::invalid(format!(
                "merge: test block {next}/{} is missing (next given: {})",
                self.count, block.block
            )));
        }
        Ok(())
    }

    /// The single-machine result of every block, stacked in order; an error if a block
    /// is missing.
    pub fn finish(self) -> Result<SearchResult, Error> {
        let Some(settings) = self.settings else {
            return Err(Error::invalid(
                "merge: expected at least one partial result",
            ));
        };
        if self.done.len() != self.count {
            return Err(Error::invalid(format!(
                "merge: test block {}/{} is missing (no partial for it; {} of {} blocks missing)",
                self.done.len() + 1,
                self.count,
                self.count - self.done.len(),
                self.count
            )));
        }
        stack(self.done, &settings, settings.n_classes)
    }
}
