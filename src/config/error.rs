//! Configuration errors (control plane): what went wrong, where, and what would be valid.
//!
//! A [`ConfigError`] is either an unreadable file ([`ConfigError::Io`]) or a list of
//! [`Problem`]s found in its text ([`ConfigError::Invalid`]). Invariants: an `Invalid` error
//! holds at least one problem; every problem names the field path it is about (empty only for
//! YAML syntax errors, which have no field) and, whenever the position is known, the 1-based
//! line and column. Display renders one problem per line as
//! `FILE:LINE:COLUMN: PATH: MESSAGE`, so editors and terminals can jump to it.

use std::fmt;
use std::io;

/// One thing wrong with a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Field path, like `services.legacy.backends[1].weight`; empty for syntax errors.
    pub path: String,
    /// 1-based line of the field (or of its nearest enclosing key), when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl Problem {
    /// A problem whose position is not known yet (see `locate`).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// Renders the problem as one line prefixed by `file`.
    pub fn render(&self, file: &str) -> String {
        let mut out = String::from(file);
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
            if let Some(column) = self.column {
                out.push_str(&format!(":{column}"));
            }
        }
        out.push_str(": ");
        if !self.path.is_empty() {
            out.push_str(&self.path);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{file}: cannot read the configuration file: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", Rendered { file, problems })]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems found, empty for [`ConfigError::Io`].
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Io { .. } => &[],
            Self::Invalid { problems, .. } => problems,
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            Self::Io { file, .. } | Self::Invalid { file, .. } => file,
        }
    }
}

/// Display helper: one rendered problem per line.
struct Rendered<'a> {
    file: &'a str,
    problems: &'a [Problem],
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&problem.render(self.file))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_problem_per_line() {
        let mut a = Problem::new("services.legacy.listener", "unknown listener `webb`");
        a.line = Some(12);
        a.column = Some(7);
        let b = Problem::new("", "YAML syntax error");
        let err = ConfigError::Invalid {
            file: "config/berth.yaml".into(),
            problems: vec![a, b],
        };
        assert_eq!(
            err.to_string(),
            "config/berth.yaml:12:7: services.legacy.listener: unknown listener `webb`\n\
             config/berth.yaml: YAML syntax error"
        );
    }

    #[test]
    fn io_error_names_the_file() {
        let err = ConfigError::Io {
            file: "missing.yaml".into(),
            source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
        };
        assert!(err.to_string().starts_with("missing.yaml: cannot read"));
        assert!(err.problems().is_empty());
    }
}
