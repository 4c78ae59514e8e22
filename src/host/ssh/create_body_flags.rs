//! One row per `docker run` flag of specs/config.md's "docker options" table: the flag in a
//! role's `options:`, through the desired stage, changes exactly these fields of the create body
//! (compared with the body for no options; exact equality). Each supported flag must have a row.

use serde_json::{Value, json};

use crate::docker_args::FLAGS;
use crate::model::{DockerOptionValue, DockerOptions};

use super::create_body::create_body;

/// The create body of the `web` container of a one-host config whose role has `options`.
fn body_with(options: Vec<(String, DockerOptionValue)>) -> Value {
    let mut config = crate::testing::config(&["h1"]);
    config.roles[0].options = DockerOptions(options);
    let desired = crate::testing::desired(&config, "v1");
    let spec = &desired.hosts[0].apps[0].container;
    serde_json::to_value(create_body(spec)).expect("JSON")
}

/// The parts of `body` that differ from `baseline`, keeping the nesting; `null` for a removed key.
fn difference(baseline: &Value, body: &Value) -> Option<Value> {
    match (baseline, body) {
        (Value::Object(before), Value::Object(after)) => {
            let mut changed = serde_json::Map::new();
            for (key, value) in after {
                match before.get(key) {
                    Some(old) => {
                        if let Some(inner) = difference(old, value) {
                            changed.insert(key.clone(), inner);
                        }
                    }
                    None => {
                        changed.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in before.keys().filter(|key| !after.contains_key(*key)) {
                changed.insert(key.clone(), Value::Null);
            }
            (!changed.is_empty()).then_some(Value::Object(changed))
        }
        _ => (baseline != body).then(|| body.clone()),
    }
}

fn value(text: &str) -> DockerOptionValue {
    DockerOptionValue::Value(text.to_string())
}

fn on() -> DockerOptionValue {
    DockerOptionValue::Flag(true)
}

/// `(flag, value, what changes in the create body)`.
fn rows() -> Vec<(&'static str, DockerOptionValue, Value)> {
    let hc = |fields: Value| json!({ "HostConfig": fields });
    vec![
        (
            "add-host",
            value("db:10.0.0.5"),
            hc(json!({"ExtraHosts": ["db:10.0.0.5"]})),
        ),
        (
            "blkio-weight",
            value("300"),
            hc(json!({"BlkioWeight": 300})),
        ),
        (
            "cap-add",
            value("net_admin"),
            hc(json!({"CapAdd": ["CAP_NET_ADMIN"]})),
        ),
        (
            "cap-drop",
            value("MKNOD"),
            hc(json!({"CapDrop": ["CAP_MKNOD"]})),
        ),
        (
            "cgroupns",
            value("private"),
            hc(json!({"CgroupnsMode": "private"})),
        ),
        (
            "cgroup-parent",
            value("/gantry"),
            hc(json!({"CgroupParent": "/gantry"})),
        ),
        (
            "cpu-period",
            value("100000"),
            hc(json!({"CpuPeriod": 100000})),
        ),
        ("cpu-quota", value("50000"), hc(json!({"CpuQuota": 50000}))),
        (
            "cpu-rt-period",
            value("1000000"),
            hc(json!({"CpuRealtimePeriod": 1000000})),
        ),
        (
            "cpu-rt-runtime",
            value("950000"),
            hc(json!({"CpuRealtimeRuntime": 950000})),
        ),
        ("cpu-shares", value("512"), hc(json!({"CpuShares": 512}))),
        ("cpus", value("1.5"), hc(json!({"NanoCpus": 1_500_000_000}))),
        (
            "cpuset-cpus",
            value("0-1"),
            hc(json!({"CpusetCpus": "0-1"})),
        ),
        ("cpuset-mems", value("0"), hc(json!({"CpusetMems": "0"}))),
        (
            "device",
            value("/dev/fuse"),
            hc(
                json!({"Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}]}),
            ),
        ),
        (
            "blkio-weight-device",
            value("/dev/sda:300"),
            hc(json!({"BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 300}]})),
        ),
        (
            "device-read-bps",
            value("/dev/sda:1mb"),
            hc(json!({"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1_048_576}]})),
        ),
        (
            "device-read-iops",
            value("/dev/sda:1000"),
            hc(json!({"BlkioDeviceReadIOps": [{"Path": "/dev/sda", "Rate": 1000}]})),
        ),
        (
            "device-write-bps",
            value("/dev/sdb:2m"),
            hc(json!({"BlkioDeviceWriteBps": [{"Path": "/dev/sdb", "Rate": 2_097_152}]})),
        ),
        (
            "device-write-iops",
            value("/dev/sdb:500"),
            hc(json!({"BlkioDeviceWriteIOps": [{"Path": "/dev/sdb", "Rate": 500}]})),
        ),
        (
            "device-cgroup-rule",
            value("c 1:3 mr"),
            hc(json!({"DeviceCgroupRules": ["c 1:3 mr"]})),
        ),
        ("dns", value("10.0.0.2"), hc(json!({"Dns": ["10.0.0.2"]}))),
        (
            "dns-option",
            value("ndots:2"),
            hc(json!({"DnsOptions": ["ndots:2"]})),
        ),
        (
            "dns-search",
            value("internal"),
            hc(json!({"DnsSearch": ["internal"]})),
        ),
        (
            "domainname",
            value("internal"),
            json!({"Domainname": "internal"}),
        ),
        (
            "entrypoint",
            value("/bin/entry"),
            json!({"Entrypoint": ["/bin/entry"]}),
        ),
        (
            "env",
            value("EXTRA=1"),
            json!({"Env": ["DB_PASSWORD=s3cret-db", "EXTRA=1", "KAMAL_CONTAINER_NAME=app-web-v1", "KAMAL_HOST=h1", "KAMAL_VERSION=v1", "RAILS_ENV=production"]}),
        ),
        (
            "expose",
            value("9000"),
            json!({"ExposedPorts": {"9000/tcp": {}}}),
        ),
        (
            "gpus",
            value("all"),
            hc(json!({"DeviceRequests": [{"Count": -1, "Capabilities": [["gpu"]]}]})),
        ),
        (
            "group-add",
            value("audio"),
            hc(json!({"GroupAdd": ["audio"]})),
        ),
        (
            "health-cmd",
            value("curl -f localhost/up"),
            json!({"Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost/up"]}}),
        ),
        (
            "health-interval",
            value("1m30s"),
            json!({"Healthcheck": {"Interval": 90_000_000_000i64}}),
        ),
        (
            "health-retries",
            value("3"),
            json!({"Healthcheck": {"Retries": 3}}),
        ),
        (
            "health-start-period",
            value("5s"),
            json!({"Healthcheck": {"StartPeriod": 5_000_000_000i64}}),
        ),
        (
            "health-timeout",
            value("2s"),
            json!({"Healthcheck": {"Timeout": 2_000_000_000i64}}),
        ),
        (
            "hostname",
            value("web-1"),
            json!({"Hostname": "web-1", "NetworkingConfig": {"EndpointsConfig": {"kamal": {"Aliases": ["web-1"]}}}}),
        ),
        ("init", on(), hc(json!({"Init": true}))),
        ("interactive", on(), json!({"OpenStdin": true})),
        (
            "ip",
            value("10.9.0.5"),
            json!({"NetworkingConfig": {"EndpointsConfig": {"kamal": {"IPAMConfig": {"IPv4Address": "10.9.0.5"}}}}}),
        ),
        (
            "ip6",
            value("2001:db8::33"),
            json!({"NetworkingConfig": {"EndpointsConfig": {"kamal": {"IPAMConfig": {"IPv6Address": "2001:db8::33"}}}}}),
        ),
        (
            "link",
            value("db:database"),
            json!({"NetworkingConfig": {"EndpointsConfig": {"kamal": {"Links": ["db:database"]}}}}),
        ),
        (
            "link-local-ip",
            value("169.254.0.7"),
            json!({"NetworkingConfig": {"EndpointsConfig": {"kamal": {"IPAMConfig": {"LinkLocalIPs": ["169.254.0.7"]}}}}}),
        ),
        ("ipc", value("host"), hc(json!({"IpcMode": "host"}))),
        (
            "isolation",
            value("default"),
            hc(json!({"Isolation": "default"})),
        ),
        (
            "label",
            value("team=web"),
            json!({"Labels": {"team": "web"}}),
        ),
        (
            "log-driver",
            value("local"),
            hc(json!({"LogConfig": {"Type": "local"}})),
        ),
        (
            "log-opt",
            value("max-file=3"),
            hc(json!({"LogConfig": {"Config": {"max-file": "3"}}})),
        ),
        (
            "memory",
            value("2g"),
            hc(json!({"Memory": 2_147_483_648i64})),
        ),
        (
            "memory-reservation",
            value("1g"),
            hc(json!({"MemoryReservation": 1_073_741_824})),
        ),
        ("memory-swap", value("-1"), hc(json!({"MemorySwap": -1}))),
        (
            "memory-swappiness",
            value("10"),
            hc(json!({"MemorySwappiness": 10})),
        ),
        (
            "mount",
            value("type=bind,src=/srv,dst=/data,ro"),
            hc(
                json!({"Mounts": [{"Type": "bind", "Source": "/srv", "Target": "/data", "ReadOnly": true}]}),
            ),
        ),
        (
            "net",
            value("backend"),
            json!({"NetworkingConfig": {"EndpointsConfig": {"backend": {}}}}),
        ),
        (
            "net-alias",
            value("api"),
            json!({"NetworkingConfig": {"EndpointsConfig": {"kamal": {"Aliases": ["api", "h1-8d47c82b48fe"]}}}}),
        ),
        (
            "network",
            value("backend"),
            json!({"NetworkingConfig": {"EndpointsConfig": {"backend": {}}}}),
        ),
        (
            "network-alias",
            value("api"),
            json!({"NetworkingConfig": {"EndpointsConfig": {"kamal": {"Aliases": ["api", "h1-8d47c82b48fe"]}}}}),
        ),
        (
            "no-healthcheck",
            on(),
            json!({"Healthcheck": {"Test": ["NONE"]}}),
        ),
        (
            "oom-kill-disable",
            on(),
            hc(json!({"OomKillDisable": true})),
        ),
        (
            "oom-score-adj",
            value("100"),
            hc(json!({"OomScoreAdj": 100})),
        ),
        ("pid", value("host"), hc(json!({"PidMode": "host"}))),
        ("pids-limit", value("100"), hc(json!({"PidsLimit": 100}))),
        ("privileged", on(), hc(json!({"Privileged": true}))),
        (
            "publish",
            value("127.0.0.1:8080:80"),
            json!({"ExposedPorts": {"80/tcp": {}}, "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}}}),
        ),
        ("publish-all", on(), hc(json!({"PublishAllPorts": true}))),
        ("read-only", on(), hc(json!({"ReadonlyRootfs": true}))),
        ("rm", on(), hc(json!({"AutoRemove": true}))),
        ("runtime", value("crun"), hc(json!({"Runtime": "crun"}))),
        (
            "security-opt",
            value("no-new-privileges"),
            hc(json!({"SecurityOpt": ["no-new-privileges"]})),
        ),
        ("shm-size", value("64m"), hc(json!({"ShmSize": 67_108_864}))),
        (
            "stop-signal",
            value("SIGQUIT"),
            json!({"StopSignal": "SIGQUIT"}),
        ),
        ("stop-timeout", value("25"), json!({"StopTimeout": 25})),
        (
            "storage-opt",
            value("size=10G"),
            hc(json!({"StorageOpt": {"size": "10G"}})),
        ),
        (
            "sysctl",
            value("net.core.somaxconn=1024"),
            hc(json!({"Sysctls": {"net.core.somaxconn": "1024"}})),
        ),
        (
            "tmpfs",
            value("/run:rw,size=64m"),
            hc(json!({"Tmpfs": {"/run": "rw,size=64m"}})),
        ),
        ("tty", on(), json!({"Tty": true})),
        (
            "ulimit",
            value("nofile=1024:2048"),
            hc(json!({"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]})),
        ),
        ("user", value("1000:1000"), json!({"User": "1000:1000"})),
        ("userns", value("host"), hc(json!({"UsernsMode": "host"}))),
        ("uts", value("host"), hc(json!({"UTSMode": "host"}))),
        (
            "volume",
            value("/data:/data:ro"),
            hc(json!({"Binds": ["/data:/data:ro"]})),
        ),
        (
            "volume-driver",
            value("local"),
            hc(json!({"VolumeDriver": "local"})),
        ),
        (
            "volumes-from",
            value("other:ro"),
            hc(json!({"VolumesFrom": ["other:ro"]})),
        ),
        ("workdir", value("/srv"), json!({"WorkingDir": "/srv"})),
    ]
}

#[test]
fn each_docker_run_flag_changes_exactly_its_create_body_fields() {
    let baseline = body_with(Vec::new());
    let mut failures = Vec::new();
    for (flag, option, expected) in rows() {
        let body = body_with(vec![(flag.to_string(), option)]);
        let changed = difference(&baseline, &body).unwrap_or(Value::Null);
        if changed != expected {
            failures.push(format!("{flag}: expected {expected}\n      got {changed}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_supported_flag_has_a_row() {
    let rows: Vec<&str> = rows().into_iter().map(|(flag, _, _)| flag).collect();
    let missing: Vec<&str> = FLAGS
        .iter()
        .map(|flag| flag.name)
        .filter(|name| !rows.contains(name))
        .collect();
    assert!(missing.is_empty(), "flags without a row: {missing:?}");
}
