use std::collections::VecDeque;

use super::*;

/// Answers calls from a script of `(program and args, success, stdout)` and records them.
struct Scripted {
    answers: VecDeque<(String, bool, String)>,
    calls: Vec<VendorCall>,
}

impl Scripted {
    fn new(answers: &[(&str, bool, &str)]) -> Self {
        Scripted {
            answers: answers
                .iter()
                .map(|(call, success, stdout)| (call.to_string(), *success, stdout.to_string()))
                .collect(),
            calls: Vec::new(),
        }
    }
}

impl VendorRunner for Scripted {
    fn run(&mut self, call: &VendorCall) -> VendorOutput {
        let line = std::iter::once(call.program.to_string())
            .chain(call.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let (expected, success, stdout) = self
            .answers
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected call `{line}`"));
        assert_eq!(line, expected);
        self.calls.push(call.clone());
        VendorOutput { success, stdout }
    }
}

fn request(secrets: &[&str], account: Option<&str>, from: Option<&str>) -> FetchRequest {
    FetchRequest {
        secrets: secrets.iter().map(|secret| secret.to_string()).collect(),
        account: account.map(String::from),
        from: from.map(String::from),
    }
}

#[test]
fn adapters_are_found_by_kamals_names() {
    assert_eq!(Adapter::lookup("1Password"), Some(Adapter::OnePassword));
    assert_eq!(Adapter::lookup("one_password"), Some(Adapter::OnePassword));
    assert_eq!(Adapter::lookup("OnePassword"), Some(Adapter::OnePassword));
    assert_eq!(
        Adapter::lookup("bitwarden-sm"),
        Some(Adapter::BitwardenSecretsManager)
    );
    assert_eq!(Adapter::lookup("gcp"), Some(Adapter::GcpSecretManager));
    assert_eq!(
        Adapter::lookup("aws_secrets_manager"),
        Some(Adapter::AwsSecretsManager)
    );
    assert_eq!(Adapter::lookup("onepassword"), None);
    assert_eq!(Adapter::lookup("TEST"), None);
    assert_eq!(Adapter::lookup("keepassxc"), None);
}

#[test]
fn one_password_groups_fields_by_item_and_signs_in_when_needed() {
    let answer = r#"[{"label":"A","value":"1","reference":"op://V/I/A"},
                     {"label":"B","value":"x y","reference":"op://V/I/s/B"}]"#;
    let single = r#"{"label":"password","value":"p","reference":"op://V/J/password"}"#;
    let mut runner = Scripted::new(&[
        ("op --version", true, "2.30.0\n"),
        ("op account get --account acc", false, ""),
        ("op signin --account acc --force --raw", true, "TOKEN\n"),
        (
            "op item get I --vault V --format json --account acc --session TOKEN --fields label=A,label=s.B",
            true,
            answer,
        ),
        (
            "op item get J --vault V --format json --account acc --session TOKEN --fields label=password",
            true,
            single,
        ),
    ]);
    let fetched = fetch(
        Adapter::OnePassword,
        &request(&["I/A", "J", "I/s/B"], Some("acc"), Some("op://V")),
        &mut runner,
    )
    .expect("fetches");
    assert_eq!(
        fetched.to_json(),
        r#"{"V/I/A":"1","V/I/s/B":"x y","V/J":"p"}"#
    );
}

#[test]
fn bitwarden_unlocks_and_passes_the_session_in_the_environment() {
    let mut runner = Scripted::new(&[
        ("bw --version", true, "2024.1.0"),
        ("bw status", true, r#"{"status":"locked"}"#),
        ("bw unlock --raw", true, "SESSION\n"),
        ("bw status", true, r#"{"status":"unlocked"}"#),
        ("bw sync", true, "Syncing complete."),
        (
            "bw get item item",
            true,
            r#"{"login":{"password":"pw"},"fields":[{"name":"F","value":"f"}]}"#,
        ),
    ]);
    let fetched = fetch(
        Adapter::Bitwarden,
        &request(&["item"], Some("me@example.com"), None),
        &mut runner,
    )
    .expect("fetches");
    assert_eq!(fetched.to_json(), r#"{"item":"pw"}"#);
    assert_eq!(runner.calls[1].env, []);
    assert_eq!(runner.calls[3].env, [("BW_SESSION", "SESSION".to_string())]);
    assert_eq!(runner.calls[5].env, [("BW_SESSION", "SESSION".to_string())]);
}

#[test]
fn failures_name_the_adapter_and_item_but_no_value() {
    let mut runner = Scripted::new(&[
        ("lpass --version", true, ""),
        ("lpass status --color never", true, "Logged in as me."),
        (
            "lpass show F/A F/B --json",
            true,
            r#"[{"fullname":"F/A","password":"hunter2"}]"#,
        ),
    ]);
    let error = fetch(
        Adapter::LastPass,
        &request(&["A", "B"], Some("me"), Some("F")),
        &mut runner,
    )
    .expect_err("B is missing");
    assert_eq!(
        error.to_string(),
        "lastpass adapter: Could not find F/B in LastPass"
    );
    let mut runner = Scripted::new(&[("aws --version", false, "")]);
    let error = fetch(
        Adapter::AwsSecretsManager,
        &request(&["x"], None, None),
        &mut runner,
    )
    .expect_err("not installed");
    assert_eq!(
        error.to_string(),
        "aws_secrets_manager adapter: AWS CLI is not installed"
    );
}

#[test]
fn fetched_keys_keep_their_first_place() {
    let mut fetched = Fetched::default();
    fetched.insert("b", Value::from("1"));
    fetched.insert("a", Value::from("ü \"q\""));
    fetched.insert("b", Value::from(2));
    assert_eq!(fetched.to_json(), r#"{"b":2,"a":"ü \"q\""}"#);
    assert!(!format!("{fetched:?}").contains('ü'));
}
