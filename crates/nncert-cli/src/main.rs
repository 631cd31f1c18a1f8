//! `nncert`: a thin command-line layer over the `nncert` library.
//!
//! Arguments are parsed and checked here, the library computes, and every error is printed
//! as one line (`nncert: error: …`) with exit code 2.

/// `println!` that ends the process quietly when stdout is a closed pipe (e.g. `| head`)
/// instead of panicking, and reports other write errors. The line's control characters
/// (a newline or ESC in an output path) are escaped, as in error messages.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::write_stdout(&format!("{}\n", $crate::one_line(&format!($($arg)*))))
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

use clap::{CommandFactory, FromArgMatches};

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
    let cli = match parse_arguments() {
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

/// Parses the command line. A value that looks like a negative number (`--alpha -0.1`) is
/// taken as the flag's value, so that the flag's own range check names the problem.
fn parse_arguments() -> Result<Cli, clap::Error> {
    let matches = allow_negative_numbers(Cli::command()).try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

fn allow_negative_numbers(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    let mut cmd = cmd.mut_args(|a| {
        if a.get_action().takes_values() {
            a.allow_negative_numbers(true)
        } else {
            a
        }
    });
    for name in names {
        cmd = cmd.mut_subcommand(name, allow_negative_numbers);
    }
    cmd
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
    eprintln!(
        "nncert: error: {} (see nncert --help)",
        one_line(&argument_error_message(err))
    );
    ExitCode::from(2)
}

/// The message of a parse error, built from its kind and context so that it names the
/// argument and shows every piece the user typed exactly (escaped later by [`one_line`];
/// clap's rendered text strips escape sequences, keeps only what fits its layout, and
/// splits lists over lines).
fn argument_error_message(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let get = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) if !v.is_empty() => Some(v.join(", ")),
        _ => None,
    };
    let arg = get(ContextKind::InvalidArg);
    let value = get(ContextKind::InvalidValue);
    let suggestion = |kind| {
        get(kind)
            .map(|s| format!("; did you mean '{s}'?"))
            .unwrap_or_default()
    };
    match (err.kind(), arg, value) {
        (ErrorKind::MissingRequiredArgument, Some(args), _) => {
            format!("the following required arguments were not provided: {args}")
        }
        (ErrorKind::InvalidValue, Some(arg), Some(value)) => {
            let expected = get(ContextKind::ValidValue)
                .map(|v| format!("; expected one of: {v}"))
                .unwrap_or_default();
            format!("invalid value '{value}' for '{arg}'{expected}")
        }
        (ErrorKind::ValueValidation, Some(arg), Some(value)) => {
            let why = std::error::Error::source(err)
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            format!("invalid value '{value}' for '{arg}'{why}")
        }
        (ErrorKind::UnknownArgument, Some(arg), _) => format!(
            "unexpected argument '{arg}' found{}",
            suggestion(ContextKind::SuggestedArg)
        ),
        (ErrorKind::ArgumentConflict, Some(arg), _) => match get(ContextKind::PriorArg) {
            Some(prior) => format!("the argument '{arg}' cannot be used with '{prior}'"),
            None => format!("the argument '{arg}' cannot be used here"),
        },
        (ErrorKind::InvalidSubcommand, _, _) => format!(
            "unrecognized subcommand '{}'{}",
            get(ContextKind::InvalidSubcommand).unwrap_or_default(),
            suggestion(ContextKind::SuggestedSubcommand)
        ),
        (ErrorKind::InvalidUtf8, _, _) => non_utf8_argument(std::env::args_os()),
        _ => {
            let text = err.render().to_string();
            let first = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            first.trim_end_matches('.').to_owned()
        }
    }
}

/// Names the first argument that is not UTF-8 (and the flag before it), shown lossily.
fn non_utf8_argument(args: impl Iterator<Item = std::ffi::OsString>) -> String {
    let args: Vec<_> = args.collect();
    match args.iter().position(|a| a.to_str().is_none()) {
        Some(i) => {
            let shown = args[i].to_string_lossy();
            match args[..i].last().and_then(|p| p.to_str()) {
                Some(prev) if i > 1 && prev.starts_with('-') => {
                    format!("{prev}: expected UTF-8 text, found '{shown}'")
                }
                _ => format!("argument {i} is not UTF-8 text: '{shown}'"),
            }
        }
        None => "an argument is not UTF-8 text".to_owned(),
    }
}

/// `text` with every control character escaped: the library's rule for everything a front
/// end prints ([`nncert::report::one_line`]).
pub fn one_line(text: &str) -> String {
    nncert::report::one_line(text)
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
