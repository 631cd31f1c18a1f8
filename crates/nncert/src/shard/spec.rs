//! Which part of the training or test set a job covers: shard `I` of `N`.

use std::fmt;
use std::ops::Range;

use crate::error::Error;

/// Shard `index` of `count` (1-based): the contiguous rows
/// `[⌊(index − 1)·n / count⌋, ⌊index·n / count⌋)` of a set of `n` rows. Used for training
/// shards and test blocks alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardSpec {
    index: usize,
    count: usize,
}

impl ShardSpec {
    /// The whole set, `1/1`.
    pub const WHOLE: ShardSpec = ShardSpec { index: 1, count: 1 };

    /// Shard `index` of `count`, `1 ≤ index ≤ count`.
    pub fn new(index: usize, count: usize) -> Result<ShardSpec, Error> {
        if count == 0 || index == 0 || index > count || count > u32::MAX as usize {
            return Err(Error::invalid(format!(
                "shard {index}/{count}: expected I/N with 1 ≤ I ≤ N < 2^32"
            )));
        }
        Ok(ShardSpec { index, count })
    }

    /// Parses `I/N` (e.g. `2/3`).
    pub fn parse(text: &str) -> Result<ShardSpec, Error> {
        let parsed = text
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((i, n)) => ShardSpec::new(i, n),
            None => Err(Error::invalid(format!(
                "shard {text:?}: expected I/N, e.g. 2/3 (shard 2 of 3)"
            ))),
        }
    }

    /// The shard number `I` (1-based).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of shards `N`.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The rows of this shard in a set of `n` rows; every shard has at least one row, so
    /// `N ≤ n` is required.
    pub fn range(&self, n: usize) -> Result<Range<usize>, Error> {
        if self.count > n {
            return Err(Error::invalid(format!(
                "shard {self}: {} shards of {n} rows would leave a shard empty (expected N ≤ {n})",
                self.count
            )));
        }
        Ok(self.range_unchecked(n))
    }

    /// [`ShardSpec::range`] without the check (empty shards allowed).
    pub(crate) fn range_unchecked(&self, n: usize) -> Range<usize> {
        let at = |i: usize| ((i as u128 * n as u128) / self.count as u128) as usize;
        at(self.index - 1)..at(self.index)
    }

    /// The shard of `count` that holds row `row` of `n` (`row < n`, `count ≤ n`).
    pub(crate) fn containing(row: usize, n: usize, count: usize) -> usize {
        // Row r is in shard I iff ⌊(I−1)n/N⌋ ≤ r < ⌊In/N⌋, i.e. I = ⌊((r+1)N − 1)/n⌋ + 1.
        (((row as u128 + 1) * count as u128 - 1) / n as u128) as usize + 1
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_the_rows_and_locate_them() {
        for n in 1..40 {
            for count in 1..=n {
                let mut next = 0;
                for index in 1..=count {
                    let r = ShardSpec::new(index, count).unwrap().range(n).unwrap();
                    assert_eq!(r.start, next);
                    assert!(r.end > r.start);
                    for row in r.clone() {
                        assert_eq!(ShardSpec::containing(row, n, count), index);
                    }
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn parse_refuses_what_is_not_a_shard() {
        assert_eq!(ShardSpec::parse("2/3").unwrap().to_string(), "2/3");
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", "/", "-1/2"] {
            let e = ShardSpec::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("shard"), "{e}");
        }
        assert!(ShardSpec::parse("1/5").unwrap().range(4).is_err());
    }
}
