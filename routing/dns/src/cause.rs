//! The real reason a connection could not be made.
//!
//! hickory's name-server pool folds I/O errors into "no connections
//! available" (with one server, its error ranking always keeps that
//! placeholder), so a refused connection or a certificate that does not
//! verify would reach the status as the same vague message. The two layers we
//! own see the real cause first: our socket provider ([`crate::transport`])
//! and our certificate verifier ([`crate::tls`]). They record it here, per
//! upstream, and the exchange that failed picks it up. Two lookups failing
//! on the same upstream at the same moment may swap their causes; both are
//! that upstream's failures, so the status stays true.

use std::sync::{Mutex, PoisonError};

use crate::error::UpstreamError;

/// The last connection failure of one upstream, if not yet picked up.
#[derive(Debug, Default)]
pub(crate) struct ConnectCause(Mutex<Option<UpstreamError>>);

impl ConnectCause {
    pub(crate) fn record(&self, error: UpstreamError) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    pub(crate) fn take(&self) -> Option<UpstreamError> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}
