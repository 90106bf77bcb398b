//! The NETLINK_NETFILTER socket a batch goes out on, and the kernel's
//! acknowledgements coming back. Plain libc: libnftnl builds the messages,
//! and one request/answer exchange needs no netlink library on top.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::error::NftError;

/// How long the kernel has to answer one batch.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETGEN: u16 = 16;
const NFT_MSG_NEWGEN: u16 = 15;
const NFTA_GEN_ID: u16 = 1;

/// A netfilter netlink socket in the calling thread's network namespace.
pub(crate) struct Socket {
    fd: OwnedFd,
}

fn last_error() -> NftError {
    NftError::Socket(io::Error::last_os_error())
}

impl Socket {
    pub(crate) fn open() -> Result<Socket, NftError> {
        // SAFETY: plain socket calls on a descriptor this function owns.
        unsafe {
            let fd = libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            );
            if fd < 0 {
                return Err(last_error());
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            if libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ) < 0
            {
                return Err(last_error());
            }
            let tv = libc::timeval {
                tv_sec: ANSWER_TIMEOUT.as_secs() as libc::time_t,
                tv_usec: 0,
            };
            if libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            ) < 0
            {
                return Err(last_error());
            }
            Ok(Socket { fd })
        }
    }

    fn send(&self, buf: &[u8]) -> Result<(), NftError> {
        // SAFETY: `buf` is a valid slice; the kernel is the destination.
        let sent = unsafe {
            let mut to: libc::sockaddr_nl = std::mem::zeroed();
            to.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&raw const to).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(last_error());
        }
        if usize::try_from(sent).ok() != Some(buf.len()) {
            return Err(NftError::Socket(io::Error::other(
                "netlink sendto wrote part of a message",
            )));
        }
        Ok(())
    }

    /// One datagram of answers; `None` when nothing waits (`nowait`).
    fn recv(&self, buf: &mut [u8], nowait: bool) -> Result<Option<usize>, NftError> {
        let flags = if nowait { libc::MSG_DONTWAIT } else { 0 };
        // SAFETY: `buf` is a valid, writable slice.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock if nowait => Ok(None),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    Err(NftError::Timeout(ANSWER_TIMEOUT))
                }
                _ => Err(NftError::Socket(e)),
            };
        }
        Ok(Some(usize::try_from(n).unwrap_or(0)))
    }

    /// Sends the batch's pages and waits for the acknowledgement of every
    /// sequence number in `seqs`. `what(seq)` names a message for errors.
    pub(crate) fn exchange<'a>(
        &self,
        pages: impl Iterator<Item = &'a [u8]>,
        seqs: std::ops::Range<u32>,
        what: impl Fn(u32) -> String,
    ) -> Result<(), NftError> {
        for page in pages {
            self.send(page)?;
        }
        let mut pending: std::collections::BTreeSet<u32> = seqs.collect();
        let mut first_error: Option<NftError> = None;
        let mut buf = vec![0u8; 1 << 16];
        while !pending.is_empty() {
            // After a refusal the kernel has aborted the batch: take what
            // is already queued and stop rather than wait out the timeout.
            let Some(n) = self.recv(&mut buf, first_error.is_some())? else {
                break;
            };
            for (header, body) in messages(&buf[..n]) {
                if header.kind != NLMSG_ERROR {
                    continue;
                }
                pending.remove(&header.seq);
                let errno = body
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(i32::from_ne_bytes)
                    .unwrap_or(0);
                if errno != 0 && first_error.is_none() {
                    first_error = Some(NftError::Refused {
                        what: what(header.seq),
                        source: io::Error::from_raw_os_error(-errno),
                    });
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The ruleset generation: it changes with every change to any table.
    pub(crate) fn generation(&self) -> Result<u32, NftError> {
        let mut msg = Vec::with_capacity(NLMSG_HDR + 4);
        let len = (NLMSG_HDR + 4) as u32;
        msg.extend_from_slice(&len.to_ne_bytes());
        msg.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN).to_ne_bytes());
        msg.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
        msg.extend_from_slice(&1u32.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family unspec, version 0, resource id 0.
        msg.extend_from_slice(&[0, 0, 0, 0]);
        self.send(&msg)?;
        let mut buf = vec![0u8; 1 << 13];
        loop {
            let Some(n) = self.recv(&mut buf, false)? else {
                continue;
            };
            for (header, body) in messages(&buf[..n]) {
                if header.kind == NLMSG_ERROR {
                    let errno = body
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map(i32::from_ne_bytes)
                        .unwrap_or(0);
                    return Err(NftError::Refused {
                        what: "the generation request".into(),
                        source: io::Error::from_raw_os_error(-errno),
                    });
                }
                if header.kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN
                    && let Some(id) = attribute(body.get(4..).unwrap_or_default(), NFTA_GEN_ID)
                    && let Ok(bytes) = <[u8; 4]>::try_from(id)
                {
                    return Ok(u32::from_be_bytes(bytes));
                }
            }
        }
    }
}

struct Header {
    kind: u16,
    seq: u32,
}

/// The netlink messages in one datagram, each header with its body.
fn messages(mut buf: &[u8]) -> Vec<(Header, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDR {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDR || len > buf.len() {
            break;
        }
        let header = Header {
            kind: u16::from_ne_bytes([buf[4], buf[5]]),
            seq: u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]),
        };
        out.push((header, &buf[NLMSG_HDR..len]));
        let aligned = (len + 3) & !3;
        buf = buf.get(aligned..).unwrap_or_default();
    }
    out
}

/// The payload of attribute `kind` among `attrs`.
fn attribute(mut attrs: &[u8], kind: u16) -> Option<&[u8]> {
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let t = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if t == kind {
            return attrs.get(4..len);
        }
        attrs = attrs.get((len + 3) & !3..).unwrap_or_default();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_hostile_answers_end_parsing() {
        assert!(messages(&[0u8; 8]).is_empty());
        let mut one = vec![0u8; 20];
        one[0] = 20;
        one[4] = 2;
        one[8] = 7;
        let parsed = messages(&one);
        assert_eq!(parsed.len(), 1);
        assert_eq!((parsed[0].0.kind, parsed[0].0.seq), (2, 7));
        // A length past the end stops instead of reading beyond.
        one[0] = 200;
        assert!(messages(&one).is_empty());
        assert_eq!(
            attribute(&[8, 0, 1, 0, 0, 0, 0, 9], 1),
            Some(&[0u8, 0, 0, 9][..])
        );
        assert_eq!(attribute(&[80, 0, 1, 0], 1), None);
    }
}
