//! `routerctl`: talk to a running routerd over its Unix socket.

#[macro_use]
#[path = "../out.rs"]
mod out;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use futures::StreamExt;
use routerd_contract::server::Command as DaemonCommand;
use routerd_contract::{Client, ClientError, Event};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "routerctl",
    version,
    about = "Inspect and drive a running routerd"
)]
struct Cli {
    /// routerd's API socket.
    #[arg(
        long,
        global = true,
        env = "ROUTERD_SOCKET",
        default_value = "/run/routerd/routerd.sock"
    )]
    socket: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Yaml,
}

#[derive(Subcommand)]
enum Cmd {
    /// routerd's phase, generation, controllers and daemons.
    Status {
        #[arg(short, long, value_enum, default_value = "table")]
        output: Format,
    },
    /// List resources of a kind (or one by name) with their status.
    Get {
        /// Kind (any case, plural allowed), or `all`.
        kind: String,
        /// Resource name.
        name: Option<String>,
        #[arg(short, long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Spec, status and recent events of one resource.
    Describe {
        /// Kind.
        kind: String,
        /// Name.
        name: String,
    },
    /// Print events; with --follow, keep printing new ones.
    Events {
        /// Stream new events as they happen.
        #[arg(short, long)]
        follow: bool,
        /// Only topics matching this glob (`*` one segment, `**` any).
        #[arg(long)]
        topic: Option<String>,
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Print only the newest N (0: all); ignored with --follow.
        #[arg(long, default_value_t = 50)]
        tail: usize,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show what applying a config would change, through the running routerd.
    Plan {
        #[arg(short, long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Make a config the running one (a new generation).
    Apply {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Managed daemons.
    Daemon {
        #[command(subcommand)]
        command: DaemonCmd,
    },
    /// BGP: sessions, neighbours and routes of the routerd-bgp daemons.
    Bgp {
        #[command(subcommand)]
        command: BgpCmd,
        /// Only this BGPRouter (default: every one).
        #[arg(long, global = true)]
        router: Option<String>,
        #[arg(short, long, global = true, value_enum, default_value = "table")]
        output: Format,
    },
    /// IngressServices: backends' health and drains.
    Ingress {
        #[command(subcommand)]
        command: IngressCmd,
    },
    /// routerd's supervision tree with restart counts.
    Actors,
    /// The Raft cluster: status, members, leadership, certificates.
    Cluster {
        #[command(subcommand)]
        command: ClusterCmd,
    },
    /// Re-read routerd's config file.
    Reload,
    /// Reconcile everything now.
    Renew,
    /// Stop routerd (managed daemons keep running and are adopted on restart).
    Stop,
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Create the cluster CA and a certificate for each node (offline; no
    /// routerd needed). Copy DIR to every node (keys are 0600).
    Init {
        /// Output directory (ca.pem, ca.key, NODE.pem, NODE.key).
        #[arg(long)]
        out: PathBuf,
        /// NAME or NAME=IP[,IP...] for each node (IPs go into the certificate).
        #[arg(long = "node", required = true)]
        nodes: Vec<String>,
    },
    /// Raft role, leader, indexes, quorum, generations and VRRP ownership.
    Status {
        #[arg(short, long, value_enum, default_value = "table")]
        output: Format,
    },
    /// The members as this node sees them.
    Members {
        #[arg(short, long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Add a member (as a learner first, then a voter unless --learner).
    Add {
        /// Node name (its certificate's name).
        name: String,
        #[arg(long)]
        id: u64,
        /// host:port of its cluster service.
        #[arg(long)]
        address: String,
        #[arg(long)]
        witness: bool,
        #[arg(long)]
        learner: bool,
    },
    /// Remove a member (by id or name).
    Remove { member: String },
    /// Hand the leadership to a member (by id or name).
    TransferLeader { member: String },
}

#[derive(Subcommand)]
enum BgpCmd {
    /// One line per session: state, uptime, prefixes received/accepted/sent.
    Summary,
    /// Each session in detail: negotiated capabilities, timers, counters,
    /// BFD, last error.
    Neighbors,
    /// The Loc-RIB: best and multipath paths (all, or one PREFIX / the
    /// routes covering an address).
    Routes {
        /// A prefix (exact) or an address (longest match).
        prefix: Option<String>,
    },
}

#[derive(Subcommand)]
enum IngressCmd {
    /// Each service's backends: address, health, drain, whether they take
    /// new connections.
    Status {
        /// One IngressService (default: every one).
        service: Option<String>,
        #[arg(short, long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Take a backend out of new connections without editing the YAML;
    /// open connections continue. Kept across routerd restarts.
    Drain {
        /// SERVICE/BACKEND (or IngressService/SERVICE/BACKEND).
        backend: String,
        /// End the drain by itself after this long (e.g. 30s, 10m, 1h).
        #[arg(long = "for")]
        duration: Option<String>,
    },
    /// Let a drained backend take new connections again.
    Undrain {
        /// SERVICE/BACKEND (or IngressService/SERVICE/BACKEND).
        backend: String,
    },
}

#[derive(Subcommand)]
enum DaemonCmd {
    /// List managed daemons.
    List,
    /// A daemon's supervisor state and its own /v1/status.
    Status {
        /// Daemon name, e.g. healthcheck-upstream.
        name: String,
        #[arg(short, long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Send reload, renew or stop to a daemon.
    Command {
        /// Daemon name.
        name: String,
        /// reload, renew or stop.
        command: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("routerctl: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let client = Client::new(cli.socket.clone()).with_timeout(Duration::from_secs(60));
    match runtime.block_on(run(&client, cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("routerctl: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(client: &Client, command: Cmd) -> Result<ExitCode> {
    match command {
        Cmd::Status { output } => {
            let status: Value = client.get_json("/v1/status").await.map_err(explain)?;
            match output {
                Format::Table => print_status(&status),
                f => print_value(&status, f)?,
            }
        }
        Cmd::Get { kind, name, output } => {
            let (generation, items) = get(client, &kind, name.as_deref()).await?;
            match (output, &name) {
                (Format::Table, _) => {
                    if let Some(g) = generation {
                        outln!("generation {g}");
                    }
                    print_table(&items)
                }
                (f, Some(_)) => print_value(items.first().unwrap_or(&Value::Null), f)?,
                (f, None) => print_value(&Value::Array(items), f)?,
            }
        }
        Cmd::Describe { kind, name } => {
            let path = format!("/v1/resources/{}/{}", encode(&kind), encode(&name));
            let r: Value = client.get_json(&path).await.map_err(explain)?;
            describe(&r)?;
        }
        Cmd::Events {
            follow,
            topic,
            since,
            tail,
            json,
        } => {
            if follow {
                let mut stream = client.follow(since, topic.as_deref());
                while let Some(event) = stream.next().await {
                    print_event(&event.map_err(explain)?, json)?;
                }
            } else {
                // Page through everything after `since`, keeping the newest
                // `tail` (a busy router's log is long; the recent end matters).
                let mut kept = std::collections::VecDeque::new();
                let mut cursor = since;
                loop {
                    let page = client
                        .events(cursor, None, topic.as_deref())
                        .await
                        .map_err(explain)?;
                    let n = page.events.len();
                    for e in page.events {
                        if tail > 0 && kept.len() == tail {
                            kept.pop_front();
                        }
                        kept.push_back(e);
                    }
                    if n == 0 || page.last_seq <= cursor {
                        break;
                    }
                    cursor = page.last_seq;
                }
                for e in &kept {
                    print_event(e, json)?;
                }
            }
        }
        Cmd::Plan { config, json } => {
            let (status, body) = post_file(client, "/v1/plan", &config).await?;
            if status == 422 {
                return Ok(invalid(&body));
            }
            if status != 200 {
                bail!("{}", error_of(&body));
            }
            if json {
                outln!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                // routerd renders the plan the same way `routerd plan` does.
                outln!("{}", body["text"].as_str().unwrap_or_default());
                print_resource_diff(&body["resources"]);
            }
        }
        Cmd::Apply { config } => {
            let (status, body) = post_file(client, "/v1/apply", &config).await?;
            if status == 422 {
                return Ok(invalid(&body));
            }
            if status != 200 {
                bail!("{}", error_of(&body));
            }
            for w in body["warnings"].as_array().into_iter().flatten() {
                eprintln!("{}", w.as_str().unwrap_or_default());
            }
            if body["changed"].as_bool() == Some(true) {
                outln!("Applied generation {}.", body["generation"]);
                print_resource_diff(&body);
            } else {
                outln!(
                    "Unchanged: generation {} already has this config.",
                    body["generation"]
                );
            }
        }
        Cmd::Daemon { command } => daemon(client, command).await?,
        Cmd::Bgp {
            command,
            router,
            output,
        } => bgp(client, command, router.as_deref(), output).await?,
        Cmd::Ingress { command } => ingress(client, command).await?,
        Cmd::Cluster { command } => return cluster(client, command).await,
        Cmd::Actors => {
            let v: Value = client.get_json("/v1/actors").await.map_err(explain)?;
            print_actors(&v);
        }
        Cmd::Reload | Cmd::Renew | Cmd::Stop => {
            let cmd = match command {
                Cmd::Reload => DaemonCommand::Reload,
                Cmd::Renew => DaemonCommand::Renew,
                _ => DaemonCommand::Stop,
            };
            let detail = client.command(cmd).await.map_err(explain)?;
            outln!("{cmd}: done");
            if !detail.is_null() {
                outln!("{}", serde_json::to_string_pretty(&detail)?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Makes "cannot connect" actionable.
async fn cluster(client: &Client, command: ClusterCmd) -> Result<ExitCode> {
    match command {
        ClusterCmd::Init { out, nodes } => {
            let mut specs = Vec::new();
            for n in &nodes {
                let (name, ips) = n.split_once('=').unwrap_or((n.as_str(), ""));
                let ips = ips
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse()
                            .with_context(|| format!("--node {n}: `{s}` is not an IP address"))
                    })
                    .collect::<Result<Vec<_>>>()?;
                specs.push(routerd_cluster::pki::NodeSpec {
                    name: name.to_string(),
                    ips,
                });
            }
            std::fs::create_dir_all(&out).with_context(|| format!("{}", out.display()))?;
            let files = routerd_cluster::pki::init_cluster(&out, &specs)
                .with_context(|| format!("cannot create the cluster PKI in {}", out.display()))?;
            outln!("CA: {}", out.join("ca.pem").display());
            for f in files {
                outln!("node: {} {}", f.cert.display(), f.key.display());
            }
        }
        ClusterCmd::Status { output } => {
            let v: Value = client.get_json("/v1/cluster").await.map_err(explain)?;
            match output {
                Format::Table => print_cluster(&v),
                f => print_value(&v, f)?,
            }
        }
        ClusterCmd::Members { output } => {
            let v: Value = client.get_json("/v1/cluster").await.map_err(explain)?;
            let members = &v["raft"]["members"];
            match output {
                Format::Table => print_members(&v["raft"]),
                f => print_value(members, f)?,
            }
        }
        ClusterCmd::Add {
            name,
            id,
            address,
            witness,
            learner,
        } => {
            let body = serde_json::json!({
                "id": id, "name": name, "address": address, "witness": witness, "voter": !learner,
            });
            let v = post_json(client, "/v1/cluster/members", &body).await?;
            outln!(
                "added {name} (id {id}){}",
                if learner { " as a learner" } else { "" }
            );
            let _ = v;
        }
        ClusterCmd::Remove { member } => {
            let id = member_id(client, &member).await?;
            let path = format!("/v1/cluster/members/{id}");
            let (status, body) = client
                .request_raw(http::Method::DELETE, &path, None, None)
                .await
                .map_err(explain)?;
            if !status.is_success() {
                bail!(
                    "{}",
                    error_of(&serde_json::from_slice(&body).unwrap_or_default())
                );
            }
            outln!("removed {member} (id {id})");
        }
        ClusterCmd::TransferLeader { member } => {
            let id = member_id(client, &member).await?;
            post_json(
                client,
                "/v1/cluster/transfer-leader",
                &serde_json::json!({ "to": id }),
            )
            .await?;
            outln!("leadership handed to {member} (id {id})");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn post_json(client: &Client, path: &str, body: &Value) -> Result<Value> {
    let bytes = serde_json::to_vec(body)?;
    let (status, answer) = client
        .request_raw(
            http::Method::POST,
            path,
            Some(bytes),
            Some("application/json"),
        )
        .await
        .map_err(explain)?;
    let v: Value = serde_json::from_slice(&answer).unwrap_or_default();
    if !status.is_success() {
        bail!("{}", error_of(&v));
    }
    Ok(v)
}

/// A member given by id or by name.
async fn member_id(client: &Client, member: &str) -> Result<u64> {
    if let Ok(id) = member.parse() {
        return Ok(id);
    }
    let v: Value = client.get_json("/v1/cluster").await.map_err(explain)?;
    v["raft"]["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == member)
        .and_then(|m| m["id"].as_u64())
        .with_context(|| format!("no member named {member}"))
}

fn print_cluster(v: &Value) {
    let raft = &v["raft"];
    let s = |x: &Value| match x {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    outln!(
        "node:        {} (id {}){}",
        s(&raft["name"]),
        s(&raft["id"]),
        if v["witness"].as_bool() == Some(true) {
            ", witness"
        } else {
            ""
        }
    );
    outln!(
        "role:        {} (term {})",
        s(&raft["role"]),
        s(&raft["term"])
    );
    outln!(
        "leader:      {} (id {})",
        s(&raft["leaderName"]),
        s(&raft["leader"])
    );
    outln!(
        "quorum:      {}",
        if raft["quorum"].as_bool() == Some(true) {
            "yes"
        } else {
            "NO (VRRP-only after the lease)"
        }
    );
    outln!(
        "log:         last {} committed {} applied {}",
        s(&raft["lastLogIndex"]),
        s(&raft["committedIndex"]),
        s(&raft["appliedIndex"])
    );
    outln!(
        "generation:  served {} committed {}",
        s(&v["generation"]["served"]),
        s(&v["generation"]["committed"])
    );
    outln!();
    print_members(raft);
    let groups = v["ownership"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !groups.is_empty() {
        outln!();
        outln!(
            "{:<16} {:<8} {:<6} {:<8} {}",
            "GROUP",
            "OWNER",
            "EPOCH",
            "LOCAL",
            "CANDIDATES"
        );
        let name_of = |id: &Value| {
            raft["members"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| &m["id"] == id)
                .and_then(|m| m["name"].as_str().map(str::to_string))
                .unwrap_or_else(|| s(id))
        };
        for g in groups {
            let cands: Vec<String> = g["candidates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{}:{}{}",
                        name_of(&c["node"]),
                        s(&c["priority"]),
                        if c["eligible"].as_bool() == Some(true) {
                            ""
                        } else {
                            "(down)"
                        }
                    )
                })
                .collect();
            outln!(
                "{:<16} {:<8} {:<6} {:<8} {}",
                s(&g["group"]),
                name_of(&g["owner"]),
                s(&g["epoch"]),
                s(&g["local"]["role"]),
                cands.join(" ")
            );
        }
    }
}

fn print_members(raft: &Value) {
    outln!(
        "{:<4} {:<12} {:<22} {:<8} {:<8} {}",
        "ID",
        "NAME",
        "ADDRESS",
        "VOTER",
        "WITNESS",
        "LAST-ACK"
    );
    for m in raft["members"].as_array().into_iter().flatten() {
        let ack = match m["millisSinceAck"].as_u64() {
            Some(ms) => format!("{ms}ms"),
            None => "-".into(),
        };
        outln!(
            "{:<4} {:<12} {:<22} {:<8} {:<8} {}",
            m["id"].as_u64().unwrap_or_default(),
            m["name"].as_str().unwrap_or_default(),
            m["addr"].as_str().unwrap_or_default(),
            m["voter"].as_bool().unwrap_or_default(),
            m["witness"].as_bool().unwrap_or_default(),
            ack
        );
    }
}

fn explain(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Connect { .. } => anyhow::anyhow!(
            "{e}\nIs routerd running? Use --socket (or ROUTERD_SOCKET) to point at its socket."
        ),
        other => anyhow::anyhow!(other),
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The served generation (for lists) and the resources.
async fn get(client: &Client, kind: &str, name: Option<&str>) -> Result<(Option<u64>, Vec<Value>)> {
    match name {
        Some(name) => {
            let path = format!("/v1/resources/{}/{}", encode(kind), encode(name));
            let mut v: Value = client.get_json(&path).await.map_err(explain)?;
            if let Some(obj) = v.as_object_mut() {
                obj.remove("events");
            }
            Ok((None, vec![v]))
        }
        None => {
            let path = if kind == "all" {
                "/v1/resources".to_string()
            } else {
                format!("/v1/resources?kind={}", encode(kind))
            };
            let v: Value = client.get_json(&path).await.map_err(explain)?;
            Ok((
                v["generation"].as_u64(),
                v["items"].as_array().cloned().unwrap_or_default(),
            ))
        }
    }
}

async fn post_file(client: &Client, path: &str, file: &PathBuf) -> Result<(u16, Value)> {
    let text = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let label = encode(&file.display().to_string());
    let (status, body) = client
        .request_raw(
            http::Method::POST,
            &format!("{path}?file={label}"),
            Some(text),
            Some("application/yaml"),
        )
        .await
        .map_err(explain)?;
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok((status.as_u16(), value))
}

fn error_of(body: &Value) -> String {
    body["error"]
        .as_str()
        .unwrap_or("request failed")
        .to_string()
}

fn invalid(body: &Value) -> ExitCode {
    for line in body["lines"].as_array().into_iter().flatten() {
        eprintln!("{}", line.as_str().unwrap_or_default());
    }
    eprintln!("{}", error_of(body));
    ExitCode::from(1)
}

fn print_resource_diff(v: &Value) {
    for (key, mark) in [("added", "+"), ("modified", "~"), ("removed", "-")] {
        for r in v[key].as_array().into_iter().flatten() {
            outln!("  {mark} {}", r.as_str().unwrap_or_default());
        }
    }
}

fn print_value(v: &Value, format: Format) -> Result<()> {
    match format {
        Format::Json | Format::Table => outln!("{}", serde_json::to_string_pretty(v)?),
        Format::Yaml => out!(
            "{}",
            serde_saphyr::to_string(v).context("cannot render YAML")?
        ),
    }
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A one-line summary of a resource for the table.
fn summary(item: &Value) -> String {
    let spec = &item["spec"];
    let status = &item["status"];
    match item["kind"].as_str().unwrap_or_default() {
        "Interface" => {
            let addrs: Vec<String> = status["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["scope"] != "link")
                .map(|a| format!("{}/{}", text(&a["address"]), text(&a["prefixLength"])))
                .collect();
            format!(
                "{} mtu {} {}",
                text(&spec["ifname"]),
                text(&status["mtu"]),
                addrs.join(",")
            )
        }
        "IPv4StaticAddress" | "IPv6StaticAddress" => {
            format!("{} on {}", text(&spec["address"]), text(&spec["interface"]))
        }
        "IPv4Route" | "IPv6Route" | "IPv4StaticRoute" | "IPv6StaticRoute" => {
            let via = spec.get("gateway").or_else(|| spec.get("via")).map(text);
            let dev = spec
                .get("device")
                .or_else(|| spec.get("interface"))
                .map(text);
            let mut s = text(&spec["destination"]);
            if let Some(v) = via {
                s.push_str(&format!(" via {v}"));
            }
            if let Some(d) = dev {
                s.push_str(&format!(" dev {d}"));
            }
            if spec["type"] == "blackhole" {
                s.push_str(" blackhole");
            }
            s
        }
        "Sysctl" => format!("{} = {}", text(&spec["key"]), text(&spec["value"])),
        "DHCPv6PrefixDelegation" => match status["prefix"].as_str() {
            Some(p) => format!(
                "{p} on {}{}",
                text(&status["interface"]),
                status["lease"]["expiresInSecs"]
                    .as_u64()
                    .map(|s| format!(" valid {s}s"))
                    .unwrap_or_default()
            ),
            None => format!("on {}", text(&spec["interface"])),
        },
        "DHCPv6Information" => {
            let dns: Vec<String> = status["dnsServers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            let mut s = format!(
                "dns {}",
                if dns.is_empty() {
                    "-".into()
                } else {
                    dns.join(",")
                }
            );
            if let Some(aftr) = status["aftrName"].as_str() {
                s.push_str(&format!(" aftr {aftr}"));
            }
            s
        }
        "DHCPv4Client" => match status["address"].as_str() {
            Some(a) => format!(
                "{a} gw {}{}",
                status["gateway"].as_str().unwrap_or("-"),
                status["expiresInSecs"]
                    .as_u64()
                    .map(|s| format!(" lease {s}s"))
                    .unwrap_or_default()
            ),
            None => format!("on {}", text(&spec["interface"])),
        },
        "IPv6DelegatedAddress" => match status["cidr"].as_str() {
            Some(c) => format!("{c} on {}", text(&spec["interface"])),
            None => format!(
                "from {} on {}",
                text(&spec["prefixDelegation"]),
                text(&spec["interface"])
            ),
        },
        "IPv6RouterAdvertisement" => {
            let prefixes: Vec<String> = status["prefixes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| text(&p["prefix"]))
                .collect();
            format!(
                "{} {} router lifetime {}s",
                text(&status["ifname"]),
                if prefixes.is_empty() {
                    "no prefix".into()
                } else {
                    prefixes.join(",")
                },
                text(&status["routerLifetime"])
            )
        }
        "DHCPv6Server" => {
            let dns: Vec<String> = status["dnsServers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            format!(
                "{} dns {}",
                text(&status["ifname"]),
                if dns.is_empty() {
                    "-".into()
                } else {
                    dns.join(",")
                }
            )
        }
        "DNSUpstream" => {
            let addrs: Vec<String> = status["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            format!("{} {}", text(&spec["protocol"]), addrs.join(","))
        }
        "DNSForwarder" => {
            let domains: Vec<String> = spec["match"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            format!(
                "{} -> {}",
                domains.join(","),
                status["effectiveOrder"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        "DSLiteTunnel" => format!(
            "{} {} -> {}",
            text(&status["tunnel"]),
            status["localAddress"].as_str().unwrap_or("?"),
            status["aftr"]
                .as_str()
                .or(status["aftrName"].as_str())
                .unwrap_or("?")
        ),
        "HealthCheck" => {
            let target = status["resolvedTarget"]
                .as_str()
                .or(spec["target"].as_str())
                .unwrap_or("default gateway");
            let proto = spec["protocol"].as_str().unwrap_or("icmp");
            match status["lastResult"]["rttMs"].as_f64() {
                Some(rtt) => format!("{proto} {target} rtt {rtt:.1}ms"),
                None => format!("{proto} {target}"),
            }
        }
        "BGPRouter" => {
            let c = &status["counters"];
            if c.is_null() {
                String::new()
            } else {
                format!(
                    "AS {} {}/{} sessions up, {} prefixes",
                    text(&status["asn"]),
                    text(&c["established"]),
                    text(&c["peers"]),
                    text(&c["prefixes"])
                )
            }
        }
        "BGPPeer" | "BGPDynamicPeer" => {
            if status["sessions"].is_null() {
                String::new()
            } else {
                // The first session that is not up says why.
                let down = status["peers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p["state"] != "Established")
                    .map(|p| format!(", {} {}", text(&p["address"]), text(&p["state"])))
                    .unwrap_or_default();
                format!(
                    "{}/{} up, {} accepted{down}",
                    text(&status["established"]),
                    text(&status["sessions"]),
                    text(&status["prefixesAccepted"])
                )
            }
        }
        "BGPAnnouncement" => {
            let mut states: std::collections::BTreeMap<String, usize> = Default::default();
            for p in status["prefixes"].as_array().into_iter().flatten() {
                *states
                    .entry(p["state"].as_str().unwrap_or("?").to_lowercase())
                    .or_default() += 1;
            }
            states
                .iter()
                .map(|(state, n)| format!("{n} {state}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
        "IngressService" => {
            // VIP, listener, selection, how many backends take new
            // connections, and why the others do not.
            let backends = status["backends"].as_array().cloned().unwrap_or_default();
            let eligible = backends.iter().filter(|b| b["eligible"] == true).count();
            let others: Vec<String> = backends
                .iter()
                .filter(|b| b["eligible"] != true)
                .map(|b| {
                    let why = if b["drained"] == true {
                        "drained".to_string()
                    } else {
                        b["health"].as_str().unwrap_or("?").to_lowercase()
                    };
                    format!("{} {why}", text(&b["name"]))
                })
                .collect();
            let mut line = format!(
                "{} {}/{} {} {eligible}/{} backends",
                status["address"]
                    .as_str()
                    .or(spec["listen"]["address"].as_str())
                    .unwrap_or("?"),
                text(&spec["listen"]["protocol"]),
                text(&spec["listen"]["port"]),
                status["selection"].as_str().unwrap_or("?"),
                backends.len()
            );
            if !others.is_empty() {
                line.push_str(&format!(" ({})", others.join(", ")));
            }
            if status["vipHeld"] == false {
                line.push_str(", VIP not on this node");
            }
            line
        }
        _ => String::new(),
    }
}

fn print_table(items: &[Value]) {
    let rows: Vec<[String; 5]> = items
        .iter()
        .map(|i| {
            let status = &i["status"];
            [
                text(&i["kind"]),
                text(&i["name"]),
                status["phase"]
                    .as_str()
                    .filter(|p| !p.is_empty())
                    .unwrap_or("Unknown")
                    .to_string(),
                summary(i),
                status["message"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect();
    let header = ["KIND", "NAME", "PHASE", "DETAIL", "MESSAGE"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        outln!("{}", line.join("  ").trim_end());
    }
}

fn print_status(s: &Value) {
    let d = &s["status"];
    outln!(
        "routerd      {}  pid {}  since {}",
        text(&s["phase"]),
        text(&s["pid"]),
        text(&s["startedAt"])
    );
    outln!(
        "router       {}  generation {}  applied {}",
        text(&d["router"]),
        text(&d["generation"]),
        text(&d["appliedAt"])
    );
    let phases: Vec<String> = d["phases"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{v} {}", if k.is_empty() { "Unknown" } else { k }))
        .collect();
    outln!(
        "resources    {} ({})",
        text(&d["resources"]),
        phases.join(", ")
    );
    for c in d["controllers"].as_array().into_iter().flatten() {
        let state = match c["lastError"].as_str() {
            Some(e) => format!("error: {e}"),
            None => format!("ok, {} reconciles", text(&c["reconciles"])),
        };
        outln!("controller   {:<14} {state}", text(&c["name"]));
    }
    for dmn in d["daemons"].as_array().into_iter().flatten() {
        outln!(
            "daemon       {:<24} {}  pid {}  restarts {}",
            text(&dmn["name"]),
            text(&dmn["state"]),
            text(&dmn["pid"]),
            text(&dmn["restarts"])
        );
    }
    outln!("events       last seq {}", text(&s["lastEventSeq"]));
}

fn describe(r: &Value) -> Result<()> {
    outln!("Name:     {}", text(&r["name"]));
    outln!("Kind:     {}", text(&r["kind"]));
    outln!("API:      {}", text(&r["apiVersion"]));
    let status = &r["status"];
    outln!(
        "Phase:    {}",
        status["phase"].as_str().unwrap_or("Unknown")
    );
    if let Some(m) = status["message"].as_str() {
        outln!("Message:  {m}");
    }
    if let Some(t) = status.get("lastTransition").filter(|t| !t.is_null()) {
        outln!(
            "Last transition: {} → {} at {} ({})",
            t["from"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("(none)"),
            text(&t["to"]),
            text(&t["time"]),
            text(&t["reason"])
        );
    }
    outln!("Spec:");
    print_indented(&serde_saphyr::to_string(&r["spec"]).unwrap_or_default());
    let mut fields = status.clone();
    if let Some(obj) = fields.as_object_mut() {
        for k in ["phase", "message", "lastTransition"] {
            obj.remove(k);
        }
    }
    outln!("Status:");
    print_indented(&serde_saphyr::to_string(&fields).unwrap_or_default());
    outln!("Events:");
    let events = r["events"].as_array().cloned().unwrap_or_default();
    if events.is_empty() {
        outln!("  (none)");
    }
    for e in events {
        let e: Event = serde_json::from_value(e)?;
        outln!("  {}  {:<20} {}", e.time, e.reason, e.message);
    }
    Ok(())
}

fn print_indented(text: &str) {
    for line in text.lines() {
        outln!("  {line}");
    }
}

fn print_event(e: &Event, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string(e)?);
    } else {
        outln!(
            "{:>6} {} {:<28} {:<40} {:<18} {}",
            e.seq,
            e.time,
            e.source,
            e.topic,
            e.reason,
            e.message
        );
    }
    Ok(())
}

fn print_actors(v: &Value) {
    for (name, node) in v["tree"].as_object().into_iter().flatten() {
        outln!(
            "{name} ({})",
            if node["running"] == true {
                "running"
            } else {
                "down"
            }
        );
        for c in node["children"].as_array().into_iter().flatten() {
            let err = c["lastError"]
                .as_str()
                .map(|e| format!("  last error: {e}"))
                .unwrap_or_default();
            outln!(
                "  {:<22} {}  restarts {}{err}",
                text(&c["name"]),
                if c["running"] == true {
                    "running"
                } else {
                    "restarting"
                },
                text(&c["restarts"])
            );
        }
    }
}

async fn ingress(client: &Client, command: IngressCmd) -> Result<()> {
    match command {
        IngressCmd::Drain { backend, duration } => {
            let mut body = json!({ "backend": backend });
            if let Some(d) = duration {
                body["for"] = json!(d);
            }
            let v = post_json(client, "/v1/ingress/drain", &body).await?;
            outln!("{}", v["message"].as_str().unwrap_or_default());
        }
        IngressCmd::Undrain { backend } => {
            let v = post_json(
                client,
                "/v1/ingress/undrain",
                &json!({ "backend": backend }),
            )
            .await?;
            outln!("{}", v["message"].as_str().unwrap_or_default());
        }
        IngressCmd::Status { service, output } => {
            let (_, items) = get(client, "IngressService", service.as_deref()).await?;
            if output != Format::Table {
                return print_value(&json!(items), output);
            }
            for item in &items {
                let status = &item["status"];
                outln!(
                    "IngressService/{}  {}  {} {}/{}  {}{}",
                    item["name"].as_str().unwrap_or_default(),
                    status["phase"].as_str().unwrap_or("-"),
                    status["address"].as_str().unwrap_or("-"),
                    status["protocol"].as_str().unwrap_or("-"),
                    status["port"],
                    status["selection"].as_str().unwrap_or("-"),
                    if status["vipHeld"].as_bool() == Some(true) {
                        "  (VIP held here)"
                    } else {
                        ""
                    }
                );
                outln!(
                    "  {:<16} {:<40} {:<11} {:<8} {:<30} MESSAGE",
                    "BACKEND",
                    "ADDRESS",
                    "HEALTH",
                    "ELIGIBLE",
                    "DRAIN"
                );
                for b in status["backends"].as_array().into_iter().flatten() {
                    let drain = match (b["drained"].as_bool(), b["drainingUntil"].as_str()) {
                        (Some(true), Some(until)) => format!("until {until}"),
                        (Some(true), None) => "drained".into(),
                        _ => "-".into(),
                    };
                    let address = match b["address"].as_str() {
                        Some(a) => format!("{a}:{}", b["port"]),
                        None => "-".into(),
                    };
                    outln!(
                        "  {:<16} {:<40} {:<11} {:<8} {:<30} {}",
                        b["name"].as_str().unwrap_or_default(),
                        address,
                        b["health"].as_str().unwrap_or("-"),
                        if b["eligible"].as_bool() == Some(true) {
                            "yes"
                        } else {
                            "no"
                        },
                        drain,
                        b["message"].as_str().unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

async fn bgp(client: &Client, command: BgpCmd, router: Option<&str>, output: Format) -> Result<()> {
    let (view, prefix) = match &command {
        BgpCmd::Summary => ("summary", None),
        BgpCmd::Neighbors => ("neighbors", None),
        BgpCmd::Routes { prefix } => ("routes", prefix.as_deref()),
    };
    let mut query = Vec::new();
    if let Some(r) = router {
        query.push(format!("router={}", encode(r)));
    }
    if let Some(p) = prefix {
        query.push(format!("prefix={}", encode(p)));
    }
    let path = if query.is_empty() {
        format!("/v1/bgp/{view}")
    } else {
        format!("/v1/bgp/{view}?{}", query.join("&"))
    };
    let (status, body) = client
        .request_raw(http::Method::GET, &path, None, None)
        .await
        .map_err(explain)?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{}", error_of(&v));
    }
    if output != Format::Table {
        return print_value(&v, output);
    }
    for (name, answer) in v["routers"].as_object().into_iter().flatten() {
        if let Some(e) = answer["error"].as_str() {
            outln!("BGPRouter/{name}: {e}");
            continue;
        }
        match command {
            BgpCmd::Summary => print_bgp_summary(name, answer),
            BgpCmd::Neighbors => print_bgp_neighbors(name, answer),
            BgpCmd::Routes { .. } => print_bgp_routes(name, answer),
        }
    }
    Ok(())
}

fn uptime(v: &Value) -> String {
    let Some(secs) = v.as_u64() else {
        return "never".into();
    };
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

fn print_bgp_summary(name: &str, v: &Value) {
    outln!(
        "BGPRouter/{name}: AS {}, router ID {}, {} IPv4 and {} IPv6 prefixes, {} in the kernel",
        text(&v["asn"]),
        text(&v["routerId"]),
        text(&v["routes"]["ipv4"]),
        text(&v["routes"]["ipv6"]),
        text(&v["fibRoutes"])
    );
    outln!(
        "{:<40} {:>10} {:<12} {:>10} {:>8} {:>8} {:>8}",
        "NEIGHBOR",
        "AS",
        "STATE",
        "UP/DOWN",
        "RCVD",
        "ACCEPTED",
        "SENT"
    );
    for p in v["peers"].as_array().into_iter().flatten() {
        outln!(
            "{:<40} {:>10} {:<12} {:>10} {:>8} {:>8} {:>8}",
            text(&p["address"]),
            text(&p["peerAsn"]),
            text(&p["state"]),
            uptime(&p["uptimeSecs"]),
            text(&p["prefixesReceived"]),
            text(&p["prefixesAccepted"]),
            text(&p["prefixesSent"])
        );
    }
}

fn print_bgp_neighbors(name: &str, v: &Value) {
    for p in v["neighbors"].as_array().into_iter().flatten() {
        outln!(
            "BGPRouter/{name} neighbor {} ({}), AS {}: {}",
            text(&p["address"]),
            text(&p["resource"]),
            text(&p["peerAsn"]),
            text(&p["state"])
        );
        let mut rest = p.clone();
        if let Some(obj) = rest.as_object_mut() {
            for key in ["address", "resource", "peerAsn", "state"] {
                obj.remove(key);
            }
        }
        print_indented(&serde_saphyr::to_string(&rest).unwrap_or_default());
    }
}

fn print_bgp_routes(name: &str, v: &Value) {
    outln!("BGPRouter/{name}: {} prefixes", text(&v["count"]));
    outln!(
        "  {:<3} {:<43} {:<40} {:>6} {:>6}  PATH",
        "",
        "PREFIX",
        "NEXT HOP",
        "LPREF",
        "MED"
    );
    for r in v["routes"].as_array().into_iter().flatten() {
        for (i, path) in r["paths"].as_array().into_iter().flatten().enumerate() {
            let mark = match (path["best"].as_bool(), path["multipath"].as_bool()) {
                (Some(true), _) => "*>",
                (_, Some(true)) => "*=",
                _ => "* ",
            };
            let prefix = if i == 0 {
                text(&r["prefix"])
            } else {
                String::new()
            };
            let as_path = path["asPath"]
                .as_array()
                .map(|a| a.iter().map(text).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| text(&path["asPath"]));
            outln!(
                "  {:<3} {:<43} {:<40} {:>6} {:>6}  {} {}",
                mark,
                prefix,
                text(&path["nextHop"]),
                text(&path["localPref"]),
                text(&path["med"]),
                as_path,
                text(&path["origin"])
            );
        }
    }
}

async fn daemon(client: &Client, command: DaemonCmd) -> Result<()> {
    match command {
        DaemonCmd::List => {
            let v: Value = client.get_json("/v1/daemons").await.map_err(explain)?;
            outln!(
                "{:<28} {:<10} {:>8} {:>8}  RESOURCE",
                "NAME",
                "STATE",
                "PID",
                "RESTARTS"
            );
            for d in v["items"].as_array().into_iter().flatten() {
                outln!(
                    "{:<28} {:<10} {:>8} {:>8}  {}",
                    text(&d["name"]),
                    text(&d["state"]),
                    text(&d["pid"]),
                    text(&d["restarts"]),
                    text(&d["resource"])
                );
            }
        }
        DaemonCmd::Status { name, output } => {
            let v: Value = client
                .get_json(&format!("/v1/daemons/{}", encode(&name)))
                .await
                .map_err(explain)?;
            if output == Format::Table {
                let s = &v["supervisor"];
                let d = &v["daemon"];
                outln!("Daemon:    {} ({})", text(&s["name"]), text(&s["program"]));
                outln!(
                    "State:     {}  pid {}  restarts {}",
                    text(&s["state"]),
                    text(&s["pid"]),
                    text(&s["restarts"])
                );
                if let Some(exit) = s["lastExit"].as_str() {
                    outln!("Last exit: {exit}");
                }
                outln!("Socket:    {}", text(&s["socket"]));
                outln!("Phase:     {}", text(&d["phase"]));
                outln!("Status:");
                print_indented(&serde_saphyr::to_string(&d["status"]).unwrap_or_default());
            } else {
                print_value(&v, output)?;
            }
        }
        DaemonCmd::Command { name, command } => {
            let (status, body) = client
                .request_raw(
                    http::Method::POST,
                    &format!(
                        "/v1/daemons/{}/commands/{}",
                        encode(&name),
                        encode(&command)
                    ),
                    None,
                    None,
                )
                .await
                .map_err(explain)?;
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if !status.is_success() {
                bail!("{}", error_of(&body));
            }
            outln!("{}", serde_json::to_string_pretty(&body)?);
        }
    }
    Ok(())
}
