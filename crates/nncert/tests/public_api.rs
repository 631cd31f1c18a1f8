//! Pins the crate root's curated surface (crate documentation, "Entry points"): every
//! re-export is named once below, so removing or renaming one fails to compile, and
//! `the_list_matches_lib_rs` fails when one is added to `lib.rs` without being listed here
//! (a change of the public surface should be a visible change of this file).

use nncert::{
    AttackReport, BaselineConfig, CancelScope, Certification, CertifiedVotes, CertifyOptions,
    Classifier, Content, Curve, CurveOptions, Dataset, DatasetSpec, EnsembleConfig, Error,
    ExampleRow, Experiment, ExperimentConfig, FeatureKind, FeatureMatrix, HogParams, ImageShape,
    Index, Kernel, MatrixRef, Method, Metric, NeighbourLists, OutputDir, PaperDataset, Partial,
    PointCertificate, Prediction, Result, SearchConfig, SearchResult, Setting, ShardSettings,
    ShardSpec, SplitMix64, Strategy, Target, Threat, TieRule, Values, Votes, certify_votes,
};

/// The names `lib.rs` re-exports, in the order of the `use` above.
const ROOT: &[&str] = &[
    "AttackReport",
    "BaselineConfig",
    "CancelScope",
    "CertifiedVotes",
    "CertifyOptions",
    "Certification",
    "Classifier",
    "Content",
    "Curve",
    "CurveOptions",
    "Dataset",
    "DatasetSpec",
    "EnsembleConfig",
    "Error",
    "ExampleRow",
    "Experiment",
    "ExperimentConfig",
    "FeatureKind",
    "FeatureMatrix",
    "HogParams",
    "ImageShape",
    "Index",
    "Kernel",
    "MatrixRef",
    "Method",
    "Metric",
    "NeighbourLists",
    "OutputDir",
    "PaperDataset",
    "Partial",
    "PointCertificate",
    "Prediction",
    "Result",
    "SearchConfig",
    "SearchResult",
    "Setting",
    "ShardSettings",
    "ShardSpec",
    "SplitMix64",
    "Strategy",
    "Target",
    "Threat",
    "TieRule",
    "Values",
    "Votes",
    "certify_votes",
];

/// Names every re-exported type once (a signature is enough for the compiler to resolve
/// them); never called.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn _names_every_type(
    _: (
        &AttackReport,
        &BaselineConfig,
        &CancelScope,
        &CertifiedVotes,
        &CertifyOptions,
    ),
    _: (&Certification, &Classifier, &Content, &Curve, &CurveOptions),
    _: (&Dataset, &DatasetSpec, &EnsembleConfig, &Error, &ExampleRow),
    _: (
        &Experiment,
        &ExperimentConfig,
        &FeatureKind,
        &FeatureMatrix,
        &HogParams,
    ),
    _: (
        &ImageShape,
        &Index,
        &Kernel,
        &MatrixRef<'_>,
        &Method,
        &Metric,
    ),
    _: (
        &NeighbourLists,
        &OutputDir,
        &PaperDataset,
        &Partial,
        &PointCertificate,
    ),
    _: (
        &Prediction,
        &Result<()>,
        &SearchConfig,
        &SearchResult,
        &Setting,
    ),
    _: (
        &ShardSettings,
        &ShardSpec,
        &SplitMix64,
        &Strategy,
        &Target,
        &Threat,
    ),
    _: (&TieRule, &Values<'_>, &Votes),
) {
}

#[test]
fn the_list_matches_lib_rs() {
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs"))
        .expect("src/lib.rs");
    let mut exported = Vec::new();
    let mut in_use = false;
    let mut text = String::new();
    for line in lib.lines() {
        if line.starts_with("pub use ") {
            in_use = true;
        }
        if in_use {
            text.push_str(line);
            text.push(' ');
            if line.trim_end().ends_with(';') {
                in_use = false;
                // `pub use a::b::{C, D};` or `pub use a::b::C;`: the names after the last `::`
                // (or inside the braces).
                let body = text.trim().trim_end_matches(';');
                let names = match body.find('{') {
                    Some(open) => {
                        body[open + 1..body.rfind('}').expect("closing brace")].to_string()
                    }
                    None => body.rsplit("::").next().expect("a path").to_string(),
                };
                exported.extend(
                    names
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(String::from),
                );
                text.clear();
            }
        }
    }
    exported.sort();
    let mut listed: Vec<String> = ROOT.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        exported, listed,
        "lib.rs's root re-exports and this test's list differ"
    );
}

#[test]
fn the_root_alone_certifies_votes_and_arrays() {
    // Vote counts → certificates, with nothing but root items.
    let votes = Votes::new(vec![1, 7, 2, 4, 0, 3], 3, vec![1, 0]).expect("votes");
    let out = certify_votes(&votes, &CurveOptions::new(Method::Rnn, "4")).expect("certify");
    assert_eq!(out.points[0].e_star, 2);

    // Arrays in memory → an index → certificates.
    let train = [0.0f64, 0.0, 0.0, 1.0, 1.0, 0.0, 5.0, 5.0, 5.0, 6.0];
    let index = Index::new(
        MatrixRef::new("X", Values::F64(&train), 5, 2).expect("matrix"),
        vec![0, 0, 0, 1, 1],
        None,
    )
    .expect("index");
    let config = SearchConfig {
        metric: Metric::L1,
        ks: vec![3],
        radii: vec![],
        kernel: Kernel::detect().expect("kernel"),
        keep_neighbours: false,
    };
    let test = [0.5f32, 0.5];
    let test = MatrixRef::new("X_test", Values::F32(&test), 1, 2).expect("test matrix");
    let exp = index
        .certify(test, &[0], &config, &CertifyOptions::default())
        .expect("certify");
    assert_eq!(exp.settings[0].votes.row(0), [3, 0]);
}
