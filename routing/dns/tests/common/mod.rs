//! In-process DNS responders for the tests: UDP and TCP on one port, DoT and
//! DoH on rustls with a test CA, answering from a tiny zone, switchable into
//! failure modes (SERVFAIL, REFUSED, silence, truncation) while running.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{SOA, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use routerd_dns::{ForwarderSpec, HealthSpec, Protocol, UpstreamSpec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// TTL of the zone's records and of its SOA (the negative TTL).
pub const TTL: u32 = 300;
pub const NEGATIVE_TTL: u32 = 60;

/// What a responder does with a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answer from the zone.
    Answer,
    ServFail,
    Refused,
    /// Never answer.
    Silent,
    /// Over UDP, answer with TC set and no records; over TCP, answer.
    Truncate,
}

/// Names and records a responder knows.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    /// The zone apex: names under it that are unknown get NXDOMAIN with its SOA.
    apex: Option<Name>,
    records: Vec<Record>,
    /// Answer every A query with this address (a catch-all resolver).
    any_a: Option<Ipv4Addr>,
}

impl Zone {
    pub fn new(apex: &str) -> Self {
        Self {
            apex: Some(name(apex)),
            ..Self::default()
        }
    }

    /// Answers any A query with `ip`, any other type with NODATA.
    pub fn any_a(ip: [u8; 4]) -> Self {
        Self {
            any_a: Some(Ipv4Addr::from(ip)),
            ..Self::default()
        }
    }

    pub fn record(mut self, owner: &str, data: RData) -> Self {
        self.records
            .push(Record::from_rdata(name(owner), TTL, data));
        self
    }

    pub fn a(self, owner: &str, ip: &str) -> Self {
        let ip: Ipv4Addr = ip.parse().unwrap();
        self.record(owner, RData::from(ip))
    }

    pub fn aaaa(self, owner: &str, ip: &str) -> Self {
        let ip: std::net::Ipv6Addr = ip.parse().unwrap();
        self.record(owner, RData::from(ip))
    }

    pub fn txt(self, owner: &str, text: &str) -> Self {
        self.record(owner, RData::TXT(TXT::new(vec![text.to_string()])))
    }

    fn answer(&self, request: &Message, udp: bool, mode: Mode) -> Option<Message> {
        let query = request.queries.first()?;
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.add_query(query.clone());
        match mode {
            Mode::Silent => return None,
            Mode::ServFail => {
                response.metadata.response_code = ResponseCode::ServFail;
                return Some(response);
            }
            Mode::Refused => {
                response.metadata.response_code = ResponseCode::Refused;
                return Some(response);
            }
            Mode::Truncate if udp => {
                response.metadata.truncation = true;
                return Some(response);
            }
            Mode::Truncate | Mode::Answer => {}
        }

        let qname = query.name();
        let qtype = query.query_type();
        if let Some(ip) = self.any_a {
            if qtype == RecordType::A {
                response.add_answer(Record::from_rdata(qname.clone(), TTL, RData::from(ip)));
            }
            return Some(response);
        }
        let owned: Vec<&Record> = self.records.iter().filter(|r| &r.name == qname).collect();
        let matching: Vec<Record> = owned
            .iter()
            .filter(|r| r.record_type() == qtype)
            .map(|r| (*r).clone())
            .collect();
        if !matching.is_empty() {
            response.add_answers(matching);
            return Some(response);
        }
        if owned.is_empty() {
            response.metadata.response_code = ResponseCode::NXDomain;
        }
        if let Some(apex) = &self.apex {
            let soa = SOA::new(
                name("ns.invalid."),
                name("hostmaster.invalid."),
                1,
                3600,
                600,
                86400,
                NEGATIVE_TTL,
            );
            response.add_authority(Record::from_rdata(apex.clone(), TTL, RData::SOA(soa)));
        }
        Some(response)
    }
}

pub fn name(s: &str) -> Name {
    let mut n = Name::from_str(s).unwrap();
    n.set_fqdn(true);
    n
}

/// Shared by a responder's tasks.
pub struct State {
    zone: Zone,
    mode: Mutex<Mode>,
    queries: AtomicUsize,
    /// The DoH path served; other paths get 404.
    doh_path: String,
}

impl State {
    fn respond(&self, bytes: &[u8], udp: bool) -> Option<Vec<u8>> {
        let request = Message::from_vec(bytes).ok()?;
        if request.metadata.message_type != MessageType::Query {
            return None;
        }
        self.queries.fetch_add(1, Ordering::SeqCst);
        let mode = *self.mode.lock().unwrap();
        self.zone.answer(&request, udp, mode)?.to_vec().ok()
    }
}

/// A running responder; dropping it stops it.
pub struct Responder {
    pub addr: SocketAddr,
    state: Arc<State>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Responder {
    /// UDP and TCP on the same port of `ip`.
    pub async fn udp_tcp_on(ip: IpAddr, zone: Zone) -> Self {
        let state = state(zone, "/dns-query");
        // The kernel picks a free UDP port; TCP may find it taken, so retry.
        for _ in 0..20 {
            let udp = UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap();
            let addr = udp.local_addr().unwrap();
            let Ok(tcp) = TcpListener::bind(addr).await else {
                continue;
            };
            let tasks = vec![
                tokio::spawn(serve_udp(udp, state.clone())),
                tokio::spawn(serve_tcp(tcp, state.clone(), None)),
            ];
            return Self { addr, state, tasks };
        }
        panic!("no port free for both UDP and TCP on {ip}");
    }

    /// UDP and TCP on 127.0.0.1.
    pub async fn udp_tcp(zone: Zone) -> Self {
        Self::udp_tcp_on(IpAddr::from([127, 0, 0, 1]), zone).await
    }

    /// DNS over TLS on `ip`, with the test certificate.
    pub async fn dot_on(ip: IpAddr, zone: Zone, pki: &TestPki) -> Self {
        let state = state(zone, "/dns-query");
        let tcp = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(pki.server_config(Vec::new()));
        let tasks = vec![tokio::spawn(serve_tcp(tcp, state.clone(), Some(acceptor)))];
        Self { addr, state, tasks }
    }

    /// DNS over TLS on 127.0.0.1.
    pub async fn dot(zone: Zone, pki: &TestPki) -> Self {
        Self::dot_on(IpAddr::from([127, 0, 0, 1]), zone, pki).await
    }

    /// DNS over HTTPS (HTTP/2) on 127.0.0.1, serving `path`.
    pub async fn doh(zone: Zone, pki: &TestPki, path: &str) -> Self {
        let state = state(zone, path);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(pki.server_config(vec![b"h2".to_vec()]));
        let tasks = vec![tokio::spawn(serve_doh(tcp, state.clone(), acceptor))];
        Self { addr, state, tasks }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Queries received so far (over every transport).
    pub fn queries(&self) -> usize {
        self.state.queries.load(Ordering::SeqCst)
    }
}

fn state(zone: Zone, doh_path: &str) -> Arc<State> {
    Arc::new(State {
        zone,
        mode: Mutex::new(Mode::Answer),
        queries: AtomicUsize::new(0),
        doh_path: doh_path.to_string(),
    })
}

async fn serve_udp(socket: UdpSocket, state: Arc<State>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = state.respond(&buf[..len], true) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, state: Arc<State>, tls: Option<TlsAcceptor>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_stream(stream, state).await,
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_stream(stream, state).await;
                    }
                }
            }
        });
    }
}

/// RFC 1035 §4.2.2 framing: a two-byte length before each message.
async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, state: Arc<State>) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut buf = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        if let Some(reply) = state.respond(&buf, false) {
            let Ok(len) = u16::try_from(reply.len()) else {
                return;
            };
            if stream.write_u16(len).await.is_err() || stream.write_all(&reply).await.is_err() {
                return;
            }
        }
    }
}

async fn serve_doh(listener: TcpListener, state: Arc<State>, acceptor: TlsAcceptor) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let Ok(mut conn) = h2::server::handshake(tls).await else {
                return;
            };
            while let Some(Ok((request, respond))) = conn.accept().await {
                tokio::spawn(doh_exchange(request, respond, state.clone()));
            }
        });
    }
}

/// One RFC 8484 POST exchange.
async fn doh_exchange(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    state: Arc<State>,
) {
    let (parts, mut body) = request.into_parts();
    if parts.uri.path() != state.doh_path {
        let response = http::Response::builder().status(404).body(()).unwrap();
        let _ = respond.send_response(response, true);
        return;
    }
    let mut message = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        message.extend_from_slice(&chunk);
    }
    let Some(reply) = state.respond(&message, false) else {
        // Silent: keep the stream open until the client gives up.
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    };
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/dns-message")
        .header("content-length", reply.len())
        .body(())
        .unwrap();
    if let Ok(mut send) = respond.send_response(response, false) {
        let _ = send.send_data(Bytes::from(reply), true);
    }
}

/// A test CA and a server certificate for `dns.test` and 127.0.0.1 signed by it.
pub struct TestPki {
    pub ca_pem: String,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl TestPki {
    pub fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "routerd-dns test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["dns.test".to_string()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, "dns.test");
        leaf.subject_alt_names
            .push(SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        Self {
            ca_pem: ca_cert.pem(),
            cert: cert.der().clone(),
            key: key.serialize_der(),
        }
    }

    fn server_config(&self, alpn: Vec<Vec<u8>>) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![self.cert.clone()], key)
                .unwrap();
        config.alpn_protocols = alpn;
        Arc::new(config)
    }
}

/// An upstream at `addr` over `protocol`.
pub fn upstream(name: &str, protocol: Protocol, addr: SocketAddr) -> UpstreamSpec {
    UpstreamSpec {
        name: name.to_string(),
        protocol,
        addresses: vec![addr.ip()],
        port: Some(addr.port()),
        ..UpstreamSpec::default()
    }
}

/// A forwarder for `domains` asking `upstreams` in order.
pub fn forwarder(name: &str, domains: &[&str], upstreams: &[&str]) -> ForwarderSpec {
    ForwarderSpec {
        name: name.to_string(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        upstreams: upstreams
            .iter()
            .map(|u| format!("DNSUpstream/{u}"))
            .collect(),
        health: None,
    }
}

/// A healthcheck with the given thresholds, passive only.
pub fn thresholds(fail: u32, pass: u32) -> Option<HealthSpec> {
    Some(HealthSpec {
        fail_threshold: Some(fail),
        pass_threshold: Some(pass),
        ..HealthSpec::default()
    })
}

/// A TCP port on 127.0.0.1 with nothing listening (connections are refused).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}
