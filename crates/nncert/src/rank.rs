//! The SHA-1 tie-break rank of a training example (METHOD §2).
//!
//! `rank = SHA-1(label as u32 little-endian ‖ the example's input bytes as stored)`, read as a
//! 160-bit big-endian unsigned integer. It depends only on the example itself, so an
//! attacker cannot change the rank of a clean example, and the kNN order is the same on
//! every machine and for every ordering of the training file.

use rayon::prelude::*;
use sha1::{Digest, Sha1};

/// A 160-bit rank, compared as a big-endian unsigned integer (byte-wise lexicographic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rank(pub [u8; 20]);

/// The rank of one example.
pub fn rank(label: u32, record: &[u8]) -> Rank {
    let mut h = Sha1::new();
    h.update(label.to_le_bytes());
    h.update(record);
    Rank(h.finalize().into())
}

/// Each training example's position in the order (rank descending, index ascending):
/// position 0 wins every distance tie. With positions, the total order of METHOD §2 is
/// simply (distance ascending, position ascending), which fits a packed integer key.
///
/// The rows are hashed in parallel on rayon's pool (each rank depends on its row alone)
/// and the order is total, so the positions do not depend on the thread count.
pub fn tie_break_positions(labels: &[u32], records: &[u8], record_len: usize) -> Vec<u32> {
    assert_eq!(records.len(), labels.len() * record_len);
    let ranks: Vec<Rank> = if record_len == 0 {
        labels.iter().map(|&y| rank(y, &[])).collect()
    } else {
        labels
            .par_iter()
            .zip(records.par_chunks_exact(record_len))
            .map(|(&y, r)| rank(y, r))
            .collect()
    };
    positions_of_ranks(&ranks)
}

/// The rank of an example whose record is `values` as stored by a float32 file (their
/// little-endian bytes) or, with `as_u8`, by a uint8 file (each value a byte): the same
/// hash as [`rank`] of those bytes, fed to SHA-1 a few hundred values at a time from a
/// stack buffer instead of a rebuilt record.
pub(crate) fn rank_of_values(label: u32, values: &[f32], as_u8: bool) -> Rank {
    const PIECE: usize = 256;
    let mut h = Sha1::new();
    h.update(label.to_le_bytes());
    let mut buf = [0u8; 4 * PIECE];
    for piece in values.chunks(PIECE) {
        let bytes = if as_u8 {
            for (b, &v) in buf.iter_mut().zip(piece) {
                *b = v as u8;
            }
            &buf[..piece.len()]
        } else {
            for (b, v) in buf.chunks_exact_mut(4).zip(piece) {
                b.copy_from_slice(&v.to_le_bytes());
            }
            &buf[..4 * piece.len()]
        };
        h.update(bytes);
    }
    Rank(h.finalize().into())
}

/// Each example's position in the order (rank descending, index ascending), from the
/// ranks of every example in index order. (The order is total, so the parallel sort
/// gives one answer.)
pub fn positions_of_ranks(ranks: &[Rank]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..ranks.len() as u32).collect();
    order.par_sort_unstable_by(|&i, &j| ranks[j as usize].cmp(&ranks[i as usize]).then(i.cmp(&j)));
    let mut position = vec![0u32; ranks.len()];
    for (pos, &i) in order.iter().enumerate() {
        position[i as usize] = pos as u32;
    }
    position
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_hashes_label_then_bytes() {
        // SHA-1 of the 4 bytes 01 00 00 00 followed by "abc".
        let r = rank(1, b"abc");
        let mut h = Sha1::new();
        h.update([1u8, 0, 0, 0, b'a', b'b', b'c']);
        assert_eq!(r.0, <[u8; 20]>::from(h.finalize()));
        // SHA-1("") is da39a3ee…; label 0 with no bytes is SHA-1 of four zero bytes.
        assert_eq!(
            rank(0, b"").0[..4],
            [0x90, 0x69, 0xca, 0x78],
            "SHA-1(00000000) = 9069ca78e7450a285173431b3e52c5c25299e473"
        );
    }

    /// The positions as computed before the rows were hashed in parallel: one row after
    /// the other, then a serial sort.
    fn serial_positions(labels: &[u32], records: &[u8], record_len: usize) -> Vec<u32> {
        let ranks: Vec<Rank> = labels
            .iter()
            .zip(records.chunks_exact(record_len))
            .map(|(&y, r)| rank(y, r))
            .collect();
        let mut order: Vec<u32> = (0..ranks.len() as u32).collect();
        order.sort_by(|&i, &j| ranks[j as usize].cmp(&ranks[i as usize]).then(i.cmp(&j)));
        let mut position = vec![0u32; ranks.len()];
        for (pos, &i) in order.iter().enumerate() {
            position[i as usize] = pos as u32;
        }
        position
    }

    #[test]
    fn parallel_positions_equal_the_serial_ones_whatever_the_threads() {
        let mut rng = crate::rng::SplitMix64::new(23);
        for (n, record_len) in [(1, 1), (2, 3), (5_000, 2), (3_001, 37)] {
            // Few distinct values and labels: many identical examples (equal ranks, where
            // the index decides) and a few rows that differ by one byte.
            let labels: Vec<u32> = (0..n).map(|_| rng.below(3) as u32).collect();
            let records: Vec<u8> = (0..n * record_len).map(|_| rng.below(2) as u8).collect();
            let expected = serial_positions(&labels, &records, record_len);
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let got = pool.install(|| tie_break_positions(&labels, &records, record_len));
                assert_eq!(got, expected, "n = {n}, {threads} threads");
            }
        }
    }

    #[test]
    fn rank_of_values_hashes_the_records_as_stored() {
        let mut rng = crate::rng::SplitMix64::new(4);
        // Widths around the 256-value pieces fed to SHA-1.
        for dim in [0, 1, 255, 256, 257, 700] {
            let values: Vec<f32> = (0..dim)
                .map(|_| rng.below(1 << 20) as f32 / 1024.0 - 512.0)
                .collect();
            let le: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert_eq!(rank_of_values(7, &values, false), rank(7, &le), "{dim}");
            let bytes: Vec<u8> = (0..dim).map(|_| rng.below(256) as u8).collect();
            let as_f32: Vec<f32> = bytes.iter().map(|&b| f32::from(b)).collect();
            assert_eq!(rank_of_values(9, &as_f32, true), rank(9, &bytes), "{dim}");
        }
    }

    #[test]
    fn positions_follow_rank_descending_then_index() {
        let labels = [0, 1, 0, 0];
        let records = [7u8, 7, 7, 9];
        let pos = tie_break_positions(&labels, &records, 1);
        // Examples 0 and 2 are identical: same rank, so index decides between them.
        assert!(pos[0] < pos[2]);
        let ranks: Vec<Rank> = (0..4)
            .map(|i| rank(labels[i], &records[i..i + 1]))
            .collect();
        for i in 0..4 {
            for j in 0..4 {
                if ranks[i] > ranks[j] {
                    assert!(pos[i] < pos[j]);
                }
            }
        }
    }
}
