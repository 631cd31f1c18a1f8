//! The training matrix in the search's memory layout, built once: rows grouped by label,
//! within a label in a fixed pseudo-random order, each label's run padded to a multiple of
//! 4 rows, every row padded with zeros to a multiple of [`LANES`] values.
//!
//! The order depends only on the labels (a seeded shuffle, then a stable grouping), so a
//! loader that reads the labels first can write each feature row straight into its place
//! ([`TrainLayout::zeroed`] then [`TrainLayout::row_mut`]) and the search works on that
//! one copy: no row-major matrix of the training features has to exist next to it
//! (`docs/MEMORY.md`).

use super::kernel::LANES;
use crate::features::FeatureMatrix;
use crate::rng::SplitMix64;

/// Seed of the training-row visiting order.
const ORDER_SEED: u64 = 0x6e6e_6365_7274; // "nncert"

/// Marks a padding slot in [`TrainLayout::row_of_slot`].
const PADDING: u32 = u32::MAX;

/// The slots of one label: `start..start + padded`, the first `len` hold real rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LabelGroup {
    /// First slot.
    pub start: usize,
    /// Real rows.
    pub len: usize,
    /// Slots (`len` rounded up to a multiple of 4).
    pub padded: usize,
}

/// Training rows in the search's layout (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainLayout {
    /// Columns of the original rows.
    dim: usize,
    /// Values per stored row (a multiple of [`LANES`], at least one lane group).
    padded_dim: usize,
    /// `slots × padded_dim` values.
    data: Vec<f32>,
    /// Original row of each slot ([`PADDING`] for a padding slot).
    row_of_slot: Vec<u32>,
    /// Slot of each original row.
    slot_of_row: Vec<u32>,
    /// One group per label `0..n_classes`, in label order.
    groups: Vec<LabelGroup>,
}

impl TrainLayout {
    /// The layout of `labels` (each below `n_classes`) for rows of `dim` values, all zero:
    /// a loader then writes every row with [`TrainLayout::row_mut`]. The memory is
    /// `(n + 3·n_classes) × padded_dim` f32 at most, allocated zeroed (pages the loader
    /// has not written yet cost nothing).
    ///
    /// # Panics
    /// If a label is not below `n_classes` or there are 2³² − 1 rows or more (callers
    /// validate both first).
    pub fn zeroed(labels: &[u32], n_classes: usize, dim: usize) -> TrainLayout {
        let n = labels.len();
        assert!(n < PADDING as usize, "at most 2^32 − 2 training rows");
        // A fixed shuffle, then grouped by label (stable): random order within each label.
        let mut shuffled: Vec<u32> = (0..n as u32).collect();
        let mut rng = SplitMix64::new(ORDER_SEED);
        for i in (1..n).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut counts = vec![0usize; n_classes];
        for &y in labels {
            counts[y as usize] += 1;
        }
        let mut groups = Vec::with_capacity(n_classes);
        let mut start = 0;
        for &len in &counts {
            let padded = len.div_ceil(4) * 4;
            groups.push(LabelGroup { start, len, padded });
            start += padded;
        }
        let slots = start;
        let mut next: Vec<usize> = groups.iter().map(|g| g.start).collect();
        let mut row_of_slot = vec![PADDING; slots];
        let mut slot_of_row = vec![0u32; n];
        for &j in &shuffled {
            let label = labels[j as usize] as usize;
            let slot = next[label];
            next[label] += 1;
            row_of_slot[slot] = j;
            slot_of_row[j as usize] = slot as u32;
        }
        let padded_dim = dim.div_ceil(LANES).max(1) * LANES;
        TrainLayout {
            dim,
            padded_dim,
            data: vec![0f32; slots * padded_dim],
            row_of_slot,
            slot_of_row,
            groups,
        }
    }

    /// The layout of a row-major matrix (one copy of its values).
    pub(crate) fn from_matrix(m: &FeatureMatrix, labels: &[u32], n_classes: usize) -> TrainLayout {
        TrainLayout::from_rows(&m.data, m.dim, labels, n_classes)
    }

    /// The layout of `labels.len()` row-major rows of `dim` values (one copy of them).
    pub(crate) fn from_rows(
        data: &[f32],
        dim: usize,
        labels: &[u32],
        n_classes: usize,
    ) -> TrainLayout {
        assert_eq!(data.len(), labels.len() * dim, "one label per row");
        let mut layout = TrainLayout::zeroed(labels, n_classes, dim);
        for (i, row) in data.chunks_exact(dim.max(1)).enumerate() {
            layout.row_mut(i).copy_from_slice(row);
        }
        layout
    }

    /// The layout of the rows of `rows` (one copy of them).
    pub(crate) fn from_rows_of(
        rows: &(impl crate::shard::TrainRows + ?Sized),
        labels: &[u32],
        n_classes: usize,
    ) -> TrainLayout {
        let mut layout = TrainLayout::zeroed(labels, n_classes, rows.n_cols());
        for i in 0..rows.n_rows() {
            layout.row_mut(i).copy_from_slice(rows.values(i));
        }
        layout
    }

    /// Number of (real) training rows.
    pub fn n(&self) -> usize {
        self.slot_of_row.len()
    }

    /// Columns of the original rows.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Original row `i` (its `dim` values, without the padding).
    pub fn row(&self, i: usize) -> &[f32] {
        let at = self.slot_of_row[i] as usize * self.padded_dim;
        &self.data[at..at + self.dim]
    }

    /// Original row `i`, to write (the padding stays zero).
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        let at = self.slot_of_row[i] as usize * self.padded_dim;
        &mut self.data[at..at + self.dim]
    }

    /// The rows back in their original order, as a row-major matrix (a copy).
    pub fn to_matrix(&self) -> FeatureMatrix {
        let mut data = Vec::with_capacity(self.n() * self.dim);
        for i in 0..self.n() {
            data.extend_from_slice(self.row(i));
        }
        FeatureMatrix {
            n: self.n(),
            dim: self.dim,
            data,
        }
    }

    /// Values per stored row.
    pub(crate) fn padded_dim(&self) -> usize {
        self.padded_dim
    }

    /// Every slot's values, taken.
    pub(crate) fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// Every slot's values, `slots × padded_dim`.
    pub(crate) fn data(&self) -> &[f32] {
        &self.data
    }

    /// The original row in `slot` (`None`: a padding slot).
    pub(crate) fn row_of_slot(&self, slot: usize) -> Option<usize> {
        match self.row_of_slot[slot] {
            PADDING => None,
            j => Some(j as usize),
        }
    }

    /// Number of slots (real rows and padding).
    pub(crate) fn slots(&self) -> usize {
        self.row_of_slot.len()
    }

    /// The slots of each label, in label order.
    pub(crate) fn groups(&self) -> &[LabelGroup] {
        &self.groups
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.data.len() * 4 + (self.row_of_slot.len() + self.slot_of_row.len()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_go_to_their_label_group_and_come_back() {
        let labels = [2u32, 0, 2, 1, 0, 2, 2];
        let dim = 3;
        let m = FeatureMatrix {
            n: 7,
            dim,
            data: (0..21).map(|v| v as f32).collect(),
        };
        let layout = TrainLayout::from_matrix(&m, &labels, 4);
        assert_eq!(layout.padded_dim(), LANES);
        assert_eq!(layout.to_matrix(), m);
        let groups = layout.groups();
        assert_eq!(groups.len(), 4);
        assert_eq!((groups[0].len, groups[0].padded), (2, 4));
        assert_eq!((groups[3].len, groups[3].padded), (0, 0));
        for g in groups {
            for slot in g.start..g.start + g.padded {
                match layout.row_of_slot(slot) {
                    Some(j) => {
                        assert!(slot < g.start + g.len);
                        assert_eq!(
                            labels[j] as usize,
                            groups.iter().position(|x| x == g).unwrap()
                        );
                    }
                    None => assert!(slot >= g.start + g.len),
                }
            }
        }
        // The padding of every row is zero.
        for slot in 0..layout.slots() {
            let row = &layout.data()[slot * LANES..(slot + 1) * LANES];
            assert!(row[dim..].iter().all(|&v| v == 0.0));
        }
    }
}
