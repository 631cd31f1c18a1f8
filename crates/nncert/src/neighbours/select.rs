//! Per-query selection: the k nearest under the total order of METHOD §2 and the counts
//! within each radius, fed one distance at a time.
//!
//! The order (distance ascending, rank descending, index ascending) becomes one packed
//! integer key: the distance's order bits ([`ord_bits`]: f32 values of any sign order like
//! these u32) in the high 32 bits and the training example's tie-break position (0 = highest rank, see
//! [`crate::rank::tie_break_positions`]) in the low 32. Keys are unique, so the k smallest
//! keys are one well-defined set whatever the order distances arrive in.
//!
//! With an error [`Bound`], the keys are fast (rounded) distances and [`TopK`] also keeps
//! every key whose distance interval reaches that of the k_max-th: the candidates the
//! exact recheck (`search`, `docs/SEARCH.md`) may need beyond the k_max smallest keys.

use super::exact::Bound;

/// Order bits of an f32 (not NaN): `a < b ⟺ ord_bits(a) < ord_bits(b)`, with
/// `ord_bits(-0.0) < ord_bits(0.0)` (the two zeros never meet in one search: distances are
/// computed the same way for every pair). Non-negative floats get their bits with the top
/// bit set, negative ones their bits inverted.
#[inline]
pub fn ord_bits(x: f32) -> u32 {
    let b = x.to_bits();
    b ^ (((b as i32 >> 31) as u32) | 0x8000_0000)
}

/// The f32 of [`ord_bits`].
#[inline]
pub(crate) fn from_ord_bits(o: u32) -> f32 {
    f32::from_bits(if o & 0x8000_0000 != 0 {
        o & 0x7fff_ffff
    } else {
        !o
    })
}

/// Packs a distance and a tie-break position into the order key.
#[inline]
pub(crate) fn order_key(distance: f32, position: u32) -> u64 {
    (u64::from(ord_bits(distance)) << 32) | u64::from(position)
}

/// Streaming top-`k_max` of keys: keeps every key below a threshold that tightens as the
/// buffer fills, and compacts with `select_nth_unstable` when it reaches twice `k_max`.
#[derive(Debug, Clone)]
pub struct TopK {
    k_max: usize,
    threshold: u64,
    keys: Vec<u64>,
    /// Compact when this many keys are held.
    capacity: usize,
    /// Error bound of the distances: keep the keys whose interval reaches the k_max-th's.
    bound: Option<Bound>,
}

impl TopK {
    /// Keeps the `k_max` smallest keys (`k_max ≥ 1`).
    pub fn new(k_max: usize) -> Self {
        TopK::with_bound(k_max, None)
    }

    /// Keeps the `k_max` smallest keys and, with a bound, every key whose distance
    /// interval reaches that of the k_max-th smallest (see [`Bound::widen_bits`]).
    pub(crate) fn with_bound(k_max: usize, bound: Option<Bound>) -> Self {
        TopK {
            k_max,
            threshold: u64::MAX,
            keys: Vec::with_capacity(2 * k_max + 16),
            capacity: 2 * k_max + 16,
            bound,
        }
    }

    /// The largest order bits still needed when `t_bits` is a k-th distance.
    #[inline]
    fn widen(&self, t_bits: u32) -> u32 {
        match self.bound {
            Some(b) => b.widen_bits(t_bits),
            None => t_bits,
        }
    }

    /// Offers one key.
    #[inline]
    pub fn push(&mut self, key: u64) {
        if key < self.threshold {
            self.keys.push(key);
            if self.keys.len() >= self.capacity {
                self.compact();
            }
        }
    }

    /// Offers the keys of a run of distances whose order bits are ≤ `tau_bits`
    /// (`positions[t]` is the tie-break position of `dists[t]`).
    ///
    /// Branch-free: every key is written, and the write position advances only for keys
    /// that pass, so unpredictable acceptances cost no mispredicted branches.
    pub(crate) fn extend_below(&mut self, dists: &[f32], positions: &[u32], tau_bits: u32) {
        debug_assert_eq!(dists.len(), positions.len());
        let limit = tau_bits.min(self.threshold_bits());
        let len = self.keys.len();
        self.keys.reserve(dists.len());
        let spare = &mut self.keys.spare_capacity_mut()[..dists.len()];
        let mut kept = 0;
        for (&d, &p) in dists.iter().zip(positions) {
            // kept ≤ (keys offered so far) < dists.len(): always inside `spare`.
            spare[kept].write(order_key(d, p));
            kept += usize::from(ord_bits(d) <= limit);
        }
        // SAFETY: slots 0..kept are initialised: a passing key is written at its final
        // index, and every later write goes to a larger index.
        unsafe { self.keys.set_len(len + kept) };
        if self.keys.len() >= self.capacity {
            self.compact();
        }
    }

    /// Distance bits of the current compaction threshold (`u32::MAX` before any).
    fn threshold_bits(&self) -> u32 {
        if self.threshold == u64::MAX {
            u32::MAX
        } else {
            (self.threshold >> 32) as u32
        }
    }

    fn compact(&mut self) {
        let k = self.k_max;
        self.keys.select_nth_unstable(k - 1);
        if self.bound.is_none() {
            self.keys.truncate(k);
            // The largest kept key: nothing at or above it can enter the k smallest any more.
            self.threshold = self.keys[k - 1];
            return;
        }
        let w = self.widen((self.keys[k - 1] >> 32) as u32);
        self.retain_at_most(w, k);
        self.threshold = if w == u32::MAX {
            u64::MAX
        } else {
            (u64::from(w) << 32) | 0xffff_ffff
        };
        // Many keys within the bound of the k-th (duplicates): grow instead of looping.
        self.capacity = self.capacity.max(2 * self.keys.len() + 16);
    }

    /// Drops the keys at index ≥ `from` whose order bits exceed `w`.
    fn retain_at_most(&mut self, w: u32, from: usize) {
        let mut write = from;
        for i in from..self.keys.len() {
            if (self.keys[i] >> 32) as u32 <= w {
                self.keys[write] = self.keys[i];
                write += 1;
            }
        }
        self.keys.truncate(write);
    }

    /// Number of keys held whose order bits are ≤ `bits`.
    pub(crate) fn count_at_most(&self, bits: u32) -> usize {
        self.keys
            .iter()
            .filter(|&&k| (k >> 32) as u32 <= bits)
            .count()
    }

    /// Every key held, in no particular order.
    pub(crate) fn into_keys(self) -> Vec<u64> {
        self.keys
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The order bits of the `m`-th smallest key held (1-based), or `u32::MAX` if
    /// fewer than `m` keys are held; drops every key whose distance is larger (with a
    /// bound: larger than its widening, which is returned second).
    ///
    /// Used to turn a sample's order statistic into a distance threshold τ.
    pub(crate) fn threshold_at(&mut self, m: usize) -> (u32, u32) {
        if m == 0 || self.keys.len() < m {
            return (u32::MAX, u32::MAX);
        }
        self.keys.select_nth_unstable(m - 1);
        let tau = (self.keys[m - 1] >> 32) as u32;
        let w = self.widen(tau);
        self.retain_at_most(w, m);
        (tau, w)
    }

    /// The `k` smallest keys seen for each `k` in `ks` (ascending, each ≤ `k_max`), as
    /// nested prefixes of one buffer: `result[..ks[i]]` (or fewer, if fewer keys came).
    pub fn finish(mut self, ks_ascending: &[usize]) -> Vec<u64> {
        let n = self.keys.len().min(self.k_max);
        if self.keys.len() > n {
            self.keys.select_nth_unstable(n - 1);
            self.keys.truncate(n);
        }
        // Partition so that every requested prefix holds that many smallest keys.
        let mut end = self.keys.len();
        for &k in ks_ascending.iter().rev() {
            if k < end && k > 0 {
                self.keys[..end].select_nth_unstable(k - 1);
                end = k;
            }
        }
        self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_top_k_equals_a_full_sort() {
        let mut rng = crate::rng::SplitMix64::new(3);
        for n in [1usize, 5, 100, 5000] {
            let keys: Vec<u64> = (0..n).map(|_| rng.next_u64() >> 8).collect();
            let ks = [1, 3, 40, 700];
            let mut top = TopK::new(700);
            for &k in &keys {
                top.push(k);
            }
            let got = top.finish(&ks);
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            for &k in &ks {
                let k = k.min(n);
                let mut prefix = got[..k].to_vec();
                prefix.sort_unstable();
                assert_eq!(prefix, sorted[..k], "n = {n}, k = {k}");
            }
        }
    }

    #[test]
    fn order_bits_order_like_the_floats() {
        let xs = [
            f32::NEG_INFINITY,
            -f32::MAX,
            -1.5,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            1e-45,
            1.0,
            f32::MAX,
            f32::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(ord_bits(w[0]) < ord_bits(w[1]), "{w:?}");
        }
        for x in xs {
            assert_eq!(from_ord_bits(ord_bits(x)).to_bits(), x.to_bits());
        }
        assert!(order_key(-2.0, 9) < order_key(-1.0, 0));
    }

    #[test]
    fn keys_order_by_distance_then_position() {
        assert!(order_key(1.0, 5) < order_key(1.0, 6));
        assert!(order_key(1.0, 900) < order_key(1.5, 0));
        assert!(order_key(0.0, 0) < order_key(f32::MIN_POSITIVE, 0));
    }
}
