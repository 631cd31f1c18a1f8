//! Finite Aggregation and Run-Off Election with nncert's own base learners
//! ([`super::ensemble`]): train one model per spread member list, score every test input,
//! certify. Test inputs go through in chunks so that memory stays bounded by the chunk's
//! `models × labels` scores, whatever the number of test inputs.

use super::aggregation::{AggregateCertificate, fa_certificates};
use super::ensemble::Ensemble;
use super::model_outputs::ModelRankings;
use super::runoff::roe_certificates;
use super::spread::Spread;
use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::neighbours::kernel::{Kernel, Metric};

/// Scores per chunk of test inputs: at most this many `f32` values (64 MiB).
const CHUNK_VALUES: usize = 16 << 20;

/// Certificates of a trained ensemble: the plurality vote (DPA / FA, by the spread's `d`)
/// and, if asked, Run-Off Election.
pub struct TrainedCertificates {
    /// Plurality (DPA when `d = 1`, else FA).
    pub plurality: Vec<AggregateCertificate>,
    /// Run-Off Election, when asked.
    pub runoff: Option<Vec<AggregateCertificate>>,
    /// Round-one votes per label (`n_test × c`, abstentions not counted).
    pub counts: Vec<u32>,
}

/// Certifies `ensemble` (trained on `spread`'s member lists) on every test row.
pub fn certify_trained(
    ensemble: &Ensemble,
    spread: &Spread,
    test: &FeatureMatrix,
    labels: &[u32],
    n_classes: usize,
    (metric, kernel): (Metric, Kernel),
    runoff: bool,
) -> Result<TrainedCertificates, Error> {
    let per_input = ensemble.n_models() * n_classes;
    let chunk = (CHUNK_VALUES / per_input.max(1)).clamp(4, 4096) / 4 * 4;
    let mut plurality = Vec::with_capacity(test.n);
    let mut roe = runoff.then(|| Vec::with_capacity(test.n));
    let mut counts = Vec::with_capacity(test.n * n_classes);
    for start in (0..test.n).step_by(chunk) {
        let rows = start..(start + chunk).min(test.n);
        let scores: Vec<f32> = ensemble
            .min_distances(test, rows.clone(), n_classes, metric, kernel)
            .into_iter()
            .map(|d| -d)
            .collect();
        let rankings = ModelRankings::from_scores(
            &scores,
            ensemble.n_models(),
            n_classes,
            labels[rows].to_vec(),
        )?;
        counts.extend(rankings.votes().counts());
        plurality.extend(fa_certificates(rankings.votes(), spread)?);
        if let Some(out) = roe.as_mut() {
            out.extend(roe_certificates(&rankings, spread)?);
        }
    }
    Ok(TrainedCertificates {
        plurality,
        runoff: roe,
        counts,
    })
}
