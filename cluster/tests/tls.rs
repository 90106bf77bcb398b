//! Mutual TLS: a peer without a certificate from the cluster CA cannot reach Raft.

mod common;

use std::time::Duration;

use common::{Options, TestCluster, addr, pki_dir};
use openraft::Vote;
use openraft::raft::VoteRequest;
use routerd_cluster::pki::{self, NodeSpec};
use routerd_lab::Netns;
use routerd_proto::v1::cluster_client::ClusterClient;
use routerd_proto::v1::{RaftPayload, StatusRequest};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

const BASE: u16 = 7300;

fn client_tls(ca: &[u8], identity: Option<(Vec<u8>, Vec<u8>)>) -> ClientTlsConfig {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("n1");
    match identity {
        Some((cert, key)) => tls.identity(Identity::from_pem(cert, key)),
        None => tls,
    }
}

/// Calls Vote on n1 with a term far ahead; `Ok` means the request reached Raft.
async fn vote_with(tls: ClientTlsConfig, term: u64) -> Result<(), String> {
    let endpoint = Endpoint::from_shared(format!("https://{}", addr(BASE, 1)))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let req = VoteRequest::<u64>::new(Vote::new(term, 9), None);
    let json = serde_json::to_vec(&req).map_err(|e| e.to_string())?;
    ClusterClient::new(channel)
        .vote(RaftPayload { json })
        .await
        .map(|_| ())
        .map_err(|s| format!("vote: {s}"))
}

#[test]
fn peers_without_a_cluster_certificate_are_refused() {
    let ns = Netns::new("clustertls");
    ns.in_netns(|| {
        let c = TestCluster::start(3, BASE, Options::default());
        let leader = c.bootstrap();
        let before = c.node(leader).status().term;

        let pki = pki_dir(c.dir.path());
        let ca = std::fs::read(pki.join(pki::CA_CERT)).unwrap();
        // Another cluster's CA issuing a certificate that even claims a member's name.
        let foreign = c.dir.path().join("foreign-pki");
        pki::init_cluster(
            &foreign,
            &[NodeSpec {
                name: "n2".into(),
                ips: vec![],
            }],
        )
        .unwrap();
        let foreign_files = pki::node_files(&foreign, "n2");
        let foreign_id = (
            std::fs::read(&foreign_files.cert).unwrap(),
            std::fs::read(&foreign_files.key).unwrap(),
        );
        let own_files = pki::node_files(&pki, "n2");
        let own_id = (
            std::fs::read(&own_files.cert).unwrap(),
            std::fs::read(&own_files.key).unwrap(),
        );

        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let foreign_vote = vote_with(client_tls(&ca, Some(foreign_id)), before + 100).await;
            eprintln!("foreign-CA peer: {foreign_vote:?}");
            assert!(foreign_vote.is_err(), "a foreign-CA peer reached Raft");
            let anonymous_vote = vote_with(client_tls(&ca, None), before + 200).await;
            eprintln!("anonymous peer: {anonymous_vote:?}");
            assert!(
                anonymous_vote.is_err(),
                "a peer without a certificate reached Raft"
            );

            // Control: the same client code with the cluster's certificate gets through.
            let channel = Endpoint::from_shared(format!("https://{}", addr(BASE, 1)))
                .unwrap()
                .tls_config(client_tls(&ca, Some(own_id)))
                .unwrap()
                .connect()
                .await
                .expect("a member's certificate is accepted");
            let st = ClusterClient::new(channel)
                .status(StatusRequest {})
                .await
                .expect("status over mTLS")
                .into_inner();
            assert_eq!(st.name, "n1");
        });

        // Neither vote reached Raft: no term moved, the leader stayed.
        for n in c.running() {
            let st = n.status();
            assert_eq!(st.term, before, "node {} saw a stranger's term", n.id);
            assert_eq!(st.leader, Some(leader));
        }
    });
}
