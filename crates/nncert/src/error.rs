//! The library's typed errors. Every variant that concerns a file carries its path, so a
//! message always says where the problem is and what was expected.

use std::io;
use std::path::PathBuf;

use crate::data::DataError;
use crate::data::npy::NpyError;

/// Everything that can go wrong in nncert's library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{}: {action}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What nncert was doing (e.g. "cannot read").
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A `.npy` file is malformed or does not hold what was expected.
    #[error("{}: {problem}", path.display())]
    Npy {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it (part of this error's message, not a separate cause).
        problem: NpyError,
    },
    /// A dataset file is malformed or inconsistent.
    #[error("{}: {problem}", path.display())]
    Data {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        problem: DataError,
    },
    /// The contents of a file are well-formed but unusable (e.g. a label ≥ c).
    #[error("{}: {problem}", path.display())]
    Content {
        /// The offending file.
        path: PathBuf,
        /// What was expected and what was found.
        problem: String,
    },
    /// A parameter or a combination of inputs is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A parameter was given that the run does not use (see [`crate::applicability`]).
    #[error("{param}: {reason}")]
    NotApplicable {
        /// The parameter.
        param: crate::applicability::Param,
        /// Why it does not apply.
        reason: &'static str,
    },
    /// The computation was cancelled before it finished (Ctrl-C in Python; see
    /// [`CancelScope`](crate::CancelScope)): nothing was written and no result is returned.
    #[error("interrupted: the computation was cancelled before it finished")]
    Interrupted,
}

impl Error {
    /// The message followed by its causes (`path: cannot read: No such file or directory
    /// (os error 2)`), on one line with every control character escaped: how the CLI prints
    /// an error, for front ends that show it without the CLI (Python). A path or a value
    /// read from a malformed file can hold a newline or an escape sequence; escaped, it can
    /// neither split the message nor drive a terminal.
    pub fn one_line(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        crate::report::one_line(&text)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::Invalid(message.into())
    }

    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }

    pub(crate) fn content(path: impl Into<PathBuf>, problem: impl Into<String>) -> Error {
        Error::Content {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
