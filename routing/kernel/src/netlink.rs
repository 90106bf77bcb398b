//! One request/response exchange on the rtnetlink socket, with a deadline, and the
//! kernel's error turned into words a user can act on.

use std::time::Duration;

use futures::StreamExt;
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::Handle;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
    NetlinkMessage, NetlinkPayload,
};

use crate::KernelError;

/// How long one write may take before we stop waiting for its ACK.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one dump may take; large enough for a full BGP table.
pub(crate) const DUMP_TIMEOUT: Duration = Duration::from_secs(60);
/// A dump that keeps being interrupted by concurrent changes is retried this often.
const DUMP_TRIES: usize = 5;

/// Why one exchange failed, before we know what to call the request.
#[derive(Debug)]
pub(crate) enum NlError {
    Kernel(String),
    Closed,
    Timeout(Duration),
    Interrupted,
}

impl NlError {
    pub(crate) fn into_kernel(self, what: &str) -> KernelError {
        let what = what.to_string();
        match self {
            NlError::Kernel(message) => KernelError::Netlink { what, message },
            NlError::Closed => KernelError::ConnectionClosed { what },
            NlError::Timeout(timeout) => KernelError::Timeout { what, timeout },
            NlError::Interrupted => KernelError::DumpInterrupted { what },
        }
    }

    /// The error as one line, for a per-change failure in an apply report.
    pub(crate) fn message(&self) -> String {
        match self {
            NlError::Kernel(m) => m.clone(),
            NlError::Closed => "the netlink connection is closed".to_string(),
            NlError::Timeout(t) => format!("no answer from the kernel within {t:?}"),
            NlError::Interrupted => "dump interrupted".to_string(),
        }
    }
}

/// Sends a write (`flags` e.g. NLM_F_CREATE | NLM_F_EXCL) and waits for its ACK.
pub(crate) async fn ack(
    handle: &Handle,
    msg: RouteNetlinkMessage,
    flags: u16,
) -> Result<(), NlError> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    let (_, complete, _) = exchange(handle, req, REQUEST_TIMEOUT).await?;
    // The connection forwards ACKs to us; a stream that ends without one means the
    // connection died with the request in flight.
    if complete {
        Ok(())
    } else {
        Err(NlError::Closed)
    }
}

/// Dumps a table (links, addresses, routes), retrying when the kernel flags the
/// dump as inconsistent because the table changed while we read it.
pub(crate) async fn dump(
    handle: &Handle,
    msg: RouteNetlinkMessage,
) -> Result<Vec<RouteNetlinkMessage>, NlError> {
    for _ in 0..DUMP_TRIES {
        let mut req = NetlinkMessage::from(msg.clone());
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let (items, complete, interrupted) = exchange(handle, req, DUMP_TIMEOUT).await?;
        if !complete {
            return Err(NlError::Closed);
        }
        if !interrupted {
            return Ok(items);
        }
    }
    Err(NlError::Interrupted)
}

/// Returns the inner messages, whether the exchange completed (ACK or DONE seen),
/// and whether the kernel marked a dump as interrupted.
async fn exchange(
    handle: &Handle,
    req: NetlinkMessage<RouteNetlinkMessage>,
    timeout: Duration,
) -> Result<(Vec<RouteNetlinkMessage>, bool, bool), NlError> {
    let mut handle = handle.clone();
    let mut responses = handle.request(req).map_err(|_| NlError::Closed)?;
    let collect = async move {
        let mut items = Vec::new();
        let mut interrupted = false;
        while let Some(msg) = responses.next().await {
            interrupted |= msg.header.flags & NLM_F_DUMP_INTR != 0;
            match msg.payload {
                NetlinkPayload::InnerMessage(inner) => items.push(inner),
                NetlinkPayload::Error(err) => match err.code {
                    Some(_) => {
                        let mut text = err.to_io().to_string();
                        if let Some(ext) = ext_ack_message(msg.header.flags, &err.header) {
                            text = format!("{text}: {ext}");
                        }
                        return Err(NlError::Kernel(text));
                    }
                    None => return Ok((items, true, interrupted)),
                },
                NetlinkPayload::Done(_) => return Ok((items, true, interrupted)),
                NetlinkPayload::Overrun(_) => {
                    return Err(NlError::Kernel(
                        "netlink receive buffer overrun".to_string(),
                    ));
                }
                _ => {}
            }
        }
        Ok((items, false, interrupted))
    };
    tokio::time::timeout(timeout, collect)
        .await
        .map_err(|_| NlError::Timeout(timeout))?
}

const NLMSG_HDRLEN: usize = 16;
const NLMSGERR_ATTR_MSG: u16 = 1;

/// The kernel's extended-ack text (e.g. "Nexthop has invalid gateway"), if any.
/// `payload` is what follows the errno in NLMSG_ERROR: the original request (only
/// its header when the ACK is capped), then NLMSGERR_ATTR_* TLVs.
fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let original = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32::from_ne_bytes(payload.get(0..4)?.try_into().ok()?) as usize
    };
    let mut tlvs = payload.get(align4(original)..)?;
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            break;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = String::from_utf8_lossy(&tlvs[4..len]);
            return Some(text.trim_end_matches('\0').to_string());
        }
        tlvs = tlvs.get(align4(len)..)?;
    }
    None
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_ack_text_is_found_after_a_capped_header() {
        let mut payload = vec![0u8; NLMSG_HDRLEN];
        let text = b"Nexthop has invalid gateway\0";
        let len = (4 + text.len()) as u16;
        payload.extend_from_slice(&len.to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        let flags = NLM_F_ACK_TLVS | NLM_F_CAPPED;
        assert_eq!(
            ext_ack_message(flags, &payload).as_deref(),
            Some("Nexthop has invalid gateway")
        );
        assert_eq!(ext_ack_message(NLM_F_CAPPED, &payload), None);
        assert_eq!(ext_ack_message(flags, &payload[..10]), None);
    }
}
