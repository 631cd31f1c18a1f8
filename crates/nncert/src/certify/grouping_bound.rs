//! An upper bound on what *any* grouping can certify under the paper's group bound
//! (derivation in `docs/JOINT.md`, section "How far from the best grouping").
//!
//! At size `e` only D2 (`e < g ≤ 2e`, cost `c = g − e`) matters: D1 members are certified
//! in any group and D0 members never are, and neither changes the others' fate. Take any
//! partition of D2 and its certified set `C`. Let `K` be the number of groups holding a
//! certified member; since a group holds at most one member per label, every label has at
//! most `K` members in `C`. In a group whose certified members have smallest cost `m`, the
//! attacker's flips there cost ≥ `e + 1 − m` (otherwise it could also flip that member),
//! and flipped members are not in `C`. Summing over the `K` groups, and bounding the sum of
//! the `K` groups' smallest certified costs by the `K` largest costs of `C`:
//!
//! `K (e + 1) − top_K(C) ≤ cost(D2) − cost(C)`, i.e. `cost(C) − top_K(C) ≤ cost(D2) − K (e + 1)`.
//!
//! For a given `K` the largest `|C|` allowed is `K + q`, with `q` the most of the cheapest
//! members (at most `K` per label) whose costs fit in `cost(D2) − K(e + 1)`, and `|C|` is
//! also at most the members available (at most `K` per label) and `|D2| − K` (every such
//! group flips somebody). The bound is the maximum over `K`, plus `|D1|`.

use super::PointCertificate;
use super::one_label::correct_by_label_descending;

/// Counts and cost sums per cost value `1..=e`, with prefix queries (Fenwick tree).
struct CostTree {
    count: Vec<u64>,
    sum: Vec<u64>,
}

impl CostTree {
    fn new(max_cost: usize) -> Self {
        CostTree {
            count: vec![0; max_cost + 1],
            sum: vec![0; max_cost + 1],
        }
    }

    fn add(&mut self, cost: u64) {
        let mut i = cost as usize;
        while i < self.count.len() {
            self.count[i] += 1;
            self.sum[i] += cost;
            i += i & i.wrapping_neg();
        }
    }

    /// The most members, cheapest first, whose costs sum to ≤ `budget`.
    fn most_within(&self, budget: u64) -> u64 {
        // Descend to the largest cost prefix [1, pos] whose sum fits.
        let n = self.count.len() - 1;
        let mut pos = 0usize;
        let (mut taken, mut spent) = (0u64, 0u64);
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && spent + self.sum[next] <= budget {
                pos = next;
                spent += self.sum[next];
                taken += self.count[next];
            }
            step /= 2;
        }
        // Some members of cost pos + 1 may still fit.
        let next_cost = pos as u64 + 1;
        if pos < n {
            let available = self.count_at(pos + 1);
            taken += available.min((budget - spent) / next_cost);
        }
        taken
    }

    fn count_at(&self, cost: usize) -> u64 {
        self.prefix_count(cost) - self.prefix_count(cost - 1)
    }

    fn prefix_count(&self, mut i: usize) -> u64 {
        let mut total = 0;
        while i > 0 {
            total += self.count[i];
            i &= i - 1;
        }
        total
    }
}

/// The upper bound at one `e` (see the module documentation), D1 included.
fn bound_at(by_label: &[Vec<(u64, usize)>], e: u64) -> u64 {
    let mut d1 = 0u64;
    // Each label's D2 costs, ascending.
    let mut ascending: Vec<Vec<u64>> = Vec::with_capacity(by_label.len());
    for list in by_label {
        let d2_start = list.partition_point(|x| x.0 > 2 * e);
        let d2_end = list.partition_point(|x| x.0 > e);
        d1 += d2_start as u64;
        ascending.push(
            list[d2_start..d2_end]
                .iter()
                .rev()
                .map(|x| x.0 - e)
                .collect(),
        );
    }
    let n_d2: u64 = ascending.iter().map(|l| l.len() as u64).sum();
    let total_cost: u64 = ascending.iter().flatten().sum();
    let longest = ascending.iter().map(Vec::len).max().unwrap_or(0);
    let mut tree = CostTree::new(e as usize);
    let mut pool = 0u64;
    let mut best = 0u64;
    for k in 1..=longest as u64 {
        for list in &ascending {
            if let Some(&cost) = list.get(k as usize - 1) {
                tree.add(cost);
                pool += 1;
            }
        }
        let Some(budget) = total_cost.checked_sub(k * (e + 1)) else {
            break; // the budget only shrinks with K
        };
        let size = (k + tree.most_within(budget))
            .min(pool)
            .min(n_d2 - k.min(n_d2));
        best = best.max(size);
    }
    d1 + best
}

/// The upper bound on the paper's dataset bound of any grouping, `bound[e]` for `e` in
/// `0..=max_e` (per `e`, before any monotone envelope).
pub fn grouping_upper_bound(points: &[PointCertificate], n_classes: usize, max_e: u64) -> Vec<u64> {
    use rayon::prelude::*;
    let by_label = correct_by_label_descending(points, n_classes);
    (0..=max_e)
        .into_par_iter()
        // Skipped once a cancellation is requested (0 is never returned as a bound: the
        // caller returns the error, see crate::cancel).
        .map(|e| {
            if crate::cancel::requested() {
                0
            } else {
                bound_at(&by_label, e)
            }
        })
        .collect()
}

/// The tightest proven upper bound nncert has on the paper's dataset bound of any
/// grouping, `bound[e]` for `e` in `0..=max_e`: the pooled bound above, lowered at each
/// `e'` of `lp` (pairs `(e', LP bound at e')`, see [`super::lp_bound`]) to the LP bound,
/// then made non-increasing from the left.
///
/// Why a bound at `e' ≤ e` holds at `e`: for a fixed partition of the test set, the
/// certified count can only fall as `e` grows (the attacker has more budget and every
/// member costs less), so the best grouping's count at `e` is at most the best at `e'`,
/// which the bound at `e'` covers. (The direction is the opposite of the lower bounds'
/// envelope, which carries a value from `e'` down to `e ≤ e'`.)
pub(crate) fn tightest_upper_bound(
    points: &[PointCertificate],
    n_classes: usize,
    max_e: u64,
    lp: &[(u64, u64)],
) -> Vec<u64> {
    let mut bound = grouping_upper_bound(points, n_classes, max_e);
    for &(at, value) in lp {
        if let Some(b) = bound.get_mut(at as usize) {
            *b = (*b).min(value);
        }
    }
    non_increasing_from_left(&mut bound);
    bound
}

/// Replaces each value by the smallest at the same or a smaller `e` (sound for upper
/// bounds on a quantity that is non-increasing in `e`; see [`tightest_upper_bound`]).
pub(crate) fn non_increasing_from_left(values: &mut [u64]) {
    let mut least = u64::MAX;
    for v in values {
        least = least.min(*v);
        *v = least;
    }
}
