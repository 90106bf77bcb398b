//! Every HealthCheck that `routerd validate` accepts becomes a probe spec
//! that routerd-healthcheck accepts too: otherwise a valid config would
//! leave a daemon crash-looping on its own config.

use routerd_actors::controllers::healthcheck::probe_spec;
use routerd_config::kinds::HealthCheck;
use routerd_healthcheck::spec::ProbeSpec;

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

#[test]
fn every_valid_health_check_is_a_valid_probe_spec() {
    let mut rng = Lcg(7);
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..20000 {
        let mut fields = Vec::new();
        for (key, options) in [
            ("protocol", &["", "icmp", "tcp", "http", "dns"][..]),
            (
                "target",
                &[
                    "",
                    "192.0.2.1",
                    "fe80::1",
                    "2001:db8::1",
                    "host.example",
                    "host.example.",
                    "a_b.example",
                    "-x.example",
                    "bad name",
                ],
            ),
            ("targetSource", &["", "static", "defaultGateway", "auto"]),
            ("addressFamily", &["", "ipv4", "ipv6"]),
            ("port", &["", "0", "53", "8080"]),
            ("path", &["", "/healthz", "healthz"]),
            ("query", &["", ".", "example.com", "-bad.example"]),
            ("interval", &["", "50ms", "150ms", "1s"]),
            ("timeout", &["", "5ms", "20ms", "500ms"]),
            ("interface", &["", "lan"]),
            ("healthyThreshold", &["", "1", "3"]),
        ] {
            let value = rng.pick(options);
            if !value.is_empty() {
                fields.push(format!("{key}: \"{value}\""));
            }
        }
        let fields = fields
            .into_iter()
            .map(|f| {
                f.replace("\"0\"", "0")
                    .replace("\"53\"", "53")
                    .replace("\"8080\"", "8080")
                    .replace("\"1\"", "1")
                    .replace("\"3\"", "3")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "apiVersion: routerd.net/v1alpha1\nkind: Router\nmetadata: {{name: t}}\nspec:\n  resources:\n  - {{apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {{name: lan}}, spec: {{ifname: eth1, managed: true}}}}\n  - {{apiVersion: net.routerd.net/v1alpha1, kind: HealthCheck, metadata: {{name: hc}}, spec: {{{fields}}}}}\n"
        );
        let Ok(loaded) = routerd_config::load_str("t.yaml", &text) else {
            invalid += 1;
            continue;
        };
        valid += 1;
        let config = &loaded.config;
        let (_, spec) = config.of_kind::<HealthCheck>().next().expect("the check");
        let json = probe_spec(config, "hc", spec);
        let probe: ProbeSpec = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("the daemon cannot parse {json} (from {{{fields}}}): {e}"));
        if let Err(e) = probe.validate() {
            panic!("validate accepted {{{fields}}} but the daemon refuses {json}: {e}");
        }
    }
    // The sample must exercise both sides.
    assert!(
        valid > 300 && invalid > 300,
        "valid {valid}, invalid {invalid}"
    );
}
