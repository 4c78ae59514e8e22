//! Loading a large configuration: 200 hosts in 10 roles, 10 accessories, ERB, a destination
//! file, anchors and env tags. Target: well under 20 ms per load (ERB, YAML, both passes).

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gantry::config::{LoadOptions, load_with_env};

/// deploy.yml and deploy.bench.yml for `roles` roles of `hosts_per_role` hosts each.
fn generate(roles: usize, hosts_per_role: usize, accessories: usize) -> (String, String) {
    let mut base = String::from(
        "service: big\nimage: acme/big\nx-defaults: &defaults\n  options:\n    memory: 1g\n    cpus: 2\n\
         registry:\n  server: <%= ENV.fetch(\"REGISTRY\", \"ghcr.io\") %>\n  username: acme\n  password: [TOKEN]\n\
         builder:\n  arch: amd64\nproxy:\n  host: big.example.com\n  app_port: 3000\n  healthcheck:\n    path: /up\n\
         env:\n  clear:\n    RAILS_ENV: production\n  secret: [RAILS_MASTER_KEY, DATABASE_URL:PRIMARY_URL]\n  tags:\n    canary:\n      CANARY: \"1\"\nservers:\n",
    );
    for role in 0..roles {
        let name = if role == 0 {
            "web".to_string()
        } else {
            format!("role{role:02}")
        };
        let _ = writeln!(
            base,
            "  {name}:\n    <<: *defaults\n    cmd: bin/{name}\n    labels:\n      tier: t{role}\n    env:\n      clear:\n        ROLE: {name}\n    hosts:"
        );
        for host in 0..hosts_per_role {
            if host % 10 == 0 {
                let _ = writeln!(base, "      - 10.{role}.0.{host}: canary");
            } else {
                let _ = writeln!(base, "      - 10.{role}.0.{host}");
            }
        }
    }
    base.push_str("accessories:\n");
    for accessory in 0..accessories {
        let _ = writeln!(
            base,
            "  acc{accessory}:\n    image: redis:7\n    host: 10.99.0.{accessory}\n    port: {port}\n    env:\n      secret: [ACC_PASSWORD]\n    directories:\n      - data:/data\n    options:\n      restart: always",
            port = 6000 + accessory
        );
    }
    let overlay =
        "proxy:\n  host: bench.example.com\nenv:\n  clear:\n    RAILS_ENV: bench\n".to_string();
    (base, overlay)
}

fn bench_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, overlay) = generate(10, 20, 10);
    let config_file = dir.path().join("deploy.yml");
    std::fs::write(&config_file, base).expect("write deploy.yml");
    std::fs::write(dir.path().join("deploy.bench.yml"), overlay).expect("write deploy.bench.yml");
    let options = LoadOptions {
        config_file,
        destination: Some("bench".to_string()),
    };
    let loaded = load_with_env(&options, &|_| None).expect("the generated config loads");
    assert_eq!(loaded.config.all_hosts().len(), 210);
    c.bench_function("load 200 hosts, 10 roles, 10 accessories", |b| {
        b.iter(|| load_with_env(black_box(&options), &|_| None))
    });
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
