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
mod choices;
mod commands;
mod figures;
mod interrupt;
mod progress;
mod summary;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use commands::{
    attack_cmd, certify_cmd, certify_ensemble, certify_votes, data_info, demo, features_cmd, fetch,
    merge_cmd, reproduce, votes_cmd,
};

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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return argument_error(&err),
    };
    if let Err(err) = configure_threads(cli.command.as_ref().and_then(Command::threads)) {
        return report(&err);
    }
    interrupt::install();
    let result = match cli.command {
        None => certify_cmd::run(&args::CertifyArgs::default_job()),
        Some(Command::Certify(a)) => certify_cmd::run(&a),
        Some(Command::Reproduce(a)) => reproduce::run(&a),
        Some(Command::Attack(a)) => attack_cmd::run(&a),
        Some(Command::Demo(a)) => demo::run(&a),
        Some(Command::CertifyVotes(a)) => certify_votes::run(&a),
        Some(Command::CertifyEnsemble(a)) => certify_ensemble::run(&a),
        Some(Command::Features(a)) => features_cmd::run(&a),
        Some(Command::Votes(a)) => votes_cmd::run(&a),
        Some(Command::Merge(a)) => merge_cmd::run(&a),
        Some(Command::Fetch(a)) => fetch::run(&a),
        Some(Command::Data(args::DataCommand::Info(a))) => data_info::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Prints `err` as one line, `nncert: error: …`, and returns exit code 2.
///
/// `{:#}` prints the whole context chain on one line ("outer: inner: cause"); control
/// characters (which can come from a malformed input file) are escaped so that an error
/// can neither span several lines nor drive the terminal.
fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("nncert: error: {}", one_line(&format!("{err:#}")));
    ExitCode::from(2)
}

/// `--help` and `--version` print as clap formats them; every parse error becomes one
/// line naming the flag, with exit code 2.
fn argument_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let text = err.render().to_string();
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!(
        "nncert: error: {}{} (see nncert --help)",
        one_line(first.trim_end_matches('.')),
        one_line(&expected_values(err))
    );
    ExitCode::from(2)
}

/// `; expected one of: a, b, c` when clap refused a value outside a fixed list (clap puts
/// the list on a line of its own, which the one-line message would drop).
fn expected_values(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    match err.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(values)) if !values.is_empty() => {
            format!("; expected one of: {}", values.join(", "))
        }
        _ => String::new(),
    }
}

/// `text` with every control character escaped (`\n`, `\u{1b}`, …): one line, inert on a
/// terminal.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The most worker threads `--threads` accepts: far above any useful count on one machine,
/// low enough that the pool can always be created.
pub const MAX_THREADS: usize = 256;

/// Builds rayon's global pool once, before any work, with `--threads` if given.
fn configure_threads(threads: Option<usize>) -> anyhow::Result<()> {
    let Some(t) = threads else { return Ok(()) };
    anyhow::ensure!(
        (1..=MAX_THREADS).contains(&t),
        "--threads: expected a count in 1..={MAX_THREADS}, found {t}"
    );
    rayon::ThreadPoolBuilder::new()
        .num_threads(t)
        .build_global()
        .map_err(|e| anyhow::anyhow!("--threads {t}: cannot start the worker threads: {e}"))
}
