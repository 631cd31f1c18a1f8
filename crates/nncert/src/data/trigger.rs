//! Backdoor triggers (METHOD §1): a pattern stamped on images. Certificates hold for any
//! fixed test input, so backdoor certified accuracy is CA(e) computed on the triggered test
//! inputs against their true labels.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::dataset::{Content, ImageShape, Split};
use crate::error::Error;

/// A trigger.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Trigger {
    /// BadNets: a `size × size` square of `value` (every channel) with its top-left corner at
    /// (`row`, `col`). Written `patch:SIZE@ROW,COL=VALUE`.
    Patch {
        /// Side in pixels.
        size: usize,
        /// Top row.
        row: usize,
        /// Left column.
        col: usize,
        /// Pixel value.
        value: u8,
    },
    /// Blended: every pixel becomes `round((1 − alpha)·p + alpha·q)` with `q` a fixed
    /// checkerboard of 0 and 255 in 2 × 2 squares. Written `blend:ALPHA`.
    Blend {
        /// Weight of the pattern, in (0, 1].
        alpha: f64,
    },
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Patch {
                size,
                row,
                col,
                value,
            } => write!(f, "patch:{size}@{row},{col}={value}"),
            Trigger::Blend { alpha } => write!(f, "blend:{alpha}"),
        }
    }
}

impl FromStr for Trigger {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(format!(
                "trigger: expected patch:SIZE@ROW,COL=VALUE (e.g. patch:4@24,24=255) or blend:ALPHA (e.g. blend:0.1), found `{s}`"
            ))
        };
        if let Some(rest) = s.strip_prefix("patch:") {
            let (size, rest) = rest.split_once('@').ok_or_else(bad)?;
            let (pos, value) = rest.split_once('=').ok_or_else(bad)?;
            let (row, col) = pos.split_once(',').ok_or_else(bad)?;
            let size: usize = size.parse().map_err(|_| bad())?;
            if size == 0 {
                return Err(bad());
            }
            Ok(Trigger::Patch {
                size,
                row: row.parse().map_err(|_| bad())?,
                col: col.parse().map_err(|_| bad())?,
                value: value.parse().map_err(|_| bad())?,
            })
        } else if let Some(a) = s.strip_prefix("blend:") {
            let alpha: f64 = a.parse().map_err(|_| bad())?;
            if !(alpha > 0.0 && alpha <= 1.0) {
                return Err(bad());
            }
            Ok(Trigger::Blend { alpha })
        } else {
            Err(bad())
        }
    }
}

impl Trigger {
    /// Checks that the trigger fits images of `shape`.
    pub fn check(&self, shape: ImageShape) -> Result<(), Error> {
        if let Trigger::Patch { size, row, col, .. } = *self
            && (row + size > shape.height || col + size > shape.width)
        {
            return Err(Error::invalid(format!(
                "trigger {self}: expected the patch inside the {}×{} image",
                shape.height, shape.width
            )));
        }
        Ok(())
    }

    /// Stamps one channel-planar image.
    pub fn apply(&self, shape: ImageShape, image: &mut [u8]) {
        let plane = shape.height * shape.width;
        for ch in 0..shape.channels {
            let p = &mut image[ch * plane..(ch + 1) * plane];
            match *self {
                Trigger::Patch {
                    size,
                    row,
                    col,
                    value,
                } => {
                    for r in row..row + size {
                        p[r * shape.width + col..r * shape.width + col + size].fill(value);
                    }
                }
                Trigger::Blend { alpha } => {
                    for r in 0..shape.height {
                        for c in 0..shape.width {
                            let q = if (r / 2 + c / 2) % 2 == 0 { 0.0 } else { 255.0 };
                            let v = &mut p[r * shape.width + c];
                            *v = ((1.0 - alpha) * f64::from(*v) + alpha * q).round() as u8;
                        }
                    }
                }
            }
        }
    }

    /// Stamps every image of a split (images only).
    pub fn apply_split(&self, content: Content, split: &mut Split) -> Result<(), Error> {
        let Content::Images(shape) = content else {
            return Err(Error::invalid(
                "trigger: needs images; this dataset holds feature vectors",
            ));
        };
        self.check(shape)?;
        for image in split.records.chunks_exact_mut(shape.len()) {
            self.apply(shape, image);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_stamps_a_patch() {
        let t: Trigger = "patch:2@1,3=255".parse().unwrap();
        assert_eq!(t.to_string(), "patch:2@1,3=255");
        let shape = ImageShape {
            height: 4,
            width: 5,
            channels: 1,
        };
        let mut img = vec![0u8; 20];
        t.apply(shape, &mut img);
        let lit: Vec<usize> = (0..20).filter(|&i| img[i] == 255).collect();
        assert_eq!(lit, vec![8, 9, 13, 14]);
        assert!(
            "patch:2@3,4=255"
                .parse::<Trigger>()
                .unwrap()
                .check(shape)
                .is_err()
        );
        for bad in ["patch:0@1,1=1", "patch:2@1=3", "blend:0", "blend:2", "star"] {
            assert!(bad.parse::<Trigger>().is_err(), "{bad}");
        }
        let b: Trigger = "blend:0.5".parse().unwrap();
        let mut img = vec![100u8; 20];
        b.apply(shape, &mut img);
        assert_eq!((img[0], img[2]), (50, 178)); // (100 + 0)/2, (100 + 255)/2 = 177.5 → 178
    }
}
