//! Neighbours: training × test feature matrices → kNN and rNN [`crate::Votes`].
//!
//! - [`kernel`]: distance kernels (scalar reference, AVX2, AVX-512) with one summation order;
//! - [`select`]: the total order of METHOD §2 as a packed key, streaming top-k;
//! - [`mod@search`]: tiling, threads, and the votes;
//! - [`key_interval`]: proven intervals of exact keys, comparable across searches (shards).

pub mod exact;
pub(crate) mod gemm;
pub mod kernel;
pub mod key_interval;
pub mod layout;
pub mod search;
pub mod select;

pub use kernel::{Kernel, Metric};
pub use search::{
    KnnVotes, LaidOutReference, Neighbour, NeighbourLists, QueryRows, Reference, RnnVotes,
    SearchConfig, SearchResult, TrainLayout, search, search_laid_out,
};
