//! The individual certificate (METHOD §3, paper Theorems 1–2).
//!
//! Why it holds: a poisoning of size `e` is at most `e` removals and `e` insertions. For
//! rNN each of them adds or removes at most one voter. For kNN the poisoned `k` nearest
//! differ from the clean ones in at most `e` members: a removal lets the `(k+1)`-th
//! neighbour in, an insertion pushes the `k`-th out (the one a removal pulled in, if any),
//! so at most `max(removals, insertions) = e` members are swapped. Each swap moves the
//! margin `g = s_a − s_b + [a wins a tie against b]` by at most 2, so it drops by at most
//! `2e`. The runner-up `b` is
//! the cheapest label to promote, so the prediction survives while `2e < g`.
//! Why it is tight: `e` modifications that each delete an `a` voter and insert a `b`
//! example at the test input's own features lower the margin by exactly `2e`.

use super::PointCertificate;

/// `e* = ceil(g / 2) − 1 = floor((g − 1) / 2)` for a margin `g ≥ 1`.
#[inline]
pub fn e_star(margin: u64) -> u64 {
    debug_assert!(margin >= 1, "the margin of a prediction is at least 1");
    margin.saturating_sub(1) / 2
}

/// `certified[e]` = number of test inputs certified correct at `e`, for `e` in `0..=max_e`.
///
/// One histogram of `e*` and a suffix sum: O(n + max_e).
pub fn individual_counts(points: &[PointCertificate], max_e: u64) -> Vec<u64> {
    let len = max_e as usize + 1;
    let mut histogram = vec![0u64; len];
    for p in points.iter().filter(|p| p.correct()) {
        histogram[(p.e_star.min(max_e)) as usize] += 1;
    }
    // certified[e] = #{correct, e* ≥ e}
    let mut running = 0;
    for slot in histogram.iter_mut().rev() {
        running += *slot;
        *slot = running;
    }
    histogram
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_star_matches_both_closed_forms() {
        for margin in 1..200u64 {
            let ceil_form = margin.div_ceil(2) - 1;
            assert_eq!(e_star(margin), ceil_form);
        }
        assert_eq!(e_star(1), 0);
        assert_eq!(e_star(2), 0);
        assert_eq!(e_star(3), 1);
        assert_eq!(e_star(4), 1);
        assert_eq!(e_star(5), 2);
    }
}
