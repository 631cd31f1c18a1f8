//! Which training examples each base model of a partition ensemble sees (DPA, Finite
//! Aggregation; derivations in `docs/ENSEMBLES.md`).
//!
//! The training set is cut into `B = k·d` **buckets** by a hash of each example: bucket
//! `h mod B`, where `h` is the first 8 bytes, read big-endian, of `SHA-256(label as u32
//! little-endian ‖ the example's input bytes)` — the same function as DPA's partitions
//! ([`super::dpa::partition_of`]), so an example's bucket depends on the example alone.
//! There are `B` base models too, and bucket `b` is **spread** to the `d` models
//! `(b + s) mod B` for each shift `s` of a list of `d` distinct shifts in `0..B`; model `i`
//! therefore trains on the `d` buckets `(i − s) mod B`. DPA is the case `d = 1` (shift 0):
//! bucket `i` is model `i`'s partition.
//!
//! The certificates only use the structure "one inserted or deleted example lands in one
//! bucket, which feeds exactly the `d` models of its spread".

use crate::certify::grouping::SplitMix64;
use crate::error::Error;

use super::dpa::partition_of;

/// The bucket → models structure of an ensemble of `k·d` base models.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Spread {
    k: usize,
    d: usize,
    shifts: Vec<usize>,
}

impl Spread {
    /// DPA with `n_models` partitions: `k = n_models`, `d = 1`, shift 0.
    pub fn dpa(n_models: usize) -> Result<Spread, Error> {
        Spread::new(n_models, 1, vec![0])
    }

    /// Finite Aggregation with the given shifts (`d = shifts.len()` distinct values in
    /// `0..k·d`).
    pub fn new(k: usize, d: usize, shifts: Vec<usize>) -> Result<Spread, Error> {
        let n = k
            .checked_mul(d)
            .filter(|&n| n > 0 && n <= u32::MAX as usize)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "spread: expected k ≥ 1 and d ≥ 1 with k·d < 2^32, found k = {k}, d = {d}"
                ))
            })?;
        if shifts.len() != d {
            return Err(Error::invalid(format!(
                "spread shifts: expected d = {d} shifts, found {}",
                shifts.len()
            )));
        }
        if let Some(&s) = shifts.iter().find(|&&s| s >= n) {
            return Err(Error::invalid(format!(
                "spread shifts: expected values in 0..{n} (k·d), found {s}"
            )));
        }
        let mut sorted = shifts.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::invalid(format!(
                "spread shifts: expected distinct values, found {} twice",
                w[0]
            )));
        }
        Ok(Spread { k, d, shifts })
    }

    /// Finite Aggregation with `d` distinct shifts drawn from SplitMix64 seeded by `seed`:
    /// draw `below(k·d)` repeatedly, keeping each value not drawn before, until `d` are kept
    /// (in the order kept).
    pub fn seeded(k: usize, d: usize, seed: u64) -> Result<Spread, Error> {
        let n = k.saturating_mul(d);
        if k == 0 || d == 0 || n > u32::MAX as usize {
            return Spread::new(k, d, Vec::new());
        }
        let mut rng = SplitMix64::new(seed);
        let mut shifts = Vec::with_capacity(d);
        let mut seen = std::collections::HashSet::with_capacity(d);
        while shifts.len() < d {
            let s = rng.below(n as u64) as usize;
            if seen.insert(s) {
                shifts.push(s);
            }
        }
        Spread::new(k, d, shifts)
    }

    /// `k`: the ensemble's "inverse sensitivity" (number of models ÷ d).
    pub fn k(&self) -> usize {
        self.k
    }

    /// `d`: how many models each bucket feeds.
    pub fn d(&self) -> usize {
        self.d
    }

    /// The shifts, in the order given.
    pub fn shifts(&self) -> &[usize] {
        &self.shifts
    }

    /// Number of buckets `B = k·d`, which is also the number of models.
    pub fn n_buckets(&self) -> usize {
        self.k * self.d
    }

    /// Number of base models (`k·d`).
    pub fn n_models(&self) -> usize {
        self.n_buckets()
    }

    /// The models bucket `b` feeds.
    pub fn models_of_bucket(&self, b: usize) -> impl Iterator<Item = usize> + '_ {
        let n = self.n_buckets();
        self.shifts.iter().map(move |&s| (b + s) % n)
    }

    /// The buckets model `i` trains on: the inverse of [`Spread::models_of_bucket`], kept
    /// for the unit test that checks the two agree (training iterates buckets, not models).
    #[cfg(test)]
    fn buckets_of_model(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let n = self.n_buckets();
        self.shifts.iter().map(move |&s| (i + n - s) % n)
    }

    /// The bucket of one training example (label and input bytes as stored).
    pub fn bucket_of(&self, label: u32, record: &[u8]) -> usize {
        partition_of(label, record, self.n_buckets())
    }

    /// The training examples of every model, each list in increasing index order.
    pub fn members(&self, labels: &[u32], records: &[u8], record_len: usize) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.n_models()];
        for (j, &y) in labels.iter().enumerate() {
            let b = self.bucket_of(y, &records[j * record_len..(j + 1) * record_len]);
            for m in self.models_of_bucket(b) {
                out[m].push(j);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bucket_feeds_d_models_and_every_model_reads_d_buckets() {
        let s = Spread::seeded(7, 3, 5).unwrap();
        assert_eq!(s.n_models(), 21);
        let mut fed = [0; 21];
        for b in 0..21 {
            let models: Vec<usize> = s.models_of_bucket(b).collect();
            assert_eq!(models.len(), 3);
            for m in models {
                fed[m] += 1;
                assert!(s.buckets_of_model(m).any(|x| x == b));
            }
        }
        assert!(fed.iter().all(|&f| f == 3));
    }

    #[test]
    fn bad_spreads_are_refused() {
        assert!(Spread::new(0, 1, vec![0]).is_err());
        assert!(Spread::new(3, 2, vec![1, 1]).is_err());
        assert!(Spread::new(3, 2, vec![1, 6]).is_err());
        assert!(Spread::new(3, 2, vec![1]).is_err());
        assert!(Spread::dpa(5).is_ok());
    }

    #[test]
    fn dpa_spread_matches_dpa_partitions() {
        let records = [1u8, 2, 3, 1, 2, 3, 9, 9, 9, 4, 4, 4];
        let labels = [0, 0, 1, 2];
        let parts = super::super::dpa::partitions(&labels, &records, 3, 5);
        assert_eq!(Spread::dpa(5).unwrap().members(&labels, &records, 3), parts);
    }
}
