//! Histogram of oriented gradients with scikit-image's `feature.hog` semantics (METHOD §6).
//!
//! The computation follows scikit-image 0.26 step by step, in float64:
//! 1. optional `transform_sqrt` (square root of every pixel value);
//! 2. central-difference gradients, zero on the border rows/columns; for colour images,
//!    each pixel takes the gradient of the channel with the largest magnitude (the first
//!    such channel on ties, as `argmax` over `hypot` values — including the rare pairs of
//!    equal squared magnitudes whose `hypot` differ by an ulp);
//! 3. magnitude `hypot(g_col, g_row)` and orientation `rad2deg(atan2(g_row, g_col)) mod 180`;
//!    a pixel votes into bin `i` when `180/n·i ≤ orientation < 180/n·(i+1)`; a cell's bin
//!    value is the sum of its pixels' magnitudes in that bin (row-major order), divided by
//!    the pixels per cell; only whole cells count;
//! 4. blocks of `cells_per_block` cells slide by one cell and are normalised
//!    (`L1`, `L1-sqrt`, `L2`, `L2-Hys` with eps = 1e-5 and clip 0.2);
//! 5. output order (block row, block col, cell row, cell col, orientation).
//!
//! Speed: for uint8 images without `transform_sqrt`, gradients are integers in
//! −255..=255, so the orientation bin of every possible gradient is precomputed once in a
//! table by the very same formula as the direct path (bit-identical by construction), and
//! the magnitude is `sqrt(g_row² + g_col²)`, exact before the one rounding of the square
//! root.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::Serialize;

use crate::data::ImageShape;
use crate::error::Error;

/// Block normalisation (scikit-image's `block_norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BlockNorm {
    /// `v / (Σ|v| + eps)`
    L1,
    /// `sqrt(v / (Σ|v| + eps))`
    L1Sqrt,
    /// `v / sqrt(Σv² + eps²)`
    L2,
    /// L2, clip at 0.2, L2 again (default).
    L2Hys,
}

impl fmt::Display for BlockNorm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockNorm::L1 => "L1",
            BlockNorm::L1Sqrt => "L1-sqrt",
            BlockNorm::L2 => "L2",
            BlockNorm::L2Hys => "L2-Hys",
        })
    }
}

impl FromStr for BlockNorm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "L1" => BlockNorm::L1,
            "L1-sqrt" => BlockNorm::L1Sqrt,
            "L2" => BlockNorm::L2,
            "L2-Hys" => BlockNorm::L2Hys,
            other => {
                return Err(Error::invalid(format!(
                    "block norm: expected L1, L1-sqrt, L2 or L2-Hys, found `{other}`"
                )));
            }
        })
    }
}

/// HOG parameters; [`HogParams::default`] is scikit-image's default (METHOD §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HogParams {
    /// Orientation bins over 0–180°.
    pub orientations: usize,
    /// Cell size (rows, columns) in pixels.
    pub pixels_per_cell: (usize, usize),
    /// Block size (rows, columns) in cells.
    pub cells_per_block: (usize, usize),
    /// Block normalisation.
    pub block_norm: BlockNorm,
    /// Square root of the image before the gradients.
    pub transform_sqrt: bool,
}

impl Default for HogParams {
    fn default() -> Self {
        HogParams {
            orientations: 9,
            pixels_per_cell: (8, 8),
            cells_per_block: (3, 3),
            block_norm: BlockNorm::L2Hys,
            transform_sqrt: false,
        }
    }
}

/// A checked HOG configuration for one image shape.
#[derive(Debug, Clone)]
pub struct Hog {
    params: HogParams,
    shape: ImageShape,
    n_cells: (usize, usize),
    n_blocks: (usize, usize),
}

const EPS: f64 = 1e-5;

impl Hog {
    /// Validates `params` for images of `shape`.
    pub fn new(params: HogParams, shape: ImageShape) -> Result<Hog, Error> {
        let (cr, cc) = params.pixels_per_cell;
        let (br, bc) = params.cells_per_block;
        if params.orientations == 0 || params.orientations > 360 {
            return Err(Error::invalid(format!(
                "HOG orientations: expected 1..=360, found {}",
                params.orientations
            )));
        }
        if cr == 0 || cc == 0 || br == 0 || bc == 0 {
            return Err(Error::invalid(
                "HOG pixels per cell and cells per block: expected positive sizes",
            ));
        }
        if shape.channels == 0 {
            return Err(Error::invalid("HOG: expected at least one channel"));
        }
        let n_cells = (shape.height / cr, shape.width / cc);
        if n_cells.0 < br || n_cells.1 < bc {
            return Err(Error::invalid(format!(
                "HOG: the image ({}×{}) is too small for {br}×{bc} blocks of {cr}×{cc}-pixel \
                 cells; it should have at least {} rows and {} columns",
                shape.height,
                shape.width,
                br * cr,
                bc * cc
            )));
        }
        let n_blocks = (n_cells.0 - br + 1, n_cells.1 - bc + 1);
        Ok(Hog {
            params,
            shape,
            n_cells,
            n_blocks,
        })
    }

    /// Output dimension: blocks × cells per block × orientations.
    pub fn dim(&self) -> usize {
        let (br, bc) = self.params.cells_per_block;
        self.n_blocks.0 * self.n_blocks.1 * br * bc * self.params.orientations
    }

    /// The parameters.
    pub fn params(&self) -> &HogParams {
        &self.params
    }

    /// Descriptor of one uint8 image stored channel-planar (`channels × height × width`).
    pub fn compute(&self, image: &[u8], out: &mut [f32]) {
        let mut scratch = Scratch::default();
        self.compute_with(image, out, &mut scratch);
    }

    /// As [`Hog::compute`], reusing `scratch` between images.
    pub(crate) fn compute_with(&self, image: &[u8], out: &mut [f32], scratch: &mut Scratch) {
        assert_eq!(image.len(), self.shape.len(), "image size");
        assert_eq!(out.len(), self.dim(), "output size");
        self.histograms(image, scratch);
        self.normalise(&scratch.hist, out, &mut scratch.block);
    }

    /// Fills `scratch.hist` (n_cells_row × n_cells_col × orientations).
    fn histograms(&self, image: &[u8], s: &mut Scratch) {
        let (h, w) = (self.shape.height, self.shape.width);
        let n_orient = self.params.orientations;
        let (cr, cc) = self.params.pixels_per_cell;
        let (ncr, ncc) = self.n_cells;
        s.hist.clear();
        s.hist.resize(ncr * ncc * n_orient, 0.0);
        // Only whole cells are read; their pixels still take gradients from neighbours.
        let (used_rows, used_cols) = (ncr * cr, ncc * cc);
        let table = (!self.params.transform_sqrt).then(|| bin_table(n_orient));
        let plane = h * w;
        for r in 0..used_rows {
            let cell_r = r / cr;
            for c in 0..used_cols {
                let (g_row, g_col) = if let Some(_t) = table {
                    let mut best = (0i32, 0i32);
                    let mut best_sq = -1i32;
                    for ch in 0..self.shape.channels {
                        let p = &image[ch * plane..(ch + 1) * plane];
                        let (gr, gc) = int_gradient(p, h, w, r, c);
                        let sq = gr * gr + gc * gc;
                        // scikit-image takes `argmax` of `hypot` values. Different squared
                        // magnitudes keep their order under hypot; equal ones can still
                        // differ by an ulp (hypot(1, 7) vs hypot(5, 5)), so ties are
                        // decided by the same hypot.
                        let wins = sq > best_sq
                            || (sq == best_sq
                                && (gr, gc) != best
                                && f64::from(gc).hypot(f64::from(gr))
                                    > f64::from(best.1).hypot(f64::from(best.0)));
                        if wins {
                            best_sq = sq;
                            best = (gr, gc);
                        }
                    }
                    (f64::from(best.0), f64::from(best.1))
                } else {
                    let mut best = (0.0f64, 0.0f64);
                    let mut best_mag = -1.0f64;
                    for ch in 0..self.shape.channels {
                        let p = &image[ch * plane..(ch + 1) * plane];
                        let (gr, gc) = sqrt_gradient(p, h, w, r, c);
                        let mag = gc.hypot(gr);
                        if mag > best_mag {
                            best_mag = mag;
                            best = (gr, gc);
                        }
                    }
                    best
                };
                let bin = match table {
                    Some(t) => {
                        let b = t[table_index(g_row as i32, g_col as i32)];
                        (b != NO_BIN).then_some(b as usize)
                    }
                    None => orientation_bin(g_row, g_col, n_orient),
                };
                if let Some(b) = bin {
                    let magnitude = if table.is_some() {
                        (g_row * g_row + g_col * g_col).sqrt()
                    } else {
                        g_col.hypot(g_row)
                    };
                    s.hist[(cell_r * ncc + c / cc) * n_orient + b] += magnitude;
                }
            }
        }
        let per_cell = (cr * cc) as f64;
        for v in &mut s.hist {
            *v /= per_cell;
        }
    }

    fn normalise(&self, hist: &[f64], out: &mut [f32], block: &mut Vec<f64>) {
        let n_orient = self.params.orientations;
        let (br, bc) = self.params.cells_per_block;
        let ncc = self.n_cells.1;
        let block_len = br * bc * n_orient;
        let mut k = 0;
        for r in 0..self.n_blocks.0 {
            for c in 0..self.n_blocks.1 {
                block.clear();
                for cell_r in r..r + br {
                    for cell_c in c..c + bc {
                        let start = (cell_r * ncc + cell_c) * n_orient;
                        block.extend_from_slice(&hist[start..start + n_orient]);
                    }
                }
                normalise_block(block, self.params.block_norm);
                for (o, &v) in out[k..k + block_len].iter_mut().zip(block.iter()) {
                    *o = v as f32;
                }
                k += block_len;
            }
        }
    }
}

/// Reusable buffers for [`Hog::compute_with`].
#[derive(Debug, Default, Clone)]
pub(crate) struct Scratch {
    hist: Vec<f64>,
    block: Vec<f64>,
}

fn normalise_block(block: &mut [f64], norm: BlockNorm) {
    let l2 = |b: &[f64]| (b.iter().map(|v| v * v).sum::<f64>() + EPS * EPS).sqrt();
    match norm {
        BlockNorm::L1 => {
            let s = block.iter().map(|v| v.abs()).sum::<f64>() + EPS;
            block.iter_mut().for_each(|v| *v /= s);
        }
        BlockNorm::L1Sqrt => {
            let s = block.iter().map(|v| v.abs()).sum::<f64>() + EPS;
            block.iter_mut().for_each(|v| *v = (*v / s).sqrt());
        }
        BlockNorm::L2 => {
            let s = l2(block);
            block.iter_mut().for_each(|v| *v /= s);
        }
        BlockNorm::L2Hys => {
            let s = l2(block);
            block.iter_mut().for_each(|v| *v = (*v / s).min(0.2));
            let s = l2(block);
            block.iter_mut().for_each(|v| *v /= s);
        }
    }
}

/// Central differences at (r, c) with zero gradient on the border rows/columns.
#[inline]
fn int_gradient(p: &[u8], h: usize, w: usize, r: usize, c: usize) -> (i32, i32) {
    let g_row = if r == 0 || r + 1 >= h {
        0
    } else {
        i32::from(p[(r + 1) * w + c]) - i32::from(p[(r - 1) * w + c])
    };
    let g_col = if c == 0 || c + 1 >= w {
        0
    } else {
        i32::from(p[r * w + c + 1]) - i32::from(p[r * w + c - 1])
    };
    (g_row, g_col)
}

/// As [`int_gradient`] on the square root of the pixel values (`transform_sqrt`).
#[inline]
fn sqrt_gradient(p: &[u8], h: usize, w: usize, r: usize, c: usize) -> (f64, f64) {
    let v = |i: usize| f64::from(p[i]).sqrt();
    let g_row = if r == 0 || r + 1 >= h {
        0.0
    } else {
        v((r + 1) * w + c) - v((r - 1) * w + c)
    };
    let g_col = if c == 0 || c + 1 >= w {
        0.0
    } else {
        v(r * w + c + 1) - v(r * w + c - 1)
    };
    (g_row, g_col)
}

/// The orientation bin of a gradient exactly as scikit-image computes it:
/// `rad2deg(atan2(g_row, g_col)) % 180` (NumPy's floored remainder), then the bin whose
/// `[180/n·i, 180/n·(i+1))` range holds it. `None` if it falls in none (possible only
/// if rounding yields exactly 180).
pub(crate) fn orientation_bin(g_row: f64, g_col: f64, n_orient: usize) -> Option<usize> {
    let degrees = g_row.atan2(g_col) * (180.0 / std::f64::consts::PI);
    // NumPy's remainder: fmod, then shift into the divisor's sign.
    let mut orientation = degrees % 180.0;
    if orientation != 0.0 && orientation < 0.0 {
        orientation += 180.0;
    }
    let per = 180.0 / n_orient as f64;
    (0..n_orient).find(|&i| {
        let start = per * (i + 1) as f64;
        let end = per * i as f64;
        orientation < start && orientation >= end
    })
}

const NO_BIN: u16 = u16::MAX;
const SPAN: usize = 511; // gradients of uint8 images: −255..=255

#[inline]
fn table_index(g_row: i32, g_col: i32) -> usize {
    (g_row + 255) as usize * SPAN + (g_col + 255) as usize
}

/// Bins of every integer gradient for `n_orient` orientations, computed once per process.
fn bin_table(n_orient: usize) -> &'static [u16] {
    /// One leaked table per orientation count used in this process (a handful at most).
    type Tables = std::sync::Mutex<Vec<(usize, &'static [u16])>>;
    static TABLES: OnceLock<Tables> = OnceLock::new();
    let tables = TABLES.get_or_init(Default::default);
    let mut guard = tables.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, t)) = guard.iter().find(|(n, _)| *n == n_orient) {
        return t;
    }
    let mut t = vec![NO_BIN; SPAN * SPAN];
    for g_row in -255i32..=255 {
        for g_col in -255i32..=255 {
            if let Some(b) = orientation_bin(f64::from(g_row), f64::from(g_col), n_orient) {
                t[table_index(g_row, g_col)] = b as u16;
            }
        }
    }
    let leaked: &'static [u16] = Box::leak(t.into_boxed_slice());
    guard.push((n_orient, leaked));
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_dimensions_match_the_paper() {
        let mnist = ImageShape {
            height: 28,
            width: 28,
            channels: 1,
        };
        let cifar = ImageShape {
            height: 32,
            width: 32,
            channels: 3,
        };
        assert_eq!(Hog::new(HogParams::default(), mnist).unwrap().dim(), 81);
        assert_eq!(Hog::new(HogParams::default(), cifar).unwrap().dim(), 324);
        let small = ImageShape {
            height: 20,
            width: 40,
            channels: 1,
        };
        let e = Hog::new(HogParams::default(), small)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 24 rows and 24 columns"), "{e}");
    }

    #[test]
    fn orientation_bins_at_the_axes() {
        assert_eq!(orientation_bin(0.0, 1.0, 9), Some(0)); // 0°
        assert_eq!(orientation_bin(0.0, -1.0, 9), Some(0)); // 180° ≡ 0°
        assert_eq!(orientation_bin(-0.0, -1.0, 9), Some(0)); // −180° ≡ 0°
        assert_eq!(orientation_bin(1.0, 0.0, 9), Some(4)); // 90° in [80, 100)
        assert_eq!(orientation_bin(-1.0, 0.0, 9), Some(4)); // −90° ≡ 90°
        assert_eq!(orientation_bin(-1.0, 1.0, 9), Some(6)); // −45° ≡ 135° in [120, 140)
        assert_eq!(orientation_bin(0.0, 0.0, 9), Some(0));
    }

    #[test]
    fn table_agrees_with_the_direct_formula() {
        let t = bin_table(9);
        for g_row in (-255..=255).step_by(7) {
            for g_col in -255..=255 {
                let direct = orientation_bin(f64::from(g_row), f64::from(g_col), 9);
                let b = t[table_index(g_row, g_col)];
                assert_eq!(direct, (b != NO_BIN).then_some(b as usize));
            }
        }
    }
}
