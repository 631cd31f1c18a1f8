//! The files of `nncert votes` (and of `nncert merge`, which must write the same bytes):
//! one `int32` `.npy` vote matrix per setting, the test labels, and with neighbour lists
//! the neighbours themselves.

use crate::data::npy;
use crate::neighbours::SearchResult;

use super::OutputDir;

/// File name of a kNN votes matrix.
pub fn knn_file(k: usize) -> String {
    format!("knn_k{k}.npy")
}

/// File name of an rNN votes matrix (the radius as written, e.g. `rnn_r4.npy`).
pub fn rnn_file(r: f64) -> String {
    format!("rnn_r{r}.npy")
}

/// Stages the `.npy` files of a votes run into `out`: `knn_k<K>.npy` and `rnn_r<R>.npy`
/// (`int32`, `n_test × c`), `test_labels.npy` (`int64`), and with neighbour lists
/// `knn_k<K>_neighbours.npy` (largest K) and `rnn_r<R>_neighbours.npy` /
/// `rnn_r<R>_offsets.npy` (largest R). `ks` and `radii` as asked.
pub fn stage_votes(
    out: &mut OutputDir,
    result: &SearchResult,
    ks: &[usize],
    radii: &[f64],
    test_labels: &[u32],
    n_classes: usize,
) {
    let n = test_labels.len();
    let c = n_classes;
    let as_i32 = |v: &crate::Votes| v.counts().iter().map(|&x| x as i32).collect::<Vec<_>>();
    for kv in &result.knn {
        out.stage(knn_file(kv.k), npy::encode(&[n, c], &as_i32(&kv.votes)));
    }
    for rv in &result.rnn {
        out.stage(
            rnn_file(rv.radius),
            npy::encode(&[n, c], &as_i32(&rv.votes)),
        );
    }
    let labels: Vec<i64> = test_labels.iter().map(|&y| i64::from(y)).collect();
    out.stage("test_labels.npy", npy::encode(&[n], &labels));
    if let Some(lists) = &result.neighbours {
        if let Some(&k) = ks.iter().max() {
            let width = lists.knn.first().map_or(0, Vec::len);
            let flat: Vec<i32> = lists
                .knn
                .iter()
                .flat_map(|l| l.iter().map(|x| x.index as i32))
                .collect();
            out.stage(
                format!("knn_k{k}_neighbours.npy"),
                npy::encode(&[n, width], &flat),
            );
        }
        if let Some(r) = radii.iter().cloned().reduce(f64::max) {
            let mut offsets = vec![0i64];
            let mut flat: Vec<i32> = Vec::new();
            for l in &lists.rnn {
                flat.extend(l.iter().map(|x| x.index as i32));
                offsets.push(flat.len() as i64);
            }
            out.stage(
                format!("rnn_r{r}_neighbours.npy"),
                npy::encode(&[flat.len()], &flat),
            );
            out.stage(
                format!("rnn_r{r}_offsets.npy"),
                npy::encode(&[offsets.len()], &offsets),
            );
        }
    }
}
