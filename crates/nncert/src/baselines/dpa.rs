//! Deep partition aggregation (Levine & Feizi 2021; METHOD §5).
//!
//! Each training example goes to partition `h mod ζ`, where `h` is the first 8 bytes, read
//! big-endian, of `SHA-256(label as u32 little-endian ‖ the example's input bytes)` — the
//! same bytes as the rank of METHOD §2, so the assignment depends only on the example. One
//! base classifier per partition; the ensemble predicts the label with most votes, the
//! smaller label winning ties (DPA's rule).
//!
//! Certificate (insert/delete units): one inserted or deleted example changes one
//! partition, hence at most one vote, which moves the gap between the predicted label `a`
//! and any other `b` by at most 2. The prediction survives `ρ = floor((n_a − n_b − [b < a]) / 2)`
//! operations. In nncert's units a poisoning of size `e` is up to `e` deletions and `e`
//! insertions (2e operations), so it is certified at `e` iff `ρ ≥ 2e`.

use sha2::{Digest, Sha256};

use super::BaselineCertificate;
use crate::votes::{Prediction, TieRule, Votes};

/// The units of a certified size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    /// nncert's poisoning size (METHOD §1): a modification counts 1.
    Poisoning,
    /// DPA's insertions + deletions: a modification counts 2.
    Insdel,
}

/// The partition of one training example.
pub fn partition_of(label: u32, record: &[u8], zeta: usize) -> usize {
    let mut h = Sha256::new();
    h.update(label.to_le_bytes());
    h.update(record);
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % zeta as u64) as usize
}

/// Members of each of the `zeta` partitions.
pub fn partitions(
    labels: &[u32],
    records: &[u8],
    record_len: usize,
    zeta: usize,
) -> Vec<Vec<usize>> {
    let mut parts = vec![Vec::new(); zeta];
    for (i, &y) in labels.iter().enumerate() {
        parts[partition_of(y, &records[i * record_len..(i + 1) * record_len], zeta)].push(i);
    }
    parts
}

/// `ρ` of one row of votes under DPA's rule, with the prediction.
pub fn rho(counts: &[u32]) -> (Prediction, u64) {
    let p = Prediction::from_counts(counts, TieRule::Smaller);
    let (a, b) = (p.predicted, p.runner_up);
    let gap = u64::from(p.votes_predicted) - u64::from(p.votes_runner_up) - u64::from(b < a);
    (p, gap / 2)
}

/// DPA certificates of every test input.
pub fn certificates(votes: &Votes, units: Units) -> Vec<BaselineCertificate> {
    (0..votes.n_test())
        .map(|i| {
            let (prediction, rho) = rho(votes.row(i));
            BaselineCertificate {
                label: votes.labels()[i],
                prediction,
                e_star: Some(match units {
                    Units::Poisoning => rho / 2,
                    Units::Insdel => rho,
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rho_by_hand() {
        // a = 1 (7 votes), b = 0 (3 votes), b < a: ρ = floor((7 − 3 − 1) / 2) = 1.
        assert_eq!(rho(&[3, 7, 0]).1, 1);
        // a = 0 (5), b = 2 (1), b > a: ρ = floor(4 / 2) = 2.
        assert_eq!(rho(&[5, 0, 1]).1, 2);
        // A tie goes to the smaller label, which then survives no operation.
        let (p, r) = rho(&[4, 4]);
        assert_eq!((p.predicted, r), (0, 0));
    }

    #[test]
    fn partitions_depend_only_on_the_example() {
        let records = [1u8, 2, 3, 1, 2, 3, 9, 9, 9];
        let labels = [0, 0, 1];
        let parts = partitions(&labels, &records, 3, 7);
        let p0 = partition_of(0, &[1, 2, 3], 7);
        assert!(parts[p0].contains(&0) && parts[p0].contains(&1));
    }
}
