//! The plan for people: Terraform's layout, per host.
//!
//! ```text
//! gantry will perform the following actions:
//!
//!   # 10.0.0.1
//!   -/+ app web: app-web-v2 replaces app-web-v1 (new version v1 → v2)
//!         ~ env.RAILS_ENV: "production" → "staging"
//!   ~ route app-web (sends traffic to 0123456789ab:80)
//!
//! Plan: 0 to add, 1 to change, 1 to replace, 0 to remove.
//! ```
//!
//! Every sentence a plan shows about *why* comes from [`reason_text`]. Colour is used only when
//! asked for (a terminal); the text is otherwise identical. Secret values never reach this
//! module, and the final text still goes through the [`Redactor`] as a second line of defence.

use std::fmt::Write;

use owo_colors::OwoColorize;

use crate::diff::{
    Change, ChangeKind, FieldChange, FileOwner, HostChanges, Note, Reach, Reason, Resource,
};
use crate::plan::{Plan, Summary};
use crate::secret::Redactor;

/// How to draw a plan.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    pub color: bool,
}

/// The whole plan as text.
pub fn render(plan: &Plan, options: RenderOptions, redactor: &Redactor) -> String {
    let mut out = String::new();
    let changes = &plan.changes;
    let any_notes = changes.hosts.iter().any(|host| !host.notes.is_empty());
    if plan.is_empty() {
        out.push_str("No changes. Every host matches the configuration.\n");
    } else {
        out.push_str("gantry will perform the following actions:\n");
        if let Some(stage) = &plan.canary {
            out.push('\n');
            out.push_str(&stages_text(stage));
        }
        for host in changes.hosts.iter().filter(|host| !host.changes.is_empty()) {
            out.push('\n');
            render_host(host, options, &mut out);
        }
    }
    let unreachable: Vec<&HostChanges> = changes
        .hosts
        .iter()
        .filter(|host| matches!(host.reach, Reach::Unreachable { .. }))
        .collect();
    if !unreachable.is_empty() {
        out.push('\n');
        for host in unreachable {
            if let Reach::Unreachable { reason } = &host.reach {
                let line = format!("! {} is unreachable: {reason}", host.host);
                paint(&mut out, &line, options, Paint::Error);
                out.push_str("  (not planned; a rerun plans it once it answers)\n");
            }
        }
    }
    if any_notes {
        out.push('\n');
        for host in &changes.hosts {
            for note in &host.notes {
                paint(
                    &mut out,
                    &format!("! {}: {}", host.host, note_text(note)),
                    options,
                    Paint::Warning,
                );
            }
        }
    }
    if !plan.is_empty() {
        out.push('\n');
        out.push_str(&summary_line(&plan.summary()));
        out.push('\n');
    }
    shorten_hashes(&redactor.redact(&out))
}

/// The stages of a canary rollout, one line each:
///
/// ```text
///   Stage 1 (canary): h1; watched for 30s, then `./smoke-test` must pass
///   Stage 2: h2, h3, once the canary passed; if it fails, h1 is rolled back and the run stops
/// ```
pub fn stages_text(stage: &crate::plan::CanaryStage) -> String {
    let judge = match &stage.check {
        Some(command) => format!(", then `{command}` must pass"),
        None => String::new(),
    };
    let canaries = stage.hosts.join(", ");
    let mut out = format!(
        "  Stage 1 (canary): {canaries}; watched for {}s{judge}\n",
        stage.wait_seconds
    );
    let rolled_back = if stage.hosts.len() == 1 { "is" } else { "are" };
    if stage.rest.is_empty() {
        let _ = writeln!(
            out,
            "  No stage 2: every host is a canary; if the canary fails, {canaries} {rolled_back} rolled back"
        );
    } else {
        let _ = writeln!(
            out,
            "  Stage 2: {}, once the canary passed; if it fails, {canaries} {rolled_back} rolled back and the run stops",
            stage.rest.join(", ")
        );
    }
    out
}

/// How many characters of a commit or digest people see, as git shows them.
pub const SHORT_HASH_LENGTH: usize = 12;

/// `text` with every git commit (40 lowercase hex characters) or digest (64) cut to its first
/// [`SHORT_HASH_LENGTH`], as git shortens them: a plan of a git-SHA deploy otherwise runs to
/// 200 columns. Only human output is shortened; JSON keeps every version whole. A run of hex
/// inside a longer word is left alone.
pub fn shorten_hashes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut previous: Option<char> = None;
    while let Some(start) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        let before = &rest[..start];
        out.push_str(before);
        let previous_char = before.chars().next_back().or(previous);
        let run = &rest[start..];
        let length = run
            .find(|c: char| !(c.is_ascii_digit() || ('a'..='f').contains(&c)))
            .unwrap_or(run.len());
        let next_char = run[length..].chars().next();
        let standalone = !previous_char.is_some_and(|c| c.is_ascii_alphanumeric())
            && !next_char.is_some_and(|c| c.is_ascii_alphanumeric());
        let word = if length == 0 {
            // An uppercase hex digit: not a hash, copy it.
            &run[..1]
        } else {
            &run[..length]
        };
        if standalone && (length == 40 || length == 64) {
            out.push_str(&word[..SHORT_HASH_LENGTH]);
        } else {
            out.push_str(word);
        }
        previous = word.chars().next_back();
        rest = &run[word.len()..];
    }
    out.push_str(rest);
    out
}

/// `Plan: 1 to add, 2 to change, 0 to replace, 1 to remove.`
pub fn summary_line(summary: &Summary) -> String {
    format!(
        "Plan: {} to add, {} to change, {} to replace, {} to remove.",
        summary.add, summary.change, summary.replace, summary.remove
    )
}

fn render_host(host: &HostChanges, options: RenderOptions, out: &mut String) {
    let _ = writeln!(out, "  # {}", host.host);
    for change in &host.changes {
        let (symbol, paint_as) = symbol(change.kind);
        // Symbols are right-aligned, as Terraform's: "   +", "   ~", " -/+".
        let line = format!(
            "{symbol:>4} {} ({})",
            resource_text(change),
            reason_text(&change.reason)
        );
        paint(out, &line, options, paint_as);
        for field in shown_fields(change) {
            let _ = writeln!(out, "        {}", field_text(field));
        }
    }
}

/// The fields worth showing: a new version's image and `KAMAL_*` values follow from the version.
pub(crate) fn shown_fields(change: &Change) -> impl Iterator<Item = &FieldChange> {
    let new_version = matches!(change.reason, Reason::NewVersion { .. });
    change.fields.iter().filter(move |field| {
        !(new_version
            && matches!(
                field.field.as_str(),
                "image" | "env.KAMAL_VERSION" | "env.KAMAL_CONTAINER_NAME"
            ))
    })
}

#[derive(Clone, Copy)]
enum Paint {
    Add,
    Change,
    Remove,
    Warning,
    Error,
}

fn paint(out: &mut String, line: &str, options: RenderOptions, paint: Paint) {
    if options.color {
        let _ = match paint {
            Paint::Add => writeln!(out, "{}", line.green()),
            Paint::Change => writeln!(out, "{}", line.yellow()),
            Paint::Remove => writeln!(out, "{}", line.red()),
            Paint::Warning => writeln!(out, "{}", line.yellow().bold()),
            Paint::Error => writeln!(out, "{}", line.red().bold()),
        };
    } else {
        let _ = writeln!(out, "{line}");
    }
}

fn symbol(kind: ChangeKind) -> (&'static str, Paint) {
    match kind {
        ChangeKind::Create => ("+", Paint::Add),
        ChangeKind::Update => ("~", Paint::Change),
        ChangeKind::Replace => ("-/+", Paint::Change),
        ChangeKind::Remove => ("-", Paint::Remove),
    }
}

/// What a change is about, for people.
pub fn resource_text(change: &Change) -> String {
    match &change.resource {
        Resource::App { role } => match &change.work {
            crate::diff::Work::DeployApp(deployment) => {
                match deployment
                    .retire
                    .iter()
                    .find(|old| old.name != deployment.spec.name)
                {
                    Some(old) if change.kind == ChangeKind::Replace => {
                        format!("app {role}: {} replaces {}", deployment.spec.name, old.name)
                    }
                    _ => format!("app {role}: {}", deployment.spec.name),
                }
            }
            _ => format!("app {role}"),
        },
        other => resource_name(other),
    }
}

/// A resource's name, without context.
pub fn resource_name(resource: &Resource) -> String {
    match resource {
        Resource::Network { name } => format!("network {name}"),
        Resource::Proxy => "proxy kamal-proxy".to_string(),
        Resource::File { path, owner } => match owner {
            FileOwner::RoleEnv(role) => format!("env file of role {role} ({path})"),
            FileOwner::RoleTls(role) => format!("TLS file of role {role} ({path})"),
            FileOwner::AccessoryEnv(name) => format!("env file of accessory {name} ({path})"),
            FileOwner::AccessoryFile(name) => format!("file of accessory {name} ({path})"),
            FileOwner::ErrorPage => format!("error page ({path})"),
        },
        Resource::Directory { path } => format!("directory {path}"),
        Resource::App { role } => format!("app {role}"),
        Resource::Route { service } => format!("route {service}"),
        Resource::Container { name } => format!("container {name}"),
        Resource::Accessory { name } => format!("accessory {name}"),
        Resource::Image { reference } => format!("image {reference}"),
        Resource::LatestTag { reference } => format!("tag {reference}"),
    }
}

/// Why, in words: the one place reasons become sentences.
pub fn reason_text(reason: &Reason) -> String {
    match reason {
        Reason::Missing => "missing".to_string(),
        Reason::NotRunning { status } => format!("{status}, should be running"),
        Reason::NewVersion {
            from: Some(from),
            to,
        } => format!("new version {from} → {to}"),
        Reason::NewVersion { from: None, to } => format!("new version {to}"),
        Reason::ConfigChanged => "configuration changed".to_string(),
        Reason::FailedBoot => {
            "kept stopped after a failed boot; a fresh container boots".to_string()
        }
        Reason::ImageChanged => "image changed in the registry".to_string(),
        Reason::ContentChanged => "contents changed".to_string(),
        Reason::RouteMissing => "not in kamal-proxy".to_string(),
        Reason::RouteTarget { current } if current.is_empty() => {
            "sends traffic nowhere".to_string()
        }
        Reason::RouteTarget { current } => format!("sends traffic to {}", current.join(", ")),
        Reason::RouteSettings => "route settings changed".to_string(),
        Reason::CertificateChanged => "TLS certificate changed".to_string(),
        Reason::RouteNotServing { state } => format!("{state}, should be serving"),
        Reason::NotCurrent => "an older version still running".to_string(),
        Reason::NotInConfig => "not in deploy.yml".to_string(),
        Reason::StaleRoute => "stale route of this service under an old name".to_string(),
        Reason::BeyondRetention { retain } => {
            format!("more stopped containers than retain_containers ({retain})")
        }
        Reason::Unused => "no container uses it".to_string(),
        Reason::LatestOutdated => "should name the deployed version".to_string(),
        Reason::Requested { command } => format!("requested by `gantry {command}`"),
    }
}

/// One field difference; sensitive values are never shown.
pub fn field_text(field: &FieldChange) -> String {
    match (&field.before, &field.after, field.sensitive) {
        (Some(_), Some(_), true) => format!("~ {}: (sensitive value changed)", field.field),
        (None, Some(_), true) => format!("+ {}: (sensitive value)", field.field),
        (Some(_), None, true) | (None, None, true) => format!("- {}", field.field),
        (Some(before), Some(after), _) => format!("~ {}: {before:?} → {after:?}", field.field),
        (None, Some(after), _) => format!("+ {}: {after:?}", field.field),
        (Some(before), None, _) => format!("- {}: {before:?}", field.field),
        (None, None, _) => format!("- {}", field.field),
    }
}

/// What to do about a note that makes apply refuse to run ([`Note::refuses_apply`]).
pub fn refusal_help(note: &Note) -> &'static str {
    match note {
        Note::PortConflict { .. } => {
            "publish another host port in deploy.yml (or bind it to another address), or remove \
             the other container first"
        }
        Note::RouteConflict { .. } => {
            "give this service's proxy.host (or proxy.path_prefix) one no other service on the \
             host uses, or remove the other service first"
        }
        _ => "`gantry proxy reboot` updates kamal-proxy (or apply with --reboot-proxy)",
    }
}

/// A note, with what the user can do about it.
pub fn note_text(note: &Note) -> String {
    let fields = |fields: &[FieldChange]| {
        fields
            .iter()
            .map(|field| field.field.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match note {
        Note::RouteConflict {
            service,
            other_service,
            host_name,
            path_prefix,
        } => format!(
            "route {service} claims host {} path {path_prefix}, which service {other_service} \
             holds on this kamal-proxy (kamal-proxy refuses it: host settings conflict with \
             another service); apply refuses to run",
            if host_name.is_empty() {
                "* (any host)"
            } else {
                host_name
            }
        ),
        Note::PortConflict {
            container,
            port,
            other_container,
            other_service,
        } => format!(
            "{container} publishes host port {port}, which container {other_container} of \
             service {other_service} publishes already (Docker would refuse to start it); \
             apply refuses to run"
        ),
        Note::ProxyOutdated { fields: changed } => format!(
            "kamal-proxy differs from the configuration ({}); run with --reboot-proxy to replace it (a reboot interrupts traffic)",
            fields(changed)
        ),
        Note::ProxyTooOld { version } => format!(
            "kamal-proxy {version} is older than {}, the oldest Kamal deploys through: apply \
             refuses to run until `gantry proxy reboot` (or `apply --reboot-proxy`) updates it",
            crate::kamal_proxy::MINIMUM_VERSION
        ),
        Note::ProxyBootFilesIgnored { reason } => format!(
            "{reason}; gantry boots kamal-proxy with deploy.yml's settings here (set them under proxy.run in deploy.yml, as Kamal 2.10+ does)"
        ),
        Note::AccessoryChanged {
            name,
            fields: changed,
        } => format!(
            "accessory {name} differs from the configuration ({}); run with --recreate-accessories to replace it (its data is kept)",
            fields(changed)
        ),
        Note::AccessoryNotInConfig { container } => format!(
            "container {container} looks like an accessory of this service but deploy.yml does not name it; `gantry accessory remove` removes one"
        ),
        Note::Locked(lock) => {
            let holder = lock.holder.as_deref().unwrap_or("someone");
            let since = lock
                .since
                .as_deref()
                .map(|since| format!(" since {since}"))
                .unwrap_or_default();
            let message = lock
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            format!("the deploy lock is held by {holder}{since}{message}")
        }
        Note::Interrupted { run, detail } => format!("run {run} was interrupted: {detail}"),
        Note::Maintenance { service, message } => format!(
            "route {service} is in maintenance (kamal-proxy answers 503{}); an apply deploys \
             behind it and keeps it there; `gantry app live` serves it again",
            if message.is_empty() {
                String::new()
            } else {
                format!(" with {message:?}")
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_and_digests_are_shortened_and_other_words_kept() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let digest = "ab".repeat(32);
        assert_eq!(
            shorten_hashes(&format!(
                "app web: app-web-{commit} (new version {commit} → v2) sha256:{digest}"
            )),
            "app web: app-web-0123456789ab (new version 0123456789ab → v2) sha256:abababababab"
        );
        // Not a whole word, another length, or uppercase: kept as written.
        let kept = format!(
            "x{commit} {commit}z {} {}",
            &commit[..39],
            commit.to_uppercase()
        );
        assert_eq!(shorten_hashes(&kept), kept);
        assert_eq!(shorten_hashes("é → ü, 12 ok"), "é → ü, 12 ok");
    }

    #[test]
    fn a_plan_for_a_git_commit_shows_it_shortened() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let config = crate::testing::config(&["h1"]);
        let desired = crate::testing::desired(&config, commit);
        let observed = crate::testing::observed_of(&crate::testing::desired(&config, "v0"));
        let plan = crate::plan::build(
            crate::diff::diff(&desired, &observed, Default::default()),
            &Default::default(),
        );
        let text = render(&plan, RenderOptions::default(), &Redactor::new(Vec::new()));
        assert!(!text.contains(commit), "{text}");
        assert!(text.contains("v0 → 0123456789ab"), "{text}");
    }
}
