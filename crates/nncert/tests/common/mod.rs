//! Shared helpers of the integration tests.

use std::path::PathBuf;

/// The real data directory (MNIST and CIFAR-10 as `nncert fetch` lays them out), through
/// `NNCERT_DATA_DIR`.
///
/// When the variable is set (CI sets it), the data must be there: a missing directory
/// fails the test instead of skipping it. When it is not set, the test is skipped with a
/// note.
#[allow(dead_code)]
pub fn data_dir() -> Option<PathBuf> {
    match std::env::var_os("NNCERT_DATA_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("mnist").is_dir(),
                "NNCERT_DATA_DIR={} is set but holds no mnist/ directory",
                dir.display()
            );
            Some(dir)
        }
        None => {
            eprintln!("skipping: NNCERT_DATA_DIR is not set");
            None
        }
    }
}

/// Every multiset of at most `max_len` items out of `0..n_items`, as non-decreasing
/// sequences, shortest first (the empty one first): the insertions an exhaustive attacker
/// tries. Shared by the exhaustive tests so that they enumerate the same way.
#[allow(dead_code)]
pub fn multisets(n_items: usize, max_len: usize) -> Vec<Vec<usize>> {
    let mut all = vec![Vec::new()];
    let mut frontier = vec![Vec::new()];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for m in &frontier {
            let start: usize = m.last().copied().unwrap_or(0);
            for k in start..n_items {
                let mut longer: Vec<usize> = m.clone();
                longer.push(k);
                next.push(longer);
            }
        }
        all.extend(next.iter().cloned());
        frontier = next;
    }
    all
}

/// A float32 `.npy` of shape `(n, dim)` stored big-endian (`>f4`): the loaders must read
/// it as the same values as the little-endian file.
#[allow(dead_code)]
pub fn npy_f32_big_endian(x: &[f32], n: usize, dim: usize) -> Vec<u8> {
    let little = nncert::data::npy::encode(&[n, dim], x);
    let mut out = little[..little.len() - 4 * x.len()].to_vec();
    let at = out.windows(3).position(|w| w == b"<f4").expect("descr");
    out[at] = b'>';
    for v in x {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// `bytes` gzip-compressed, as a `.npy.gz` is stored.
#[allow(dead_code)]
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Seeded rNN-like votes for thread-count tests: `n` inputs, `c` labels, every label 0–39
/// votes and the true label 0–119 more, so that many inputs sit in D2 at small `e`.
#[allow(dead_code)]
pub fn random_rnn_votes(seed: u64, n: usize, c: usize) -> nncert::Votes {
    let mut rng = nncert::SplitMix64::new(seed);
    let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
    let counts: Vec<u32> = (0..n * c)
        .map(|k| {
            rng.below(40) as u32
                + if labels[k / c] as usize == k % c {
                    rng.below(120) as u32
                } else {
                    0
                }
        })
        .collect();
    nncert::Votes::new(counts, c, labels).expect("valid votes")
}

/// `certify_votes` run inside a rayon pool of `threads` threads.
#[allow(dead_code)]
pub fn certify_on_threads(
    votes: &nncert::Votes,
    options: &nncert::CurveOptions,
    threads: usize,
) -> nncert::CertifiedVotes {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(|| nncert::certify_votes(votes, options).expect("certified"))
}
