//! The day-2 planners and command lines, by exact equality: plans as their canonical text,
//! command lines as the strings a host's shell receives.

use super::*;
use crate::config::{Accessory, AccessoryMount, DockerOptions, Env};
use crate::host::{ContainerStatus, ImageSummary};
use crate::plan::{self, PlanOptions};
use crate::testing;

use super::accessory::Which;
use super::cleanup::PruneScope;
use super::shell::LogsOptions;

fn plan_text(changes: Changes) -> String {
    plan::build(
        changes,
        &PlanOptions {
            primary_role: "web".into(),
            ..PlanOptions::default()
        },
    )
    .to_string()
}

fn config_with_accessory(hosts: &[&str]) -> crate::config::Config {
    let mut config = testing::config(hosts);
    config.accessories.push(Accessory {
        name: "db".into(),
        service: "app-db".into(),
        image: "registry.test/busybox:latest".into(),
        registry: None,
        hosts: vec![hosts[0].to_string()],
        cmd: Some("sh -c 'sleep 1000'".into()),
        ports: Vec::new(),
        labels: Default::default(),
        options: DockerOptions::default(),
        restart_policy: "unless-stopped".into(),
        env: Env::default(),
        files: Vec::new(),
        directories: vec![AccessoryMount {
            local: "data".into(),
            remote: "/data".into(),
            mode: None,
            owner: None,
            options: None,
        }],
        volumes: Vec::new(),
        network: "kamal".into(),
        proxy: None,
    });
    config
}

#[test]
fn logs_command_lines_are_kamals() {
    let plain = LogsOptions {
        timestamps: true,
        ..LogsOptions::default()
    }
    .with_default_lines();
    assert_eq!(
        shell::logs("abc123", &plain),
        "docker logs --timestamps --tail 100 abc123 2>&1"
    );
    let following = LogsOptions {
        follow: true,
        lines: Some(10),
        since: Some("5m".into()),
        grep: Some("GET /up's".into()),
        grep_options: Some("-i".into()),
        timestamps: false,
    }
    .with_default_lines();
    assert_eq!(
        shell::logs("kamal-proxy", &following),
        "docker logs --since 5m --tail 10 --follow kamal-proxy 2>&1 | grep --line-buffered \"GET /up's\" -i"
    );
    let grep_only = LogsOptions {
        grep: Some("error".into()),
        timestamps: true,
        ..LogsOptions::default()
    }
    .with_default_lines();
    assert_eq!(
        shell::logs("abc", &grep_only),
        "docker logs --timestamps abc 2>&1 | grep error"
    );
}

#[test]
fn one_off_and_reused_containers_are_kamals_docker_run_and_exec() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let app = &desired.hosts[0].apps[0];
    let mut spec = crate::desired::expand_home(&app.container, "/root");
    spec.binds = vec!["/root/data:/data".into()];
    assert_eq!(
        shell::exec_container_name("app-web", "v1", "0a1b2c"),
        "app-web-exec-v1-0a1b2c"
    );
    assert_eq!(
        shell::run_one_off(
            &spec,
            "app-web-exec-v1-0a1b2c",
            &app.env_file.path,
            "bin/rails db:migrate",
            &shell::ExecOptions::default()
        ),
        "docker run --rm --name app-web-exec-v1-0a1b2c --network kamal --env-file .kamal/apps/app/env/roles/web.env \
         --env 'KAMAL_HOST=h1' --env 'RAILS_ENV=production' --volume /root/data:/data registry.test/app:v1 bin/rails db:migrate"
    );
    let terminal = shell::ExecOptions {
        interactive: true,
        ..Default::default()
    };
    let interactive = shell::run_one_off(&spec, "n", &app.env_file.path, "sh", &terminal);
    assert!(
        interactive.starts_with("docker run -it --rm --name n "),
        "{interactive}"
    );
    assert!(
        !interactive.contains("s3cret"),
        "secrets stay in the env file"
    );
    assert_eq!(
        shell::exec_in_container("app-web-v1", "bin/rails console", &terminal),
        "docker exec -it app-web-v1 bin/rails console"
    );
    assert_eq!(
        shell::exec_in_container("app-web-v1", "ls", &shell::ExecOptions::default()),
        "docker exec app-web-v1 ls"
    );
    let detached = shell::ExecOptions {
        detach: true,
        env: vec![("TASK".into(), Some("nightly report".into()))],
        ..Default::default()
    };
    assert_eq!(
        shell::run_one_off(&spec, "n", &app.env_file.path, "bin/job", &detached),
        "docker run --detach --name n --network kamal --env-file .kamal/apps/app/env/roles/web.env \
         --env 'KAMAL_HOST=h1' --env 'RAILS_ENV=production' --env 'TASK=nightly report' \
         --volume /root/data:/data registry.test/app:v1 bin/job"
    );
    assert_eq!(
        shell::exec_in_container("app-web-v1", "env", &detached),
        "docker exec --env 'TASK=nightly report' app-web-v1 env"
    );
}

#[test]
fn registry_login_takes_the_password_on_stdin() {
    assert_eq!(
        shell::registry_login("registry.test:5000", "deploy bot"),
        "docker login registry.test:5000 -u 'deploy bot' --password-stdin"
    );
    assert_eq!(
        shell::registry_logout("registry.test:5000"),
        "docker logout registry.test:5000"
    );
}

#[test]
fn the_docker_installation_script_is_fixed() {
    assert_eq!(
        shell::install_docker(),
        "set -e\n\
         if command -v docker >/dev/null 2>&1; then echo 'gantry: docker is installed'; exit 0; fi\n\
         if [ \"$(id -u)\" -eq 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO='sudo -n'; \
         else echo 'Docker is missing and installing it needs root or passwordless sudo' >&2; exit 3; fi\n\
         if command -v apt-get >/dev/null 2>&1; then \
         $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q; \
         $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io; \
         else (curl -fsSL https://get.docker.com || wget -O - https://get.docker.com || echo 'exit 1') | $SUDO sh; fi\n\
         if [ \"$(id -u)\" -ne 0 ] && ! id -nG | grep -qw docker; then $SUDO usermod -aG docker \"$(id -un)\"; fi\n\
         $SUDO systemctl enable --now docker >/dev/null 2>&1 || true\n\
         echo 'gantry: docker installed'"
    );
    assert_eq!(shell::list_apps(), "ls -1A .kamal/apps 2>/dev/null || true");
}

#[test]
fn app_stop_removes_the_route_before_the_container_stops_and_start_brings_both_back() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = testing::observed_of(&desired);
    let stop = stop_plan(&desired, &observed);
    assert_eq!(
        stop,
        "[] -> #1 h1: remove route app-web (requested by `gantry app stop`)\n\
         [#1] -> #2 h1: stop app-web-v1 (requested by `gantry app stop`) undo: start app-web-v1\n"
    );
    // What the stop leaves: the container stopped, no route.
    let state = testing::state_mut(&mut observed, "h1");
    state.app_containers[0].details.status = ContainerStatus::Exited;
    state.routes = Some(Vec::new());
    assert_eq!(
        current_version(&observed, &desired.names).as_deref(),
        Some("v1")
    );
    assert_eq!(
        plan_text(app::start(&desired, &observed)),
        "[] -> #1 h1: start app-web-v1 (exited, should be running) undo: stop app-web-v1\n\
         [#1] -> #2 h1: switch route app-web to app-web-v1 (exited, should be running) undo: remove route app-web\n"
    );
    assert_eq!(stop_plan(&desired, &observed), "", "nothing left to stop");
}

#[test]
fn maintenance_stops_the_route_and_a_deploy_behind_it_keeps_it_stopped_until_live() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = testing::observed_of(&desired);
    let options = app::MaintenanceOptions {
        drain_timeout: Some(5),
        message: Some("Back at 3pm".into()),
    };
    assert_eq!(
        plan_text(app::maintenance(
            &desired,
            &observed,
            "app maintenance",
            &options
        )),
        "[] -> #1 h1: stop route app-web (maintenance: \"Back at 3pm\") (requested by `gantry app maintenance`) undo: resume route app-web\n"
    );
    assert_eq!(plan_text(app::live(&desired, &observed, "app live")), "");
    // What the stop leaves: the route stopped with its message.
    let route = &mut testing::state_mut(&mut observed, "h1")
        .routes
        .as_mut()
        .unwrap()[0];
    route.state = crate::kamal_proxy::RouteState::Stopped;
    route.stop_message = "Back at 3pm".into();
    assert_eq!(
        plan_text(app::maintenance(
            &desired,
            &observed,
            "app maintenance",
            &options
        )),
        "",
        "already in maintenance with this message"
    );
    // Maintenance is state: a plan of the same version changes nothing and says so.
    let changes = crate::diff::diff(&desired, &observed, crate::diff::DiffOptions::default());
    assert_eq!(plan_text(changes.clone()), "");
    assert_eq!(
        changes.hosts[0].notes,
        vec![crate::diff::Note::Maintenance {
            service: "app-web".into(),
            message: "Back at 3pm".into()
        }]
    );
    // A new version deploys behind it: the route switches, nothing resumes it.
    let v2 = testing::desired(&config, "v2");
    let deploy = plan_text(crate::diff::diff(
        &v2,
        &observed,
        crate::diff::DiffOptions::default(),
    ));
    assert!(
        deploy.contains("switch route app-web to app-web-v2"),
        "{deploy}"
    );
    assert!(!deploy.contains("resume"), "{deploy}");
    assert_eq!(
        plan_text(app::live(&desired, &observed, "app live")),
        "[] -> #1 h1: resume route app-web (requested by `gantry app live`) undo: stop route app-web (maintenance: \"Back at 3pm\")\n"
    );
}

#[test]
fn stale_containers_are_the_live_ones_beside_the_newest_and_stop_stops_only_them() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v2");
    let mut observed = testing::observed_of(&desired);
    let state = testing::state_mut(&mut observed, "h1");
    let mut old = state.app_containers[0].clone();
    old.details.id = testing::id(21);
    old.details.name = "app-web-v1".into();
    old.details.created = "2000-01-01T00:00:00Z".into();
    let mut exited = old.clone();
    exited.details.id = testing::id(22);
    exited.details.name = "app-web-v0".into();
    exited.details.status = ContainerStatus::Exited;
    state.app_containers.extend([old, exited]);
    let state = testing::state_mut(&mut observed, "h1");
    let found = app::role_containers(state, "web");
    let version = |container| app::version_of(&desired.names, "web", container);
    assert_eq!(found.current.map(version).as_deref(), Some("v2"));
    assert_eq!(
        found.stale.into_iter().map(version).collect::<Vec<_>>(),
        ["v1"]
    );
    assert_eq!(
        plan_text(app::stop_stale(&desired, &observed, "app stale_containers")),
        "[] -> #1 h1: stop app-web-v1 (requested by `gantry app stale_containers`) undo: start app-web-v1\n"
    );
}

/// Kamal's `app containers|details|images` lines, each word shell-quoted.
#[test]
fn listing_command_lines_are_kamals() {
    let names = crate::naming::ServiceNames::new("app", None);
    assert_eq!(
        shell::list_containers(&names.app_filters(None)),
        "docker container ls --all --filter 'label=service=app' --filter 'label=destination='"
    );
    let staging = crate::naming::ServiceNames::new("app", Some("staging".into()));
    assert_eq!(
        shell::list_running_containers(&staging.app_filters(Some("web"))),
        "docker ps --filter 'label=service=app' --filter 'label=destination=staging' --filter 'label=role=web'"
    );
    assert_eq!(
        shell::list_images("registry.test/app"),
        "docker image ls registry.test/app"
    );
}

#[test]
fn app_remove_takes_the_routes_containers_and_images_and_leaves_accessories_and_the_proxy() {
    let config = config_with_accessory(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let observed = testing::observed_of(&desired);
    let whole: std::collections::BTreeSet<String> = ["h1".to_string()].into();
    let text = plan_text(app::remove(&desired, &observed, &whole, "app remove"));
    assert!(text.contains("remove route app-web"), "{text}");
    assert!(text.contains("stop and remove app-web-v1"), "{text}");
    assert!(text.contains("remove image registry.test/app:v1"), "{text}");
    assert!(text.contains("remove .kamal/apps/app"), "{text}");
    assert!(
        !text.contains("app-db") && !text.contains("kamal-proxy"),
        "{text}"
    );
    // A host with roles left unselected keeps the images and directories, as with Kamal.
    let partial = plan_text(app::remove(
        &desired,
        &observed,
        &Default::default(),
        "app remove",
    ));
    assert!(partial.contains("stop and remove app-web-v1"), "{partial}");
    assert!(
        !partial.contains("image") && !partial.contains(".kamal"),
        "{partial}"
    );
}

#[test]
fn app_boot_deploys_the_roles_and_leaves_accessories_the_proxy_and_old_containers_alone() {
    let config = config_with_accessory(&["h1"]);
    let v1 = testing::desired(&config, "v1");
    let mut observed = testing::observed_of(&v1);
    assert_eq!(plan_text(app::boot(&v1, &observed)), "", "v1 runs already");
    let state = testing::state_mut(&mut observed, "h1");
    state.accessories.clear();
    state.proxy = None;
    let v2 = testing::desired(&config, "v2");
    let text = plan_text(app::boot(&v2, &observed));
    assert!(text.contains("run app-web-v2"), "{text}");
    assert!(
        text.contains("switch route app-web to app-web-v2"),
        "{text}"
    );
    assert!(
        !text.contains("app-db") && !text.contains("run kamal-proxy"),
        "{text}"
    );
    assert!(!text.contains("remove image"), "{text}");
}

fn stop_plan(desired: &Desired, observed: &Observed) -> String {
    plan_text(app::stop(desired, observed, "app stop"))
}

#[test]
fn prune_removes_stopped_containers_beyond_retain_and_unused_images_only() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v3");
    let mut observed = testing::observed_of(&desired);
    let state = testing::state_mut(&mut observed, "h1");
    let template = state.app_containers[0].clone();
    for (n, version) in [(11, "v2"), (12, "v1")] {
        let mut old = template.clone();
        old.details.id = testing::id(n);
        old.details.name = format!("app-web-{version}");
        old.details.status = ContainerStatus::Exited;
        old.details.image_id = format!("sha256:app-{version}");
        state.app_containers.push(old);
    }
    state.service_images.push(ImageSummary {
        id: "sha256:unused".into(),
        repo_tags: vec!["registry.test/app:v0".into()],
        labels: Default::default(),
        created: 0,
    });
    let text = plan_text(cleanup::prune(&desired, &observed, 1, PruneScope::All));
    assert!(
        text.contains("stop and remove app-web-v1") || text.contains("remove app-web-v1"),
        "{text}"
    );
    assert!(
        !text.contains("app-web-v2 "),
        "v2 is the one retained: {text}"
    );
    assert!(text.contains("remove image registry.test/app:v0"), "{text}");
    assert!(!text.contains("registry.test/app:v3"), "{text}");
    assert!(!text.contains("switch") && !text.contains("run "), "{text}");
    let containers = plan_text(cleanup::prune(
        &desired,
        &observed,
        1,
        PruneScope::Containers,
    ));
    assert!(containers.contains("app-web-v1"), "{containers}");
    assert!(!containers.contains("remove image"), "{containers}");
    let images = plan_text(cleanup::prune(&desired, &observed, 1, PruneScope::Images));
    assert!(
        images.contains("remove image registry.test/app:v0"),
        "{images}"
    );
    assert!(!images.contains("app-web-v1"), "{images}");
}

#[test]
fn remove_takes_everything_and_the_proxy_only_when_no_other_app_uses_it() {
    let config = config_with_accessory(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let observed = testing::observed_of(&desired);
    let alone: cleanup::AppsOnHosts = [("h1".to_string(), vec!["app".to_string()])].into();
    let text = plan_text(cleanup::remove(&desired, &observed, &alone, "remove"));
    for expected in [
        "remove route app-web",
        "stop and remove app-web-v1",
        "stop and remove app-db",
        "stop and remove kamal-proxy",
        "remove image registry.test/busybox:latest",
        "remove .kamal/apps/app/env/accessories/db.env",
        "h1: remove app-db (",
        "h1: remove .kamal/apps/app (",
        "h1: remove .kamal/proxy (",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
    let shared: cleanup::AppsOnHosts = [(
        "h1".to_string(),
        vec!["app".to_string(), "other".to_string()],
    )]
    .into();
    let text = plan_text(cleanup::remove(&desired, &observed, &shared, "remove"));
    assert!(!text.contains("kamal-proxy"), "{text}");
    assert!(
        text.contains("remove .kamal/proxy/apps-config/app ("),
        "{text}"
    );
}

#[test]
fn accessory_reboot_replaces_the_container_and_keeps_its_directories() {
    let config = config_with_accessory(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let observed = testing::observed_of(&desired);
    let text = plan_text(accessory::reboot(
        &desired,
        &observed,
        &Which::Named("db".into()),
        "accessory reboot",
    ));
    assert_eq!(
        text,
        "[] -> #1 h1: create directory app-db/data (requested by `gantry accessory reboot`)\n\
         [] -> #2 h1: write .kamal/apps/app/env/accessories/db.env (0600) (requested by `gantry accessory reboot`)\n\
         [] -> #3 h1: stop and remove app-db (requested by `gantry accessory reboot`)\n\
         [#1,#2,#3] -> #4 h1: run app-db (registry.test/busybox:latest) (requested by `gantry accessory reboot`)\n"
    );
    assert_eq!(
        plan_text(accessory::boot(&desired, &observed, &Which::All)),
        "",
        "a running accessory is left alone by boot"
    );
    let removal = plan_text(accessory::remove(
        &desired,
        &observed,
        &Which::All,
        "accessory remove",
    ));
    assert!(removal.contains("h1: remove app-db ("), "{removal}");
    assert!(Which::parse("all").includes("anything"));
    assert!(!Which::parse("db").includes("cache"));
}

#[test]
fn accessory_stop_stops_the_container_and_start_starts_the_same_one() {
    let config = config_with_accessory(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = testing::observed_of(&desired);
    let db = Which::Named("db".into());
    assert_eq!(
        plan_text(accessory::stop(&desired, &observed, &db, "accessory stop")),
        "[] -> #1 h1: stop app-db (requested by `gantry accessory stop`) undo: start app-db\n"
    );
    assert_eq!(
        plan_text(accessory::start(&desired, &observed, &db)),
        "",
        "a running accessory needs no start"
    );
    let state = testing::state_mut(&mut observed, "h1");
    state.accessories[0].details.status = ContainerStatus::Exited;
    assert_eq!(
        plan_text(accessory::start(&desired, &observed, &Which::All)),
        "[] -> #1 h1: start app-db (exited, should be running) undo: stop app-db\n",
        "the stopped container starts again: no new container, no directory, no file"
    );
    assert_eq!(
        plan_text(accessory::stop(&desired, &observed, &db, "accessory stop")),
        "",
        "nothing left to stop"
    );
    testing::state_mut(&mut observed, "h1").accessories.clear();
    assert_eq!(
        plan_text(accessory::start(&desired, &observed, &db)),
        "",
        "start creates no missing accessory (that is boot)"
    );
}

#[test]
fn proxy_reboot_replaces_the_proxy_on_every_host() {
    let config = testing::config(&["h1", "h2"]);
    let desired = testing::desired(&config, "v1");
    let observed = testing::observed_of(&desired);
    let text = plan_text(proxy::reboot(&desired, &observed, "proxy reboot"));
    for host in ["h1", "h2"] {
        assert!(
            text.contains(&format!("{host}: stop and remove kamal-proxy")),
            "{text}"
        );
        assert!(text.contains(&format!("{host}: run kamal-proxy")), "{text}");
    }
    assert_eq!(plan_text(proxy::boot(&desired, &observed)), "");
}

#[test]
fn the_current_container_is_the_newest_live_one() {
    let summary = |name: &str, state: ContainerStatus, created: i64| ContainerSummary {
        id: name.into(),
        name: name.into(),
        image: String::new(),
        image_id: String::new(),
        labels: Default::default(),
        state,
        created,
        published_ports: Vec::new(),
    };
    let containers = vec![
        summary("old", ContainerStatus::Running, 1),
        summary("newest-stopped", ContainerStatus::Exited, 3),
        summary("new", ContainerStatus::Running, 2),
    ];
    assert_eq!(
        current_container(&containers).map(|c| c.name.as_str()),
        Some("new")
    );
    assert!(current_container(&containers[1..2]).is_none());
}
