//! A session's configured parameters and their validation.

use std::time::Duration;

use serde::Serialize;

/// Shortest interval accepted: the runner's timers have millisecond resolution,
/// so a faster rate would be a promise the UDP edge cannot keep.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// The Desired Min TX floor while the session is not Up (RFC 5880 6.8.3).
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// The parameters a client (the BGP daemon) chooses for one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionParams {
    /// bfd.DesiredMinTxInterval while Up (raised to 1 s while not Up, 6.8.3).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult.
    pub detect_mult: u8,
    /// Authentication, if any (bfd.AuthType).
    #[serde(skip)]
    pub auth: Option<AuthConfig>,
}

impl Default for SessionParams {
    /// 300 ms × 3, FRR's default: a failure is seen within a second.
    fn default() -> SessionParams {
        SessionParams {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            auth: None,
        }
    }
}

impl SessionParams {
    /// The same interval for TX and RX, no authentication.
    pub fn new(interval: Duration, detect_mult: u8) -> SessionParams {
        SessionParams {
            desired_min_tx: interval,
            required_min_rx: interval,
            detect_mult,
            auth: None,
        }
    }

    /// Checks the values fit the wire and this implementation.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, v) in [
            ("desiredMinTx", self.desired_min_tx),
            ("requiredMinRx", self.required_min_rx),
        ] {
            if v < MIN_INTERVAL {
                return Err(ConfigError::IntervalTooShort { name, value: v });
            }
            if micros(v).is_none() {
                return Err(ConfigError::IntervalTooLong { name, value: v });
            }
        }
        if self.detect_mult == 0 {
            return Err(ConfigError::ZeroDetectMult);
        }
        if let Some(auth) = &self.auth {
            auth.validate()?;
        }
        Ok(())
    }
}

/// Authentication for a session. Only Simple Password can be verified with
/// what this workspace has; Keyed MD5/SHA1 would need hash implementations, so
/// configuring them is refused here and packets carrying them are dropped as
/// [`crate::DropReason::AuthUnsupported`] (RFC 5880 6.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// Simple Password (RFC 5880 6.7.2).
    SimplePassword {
        /// bfd.AuthKeyID sent and expected.
        key_id: u8,
        /// 1 to 16 octets.
        password: Vec<u8>,
    },
}

impl AuthConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            AuthConfig::SimplePassword { password, .. } => {
                if password.is_empty() || password.len() > 16 {
                    return Err(ConfigError::PasswordLength(password.len()));
                }
            }
        }
        Ok(())
    }
}

/// Why session parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An interval below [`MIN_INTERVAL`].
    #[error("{name} {value:?} is below the 1 ms minimum")]
    IntervalTooShort {
        /// The field.
        name: &'static str,
        /// Its value.
        value: Duration,
    },
    /// An interval that does not fit 32 bits of microseconds (about 71 minutes).
    #[error("{name} {value:?} does not fit the 32-bit microsecond field")]
    IntervalTooLong {
        /// The field.
        name: &'static str,
        /// Its value.
        value: Duration,
    },
    /// Detect Mult of zero.
    #[error("detect multiplier must be at least 1")]
    ZeroDetectMult,
    /// A Simple Password outside 1..=16 octets.
    #[error("a BFD simple password has 1 to 16 octets, not {0}")]
    PasswordLength(usize),
    /// Zero is reserved for "unknown" in Your Discriminator (RFC 5880 6.8.1).
    #[error("the local discriminator must be nonzero")]
    ZeroDiscriminator,
}

/// A duration as the wire's 32-bit microsecond count, if it fits.
pub(crate) fn micros(d: Duration) -> Option<u32> {
    u32::try_from(d.as_micros()).ok()
}
