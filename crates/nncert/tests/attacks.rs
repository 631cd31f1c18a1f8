//! Real attacks against the certificates: the accuracy an actual poisoned training set
//! leaves must never fall below the certified accuracy, and the individual worst-case
//! attack must flip exactly the inputs the individual certificate leaves unprotected.

mod common;

use nncert::TieRule;
use nncert::attack::{
    AttackReport, Strategy, Target, attack, clean_certificates, soundness_violations,
};
use nncert::data::{DatasetSpec, load};
use nncert::features::{FeatureKind, HogParams};
use nncert::neighbours::{Kernel, Metric};

fn run(spec: DatasetSpec, n_test: usize, targets: &[Target], budgets: &[u64]) -> Vec<AttackReport> {
    let d = load(&spec).unwrap().subset(None, Some(n_test));
    let hog = FeatureKind::Hog(HogParams::default());
    let kernel = Kernel::detect().unwrap();
    targets
        .iter()
        .map(|&t| {
            let report = attack(&d, hog, t, Metric::L1, kernel, budgets, TieRule::Larger).unwrap();
            assert!(
                soundness_violations(&report).is_empty(),
                "{:?}",
                soundness_violations(&report)
            );
            assert_eq!(report.individual_failures, 0);
            // Tightness: the individual attack at e flips exactly the correct inputs with e* < e.
            let points =
                clean_certificates(&d, hog, t, Metric::L1, kernel, TieRule::Larger).unwrap();
            let correct = points.iter().filter(|p| p.correct()).count() as u64;
            for row in report
                .rows
                .iter()
                .filter(|r| r.strategy == Strategy::Individual)
            {
                let unprotected = points
                    .iter()
                    .filter(|p| p.correct() && p.e_star < row.e)
                    .count() as u64;
                assert_eq!(row.attacked_correct, correct - unprotected, "{row:?}");
                assert_eq!(
                    row.attacked_correct, row.certified_correct,
                    "individual bound is tight: {row:?}"
                );
            }
            for set in &report.sets {
                assert!(set.poisoning_size() as u64 <= set.e, "{set:?}");
            }
            eprintln!("{t:?}: {:?}", report.rows);
            report
        })
        .collect()
}

#[test]
fn attacks_on_the_embedded_subset_respect_the_certificates() {
    let reports = run(
        DatasetSpec::Embedded,
        200,
        &[Target::Knn(500), Target::Rnn(4.0)],
        &[1, 10, 50, 100],
    );
    // The budget attack really hurts: at e = 100 it leaves fewer correct inputs than clean.
    for r in &reports {
        let at_100 = r
            .rows
            .iter()
            .find(|x| x.strategy == Strategy::Budget && x.e == 100)
            .unwrap();
        let at_1 = r
            .rows
            .iter()
            .find(|x| x.strategy == Strategy::Budget && x.e == 1)
            .unwrap();
        assert!(
            at_100.attacked_correct < at_1.attacked_correct,
            "{:?}",
            r.rows
        );
    }
}

/// The check can fail: a certificate one larger than e* is caught by the individual attack.
#[test]
fn a_deliberately_wrong_certificate_is_caught() {
    let d = load(&DatasetSpec::Embedded)
        .unwrap()
        .subset(None, Some(150));
    let hog = FeatureKind::Hog(HogParams::default());
    let kernel = Kernel::detect().unwrap();
    let t = Target::Rnn(4.0);
    let budgets = [1u64, 5, 20, 60];
    let mut report = attack(&d, hog, t, Metric::L1, kernel, &budgets, TieRule::Larger).unwrap();
    assert!(soundness_violations(&report).is_empty());
    let points = clean_certificates(&d, hog, t, Metric::L1, kernel, TieRule::Larger).unwrap();
    for row in report
        .rows
        .iter_mut()
        .filter(|r| r.strategy == Strategy::Individual)
    {
        // The wrong claim: certified while e ≤ e* + 1.
        row.certified_correct = points
            .iter()
            .filter(|p| p.correct() && row.e <= p.e_star + 1)
            .count() as u64;
    }
    assert!(
        !soundness_violations(&report).is_empty(),
        "an off-by-one certificate went unnoticed"
    );
}

#[test]
fn attacks_on_real_mnist_respect_the_certificates() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    run(
        DatasetSpec::Mnist(dir),
        300,
        &[Target::Knn(5000), Target::Rnn(4.0)],
        &[10, 100, 500, 1000],
    );
}

/// Backdoor: triggered test inputs, poisoned training examples carrying the trigger and the
/// target label. The accuracy left on triggered inputs never falls below the backdoor
/// certified accuracy.
#[test]
fn backdoor_attack_respects_the_backdoor_certificate() {
    use nncert::attack::backdoor;
    use nncert::data::trigger::Trigger;
    let mut d = load(&DatasetSpec::Embedded)
        .unwrap()
        .subset(None, Some(200));
    let trigger: Trigger = "patch:4@23,23=255".parse().unwrap();
    trigger.apply_split(d.content, &mut d.test).unwrap();
    let hog = FeatureKind::Hog(HogParams::default());
    let kernel = Kernel::detect().unwrap();
    for t in [Target::Knn(500), Target::Rnn(4.0)] {
        let rows = backdoor(
            &d,
            trigger,
            0,
            hog,
            t,
            Metric::L1,
            kernel,
            &[1, 10, 100, 300],
            TieRule::Larger,
        )
        .unwrap();
        for r in &rows {
            assert!(r.attacked_correct >= r.certified_correct, "{t:?} {r:?}");
            assert!(r.successes <= r.eligible);
        }
        // Certified accuracy decreases with the budget.
        assert!(
            rows.windows(2)
                .all(|w| w[0].certified_correct >= w[1].certified_correct)
        );
        eprintln!("{t:?}: {rows:?}");
    }
    // A trigger that does not fit is refused with a reason.
    let bad: Trigger = "patch:8@25,25=255".parse().unwrap();
    let e = bad
        .apply_split(d.content, &mut d.test)
        .unwrap_err()
        .to_string();
    assert!(e.contains("inside the 28×28 image"), "{e}");
}
