//! Finite Aggregation and Run-Off Election with nncert's own base learners
//! ([`super::ensemble`]): train one model per spread member list, score every test input,
//! certify. Test inputs go through in chunks so that memory stays bounded by the chunk's
//! `models × labels` scores, whatever the number of test inputs.

use super::aggregation::{AggregateCertificate, fa_certificates};
use super::ensemble::{Ensemble, chunk_rows, vote_of};
use super::model_outputs::{ABSTAIN, ModelRankings, ModelVotes};
use super::runoff::roe_certificates;
use super::spread::Spread;
use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::neighbours::kernel::{Kernel, Metric};

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
    let chunk = chunk_rows(ensemble.n_models(), n_classes);
    let mut plurality = Vec::with_capacity(test.n);
    let mut roe = runoff.then(|| Vec::with_capacity(test.n));
    let mut counts = Vec::with_capacity(test.n * n_classes);
    for start in (0..test.n).step_by(chunk) {
        let rows = start..(start + chunk).min(test.n);
        let scores = ensemble.scores(test, rows.clone(), n_classes, metric, kernel);
        let labels = labels[rows].to_vec();
        if let Some(out) = roe.as_mut() {
            let rankings =
                ModelRankings::from_scores(&scores, ensemble.n_models(), n_classes, labels)?;
            counts.extend(rankings.votes().counts());
            plurality.extend(fa_certificates(rankings.votes(), spread)?);
            out.extend(roe_certificates(&rankings, spread)?);
        } else {
            // Votes only: each model's best-scored label (the smaller label on equal
            // scores), or an abstention when every score is −∞.
            let votes = scores
                .chunks_exact(n_classes)
                .map(|row| vote_of(row).unwrap_or(ABSTAIN))
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
