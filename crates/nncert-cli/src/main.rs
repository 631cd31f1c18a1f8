//! `nncert`: a thin command-line layer over the `nncert` library.
//!
//! Arguments are parsed and checked here, the library computes, and every error is printed
//! as one line (`nncert: error: …`) with exit code 2.

mod args;
mod certify_votes;
mod data_info;
mod demo;
mod features_cmd;
mod fetch;
mod progress;
mod summary;
mod votes_cmd;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => demo::run(&args::DemoArgs::default()),
        Some(Command::Demo(a)) => demo::run(&a),
        Some(Command::CertifyVotes(a)) => certify_votes::run(&a),
        Some(Command::Features(a)) => features_cmd::run(&a),
        Some(Command::Votes(a)) => votes_cmd::run(&a),
        Some(Command::Fetch(a)) => fetch::run(&a),
        Some(Command::Data(args::DataCommand::Info(a))) => data_info::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "outer: inner: cause".
            eprintln!("nncert: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
