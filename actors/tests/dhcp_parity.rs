//! Every DHCPv4Client and DHCPv6PrefixDelegation that `routerd validate`
//! accepts becomes a daemon config that routerd-dhcpv4-client or
//! routerd-dhcpv6-client accepts too: otherwise a valid config would leave
//! a daemon restarting on its own config.

use routerd_actors::controllers::dhcp::{Link, dhcpv4_config, dhcpv6_config};
use routerd_config::kinds::{DHCPv4Client, DHCPv6PrefixDelegation};
use routerd_dhcpv4_client::spec::Dhcpv4Spec;
use routerd_dhcpv6_client::spec::Dhcpv6Spec;

/// A small deterministic generator, so the sample is the same every run.
struct Lcg(u64);

impl Lcg {
    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        options[(self.0 >> 33) as usize % options.len()]
    }
}

fn resource(kind: &str, fields: &[String]) -> String {
    format!(
        "apiVersion: routerd.net/v1alpha1\nkind: Router\nmetadata: {{name: t}}\nspec:\n  resources:\n  - {{apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {{name: wan}}, spec: {{ifname: eth0, managed: false}}}}\n  - {{apiVersion: net.routerd.net/v1alpha1, kind: {kind}, metadata: {{name: c}}, spec: {{interface: wan, {}}}}}\n",
        fields.join(", ")
    )
}

fn sample(rng: &mut Lcg, table: &[(&str, &[&str])]) -> Vec<String> {
    let mut fields = Vec::new();
    for (key, options) in table {
        let value = rng.pick(options);
        if !value.is_empty() {
            fields.push(format!("{key}: {value}"));
        }
    }
    fields
}

fn written(dir: &tempfile::TempDir, json: &serde_json::Value) -> std::path::PathBuf {
    let path = dir.path().join("config.json");
    std::fs::write(&path, json.to_string()).expect("write the daemon config");
    path
}

#[test]
fn every_valid_dhcpv4_client_is_a_valid_daemon_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Lcg(11);
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..4000 {
        let fields = sample(
            &mut rng,
            &[
                (
                    "hostname",
                    &[
                        "",
                        "edge1",
                        "edge1.example",
                        "\"a..b\"",
                        "\"-x\"",
                        "\"host_name\"",
                    ],
                ),
                (
                    "clientID",
                    &[
                        "",
                        "\"01:52:54:00:12:34:56\"",
                        "\"x\"",
                        "\"router-one\"",
                        "\"01\"",
                    ],
                ),
                ("classID", &["", "\"routerd\"", "\"\""]),
                (
                    "requestedAddress",
                    &[
                        "",
                        "192.0.2.9",
                        "0.1.2.3",
                        "240.0.0.1",
                        "255.255.255.255",
                        "127.0.0.1",
                    ],
                ),
                ("routeMetric", &["", "0", "100"]),
                ("useRoutes", &["", "true", "false"]),
            ],
        );
        let Ok(loaded) = routerd_config::load_str("t.yaml", &resource("DHCPv4Client", &fields))
        else {
            invalid += 1;
            continue;
        };
        valid += 1;
        let (r, spec) = loaded
            .config
            .of_kind::<DHCPv4Client>()
            .next()
            .expect("client");
        let json = dhcpv4_config(&r.name, "eth0", spec);
        if let Err(e) = Dhcpv4Spec::load(&written(&dir, &json)) {
            panic!("validate accepted {fields:?} but the daemon refuses {json}: {e}");
        }
    }
    assert!(
        valid > 100 && invalid > 100,
        "valid {valid}, invalid {invalid}"
    );
}

#[test]
fn every_valid_prefix_delegation_is_a_valid_daemon_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Lcg(13);
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..4000 {
        let fields = sample(
            &mut rng,
            &[
                ("prefixLength", &["", "48", "56", "60", "64", "0", "129"]),
                ("profile", &["", "default", "ntt-hgw-lan-pd"]),
                (
                    "clientDUID",
                    &["", "\"00:03:00:01:52:54:00:00:00:01\"", "\"zz\"", "\"00\""],
                ),
                ("iaid", &["", "1", "4294967295"]),
                ("rapidCommit", &["", "true", "false"]),
                ("solicitMaxDelay", &["", "0s", "100ms", "2m"]),
            ],
        );
        let Ok(loaded) =
            routerd_config::load_str("t.yaml", &resource("DHCPv6PrefixDelegation", &fields))
        else {
            invalid += 1;
            continue;
        };
        valid += 1;
        let pd = loaded
            .config
            .of_kind::<DHCPv6PrefixDelegation>()
            .next()
            .expect("pd");
        let link = Link {
            pd: Some(pd),
            info: None,
        };
        let json = dhcpv6_config("eth0", &link);
        if let Err(e) = Dhcpv6Spec::load(&written(&dir, &json)) {
            panic!("validate accepted {fields:?} but the daemon refuses {json}: {e}");
        }
    }
    assert!(
        valid > 100 && invalid > 100,
        "valid {valid}, invalid {invalid}"
    );
}
