//! One test per ERB form: native rendering, errors at the expression, and the way out to Ruby.

use super::*;
use crate::config::diagnostic::Code;

fn env(name: &str) -> Option<String> {
    match name {
        "HOST" => Some("app.example.com".into()),
        "MULTI" => Some("a\nb".into()),
        "ROLE" => Some("web".into()),
        "HOSTS" => Some("10.0.0.1, 10.0.0.2,".into()),
        "PORT" => Some(" 8080 ".into()),
        "EMPTY" => Some(String::new()),
        // No `ruby` in an empty PATH: the Ruby fallback is unavailable in unit tests.
        "PATH" => Some(String::new()),
        _ => None,
    }
}

fn render_with(template: &str, allow_commands: bool) -> (Option<Rendered>, Problems) {
    let mut problems = Problems::default();
    let input = ErbInput {
        env: &env,
        allow_commands,
    };
    let rendered = render(template, FileId(0), &input, &mut problems);
    (rendered, problems)
}

fn text(template: &str) -> String {
    let (rendered, problems) = render_with(template, true);
    assert!(!problems.has_errors(), "{:?}", problems.errors());
    rendered.expect("renders").text
}

fn error(template: &str) -> Problem {
    let (rendered, problems) = render_with(template, true);
    assert!(rendered.is_none());
    problems.errors()[0].clone()
}

fn spanned<'a>(template: &'a str, problem: &Problem) -> &'a str {
    let span = problem.span.expect("a span");
    &template[span.offset..span.offset + span.len]
}

#[test]
fn substitutes_env_lookups() {
    assert_eq!(
        text(
            "a: <%= ENV[\"HOST\"] %>\nb: <%= ENV['HOST'] %>\nc: <%= ENV.fetch(\"HOST\") %>\n\
             d: <%= ENV.fetch('NOPE', 'dflt') %>\ne: <%= ENV[\"NOPE\"] %>x\n"
        ),
        "a: app.example.com\nb: app.example.com\nc: app.example.com\nd: dflt\ne: x\n"
    );
}

#[test]
fn defaults_with_or_and_presence() {
    assert_eq!(text("<%= ENV[\"NOPE\"] || \"d\" %>"), "d");
    assert_eq!(text("<%= ENV[\"HOST\"] || \"d\" %>"), "app.example.com");
    assert_eq!(text("<%= ENV[\"EMPTY\"] || \"d\" %>"), "");
    assert_eq!(text("<%= ENV[\"EMPTY\"].presence || \"d\" %>"), "d");
    assert_eq!(
        text("<%= ENV['NOPE'] && 'x' %>|<%= !ENV['NOPE'] %>"),
        "|true"
    );
}

#[test]
fn if_elsif_else_unless() {
    let template = "<% if ENV[\"ROLE\"] == \"job\" -%>\njob\n<% elsif ENV[\"ROLE\"] == \"web\" -%>\n\
                    web\n<% else -%>\nother\n<% end -%>\n<% unless ENV[\"NOPE\"] -%>\nunset\n\
                    <% end -%>\n<% if ENV['NOPE'].nil? and not ENV['HOST'].empty? %>both<% end %>";
    assert_eq!(text(template), "web\nunset\nboth");
}

#[test]
fn ternaries_comparisons_and_string_methods() {
    assert_eq!(text("<%= ENV[\"ROLE\"] == \"web\" ? \"a\" : \"b\" %>"), "a");
    assert_eq!(text("<%= ENV[\"PORT\"].strip.to_i >= 8000 %>"), "true");
    assert_eq!(
        text("<%= ENV[\"HOST\"].upcase.split(\".\").first.downcase %>"),
        "app"
    );
}

#[test]
fn loops_constants_and_interpolation() {
    let template = "<% HOSTS = ENV[\"HOSTS\"].split(\",\").map -%>\n";
    assert!(matches!(
        render_with(template, true).1.errors()[0].code,
        Code::ErbUnsupported
    ));
    let template = "<% SUFFIX = \"-#{ENV['ROLE']}\" -%>\n<% %w[a b].each do |name| -%>\n  \
                    - <%= \"#{name}#{SUFFIX}\" %>\n<% end -%>\n<% ENV['HOSTS'].split(',').each \
                    do |h| %><%= h.strip %>;<% end %>";
    assert_eq!(text(template), "  - a-web\n  - b-web\n10.0.0.1;10.0.0.2;");
}

#[test]
fn values_print_as_ruby_prints_them() {
    assert_eq!(text("[<%= nil %>]"), "[]");
    assert_eq!(
        text("<%= [1, nil, \"x\", ENV['ROLE'].split(',')] %>"),
        "[1, nil, \"x\", [\"web\"]]"
    );
    assert_eq!(text("<%= ENV['NOPE'].inspect %> <%= 1 + 2 %>"), "nil 3");
}

#[test]
fn backticks_keep_the_trailing_newline() {
    assert_eq!(text("a: <%= `echo hi` %>"), "a: hi\n");
    assert_eq!(
        text("a: <%= %x(printf 'x #{ENV['ROLE']}').strip %>"),
        "a: x web"
    );
    assert_eq!(text("a: <%= `echo $KAMAL_DESTINATION`.chomp %>."), "a: .");
}

#[test]
fn a_failing_command_warns_and_its_output_is_used() {
    let (rendered, problems) = render_with("a: <%= `printf x; exit 4` %>", true);
    assert_eq!(rendered.expect("renders").text, "a: x");
    let (_, warnings) = problems.into_parts();
    assert_eq!(warnings[0].code, Code::ErbCommandFailed);
}

#[test]
fn commands_obey_the_switch() {
    let template = "a: <%= ENV['HOST'] %>\nb: <%= `touch /nonexistent/never` %>\n";
    let (rendered, problems) = render_with(template, false);
    assert!(rendered.is_none());
    let problem = &problems.errors()[0];
    assert_eq!(problem.code, Code::ErbCommandsDisabled);
    assert_eq!(spanned(template, problem), "`touch /nonexistent/never`");
}

#[test]
fn file_read_and_dotenv_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cr3t\n").expect("write");
    let dotenv = dir.path().join(".env.test");
    std::fs::write(&dotenv, "FROM_DOTENV=loaded\nHOST=not-overridden\n").expect("write");
    let template = format!(
        "<% require \"dotenv\"; Dotenv.load(\"{}\") %>\n<%= File.read(\"{}\").strip %> \
         <%= ENV['FROM_DOTENV'] %> <%= ENV['HOST'] %> <%= File.exist?(\"{}/no\") %>",
        dotenv.display(),
        token.display(),
        dir.path().display()
    );
    assert_eq!(text(&template), "\ns3cr3t loaded app.example.com false");
    let problem = error("<%= File.read(\"/nonexistent/x\") %>");
    assert_eq!(problem.code, Code::ErbError);
}

#[test]
fn trim_marks_remove_the_newline_and_indentation() {
    assert_eq!(
        text("a: 1\n  <%-# c -%>\nb: 2\n<%# note -%>\nc: 3\n"),
        "a: 1\nb: 2\nc: 3\n"
    );
}

#[test]
fn escaped_tag_is_literal() {
    assert_eq!(text("a: \"<%% x %>\"\n"), "a: \"<% x %>\"\n");
}

#[test]
fn offsets_after_a_substitution_map_back_to_the_original() {
    let template = "a: <%= ENV[\"HOST\"] %> bad\n";
    let (rendered, _) = render_with(template, true);
    let out = rendered.expect("renders");
    let rendered_bad = out.text.find("bad").expect("rendered");
    let (offset, len) = out.map.to_original(rendered_bad, 3);
    assert_eq!(&template[offset..offset + len], "bad");
    let (offset, len) = out.map.to_original(3, 4);
    assert_eq!(&template[offset..offset + len], "<%= ENV[\"HOST\"] %>");
}

#[test]
fn missing_fetch_names_the_variable() {
    let template = "a: <%= ENV.fetch(\"DB_HOST\") %>\n";
    let problem = error(template);
    assert_eq!(problem.code, Code::ErbMissingEnv);
    assert!(problem.message.contains("DB_HOST"));
    assert_eq!(spanned(template, &problem), "ENV.fetch(\"DB_HOST\")");
}

#[test]
fn ruby_errors_point_at_the_expression() {
    let template = "a: <%= ENV[\"HOST\"] %>\nb: <%= ENV[\"NOPE\"].strip %>\n";
    let problem = error(template);
    assert_eq!(problem.code, Code::ErbError);
    assert!(problem.message.contains("strip"), "{}", problem.message);
    assert_eq!(spanned(template, &problem), "ENV[\"NOPE\"].strip");
}

#[test]
fn unsupported_code_needs_ruby_and_says_so() {
    let template = "a: <%= ENV['HOST'] %>\nb: <%= Time.now.year %>\n";
    let problem = error(template);
    assert_eq!(problem.code, Code::ErbUnsupported);
    assert_eq!(spanned(template, &problem), "Time");
    assert!(problem.message.contains("Time.now.year") || problem.message.contains("Time"));
    assert!(
        problem
            .help
            .as_deref()
            .unwrap_or("")
            .contains("install Ruby")
    );
    let (_, problems) = render_with(template, false);
    assert_eq!(problems.errors()[0].code, Code::ErbCommandsDisabled);
}

#[test]
fn broken_blocks_and_tags_are_errors() {
    assert_eq!(error("<% end %>").code, Code::ErbSyntax);
    assert_eq!(error("<% if true %>\na\n").code, Code::ErbSyntax);
    assert_eq!(error("a: <%= ENV[\"HOST\"]\n").code, Code::ErbUnterminated);
    assert_eq!(
        error("a: <%= ENV[\"MULTI\"] %>\n").code,
        Code::ErbMultilineValue
    );
}

proptest::proptest! {
    /// Whatever the code in a tag, rendering ends in text or a diagnostic, never a panic, and
    /// every span stays inside the file on character boundaries.
    #[test]
    fn any_code_renders_or_is_diagnosed(code in "[ -~\\né€]{0,40}", output in proptest::bool::ANY) {
        let template = format!("a: <%{} {code} %>\nb: 1\n", if output { "=" } else { "" });
        let (_, problems) = render_with(&template, false);
        for problem in problems.errors() {
            if let Some(span) = problem.span {
                proptest::prop_assert!(template.get(span.offset..span.offset + span.len).is_some());
            }
        }
    }

    /// Sequences of the tokens the grammar knows, in any order.
    #[test]
    fn any_token_sequence_renders_or_is_diagnosed(tokens in proptest::collection::vec(
        proptest::sample::select(vec![
            "ENV", "[", "]", "\"HOST\"", "'NOPE'", ".", "fetch", "(", ")", ",", "||", "&&", "!",
            "?", ":", "==", "<", "+", "1", "nil", "true", "strip", "split", "first", "if", "else",
            "end", "unless", "each", "do", "|", "x", "X", "=", ";", "%w[a b]", "\"#{", "}\"",
            "&.", "not", "and", "presence", "to_i", "join",
        ]),
        0..14,
    )) {
        let code = tokens.join(" ");
        let template = format!("<% {code} %>\na: <%= {code} %>\n<% end %>\n");
        let (_, problems) = render_with(&template, false);
        for problem in problems.errors() {
            if let Some(span) = problem.span {
                proptest::prop_assert!(template.get(span.offset..span.offset + span.len).is_some());
            }
        }
    }
}
