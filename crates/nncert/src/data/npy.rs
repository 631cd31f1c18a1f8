//! `.npy` files (NumPy format versions 1–3): a strict reader that never trusts the header
//! before checking it against the real length, and a writer for nncert's outputs.
//!
//! Written here rather than taken from a crate so that every malformed file gives a
//! message that says what was expected and what was found, and so that the parser can be
//! fuzzed on its own.

use std::fmt;
use std::path::Path;

use super::bounded_read::RegularFile;
use crate::error::Error;

/// The element types nncert reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// int8
    I8,
    /// int16
    I16,
    /// int32
    I32,
    /// int64
    I64,
    /// uint8
    U8,
    /// uint16
    U16,
    /// uint32
    U32,
    /// uint64
    U64,
    /// float32
    F32,
    /// float64
    F64,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// Whether this is an integer type.
    pub(crate) fn is_integer(self) -> bool {
        !matches!(self, DType::F32 | DType::F64)
    }

    fn from_code(kind: char, size: usize) -> Option<DType> {
        Some(match (kind, size) {
            ('i', 1) => DType::I8,
            ('i', 2) => DType::I16,
            ('i', 4) => DType::I32,
            ('i', 8) => DType::I64,
            ('u', 1) => DType::U8,
            ('u', 2) => DType::U16,
            ('u', 4) => DType::U32,
            ('u', 8) => DType::U64,
            ('f', 4) => DType::F32,
            ('f', 8) => DType::F64,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        })
    }
}

/// What is wrong with a `.npy` file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NpyError {
    /// The file does not start with `\x93NUMPY`.
    #[error("not a .npy file: expected the magic bytes \\x93NUMPY, found {found}")]
    BadMagic {
        /// The first bytes, escaped.
        found: String,
    },
    /// A format version other than 1.0, 2.0 or 3.0.
    #[error("unsupported .npy format version {major}.{minor}: expected 1.0, 2.0 or 3.0")]
    UnsupportedVersion {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The file ends before the header or the data does.
    #[error("truncated {part}: expected {expected} bytes, found {found}")]
    Truncated {
        /// "header" or "data".
        part: &'static str,
        /// Bytes the header announces.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// Bytes after the data the header announces.
    #[error("{extra} trailing bytes after the {expected} data bytes announced by the header")]
    TrailingBytes {
        /// Data bytes announced.
        expected: u64,
        /// Extra bytes found.
        extra: u64,
    },
    /// The header dictionary cannot be parsed.
    #[error("malformed header: {0}")]
    BadHeader(String),
    /// `fortran_order: True`.
    #[error(
        "array is in Fortran (column-major) order: expected C order (save with np.ascontiguousarray)"
    )]
    FortranOrder,
    /// An element type nncert does not read here.
    #[error("unsupported dtype '{found}': expected {expected}")]
    UnsupportedDtype {
        /// The header's descr.
        found: String,
        /// What this input accepts.
        expected: &'static str,
    },
    /// A shape with the wrong number of dimensions.
    #[error("expected a {expected}-D array, found shape {found}")]
    WrongRank {
        /// Expected number of dimensions.
        expected: usize,
        /// The shape found, as Python writes it.
        found: String,
    },
    /// A shape whose element count overflows.
    #[error("shape {0} is too large")]
    ShapeOverflow(String),
    /// An element outside the accepted range.
    #[error("element {index}: expected {expected}, found {found}")]
    BadValue {
        /// Flat index of the element.
        index: usize,
        /// The accepted range.
        expected: String,
        /// The value found.
        found: String,
    },
}

/// A parsed `.npy` array: shape, element type and the raw little- or big-endian data.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Dimensions, outermost first (C order).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    big_endian: bool,
    data: Vec<u8>,
}

const MAGIC: &[u8] = b"\x93NUMPY";

fn shape_text(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The header of a `.npy` file: what the data after it holds and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Dimensions, outermost first (C order).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Whether the elements are stored big-endian.
    pub big_endian: bool,
    /// Offset of the first data byte.
    pub data_start: usize,
    /// Data bytes the shape announces (checked against overflow).
    pub data_len: usize,
}

/// Bytes before the header text: magic, version, header length (2 bytes in version 1,
/// 4 in versions 2 and 3).
pub(crate) const PREAMBLE_MAX: usize = 12;

impl NpyHeader {
    /// Where the header text ends (= the data starts), from the first [`PREAMBLE_MAX`]
    /// bytes of a file (fewer if the file is shorter).
    pub(crate) fn data_start(prefix: &[u8]) -> Result<usize, NpyError> {
        if prefix.len() < 8 || &prefix[..6] != MAGIC {
            let head = &prefix[..prefix.len().min(6)];
            return Err(NpyError::BadMagic {
                found: head.escape_ascii().to_string(),
            });
        }
        let (major, minor) = (prefix[6], prefix[7]);
        let (len_bytes, header_start) = match (major, minor) {
            (1, 0) => (2usize, 10usize),
            (2, 0) | (3, 0) => (4, 12),
            _ => return Err(NpyError::UnsupportedVersion { major, minor }),
        };
        if prefix.len() < header_start {
            return Err(NpyError::Truncated {
                part: "header",
                expected: header_start as u64,
                found: prefix.len() as u64,
            });
        }
        let header_len = if len_bytes == 2 {
            u16::from_le_bytes([prefix[8], prefix[9]]) as usize
        } else {
            u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize
        };
        Ok(header_start + header_len)
    }

    /// Parses the header at the start of `bytes`, which must hold at least the whole header
    /// (the data may follow; it is not looked at).
    pub fn parse(bytes: &[u8]) -> Result<NpyHeader, NpyError> {
        let data_start = NpyHeader::data_start(&bytes[..bytes.len().min(PREAMBLE_MAX)])?;
        if bytes.len() < data_start {
            return Err(NpyError::Truncated {
                part: "header",
                expected: data_start as u64,
                found: bytes.len() as u64,
            });
        }
        let header_start = if bytes[6] == 1 { 10 } else { 12 };
        let header = std::str::from_utf8(&bytes[header_start..data_start])
            .map_err(|_| NpyError::BadHeader("expected UTF-8 text".into()))?;
        let dict = header::parse(header).map_err(NpyError::BadHeader)?;
        if dict.fortran_order {
            return Err(NpyError::FortranOrder);
        }
        let (big_endian, dtype) = parse_descr(&dict.descr)?;
        let data_len = dict
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| NpyError::ShapeOverflow(shape_text(&dict.shape)))?;
        Ok(NpyHeader {
            shape: dict.shape,
            dtype,
            big_endian,
            data_start,
            data_len,
        })
    }

    /// The error for `found` data bytes where the header announces another count.
    pub(crate) fn length_error(&self, found: u64) -> NpyError {
        let expected = self.data_len as u64;
        if found < expected {
            NpyError::Truncated {
                part: "data",
                expected,
                found,
            }
        } else {
            NpyError::TrailingBytes {
                expected,
                extra: found - expected,
            }
        }
    }

    /// The shape as Python prints it, e.g. `(3, 4)` or `(5,)`.
    pub(crate) fn shape_text(&self) -> String {
        shape_text(&self.shape)
    }
}

impl NpyArray {
    /// Parses a whole `.npy` file held in memory.
    pub fn parse(bytes: &[u8]) -> Result<NpyArray, NpyError> {
        let header = NpyHeader::parse(bytes)?;
        let found = bytes.len() - header.data_start;
        if found != header.data_len {
            return Err(header.length_error(found as u64));
        }
        Ok(NpyArray {
            shape: header.shape,
            dtype: header.dtype,
            big_endian: header.big_endian,
            data: bytes[header.data_start..].to_vec(),
        })
    }

    /// Reads and parses `path`, a regular file. The header is read and checked first and
    /// the length it announces compared with the file's size, so memory is bounded by the
    /// size of a valid file: a huge file of another format, `/dev/zero` or a FIFO is
    /// refused before its data is read.
    pub fn read(path: &Path) -> Result<NpyArray, Error> {
        let npy = |problem| Error::Npy {
            path: path.to_path_buf(),
            problem,
        };
        let mut file = RegularFile::open(path)?;
        let mut head = Vec::new();
        file.read_more(path, &mut head, PREAMBLE_MAX as u64)?;
        let data_start = NpyHeader::data_start(&head).map_err(npy)?;
        let header_left = (data_start as u64).saturating_sub(head.len() as u64);
        file.read_more(path, &mut head, header_left)?;
        let header = NpyHeader::parse(&head).map_err(npy)?;
        let found = file.len - data_start as u64;
        if found != header.data_len as u64 {
            return Err(npy(header.length_error(found)));
        }
        let mut data = head.split_off(data_start);
        file.read_rest(path, &mut data)?;
        Ok(NpyArray {
            shape: header.shape,
            dtype: header.dtype,
            big_endian: header.big_endian,
            data,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape as Python prints it, e.g. `(3, 4)` or `(5,)`.
    pub(crate) fn shape_text(&self) -> String {
        shape_text(&self.shape)
    }

    /// Errors unless the array has `rank` dimensions.
    pub fn expect_rank(&self, rank: usize) -> Result<(), NpyError> {
        if self.shape.len() == rank {
            Ok(())
        } else {
            Err(NpyError::WrongRank {
                expected: rank,
                found: self.shape_text(),
            })
        }
    }

    fn element_bytes(&self) -> impl Iterator<Item = [u8; 8]> + '_ {
        let size = self.dtype.size();
        let big = self.big_endian;
        self.data.chunks_exact(size).map(move |chunk| {
            // Widen to 8 little-endian bytes, sign-extension handled by the caller.
            let mut le = [0u8; 8];
            for (k, &b) in chunk.iter().enumerate() {
                let pos = if big { size - 1 - k } else { k };
                le[pos] = b;
            }
            le
        })
    }

    /// Integer elements, each checked to lie in `0..=max`, as u32.
    ///
    /// `what` names the accepted range in the error (e.g. "a vote count in 0..=4294967295").
    pub fn to_u32_checked(&self, max: u32, what: &str) -> Result<Vec<u32>, NpyError> {
        if !self.dtype.is_integer() {
            return Err(NpyError::UnsupportedDtype {
                found: self.dtype.to_string(),
                expected: "an integer dtype (int8/16/32/64 or uint8/16/32/64)",
            });
        }
        let size = self.dtype.size();
        let signed = matches!(self.dtype, DType::I8 | DType::I16 | DType::I32 | DType::I64);
        let mut out = Vec::with_capacity(self.len());
        for (index, le) in self.element_bytes().enumerate() {
            let raw = u64::from_le_bytes(le);
            let value: i128 = if signed {
                let shift = 64 - 8 * size as u32;
                i128::from(((raw << shift) as i64) >> shift)
            } else {
                i128::from(raw)
            };
            if value < 0 || value > i128::from(max) {
                return Err(NpyError::BadValue {
                    index,
                    expected: what.to_string(),
                    found: value.to_string(),
                });
            }
            out.push(value as u32);
        }
        Ok(out)
    }

    /// Integer elements as i64 (uint64 values above `i64::MAX` are refused).
    pub(crate) fn to_i64_values(&self) -> Result<Vec<i64>, NpyError> {
        if !self.dtype.is_integer() {
            return Err(NpyError::UnsupportedDtype {
                found: self.dtype.to_string(),
                expected: "an integer dtype (int8/16/32/64 or uint8/16/32/64)",
            });
        }
        let size = self.dtype.size();
        let signed = matches!(self.dtype, DType::I8 | DType::I16 | DType::I32 | DType::I64);
        self.element_bytes()
            .enumerate()
            .map(|(index, le)| {
                let raw = u64::from_le_bytes(le);
                if signed {
                    let shift = 64 - 8 * size as u32;
                    Ok(((raw << shift) as i64) >> shift)
                } else {
                    i64::try_from(raw).map_err(|_| NpyError::BadValue {
                        index,
                        expected: "a value below 2^63".to_string(),
                        found: raw.to_string(),
                    })
                }
            })
            .collect()
    }
}

impl NpyArray {
    /// The data as little-endian bytes (the input bytes of a feature row's rank, METHOD §2).
    pub fn little_endian_bytes(&self) -> Vec<u8> {
        if !self.big_endian || self.dtype.size() == 1 {
            return self.data.clone();
        }
        let size = self.dtype.size();
        let mut out = self.data.clone();
        for chunk in out.chunks_exact_mut(size) {
            chunk.reverse();
        }
        out
    }

    /// Values as f64 for float32, float64 and uint8 arrays (exact).
    pub fn to_f64_values(&self) -> Result<Vec<f64>, NpyError> {
        if self.dtype == DType::F64 {
            return Ok(self
                .little_endian_bytes()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect());
        }
        Ok(self.to_f32_values()?.into_iter().map(f64::from).collect())
    }

    /// Feature values as f32, for float32, float64 (rounded to nearest) and uint8 arrays.
    /// Non-finite values are returned as they are; callers check them with their position.
    pub fn to_f32_values(&self) -> Result<Vec<f32>, NpyError> {
        let le = self.little_endian_bytes();
        Ok(match self.dtype {
            DType::F32 => le
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F64 => le
                .chunks_exact(8)
                .map(|c| {
                    let v = f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                    v as f32
                })
                .collect(),
            DType::U8 => le.iter().map(|&b| f32::from(b)).collect(),
            other => {
                return Err(NpyError::UnsupportedDtype {
                    found: other.to_string(),
                    expected: "float32, float64 or uint8 features",
                });
            }
        })
    }
}

fn parse_descr(descr: &str) -> Result<(bool, DType), NpyError> {
    const EXPECTED: &str = "one of int8/16/32/64, uint8/16/32/64, float32/64";
    let unsupported = || NpyError::UnsupportedDtype {
        found: descr.to_string(),
        expected: EXPECTED,
    };
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(unsupported)?;
    let kind = chars.next().ok_or_else(unsupported)?;
    let size: usize = chars.as_str().parse().map_err(|_| unsupported())?;
    let dtype = DType::from_code(kind, size).ok_or_else(unsupported)?;
    let big_endian = match order {
        '<' | '=' => false,
        '>' => true,
        '|' if size == 1 => false,
        _ => return Err(unsupported()),
    };
    Ok((big_endian, dtype))
}

/// A minimal parser for the Python dict literal of a `.npy` header.
mod header {
    pub(super) struct Dict {
        pub descr: String,
        pub fortran_order: bool,
        pub shape: Vec<usize>,
    }

    enum Value {
        Str(String),
        Bool(bool),
        Tuple(Vec<usize>),
    }

    struct Cursor<'a> {
        rest: &'a str,
    }

    impl Cursor<'_> {
        fn skip_ws(&mut self) {
            self.rest = self.rest.trim_start();
        }
        fn eat(&mut self, c: char) -> bool {
            self.skip_ws();
            if let Some(r) = self.rest.strip_prefix(c) {
                self.rest = r;
                true
            } else {
                false
            }
        }
        fn expect(&mut self, c: char) -> Result<(), String> {
            if self.eat(c) {
                Ok(())
            } else {
                Err(format!("expected '{c}' at `{}`", preview(self.rest)))
            }
        }
        fn string(&mut self) -> Result<String, String> {
            self.skip_ws();
            let quote = self
                .rest
                .chars()
                .next()
                .filter(|c| *c == '\'' || *c == '"')
                .ok_or_else(|| format!("expected a quoted string at `{}`", preview(self.rest)))?;
            let body = &self.rest[1..];
            let end = body
                .find(quote)
                .ok_or_else(|| "unterminated string".to_string())?;
            let s = body[..end].to_string();
            self.rest = &body[end + 1..];
            Ok(s)
        }
        fn value(&mut self) -> Result<Value, String> {
            self.skip_ws();
            if self.rest.starts_with(['\'', '"']) {
                return self.string().map(Value::Str);
            }
            if let Some(r) = self.rest.strip_prefix("True") {
                self.rest = r;
                return Ok(Value::Bool(true));
            }
            if let Some(r) = self.rest.strip_prefix("False") {
                self.rest = r;
                return Ok(Value::Bool(false));
            }
            if self.eat('(') {
                let mut dims = Vec::new();
                loop {
                    if self.eat(')') {
                        return Ok(Value::Tuple(dims));
                    }
                    self.skip_ws();
                    let digits = self.rest.len()
                        - self
                            .rest
                            .trim_start_matches(|c: char| c.is_ascii_digit())
                            .len();
                    let dim: usize = self.rest[..digits]
                        .parse()
                        .map_err(|_| format!("expected a dimension at `{}`", preview(self.rest)))?;
                    self.rest = &self.rest[digits..];
                    dims.push(dim);
                    if !self.eat(',') {
                        self.expect(')')?;
                        return Ok(Value::Tuple(dims));
                    }
                }
            }
            Err(format!(
                "expected a string, True, False or a tuple at `{}`",
                preview(self.rest)
            ))
        }
    }

    fn preview(s: &str) -> String {
        s.chars().take(20).collect()
    }

    pub(super) fn parse(text: &str) -> Result<Dict, String> {
        let mut c = Cursor { rest: text };
        c.expect('{')?;
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        loop {
            if c.eat('}') {
                break;
            }
            let key = c.string()?;
            c.expect(':')?;
            match (key.as_str(), c.value()?) {
                ("descr", Value::Str(s)) => descr = Some(s),
                ("fortran_order", Value::Bool(b)) => fortran = Some(b),
                ("shape", Value::Tuple(t)) => shape = Some(t),
                ("descr" | "fortran_order" | "shape", _) => {
                    return Err(format!("key '{key}' has a value of the wrong kind"));
                }
                _ => return Err(format!("unexpected key '{key}'")),
            }
            if !c.eat(',') {
                c.expect('}')?;
                break;
            }
        }
        if !c.rest.trim().is_empty() {
            return Err(format!(
                "unexpected text after the dict: `{}`",
                preview(c.rest)
            ));
        }
        Ok(Dict {
            descr: descr.ok_or("missing key 'descr'")?,
            fortran_order: fortran.ok_or("missing key 'fortran_order'")?,
            shape: shape.ok_or("missing key 'shape'")?,
        })
    }
}

/// Element types nncert writes.
pub trait NpyElement: Copy {
    /// The header's descr, e.g. `<i4`.
    const DESCR: &'static str;
    /// Appends the little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! npy_element {
    ($t:ty, $descr:literal) => {
        impl NpyElement for $t {
            const DESCR: &'static str = $descr;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
npy_element!(i32, "<i4");
npy_element!(i64, "<i8");
npy_element!(u8, "|u1");
npy_element!(u16, "<u2");
npy_element!(u32, "<u4");
npy_element!(f32, "<f4");
npy_element!(f64, "<f8");

/// Encodes a C-order array as `.npy` version 1.0 bytes.
pub fn encode<T: NpyElement>(shape: &[usize], data: &[T]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape and data disagree"
    );
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        T::DESCR,
        shape_text(shape)
    );
    // Pad with spaces so that the data starts on a 64-byte boundary, then a newline.
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let padding = (64 - unpadded % 64) % 64;
    let header_len = dict.len() + padding + 1;
    let mut out = Vec::with_capacity(10 + header_len + data.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', padding));
    out.push(b'\n');
    for &x in data {
        x.put(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_written_type() {
        let bytes = encode(&[2, 3], &[1i32, -2, 3, 4, 5, 6]);
        assert_eq!((bytes.len() - 24) % 64, 0); // header padded to 64 bytes, then the data
        let a = NpyArray::parse(&bytes).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.dtype, DType::I32);
        let e = a.to_u32_checked(u32::MAX, "a count").unwrap_err();
        assert_eq!(e.to_string(), "element 1: expected a count, found -2");
        let a = NpyArray::parse(&encode(&[3], &[7u8, 0, 255])).unwrap();
        assert_eq!(a.to_u32_checked(255, "x").unwrap(), vec![7, 0, 255]);
        assert_eq!(a.shape_text(), "(3,)");
    }

    #[test]
    fn reads_big_endian_and_version_2() {
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        let dict = "{'descr': '>u2', 'fortran_order': False, 'shape': (2,)}\n";
        bytes.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend_from_slice(&[0x01, 0x02, 0xff, 0xff]);
        let a = NpyArray::parse(&bytes).unwrap();
        assert_eq!(a.to_u32_checked(u32::MAX, "x").unwrap(), vec![258, 65535]);
    }

    fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        [&bytes[..at], to, &bytes[at + from.len()..]].concat()
    }

    #[test]
    fn rejects_malformed_files_with_what_was_expected() {
        let good = encode(&[2], &[1i64, 2]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"PK\x03\x04".to_vec(), "expected the magic bytes"),
            (
                good[..good.len() - 3].to_vec(),
                "truncated data: expected 16 bytes, found 13",
            ),
            ([good.clone(), vec![0]].concat(), "1 trailing bytes"),
            (good[..20].to_vec(), "truncated header"),
            (replace(&good, b"False", b"True "), "Fortran"),
            (replace(&good, b"<i8", b"<c8"), "unsupported dtype '<c8'"),
            (replace(&good, b"(2,)", b"(2,a"), "malformed header"),
            (
                {
                    let mut b = good.clone();
                    b[6] = 4;
                    b
                },
                "version 4.0",
            ),
        ];
        for (bytes, needle) in cases {
            let e = NpyArray::parse(&bytes).unwrap_err().to_string();
            assert!(e.contains(needle), "{e:?} should contain {needle:?}");
        }
        let floats = NpyArray::parse(&encode(&[1], &[1.5f32])).unwrap();
        assert!(
            floats
                .to_u32_checked(1, "x")
                .unwrap_err()
                .to_string()
                .contains("expected an integer dtype")
        );
        assert_eq!(
            NpyArray::parse(&good)
                .unwrap()
                .expect_rank(2)
                .unwrap_err()
                .to_string(),
            "expected a 2-D array, found shape (2,)"
        );
    }

    #[test]
    fn huge_header_shapes_do_not_allocate() {
        let dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (4611686018427387904, 8), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        let e = NpyArray::parse(&bytes).unwrap_err();
        assert!(matches!(e, NpyError::ShapeOverflow(_)), "{e}");
    }

    /// Audit finding 2: the whole file was read before its magic or length was checked.
    /// The files here are sparse: 6 GB announced, nothing written; reading one whole
    /// would take seconds and 6 GB of memory.
    #[test]
    fn a_file_is_checked_against_its_header_before_its_data_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let sparse = |name: &str, head: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, head).unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(6 << 30)
                .unwrap();
            path
        };
        let e = NpyArray::read(&sparse("text.npy", b"hello, world"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("text.npy") && e.contains("hello"), "{e}");
        let small = encode(&[3], &[1i64, 2, 3]);
        let e = NpyArray::read(&sparse("trailing.npy", &small))
            .unwrap_err()
            .to_string();
        assert!(e.contains("trailing.npy"), "{e}");
        let path = dir.path().join("ok.npy");
        std::fs::write(&path, &small).unwrap();
        let a = NpyArray::read(&path).unwrap();
        assert_eq!(
            (a.shape.clone(), a.to_i64_values().unwrap()),
            (vec![3], vec![1, 2, 3])
        );
        let e = NpyArray::read(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a regular file"), "{e}");
        let e = NpyArray::read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("expected a regular file, found a directory"),
            "{e}"
        );
    }
}
