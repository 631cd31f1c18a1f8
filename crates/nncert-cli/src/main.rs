//! `nncert`: a thin command-line layer over the `nncert` library.
//!
//! Arguments are parsed and checked here, the library computes, and every error is printed
//! as one line (`nncert: error: …`) with exit code 2.

/// `println!` that ends the process quietly when stdout is a closed pipe (e.g. `| head`)
/// instead of panicking, and reports other write errors.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

mod args;
mod attack_cmd;
mod certify_cmd;
mod certify_votes;
mod data_info;
mod demo;
mod features_cmd;
mod fetch;
mod figures;
mod progress;
mod reproduce;
mod summary;
mod votes_cmd;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// Writes to stdout; a closed pipe ends the process with success, like other Unix tools.
pub fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("nncert: error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => certify_cmd::run(&args::CertifyArgs::default_job()),
        Some(Command::Certify(a)) => certify_cmd::run(&a),
        Some(Command::Reproduce(a)) => reproduce::run(&a),
        Some(Command::Attack(a)) => attack_cmd::run(&a),
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
