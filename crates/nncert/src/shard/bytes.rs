//! The partial-result file: versioned, checksummed, little-endian (layout in
//! `docs/SCALING.md`).
//!
//! Reading trusts nothing: the checksum trailer (XXH3-128, [`checksum`]) is checked first,
//! every count is checked
//! against the bytes actually left before anything is allocated for it, and every index is
//! checked against the ranges the header implies, so a truncated, corrupt or hostile file
//! is a one-line error, never a panic or an allocation the file's size does not justify.

use std::collections::BTreeMap;
use std::path::Path;

use crate::data::dataset::max_classes;
use crate::error::Error;
use crate::neighbours::Metric;
use crate::neighbours::exact::{Bound, Exact};
use crate::neighbours::key_interval::KeyDomain;
use crate::rank::Rank;

use super::partial::{Partial, Row, Segment, ShardSettings, ShardTable};
use super::{ShardSpec, check_ks_and_radii};

/// The first 8 bytes of every partial-result file.
pub(crate) const MAGIC: [u8; 8] = *b"NNCERTPR";
/// The format version this build writes and reads. Version 2 replaced version 1's
/// SHA-256 trailer by XXH3-128; version 3 replaced each shard's global tie-break
/// positions (4 bytes a row, which made every job hash the whole training set) by its
/// rows' SHA-1 ranks (20 bytes a row) (`docs/SCALING.md`, "File format"). Older files
/// are refused with a message saying so.
pub const FORMAT_VERSION: u32 = 3;
/// Bytes of a tie-break rank in the file.
const RANK_BYTES: usize = 20;
/// Bytes of the checksum trailer.
pub const CHECKSUM_BYTES: usize = 16;

/// The checksum trailer of a partial-result file whose bytes before the trailer are
/// `body`: XXH3-128, little-endian.
///
/// An integrity check against truncation, corruption and mixed-up files, not an
/// authentication (no checksum read from the file could be: whoever writes the file
/// writes its trailer too). SHA-256 cost 6 % of a shard job's CPU and 10 % of a merge's
/// with hardware SHA (BENCHMARKS.md, issue 15); XXH3 reads tens of GB per second.
pub fn checksum(body: &[u8]) -> [u8; CHECKSUM_BYTES] {
    xxhash_rust::xxh3::xxh3_128(body).to_le_bytes()
}

/// What a reader says of a file of another version.
fn version_error(version: u32) -> String {
    if version == 1 || version == 2 {
        format!(
            "partial result format version {version} (global tie-break positions), this nncert reads version {FORMAT_VERSION} (ranks): run the shard jobs again with this nncert"
        )
    } else {
        format!(
            "partial result format version {version}, this nncert reads version {FORMAT_VERSION}"
        )
    }
}

fn metric_code(m: Metric) -> u8 {
    match m {
        Metric::L1 => 0,
        Metric::L2 => 1,
        Metric::Linf => 2,
        Metric::Ip => 3,
        Metric::Cosine => 4,
    }
}

fn metric_of(code: u8) -> Option<Metric> {
    Some(match code {
        0 => Metric::L1,
        1 => Metric::L2,
        2 => Metric::Linf,
        3 => Metric::Ip,
        4 => Metric::Cosine,
        _ => return None,
    })
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn segments(&mut self, segs: &[Segment]) {
        self.u32(segs.len() as u32);
        for s in segs {
            self.u32(s.shard as u32);
            let (relative, absolute, floor, overflow) = s.bound.to_parts();
            self.f64(relative);
            self.f64(absolute);
            self.f64(floor);
            self.f32(overflow);
            self.u32(s.items.len() as u32);
            for &(j, f) in &s.items {
                let mut pair = [0u8; 8];
                pair[..4].copy_from_slice(&j.to_le_bytes());
                pair[4..].copy_from_slice(&f.to_le_bytes());
                self.0.extend_from_slice(&pair);
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// A parse failure (the caller adds the file name).
fn bad(what: impl Into<String>) -> Error {
    Error::invalid(what.into())
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.bytes.len() - self.at < n {
            return Err(bad(format!(
                "partial result truncated or corrupt: {n} more bytes expected at byte {}",
                self.at
            )));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn usize(&mut self, what: &str) -> Result<usize, Error> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| bad(format!("partial result: {what} = {v} is too large")))
    }
    fn f32(&mut self) -> Result<f32, Error> {
        Ok(f32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn f64(&mut self) -> Result<f64, Error> {
        Ok(f64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    /// Fails unless `count` items of `size` bytes are still present.
    fn expect(&self, count: usize, size: usize) -> Result<(), Error> {
        match count.checked_mul(size) {
            Some(n) if n <= self.bytes.len() - self.at => Ok(()),
            _ => Err(bad(format!(
                "partial result truncated or corrupt: {count} entries announced at byte {}, fewer present",
                self.at
            ))),
        }
    }
    fn u32s(&mut self, count: usize) -> Result<Vec<u32>, Error> {
        self.expect(count, 4)?;
        (0..count).map(|_| self.u32()).collect()
    }
    fn ranks(&mut self, count: usize) -> Result<Vec<Rank>, Error> {
        self.expect(count, RANK_BYTES)?;
        (0..count)
            .map(|_| {
                let b = self.take(RANK_BYTES)?;
                Ok(Rank(b.try_into().expect("20 bytes")))
            })
            .collect()
    }
}

impl Partial {
    /// The file bytes (layout in `docs/SCALING.md`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let s = &self.settings;
        // Sized once: a partial is mostly candidates (8 bytes each), hundreds of MB for
        // large k; growing the buffer by doubling would copy and fault it in repeatedly.
        let mut w = Writer(Vec::with_capacity(self.encoded_len()));
        w.0.extend_from_slice(&MAGIC);
        w.u32(FORMAT_VERSION);
        w.u8(metric_code(s.metric));
        w.u8(u8::from(s.keep_neighbours));
        w.u64(s.n_train as u64);
        w.u64(s.n_test as u64);
        w.u64(s.n_classes as u64);
        w.u32(s.ks.len() as u32);
        for &k in &s.ks {
            w.u64(k as u64);
        }
        w.u32(s.radii.len() as u32);
        for &r in &s.radii {
            w.f64(r);
        }
        w.u32(s.context.len() as u32);
        w.0.extend_from_slice(s.context.as_bytes());
        w.u64(self.train_count as u64);
        w.u64(self.block.index() as u64);
        w.u64(self.block.count() as u64);
        w.u32(self.shards.len() as u32);
        for t in &self.shards {
            w.u64(t.index as u64);
            w.u8(t.domain.code());
            for &l in &t.labels {
                w.u32(l);
            }
            for r in &t.ranks {
                w.0.extend_from_slice(&r.0);
            }
        }
        for &l in &self.test_labels {
            w.u32(l);
        }
        for r in &self.rows {
            for &v in &r.rnn_counts {
                w.u32(v);
            }
            w.segments(&r.knn);
            w.segments(&r.rnn);
        }
        w.u64(self.known.len() as u64);
        for (&(q, j), key) in &self.known {
            w.u64(q);
            w.u32(j);
            w.0.extend_from_slice(&key.to_le_bytes());
        }
        let digest = checksum(&w.0);
        w.0.extend_from_slice(&digest);
        debug_assert_eq!(w.0.len(), self.encoded_len());
        w.0
    }

    /// The length of [`Partial::to_bytes`] (exact for valid partials; only a capacity).
    fn encoded_len(&self) -> usize {
        let s = &self.settings;
        let header = MAGIC.len() + 4 + 2 + 24 + 4 + 8 * s.ks.len() + 4 + 8 * s.radii.len();
        let context = 4 + s.context.len() + 24;
        let tables: usize = 4 + self
            .shards
            .iter()
            .map(|t| 9 + 4 * t.labels.len() + RANK_BYTES * t.ranks.len())
            .sum::<usize>();
        let segments = |segs: &[Segment]| -> usize {
            4 + segs.iter().map(|g| 36 + 8 * g.items.len()).sum::<usize>()
        };
        let rows: usize = self
            .rows
            .iter()
            .map(|r| 4 * r.rnn_counts.len() + segments(&r.knn) + segments(&r.rnn))
            .sum();
        let known = 8 + self.known.len() * (12 + Exact::BYTES);
        header + context + tables + 4 * self.test_labels.len() + rows + known + CHECKSUM_BYTES
    }

    /// Reads [`Partial::to_bytes`]; a truncated, corrupt or foreign file, or one of
    /// another format version, is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Partial, Error> {
        if bytes.len() < MAGIC.len() + 4 + CHECKSUM_BYTES || bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("not an nncert partial result (no NNCERTPR header)"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(bad(version_error(version)));
        }
        let (body, digest) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
        if checksum(body) != digest {
            return Err(bad(
                "partial result corrupt or truncated (checksum mismatch)",
            ));
        }
        let mut r = Reader {
            bytes: body,
            at: 12,
        };
        parse(&mut r)
    }

    /// [`Partial::from_bytes`] of a file; errors name the file, and every shard it holds
    /// is named after it in later messages.
    pub fn read(path: &Path) -> Result<Partial, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, "cannot read", e))?;
        Partial::from_bytes(&bytes)
            .map(|p| p.with_origin(&path.display().to_string()))
            .map_err(|e| Error::content(path, e.to_string()))
    }
}

/// Which part of a run a partial-result file covers, read from its header alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialHeader {
    /// The test block `J/M`.
    pub test_block: ShardSpec,
    /// The number of training shards `N`.
    pub train_count: usize,
    /// The training shards covered (numbers `I`, as listed in the file).
    pub train_shards: Vec<usize>,
}

/// The test block and training shards of a partial-result file, from its header and
/// shard tables only (skipped over, not read: a few hundred bytes whatever the file's
/// size), to group and check files before reading any of them whole. Checks the magic,
/// the version and that the announced tables fit in the file; [`Partial::read`] checks
/// the rest (and the caller that the file read whole is the one announced here).
pub fn read_header(path: &Path) -> Result<PartialHeader, Error> {
    let io = |e| Error::io(path, "cannot read", e);
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut file = HeaderReader { file, path, len };
    let magic = file.read(MAGIC.len() + 4).map_err(|_| file.not_partial())?;
    if magic[..MAGIC.len()] != MAGIC {
        return Err(file.not_partial());
    }
    let version = u32::from_le_bytes(magic[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(file.content(version_error(version)));
    }
    file.read(2)?; // metric, lists flag
    let n_train = file.u64()?;
    file.read(16)?; // n_test, n_classes
    // k list (8 bytes each), r list (8 bytes each), context (1 byte each): skipped.
    for (size, what) in [(8u64, "the k list"), (8, "the r list"), (1, "the context")] {
        let count = u64::from(file.u32()?);
        file.skip(count * size, what)?;
    }
    let (n, j, m) = (file.u64()?, file.u64()?, file.u64()?);
    let as_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let test_block = ShardSpec::new(as_usize(j), as_usize(m))
        .map_err(|e| file.content(format!("partial result: test block: {e}")))?;
    let train_count = as_usize(n);
    let n_shards = u64::from(file.u32()?);
    file.fits(n_shards.saturating_mul(9), "the training shard tables")?;
    let mut train_shards = Vec::new();
    for _ in 0..n_shards {
        let index = as_usize(file.u64()?);
        let rows = ShardSpec::new(index, train_count)
            .and_then(|s| s.range(as_usize(n_train)))
            .map_err(|e| file.content(format!("partial result: training shard: {e}")))?
            .len();
        // key domain, labels, ranks
        file.skip(
            1 + (4 + RANK_BYTES as u64) * rows as u64,
            "a training shard's table",
        )?;
        train_shards.push(index);
    }
    Ok(PartialHeader {
        test_block,
        train_count,
        train_shards,
    })
}

/// Reads a file's header field by field, skipping what it does not need.
///
/// What it reports when the header does not fit the file: a field read past the end is a
/// file that ends inside its header (truncated); a count whose entries would end past the
/// end is named with where it stands and what it announces — the count is corrupt, or the
/// file is truncated, which the header alone cannot tell apart (the checksum of the whole
/// file, checked by [`Partial::read`], covers both).
struct HeaderReader<'p> {
    file: std::fs::File,
    path: &'p Path,
    /// The file's length in bytes.
    len: u64,
}

impl HeaderReader<'_> {
    fn content(&self, what: String) -> Error {
        Error::content(self.path, what)
    }
    fn not_partial(&self) -> Error {
        self.content("not an nncert partial result (no NNCERTPR header)".to_string())
    }
    fn position(&mut self) -> Result<u64, Error> {
        use std::io::Seek;
        self.file
            .stream_position()
            .map_err(|e| Error::io(self.path, "cannot read", e))
    }
    fn read(&mut self, n: usize) -> Result<Vec<u8>, Error> {
        use std::io::Read;
        let at = self.position()?;
        let mut buf = vec![0u8; n];
        self.file.read_exact(&mut buf).map_err(|_| {
            self.content(format!(
                "partial result truncated: the file ends at byte {}, inside its header \
                 (a {n}-byte field at byte {at})",
                self.len
            ))
        })?;
        Ok(buf)
    }
    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(
            self.read(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(
            self.read(8)?.try_into().expect("8 bytes"),
        ))
    }
    /// The end of `n` more bytes of `what`, which must lie within the file.
    fn fits(&mut self, n: u64, what: &str) -> Result<u64, Error> {
        let at = self.position()?;
        match at.checked_add(n) {
            Some(end) if end <= self.len => Ok(end),
            _ => Err(self.content(format!(
                "partial result corrupt or truncated: the header announces {n} bytes of \
                 {what} at byte {at}, past the end of the file ({} bytes)",
                self.len
            ))),
        }
    }
    /// Skips `n` bytes of `what`, which must lie within the file.
    fn skip(&mut self, n: u64, what: &str) -> Result<(), Error> {
        use std::io::{Seek, SeekFrom};
        let end = self.fits(n, what)?;
        self.file
            .seek(SeekFrom::Start(end))
            .map_err(|e| Error::io(self.path, "cannot read", e))?;
        Ok(())
    }
}

/// Whether a search with `metric` can produce fast values of `domain`.
fn domain_fits(metric: Metric, domain: KeyDomain) -> bool {
    match metric {
        Metric::L1 | Metric::Linf | Metric::Ip => domain == KeyDomain::Key,
        Metric::L2 => matches!(domain, KeyDomain::Distance | KeyDomain::SquaredDistance),
        Metric::Cosine => domain == KeyDomain::OneMinusDot,
    }
}

/// Refuses a bound no search produces: NaN or negative errors, a finite relative error of
/// 1 or more, a floor other than the
/// metric's (0 for distances, −∞ for the inner product and cosine), a non-positive or
/// non-finite overflow threshold. (An error bound that is merely too small for the data
/// cannot be told from the file; the checksum is an integrity check, not authentication.)
fn check_bound(metric: Metric, bound: &Bound) -> Result<(), Error> {
    let (relative, absolute, floor, overflow) = bound.to_parts();
    let floor_ok = match metric {
        Metric::L1 | Metric::L2 | Metric::Linf => floor == 0.0,
        Metric::Ip | Metric::Cosine => floor == f64::NEG_INFINITY,
    };
    // `relative` may be +∞ (no fixed-order kernel: every comparison is left to exact keys).
    // A finite one is below 1 (searches give at most 2/3): then `lo` and `hi` are
    // non-decreasing in the fast value, which the merge's pruning and ordering rely on.
    let fits = relative >= 0.0 // false for NaN
        && (relative < 1.0 || relative == f64::INFINITY)
        && absolute >= 0.0
        && absolute.is_finite()
        && floor_ok
        && overflow > 0.0
        && overflow.is_finite();
    if !fits {
        return Err(bad(format!(
            "partial result: error bound ({relative}, {absolute}, {floor}, {overflow}) is not one a {metric} search produces"
        )));
    }
    Ok(())
}

/// Refuses a fast value no search produces: NaN (its interval would be inverted and
/// order before everything), −∞, or a negative distance.
fn check_fast(metric: Metric, fast: f32) -> Result<(), Error> {
    let distance = matches!(metric, Metric::L1 | Metric::L2 | Metric::Linf);
    if fast.is_nan() || fast == f32::NEG_INFINITY || (distance && fast < 0.0) {
        return Err(bad(format!(
            "partial result: fast value {fast} is not one a {metric} search produces"
        )));
    }
    Ok(())
}

/// Parses the body after the magic and version (the checksum already checked), step by
/// step in file order.
fn parse(r: &mut Reader<'_>) -> Result<Partial, Error> {
    let settings = parse_settings(r)?;
    let train_count = r.usize("training shard count")?;
    let block = ShardSpec::new(r.usize("test block")?, r.usize("test block count")?)?;
    let test_rows = block.range(settings.n_test)?;
    if train_count == 0 || train_count > settings.n_train {
        return Err(bad(format!(
            "partial result: {train_count} training shards of {} rows",
            settings.n_train
        )));
    }
    let shards = parse_shards(r, &settings, train_count)?;
    let test_labels = r.u32s(test_rows.len())?;
    if test_labels
        .iter()
        .any(|&l| l as usize >= settings.n_classes)
    {
        return Err(bad("partial result: a test label out of range"));
    }
    let rows = RowParser::new(&settings, train_count, &shards)?.rows(r, test_rows.len())?;
    let known = parse_known(r, &test_rows, settings.n_train)?;
    if r.at != r.bytes.len() {
        return Err(bad(format!(
            "partial result corrupt: {} unexpected bytes after the data",
            r.bytes.len() - r.at
        )));
    }
    Ok(Partial {
        settings,
        train_count,
        shards,
        block,
        test_labels,
        rows,
        known,
    })
}

/// The run's settings: metric, lists flag, sizes, k and r lists, context.
fn parse_settings(r: &mut Reader<'_>) -> Result<ShardSettings, Error> {
    let metric = metric_of(r.u8()?).ok_or_else(|| bad("partial result: unknown metric code"))?;
    let keep_neighbours = match r.u8()? {
        0 => false,
        1 => true,
        v => {
            return Err(bad(format!(
                "partial result: neighbour flag {v}, expected 0 or 1"
            )));
        }
    };
    let n_train = r.usize("n_train")?;
    let n_test = r.usize("n_test")?;
    let n_classes = r.usize("n_classes")?;
    if n_train == 0 || n_test == 0 || n_classes == 0 || n_train > u32::MAX as usize {
        return Err(bad(
            "partial result: empty or oversized training set, test set or classes",
        ));
    }
    // Vote matrices hold a count per class: the class count must be one the data can use
    // (the rule of `Dataset::validate`), not a number that decides memory on its own.
    let class_limit = max_classes(n_train.saturating_add(n_test)).min(u32::MAX as usize);
    if n_classes > class_limit {
        return Err(bad(format!(
            "partial result: n_classes = {n_classes}, expected at most {class_limit} for {n_train} training and {n_test} test rows"
        )));
    }
    let nk = r.u32()? as usize;
    r.expect(nk, 8)?;
    let ks = (0..nk)
        .map(|_| r.usize("k"))
        .collect::<Result<Vec<_>, _>>()?;
    let nr = r.u32()? as usize;
    r.expect(nr, 8)?;
    let radii = (0..nr).map(|_| r.f64()).collect::<Result<Vec<_>, _>>()?;
    check_ks_and_radii(metric, &ks, &radii).map_err(|e| bad(format!("partial result: {e}")))?;
    let context_len = r.u32()? as usize;
    let context = String::from_utf8(r.take(context_len)?.to_vec())
        .map_err(|_| bad("partial result: settings text is not UTF-8"))?;
    Ok(ShardSettings {
        metric,
        ks,
        radii,
        keep_neighbours,
        n_train,
        n_test,
        n_classes,
        context,
    })
}

/// The tables of the covered training shards (ascending, each once): key domain, labels
/// and tie-break ranks.
fn parse_shards(
    r: &mut Reader<'_>,
    settings: &ShardSettings,
    train_count: usize,
) -> Result<Vec<ShardTable>, Error> {
    let (metric, n_train, n_classes) = (settings.metric, settings.n_train, settings.n_classes);
    let n_shards = r.u32()? as usize;
    if n_shards == 0 {
        return Err(bad("partial result: covers no training shard"));
    }
    r.expect(n_shards, 9)?;
    let mut shards: Vec<ShardTable> = Vec::new();
    for _ in 0..n_shards {
        let spec = ShardSpec::new(r.usize("training shard")?, train_count)?;
        if shards.last().is_some_and(|t| t.index >= spec.index()) {
            return Err(bad(
                "partial result: training shards out of order or repeated",
            ));
        }
        let domain = KeyDomain::from_code(r.u8()?)
            .filter(|&d| domain_fits(metric, d))
            .ok_or_else(|| {
                bad(format!(
                    "partial result: unknown key domain, or one metric {metric} does not use"
                ))
            })?;
        let len = spec.range(n_train)?.len();
        let labels = r.u32s(len)?;
        // Any 20 bytes are a rank: nothing to check but their count.
        let ranks = r.ranks(len)?;
        if labels.iter().any(|&l| l as usize >= n_classes) {
            return Err(bad("partial result: a training label out of range"));
        }
        shards.push(ShardTable {
            index: spec.index(),
            domain,
            labels,
            ranks,
            origin: String::new(),
        });
    }
    Ok(shards)
}

/// Reads and checks the per-test-row part: rNN counts and candidate lists.
struct RowParser<'s> {
    settings: &'s ShardSettings,
    train_count: usize,
    shards: &'s [ShardTable],
    /// `radii × classes`.
    row_counts: usize,
    /// Training rows covered (the largest possible rNN count).
    covered_rows: usize,
    /// One bit per row of the largest shard: duplicate detection within a list, cleared
    /// after each list.
    seen: Vec<bool>,
}

impl<'s> RowParser<'s> {
    fn new(
        settings: &'s ShardSettings,
        train_count: usize,
        shards: &'s [ShardTable],
    ) -> Result<RowParser<'s>, Error> {
        let row_counts = settings
            .radii
            .len()
            .checked_mul(settings.n_classes)
            .ok_or_else(|| bad("partial result: too many radii × classes"))?;
        // Sized by the shard tables, which the file's bytes already hold.
        let largest = shards.iter().map(|t| t.labels.len()).max().unwrap_or(0);
        Ok(RowParser {
            settings,
            train_count,
            shards,
            row_counts,
            covered_rows: shards.iter().map(|t| t.labels.len()).sum(),
            seen: vec![false; largest],
        })
    }

    fn rows(&mut self, r: &mut Reader<'_>, n_rows: usize) -> Result<Vec<Row>, Error> {
        // Every row holds at least its counts and two segment counts.
        r.expect(n_rows, self.row_counts.saturating_mul(4).saturating_add(8))?;
        let mut rows = Vec::with_capacity(n_rows);
        for _ in 0..n_rows {
            rows.push(self.row(r)?);
        }
        Ok(rows)
    }

    fn row(&mut self, r: &mut Reader<'_>) -> Result<Row, Error> {
        let rnn_counts = r.u32s(self.row_counts)?;
        if let Some(v) = rnn_counts.iter().find(|&&v| v as usize > self.covered_rows) {
            return Err(bad(format!(
                "partial result: an rNN count of {v}, above the {} training rows covered",
                self.covered_rows
            )));
        }
        let knn = self.list(r, true)?;
        let rnn = self.list(r, false)?;
        Ok(Row {
            rnn_counts,
            knn,
            rnn,
        })
    }

    /// One row's kNN or rNN segments. One list per covered shard, in shard order: kNN
    /// always (with k), rNN at most (with neighbour lists and radii); a repeated list
    /// would count twice.
    fn list(&mut self, r: &mut Reader<'_>, is_knn: bool) -> Result<Vec<Segment>, Error> {
        let n_seg = r.u32()? as usize;
        r.expect(n_seg, 36)?;
        let mut list = Vec::with_capacity(n_seg);
        for _ in 0..n_seg {
            list.push(self.segment(r, is_knn)?);
        }
        let shards_of: Vec<usize> = list.iter().map(|s: &Segment| s.shard).collect();
        let all: Vec<usize> = self.shards.iter().map(|t| t.index).collect();
        let wanted = if is_knn {
            !self.settings.ks.is_empty()
        } else {
            self.settings.keep_neighbours && !self.settings.radii.is_empty()
        };
        let fits = if !wanted {
            shards_of.is_empty()
        } else if is_knn {
            shards_of == all
        } else {
            shards_of.windows(2).all(|w| w[0] < w[1])
        };
        if !fits {
            return Err(bad(format!(
                "partial result: {} lists from training shards {shards_of:?}, expected {}",
                if is_knn { "kNN" } else { "rNN" },
                if !wanted {
                    "none".to_string()
                } else if is_knn {
                    format!("one from each of {all:?}")
                } else {
                    format!("at most one from each of {all:?}, in order")
                }
            )));
        }
        Ok(list)
    }

    /// One shard's list: its bound and its candidates, each a row of the shard, listed
    /// once, by fast value (the merge's pruning relies on that order).
    fn segment(&mut self, r: &mut Reader<'_>, is_knn: bool) -> Result<Segment, Error> {
        let s = self.settings;
        let shard = r.u32()? as usize;
        let len = self
            .shards
            .binary_search_by_key(&shard, |t| t.index)
            .map(|p| self.shards[p].labels.len())
            .map_err(|_| {
                bad(format!(
                    "partial result: a list from training shard {shard}, which it does not cover"
                ))
            })?;
        let bound = Bound::from_parts(r.f64()?, r.f64()?, r.f64()?, r.f32()?);
        check_bound(s.metric, &bound)?;
        let n_items = r.u32()? as usize;
        let limit = if is_knn { s.k_max().min(len) } else { len };
        if n_items > limit {
            return Err(bad(format!(
                "partial result: {n_items} candidates from training shard {shard}, expected at most {limit}"
            )));
        }
        r.expect(n_items, 8)?;
        let start = ShardSpec::new(shard, self.train_count)?
            .range_unchecked(s.n_train)
            .start;
        let mut items = Vec::with_capacity(n_items);
        for pair in r.take(n_items * 8)?.chunks_exact(8) {
            let j = u32::from_le_bytes(pair[..4].try_into().expect("4 bytes"));
            let fast = f32::from_le_bytes(pair[4..].try_into().expect("4 bytes"));
            items.push((j, fast));
        }
        self.check_items(&items, shard, start, len)?;
        for &(j, _) in &items {
            self.seen[j as usize - start] = false;
        }
        Ok(Segment {
            shard,
            bound,
            items,
        })
    }

    /// Every candidate a row of its shard `start..start + len`, once, with a fast value a
    /// search produces, in non-decreasing order of fast value. Marks `seen` (the caller
    /// clears it on success; an error ends the parse).
    fn check_items(
        &mut self,
        items: &[(u32, f32)],
        shard: usize,
        start: usize,
        len: usize,
    ) -> Result<(), Error> {
        let metric = self.settings.metric;
        let mut previous = f32::NEG_INFINITY;
        for &(j, fast) in items {
            let local = (j as usize)
                .checked_sub(start)
                .filter(|&l| l < len)
                .ok_or_else(|| {
                    bad(format!(
                        "partial result: training row {j} is not in shard {shard}"
                    ))
                })?;
            check_fast(metric, fast)?;
            if fast < previous {
                return Err(bad(format!(
                    "partial result: candidates of training shard {shard} not listed by fast value ({previous} before {fast})"
                )));
            }
            previous = fast;
            if std::mem::replace(&mut self.seen[local], true) {
                return Err(bad(format!(
                    "partial result: training row {j} listed twice by shard {shard}"
                )));
            }
        }
        Ok(())
    }
}

/// The exact keys already known, each for a test row of the block and a training row.
fn parse_known(
    r: &mut Reader<'_>,
    test_rows: &std::ops::Range<usize>,
    n_train: usize,
) -> Result<BTreeMap<(u64, u32), Exact>, Error> {
    let n_known = r.usize("known keys")?;
    r.expect(n_known, 12 + Exact::BYTES)?;
    let mut known = BTreeMap::new();
    for _ in 0..n_known {
        let q = r.u64()?;
        let j = r.u32()?;
        let key = Exact::from_le_bytes(r.take(Exact::BYTES)?.try_into().expect("key bytes"));
        if !test_rows.contains(&(q as usize)) || j as usize >= n_train {
            return Err(bad(format!(
                "partial result: an exact key for test row {q}, training row {j}, outside the block or training set"
            )));
        }
        if known.insert((q, j), key).is_some() {
            return Err(bad(format!(
                "partial result: two exact keys for test row {q}, training row {j}"
            )));
        }
    }
    Ok(known)
}
