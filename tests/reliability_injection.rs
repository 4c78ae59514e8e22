//! Hostile values in deploy.yml and the secrets file (specs/reliability.md, "Hostile input").
//!
//! Each class of value that reaches a host — service, role, accessory and env variable names,
//! env values, secrets, labels, hosts, volumes, commands, docker options, proxy settings,
//! accessory directories, the SSH user, the version — is written with the shapes that inject
//! shell or Docker arguments: `;`, `$( )`, backticks, line breaks, quotes and a leading `-`.
//! Every one is either refused when the configuration loads (a diagnostic naming the key) or
//! carried through desired state, plan and apply on fake hosts as inert data: the test reads the
//! exact container, env file, directories and routes back from the hosts, and checks that the
//! only commands run are gantry's own (a directory check whose every word is gantry's or one
//! of the paths it was given, and `kamal-proxy` calls).

mod fake_world;

use fake_world::{FakeWorld, REGISTRY_PASSWORD};
use gantry::desired::env::{clear_value_in_container, env_file_value};
use gantry::desired::expand_home_in_word;
use gantry::host::Host;
use gantry::testkit::fake_host::Operation;

/// Values shaped to escape into a shell or a Docker command line.
const HOSTILE: &[&str] = &[
    "a;touch /tmp/gantry-pwned",
    "$(touch /tmp/gantry-pwned)",
    "`touch /tmp/gantry-pwned`",
    "a\ntouch /tmp/gantry-pwned",
    "-rf",
    "--privileged",
    "a'b\"c\\d",
    "$HOME|x&y>z<w",
];

/// A YAML scalar for any text (JSON strings are YAML).
fn yaml(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// A minimal valid project with `extra` top-level YAML and `web_extra` under the web role.
fn project(secrets_path: &str, service: &str, web_extra: &str, extra: &str) -> String {
    format!(
        "service: {service}\nimage: app\nservers:\n  web:\n    hosts: [h1]\n{web_extra}\
         registry:\n  server: registry.test\n  username: deployer\n  password: [REGISTRY_PASSWORD]\n\
         builder:\n  arch: amd64\nsecrets_path: {secrets_path}\n{extra}"
    )
}

fn secrets(extra: &str) -> String {
    format!("REGISTRY_PASSWORD={REGISTRY_PASSWORD}\n{extra}")
}

/// Loads a project expecting it to be refused with `code`; returns the errors.
fn refused(deploy_yml: &dyn Fn(&str) -> String, code: &str) -> Vec<String> {
    match fake_world::load(deploy_yml, &secrets("")) {
        Ok(_) => panic!("accepted:\n{}", deploy_yml("secrets")),
        Err(errors) => {
            assert!(
                errors.iter().any(|error| error.starts_with(code)),
                "expected {code}, got {errors:#?}"
            );
            errors
        }
    }
}

#[test]
fn hostile_service_names_are_refused() {
    for value in HOSTILE.iter().copied().chain(["-app", "_app"]) {
        refused(
            &|secrets_path| project(secrets_path, &yaml(value), "", ""),
            "gantry::config::service_name",
        );
    }
}

#[test]
fn hostile_role_accessory_and_env_names_are_refused() {
    for value in HOSTILE.iter().copied().chain(["../up", "a/b"]) {
        let quoted = yaml(value);
        let errors = refused(
            &|secrets_path| {
                let sibling_role = format!("  {quoted}:\n    hosts: [h1]\n    cmd: run\n");
                project(secrets_path, "app", &sibling_role, "")
            },
            "gantry::config::invalid_name",
        );
        assert!(
            errors
                .iter()
                .any(|error| error.contains("invalid role name")),
            "{errors:#?}"
        );
        refused(
            &|secrets_path| {
                project(
                    secrets_path,
                    "app",
                    "",
                    &format!(
                        "accessories:\n  {quoted}:\n    image: registry.test/db:16\n    host: h1\n"
                    ),
                )
            },
            "gantry::config::invalid_name",
        );
        refused(
            &|secrets_path| {
                project(
                    secrets_path,
                    "app",
                    "",
                    &format!(
                        "accessories:\n  db:\n    service: {quoted}\n    image: registry.test/db:16\n    host: h1\n"
                    ),
                )
            },
            "gantry::config::invalid_name",
        );
    }
    for value in ["A=B", "A\nLD_PRELOAD=/tmp/x.so", "A B", "", "A\0B"] {
        let quoted = yaml(value);
        refused(
            &|secrets_path| project(secrets_path, "app", "", &format!("env:\n  {quoted}: x\n")),
            "gantry::config::invalid_name",
        );
        refused(
            &|secrets_path| {
                project(
                    secrets_path,
                    "app",
                    "",
                    &format!("env:\n  secret:\n    - {}\n", yaml(&format!("{value}:S"))),
                )
            },
            "gantry::config::invalid_name",
        );
    }
}

#[test]
fn hostile_hosts_and_ssh_users_are_refused() {
    for value in HOSTILE
        .iter()
        .copied()
        .chain(["-oProxyCommand=touch /tmp/x"])
    {
        let quoted = yaml(value);
        refused(
            &|secrets_path| {
                project(secrets_path, "app", "", "")
                    .replace("hosts: [h1]", &format!("hosts: [{quoted}]"))
            },
            "gantry::config::invalid_host",
        );
        refused(
            &|secrets_path| {
                project(
                    secrets_path,
                    "app",
                    "",
                    &format!("ssh:\n  user: {quoted}\n"),
                )
            },
            "gantry::config::invalid_name",
        );
    }
}

#[test]
fn hostile_versions_are_refused_before_any_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    for value in HOSTILE {
        let error = gantry::build::version::resolve(Some(value), None, dir.path(), false)
            .expect_err("refused");
        assert!(
            error.to_string().contains("cannot be an image tag"),
            "{error}"
        );
    }
}

/// Every `run_command` gantry sent is its directory check, and every word of it is either
/// gantry's own or one of `paths`.
fn only_directory_checks(world: &FakeWorld, paths: &[String]) {
    const OWN: &[&str] = &["if", "[", "-d", "]", "then", "echo", "y", "else", "n", "fi"];
    for host in world.hosts.values() {
        for (operation, command) in host.calls() {
            if operation != Operation::RunCommand {
                continue;
            }
            let words = shlex::split(&command).expect("a well-formed script");
            for word in words {
                let word = word.trim_end_matches(';');
                assert!(
                    OWN.contains(&word) || paths.iter().any(|path| path == word),
                    "unexpected word {word:?} in {command:?}"
                );
            }
        }
    }
}

/// Every value below is data: it arrives where the user put it, byte for byte (after Kamal's
/// own escaping of env values), and runs nothing.
#[tokio::test]
async fn hostile_values_reach_the_hosts_as_inert_data() {
    for (index, value) in HOSTILE.iter().enumerate() {
        let quoted = yaml(value);
        let directory = format!("dir{index}{}", value.replace(['/', '\n'], "_"));
        let web_extra = format!(
            "    labels:\n      hostile: {quoted}\n    cmd: {cmd}\n    options:\n      add-host: {host_entry}\n",
            cmd = yaml(&format!(
                "bin/run {}",
                shlex::try_quote(value).expect("quotable")
            )),
            host_entry = yaml(&format!("db:{value}")),
        );
        let extra = format!(
            "env:\n  clear:\n    HOSTILE: {quoted}\n  secret: [HOSTILE_SECRET]\n\
             volumes:\n  - {volume}\n\
             proxy:\n  host: {proxy_host}\n  healthcheck:\n    path: {health}\n\
             accessories:\n  db:\n    image: registry.test/db:16\n    host: h1\n    directories:\n      - {dir_mount}\n",
            volume = yaml(&format!("/data/{value}:/data")),
            proxy_host = yaml(&format!("app.test,{}", value.replace(['\n', ','], " "))),
            health = yaml(&format!("/up?{value}")),
            dir_mount = yaml(&format!("{directory}:/var/lib/db")),
        );
        let secret_line = format!("HOSTILE_SECRET='{}'\n", value.replace(['\'', '\n'], "_"));
        let secret_value = value.replace(['\'', '\n'], "_");
        let world = FakeWorld::new(
            &["h1"],
            &|secrets_path| project(secrets_path, "app", &web_extra, &extra),
            &secrets(&secret_line),
        )
        .unwrap_or_else(|errors| panic!("{value:?} refused: {errors:#?}"));
        let run = world.apply("v1").await;
        assert!(run.succeeded(), "{value:?}: the deploy failed");
        let h1 = world.host("h1");
        let containers = h1.containers();
        let app = &containers["app-web-v1"];

        // Env: one entry each, the value as Kamal's own escaping leaves it.
        let clear = format!("HOSTILE={}", clear_value_in_container(value));
        let secret = format!("HOSTILE_SECRET={}", env_file_value(&secret_value));
        assert!(app.env.contains(&clear), "{value:?}: {:#?}", app.env);
        assert!(app.env.contains(&secret), "{value:?}: {:#?}", app.env);
        let (env_file, mode) = h1
            .file(".kamal/apps/app/env/roles/web.env")
            .expect("env file");
        assert_eq!(
            String::from_utf8_lossy(&env_file),
            format!("{secret}\n"),
            "{value:?}"
        );
        assert_eq!(mode, 0o600);

        // Labels, cmd, docker options: exactly as written; volumes as the host's shell reads
        // Kamal's unquoted `--volume` (the home directory's spellings expanded, nothing run).
        assert_eq!(app.labels.get("hostile").map(String::as_str), Some(*value));
        assert!(
            app.binds.contains(&expand_home_in_word(
                &format!("/data/{value}:/data"),
                "/root"
            )),
            "{value:?}: {:?}",
            app.binds
        );
        assert_eq!(app.cmd, vec!["bin/run".to_string(), value.to_string()]);
        assert!(
            app.options.extra_hosts.contains(&format!("db:{value}")),
            "{value:?}: {:?}",
            app.options.extra_hosts
        );
        assert!(!app.options.privileged, "{value:?}: an option leaked");

        // Proxy settings: single arguments, parsed back whole by the proxy.
        let routes = h1.routes();
        let route = routes
            .iter()
            .find(|route| route.service == "app-web")
            .expect("route");
        let expected_host = value.replace(['\n', ','], " ");
        assert!(
            route.settings.hosts.contains(&expected_host),
            "{value:?}: {:?}",
            route.settings.hosts
        );
        assert_eq!(route.settings.health_check_path, format!("/up?{value}"));
        assert!(!route.settings.tls_enabled, "{value:?}: an option leaked");

        // The accessory's directory exists under its own name, nothing else was run.
        let accessory_dir = format!("app-db/{directory}");
        let check = h1
            .run_command(&format!(
                "if [ -d {} ]; then echo y; else echo n; fi; ",
                shlex::try_quote(&accessory_dir).expect("quotable")
            ))
            .await
            .expect("check");
        assert_eq!(check.stdout, "y\n", "{value:?}");
        only_directory_checks(&world, &[accessory_dir]);
        for (operation, argument) in h1.calls() {
            if operation == Operation::ExecInContainer {
                assert!(
                    argument.starts_with("kamal-proxy kamal-proxy "),
                    "{value:?}: {argument}"
                );
            }
        }
        assert_eq!(world.serving("h1", "app-web").as_deref(), Some("v1"));
        assert!(!world.lock_held().await, "{value:?}: lock left");
        assert!(
            world.plan("v1").await.plan.is_empty(),
            "{value:?}: a hostile value reads back differently"
        );
    }
    assert!(
        !std::path::Path::new("/tmp/gantry-pwned").exists(),
        "a hostile value ran on this machine"
    );
}

/// A secrets file's values stay data, even when a later `$(...)` uses them (secret commands
/// allowed, as by default).
#[test]
fn secret_values_used_inside_commands_stay_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("pwned");
    let marker = marker.display();
    let text = format!(
        "TOKEN='x; touch {marker}'\nFROM_CMD=$(printf '%s' \"$TOKEN\")\nSPLIT=$(printf '%s' $TOKEN)\nPLAIN=$TOKEN\n\
         NESTED='$(touch {marker})'\nAGAIN=$(echo \"$NESTED\")\nQUOTED=\"pre $NESTED\"\n"
    );
    let secrets = gantry::config::secrets::parse_secrets_text(
        &text,
        &gantry::config::SecretsOptions {
            allow_commands: true,
        },
    )
    .expect("parses");
    let value = |key: &str| secrets.get(key).map(|secret| secret.expose().to_string());
    assert_eq!(value("FROM_CMD"), Some(format!("x; touch {marker}")));
    assert_eq!(value("SPLIT"), Some(format!("x;touch{marker}")));
    assert_eq!(value("PLAIN"), Some(format!("x; touch {marker}")));
    assert_eq!(value("AGAIN"), Some(format!("$(touch {marker})")));
    assert_eq!(value("QUOTED"), Some(format!("pre $(touch {marker})")));
    assert!(
        !dir.path().join("pwned").exists(),
        "a secret's value ran as a command"
    );
}
