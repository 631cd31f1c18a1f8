//! Finite Aggregation and Run-Off Election with nncert's own base learners
//! ([`super::ensemble`]): train one model per spread member list, score every test input,
//! certify. Test inputs go through in chunks so that memory stays bounded by the chunk's
//! `models × labels` scores, whatever the number of test inputs.

use super::aggregation::{AggregateCertificate, fa_certificates};
use super::ensemble::Ensemble;
use super::model_outputs::{ABSTAIN, ModelRankings, ModelVotes};
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
        let distances = ensemble.min_distances(test, rows.clone(), n_classes, metric, kernel);
        let labels = labels[rows].to_vec();
        if let Some(out) = roe.as_mut() {
            let scores: Vec<f32> = distances.iter().map(|d| -d).collect();
            let rankings =
                ModelRankings::from_scores(&scores, ensemble.n_models(), n_classes, labels)?;
            counts.extend(rankings.votes().counts());
            plurality.extend(fa_certificates(rankings.votes(), spread)?);
            out.extend(roe_certificates(&rankings, spread)?);
        } else {
            // Votes only: each model's nearest label (the smaller label on equal
            // distances), or an abstention when it has no prototype at all.
            let votes = distances
                .chunks_exact(n_classes)
                .map(|row| {
                    let (mut best, mut at) = (f32::INFINITY, ABSTAIN);
                    for (l, &d) in row.iter().enumerate() {
                        if d < best {
                            (best, at) = (d, l as u32);
                        }
                    }
                    at
                })
                .collect();
            let votes = ModelVotes::new(votes, ensemble.n_models(), n_classes, labels)?;
            counts.extend(votes.counts());
            plurality.extend(fa_certificates(&votes, spread)?);
        }
    }
    Ok(TrainedCertificates {
        plurality,
        runoff: roe,
        counts,
    })
}
