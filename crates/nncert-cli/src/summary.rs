//! The short table printed to stdout (the library renders it, so that the Python results
//! show the same table).

pub use nncert::report::summary_table as table;
