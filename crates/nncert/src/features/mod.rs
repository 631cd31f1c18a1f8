//! Features: a [`Dataset`]'s records → a [`FeatureMatrix`] per split.

pub mod hog;

use rayon::prelude::*;
use serde::Serialize;

use crate::data::{Content, Dataset, ImageShape, Split};
use crate::error::Error;
pub use hog::{BlockNorm, Hog, HogParams};

/// How to turn records into feature vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    /// HOG descriptors (METHOD §6); images only.
    Hog(HogParams),
    /// The raw values: pixels as floats for images, the user's features for `.npy`.
    Raw,
}

/// Row-major `n × dim` float32 features.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    /// Rows.
    pub n: usize,
    /// Columns.
    pub dim: usize,
    /// `n × dim` values.
    pub data: Vec<f32>,
}

impl FeatureMatrix {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Features of one split. Work is split over rayon's threads by image; each image's
/// descriptor is computed the same way whatever the thread count, so the result is
/// deterministic.
pub fn extract(
    dataset: &Dataset,
    split: &Split,
    kind: FeatureKind,
) -> Result<FeatureMatrix, Error> {
    extract_with_progress(dataset, split, kind, &|_| {})
}

/// As [`extract`], calling `progress(images_done)` now and then (from any thread).
pub fn extract_with_progress(
    dataset: &Dataset,
    split: &Split,
    kind: FeatureKind,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<FeatureMatrix, Error> {
    match (kind, dataset.content) {
        (FeatureKind::Hog(params), Content::Images(shape)) => {
            hog_images(&split.records, shape, params, progress)
        }
        (FeatureKind::Hog(_), Content::Features { .. }) => Err(Error::invalid(
            "HOG features need images; this dataset holds feature vectors (use --features raw)",
        )),
        (FeatureKind::Raw, Content::Images(shape)) => Ok(FeatureMatrix {
            n: split.len(),
            dim: shape.len(),
            data: split.records.iter().map(|&b| f32::from(b)).collect(),
        }),
        (FeatureKind::Raw, Content::Features { dim, .. }) => Ok(split
            .feature_matrix(dim)
            .expect("feature datasets carry their values")),
    }
}

/// HOG descriptors of `records.len() / shape.len()` uint8 images stored one after the other,
/// each channel-planar. Work is split over rayon's threads by image (deterministic).
pub fn hog_images(
    records: &[u8],
    shape: ImageShape,
    params: HogParams,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<FeatureMatrix, Error> {
    let hog = Hog::new(params, shape)?;
    let (dim, len) = (hog.dim(), shape.len());
    if len == 0 || !records.len().is_multiple_of(len) {
        return Err(Error::invalid(format!(
            "images: expected a whole number of {len}-byte images, found {} bytes",
            records.len()
        )));
    }
    let n = records.len() / len;
    let mut data = vec![0f32; n * dim];
    const CHUNK: usize = 512;
    // Each chunk first polls for a cancellation (crate::cancel).
    data.par_chunks_mut(dim * CHUNK)
        .enumerate()
        .try_for_each_init(hog::Scratch::default, |scratch, (chunk, out)| {
            crate::cancel::check()?;
            for (j, row) in out.chunks_mut(dim).enumerate() {
                let i = chunk * CHUNK + j;
                hog.compute_with(&records[i * len..(i + 1) * len], row, scratch);
            }
            progress(out.len() / dim);
            Ok::<(), Error>(())
        })?;
    Ok(FeatureMatrix { n, dim, data })
}
