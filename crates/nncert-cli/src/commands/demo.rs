//! `nncert demo`: a self-contained demonstration of `certify-votes` on a votes matrix
//! nncert generates itself (the generated `.npy` inputs are written too).

use anyhow::Result;
use nncert::data::npy;
use nncert::report::{OutputDir, sha256_bytes};
use nncert::rng::SplitMix64;
use nncert::{Certification, CurveOptions, Method, Votes};

use crate::args::DemoArgs;
use crate::commands::certify_votes::{certify_and_write, input_record};

/// Classes of the generated votes.
const N_CLASSES: usize = 10;

/// The most test inputs `--n-test` accepts: a demonstration runs in seconds, and the
/// generated matrix stays small (40 MB of counts).
pub const MAX_N_TEST: usize = 1_000_000;

/// Refuses an `--n-test` outside `1..=MAX_N_TEST` (a huge count asked for an allocation of
/// that many rows before any check).
pub fn check_n_test(n_test: usize) -> Result<()> {
    anyhow::ensure!(
        (1..=MAX_N_TEST).contains(&n_test),
        "--n-test: expected a count in 1..={MAX_N_TEST}, found {n_test}"
    );
    Ok(())
}

/// rNN-like votes: each test input has a neighbourhood of 0–1,500 training examples, most
/// of them of its true label for easy inputs and mixed for hard ones.
pub fn generated_votes(n_test: usize, seed: u64) -> Result<Votes> {
    check_n_test(n_test)?;
    let cells = n_test
        .checked_mul(N_CLASSES)
        .ok_or_else(|| anyhow::anyhow!("--n-test {n_test}: too many test inputs"))?;
    let mut rng = SplitMix64::new(seed);
    let mut counts = vec![0u32; cells];
    let mut labels = Vec::with_capacity(n_test);
    for i in 0..n_test {
        let y = rng.below(N_CLASSES as u64) as usize;
        labels.push(y as u32);
        let size = rng.below(1500) as u32;
        // Purity in percent: most inputs are clean, a tail is ambiguous.
        let purity = 100 - (rng.below(60) * rng.below(60) / 59) as u32;
        let row = &mut counts[i * N_CLASSES..(i + 1) * N_CLASSES];
        let own = size * purity / 100;
        row[y] = own;
        let rival = rng.below(N_CLASSES as u64) as usize;
        for _ in 0..(size - own) {
            let l = if rng.below(2) == 0 {
                rival
            } else {
                rng.below(N_CLASSES as u64) as usize
            };
            row[l] += 1;
        }
    }
    Ok(Votes::new(counts, N_CLASSES, labels)?)
}

pub fn run(a: &DemoArgs) -> Result<()> {
    check_n_test(a.n_test)?;
    OutputDir::preflight(&a.out, &[])?;
    say!(
        "nncert demo: certifying a generated rNN votes matrix ({} test inputs, {N_CLASSES} classes)",
        a.n_test
    );
    let votes = generated_votes(a.n_test, a.data_seed)?;
    // Write the generated inputs first, so they can be inspected and re-run with
    // `nncert certify-votes`.
    let input_dir = a.out.join("demo-input");
    let mut staged = OutputDir::new(&a.out);
    let labels: Vec<i64> = votes.labels().iter().map(|&y| i64::from(y)).collect();
    let counts: Vec<i32> = votes.counts().iter().map(|&s| s as i32).collect();
    let votes_npy = npy::encode(&[a.n_test, N_CLASSES], &counts);
    let labels_npy = npy::encode(&[a.n_test], &labels);
    let mut inputs = serde_json::Map::new();
    for (name, bytes) in [("votes", &votes_npy), ("labels", &labels_npy)] {
        let path = input_dir.join(format!("{name}.npy"));
        inputs.insert(name.into(), input_record(&path, sha256_bytes(bytes)));
    }
    staged.stage("demo-input/votes.npy", votes_npy);
    staged.stage("demo-input/labels.npy", labels_npy);

    let mut options = CurveOptions::new(Method::Rnn, "demo");
    options.joint = vec![
        Certification::Island,
        Certification::Rd,
        Certification::Best,
    ];
    certify_and_write(&votes, &options, inputs, "demo", staged)
}
