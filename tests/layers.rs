//! The layers of `src/`, kept by a test: it reads every source file, builds the graph of which
//! top-level module imports which (`crate::x`, `use crate::{x, y}`, `super::` paths that climb
//! to the crate root), and fails on an import that runs the wrong way or in a circle, naming the
//! files that make it.
//!
//! The rules (imports point down only):
//! - `model` is a leaf: it imports nothing else of gantry;
//! - the pure stages (`config`, `desired`, `diff`, `plan`) import nothing from `host`, `apply`,
//!   `cli`, `session` or the test kit, and do not use tokio;
//! - no module reaches another that reaches back to it, directly or through others.
//!
//! Test code (`tests.rs`, `tests/` folders, `#[cfg(test)] mod ... { }` blocks, the test kit
//! itself) may import anything and is left out. Re-exports at the crate root (`pub use
//! model::secret;`) are followed to the module that holds the code, so an import through an old
//! path still counts as a dependency on the real module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → imported top-level module → files (relative to `src/`) that import it.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

const PURE_STAGES: &[&str] = &["config", "desired", "diff", "plan"];
const BELOW_PURE_STAGES: &[&str] = &["host", "apply", "cli", "session", "testkit"];
const LEAF: &str = "model";
/// The module that exists for tests only; nothing else may import it.
const TEST_ONLY: &[&str] = &["testkit"];

#[test]
fn the_model_imports_nothing_of_gantry() {
    let graph = graph_of_src();
    assert!(
        graph.contains_key(LEAF) || module_exists(LEAF),
        "src/{LEAF} is gone; update this test"
    );
    let imports = graph.get(LEAF).cloned().unwrap_or_default();
    assert!(
        imports.is_empty(),
        "{LEAF} must be a leaf:\n{}",
        describe(LEAF, &imports)
    );
}

#[test]
fn pure_stages_import_no_host_executor_cli_session_or_tokio() {
    let graph = graph_of_src();
    let mut violations = Vec::new();
    for stage in PURE_STAGES {
        let imports = graph.get(*stage).cloned().unwrap_or_default();
        for forbidden in BELOW_PURE_STAGES {
            if let Some(files) = imports.get(*forbidden) {
                violations.push(format!("{stage} → {forbidden}: {}", join(files)));
            }
        }
        for file in files_using_tokio(stage) {
            violations.push(format!("{stage} uses tokio: {file}"));
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn only_tests_import_the_test_kit() {
    let graph = graph_of_src();
    let mut violations = Vec::new();
    for (module, imports) in &graph {
        if TEST_ONLY.contains(&module.as_str()) {
            continue;
        }
        for test_only in TEST_ONLY {
            if let Some(files) = imports.get(*test_only) {
                violations.push(format!("{module} → {test_only}: {}", join(files)));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn no_two_modules_import_each_other_directly_or_through_others() {
    let graph = graph_of_src();
    let cycles: Vec<String> = strongly_connected(&graph)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| {
            let edges: Vec<String> = component
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|(to, _)| component.contains(*to))
                        .map(move |(to, files)| format!("  {from} → {to}: {}", join(files)))
                })
                .collect();
            format!(
                "cycle among {}:\n{}",
                component.iter().cloned().collect::<Vec<_>>().join(", "),
                edges.join("\n")
            )
        })
        .collect();
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}

/// The scanner itself: each kind of path it must see, and the test code it must not.
#[test]
fn the_scanner_sees_every_kind_of_crate_path_and_skips_tests_and_comments() {
    let source = "\
//! Doc that names crate::docs_only.
use crate::{alpha::A, beta, gamma::{G, H}};
use crate::delta::D;
fn f() -> super::super::epsilon::E { crate::zeta::z() } // crate::comment_only

#[cfg(test)]
mod tests {
    use crate::test_only::T;
}
";
    let imports = imports_of(&["desired".into(), "app".into()], source);
    let expected: BTreeSet<String> = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(imports, expected);
    let aliases = crate_root_aliases(
        "pub mod model;\npub use model::secret;\npub(crate) use testkit::values as testing;\n",
    );
    assert_eq!(aliases.get("secret").map(String::as_str), Some("model"));
    assert_eq!(aliases.get("testing").map(String::as_str), Some("testkit"));
}

#[test]
fn a_cycle_of_three_is_found() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph
            .entry(from.into())
            .or_default()
            .entry(to.into())
            .or_default()
            .insert(format!("{from}.rs"));
    }
    let components: Vec<BTreeSet<String>> = strongly_connected(&graph)
        .into_iter()
        .filter(|component| component.len() > 1)
        .collect();
    assert_eq!(
        components,
        vec![["a", "b", "c"].into_iter().map(String::from).collect()]
    );
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn module_exists(name: &str) -> bool {
    src_dir().join(name).is_dir() || src_dir().join(format!("{name}.rs")).is_file()
}

/// Every `.rs` file under `src/` that is not test code, with its module path
/// (`src/desired/app.rs` → `[desired, app]`, `src/plan/mod.rs` → `[plan]`).
fn product_files() -> Vec<(String, Vec<String>)> {
    let root = src_dir();
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).expect("reading src/");
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "tests") {
                    pending.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).expect("under src/");
            let mut module: Vec<String> = relative
                .with_extension("")
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|last| last == "mod") {
                module.pop();
            }
            if module.last().is_some_and(|last| last == "tests") {
                continue;
            }
            if matches!(module.as_slice(), [only] if only == "lib" || only == "main") {
                module.clear();
            }
            files.push((relative.to_string_lossy().into_owned(), module));
        }
    }
    let test_only = test_only_modules(&files);
    files.retain(|(_, module)| !test_only.iter().any(|prefix| module.starts_with(prefix)));
    files.sort();
    files
}

/// Modules declared `#[cfg(test)] mod name;` (a file of tests beside the code it tests).
fn test_only_modules(files: &[(String, Vec<String>)]) -> Vec<Vec<String>> {
    let mut test_only = Vec::new();
    for (file, module) in files {
        let source = std::fs::read_to_string(src_dir().join(file)).expect("reading a source");
        let mut lines = source.lines();
        while let Some(line) = lines.next() {
            if line.trim() != "#[cfg(test)]" {
                continue;
            }
            let declared = lines.next().and_then(|next| {
                let next = next
                    .trim()
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub ");
                next.strip_prefix("mod ")?
                    .strip_suffix(';')
                    .map(String::from)
            });
            if let Some(name) = declared {
                let mut child = module.clone();
                child.push(name);
                test_only.push(child);
            }
        }
    }
    test_only
}

fn graph_of_src() -> Graph {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).expect("reading src/lib.rs");
    let aliases = crate_root_aliases(&lib);
    let mut graph = Graph::new();
    for (file, module) in product_files() {
        let Some(top) = module.first() else {
            continue;
        };
        if TEST_ONLY.contains(&top.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(src_dir().join(&file)).expect("reading a source");
        let imports = graph.entry(top.clone()).or_default();
        for imported in imports_of(&module, &source) {
            let imported = aliases.get(&imported).cloned().unwrap_or(imported);
            if &imported != top && module_exists(&imported) {
                imports.entry(imported).or_default().insert(file.clone());
            }
        }
    }
    graph
}

/// `pub use model::secret;` at the crate root: `secret` → `model`.
fn crate_root_aliases(lib: &str) -> BTreeMap<String, String> {
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            line.strip_prefix("pub use ")
                .or_else(|| line.strip_prefix("pub(crate) use "))
        })
        .filter_map(|path| {
            let path = path.trim_end_matches(';');
            let (module, name) = path.split_once("::")?;
            let name = match name.split_once(" as ") {
                Some((_, alias)) => alias,
                None => name.rsplit("::").next()?,
            };
            Some((name.to_string(), module.to_string()))
        })
        .collect()
}

/// The top-level modules a file's product code names.
fn imports_of(module: &[String], source: &str) -> BTreeSet<String> {
    let code = product_code(source);
    let mut imports = BTreeSet::new();
    for (index, _) in code.match_indices("crate::") {
        if index > 0
            && is_ident(code.as_bytes()[index - 1] as char)
            && !code[..index].ends_with("$")
        {
            continue;
        }
        let rest = &code[index + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            imports.extend(group_heads(group));
        } else {
            imports.extend(leading_ident(rest));
        }
    }
    for (index, _) in code.match_indices("super::") {
        if index > 0
            && (is_ident(code.as_bytes()[index - 1] as char) || code[..index].ends_with("::"))
        {
            continue;
        }
        let mut rest = &code[index..];
        let mut depth = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            depth += 1;
            rest = after;
        }
        if depth == module.len() {
            imports.extend(leading_ident(rest));
        }
    }
    imports.remove("self");
    imports
}

/// The first name of each path in a `{...}` group (`alpha::A, beta, gamma::{G, H}}`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_item_start = true;
    for (index, character) in group.char_indices() {
        match character {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item_start = true,
            character if at_item_start && depth == 0 && is_ident(character) => {
                heads.extend(leading_ident(&group[index..]));
                at_item_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn leading_ident(text: &str) -> Option<String> {
    let ident: String = text.chars().take_while(|c| is_ident(*c)).collect();
    (!ident.is_empty()).then_some(ident)
}

fn is_ident(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_'
}

/// The source without comments and without `#[cfg(test)] mod name { ... }` blocks (rustfmt
/// closes those with a `}` alone at the start of a line).
fn product_code(source: &str) -> String {
    let mut code = String::new();
    let mut lines = source.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.starts_with("mod ") && next.ends_with('{'))
        {
            for skipped in lines.by_ref() {
                if skipped == "}" {
                    break;
                }
            }
            continue;
        }
        let without_comment = line.find("//").map_or(line, |start| &line[..start]);
        code.push_str(without_comment);
        code.push('\n');
    }
    code
}

/// Files of `module` that name tokio in their product code.
fn files_using_tokio(module: &str) -> Vec<String> {
    product_files()
        .into_iter()
        .filter(|(_, path)| path.first().is_some_and(|top| top == module))
        .filter(|(file, _)| {
            let source = std::fs::read_to_string(src_dir().join(file)).expect("reading a source");
            product_code(&source).contains("tokio")
        })
        .map(|(file, _)| file)
        .collect()
}

/// Tarjan's strongly connected components, each as a sorted set of modules.
fn strongly_connected(graph: &Graph) -> Vec<BTreeSet<String>> {
    struct Walk<'a> {
        graph: &'a Graph,
        next_index: usize,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<BTreeSet<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a str) {
            self.index.insert(node, self.next_index);
            self.low.insert(node, self.next_index);
            self.next_index += 1;
            self.stack.push(node);
            self.on_stack.insert(node);
            let targets = self
                .graph
                .get(node)
                .into_iter()
                .flat_map(|edges| edges.keys());
            for target in targets {
                let target = target.as_str();
                if !self.index.contains_key(target) {
                    self.visit(target);
                    let low = self.low[node].min(self.low[target]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(target) {
                    let low = self.low[node].min(self.index[target]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = BTreeSet::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.insert(member.to_string());
                    if member == node {
                        break;
                    }
                }
                self.components.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        next_index: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            walk.visit(node);
        }
    }
    walk.components
}

fn describe(module: &str, imports: &BTreeMap<String, BTreeSet<String>>) -> String {
    imports
        .iter()
        .map(|(to, files)| format!("  {module} → {to}: {}", join(files)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn join(files: &BTreeSet<String>) -> String {
    files
        .iter()
        .map(|file| format!("src/{file}"))
        .collect::<Vec<_>>()
        .join(", ")
}
