//! DPA, FA/ROE and bagging certify the general threat model only. `certify-votes --kind dpa
//! --threat insert` refuses; `certify --threat insert --dpa …` used to report the general
//! DPA certificate silently beside the insert-only kNN/rNN ones. Both refuse now, with
//! the same reason, before any work and without writing anything.

mod common;

use common::{assert_refused_with, run_in, scratch, write};
use nncert::data::npy::encode;

fn refused(args: &[&str], baseline: &str) {
    let needle = format!("threat: `insert` is not implemented for {baseline}");
    let cwd = std::env::current_dir().expect("a working directory");
    assert_refused_with(&run_in(args, &cwd), &needle, &format!("{args:?}"));
}

#[test]
fn certify_refuses_a_threat_with_baselines_as_certify_votes_does() {
    let dir = scratch("threat_baselines");
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    // The embedded dataset: a refusal after loading it and searching would take seconds;
    // the check comes first.
    for (flags, baseline) in [
        (vec!["--dpa", "30"], "dpa"),
        (vec!["--knn", "5", "--dpa", "30"], "dpa"),
        (vec!["--fa", "30"], "fa"),
        (vec!["--bagging", "50"], "bagging"),
    ] {
        let mut args = vec!["certify", "--threat", "insert", "--out", out];
        args.extend(flags);
        refused(&args, baseline);
    }
    let votes = write(&dir, "v.npy", encode(&[1, 3], &[1i64, 7, 2]));
    let labels = write(&dir, "y.npy", encode(&[1], &[1u8]));
    refused(
        &[
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            "dpa",
            "--threat",
            "insert",
            "--out",
            out,
        ],
        "dpa",
    );
    assert!(!dir.join("out").exists());
}
