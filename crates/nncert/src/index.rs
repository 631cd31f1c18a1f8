//! The in-memory entry point: a training matrix checked and indexed once, then queried
//! for votes, neighbour lists and certificates of any number of test matrices.
//!
//! Files are only one way in: a caller that already holds its features in memory (the
//! Python package, an embedding pipeline) builds an [`Index`] from borrowed slices in any of
//! the dtypes the `.npy` path accepts (float32, float64, uint8) and gets exactly what
//! `nncert certify --dataset npy --features raw` computes for the same arrays: the values
//! are converted to f32 the same way, and each training example's tie-break rank hashes
//! its label and its row's little-endian bytes *in the original dtype*, as stored in the
//! `.npy` file (see [`crate::rank`]). When the features were derived from other data (HOG
//! of images), [`Index::ranked_by`] hashes those rows instead, as the CLI does for image
//! datasets, so votes match the CLI's byte for byte there too.

use std::time::Instant;

use crate::error::Error;
use crate::experiment::{
    CertifyOptions, Experiment, ExperimentSeconds, drop_list_only_k, neighbour_settings,
};
use crate::features::FeatureMatrix;
use crate::neighbours::{
    LaidOutReference, SearchConfig, SearchResult, TrainLayout, search_laid_out,
};
use crate::pipeline::StageSeconds;
use crate::rank::{positions_of_ranks, rank};

/// The most classes an index accepts: votes take `n_test × c` counts, so `c` must stay
/// reasonable whatever number (or label) a caller passes. Public so that the Python
/// package checks its `n_classes` against this one limit, with the same message.
pub const MAX_CLASSES: usize = 1 << 16;

/// Rows between two polls of a cancellation while an index is built (copying a row and
/// hashing it take about a microsecond each for 512 features: a poll every millisecond or
/// so, one relaxed atomic load each).
const CANCEL_BLOCK_ROWS: usize = 1024;

/// A number of classes outside `2..=MAX_CLASSES`, in the words of every range check of the
/// Python package (`n_classes: expected an integer in 2..=65536, found …`).
fn n_classes_error(n_classes: usize) -> Error {
    Error::invalid(format!(
        "n_classes: expected an integer in 2..={MAX_CLASSES}, found {n_classes}"
    ))
}

/// Borrowed row-major values in one of the dtypes nncert reads.
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    /// float32.
    F32(&'a [f32]),
    /// float64 (converted to the nearest f32, as the `.npy` path does).
    F64(&'a [f64]),
    /// uint8 (exact in f32).
    U8(&'a [u8]),
}

impl Values<'_> {
    fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::U8(v) => v.len(),
        }
    }

    fn bytes_per_value(&self) -> usize {
        match self {
            Values::F32(_) => 4,
            Values::F64(_) => 8,
            Values::U8(_) => 1,
        }
    }

    fn dtype(&self) -> &'static str {
        match self {
            Values::F32(_) => "float32",
            Values::F64(_) => "float64",
            Values::U8(_) => "uint8",
        }
    }
}

/// A borrowed `n × dim` row-major matrix and the name the caller knows it by (used in
/// error messages, e.g. `X`).
#[derive(Debug, Clone, Copy)]
pub struct MatrixRef<'a> {
    name: &'a str,
    values: Values<'a>,
    n: usize,
    dim: usize,
}

impl<'a> MatrixRef<'a> {
    /// Checks that `values` holds exactly `n × dim` values.
    pub fn new(
        name: &'a str,
        values: Values<'a>,
        n: usize,
        dim: usize,
    ) -> Result<MatrixRef<'a>, Error> {
        if n.checked_mul(dim) != Some(values.len()) {
            return Err(Error::invalid(format!(
                "{name}: expected {n} × {dim} values, found {}",
                values.len()
            )));
        }
        Ok(MatrixRef {
            name,
            values,
            n,
            dim,
        })
    }

    /// Rows.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The values as f32 features, refusing empty matrices and NaN/±inf (a float64 value
    /// outside the f32 range becomes ±inf and is refused too).
    pub fn to_features(&self) -> Result<FeatureMatrix, Error> {
        let name = self.name;
        if self.n == 0 {
            return Err(Error::invalid(format!(
                "{name}: expected at least one row, found none"
            )));
        }
        if self.dim == 0 {
            return Err(Error::invalid(format!(
                "{name}: expected at least one column, found none"
            )));
        }
        let data: Vec<f32> = match self.values {
            Values::F32(v) => v.to_vec(),
            Values::F64(v) => v.iter().map(|&x| x as f32).collect(),
            Values::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
        };
        if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
            let found = match self.values {
                Values::F64(v) if v[pos].is_finite() => {
                    format!("{:e} (outside the float32 range)", v[pos])
                }
                _ => data[pos].to_string(),
            };
            return Err(Error::invalid(format!(
                "{name}: expected finite values, found {found} at row {}, column {}",
                pos / self.dim,
                pos % self.dim
            )));
        }
        Ok(FeatureMatrix {
            n: self.n,
            dim: self.dim,
            data,
        })
    }

    /// The values as f32 rows straight in the search's layout (one copy), with the checks
    /// of [`MatrixRef::to_features`].
    fn laid_out(&self, labels: &[u32], n_classes: usize) -> Result<TrainLayout, Error> {
        let name = self.name;
        if self.n == 0 {
            return Err(Error::invalid(format!(
                "{name}: expected at least one row, found none"
            )));
        }
        if self.dim == 0 {
            return Err(Error::invalid(format!(
                "{name}: expected at least one column, found none"
            )));
        }
        let mut layout = TrainLayout::zeroed(labels, n_classes, self.dim);
        for i in 0..self.n {
            if i % CANCEL_BLOCK_ROWS == 0 {
                crate::cancel::check()?;
            }
            let row = layout.row_mut(i);
            let range = i * self.dim..(i + 1) * self.dim;
            match self.values {
                Values::F32(v) => row.copy_from_slice(&v[range]),
                Values::F64(v) => {
                    for (out, &x) in row.iter_mut().zip(&v[range]) {
                        *out = x as f32;
                    }
                }
                Values::U8(v) => {
                    for (out, &x) in row.iter_mut().zip(&v[range]) {
                        *out = f32::from(x);
                    }
                }
            }
            if let Some(col) = row.iter().position(|v| !v.is_finite()) {
                let found = match self.values {
                    Values::F64(v) if v[i * self.dim + col].is_finite() => {
                        format!("{:e} (outside the float32 range)", v[i * self.dim + col])
                    }
                    _ => row[col].to_string(),
                };
                return Err(Error::invalid(format!(
                    "{name}: expected finite values, found {found} at row {i}, column {col}"
                )));
            }
        }
        Ok(layout)
    }

    /// Row `i`'s values as little-endian bytes in the original dtype (see
    /// [`MatrixRef::le_bytes`]), written into `out`.
    fn row_le_bytes(&self, i: usize, out: &mut Vec<u8>) {
        out.clear();
        let range = i * self.dim..(i + 1) * self.dim;
        match self.values {
            Values::F32(v) => out.extend(v[range].iter().flat_map(|x| x.to_le_bytes())),
            Values::F64(v) => out.extend(v[range].iter().flat_map(|x| x.to_le_bytes())),
            Values::U8(v) => out.extend_from_slice(&v[range]),
        }
    }

    /// Every row's values as little-endian bytes in the original dtype: the bytes a `.npy`
    /// file of this matrix stores, which the tie-break rank hashes.
    pub fn le_bytes(&self) -> Vec<u8> {
        match self.values {
            Values::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::U8(v) => v.to_vec(),
        }
    }

    /// Bytes per row in the original dtype.
    pub fn record_len(&self) -> usize {
        self.dim * self.values.bytes_per_value()
    }

    /// `float32`, `float64` or `uint8`.
    pub fn dtype(&self) -> &'static str {
        self.values.dtype()
    }
}

/// A training set ready for any number of queries: f32 features (in the search's layout,
/// the one copy the index holds), labels, the number of classes and every example's
/// tie-break position, computed once.
#[derive(Debug, Clone)]
pub struct Index {
    features: TrainLayout,
    labels: Vec<u32>,
    positions: Vec<u32>,
    n_classes: usize,
    ranks_seconds: f64,
}

impl Index {
    /// Indexes `train` with `labels`; each example's rank hashes its label and its row of
    /// `train` as stored (original dtype, little-endian). `n_classes` defaults to one more
    /// than the largest label (at least 2); when given, every label must be below it.
    pub fn new(
        train: MatrixRef<'_>,
        labels: Vec<u32>,
        n_classes: Option<usize>,
    ) -> Result<Index, Error> {
        Index::ranked_by(train, labels, n_classes, train)
    }

    /// As [`Index::new`], but the ranks hash the rows of `rank_rows` (same number of rows,
    /// any width and dtype): e.g. the images the features were computed from, which is what
    /// the CLI hashes for MNIST and CIFAR-10.
    pub fn ranked_by(
        train: MatrixRef<'_>,
        labels: Vec<u32>,
        n_classes: Option<usize>,
        rank_rows: MatrixRef<'_>,
    ) -> Result<Index, Error> {
        if labels.len() != train.n {
            return Err(Error::invalid(format!(
                "labels: expected {} (one per row of {}), found {}",
                train.n,
                train.name,
                labels.len()
            )));
        }
        if rank_rows.n != train.n {
            return Err(Error::invalid(format!(
                "{}: expected {} rows (one per row of {}), found {}",
                rank_rows.name, train.n, train.name, rank_rows.n
            )));
        }
        let max_label = labels.iter().copied().max().unwrap_or(0) as usize;
        let n_classes = match n_classes {
            Some(c) if !(2..=MAX_CLASSES).contains(&c) => {
                return Err(n_classes_error(c));
            }
            Some(c) => {
                if let Some((i, &y)) = labels.iter().enumerate().find(|&(_, &y)| y as usize >= c) {
                    return Err(Error::invalid(format!(
                        "labels: expected values below n_classes = {c}, found {y} at index {i}"
                    )));
                }
                c
            }
            None if max_label >= MAX_CLASSES => {
                return Err(Error::invalid(format!(
                    "labels: expected values below {MAX_CLASSES}, found {max_label}"
                )));
            }
            None => (max_label + 1).max(2),
        };
        if train.n > u32::MAX as usize - 1 {
            return Err(Error::invalid(format!(
                "{}: at most 2^32 − 2 training examples",
                train.name
            )));
        }
        let features = train.laid_out(&labels, n_classes)?;
        let t = Instant::now();
        // Hashed row by row: no copy of the whole matrix's bytes. A cancellation is
        // polled every block of rows (the hashing takes about 0.8 s for 100,000 × 512).
        let mut bytes = Vec::with_capacity(rank_rows.record_len());
        let mut ranks = Vec::with_capacity(train.n);
        for (i, &label) in labels.iter().enumerate() {
            if i % CANCEL_BLOCK_ROWS == 0 {
                crate::cancel::check()?;
            }
            rank_rows.row_le_bytes(i, &mut bytes);
            ranks.push(rank(label, &bytes));
        }
        crate::cancel::check()?;
        let positions = positions_of_ranks(&ranks);
        Ok(Index {
            features,
            labels,
            positions,
            n_classes,
            ranks_seconds: t.elapsed().as_secs_f64(),
        })
    }

    /// Rebuilds an index from its parts as [`Index::features`], [`Index::labels`],
    /// [`Index::positions`] and [`Index::n_classes`] return them, e.g. after they were
    /// shipped to another process: the ranks are not recomputed (the bytes they hashed may
    /// be gone), so the rebuilt index searches exactly as the original. Checks that the
    /// parts fit together: values finite, one label per row and each below `n_classes`,
    /// and `positions` a permutation of `0..n`.
    pub fn from_parts(
        features: FeatureMatrix,
        labels: Vec<u32>,
        positions: Vec<u32>,
        n_classes: usize,
    ) -> Result<Index, Error> {
        let (n, dim) = (features.n, features.dim);
        let features =
            MatrixRef::new("features", Values::F32(&features.data), n, dim)?.to_features()?;
        if !(2..=MAX_CLASSES).contains(&n_classes) {
            return Err(n_classes_error(n_classes));
        }
        if labels.len() != n {
            return Err(Error::invalid(format!(
                "labels: expected {n} (one per row of features), found {}",
                labels.len()
            )));
        }
        if let Some((i, &y)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &y)| y as usize >= n_classes)
        {
            return Err(Error::invalid(format!(
                "labels: expected values below n_classes = {n_classes}, found {y} at index {i}"
            )));
        }
        if positions.len() != n {
            return Err(Error::invalid(format!(
                "positions: expected {n} (one per row of features), found {}",
                positions.len()
            )));
        }
        let mut seen = vec![false; n];
        for (i, &p) in positions.iter().enumerate() {
            match seen.get_mut(p as usize) {
                Some(s) if !*s => *s = true,
                _ => {
                    return Err(Error::invalid(format!(
                        "positions: expected a permutation of 0..{n}, found {p} at index {i}"
                    )));
                }
            }
        }
        let features = TrainLayout::from_matrix(&features, &labels, n_classes);
        Ok(Index {
            features,
            labels,
            positions,
            n_classes,
            ranks_seconds: 0.0,
        })
    }

    /// Number of training examples.
    pub fn n_train(&self) -> usize {
        self.features.n()
    }

    /// Feature columns.
    pub fn dim(&self) -> usize {
        self.features.dim()
    }

    /// Number of classes `c`.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Training labels.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Training features as f32, in the search's layout ([`TrainLayout::row`] gives
    /// row `i`; [`TrainLayout::to_matrix`] a row-major copy).
    pub fn features(&self) -> &TrainLayout {
        &self.features
    }

    /// Tie-break position of every training example (0 wins every distance tie).
    pub fn positions(&self) -> &[u32] {
        &self.positions
    }

    /// The training side of [`crate::neighbours::search_laid_out()`].
    pub fn reference(&self) -> LaidOutReference<'_> {
        LaidOutReference {
            layout: &self.features,
            labels: &self.labels,
            positions: &self.positions,
            n_classes: self.n_classes,
        }
    }

    /// Checks a test matrix and its labels against the index.
    fn test_side(
        &self,
        test: MatrixRef<'_>,
        labels: Option<&[u32]>,
    ) -> Result<(FeatureMatrix, Vec<u32>), Error> {
        if test.dim != self.dim() {
            return Err(Error::invalid(format!(
                "{}: expected {} columns (as in the training features), found {}",
                test.name,
                self.dim(),
                test.dim
            )));
        }
        let features = test.to_features()?;
        let labels = match labels {
            None => vec![0; test.n],
            Some(y) if y.len() != test.n => {
                return Err(Error::invalid(format!(
                    "labels: expected {} (one per row of {}), found {}",
                    test.n,
                    test.name,
                    y.len()
                )));
            }
            Some(y) => {
                if let Some((i, &l)) = y
                    .iter()
                    .enumerate()
                    .find(|&(_, &l)| l as usize >= self.n_classes)
                {
                    return Err(Error::invalid(format!(
                        "labels: expected values below n_classes = {}, found {l} at index {i}",
                        self.n_classes
                    )));
                }
                y.to_vec()
            }
        };
        Ok((features, labels))
    }

    /// Votes (and neighbour lists if `config.keep_neighbours`) of every row of `test` for
    /// every k and r of `config`. Without `labels` the votes carry label 0 for every row
    /// (votes and predictions do not depend on them; certified accuracy does).
    pub fn search(
        &self,
        test: MatrixRef<'_>,
        labels: Option<&[u32]>,
        config: &SearchConfig,
    ) -> Result<SearchResult, Error> {
        let (features, labels) = self.test_side(test, labels)?;
        search_laid_out(
            self.reference(),
            (&features).into(),
            &labels,
            config,
            &|_| {},
        )
    }

    /// One training shard `train` of this index searched for test block `block` of
    /// `test` (the whole test set): a [`crate::shard::Partial`] to merge with the other
    /// shards' (`docs/SCALING.md`). `context` must be the same for every partial of a run
    /// (e.g. a checksum of the data).
    pub fn search_shard(
        &self,
        test: MatrixRef<'_>,
        labels: Option<&[u32]>,
        config: &SearchConfig,
        train: crate::shard::ShardSpec,
        block: crate::shard::ShardSpec,
        context: &str,
    ) -> Result<crate::shard::Partial, Error> {
        let (features, labels) = self.test_side(test, labels)?;
        // The shard search takes row-major training features: a copy, for this call.
        let matrix = self.features.to_matrix();
        crate::shard::search(
            crate::neighbours::Reference {
                features: &matrix,
                labels: &self.labels,
                positions: &self.positions,
                n_classes: self.n_classes,
            },
            &features,
            &labels,
            config,
            train,
            block,
            context,
        )
    }

    /// Votes, per-input certificates and CA(e) curves of every k and r of `config`, as an
    /// [`Experiment`] (kNN settings first, then rNN, each in the order asked) — the values
    /// `nncert certify` computes and writes.
    pub fn certify(
        &self,
        test: MatrixRef<'_>,
        labels: &[u32],
        config: &SearchConfig,
        options: &CertifyOptions,
    ) -> Result<Experiment, Error> {
        if config.ks.is_empty() && config.radii.is_empty() {
            return Err(Error::invalid("certify: expected at least one k or r"));
        }
        let (features, labels) = self.test_side(test, Some(labels))?;
        let t = Instant::now();
        let (config, list_only_k) = options.search_config(config);
        let mut result = search_laid_out(
            self.reference(),
            (&features).into(),
            &labels,
            &config,
            &|_| {},
        )?;
        drop_list_only_k(&mut result, list_only_k);
        let neighbours = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let settings = neighbour_settings(&result, options, &self.labels)?;
        Ok(Experiment {
            settings,
            seconds: ExperimentSeconds {
                votes: StageSeconds {
                    features: 0.0,
                    ranks: self.ranks_seconds,
                    neighbours,
                },
                certify: t.elapsed().as_secs_f64(),
                baselines: 0.0,
            },
            threshold_fallbacks: result.threshold_fallbacks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbours::{Kernel, Metric, Reference, search};
    use crate::rank::tie_break_positions;

    fn config(ks: Vec<usize>, radii: Vec<f64>) -> SearchConfig {
        SearchConfig {
            metric: Metric::L1,
            ks,
            radii,
            kernel: Kernel::Scalar,
            keep_neighbours: false,
        }
    }

    #[test]
    fn ranks_hash_the_original_dtype_bytes() {
        let values = [1.0f64, 2.0, 3.0, 4.0];
        let m = MatrixRef::new("X", Values::F64(&values), 2, 2).unwrap();
        let index = Index::new(m, vec![0, 1], None).unwrap();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(index.positions(), tie_break_positions(&[0, 1], &bytes, 16));
        assert_eq!(index.n_classes(), 2);
        assert_eq!(index.features().to_matrix().data, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn refuses_bad_inputs_with_the_argument_named() {
        let nan = [1.0f32, f32::NAN];
        let m = MatrixRef::new("X", Values::F32(&nan), 1, 2).unwrap();
        let e = Index::new(m, vec![0], None).unwrap_err().to_string();
        assert!(
            e.starts_with("X: expected finite values, found NaN at row 0, column 1"),
            "{e}"
        );
        let big = [1e300f64];
        let m = MatrixRef::new("X", Values::F64(&big), 1, 1).unwrap();
        let e = Index::new(m, vec![0], None).unwrap_err().to_string();
        assert!(e.contains("outside the float32 range"), "{e}");
        assert!(MatrixRef::new("X", Values::U8(&[1, 2, 3]), 2, 2).is_err());
        let ok = [1u8, 2];
        let m = MatrixRef::new("X", Values::U8(&ok), 2, 1).unwrap();
        assert!(Index::new(m, vec![0], None).is_err(), "label count");
        assert!(Index::new(m, vec![0, 3], Some(3)).is_err(), "label ≥ c");
        assert!(Index::new(m, vec![0, 1], Some(0)).is_err(), "c = 0");
        assert!(
            Index::new(m, vec![0, 1], Some(usize::MAX)).is_err(),
            "huge c"
        );
        let index = Index::new(m, vec![0, 1], None).unwrap();
        let wide = MatrixRef::new("T", Values::U8(&ok), 1, 2).unwrap();
        let e = index
            .search(wide, None, &config(vec![1], vec![]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("T: expected 1 columns"), "{e}");
    }

    #[test]
    fn certify_matches_the_experiment_path() {
        // Six training points on a line, two labels; a tie at distance 1 for query 2.5.
        let train = [0u8, 1, 2, 3, 4, 5];
        let labels = vec![0, 0, 1, 1, 1, 0];
        let m = MatrixRef::new("X", Values::U8(&train), 6, 1).unwrap();
        let index = Index::new(m, labels.clone(), None).unwrap();
        let test = [2.5f32, 0.0];
        let t = MatrixRef::new("T", Values::F32(&test), 2, 1).unwrap();
        let cfg = config(vec![3], vec![1.0]);
        let exp = index
            .certify(t, &[1, 0], &cfg, &CertifyOptions::default())
            .unwrap();
        let direct = search(
            Reference {
                features: &index.features().to_matrix(),
                labels: &labels,
                positions: index.positions(),
                n_classes: 2,
            },
            &t.to_features().unwrap(),
            &[1, 0],
            &cfg,
            &|_| {},
        )
        .unwrap();
        assert_eq!(exp.settings[0].votes, direct.knn[0].votes);
        assert_eq!(exp.settings[1].votes, direct.rnn[0].votes);
        // r = 1 around 2.5: training points 2 and 3, both label 1.
        assert_eq!(exp.settings[1].votes.row(0), [0, 2]);
        assert_eq!(exp.settings[1].curves.len(), 2, "individual + island");
        // Predicting without labels gives the same counts.
        let unlabelled = index.search(t, None, &cfg).unwrap();
        assert_eq!(
            unlabelled.knn[0].votes.counts(),
            direct.knn[0].votes.counts()
        );
    }

    #[test]
    fn from_parts_rebuilds_the_same_index_and_refuses_parts_that_do_not_fit() {
        let train = [3u8, 1, 2, 2, 0, 1, 2, 3];
        let m = MatrixRef::new("X", Values::U8(&train), 4, 2).unwrap();
        let index = Index::new(m, vec![0, 1, 1, 2], None).unwrap();
        let rebuilt = Index::from_parts(
            index.features().to_matrix(),
            index.labels().to_vec(),
            index.positions().to_vec(),
            index.n_classes(),
        )
        .unwrap();
        let test = [2.0f32, 1.0, 0.0, 3.0];
        let t = MatrixRef::new("T", Values::F32(&test), 2, 2).unwrap();
        let cfg = SearchConfig {
            keep_neighbours: true,
            ..config(vec![1, 3], vec![2.0])
        };
        assert_eq!(
            index.search(t, None, &cfg).unwrap(),
            rebuilt.search(t, None, &cfg).unwrap()
        );
        let parts = |labels: Vec<u32>, positions: Vec<u32>, c: usize| {
            Index::from_parts(index.features().to_matrix(), labels, positions, c)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let e = parts(vec![0, 1, 1, 2], vec![0, 1, 1, 3], 3);
        assert!(
            e.starts_with("positions: expected a permutation of 0..4, found 1 at index 2"),
            "{e}"
        );
        let e = parts(vec![0, 1, 1, 2], vec![0, 1, 2, 4], 3);
        assert!(e.starts_with("positions: expected a permutation"), "{e}");
        let e = parts(vec![0, 1, 1, 2], vec![0, 1, 2], 3);
        assert!(e.starts_with("positions: expected 4"), "{e}");
        let e = parts(vec![0, 1, 1, 2], vec![0, 1, 2, 3], 2);
        assert!(
            e.starts_with("labels: expected values below n_classes = 2"),
            "{e}"
        );
        let e = parts(vec![0, 1, 1], vec![0, 1, 2, 3], 3);
        assert!(e.starts_with("labels: expected 4"), "{e}");
        let e = parts(vec![0, 1, 1, 2], vec![0, 1, 2, 3], 1);
        assert_eq!(e, "n_classes: expected an integer in 2..=65536, found 1");
        let bad = FeatureMatrix {
            n: 4,
            dim: 2,
            data: vec![0.0; 7],
        };
        assert!(Index::from_parts(bad, vec![0; 4], vec![0, 1, 2, 3], 2).is_err());
        let nan = FeatureMatrix {
            n: 1,
            dim: 1,
            data: vec![f32::NAN],
        };
        assert!(Index::from_parts(nan, vec![0], vec![0], 2).is_err());
    }
}
