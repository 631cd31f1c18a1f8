//! Threat-model variants (METHOD §8): certificates when the attacker may only insert, only
//! delete, or only flip labels of training examples.
//!
//! Every variant restricts the attacker of the general model, so every general certificate
//! stays sound under each of them; these are the tighter ones, each derived in METHOD §8:
//!
//! | classifier | `insert` | `delete` | `flip` |
//! |---|---|---|---|
//! | rNN, individual | `e* = g − 1` (tight) | `e* = g − 1` (tight when `s_a ≥ g`) | general (`⌈g/2⌉ − 1`) |
//! | rNN, joint | = individual (grouping gains nothing) | groups with costs `g_i` | general |
//! | kNN, individual | exact, from the ordered first `k` neighbours ([`knn_insert_e_star`]) | exact, from the ordered first `k + e` neighbours ([`knn_delete_e_star`]) | general |
//!
//! From vote counts alone (no neighbour lists) kNN keeps the general certificate.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::PointCertificate;
use super::grouping::Partition;
use super::label_lists::correct_by_label_descending;
use crate::error::Error;
use crate::votes::{Prediction, TieRule};

/// Which poisoned training sets the attacker may produce (METHOD §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Threat {
    /// Removals and insertions; a modification counts 1 (METHOD §1).
    #[default]
    General,
    /// Insertions only (clean-label and backdoor poisoning).
    Insert,
    /// Deletions only.
    Delete,
    /// Label flips of existing training examples only.
    Flip,
}

impl Threat {
    /// Every variant, in documentation order.
    pub const ALL: [Threat; 4] = [
        Threat::General,
        Threat::Insert,
        Threat::Delete,
        Threat::Flip,
    ];

    /// The name used in flags and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Threat::General => "general",
            Threat::Insert => "insert",
            Threat::Delete => "delete",
            Threat::Flip => "flip",
        }
    }

    /// Individual `e*` of an rNN test input with margin `g ≥ 1`.
    ///
    /// An inserted or deleted example changes one vote, so under `insert` or `delete` the
    /// margin falls by at most 1 per unit; a flip inside the ball moves a voter from one
    /// label to another (2 per unit), as a general modification does.
    pub(crate) fn rnn_e_star(self, margin: u64) -> u64 {
        match self {
            Threat::General | Threat::Flip => super::individual::e_star(margin),
            Threat::Insert | Threat::Delete => margin.saturating_sub(1),
        }
    }
}

impl fmt::Display for Threat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Threat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Threat::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "threat: expected `general`, `insert`, `delete` or `flip`, found `{}`",
                    s.escape_debug()
                ))
            })
    }
}

/// Counts of the labels in `labels`.
fn histogram(labels: &[u32], n_classes: usize) -> Vec<u32> {
    let mut counts = vec![0u32; n_classes];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
}

/// Whether some label `l ≠ a` with `counts[l] + bonus` votes beats `a` with `a_votes`.
fn some_label_beats(counts: &[u32], a: u32, a_votes: u64, bonus: u64, tie: TieRule) -> bool {
    counts.iter().enumerate().any(|(l, &c)| {
        let l = l as u32;
        l != a && u64::from(c) + bonus >= a_votes + u64::from(tie.wins_tie(a, l))
    })
}

/// Exact kNN `e*` under `insert`, from the labels of the clean neighbours in the order of
/// METHOD §2: the first `min(k, n_train)` of them.
///
/// After `x ≤ k` insertions that enter the neighbourhood (placed at the test input with a
/// rank that wins every tie — the attacker's best), the `k` nearest are the `x` inserted
/// examples and the first `k − x` clean ones; putting every insertion on one rival label
/// `l` is best against the prediction `a`. So the first `x` at which some `l` reaches
/// `C_l(k − x) + x ≥ C_a(k − x) + [a wins the tie against l]` is the smallest poisoning
/// that flips, and `e*` is one less. At most `k − 1`.
pub fn knn_insert_e_star(ordered_labels: &[u32], k: usize, n_classes: usize, tie: TieRule) -> u64 {
    let mut counts = histogram(ordered_labels, n_classes);
    let a = Prediction::from_counts(&counts, tie).predicted;
    let mut clean = ordered_labels.len();
    for x in 1..=k {
        // The clean part shrinks to k − x once the insertions fill the rest.
        while clean > k - x {
            clean -= 1;
            counts[ordered_labels[clean] as usize] -= 1;
        }
        if some_label_beats(&counts, a, u64::from(counts[a as usize]), x as u64, tie) {
            return x as u64 - 1;
        }
    }
    // k = 0 cannot happen for a validated classifier; nothing to flip.
    0
}

/// Exact kNN `e*` under `delete`, capped at `max_e`, from the labels of the clean neighbours
/// in the order of METHOD §2: the first `min(k + max_e, n_train)` of them.
///
/// With `x` deletions the neighbourhood is the first `k` survivors. Against a rival `l`,
/// deleting an `l` example or one beyond the window of the first `min(k + x, n_train)`
/// never helps (dropping it from the deleted set leaves a neighbourhood at least as good for
/// the attacker), so an optimal deleted set lies in that window, takes as many `a` voters
/// as there are (`min(x, A)`), and fills the rest with other labels, which is possible iff
/// the window holds `x` examples not labelled `l`. `e*` is one less than the smallest
/// such `x` at which `l`'s count reaches `a`'s (ties by the rule), or `max_e` when no
/// deletion of at most `max_e` examples flips the prediction.
pub fn knn_delete_e_star(
    ordered_labels: &[u32],
    k: usize,
    n_train: usize,
    n_classes: usize,
    tie: TieRule,
    max_e: u64,
) -> u64 {
    let first = k.min(n_train).min(ordered_labels.len());
    let a = Prediction::from_counts(&histogram(&ordered_labels[..first], n_classes), tie).predicted;
    let mut window = histogram(&ordered_labels[..first], n_classes);
    let mut size = first;
    for x in 1..=max_e {
        let x_us = x as usize;
        let target = (k + x_us).min(n_train).min(ordered_labels.len());
        while size < target {
            window[ordered_labels[size] as usize] += 1;
            size += 1;
        }
        if x_us > size {
            // Fewer examples than deletions: every smaller x was already tried.
            break;
        }
        let a_in = window[a as usize] as usize;
        let a_deleted = x_us.min(a_in);
        let a_left = (a_in - a_deleted) as u64;
        let flips = (0..n_classes as u32).filter(|&l| l != a).any(|l| {
            let l_in = window[l as usize] as usize;
            // x deletions without touching l: x ≤ window − l_in.
            x_us <= size - l_in && l_in as u64 >= a_left + u64::from(tie.wins_tie(a, l))
        });
        if flips {
            return x - 1;
        }
    }
    max_e
}

/// Individual certificates of rNN votes under `threat` ([`Threat::rnn_e_star`]).
pub(crate) fn rnn_points(points: &[PointCertificate], threat: Threat) -> Vec<PointCertificate> {
    points
        .iter()
        .map(|p| PointCertificate {
            e_star: threat.rnn_e_star(p.margin),
            ..*p
        })
        .collect()
}

/// `|U| − t` under `delete` for a group whose members' deletion costs `g_i` are sorted
/// ascending: flipping member `i` takes `g_i` deletions of its own (the group's predicted
/// labels differ, so a deleted example lowers the top vote of at most one member), and
/// `e` deletions flip at most the `t` cheapest members whose costs sum to `≤ e`.
fn certified_under_deletions(sorted_costs: &[u64], e: u64) -> usize {
    let mut spent = 0u64;
    let mut flipped = 0;
    for &cost in sorted_costs {
        if spent + cost > e {
            break;
        }
        spent += cost;
        flipped += 1;
    }
    sorted_costs.len() - flipped
}

/// From this `e` on no joint bound under `delete` certifies anything: a group holds at
/// most one member per predicted label, so its deletion costs sum to at most the sum, over
/// the labels, of the largest margin of the label's correct inputs, and `e` deletions at
/// least that flip every member. (ISLAND's first group is made of exactly those members,
/// so it still certifies one at the `e` before.) Summed over the labels predicted, not
/// `n_classes` times the largest margin: a votes header with 10⁷ classes made that horizon,
/// and the curves computed up to it, 10⁷ times too long.
pub(crate) fn delete_horizon(points: &[PointCertificate], n_classes: usize) -> u64 {
    correct_by_label_descending(points, n_classes)
        .iter()
        .filter_map(|list| list.first().map(|x| x.0))
        .fold(0u64, u64::saturating_add)
}

/// ISLAND under `delete`, `certified[e]` for `e` in `0..=max_e`: correct inputs with
/// `g > e` are certified alone; the others are grouped by taking, for every label in order,
/// the remaining one with the largest cost `g` (ties: lower test index).
pub(crate) fn island_counts_delete(
    points: &[PointCertificate],
    n_classes: usize,
    max_e: u64,
) -> Vec<u64> {
    let by_label = correct_by_label_descending(points, n_classes);
    let mut costs: Vec<u64> = Vec::with_capacity(by_label.len());
    (0..=max_e)
        .map(|e| {
            let starts: Vec<usize> = by_label
                .iter()
                .map(|list| list.partition_point(|x| x.0 > e))
                .collect();
            let mut certified: u64 = starts.iter().map(|&s| s as u64).sum();
            let longest = by_label
                .iter()
                .zip(&starts)
                .map(|(l, &s)| l.len() - s)
                .max()
                .unwrap_or(0);
            for j in 0..longest {
                costs.clear();
                costs.extend(
                    by_label
                        .iter()
                        .zip(&starts)
                        .filter_map(|(l, &s)| l.get(s + j).map(|x| x.0)),
                );
                costs.sort_unstable();
                certified += certified_under_deletions(&costs, e) as u64;
            }
            certified
        })
        .collect()
}

/// A fixed partition's `certified[e]` under `delete`.
pub fn partition_counts_delete(
    partition: &Partition,
    points: &[PointCertificate],
    max_e: u64,
) -> Vec<u64> {
    let groups: Vec<Vec<u64>> = partition
        .groups
        .iter()
        .map(|g| {
            let mut costs: Vec<u64> = g
                .iter()
                .map(|&i| &points[i])
                .filter(|p| p.correct())
                .map(|p| p.margin)
                .collect();
            costs.sort_unstable();
            costs
        })
        .collect();
    (0..=max_e)
        .map(|e| {
            groups
                .iter()
                .map(|c| certified_under_deletions(c, e) as u64)
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Threat::ALL {
            assert_eq!(t.as_str().parse::<Threat>().unwrap(), t);
        }
        let e = "\x1b[2J".parse::<Threat>().unwrap_err().to_string();
        assert!(!e.contains('\x1b'), "{e}");
    }

    /// The joint horizon under `delete` sums the largest margin of each predicted label: a
    /// votes header with a million classes no longer multiplies it by a million (the old
    /// horizon was 10⁶ times the largest margin here, and every curve was computed that far).
    #[test]
    fn delete_horizon_sums_the_labels_predicted() {
        let n_classes = 1_000_000;
        // Three inputs: label 0 (margin 5), label 0 (margin 3), label 7 (margin 4).
        let mut counts = vec![0u32; 3 * n_classes];
        counts[0] = 5;
        counts[n_classes] = 3;
        counts[2 * n_classes + 7] = 4;
        let votes = crate::Votes::new(counts, n_classes, vec![0, 0, 7]).unwrap();
        let points = super::super::certify_points(&votes, TieRule::Larger);
        let margins: Vec<u64> = points.iter().map(|p| p.margin).collect();
        assert!(points.iter().all(PointCertificate::correct), "{margins:?}");
        let expected = margins[0].max(margins[1]) + margins[2];
        assert_eq!(delete_horizon(&points, n_classes), expected);
        assert!(expected < 20, "{margins:?}");
    }

    #[test]
    fn rnn_insert_and_delete_move_the_margin_by_one() {
        assert_eq!(Threat::Insert.rnn_e_star(5), 4);
        assert_eq!(Threat::Delete.rnn_e_star(1), 0);
        assert_eq!(Threat::General.rnn_e_star(5), 2);
        assert_eq!(Threat::Flip.rnn_e_star(5), 2);
    }

    #[test]
    fn knn_insert_by_hand() {
        // k = 5, neighbours in order a a b a b (a = 0, b = 1), larger label wins ties.
        // x = 1: clean a a b a + 1 → 3 vs 1 + 1 = 2: no. x = 2: a a b + 2 → 2 vs 3: flips.
        assert_eq!(
            knn_insert_e_star(&[0, 0, 1, 0, 1], 5, 2, TieRule::Larger),
            1
        );
        // Neighbours b b a a a (k = 5): predicted a with 3 vs 2; x = 1: b b a a + 1 → 2 vs 3.
        assert_eq!(
            knn_insert_e_star(&[1, 1, 0, 0, 0], 5, 2, TieRule::Larger),
            0
        );
    }

    #[test]
    fn knn_delete_by_hand() {
        // k = 3, order a a b | b b a: predicted a (2 vs 1). x = 1: window a a b b, delete
        // one a → a b b: b wins. e* = 0.
        assert_eq!(
            knn_delete_e_star(&[0, 0, 1, 1, 1, 0], 3, 6, 2, TieRule::Larger, 5),
            0
        );
        // Only a's: never flips by deletion when a wins every tie (a = 1, larger wins).
        assert_eq!(
            knn_delete_e_star(&[1, 1, 1, 1], 3, 4, 2, TieRule::Larger, 3),
            3
        );
    }
}
