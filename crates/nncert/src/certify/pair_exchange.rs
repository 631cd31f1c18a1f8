//! PAIRS: a local search that re-partitions two groups at a time, exactly (derivation in
//! `docs/JOINT.md`, section "A grouping from the LP").
//!
//! POLISH's matching re-places the members of one label at a time, optimally given the
//! others; a partition it cannot improve can still gain when two groups exchange members
//! of several labels at once (a sacrifice and a certified member together, say). Take two
//! groups: per label they hold at most two members, which may stay, swap, or (if there is
//! one) move to the other group; all `2^{k−1}` splits (`k` labels present, the first one's
//! placement fixed by symmetry) are evaluated with the exact paper count, and the best
//! split replaces the pair when it certifies strictly more. Every step keeps a partition of
//! the same members with one member per label and group, and never lowers the count.
//!
//! Each group is paired with its `PARTNERS` (6) neighbours in the order of its costliest
//! member (groups with similar costs are the ones that trade usefully), for `PASSES` (2)
//! passes; the order and the ties are fixed, so the result does not depend on threads.

use super::PointCertificate;
use super::polish::EMPTY;

/// Partners per group, in the order of their costliest member.
const PARTNERS: usize = 6;

/// Passes over all groups.
const PASSES: usize = 2;

/// Labels present in a pair above which the pair is skipped (`2^{k−1}` splits).
const MAX_LABELS: usize = 12;

/// The paper's count of a group given by its members' costs at `e` (sorted here).
fn certified_of_costs(costs: &mut [u64], e: u64) -> usize {
    costs.sort_unstable();
    let mut spent = 0u64;
    let mut flipped = 0usize;
    for &c in costs.iter() {
        if spent + c > e {
            break;
        }
        spent += c;
        flipped += 1;
    }
    costs.len() - flipped
}

/// Improves `groups` (each one test index or [`EMPTY`] per label, every member in D2 at
/// `e`) by exact pair exchanges (see the module documentation). Returns the gain in
/// certified members.
pub(crate) fn exchange_pairs(
    groups: &mut [Vec<usize>],
    points: &[PointCertificate],
    e: u64,
) -> u64 {
    let cost = |i: usize| points[i].cost_key().saturating_sub(e);
    let group_count = |g: &[usize]| {
        let mut costs: Vec<u64> = g
            .iter()
            .filter(|&&i| i != EMPTY)
            .map(|&i| cost(i))
            .collect();
        certified_of_costs(&mut costs, e)
    };
    let mut gain = 0u64;
    let mut a_costs: Vec<u64> = Vec::new();
    let mut b_costs: Vec<u64> = Vec::new();
    let mut present: Vec<usize> = Vec::new();
    for _ in 0..PASSES {
        let mut order: Vec<(u64, usize)> = groups
            .iter()
            .enumerate()
            .map(|(j, g)| {
                let top = g.iter().filter(|&&i| i != EMPTY).map(|&i| cost(i)).max();
                (top.unwrap_or(0), j)
            })
            .collect();
        order.sort_unstable();
        let mut counts: Vec<usize> = groups.iter().map(|g| group_count(g)).collect();
        let mut improved = false;
        for x in 0..order.len() {
            for y in x + 1..(x + 1 + PARTNERS).min(order.len()) {
                let (ja, jb) = (order[x].1, order[y].1);
                present.clear();
                present.extend(
                    (0..groups[ja].len())
                        .filter(|&l| groups[ja][l] != EMPTY || groups[jb][l] != EMPTY),
                );
                let k = present.len();
                if !(2..=MAX_LABELS).contains(&k) {
                    continue;
                }
                let before = counts[ja] + counts[jb];
                let mut best = (before, None);
                // Bit t of `mask` set: label present[t + 1]'s members are swapped.
                for mask in 1u32..(1u32 << (k - 1)) {
                    a_costs.clear();
                    b_costs.clear();
                    for (t, &l) in present.iter().enumerate() {
                        let swap = t > 0 && mask & (1 << (t - 1)) != 0;
                        let (to_a, to_b) = if swap {
                            (groups[jb][l], groups[ja][l])
                        } else {
                            (groups[ja][l], groups[jb][l])
                        };
                        if to_a != EMPTY {
                            a_costs.push(cost(to_a));
                        }
                        if to_b != EMPTY {
                            b_costs.push(cost(to_b));
                        }
                    }
                    let now =
                        certified_of_costs(&mut a_costs, e) + certified_of_costs(&mut b_costs, e);
                    if now > best.0 {
                        best = (now, Some(mask));
                    }
                }
                if let (now, Some(mask)) = best {
                    for (t, &l) in present.iter().enumerate().skip(1) {
                        if mask & (1 << (t - 1)) != 0 {
                            let tmp = groups[ja][l];
                            groups[ja][l] = groups[jb][l];
                            groups[jb][l] = tmp;
                        }
                    }
                    counts[ja] = group_count(&groups[ja]);
                    counts[jb] = group_count(&groups[jb]);
                    debug_assert_eq!(counts[ja] + counts[jb], now);
                    gain += (now - before) as u64;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
    gain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::certify_points;
    use crate::rng::SplitMix64;
    use crate::{TieRule, Votes};

    /// On random partitions of D2 (one member per label and group), pair exchanges return
    /// their gain exactly, never lower the count and keep a partition of the same members
    /// with each member in the slot of its own label.
    #[test]
    fn exchanges_never_lower_the_count_and_keep_a_partition() {
        let mut rng = SplitMix64::new(0x9a1e);
        for _ in 0..200 {
            let (c, n) = (2 + rng.below(5) as usize, 5 + rng.below(40) as usize);
            let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
            let counts: Vec<u32> = (0..n * c)
                .map(|k| {
                    rng.below(10) as u32
                        + if labels[k / c] as usize == k % c {
                            5 + rng.below(60) as u32
                        } else {
                            0
                        }
                })
                .collect();
            let votes = Votes::new(counts, c, labels).unwrap();
            let points = certify_points(&votes, TieRule::Larger);
            let e = 1 + rng.below(30);
            let mut groups: Vec<Vec<usize>> = Vec::new();
            let mut members: Vec<usize> = Vec::new();
            for (i, p) in points.iter().enumerate() {
                if !(p.correct() && p.margin > e && p.margin <= 2 * e) {
                    continue;
                }
                members.push(i);
                let l = p.prediction.predicted as usize;
                let start = rng.below(groups.len() as u64 + 1) as usize;
                match (start..groups.len()).find(|&j| groups[j][l] == EMPTY) {
                    Some(j) => groups[j][l] = i,
                    None => {
                        let mut g = vec![EMPTY; c];
                        g[l] = i;
                        groups.push(g);
                    }
                }
            }
            let total = |groups: &[Vec<usize>]| -> usize {
                groups
                    .iter()
                    .map(|g| {
                        let mut costs: Vec<u64> = g
                            .iter()
                            .filter(|&&i| i != EMPTY)
                            .map(|&i| points[i].margin - e)
                            .collect();
                        certified_of_costs(&mut costs, e)
                    })
                    .sum()
            };
            let before = total(&groups);
            let gain = exchange_pairs(&mut groups, &points, e);
            assert_eq!(total(&groups), before + gain as usize);
            let mut seen: Vec<usize> = groups
                .iter()
                .flatten()
                .copied()
                .filter(|&i| i != EMPTY)
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, members);
            for g in &groups {
                for (l, &i) in g.iter().enumerate().filter(|(_, i)| **i != EMPTY) {
                    assert_eq!(points[i].prediction.predicted as usize, l);
                }
            }
        }
    }
}
