//! The joint group bound for rNN (METHOD §4, paper Theorems 3–4).
//!
//! Take a group `U` of test inputs whose predicted labels are pairwise different. A removed
//! training example has one label, so it lowers the top vote of at most one member (it can
//! only lower other members' non-predicted votes, which never helps the attacker); an
//! inserted example can sit in every member's ball at once. Give the attacker all `e`
//! insertions for free on every member: member `i` still needs
//! `cost_i = max(g_i − e, 0)` removals of its own (0 when it is already misclassified). With
//! `e` removals in all, the attacker flips at most `t` members, where `t` is the largest
//! number of members whose `t` smallest costs sum to ≤ `e`. So at least `|U| − t` members
//! stay certified correct.

use super::PointCertificate;

/// `|U| − t` for a group whose members' cost keys are sorted ascending.
///
/// `sorted_keys[j]` is [`PointCertificate::cost_key`] of a member; the cost at `e` is
/// `key − e` floored at 0, which keeps the order, so one sort serves every `e`.
#[inline]
pub(crate) fn certified_in_sorted_group(sorted_keys: &[u64], e: u64) -> usize {
    debug_assert!(sorted_keys.is_sorted());
    let mut spent = 0u64;
    let mut flipped = 0usize;
    for &key in sorted_keys {
        let cost = key.saturating_sub(e);
        if spent + cost > e {
            break;
        }
        spent += cost;
        flipped += 1;
    }
    sorted_keys.len() - flipped
}

/// `|U| − t` for an arbitrary group of test inputs at poisoning size `e`.
///
/// The caller guarantees that the members' predicted labels are pairwise different
/// (checked in debug builds): without that the bound does not hold.
pub fn group_certified(members: &[&PointCertificate], e: u64) -> usize {
    debug_assert!(
        {
            let mut labels: Vec<u32> = members.iter().map(|p| p.prediction.predicted).collect();
            labels.sort_unstable();
            labels.windows(2).all(|w| w[0] != w[1])
        },
        "a joint group needs pairwise different predicted labels"
    );
    let mut keys: Vec<u64> = members.iter().map(|p| p.cost_key()).collect();
    keys.sort_unstable();
    certified_in_sorted_group(&keys, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_flips_the_cheapest_members_first() {
        // costs at e = 3: [0, 1, 2, 4] -> 0 + 1 + 2 = 3 ≤ 3, so 3 flipped, 1 certified.
        assert_eq!(certified_in_sorted_group(&[0, 4, 5, 7], 3), 1);
        // at e = 2: costs [0, 2, 3, 5]: 0 + 2 = 2 ≤ 2 -> 2 flipped, 2 certified.
        assert_eq!(certified_in_sorted_group(&[0, 4, 5, 7], 2), 2);
        // at e = 0 only the misclassified member (key 0) falls.
        assert_eq!(certified_in_sorted_group(&[0, 4, 5, 7], 0), 3);
        assert_eq!(certified_in_sorted_group(&[], 5), 0);
    }
}
