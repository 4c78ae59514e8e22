//! `gantry config --format kamal`: the configuration as `kamal config` prints it.
//!
//! Kamal's `config` command prints `Kamal::Configuration#to_h`: a few resolved values (roles,
//! hosts, the primary host, the image and version) next to sections it keeps as written
//! (`builder`, `sshkit`, `accessories`). Printing the same view lets a team switching from Kamal
//! compare what both tools understood of one `deploy.yml`, and it is how the tests hold gantry's
//! loader to the real Kamal's. Keys keep Kamal's leading colons (Ruby symbols).
//!
//! Two departures, both on purpose: secrets are never read (an `ssh.key_data` entry prints as
//! written, where Kamal prints the secret's value), and a literal registry password of an
//! accessory prints as `[REDACTED]`. An `ssh.proxy` prints the fields of the net-ssh object Kamal
//! dumps, without Ruby's object tag.

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::config::node::{Node, Value as RawValue};
use crate::desired::env::escape_shell_value;
use crate::secret::REDACTED;

/// `Kamal::Configuration#to_h` for `config` at `version`; `raw` is the merged deploy.yml.
pub fn kamal_config(config: &Config, raw: &Node, version: &str) -> Value {
    let mut roles: Vec<&crate::config::Role> = config.roles.iter().collect();
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hosts: Vec<&str> = Vec::new();
    let role_hosts = roles
        .iter()
        .flat_map(|role| role.hosts.iter().map(|h| h.host.as_str()));
    let accessory_hosts = config
        .accessories
        .iter()
        .flat_map(|accessory| accessory.hosts.iter().map(String::as_str));
    for host in role_hosts.chain(accessory_hosts) {
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    let primary_host = config
        .roles
        .iter()
        .find(|role| role.name == config.primary_role)
        .and_then(|role| role.hosts.first())
        .map(|host| host.host.clone());
    let repository = match &config.registry.server {
        Some(server) => format!("{server}/{}", config.image),
        None => config.image.clone(),
    };

    let mut view = Map::new();
    let role_names: Vec<&str> = roles.iter().map(|role| role.name.as_str()).collect();
    view.insert(":roles".into(), json!(role_names));
    view.insert(":hosts".into(), json!(hosts));
    if let Some(primary_host) = primary_host {
        view.insert(":primary_host".into(), json!(primary_host));
    }
    view.insert(":version".into(), json!(version));
    view.insert(
        ":absolute_image".into(),
        json!(format!("{repository}:{version}")),
    );
    view.insert(":repository".into(), json!(repository));
    view.insert(
        ":service_with_version".into(),
        json!(format!("{}-{version}", config.service)),
    );
    let plain = |key: &str| raw.get(key).map(Node::to_plain);
    view.insert(
        ":volume_args".into(),
        volume_args(plain("volumes").as_ref()),
    );
    view.insert(":ssh_options".into(), ssh_options(plain("ssh").as_ref()));
    view.insert(":sshkit".into(), section_or_empty(plain("sshkit").as_ref()));
    view.insert(
        ":builder".into(),
        section_or_empty(plain("builder").as_ref()),
    );
    if let Some(accessories) = plain("accessories").filter(|a| !a.is_null()) {
        view.insert(":accessories".into(), redact_accessories(&accessories));
    }
    view.insert(":logging".into(), logging_args(raw.get("logging")));
    Value::Object(view)
}

/// `argumentize "--volume", volumes`: each entry as written, after its flag.
fn volume_args(volumes: Option<&Value>) -> Value {
    let args: Vec<Value> = volumes
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|volume| [json!("--volume"), json!(ruby_to_s(volume))])
        .collect();
    Value::Array(args)
}

/// `Kamal::Configuration::Ssh#to_h`: net-ssh options, nil values left out.
fn ssh_options(ssh: Option<&Value>) -> Value {
    let empty = Map::new();
    let ssh = ssh.and_then(Value::as_object).unwrap_or(&empty);
    let fetch = |key: &str, default: Value| ssh.get(key).cloned().unwrap_or(default);
    let mut options = Map::new();
    options.insert(":user".into(), fetch("user", json!("root")));
    options.insert(":port".into(), fetch("port", json!(22)));
    if let Some(proxy) = ssh.get("proxy").filter(|p| !p.is_null()) {
        let proxy = ruby_to_s(proxy);
        let jump = if proxy.contains('@') {
            proxy
        } else {
            format!("root@{proxy}")
        };
        options.insert(":proxy".into(), json!({ "jump_proxies": jump }));
    } else if let Some(command) = ssh.get("proxy_command").filter(|p| !p.is_null()) {
        options.insert(
            ":proxy".into(),
            json!({ "command_line_template": command, "command_line": null, "timeout": 60 }),
        );
    }
    options.insert(":keepalive".into(), json!(true));
    options.insert(":keepalive_interval".into(), json!(30));
    for key in ["keys_only", "keys", "key_data", "config"] {
        if let Some(value) = ssh.get(key).filter(|v| !v.is_null()) {
            options.insert(format!(":{key}"), value.clone());
        }
    }
    options.insert(":log_level".into(), fetch("log_level", json!(":fatal")));
    options.retain(|_, value| !value.is_null());
    Value::Object(options)
}

/// A section Kamal keeps as written, `{}` when absent.
fn section_or_empty(section: Option<&Value>) -> Value {
    match section {
        Some(value) if !value.is_null() => value.clone(),
        _ => Value::Object(Map::new()),
    }
}

/// The accessories as written, with literal registry passwords hidden.
fn redact_accessories(accessories: &Value) -> Value {
    let mut accessories = accessories.clone();
    if let Some(map) = accessories.as_object_mut() {
        for accessory in map.values_mut() {
            let password = accessory
                .get_mut("registry")
                .and_then(|registry| registry.get_mut("password"));
            if let Some(password) = password.filter(|p| p.is_string()) {
                *password = json!(REDACTED);
            }
        }
    }
    accessories
}

/// `Kamal::Configuration::Logging#args` for the root `logging:`, options in file order.
fn logging_args(logging: Option<&Node>) -> Value {
    let driver = logging
        .and_then(|logging| logging.get("driver"))
        .filter(|driver| driver.is_present());
    let options = logging
        .and_then(|logging| logging.get("options"))
        .and_then(Node::as_map)
        .filter(|options| !options.is_empty());
    let mut args = Vec::new();
    if driver.is_none() && options.is_none() {
        args.push(json!("--log-opt"));
        args.push(json!(format!("max-size={}", escape_shell_value("10m"))));
        return Value::Array(args);
    }
    if let Some(driver) = driver {
        args.push(json!("--log-driver"));
        args.push(json!(escape_shell_value(
            &driver.text().unwrap_or_default()
        )));
    }
    for entry in options.into_iter().flatten() {
        args.push(json!("--log-opt"));
        let (key, value) = (&entry.key, &entry.value);
        let arg = if value.is_present() {
            format!(
                "{key}={}",
                escape_shell_value(&value.text().unwrap_or_default())
            )
        } else if value.value == RawValue::Bool(false) {
            format!("{key}=false")
        } else {
            key.clone()
        };
        args.push(json!(arg));
    }
    Value::Array(args)
}

/// Ruby's `to_s` for a scalar.
fn ruby_to_s(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, load_with_env};

    fn view(deploy_yml: &str) -> Value {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("deploy.yml");
        std::fs::write(&path, deploy_yml).expect("write");
        let options = LoadOptions {
            config_file: path,
            destination: None,
        };
        let loaded = load_with_env(&options, &|_| None).expect("loads");
        kamal_config(&loaded.config, &loaded.raw, "v1")
    }

    const BASE: &str = "service: app\nimage: dhh/app\nservers: [1.1.1.1]\n\
                        registry: {username: u, password: [P]}\nbuilder: {arch: amd64}\n";

    #[test]
    fn logging_defaults_to_ten_megabytes() {
        assert_eq!(
            view(BASE)[":logging"],
            json!(["--log-opt", "max-size=\"10m\""])
        );
    }

    #[test]
    fn logging_options_keep_file_order_and_kamal_escaping() {
        let config = format!(
            "{BASE}logging: {{driver: json-file, options: {{max-size: 100m, compress: false, tag: ~}}}}\n"
        );
        assert_eq!(
            view(&config)[":logging"],
            json!([
                "--log-driver",
                "\"json-file\"",
                "--log-opt",
                "max-size=\"100m\"",
                "--log-opt",
                "compress=false",
                "--log-opt",
                "tag"
            ])
        );
    }

    #[test]
    fn ssh_proxy_without_user_jumps_as_root() {
        let config = format!("{BASE}ssh: {{proxy: 10.0.0.1, port: \"2222\"}}\n");
        let options = &view(&config)[":ssh_options"];
        assert_eq!(options[":proxy"], json!({"jump_proxies": "root@10.0.0.1"}));
        assert_eq!(options[":port"], json!("2222"));
        assert_eq!(options[":log_level"], json!(":fatal"));
    }

    #[test]
    fn roles_are_sorted_and_hosts_follow_them() {
        let config = "service: app\nimage: dhh/app\n\
                      servers: {web: [1.1.1.1], jobs: [1.1.1.2, 1.1.1.1]}\n\
                      registry: {server: r.example.com, username: u, password: [P]}\n\
                      builder: {arch: amd64}\n";
        let view = view(config);
        assert_eq!(view[":roles"], json!(["jobs", "web"]));
        assert_eq!(view[":hosts"], json!(["1.1.1.2", "1.1.1.1"]));
        assert_eq!(view[":primary_host"], json!("1.1.1.1"));
        assert_eq!(view[":absolute_image"], json!("r.example.com/dhh/app:v1"));
        assert_eq!(view[":service_with_version"], json!("app-v1"));
    }
}
