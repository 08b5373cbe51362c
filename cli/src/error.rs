//! The CLI's errors and their exit codes.

use std::error::Error as StdError;

/// Something a command could not do. The variant decides the exit code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// A flag or argument that cannot work: exit 2.
    #[error("{0}")]
    Usage(String),
    /// An input file or token that cannot be read or parsed: exit 2.
    #[error("{what}")]
    Input {
        /// What was being read.
        what: String,
        /// Why it failed.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A verification or validation said no: exit 1.
    #[error("{what}")]
    Refused {
        /// What was refused.
        what: String,
        /// The rule that failed.
        #[source]
        source: svid::Error,
    },
    /// The Workload API call failed: exit 3.
    #[error("workload api: {what}")]
    WorkloadApi {
        /// Which call.
        what: &'static str,
        /// The client's error.
        #[source]
        source: workload_client::Error,
    },
    /// A file could not be written, or the runtime not started: exit 3.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The helper's `cmd` exited with a non-zero status: the helper exits with it.
    #[error("cmd exited with status {code}")]
    ChildExited {
        /// Its exit code (128 + the signal when a signal ended it).
        code: u8,
    },
}

impl Error {
    /// 1 refused, 2 bad usage or input, 3 the Workload API or the file system failed.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Refused { .. } => 1,
            Self::Usage(_) | Self::Input { .. } => 2,
            Self::WorkloadApi { .. } | Self::Io { .. } => 3,
            Self::ChildExited { code } => *code,
        }
    }

    /// An [`Error::Input`] from anything printable as an error.
    pub(crate) fn input(
        what: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Input {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// `error: cause: cause`, the whole `source()` chain on one line.
pub(crate) fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        // Some errors repeat their source in their own message: say it once.
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}
