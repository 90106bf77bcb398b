//! routerd's typed resource model.
//!
//! A config file is one Router document (`apiVersion: routerd.net/v1alpha1`,
//! `kind: Router`) whose `spec.resources` lists typed resources. Loading it
//! checks everything at once and reports each problem as
//! `FILE:LINE:COL: Kind/name: spec.field: what is wrong`.

mod de;
pub mod diag;
pub mod document;
pub mod kind;
pub mod kinds;
pub mod ports;
pub mod registry;
pub mod schema;
mod suggest;
pub mod types;
pub mod yaml;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use document::{Config, Loaded, ReconcileMode, ReconcileSpec, load_file, load_str};
pub use kind::{AnySpec, Kind, Resource};
pub use kinds::common::{DependsOn, StateCondition, ValueFrom, When, parse_state_key};
