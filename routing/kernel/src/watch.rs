//! Following the kernel's changes: rtnetlink multicast groups turned into
//! [`Notification`]s, with a [`Notification::Resync`] whenever some were lost.

use std::collections::HashMap;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use ipnet::IpNet;
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::MulticastGroup;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::sys::{AsyncSocket, SocketAddr};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::observe::{parse_address, parse_link, parse_route};
use crate::{Kernel, KernelError};

/// Notifications buffered for a slow consumer before it gets a `Resync` instead.
const CHANNEL_CAPACITY: usize = 1024;
/// Receive buffer asked for the multicast socket (capped by net.core.rmem_max):
/// a route flap of a full table arrives faster than any consumer reads.
const WATCH_RCVBUF: usize = 4 << 20;

/// A change the kernel announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Notification {
    /// A link appeared or changed (state, MTU, name, …).
    LinkChanged {
        /// Interface name.
        ifname: String,
        /// Interface index.
        index: u32,
        /// Administratively up.
        admin_up: bool,
        /// Operationally up.
        oper_up: bool,
    },
    /// A link was deleted.
    LinkRemoved {
        /// Interface name.
        ifname: String,
        /// Interface index.
        index: u32,
    },
    /// An address was added (or its flags changed, e.g. DAD finished).
    AddressAdded {
        /// Interface name.
        ifname: String,
        /// Interface index.
        index: u32,
        /// Address with prefix length.
        address: IpNet,
    },
    /// An address was removed.
    AddressRemoved {
        /// Interface name.
        ifname: String,
        /// Interface index.
        index: u32,
        /// Address with prefix length.
        address: IpNet,
    },
    /// A route was added or replaced.
    RouteAdded {
        /// Destination prefix.
        destination: IpNet,
        /// Routing table id.
        table: u32,
        /// Who added it (rtm_protocol; routerd's is [`crate::ROUTERD_PROTO`]).
        protocol: u8,
    },
    /// A route was removed.
    RouteRemoved {
        /// Destination prefix.
        destination: IpNet,
        /// Routing table id.
        table: u32,
        /// Who had added it.
        protocol: u8,
    },
    /// Notifications were lost (socket overflow or a slow consumer): observe
    /// and reconcile everything.
    Resync,
}

impl Kernel {
    /// Subscribes to link, IPv4/IPv6 address and IPv4/IPv6 route changes of this
    /// namespace. The channel closes if the netlink socket fails; watch again then.
    pub async fn watch(&self) -> Result<mpsc::Receiver<Notification>, KernelError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| KernelError::NoRuntime)?;
        let groups = [
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
            MulticastGroup::Ipv4Route,
            MulticastGroup::Ipv6Route,
        ];
        let (mut conn, _handle, messages) =
            rtnetlink::new_multicast_connection(&groups).map_err(KernelError::Socket)?;
        if let Err(e) = conn.socket_mut().socket_mut().set_rx_buf_sz(WATCH_RCVBUF) {
            tracing::debug!(error = %e, "cannot enlarge the netlink watch socket buffer");
        }
        runtime.spawn(conn);
        // Subscribed before the dump, so a link that appears in between is still
        // seen, as a notification.
        let names = self
            .links()
            .await?
            .into_iter()
            .map(|l| (l.index, l.name))
            .collect();
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        runtime.spawn(forward(messages, names, tx));
        Ok(rx)
    }
}

/// Moves notifications from the socket to the consumer. When the consumer's
/// channel is full the notification is dropped and a `Resync` owed; until it can
/// be delivered, everything read is discarded, since the reconcile that the
/// `Resync` triggers observes a state newer than all of it.
async fn forward(
    mut messages: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    mut names: HashMap<u32, String>,
    tx: mpsc::Sender<Notification>,
) {
    let mut resync_owed = false;
    loop {
        if resync_owed {
            tokio::select! {
                permit = tx.reserve() => match permit {
                    Ok(permit) => {
                        permit.send(Notification::Resync);
                        resync_owed = false;
                    }
                    Err(_) => return,
                },
                msg = messages.next() => {
                    let Some((msg, _)) = msg else { return };
                    // Keep the name map current even while discarding.
                    let _ = translate(msg, &mut names);
                }
            }
            continue;
        }
        let Some((msg, _)) = messages.next().await else {
            return;
        };
        let Some(notification) = translate(msg, &mut names) else {
            continue;
        };
        if notification == Notification::Resync {
            resync_owed = true;
            continue;
        }
        match tx.try_send(notification) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => resync_owed = true,
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

fn translate(
    msg: NetlinkMessage<RouteNetlinkMessage>,
    names: &mut HashMap<u32, String>,
) -> Option<Notification> {
    let inner = match msg.payload {
        NetlinkPayload::InnerMessage(inner) => inner,
        NetlinkPayload::Overrun(_) => return Some(Notification::Resync),
        _ => return None,
    };
    match inner {
        RouteNetlinkMessage::NewLink(m) => {
            let link = parse_link(&m)?;
            names.insert(link.index, link.name.clone());
            Some(Notification::LinkChanged {
                ifname: link.name,
                index: link.index,
                admin_up: link.admin_up,
                oper_up: link.oper_up,
            })
        }
        RouteNetlinkMessage::DelLink(m) => {
            let index = m.header.index;
            let ifname = parse_link(&m)
                .map(|l| l.name)
                .or_else(|| names.get(&index).cloned())
                .unwrap_or_else(|| format!("if{index}"));
            names.remove(&index);
            Some(Notification::LinkRemoved { ifname, index })
        }
        RouteNetlinkMessage::NewAddress(m) => {
            let a = parse_address(&m, names)?;
            let address = IpNet::new(a.addr, a.prefix_len).ok()?;
            Some(Notification::AddressAdded {
                ifname: a.ifname,
                index: a.ifindex,
                address,
            })
        }
        RouteNetlinkMessage::DelAddress(m) => {
            let a = parse_address(&m, names)?;
            let address = IpNet::new(a.addr, a.prefix_len).ok()?;
            Some(Notification::AddressRemoved {
                ifname: a.ifname,
                index: a.ifindex,
                address,
            })
        }
        RouteNetlinkMessage::NewRoute(m) => {
            let r = parse_route(&m, names)?;
            Some(Notification::RouteAdded {
                destination: r.destination,
                table: r.table,
                protocol: r.protocol,
            })
        }
        RouteNetlinkMessage::DelRoute(m) => {
            let r = parse_route(&m, names)?;
            Some(Notification::RouteRemoved {
                destination: r.destination,
                table: r.table,
                protocol: r.protocol,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
    use rtnetlink::packet_core::NetlinkHeader;

    use super::*;

    fn link_msg(
        index: u32,
        name: &str,
        up: bool,
    ) -> (NetlinkMessage<RouteNetlinkMessage>, SocketAddr) {
        let mut m = LinkMessage::default();
        m.header.index = index;
        if up {
            m.header.flags = LinkFlags::Up;
        }
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        (
            NetlinkMessage::from(RouteNetlinkMessage::NewLink(m)),
            SocketAddr::new(0, 0),
        )
    }

    #[tokio::test]
    async fn a_full_consumer_gets_a_resync_instead_of_a_gap() {
        let (nl_tx, nl_rx) = futures::channel::mpsc::unbounded();
        let (tx, mut rx) = mpsc::channel(2);
        for i in 0..5 {
            nl_tx
                .unbounded_send(link_msg(10 + i, &format!("eth{i}"), true))
                .unwrap();
        }
        let task = tokio::spawn(forward(nl_rx, HashMap::new(), tx));
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(rx.recv().await.unwrap());
        }
        assert!(matches!(&got[0], Notification::LinkChanged { ifname, .. } if ifname == "eth0"));
        assert!(matches!(&got[1], Notification::LinkChanged { ifname, .. } if ifname == "eth1"));
        assert_eq!(got[2], Notification::Resync);

        // After the resync, notifications flow again; a socket overrun is a resync too.
        nl_tx.unbounded_send(link_msg(20, "eth9", false)).unwrap();
        let overrun = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::Overrun(Vec::new()),
        );
        nl_tx
            .unbounded_send((overrun, SocketAddr::new(0, 0)))
            .unwrap();
        assert!(matches!(
            rx.recv().await.unwrap(),
            Notification::LinkChanged { ifname, admin_up: false, .. } if ifname == "eth9"
        ));
        assert_eq!(rx.recv().await.unwrap(), Notification::Resync);

        drop(nl_tx);
        task.await.unwrap();
        assert_eq!(rx.recv().await, None);
    }

    #[test]
    fn address_notifications_name_the_link_from_earlier_link_messages() {
        use netlink_packet_route::AddressFamily;
        use netlink_packet_route::address::{AddressAttribute, AddressMessage};
        let mut names = HashMap::new();
        let (m, _) = link_msg(7, "lan0", true);
        assert!(translate(m, &mut names).is_some());
        let mut a = AddressMessage::default();
        a.header.family = AddressFamily::Inet6;
        a.header.index = 7;
        a.header.prefix_len = 64;
        a.attributes
            .push(AddressAttribute::Address("2001:db8::1".parse().unwrap()));
        let n = translate(
            NetlinkMessage::from(RouteNetlinkMessage::DelAddress(a)),
            &mut names,
        );
        assert_eq!(
            n,
            Some(Notification::AddressRemoved {
                ifname: "lan0".into(),
                index: 7,
                address: "2001:db8::1/64".parse().unwrap(),
            })
        );
    }
}
