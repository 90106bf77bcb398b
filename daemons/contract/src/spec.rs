//! Reading a daemon's JSON config file (routerd writes it) with errors
//! that name the file and, for syntax or shape, the line and column; the
//! daemon's own checks name the field.

use std::path::Path;

use serde::de::DeserializeOwned;
use thiserror::Error;

/// Why a config file is refused.
#[derive(Debug, Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid JSON for this config, with the position serde reports.
    #[error("{path}: line {line}, column {column}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A field's value is out of range.
    #[error("{path}: field {field}: {message}")]
    Field {
        /// The file.
        path: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A parsed config file, and a way to refuse one of its fields.
pub struct SpecFile<T> {
    /// The config.
    pub spec: T,
    shown: String,
}

impl<T: DeserializeOwned> SpecFile<T> {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<SpecFile<T>, SpecError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: shown.clone(),
            source,
        })?;
        let spec = serde_json::from_str(&text).map_err(|e| SpecError::Parse {
            path: shown.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        Ok(SpecFile { spec, shown })
    }
}

impl<T> SpecFile<T> {
    /// The error for a field whose value cannot work.
    pub fn field(&self, field: &'static str, message: &str) -> SpecError {
        SpecError::Field {
            path: self.shown.clone(),
            field,
            message: message.into(),
        }
    }
}
