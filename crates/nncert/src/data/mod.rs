//! Loading: bytes on disk → checked in-memory values.

pub mod npy;
pub mod votes_file;
