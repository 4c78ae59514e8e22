use super::*;
use crate::config::diagnostic::Code;
use crate::config::erb::OffsetMap;
use crate::config::source::FileId;

fn check_text(text: &str) -> Vec<(Code, String, Option<String>)> {
    let mut problems = Problems::default();
    let node = crate::config::yaml::parse(
        text,
        FileId(0),
        &OffsetMap::identity(text.len()),
        &mut problems,
    )
    .expect("valid YAML");
    check_section(&node, &CONFIGURATION, "", &mut problems);
    problems
        .errors()
        .iter()
        .map(|p| (p.code, p.message.clone(), p.help.clone()))
        .collect()
}

#[test]
fn unknown_keys_suggest_the_closest_key() {
    let errors = check_text("service: app\nimage: app\nservrs:\n  - 1.1.1.1\n");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, Code::UnknownKey);
    assert_eq!(errors[0].1, "servrs: unknown key");
    assert_eq!(errors[0].2.as_deref(), Some("did you mean `servers`?"));
}

#[test]
fn extension_keys_are_ignored_at_the_root_only() {
    assert!(check_text("x-common: &c {a: 1}\nservice: app\n").is_empty());
    let errors = check_text("ssh:\n  x-thing: 1\n");
    assert_eq!(errors[0].1, "ssh/x-thing: unknown key");
}

#[test]
fn wrong_types_name_the_key_path() {
    let errors = check_text(
        "servers:\n  web:\n    hosts: 1.1.1.1\nretain_containers: \"3\"\nproxy:\n  ssl: [x]\n",
    );
    let messages: Vec<&str> = errors.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "servers/web/hosts: should be an array",
            "retain_containers: should be an integer",
            "proxy/ssl: should be a boolean or a hash",
        ]
    );
}

#[test]
fn env_forms_are_checked() {
    assert!(check_text("env:\n  A: 1\n  B: two\n").is_empty());
    assert!(
        check_text("env:\n  clear: {A: 1}\n  secret: [B]\n  tags:\n    t: {C: 1}\n").is_empty()
    );
    let errors = check_text(
        "env:\n  clear: {A: 1}\n  B: 2\nservers:\n  web:\n    hosts: [h]\n    env:\n      tags: {}\n",
    );
    let messages: Vec<&str> = errors.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "env/B: unknown key",
            "servers/web/env/tags: tags are only allowed in the root env"
        ]
    );
}

#[test]
fn tagged_hosts_and_multi_host_entries() {
    assert!(check_text("servers:\n  - a\n  - b: t\n  - c: [t1, t2]\n").is_empty());
    let errors = check_text("servers:\n  - a: t\n    b: u\n");
    assert_eq!(errors[0].0, Code::InvalidHost);
}
