//! One module per subcommand: each maps its parsed arguments onto the library and writes
//! the results.

pub mod attack_cmd;
pub mod certify_cmd;
pub mod certify_ensemble;
pub mod certify_votes;
pub mod data_info;
pub mod demo;
pub mod features_cmd;
pub mod fetch;
pub mod merge_cmd;
pub mod reproduce;
pub mod votes_cmd;
