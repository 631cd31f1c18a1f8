//! A primal simplex for the packing LPs of the joint-grouping bound, built for column
//! generation (`docs/JOINT.md`, "Finding the prices").
//!
//! The LP bound and the LP grouping solve `max Σ_p v_p x_p` subject to `Σ_{p ∋ r} x_p ≤ b_r`
//! for every row `r` (a label and cost bucket, `b_r` its members) and `x ≥ 0`, where every
//! column `p` (a relaxed group) has coefficient 1 in the rows it uses. Columns arrive a few
//! at a time from the pricing, and the LP is re-optimised after each batch. A column may
//! also be a *substitution* (value 0, +1 in one row, −1 in another): one unit of the first
//! row's capacity used in place of one of the second's ([`PackingLp::add_substitution`]). Solving the
//! *dual* with row-adding solvers (as nncert did with `microlp`) grows the basis with every
//! cut — about 1,350 rows at `e = 1,000` on MNIST — and re-factorises it each time; the
//! primal keeps a basis of one row per non-empty (label, bucket) cell (at most 240 with 24
//! buckets and 10 labels) whatever the number of columns, and a new column is just one more
//! candidate for the next pivot. So this is a textbook revised simplex with an explicit
//! dense basis inverse, updated by one rank-one step per pivot and recomputed from the
//! basis every [`REFACTOR`] pivots.
//!
//! Cost (`docs/JOINT.md`, "Finding the prices", has the measurements): the inverses of these
//! bases are dense (about 85 % of a pivot's direction and 70 % of its row are non-zero at
//! MNIST's 307 rows), so a pivot is one `m × m` rank-one update, run on the widest vector
//! instructions the CPU has; the recomputation pivots the basic columns into the slack
//! basis with the same update (a few hundred updates, not an `m³` elimination); the
//! columns' rows are one flat array, so pricing every column reads memory in order.
//!
//! Soundness does not depend on this solver: its duals are only *proposed* prices that the
//! caller checks exactly ([`super::lp_bound::dual_bound_scaled`]), and its primal solution
//! only guides which real groups are built, whose counts are computed exactly. A failure
//! (singular basis, pivot limit) therefore costs tightness, never correctness; the solver
//! reports it and keeps its last duals.
//!
//! Degeneracy: many cells have few members, so pivots of length 0 are common. Each right-hand
//! side is perturbed by a distinct tiny amount (`1e-7` to `2e-7`), which makes ties in the
//! ratio test unlikely and so prevents cycling in practice; a pivot limit stops it in any case.

use crate::neighbours::Kernel;

/// Pivots between recomputations of the basis inverse from the basis (each costs about as
/// many updates as the basis has columns; at 512 they took as long as the simplex itself,
/// and 2,048 gives the same bounds on MNIST).
const REFACTOR: usize = 2048;

/// A reduced cost must exceed this for a column to enter (values are counts of members).
const OPTIMALITY: f64 = 1e-9;

/// Pivot elements at or below this are not used in the ratio test.
const PIVOT: f64 = 1e-9;

/// No row: a column that is not a substitution.
const NO_ROW: u32 = u32::MAX;

/// Why [`PackingLp::solve`] stopped before optimality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LpStop {
    /// The pivot limit was reached.
    PivotLimit,
    /// The basis became numerically singular.
    Singular,
}

/// `max v·x` subject to `A x ≤ b`, `x ≥ 0`, with 0/1 columns and substitutions (see the
/// module documentation).
#[derive(Debug, Clone)]
pub(crate) struct PackingLp {
    /// Number of rows.
    m: usize,
    /// The perturbed right-hand side.
    rhs: Vec<f64>,
    /// Every column's rows (distinct, each `< m`), concatenated; column `j`'s are
    /// `column_rows[column_start[j]..column_start[j + 1]]` (one flat array, so pricing all
    /// columns reads memory in order).
    column_rows: Vec<u32>,
    /// Where each column's rows start in `column_rows`, plus the end.
    column_start: Vec<usize>,
    /// Each column's objective value.
    column_value: Vec<f64>,
    /// Each column's row with coefficient −1 (a substitution), or [`NO_ROW`].
    column_freed: Vec<u32>,
    /// `basis[i]`: the variable basic in position `i`: `< m` a slack, else `m + column`.
    basis: Vec<usize>,
    /// Whether each variable (slacks, then columns) is basic.
    basic: Vec<bool>,
    /// The basis inverse `m × m`, stored by columns: `inverse[k·m + i]` is entry `(i, k)`, so
    /// the column of a row's slack, and the sum of a pattern's rows, are contiguous reads.
    inverse: Vec<f64>,
    /// The basic variables' values.
    values: Vec<f64>,
    /// The duals `c_B B⁻¹`.
    duals: Vec<f64>,
    /// Pivots since the inverse was last recomputed.
    since_refactor: usize,
    /// Recompute the inverse after this many pivots ([`REFACTOR`]; smaller in tests).
    refactor_every: usize,
    /// Pivots made so far, over every call of [`PackingLp::solve`].
    pivots: usize,
    /// Recomputations of the inverse so far.
    refactors: usize,
    /// The non-zero multipliers `(k, a_k)` of the last update (a buffer kept to reuse).
    multipliers: Vec<(usize, f64)>,
    /// Which vector instructions the update uses (all give the same bits).
    kernel: Kernel,
}

impl PackingLp {
    /// An LP with right-hand side `rhs` (each `≥ 0`) and no columns yet; the slack basis.
    pub(crate) fn new(rhs: &[f64]) -> PackingLp {
        let m = rhs.len();
        let mut inverse = vec![0.0; m * m];
        for i in 0..m {
            inverse[i * m + i] = 1.0;
        }
        let rhs: Vec<f64> = rhs
            .iter()
            .enumerate()
            .map(|(i, &b)| b.max(0.0) + 1e-7 * (1.0 + perturbation(i)))
            .collect();
        PackingLp {
            m,
            values: rhs.clone(),
            rhs,
            column_rows: Vec::new(),
            column_start: vec![0],
            column_value: Vec::new(),
            column_freed: Vec::new(),
            basis: (0..m).collect(),
            basic: vec![true; m],
            inverse,
            duals: vec![0.0; m],
            since_refactor: 0,
            refactor_every: REFACTOR,
            pivots: 0,
            refactors: 0,
            multipliers: Vec::new(),
            kernel: Kernel::detect().unwrap_or(Kernel::Scalar),
        }
    }

    /// Adds a column using `rows` (distinct, each below the row count) with objective
    /// `value`; it starts non-basic at 0. Returns its index.
    pub(crate) fn add_column(&mut self, rows: &[usize], value: f64) -> usize {
        debug_assert!(rows.iter().all(|&r| r < self.m));
        self.column_rows.extend(rows.iter().map(|&r| r as u32));
        self.column_start.push(self.column_rows.len());
        self.column_value.push(value);
        self.column_freed.push(NO_ROW);
        self.basic.push(false);
        self.column_value.len() - 1
    }

    /// Adds a substitution column: value 0, coefficient +1 in row `used` and −1 in row
    /// `freed` (distinct, each below the row count), i.e. one unit of `used`'s capacity
    /// taken in place of one of `freed`'s. Its dual constraint is `y_used ≥ y_freed`.
    /// Returns its index.
    pub(crate) fn add_substitution(&mut self, used: usize, freed: usize) -> usize {
        debug_assert!(used != freed && freed < self.m);
        let j = self.add_column(&[used], 0.0);
        self.column_freed[j] = freed as u32;
        j
    }

    /// The rows of column `j`.
    fn rows_of(&self, j: usize) -> &[u32] {
        &self.column_rows[self.column_start[j]..self.column_start[j + 1]]
    }

    /// `B⁻¹ a` for variable `var` (a slack or a column) into `direction`.
    fn ftran(&self, var: usize, direction: &mut [f64]) {
        let m = self.m;
        if var < m {
            direction.copy_from_slice(self.column_of_inverse(var));
            return;
        }
        direction.iter_mut().for_each(|d| *d = 0.0);
        for &r in self.rows_of(var - m) {
            for (d, &x) in direction.iter_mut().zip(self.column_of_inverse(r as usize)) {
                *d += x;
            }
        }
        let freed = self.column_freed[var - m];
        if freed != NO_ROW {
            for (d, &x) in direction
                .iter_mut()
                .zip(self.column_of_inverse(freed as usize))
            {
                *d -= x;
            }
        }
    }

    /// Rank-one update of the inverse for a pivot on `row` with the entering variable's
    /// `direction` (`B⁻¹ a`): column `k` of the new inverse is column `k` of the old minus
    /// `a_k · direction`, with `a_k = old[row][k] / pivot`, and `a_k` in the pivot row.
    /// Calls `touched(k, a_k)` for every non-zero `a_k`. The inverses of these 0/1 bases
    /// are sparse, so many `a_k` are 0 and their columns are skipped.
    fn update_inverse(
        &mut self,
        row: usize,
        direction: &[f64],
        mut touched: impl FnMut(usize, f64),
    ) {
        let m = self.m;
        let pivot = direction[row];
        let mut multipliers = std::mem::take(&mut self.multipliers);
        multipliers.clear();
        multipliers.extend(
            (0..m)
                .map(|k| (k, self.inverse[k * m + row]))
                .filter(|&(_, x)| x != 0.0)
                .map(|(k, x)| (k, x / pivot)),
        );
        subtract_outer(self.kernel, &mut self.inverse, m, direction, &multipliers);
        for &(k, a) in &multipliers {
            self.inverse[k * m + row] = a;
            touched(k, a);
        }
        self.multipliers = multipliers;
    }

    /// Primal simplex (largest reduced cost enters) until no column or slack improves the
    /// objective, or `max_pivots` pivots.
    pub(crate) fn solve(&mut self, max_pivots: usize) -> Result<(), LpStop> {
        let m = self.m;
        let mut direction = vec![0.0; m];
        for _ in 0..max_pivots {
            if self.since_refactor >= self.refactor_every {
                self.refactor()?;
            }
            let Some((entering, gain)) = self.entering() else {
                return Ok(());
            };
            // FTRAN: the entering variable's column in the current basis.
            self.ftran(entering, &mut direction);
            // Ratio test: the smallest step, ties to the largest pivot element.
            let mut leave: Option<(usize, f64, f64)> = None;
            for (i, &u) in direction.iter().enumerate() {
                if u > PIVOT {
                    let ratio = self.values[i].max(0.0) / u;
                    let better = leave.is_none_or(|(_, best, pivot)| {
                        ratio < best - 1e-12 || (ratio <= best + 1e-12 && u > pivot)
                    });
                    if better {
                        leave = Some((i, ratio, u));
                    }
                }
            }
            // A packing LP is bounded: every pattern column is ≥ 0 with a positive entry, and
            // a substitution's entries sum to 0, so no direction of x ≥ 0 keeps every row
            // within capacity while the objective grows (whatever the substitutions).
            let Some((row, step, _)) = leave else {
                return Err(LpStop::Singular);
            };
            for (value, &u) in self.values.iter_mut().zip(&direction) {
                *value -= step * u;
            }
            self.values[row] = step;
            let mut duals = std::mem::take(&mut self.duals);
            self.update_inverse(row, &direction, |k, a| duals[k] += gain * a);
            self.duals = duals;
            self.basic[self.basis[row]] = false;
            self.basic[entering] = true;
            self.basis[row] = entering;
            self.since_refactor += 1;
            self.pivots += 1;
        }
        Err(LpStop::PivotLimit)
    }

    /// The improving variable with the largest reduced cost (Dantzig's rule), if any.
    fn entering(&self) -> Option<(usize, f64)> {
        let m = self.m;
        let mut best: Option<(usize, f64)> = None;
        let mut consider = |var: usize, gain: f64| {
            if gain > OPTIMALITY && best.is_none_or(|(_, g)| gain > g) {
                best = Some((var, gain));
            }
        };
        for (i, &y) in self.duals.iter().enumerate() {
            if !self.basic[i] {
                consider(i, -y);
            }
        }
        for (j, ((bounds, &value), &freed)) in self
            .column_start
            .windows(2)
            .zip(&self.column_value)
            .zip(&self.column_freed)
            .enumerate()
        {
            if !self.basic[m + j] {
                let rows = &self.column_rows[bounds[0]..bounds[1]];
                let refund = if freed == NO_ROW {
                    0.0
                } else {
                    self.duals[freed as usize]
                };
                consider(
                    m + j,
                    value - rows.iter().map(|&r| self.duals[r as usize]).sum::<f64>() + refund,
                );
            }
        }
        best
    }

    /// Recomputes the inverse, the basic values and the duals from the basis: starting
    /// from the slack basis (inverse the identity), each basic column is pivoted in on the
    /// row, among those whose slack is not basic and not yet taken, where its direction is
    /// largest in magnitude (Gaussian elimination with partial pivoting, done by the same
    /// sparse rank-one updates as the simplex, so it costs a few pivots' worth of work, not
    /// `m³`). The basic slacks keep their rows.
    fn refactor(&mut self) -> Result<(), LpStop> {
        let m = self.m;
        self.inverse.iter_mut().for_each(|x| *x = 0.0);
        for i in 0..m {
            self.inverse[i * m + i] = 1.0;
        }
        let structural: Vec<usize> = self.basis.iter().copied().filter(|&v| v >= m).collect();
        let mut free: Vec<bool> = (0..m).map(|i| !self.basic[i]).collect();
        let mut basis: Vec<usize> = (0..m).collect();
        let mut direction = vec![0.0; m];
        for var in structural {
            self.ftran(var, &mut direction);
            let row = (0..m).filter(|&i| free[i]).max_by(|&a, &b| {
                direction[a]
                    .abs()
                    .total_cmp(&direction[b].abs())
                    .then(b.cmp(&a))
            });
            let Some(row) = row.filter(|&i| direction[i].abs() > 1e-9) else {
                return Err(LpStop::Singular);
            };
            self.update_inverse(row, &direction, |_, _| {});
            free[row] = false;
            basis[row] = var;
        }
        self.basis = basis;
        let mut values = vec![0.0; m];
        for (k, &b) in self.rhs.iter().enumerate() {
            for (x, &a) in values.iter_mut().zip(self.column_of_inverse(k)) {
                *x += a * b;
            }
        }
        self.values = values;
        let costs: Vec<f64> = self
            .basis
            .iter()
            .map(|&var| {
                if var < m {
                    0.0
                } else {
                    self.column_value[var - m]
                }
            })
            .collect();
        for j in 0..m {
            self.duals[j] = costs
                .iter()
                .zip(self.column_of_inverse(j))
                .map(|(c, a)| c * a)
                .sum();
        }
        self.since_refactor = 0;
        self.refactors += 1;
        Ok(())
    }

    /// Pivots made so far, over every call of [`PackingLp::solve`].
    pub(crate) fn pivots(&self) -> usize {
        self.pivots
    }

    /// Column `k` of the basis inverse.
    fn column_of_inverse(&self, k: usize) -> &[f64] {
        &self.inverse[k * self.m..(k + 1) * self.m]
    }

    /// The duals (one per row; near-zero negatives are possible from rounding).
    pub(crate) fn duals(&self) -> &[f64] {
        &self.duals
    }

    /// Each column's value in the current basic solution.
    pub(crate) fn primal(&self) -> Vec<f64> {
        let m = self.m;
        let mut x = vec![0.0; self.column_value.len()];
        for (i, &var) in self.basis.iter().enumerate() {
            if var >= m {
                x[var - m] = self.values[i].max(0.0);
            }
        }
        x
    }

    /// The objective `v·x` of the current basic solution.
    pub(crate) fn objective(&self) -> f64 {
        let m = self.m;
        self.basis
            .iter()
            .zip(&self.values)
            .filter(|(var, _)| **var >= m)
            .map(|(&var, &x)| self.column_value[var - m] * x.max(0.0))
            .sum()
    }
}

/// `inverse[:, k] −= a_k · direction` for every `(k, a_k)` in `multipliers` (columns of
/// length `m`), on the widest vector instructions `kernel` allows. Element by element,
/// with a separate multiply and subtract (Rust never fuses them), so every kernel computes
/// the same bits and the solver's path does not depend on the CPU.
fn subtract_outer(
    kernel: Kernel,
    inverse: &mut [f64],
    m: usize,
    direction: &[f64],
    multipliers: &[(usize, f64)],
) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernel::detect` returns AVX-512 or AVX2 only when the CPU has it.
        Kernel::Avx512 => unsafe { subtract_outer_avx512(inverse, m, direction, multipliers) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx2 => unsafe { subtract_outer_avx2(inverse, m, direction, multipliers) },
        _ => subtract_outer_portable(inverse, m, direction, multipliers),
    }
}

#[inline(always)]
fn subtract_outer_portable(
    inverse: &mut [f64],
    m: usize,
    direction: &[f64],
    multipliers: &[(usize, f64)],
) {
    for &(k, a) in multipliers {
        for (x, &d) in inverse[k * m..(k + 1) * m].iter_mut().zip(direction) {
            *x -= a * d;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn subtract_outer_avx512(
    inverse: &mut [f64],
    m: usize,
    direction: &[f64],
    multipliers: &[(usize, f64)],
) {
    subtract_outer_portable(inverse, m, direction, multipliers)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn subtract_outer_avx2(
    inverse: &mut [f64],
    m: usize,
    direction: &[f64],
    multipliers: &[(usize, f64)],
) {
    subtract_outer_portable(inverse, m, direction, multipliers)
}

/// A fixed value in `[0, 1)` per row (a hash of the index), so the perturbation, and with
/// it every pivot, is the same on every run.
fn perturbation(i: usize) -> f64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// A uniform integer in `lo..hi`.
    fn range(rng: &mut SplitMix64, lo: usize, hi: usize) -> usize {
        lo + rng.below((hi - lo) as u64) as usize
    }

    /// The same LP solved by `microlp` (a general-purpose simplex).
    fn reference(rhs: &[f64], columns: &[(Vec<usize>, f64)]) -> f64 {
        reference_with(rhs, columns, &[])
    }

    /// [`reference`] with substitution columns `(used, freed)` (value 0, +1 and −1).
    fn reference_with(
        rhs: &[f64],
        columns: &[(Vec<usize>, f64)],
        substitutions: &[(usize, usize)],
    ) -> f64 {
        use microlp::{ComparisonOp, OptimizationDirection, Problem};
        let mut problem = Problem::new(OptimizationDirection::Maximize);
        let moves: Vec<_> = substitutions
            .iter()
            .map(|_| problem.add_var(0.0, (0.0, f64::INFINITY)))
            .collect();
        let vars: Vec<_> = columns
            .iter()
            .map(|(_, v)| problem.add_var(*v, (0.0, f64::INFINITY)))
            .collect();
        for (r, &b) in rhs.iter().enumerate() {
            let mut expr = microlp::LinearExpr::empty();
            for (j, (rows, _)) in columns.iter().enumerate() {
                if rows.contains(&r) {
                    expr.add(vars[j], 1.0);
                }
            }
            for (k, &(used, freed)) in substitutions.iter().enumerate() {
                if used == r {
                    expr.add(moves[k], 1.0);
                } else if freed == r {
                    expr.add(moves[k], -1.0);
                }
            }
            problem.add_constraint(expr, ComparisonOp::Le, b);
        }
        problem
            .solve()
            .ok()
            .and_then(|o| o.into_solution().ok())
            .expect("reference LP solves")
            .objective()
    }

    fn random_lp(rng: &mut SplitMix64) -> (Vec<f64>, Vec<(Vec<usize>, f64)>) {
        let m = range(rng, 1, 30);
        let rhs: Vec<f64> = (0..m).map(|_| range(rng, 0, 6) as f64).collect();
        let n = range(rng, 1, 80);
        let columns = (0..n)
            .map(|_| {
                let k = range(rng, 1, m.min(6) + 1);
                let mut rows: Vec<usize> = (0..m).collect();
                for i in 0..k {
                    let j = range(rng, i, m);
                    rows.swap(i, j);
                }
                rows.truncate(k);
                (rows, range(rng, 0, 5) as f64)
            })
            .collect();
        (rhs, columns)
    }

    /// Optimal objective, feasible primal, and duals that certify it (dual feasible:
    /// `y ≥ 0` and `Σ_{r∈p} y_r ≥ v_p`, with `b·y` equal to the objective) on random LPs,
    /// with the columns added in batches and re-optimised as in column generation.
    #[test]
    fn matches_a_general_simplex_on_random_packing_lps() {
        let mut rng = SplitMix64::new(7);
        for case in 0..400 {
            let (rhs, columns) = random_lp(&mut rng);
            let mut lp = PackingLp::new(&rhs);
            if case % 2 == 1 {
                lp.refactor_every = 3;
            }
            for batch in columns.chunks(7) {
                for (rows, v) in batch {
                    lp.add_column(rows, *v);
                }
                lp.solve(10_000).expect("solves");
            }
            let expected = reference(&rhs, &columns);
            let got = lp.objective();
            assert!(
                (got - expected).abs() < 1e-4,
                "case {case}: {got} vs {expected}"
            );
            let x = lp.primal();
            for (r, &b) in rhs.iter().enumerate() {
                let used: f64 = columns
                    .iter()
                    .zip(&x)
                    .filter(|((rows, _), _)| rows.contains(&r))
                    .map(|(_, &x)| x)
                    .sum();
                assert!(used <= b + 1e-4, "case {case}: row {r} uses {used} > {b}");
            }
            let y = lp.duals();
            assert!(y.iter().all(|&y| y > -1e-7), "case {case}: negative dual");
            for (rows, v) in &columns {
                let priced: f64 = rows.iter().map(|&r| y[r]).sum();
                assert!(
                    priced >= v - 1e-6,
                    "case {case}: column priced {priced} < {v}"
                );
            }
            let dual_value: f64 = rhs.iter().zip(y).map(|(b, y)| b * y).sum();
            assert!(
                (dual_value - expected).abs() < 1e-4,
                "case {case}: dual {dual_value}"
            );
        }
    }

    /// With substitution columns along chains of rows (as the LP bound adds them along each
    /// label's buckets): the same optimum as a general simplex, a feasible primal, and
    /// duals that are feasible for both kinds of column (so `y_used ≥ y_freed`).
    #[test]
    fn substitutions_match_a_general_simplex() {
        let mut rng = SplitMix64::new(23);
        for case in 0..300 {
            let (rhs, columns) = random_lp(&mut rng);
            let m = rhs.len();
            // Chains of consecutive rows; a substitution from every row to the next one in
            // its chain (the next is used in place of the row before).
            let chain = range(&mut rng, 2, 6);
            let substitutions: Vec<(usize, usize)> = (0..m.saturating_sub(1))
                .filter(|r| (r + 1) % chain != 0)
                .map(|r| (r + 1, r))
                .collect();
            let mut lp = PackingLp::new(&rhs);
            if case % 2 == 1 {
                lp.refactor_every = 3;
            }
            for &(used, freed) in &substitutions {
                lp.add_substitution(used, freed);
            }
            for batch in columns.chunks(7) {
                for (rows, v) in batch {
                    lp.add_column(rows, *v);
                }
                lp.solve(10_000).expect("solves");
            }
            let expected = reference_with(&rhs, &columns, &substitutions);
            assert!(
                (lp.objective() - expected).abs() < 1e-4,
                "case {case}: {} vs {expected}",
                lp.objective()
            );
            let x = lp.primal();
            let (x_moves, x_columns) = x.split_at(substitutions.len());
            for (r, &b) in rhs.iter().enumerate() {
                let mut used: f64 = columns
                    .iter()
                    .zip(x_columns)
                    .filter(|((rows, _), _)| rows.contains(&r))
                    .map(|(_, &x)| x)
                    .sum();
                for (&(u, f), &x) in substitutions.iter().zip(x_moves) {
                    used += if u == r {
                        x
                    } else if f == r {
                        -x
                    } else {
                        0.0
                    };
                }
                assert!(used <= b + 1e-4, "case {case}: row {r} uses {used} > {b}");
            }
            let y = lp.duals();
            assert!(y.iter().all(|&y| y > -1e-7), "case {case}: negative dual");
            for &(used, freed) in &substitutions {
                assert!(y[used] >= y[freed] - 1e-6, "case {case}: {used} < {freed}");
            }
            for (rows, v) in &columns {
                let priced: f64 = rows.iter().map(|&r| y[r]).sum();
                assert!(priced >= v - 1e-6, "case {case}: priced {priced} < {v}");
            }
            let dual_value: f64 = rhs.iter().zip(y).map(|(b, y)| b * y).sum();
            assert!(
                (dual_value - expected).abs() < 1e-4,
                "case {case}: dual {dual_value}"
            );
        }
    }

    /// A larger random packing LP: `m` rows of capacity below `rhs_below`, `n` columns each
    /// using every row with probability `percent` % (at least one row), values
    /// `1..value_below`.
    fn sparse_lp(
        rng: &mut SplitMix64,
        m: usize,
        rhs_below: usize,
        n: usize,
        percent: u64,
        value_below: usize,
    ) -> (Vec<f64>, Vec<(Vec<usize>, f64)>) {
        let rhs: Vec<f64> = (0..m).map(|_| range(rng, 0, rhs_below) as f64).collect();
        let columns = (0..n)
            .map(|_| {
                let mut rows: Vec<usize> = (0..m).filter(|_| rng.below(100) < percent).collect();
                if rows.is_empty() {
                    rows.push(range(rng, 0, m));
                }
                (rows, range(rng, 1, value_below) as f64)
            })
            .collect();
        (rhs, columns)
    }

    /// Every vector kernel takes the same pivots to the same bits (the update multiplies
    /// and subtracts element by element, never fused), so the LP's results, and the
    /// groups built from them, do not depend on the CPU.
    #[test]
    fn every_kernel_gives_the_same_bits() {
        let mut rng = SplitMix64::new(5);
        let (rhs, columns) = sparse_lp(&mut rng, 90, 9, 2500, 7, 9);
        let solve = |kernel: Kernel| {
            let mut lp = PackingLp::new(&rhs);
            lp.kernel = kernel;
            lp.refactor_every = 97;
            for batch in columns.chunks(300) {
                for (rows, v) in batch {
                    lp.add_column(rows, *v);
                }
                lp.solve(100_000).expect("solves");
            }
            let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            (lp.pivots(), bits(lp.duals()), bits(&lp.primal()))
        };
        let reference = solve(Kernel::Scalar);
        assert!(reference.0 > 200, "{} pivots", reference.0);
        for kernel in Kernel::available() {
            assert!(solve(kernel) == reference, "{kernel} differs from scalar");
        }
    }

    /// With the inverse recomputed every 7 pivots (so several times in one solve), the
    /// optimum and the duals are still right.
    #[test]
    fn stays_exact_across_refactorisations() {
        let mut rng = SplitMix64::new(11);
        let (rhs, columns) = sparse_lp(&mut rng, 60, 4, 1500, 8, 6);
        let mut lp = PackingLp::new(&rhs);
        lp.refactor_every = 7;
        for (rows, v) in &columns {
            lp.add_column(rows, *v);
        }
        lp.solve(100_000).expect("solves");
        assert!(lp.refactors >= 5, "{} refactorisations", lp.refactors);
        let expected = reference(&rhs, &columns);
        assert!((lp.objective() - expected).abs() < 1e-4);
        let y = lp.duals();
        for (rows, v) in &columns {
            assert!(rows.iter().map(|&r| y[r]).sum::<f64>() >= v - 1e-6);
        }
        let dual_value: f64 = rhs.iter().zip(y).map(|(b, y)| b * y).sum();
        assert!(
            (dual_value - expected).abs() < 1e-4,
            "dual {dual_value} vs {expected}"
        );
    }
}
