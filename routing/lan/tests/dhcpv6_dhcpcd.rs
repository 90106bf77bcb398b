//! Our stateless DHCPv6 server against dhcpcd 9 (Debian dhcpcd-base) as the
//! client, in network namespaces: an Information-request answered with our
//! DNS servers, search domains, SNTP servers and refresh time.
//!
//! dhcpcd runs in test mode (`-T`): it sends its request, hands what it got
//! to the script and exits, touching neither the interface nor any file
//! (see the peers README: its stock hooks rewrite /etc/resolv.conf). The
//! script is ours and only writes its environment into the test's own
//! directory; the configuration file is ours too.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{Lab, SETTLE, runtime};
use routerd_lab::{require_command, wait_until};
use routerd_lan::StopMode;
use routerd_lan::dhcpv6_server::{ServerStats, StatelessConfig, run_dhcpv6_server};
use routerd_lan::ra::{AdvertisedPrefix, RaConfig, RaStats, run_ra};
use tokio::sync::{oneshot, watch};

/// Files dhcpcd could leave on the machine, to prove it did not.
fn dhcpcd_files() -> Vec<String> {
    ["/var/lib/dhcpcd", "/run/dhcpcd"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(d)
                .map(|r| {
                    r.filter_map(|e| e.ok())
                        .map(|e| e.path().display().to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect()
}

/// The script dhcpcd calls: its environment into `dir`, nothing else.
fn hook(dir: &Path) -> String {
    let script = dir.join("hook.sh");
    let out = dir.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# dhcpcd test hook: record what dhcpcd learned, change nothing.\n\
             env | sort > \"{out}/env.$$\" && mv \"{out}/env.$$\" \"{out}/env-$reason\"\n"
        ),
    )
    .expect("hook script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script.display().to_string()
}

/// `name=value` from the hook's dump.
fn var<'a>(env: &'a str, name: &str) -> Option<&'a str> {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
}

#[test]
fn dhcpcd_gets_dns_domains_sntp_and_refresh_time_from_an_information_request() {
    let dhcpcd = require_command("dhcpcd");
    // dhcpcd names its pid file and socket after the interface under
    // /run/dhcpcd, shared by all namespaces: a name of our own.
    let ifname = format!("dc{}", std::process::id() % 1_000_000);
    let lab = Lab::new("dhcp6-dhcpcd", &ifname);
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("dhcpcd.conf");
    std::fs::write(
        &conf,
        "# routerd lab: DHCPv6 Information-request only; no system hooks\n\
         ipv6only\nnoipv6rs\nnohook resolv.conf\n\
         # a DUID given here is not generated and stored in /var/lib/dhcpcd\n\
         duid 00:03:00:01:02:00:00:00:00:99\n\
         option dhcp6_name_servers, dhcp6_domain_search, dhcp6_sntp_servers, info_refresh_time\n",
    )
    .expect("dhcpcd config");
    let script = hook(dir.path());
    let before = dhcpcd_files();

    let cfg = StatelessConfig {
        server_duid: Vec::new(), // a DUID-LL from lan0's MAC
        dns_servers: vec![
            "fd00:99:1::53".parse().expect("ip"),
            "fd00:99:1::54".parse().expect("ip"),
        ],
        domains: vec!["lab.example".into(), "corp.example".into()],
        sntp_servers: vec!["fd00:99:1::123".parse().expect("ip")],
        info_refresh: Some(Duration::from_secs(1800)),
    };
    let (_config, rx) = watch::channel(cfg);
    let (stop, stopped) = oneshot::channel::<()>();
    let stats = Arc::new(ServerStats::default());
    let env = std::thread::scope(|scope| {
        let st = stats.clone();
        let router = &lab.router;
        let server = scope.spawn(move || {
            router.in_netns(move || {
                runtime().block_on(run_dhcpv6_server("lan0".into(), rx, stopped, st))
            })
        });
        let client = lab.host.spawn(
            &[
                dhcpcd.to_str().expect("utf-8"),
                "--config",
                conf.to_str().expect("utf-8"),
                "--script",
                &script,
                "--test",
                "--inform6",
                "--nobackground",
                "--timeout",
                "60",
                &ifname,
            ],
            &[],
        );
        let env = wait_until("dhcpcd's report", SETTLE * 2, || {
            std::fs::read_to_string(dir.path().join("env-TEST")).ok()
        });
        client.wait_exit(SETTLE);
        println!(
            "dhcpcd stdout:\n{}\nstderr:\n{}",
            client.stdout(),
            client.stderr()
        );
        let _ = stop.send(());
        server
            .join()
            .expect("the server thread does not panic")
            .expect("the server ends cleanly");
        env
    });
    println!("{env}");
    assert_eq!(
        var(&env, "new_dhcp6_name_servers"),
        Some("fd00:99:1::53 fd00:99:1::54"),
        "{env}"
    );
    assert_eq!(
        var(&env, "new_dhcp6_domain_search"),
        Some("lab.example corp.example"),
        "{env}"
    );
    assert_eq!(
        var(&env, "new_dhcp6_sntp_servers"),
        Some("fd00:99:1::123"),
        "{env}"
    );
    assert_eq!(
        var(&env, "new_dhcp6_info_refresh_time"),
        Some("1800"),
        "{env}"
    );
    assert_eq!(
        var(&env, "new_dhcp6_client_id"),
        Some("00030001020000000099"),
        "the Client Identifier echoed: {env}"
    );
    // The server identified itself with a DUID-LL of lan0's MAC.
    let mac = lab.router.ip_json("link show dev lan0")[0]["address"]
        .as_str()
        .expect("a MAC")
        .replace(':', "");
    let server_id = var(&env, "new_dhcp6_server_id")
        .expect("a server id")
        .replace(':', "");
    assert_eq!(server_id, format!("00030001{mac}"), "{env}");
    let s = stats.snapshot();
    assert!(s.replies >= 1, "{s:?}");
    assert_eq!(s.malformed, 0, "{s:?}");
    assert_eq!(s.send_errors, 0, "{s:?}");
    assert_eq!(dhcpcd_files(), before, "dhcpcd left files behind");
}

#[test]
fn dhcpcd_follows_our_ra_o_flag_to_an_information_request() {
    let dhcpcd = require_command("dhcpcd");
    let ifname = format!("do{}", std::process::id() % 1_000_000);
    let lab = Lab::new("dhcp6-oflag", &ifname);
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("dhcpcd.conf");
    // No noipv6rs and no --inform6: dhcpcd solicits an RA and acts on its
    // O flag by itself.
    std::fs::write(
        &conf,
        "# routerd lab: RA, then what its flags say; no system hooks\n\
         ipv6only\nnohook resolv.conf\n\
         duid 00:03:00:01:02:00:00:00:00:98\n\
         option dhcp6_name_servers, dhcp6_domain_search\n",
    )
    .expect("dhcpcd config");
    let script = hook(dir.path());
    let before = dhcpcd_files();
    let ra = RaConfig {
        other: true,
        router_lifetime: Duration::from_secs(1800),
        prefixes: vec![AdvertisedPrefix::new(
            "fd00:99:1::/64".parse().expect("prefix"),
        )],
        ..RaConfig::default()
    };
    let server_cfg = StatelessConfig {
        server_duid: vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 0x53],
        dns_servers: vec!["fd00:99:1::53".parse().expect("ip")],
        domains: vec!["lab.example".into()],
        ..StatelessConfig::default()
    };
    let (_ra_tx, ra_rx) = watch::channel(ra);
    let (_srv_tx, srv_rx) = watch::channel(server_cfg);
    let (stop, stopped) = watch::channel(false);
    let ra_stats = Arc::new(RaStats::default());
    let stats = Arc::new(ServerStats::default());
    let env = std::thread::scope(|scope| {
        let (st, rst) = (stats.clone(), ra_stats.clone());
        let router = &lab.router;
        let routerd = scope.spawn(move || {
            router.in_netns(move || {
                let until = |mut rx: watch::Receiver<bool>| async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                runtime().block_on(async {
                    let ra = run_ra(
                        "lan0".into(),
                        ra_rx,
                        {
                            let u = until(stopped.clone());
                            async move {
                                u.await;
                                StopMode::Silent
                            }
                        },
                        rst,
                    );
                    let dhcp = run_dhcpv6_server("lan0".into(), srv_rx, until(stopped.clone()), st);
                    tokio::try_join!(ra, dhcp)
                })
            })
        });
        let client = lab.host.spawn(
            &[
                dhcpcd.to_str().expect("utf-8"),
                "--config",
                conf.to_str().expect("utf-8"),
                "--script",
                &script,
                "--test",
                "--nobackground",
                "--timeout",
                "60",
                &ifname,
            ],
            &[],
        );
        let env = wait_until("dhcpcd's report of DHCPv6 options", SETTLE * 2, || {
            std::fs::read_to_string(dir.path().join("env-TEST"))
                .ok()
                .filter(|e| e.contains("new_dhcp6_name_servers="))
        });
        client.wait_exit(SETTLE);
        println!(
            "dhcpcd stdout:\n{}\nstderr:\n{}",
            client.stdout(),
            client.stderr()
        );
        let _ = stop.send(true);
        routerd
            .join()
            .expect("the routerd thread does not panic")
            .expect("both loops end cleanly");
        env
    });
    println!("{env}");
    assert_eq!(
        var(&env, "new_dhcp6_name_servers"),
        Some("fd00:99:1::53"),
        "{env}"
    );
    assert_eq!(
        var(&env, "new_dhcp6_domain_search"),
        Some("lab.example"),
        "{env}"
    );
    assert!(ra_stats.snapshot().solicited_sent + ra_stats.snapshot().unsolicited_sent >= 1);
    assert!(stats.snapshot().replies >= 1);
    assert_eq!(dhcpcd_files(), before, "dhcpcd left files behind");
}
