//! `reload`: the new config applied in place. Sessions whose parameters
//! did not change stay up; a changed import policy re-judges what the peer
//! gave and asks it for its routes again (route refresh), a changed export
//! policy re-advertises; announcements follow at once.

use routerd_bgp_core::fsm::Event;
use routerd_bgp_core::policy::{self, RouteFacts, Verdict};
use routerd_bgp_core::wire::{CeaseSubcode, RouteRefresh};
use routerd_contract::event::NewEvent;
use routerd_contract::server::CommandOutcome;
use serde_json::json;

use super::Speaker;
use super::conn::PeerId;
use super::peer::{FAMILIES, local_config};
use crate::spec::{BgpSpec, PeerSpec};

/// The fields of a peer whose change needs a new session.
fn session_part(p: &PeerSpec) -> PeerSpec {
    PeerSpec {
        import: None,
        export: None,
        max_prefixes: None,
        bfd: None,
        resource: String::new(),
        ..p.clone()
    }
}

impl Speaker {
    pub(super) async fn reload(&mut self, new: BgpSpec) -> CommandOutcome {
        let mut kept = Vec::new();
        let mut changed = Vec::new();
        let mut reset = Vec::new();
        let mut added = Vec::new();
        let mut removed = Vec::new();
        let mut needs_restart = Vec::new();
        let old = std::mem::replace(&mut self.spec, new);
        if old.multipath != self.spec.multipath {
            needs_restart.push("multipath");
        }
        if old.fib != self.spec.fib {
            needs_restart.push("fib");
        }
        // Identity and timers every session negotiated with.
        let all_reset = old.asn != self.spec.asn
            || old.router_id != self.spec.router_id
            || old.graceful_restart != self.spec.graceful_restart;

        let current: Vec<(PeerId, Option<String>, PeerSpec)> = self
            .peers
            .values()
            .map(|p| (p.id, p.dynamic.clone(), p.spec.clone()))
            .collect();
        for (id, dynamic, spec) in current {
            if let Some(range) = dynamic {
                let still = self
                    .spec
                    .dynamic_peers
                    .iter()
                    .find(|d| d.name == range && d.covers(spec.address))
                    .map(|d| d.session(spec.address));
                match still {
                    Some(s) if s == spec && !all_reset => kept.push(spec.name),
                    Some(s) if session_part(&s) == session_part(&spec) && !all_reset => {
                        self.retune(id, s).await;
                        changed.push(spec.name);
                    }
                    _ => {
                        self.remove_peer(id, CeaseSubcode::OtherConfigurationChange)
                            .await;
                        removed.push(spec.name);
                    }
                }
                continue;
            }
            let wanted = self
                .spec
                .peers
                .iter()
                .find(|p| p.name == spec.name)
                .cloned();
            match wanted {
                None => {
                    self.remove_peer(id, CeaseSubcode::PeerDeconfigured).await;
                    removed.push(spec.name);
                }
                Some(w)
                    if all_reset
                        || session_part(&w) != session_part(&spec)
                        || local_config(&w, &self.spec) != local_config(&spec, &old) =>
                {
                    self.remove_peer(id, CeaseSubcode::OtherConfigurationChange)
                        .await;
                    self.add_peer(w, None).await;
                    reset.push(spec.name);
                }
                Some(w) if w == spec => kept.push(spec.name),
                Some(w) => {
                    self.retune(id, w).await;
                    changed.push(spec.name);
                }
            }
        }
        for p in self.spec.peers.clone() {
            if !self.peers.values().any(|x| x.spec.name == p.name) {
                added.push(p.name.clone());
                self.add_peer(p, None).await;
            }
        }
        if old.listen != self.spec.listen {
            if let Err(e) = self.open_listener() {
                tracing::error!(error = %e, "cannot open the new listener");
                needs_restart.push("listen");
            }
        } else {
            self.set_listener_keys();
        }
        self.evaluate_announcements("reload");
        let detail = json!({
            "kept": kept, "changed": changed, "reset": reset, "added": added,
            "removed": removed, "needsRestart": needs_restart,
        });
        self.event(
            NewEvent::new("bgp.reloaded", "Reloaded")
                .message("configuration reloaded")
                .attr("detail", detail.clone()),
        );
        CommandOutcome::Done(detail)
    }

    /// Applies policy, max-prefix and BFD changes to a running session.
    async fn retune(&mut self, id: PeerId, new: PeerSpec) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let import_changed = peer.spec.import != new.import;
        let export_changed = peer.spec.export != new.export;
        let bfd_changed = peer.spec.bfd != new.bfd;
        let was_halted = peer.halted.is_some();
        let limit_raised = peer.spec.max_prefixes != new.max_prefixes;
        peer.import = new.import.as_ref().and_then(|p| p.policy().ok());
        peer.export = new.export.as_ref().and_then(|p| p.policy().ok());
        peer.spec = new;
        if import_changed {
            self.rejudge_imports(id);
            if let Some(peer) = self.peers.get_mut(&id)
                && let (Some(up), Some(c)) = (&peer.up, &peer.conn)
                && up.negotiated.route_refresh
            {
                let mut out = Vec::new();
                for f in FAMILIES {
                    if up.carries(f) {
                        RouteRefresh::request(f).encode(&mut out);
                        peer.counters.refreshes_sent += 1;
                    }
                }
                c.send(out);
            }
        }
        if export_changed {
            self.flush_exports();
            self.advertise_all(id);
        }
        if bfd_changed
            && let Some(peer) = self.peers.get_mut(&id)
            && let Some(h) = peer.bfd.take()
        {
            self.bfd_peers.remove(&h.id());
            if let Some(bfd) = &self.bfd {
                let _ = bfd.remove(h.id()).await;
            }
        }
        if was_halted && limit_raised {
            if let Some(p) = self.peers.get_mut(&id) {
                p.halted = None;
            }
            self.feed(id, Event::Start).await;
        }
    }

    /// Drops the peer's accepted routes the new import policy refuses;
    /// the route refresh that follows brings back what it now accepts.
    fn rejudge_imports(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let ebgp = peer.ebgp(self.spec.asn);
        let refused: Vec<ipnet::IpNet> = self
            .rib
            .peer_paths(id)
            .filter(|(prefix, path)| {
                let facts = RouteFacts {
                    prefix,
                    communities: &path.attrs.attrs.communities,
                };
                matches!(
                    policy::decide(peer.import.as_ref(), ebgp, facts),
                    Verdict::Reject(_)
                )
            })
            .map(|(p, _)| *p)
            .collect();
        let mut gone = 0;
        for p in &refused {
            if self.withdraw_path(*p, id) {
                gone += 1;
            }
        }
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.accepted = peer.accepted.saturating_sub(gone);
            peer.rejected.extend(refused);
        }
    }
}
