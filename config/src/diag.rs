//! Diagnostics: what is wrong with a config, where, in a form a person can act on.

use std::fmt;

use crate::yaml::Pos;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The config is rejected.
    Error,
    /// The config loads, but something will not behave as the user may expect.
    Warning,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// Line and column of the offending node.
    #[serde(flatten)]
    pub pos: PosJson,
    /// The resource, as `Kind/name`, when the problem belongs to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Dotted path of the field inside the resource (or document).
    pub path: String,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

/// Position as serialized in JSON diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PosJson {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl From<Pos> for PosJson {
    fn from(p: Pos) -> Self {
        PosJson {
            line: p.line,
            column: p.col,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `FILE:LINE:COL: Kind/name: spec.field: what is wrong`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.pos.line, self.pos.column)?;
        if let Some(resource) = &self.resource {
            write!(f, "{resource}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a config; the error of a failed load.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// True when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// Only the warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            d.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub(crate) struct Sink {
    pub(crate) file: String,
    pub(crate) out: Vec<Diagnostic>,
}

impl Sink {
    pub(crate) fn new(file: &str) -> Self {
        Sink {
            file: file.to_string(),
            out: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        pos: Pos,
        resource: Option<&str>,
        path: &str,
        message: impl Into<String>,
    ) {
        self.out.push(Diagnostic {
            file: self.file.clone(),
            pos: pos.into(),
            resource: resource.map(str::to_string),
            path: path.to_string(),
            severity,
            message: message.into(),
        });
    }

    pub(crate) fn error(
        &mut self,
        pos: Pos,
        resource: Option<&str>,
        path: &str,
        message: impl Into<String>,
    ) {
        self.push(Severity::Error, pos, resource, path, message);
    }

    pub(crate) fn finish(mut self) -> Diagnostics {
        self.out.sort_by(|a, b| {
            (a.pos.line, a.pos.column, &a.path, &a.message).cmp(&(
                b.pos.line,
                b.pos.column,
                &b.path,
                &b.message,
            ))
        });
        self.out.dedup();
        Diagnostics(self.out)
    }
}
