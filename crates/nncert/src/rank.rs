//! The SHA-1 tie-break rank of a training example (METHOD §2).
//!
//! `rank = SHA-1(label as u32 little-endian ‖ the example's input bytes as stored)`, read as a
//! 160-bit big-endian unsigned integer. It depends only on the example itself, so an
//! attacker cannot change the rank of a clean example, and the kNN order is the same on
//! every machine and for every ordering of the training file.

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
pub fn tie_break_positions(labels: &[u32], records: &[u8], record_len: usize) -> Vec<u32> {
    assert_eq!(records.len(), labels.len() * record_len);
    let ranks: Vec<Rank> = labels
        .iter()
        .zip(records.chunks_exact(record_len.max(1)))
        .map(|(&y, r)| rank(y, if record_len == 0 { &[] } else { r }))
        .collect();
    positions_of_ranks(&ranks)
}

/// Each example's position in the order (rank descending, index ascending), from the
/// ranks of every example in index order.
pub fn positions_of_ranks(ranks: &[Rank]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..ranks.len() as u32).collect();
    order.sort_unstable_by(|&i, &j| ranks[j as usize].cmp(&ranks[i as usize]).then(i.cmp(&j)));
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
