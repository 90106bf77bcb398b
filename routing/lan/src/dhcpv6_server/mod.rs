//! routerd's stateless DHCPv6 server (RFC 8415 §6.1, §18.3.6): answers
//! Information-request with DNS servers (RFC 3646), a domain search list,
//! SNTP servers (RFC 4075) and an information refresh time (§21.23).
//!
//! What a stateless server does with the other client messages:
//! - Solicit: §18.3.1 says a server that will not assign any addresses or
//!   prefixes "MUST send an Advertise ... that includes only a Status Code
//!   option with code NoAddrsAvail", the Server and the Client Identifier.
//!   That is what it gets; clients ignore such Advertises (§18.2.9) and
//!   fall back to Information-request when the RA's O flag says so.
//! - Request, Renew, Release, Decline: each names the server it is for
//!   (§16.4-§16.9). Ours appears only in those NoAddrsAvail Advertises, which
//!   no client may pick, so none is meant for us: ignored.
//! - Confirm: "if the server is unable to perform this test (for example,
//!   the server does not have information about prefixes on the link ...)
//!   the server MUST NOT send a reply" (§18.3.3): ignored.
//! - Rebind: a server with no binding and no explicit configuration for the
//!   client's leases does not answer (§18.3.5): ignored.
//! - Relay-forward: this server serves its own link only: ignored.
//!
//! §16: Solicit, Confirm, Rebind and Information-request sent to a unicast
//! address are discarded; Information-request with a foreign Server
//! Identifier or with any IA option is discarded (§16.12); Solicit without
//! a Client Identifier or with a Server Identifier is discarded (§16.2).

pub mod io;
#[cfg(test)]
mod tests;

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dhcproto::v6::{self, DhcpOption, MessageType, OptionCode};
use dhcproto::{Decodable, Encodable};
use routerd_dhcpv6_core::codec::message_options_fit;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::dns_name;

pub use io::run_dhcpv6_server;

/// Servers listen here (RFC 8415 §7.2).
pub const SERVER_PORT: u16 = 547;
/// Clients listen here; answers go to it (RFC 8415 §7.2).
pub const CLIENT_PORT: u16 = 546;
/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
pub const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// A DUID is a 2-octet type and at most 128 octets (RFC 8415 §11.1).
pub const MAX_DUID_LEN: usize = 130;

/// Why a server configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// RFC 8415 §11.1: 2 to 130 octets. (Empty is allowed only in the
    /// socket edge's configuration, which then derives a DUID-LL.)
    #[error("a DUID of {0} octets: it takes 2 to 130 (RFC 8415 §11.1)")]
    Duid(usize),
    /// The edge has no MAC to derive a DUID-LL from.
    #[error("the interface has no Ethernet address to derive a DUID-LL from: configure serverDuid")]
    NoDuid,
    /// Not a unicast address.
    #[error("{0} cannot be a DNS server")]
    DnsServer(Ipv6Addr),
    /// Not a unicast address.
    #[error("{0} cannot be an SNTP server")]
    SntpServer(Ipv6Addr),
    /// Not a domain name for a search list.
    #[error("`{0}` is not a domain name for the search list")]
    Domain(String),
    /// RFC 8415 §21.23: whole seconds, not zero.
    #[error("an information refresh time of {0:?}: at least one second")]
    InfoRefresh(Duration),
}

/// What the stateless server hands out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatelessConfig {
    /// The Server Identifier. Empty: the socket edge uses a DUID-LL from
    /// the interface's MAC (RFC 8415 §11.4).
    pub server_duid: Vec<u8>,
    /// DNS Recursive Name Server option (23, RFC 3646).
    pub dns_servers: Vec<Ipv6Addr>,
    /// Domain Search List option (24, RFC 3646).
    pub domains: Vec<String>,
    /// SNTP Servers option (31, RFC 4075).
    pub sntp_servers: Vec<Ipv6Addr>,
    /// Information Refresh Time option (32, RFC 8415 §21.23); `None`:
    /// clients use their default of 24 h.
    pub info_refresh: Option<Duration>,
}

fn unicast(a: &Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_multicast() || a.is_loopback())
}

impl StatelessConfig {
    /// Checks the configuration (the DUID must be set) and returns it with
    /// domains in lower case.
    pub fn validated(mut self) -> Result<StatelessConfig, ConfigError> {
        if !(2..=MAX_DUID_LEN).contains(&self.server_duid.len()) {
            return Err(ConfigError::Duid(self.server_duid.len()));
        }
        if let Some(a) = self.dns_servers.iter().find(|a| !unicast(a)) {
            return Err(ConfigError::DnsServer(*a));
        }
        if let Some(a) = self.sntp_servers.iter().find(|a| !unicast(a)) {
            return Err(ConfigError::SntpServer(*a));
        }
        for d in &mut self.domains {
            *d = dns_name::normalize(d).ok_or_else(|| ConfigError::Domain(d.clone()))?;
        }
        if let Some(r) = self.info_refresh
            && r.as_secs() == 0
        {
            return Err(ConfigError::InfoRefresh(r));
        }
        Ok(self)
    }
}

/// Live counters of one server.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub(crate) received: AtomicU64,
    pub(crate) replies: AtomicU64,
    pub(crate) advertises: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) ignored_stateful: AtomicU64,
    pub(crate) send_errors: AtomicU64,
    pub(crate) socket_restarts: AtomicU64,
    pub(crate) configs_rejected: AtomicU64,
}

/// A point-in-time copy of [`ServerStats`] for status reports (JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatsSnapshot {
    /// Messages received on the server port.
    pub received: u64,
    /// Replies to Information-requests.
    pub replies: u64,
    /// NoAddrsAvail Advertises to Solicits.
    pub advertises: u64,
    /// Messages that do not parse (or whose options do not fit).
    pub malformed: u64,
    /// Messages RFC 8415 §16 tells the server to discard (unicast, foreign
    /// server id, IA in an Information-request, relayed, server messages).
    pub discarded: u64,
    /// Request, Renew, Rebind, Confirm, Release, Decline: not for a
    /// stateless server.
    pub ignored_stateful: u64,
    /// Answers that could not be sent.
    pub send_errors: u64,
    /// Times the socket was opened again after the interface went away.
    pub socket_restarts: u64,
    /// Configuration updates refused (the previous one stays in force).
    pub configs_rejected: u64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl ServerStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> ServerStatsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServerStatsSnapshot {
            received: r(&self.received),
            replies: r(&self.replies),
            advertises: r(&self.advertises),
            malformed: r(&self.malformed),
            discarded: r(&self.discarded),
            ignored_stateful: r(&self.ignored_stateful),
            send_errors: r(&self.send_errors),
            socket_restarts: r(&self.socket_restarts),
            configs_rejected: r(&self.configs_rejected),
        }
    }
}

/// Why a message got no answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Discard {
    /// Too short, an option length that does not fit, or dhcproto refused it.
    #[error("malformed: {0}")]
    Malformed(String),
    /// RFC 8415 §16: must be sent to a multicast address.
    #[error("{0:?} sent to a unicast address (RFC 8415 §16)")]
    Unicast(MessageType),
    /// RFC 8415 §16.12: a Server Identifier that is not ours.
    #[error("Server Identifier is another server's (RFC 8415 §16.12)")]
    ForeignServerId,
    /// RFC 8415 §16.12: Information-request with an IA option.
    #[error("Information-request carries an IA option (RFC 8415 §16.12)")]
    IaInInformationRequest,
    /// RFC 8415 §16.2: Solicit without a Client Identifier.
    #[error("Solicit without a Client Identifier (RFC 8415 §16.2)")]
    NoClientId,
    /// RFC 8415 §16.2: Solicit with a Server Identifier.
    #[error("Solicit with a Server Identifier (RFC 8415 §16.2)")]
    ServerIdInSolicit,
    /// A message about leases, which a stateless server has none of.
    #[error("{0:?} is for a stateful server")]
    Stateful(MessageType),
    /// Relay-forward: this server serves its link directly.
    #[error("relayed messages are not served")]
    Relayed,
    /// A message only servers or relays send.
    #[error("{0:?} is not a client message")]
    NotClientMessage(MessageType),
}

/// What to do with a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this Reply to the client (port 546).
    Reply(Vec<u8>),
    /// Send this NoAddrsAvail Advertise to the client (port 546).
    Advertise(Vec<u8>),
    /// Send nothing.
    Discard(Discard),
}

/// The stateless server: messages in, answers out. No state but its
/// configuration and counters.
#[derive(Debug)]
pub struct StatelessServer {
    config: StatelessConfig,
    stats: Arc<ServerStats>,
}

impl StatelessServer {
    /// A server with this configuration (its DUID must be set).
    pub fn new(
        config: StatelessConfig,
        stats: Arc<ServerStats>,
    ) -> Result<StatelessServer, ConfigError> {
        Ok(StatelessServer {
            config: config.validated()?,
            stats,
        })
    }

    /// Replaces the configuration; on error the old one stays.
    pub fn set_config(&mut self, config: StatelessConfig) -> Result<(), ConfigError> {
        self.config = config.validated()?;
        Ok(())
    }

    /// The configuration in force.
    pub fn config(&self) -> &StatelessConfig {
        &self.config
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<ServerStats> {
        &self.stats
    }

    /// Handles one message received on the server port; `to_multicast`
    /// says whether its IPv6 destination was a multicast address.
    pub fn handle(&self, bytes: &[u8], to_multicast: bool) -> Outcome {
        bump(&self.stats.received);
        let out = self.answer(bytes, to_multicast);
        match &out {
            Outcome::Reply(_) => bump(&self.stats.replies),
            Outcome::Advertise(_) => bump(&self.stats.advertises),
            Outcome::Discard(Discard::Malformed(_)) => bump(&self.stats.malformed),
            Outcome::Discard(Discard::Stateful(_)) => bump(&self.stats.ignored_stateful),
            Outcome::Discard(_) => bump(&self.stats.discarded),
        }
        out
    }

    fn answer(&self, bytes: &[u8], to_multicast: bool) -> Outcome {
        let discard = Outcome::Discard;
        let Some(&kind) = bytes.first() else {
            return discard(Discard::Malformed("empty".into()));
        };
        let kind = MessageType::from(kind);
        match kind {
            MessageType::InformationRequest | MessageType::Solicit => {}
            MessageType::Request
            | MessageType::Renew
            | MessageType::Release
            | MessageType::Decline
            | MessageType::Confirm
            | MessageType::Rebind => {
                return discard(Discard::Stateful(kind));
            }
            MessageType::RelayForw => return discard(Discard::Relayed),
            other => return discard(Discard::NotClientMessage(other)),
        }
        if !to_multicast {
            return discard(Discard::Unicast(kind));
        }
        // dhcproto 0.15 panics on some hostile option lengths: check first.
        if !message_options_fit(bytes) {
            return discard(Discard::Malformed(
                "an option's length does not fit the message or the option".into(),
            ));
        }
        let m = match v6::Message::from_bytes(bytes) {
            Ok(m) => m,
            Err(e) => return discard(Discard::Malformed(e.to_string())),
        };
        let opts = m.opts();
        let client_id = opts.iter().find_map(|o| match o {
            DhcpOption::ClientId(id) => Some(id.clone()),
            _ => None,
        });
        let server_id = opts.iter().find_map(|o| match o {
            DhcpOption::ServerId(id) => Some(id.clone()),
            _ => None,
        });
        match kind {
            MessageType::Solicit => {
                let Some(client_id) = client_id else {
                    return discard(Discard::NoClientId);
                };
                if server_id.is_some() {
                    return discard(Discard::ServerIdInSolicit);
                }
                self.no_addrs_avail(m.xid(), client_id)
            }
            _ => {
                if server_id.is_some_and(|id| id != self.config.server_duid) {
                    return discard(Discard::ForeignServerId);
                }
                let has_ia = opts.iter().any(|o| {
                    matches!(
                        o,
                        DhcpOption::IANA(_) | DhcpOption::IATA(_) | DhcpOption::IAPD(_)
                    )
                });
                if has_ia {
                    return discard(Discard::IaInInformationRequest);
                }
                let requested: Vec<OptionCode> = opts
                    .iter()
                    .find_map(|o| match o {
                        DhcpOption::ORO(oro) => Some(oro.opts.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                self.reply(m.xid(), client_id, &requested)
            }
        }
    }

    /// RFC 8415 §18.3.6: Server Identifier, the Client Identifier if the
    /// client sent one, and of the configured options those the ORO asks for.
    fn reply(&self, xid: [u8; 3], client_id: Option<Vec<u8>>, oro: &[OptionCode]) -> Outcome {
        let c = &self.config;
        let mut m = v6::Message::new_with_id(MessageType::Reply, xid);
        let opts = m.opts_mut();
        opts.insert(DhcpOption::ServerId(c.server_duid.clone()));
        if let Some(id) = client_id {
            opts.insert(DhcpOption::ClientId(id));
        }
        let asked = |code: OptionCode| oro.contains(&code);
        if asked(OptionCode::DomainNameServers) && !c.dns_servers.is_empty() {
            opts.insert(DhcpOption::DomainNameServers(c.dns_servers.clone()));
        }
        if asked(OptionCode::DomainSearchList) && !c.domains.is_empty() {
            // Our own encoding: dhcproto's compresses shared suffixes,
            // which RFC 8415 §10 forbids.
            let mut wire = Vec::new();
            for d in &c.domains {
                if dns_name::write(d, &mut wire).is_none() {
                    tracing::error!("domain {d:?} passed validation but cannot be encoded");
                }
            }
            opts.insert(DhcpOption::Unknown(v6::UnknownOption::new(
                OptionCode::DomainSearchList,
                wire,
            )));
        }
        if asked(OptionCode::SntpServers) && !c.sntp_servers.is_empty() {
            let data = c.sntp_servers.iter().flat_map(|a| a.octets()).collect();
            opts.insert(DhcpOption::Unknown(v6::UnknownOption::new(
                OptionCode::SntpServers,
                data,
            )));
        }
        if asked(OptionCode::InformationRefreshTime)
            && let Some(r) = c.info_refresh
        {
            let secs = u32::try_from(r.as_secs()).unwrap_or(u32::MAX);
            opts.insert(DhcpOption::Unknown(v6::UnknownOption::new(
                OptionCode::InformationRefreshTime,
                secs.to_be_bytes().to_vec(),
            )));
        }
        match m.to_vec() {
            Ok(b) => Outcome::Reply(b),
            Err(e) => Outcome::Discard(Discard::Malformed(format!("cannot encode the reply: {e}"))),
        }
    }

    /// RFC 8415 §18.3.1: "only a Status Code option with code NoAddrsAvail
    /// and a status message for the user; a Server Identifier option ...; a
    /// Client Identifier option".
    fn no_addrs_avail(&self, xid: [u8; 3], client_id: Vec<u8>) -> Outcome {
        let mut m = v6::Message::new_with_id(MessageType::Advertise, xid);
        let opts = m.opts_mut();
        opts.insert(DhcpOption::ServerId(self.config.server_duid.clone()));
        opts.insert(DhcpOption::ClientId(client_id));
        opts.insert(DhcpOption::StatusCode(v6::StatusCode {
            status: v6::Status::NoAddrsAvail,
            msg: "stateless server: no addresses; use SLAAC and Information-request".into(),
        }));
        match m.to_vec() {
            Ok(b) => Outcome::Advertise(b),
            Err(e) => Outcome::Discard(Discard::Malformed(format!(
                "cannot encode the advertise: {e}"
            ))),
        }
    }
}
