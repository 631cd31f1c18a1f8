//! The partial-result file: versioned, checksummed, little-endian (layout in
//! `docs/SCALING.md`).
//!
//! Reading trusts nothing: the SHA-256 trailer is checked first, every count is checked
//! against the bytes actually left before anything is allocated for it, and every index is
//! checked against the ranges the header implies, so a truncated, corrupt or hostile file
//! is a one-line error, never a panic or an allocation the file's size does not justify.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::data::dataset::max_classes;
use crate::error::Error;
use crate::neighbours::Metric;
use crate::neighbours::exact::{Bound, Exact};
use crate::neighbours::key_interval::KeyDomain;

use super::partial::{Partial, Row, Segment, ShardSettings, ShardTable};
use super::{ShardSpec, check_ks_and_radii};

/// The first 8 bytes of every partial-result file.
pub const MAGIC: [u8; 8] = *b"NNCERTPR";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of the SHA-256 trailer.
const DIGEST: usize = 32;

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
                self.u32(j);
                self.f32(f);
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
}

impl Partial {
    /// The file bytes (layout in `docs/SCALING.md`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let s = &self.settings;
        let mut w = Writer(Vec::new());
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
            for &p in &t.positions {
                w.u32(p);
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
        let digest = Sha256::digest(&w.0);
        w.0.extend_from_slice(&digest);
        w.0
    }

    /// Reads [`Partial::to_bytes`]; a truncated, corrupt or foreign file, or one of
    /// another format version, is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Partial, Error> {
        if bytes.len() < MAGIC.len() + 4 + DIGEST || bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("not an nncert partial result (no NNCERTPR header)"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "partial result format version {version}, this nncert reads version {FORMAT_VERSION}"
            )));
        }
        let (body, digest) = bytes.split_at(bytes.len() - DIGEST);
        if Sha256::digest(body).as_slice() != digest {
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

/// Whether a search with `metric` can produce fast values of `domain`.
fn domain_fits(metric: Metric, domain: KeyDomain) -> bool {
    match metric {
        Metric::L1 | Metric::Linf | Metric::Ip => domain == KeyDomain::Key,
        Metric::L2 => matches!(domain, KeyDomain::Distance | KeyDomain::SquaredDistance),
        Metric::Cosine => domain == KeyDomain::OneMinusDot,
    }
}

/// Refuses a bound no search produces: NaN or negative errors, a floor other than the
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
    let fits = relative >= 0.0 // false for NaN
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

fn parse(r: &mut Reader<'_>) -> Result<Partial, Error> {
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
    let settings = ShardSettings {
        metric,
        ks,
        radii,
        keep_neighbours,
        n_train,
        n_test,
        n_classes,
        context,
    };
    let train_count = r.usize("training shard count")?;
    let block = ShardSpec::new(r.usize("test block")?, r.usize("test block count")?)?;
    let test_rows = block.range(n_test)?;
    if train_count == 0 || train_count > n_train {
        return Err(bad(format!(
            "partial result: {train_count} training shards of {n_train} rows"
        )));
    }
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
        let positions = r.u32s(len)?;
        if labels.iter().any(|&l| l as usize >= n_classes)
            || positions.iter().any(|&p| p as usize >= n_train)
        {
            return Err(bad(
                "partial result: a training label or position out of range",
            ));
        }
        shards.push(ShardTable {
            index: spec.index(),
            domain,
            labels,
            positions,
            origin: String::new(),
        });
    }
    let test_labels = r.u32s(test_rows.len())?;
    if test_labels.iter().any(|&l| l as usize >= n_classes) {
        return Err(bad("partial result: a test label out of range"));
    }
    let row_counts = nr
        .checked_mul(n_classes)
        .ok_or_else(|| bad("partial result: too many radii × classes"))?;
    // Every row holds at least its counts and two segment counts.
    r.expect(
        test_rows.len(),
        row_counts.saturating_mul(4).saturating_add(8),
    )?;
    let covered_rows: usize = shards.iter().map(|t| t.labels.len()).sum();
    let shard_len = |shard: usize| {
        shards
            .binary_search_by_key(&shard, |t| t.index)
            .map(|p| shards[p].labels.len())
    };
    let knn_limit = settings.k_max();
    let keep_rnn = keep_neighbours && nr > 0;
    let mut rows = Vec::new();
    for _ in 0..test_rows.len() {
        let rnn_counts = r.u32s(row_counts)?;
        if let Some(v) = rnn_counts.iter().find(|&&v| v as usize > covered_rows) {
            return Err(bad(format!(
                "partial result: an rNN count of {v}, above the {covered_rows} training rows covered"
            )));
        }
        let mut lists = [Vec::new(), Vec::new()];
        for (li, list) in lists.iter_mut().enumerate() {
            let is_knn = li == 0;
            let n_seg = r.u32()? as usize;
            r.expect(n_seg, 36)?;
            for _ in 0..n_seg {
                let shard = r.u32()? as usize;
                let len = shard_len(shard).map_err(|_| {
                    bad(format!(
                        "partial result: a list from training shard {shard}, which it does not cover"
                    ))
                })?;
                let bound = Bound::from_parts(r.f64()?, r.f64()?, r.f64()?, r.f32()?);
                check_bound(metric, &bound)?;
                let n_items = r.u32()? as usize;
                let limit = if is_knn { knn_limit.min(len) } else { len };
                if n_items > limit {
                    return Err(bad(format!(
                        "partial result: {n_items} candidates from training shard {shard}, expected at most {limit}"
                    )));
                }
                r.expect(n_items, 8)?;
                let start = ShardSpec::new(shard, train_count)?
                    .range_unchecked(n_train)
                    .start;
                let mut items = Vec::with_capacity(n_items);
                for _ in 0..n_items {
                    let j = r.u32()?;
                    if !(start..start + len).contains(&(j as usize)) {
                        return Err(bad(format!(
                            "partial result: training row {j} is not in shard {shard}"
                        )));
                    }
                    let fast = r.f32()?;
                    check_fast(metric, fast)?;
                    items.push((j, fast));
                }
                let mut indices: Vec<u32> = items.iter().map(|i| i.0).collect();
                indices.sort_unstable();
                if let Some(w) = indices.windows(2).find(|w| w[0] == w[1]) {
                    return Err(bad(format!(
                        "partial result: training row {} listed twice by shard {shard}",
                        w[0]
                    )));
                }
                list.push(Segment {
                    shard,
                    bound,
                    items,
                });
            }
            // One list per covered shard, in shard order: kNN always (with k), rNN at most
            // (with neighbour lists and radii); a repeated list would count twice.
            let shards_of: Vec<usize> = list.iter().map(|s: &Segment| s.shard).collect();
            let all: Vec<usize> = shards.iter().map(|t| t.index).collect();
            let wanted = if is_knn {
                !settings.ks.is_empty()
            } else {
                keep_rnn
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
        }
        let [knn, rnn] = lists;
        rows.push(Row {
            rnn_counts,
            knn,
            rnn,
        });
    }
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
