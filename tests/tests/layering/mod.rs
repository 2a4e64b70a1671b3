//! The layering checker behind `architecture.rs`: parses the documented layer order
//! of `core/src/lib.rs` and finds every path into the crate in a set of source files.
//! See `architecture.rs` for the rules. It also holds the one source-file walker
//! ([`rs_files`]) that `architecture.rs` and `host_architecture.rs` read crates with.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, as (path relative to `dir` with `/` separators, text),
/// in sorted path order. Panics (naming the path) if the tree cannot be read.
pub fn rs_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, base, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, fs::read_to_string(&p).unwrap()));
        }
    }
}

/// The documented order: module name → item number (1-based).
#[derive(Debug)]
pub struct Layers {
    /// Module name → item number (1-based).
    pub item_of: BTreeMap<String, usize>,
    /// How many items the list has.
    pub items: usize,
}

/// Parses the `## Layers` list of the crate docs of `lib_rs`.
pub fn parse_layers(lib_rs: &str) -> Result<Layers, String> {
    let docs: Vec<&str> = lib_rs
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = docs
        .iter()
        .position(|l| l.trim() == "## Layers")
        .ok_or("lib.rs crate docs have no `## Layers` section")?;
    let mut item_of = BTreeMap::new();
    let mut items = 0;
    for line in docs[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with("## "))
    {
        let Some((number, rest)) = line.split_once(". ") else {
            continue;
        };
        let Ok(n) = number.parse::<usize>() else {
            continue;
        };
        if n != items + 1 {
            return Err(format!("layer item {n} follows item {items}"));
        }
        items = n;
        let head = rest.split_once(": ").map_or(rest, |(h, _)| h);
        let names: Vec<&str> = head.split('`').skip(1).step_by(2).collect();
        if names.is_empty() {
            return Err(format!(
                "layer item {n} names no module in backticks: {line}"
            ));
        }
        for name in names {
            if !is_ident(name) {
                return Err(format!("layer item {n}: `{name}` is not a module name"));
            }
            if item_of.insert(name.to_string(), n).is_some() {
                return Err(format!("module `{name}` is listed twice"));
            }
        }
    }
    if items == 0 {
        return Err("the `## Layers` section has no numbered items".into());
    }
    Ok(Layers { item_of, items })
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Splits Rust source into code and doc text, both the length of `src` with every
/// other byte blanked (newlines kept, so byte offsets and lines still match):
/// comments and string, char and byte literals are blanked in the code, and only
/// the text of doc comments (`///`, `//!`, `/** */`, `/*! */`) is kept in the docs.
fn split_source(src: &str) -> (String, String) {
    let b = src.as_bytes();
    let mut code = b.to_vec();
    let mut docs: Vec<u8> = b
        .iter()
        .map(|&c| if c == b'\n' { c } else { b' ' })
        .collect();
    let blank = |v: &mut Vec<u8>, from: usize, to: usize| {
        for x in &mut v[from..to] {
            if *x != b'\n' {
                *x = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            let is_doc = (rest.starts_with(b"///") && !rest.starts_with(b"////"))
                || rest.starts_with(b"//!");
            if is_doc {
                docs[i + 3..end].copy_from_slice(&b[i + 3..end]);
            }
            blank(&mut code, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let is_doc = (rest.starts_with(b"/**") && !rest.starts_with(b"/**/"))
                || rest.starts_with(b"/*!");
            let (mut depth, mut j) = (0usize, i);
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            if is_doc {
                docs[i + 3..j.saturating_sub(2).max(i + 3)]
                    .copy_from_slice(&b[i + 3..j.saturating_sub(2).max(i + 3)]);
            }
            blank(&mut code, i, j);
            i = j;
        } else if let Some(end) = string_literal_end(b, i) {
            blank(&mut code, i, end);
            i = end;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            let end = if rest.get(1) == Some(&b'\\') {
                rest.iter()
                    .skip(2)
                    .position(|&c| c == b'\'')
                    .map_or(i + 1, |p| i + p + 3)
            } else {
                let width = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                if b.get(i + 1 + width) == Some(&b'\'') {
                    i + width + 2
                } else {
                    i + 1
                }
            };
            blank(&mut code, i, end);
            i = end;
        } else {
            i += 1;
        }
    }
    let text = |v: Vec<u8>| String::from_utf8_lossy(&v).into_owned();
    (text(code), text(docs))
}

/// If a string literal ("…", b"…", r#"…"#, br"…", c"…") starts at `i`, its end.
fn string_literal_end(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && is_ident_char(b[i - 1]) {
        return None;
    }
    let mut j = i;
    while j < b.len() && j < i + 2 && (b[j] == b'b' || b[j] == b'c') {
        j += 1;
    }
    let raw = b.get(j) == Some(&b'r');
    if raw {
        j += 1;
    }
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') || (!raw && hashes > 0) {
        return None;
    }
    j += 1;
    while j < b.len() {
        if !raw && b[j] == b'\\' {
            j += 2;
        } else if b[j] == b'"'
            && b[j + 1..].iter().take(hashes).all(|&c| c == b'#')
            && b.len() >= j + 1 + hashes
        {
            return Some(j + 1 + hashes);
        } else {
            j += 1;
        }
    }
    Some(b.len())
}

/// One path into the crate found in a file: the first segment after the crate root.
#[derive(Debug, PartialEq)]
struct Ref {
    /// 1-based line.
    line: usize,
    /// A module name or a name the crate root re-exports (or something unknown).
    target: String,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn ident_at(b: &[u8], i: usize) -> Option<(&str, usize)> {
    let end = i + b[i..].iter().take_while(|&&c| is_ident_char(c)).count();
    (end > i)
        .then(|| std::str::from_utf8(&b[i..end]).ok())
        .flatten()
        .map(|s| (s, end))
}

/// `a::b`, `{a, b::{c}}`, `self`: the first segment of each path of a use tree that
/// starts at `i`, with the offset of each.
fn use_tree_heads(b: &[u8], i: usize, out: &mut Vec<(usize, String)>) {
    let i = skip_ws(b, i);
    if b.get(i) == Some(&b'{') {
        let mut depth = 0;
        let mut entry_start = true;
        let mut j = i;
        while j < b.len() {
            match b[j] {
                b'{' => {
                    depth += 1;
                    if depth == 1 {
                        entry_start = true;
                    }
                }
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                b',' if depth == 1 => entry_start = true,
                c if depth == 1 && entry_start && !c.is_ascii_whitespace() => {
                    entry_start = false;
                    if let Some((name, _)) = ident_at(b, j)
                        && name != "self"
                    {
                        out.push((j, name.to_string()));
                    }
                }
                _ => {}
            }
            j += 1;
        }
    } else if let Some((name, _)) = ident_at(b, i) {
        out.push((i, name.to_string()));
    }
}

/// Where `needle` occurs as a whole word followed by `::`; returns the offset after
/// the `::`.
fn path_starts(b: &[u8], needle: &str) -> Vec<(usize, usize)> {
    let n = needle.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + n.len() <= b.len() {
        // `$crate` in a macro counts as `crate`: `$` is not an identifier character.
        if &b[i..i + n.len()] == n
            && (i == 0 || !is_ident_char(b[i - 1]))
            && b.get(i + n.len()).is_none_or(|&c| !is_ident_char(c))
        {
            let j = skip_ws(b, i + n.len());
            if b[j..].starts_with(b"::") {
                out.push((i, skip_ws(b, j + 2)));
            }
        }
        i += 1;
    }
    out
}

fn line_of(b: &[u8], offset: usize) -> usize {
    1 + b[..offset].iter().filter(|&&c| c == b'\n').count()
}

/// The inline `mod name { … }` blocks of `code`, as (open offset, close offset).
fn inline_mods(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open: Vec<(usize, usize)> = Vec::new(); // (brace depth inside, open offset)
    let mut depth = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"mod")
            && (i == 0 || !is_ident_char(b[i - 1]))
            && b.get(i + 3).is_some_and(|c| c.is_ascii_whitespace())
        {
            let j = skip_ws(b, i + 3);
            if let Some((_, end)) = ident_at(b, j) {
                let k = skip_ws(b, end);
                if b.get(k) == Some(&b'{') {
                    depth += 1;
                    open.push((depth, k));
                    i = k + 1;
                    continue;
                }
            }
        }
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                if open.last().is_some_and(|&(d, _)| d == depth) {
                    let (_, start) = open.pop().unwrap_or_default();
                    out.push((start, i));
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Every path into the crate in `code` of a file whose module path is `module` (for
/// `backup/seal.rs`, `["backup", "seal"]`): its first segment below the crate root.
/// Paths that stay inside the file's own top-level module through `super` are not
/// listed.
fn code_refs(code: &str, module: &[&str]) -> Vec<Ref> {
    let b = code.as_bytes();
    let mut heads = Vec::new();
    for (_, after) in path_starts(b, "crate") {
        use_tree_heads(b, after, &mut heads);
    }
    let mods = inline_mods(b);
    for (start, mut after) in path_starts(b, "super") {
        if ends_with_path_sep(b, start) {
            continue; // not the first `super` of a chain
        }
        let mut supers = 1;
        while let Some((_, end)) = ident_at(b, after).filter(|(n, _)| *n == "super") {
            let j = skip_ws(b, end);
            if !b[j..].starts_with(b"::") {
                break;
            }
            supers += 1;
            after = skip_ws(b, j + 2);
        }
        let nested = mods
            .iter()
            .filter(|&&(o, c)| o < start && start < c)
            .count();
        if supers == module.len() + nested {
            use_tree_heads(b, after, &mut heads);
        } else if supers > module.len() + nested {
            heads.push((start, "<super above the crate root>".into()));
        }
    }
    heads.sort();
    heads
        .into_iter()
        .map(|(o, target)| Ref {
            line: line_of(b, o),
            target,
        })
        .collect()
}

/// Whether the path segment at `start` follows a `::` (so it is not a path's head).
fn ends_with_path_sep(b: &[u8], start: usize) -> bool {
    let mut i = start;
    while i > 0 && b[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    b[..i].ends_with(b"::")
}

/// Every `crate::…` and `glitter_core::…` path in doc text.
fn doc_refs(docs: &str) -> Vec<Ref> {
    let b = docs.as_bytes();
    let mut heads = Vec::new();
    for root in ["crate", "glitter_core"] {
        for (_, after) in path_starts(b, root) {
            use_tree_heads(b, after, &mut heads);
        }
    }
    heads.sort();
    heads
        .into_iter()
        .map(|(o, target)| Ref {
            line: line_of(b, o),
            target,
        })
        .collect()
}

/// What `lib.rs` declares: its modules, and the module of each name it re-exports.
pub fn parse_root(lib_rs: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let (code, _) = split_source(lib_rs);
    let mut mods = Vec::new();
    let mut reexports = BTreeMap::new();
    for stmt in code.split(';') {
        let words: Vec<&str> = stmt.split_whitespace().collect();
        if let Some(p) = words.iter().position(|w| *w == "mod") {
            if let Some(name) = words.get(p + 1).filter(|n| is_ident(n)) {
                mods.push(name.to_string());
            }
            continue;
        }
        let Some(tree) = stmt.split_once("pub use ").map(|(_, t)| t.trim()) else {
            continue;
        };
        let Some((module, rest)) = tree.split_once("::") else {
            continue;
        };
        let module = module.trim().to_string();
        // Leaves: identifiers not followed by `::`; `a as b` exports `b`.
        let spaced = rest.replace("::", " :: ");
        let words: Vec<&str> = spaced
            .split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
            .filter(|w| !w.is_empty())
            .collect();
        for (k, w) in words.iter().enumerate() {
            let next = words.get(k + 1).copied();
            let leaf = next != Some("::") && next != Some("as");
            if !is_ident(w) || *w == "as" || *w == "self" || !leaf {
                continue;
            }
            reexports.insert(w.to_string(), module.clone());
        }
    }
    (mods, reexports)
}

/// The result of a check: violations, and how many cross-module paths were checked.
#[derive(Debug, Default)]
pub struct Report {
    /// One message per broken rule.
    pub violations: Vec<String>,
    /// Paths into another module that were checked.
    pub edges: usize,
    /// Files checked (all but `lib.rs`).
    pub files: usize,
}

/// Checks `files` (path relative to `core/src`, text) against the layering in
/// `lib_rs`.
pub fn check(lib_rs: &str, files: &[(String, String)]) -> Report {
    let mut report = Report::default();
    let layers = match parse_layers(lib_rs) {
        Ok(l) => l,
        Err(e) => {
            report.violations.push(e);
            return report;
        }
    };
    let (mods, reexports) = parse_root(lib_rs);
    for m in &mods {
        if !layers.item_of.contains_key(m) {
            report.violations.push(format!(
                "core module `{m}` is declared in lib.rs but missing from the layer order \
                 in its crate docs (`## Layers`)"
            ));
        }
    }
    for m in layers.item_of.keys() {
        if !mods.contains(m) {
            report.violations.push(format!(
                "the layer order lists `{m}`, which lib.rs does not declare"
            ));
        }
    }
    for (path, text) in files {
        if path == "lib.rs" {
            continue;
        }
        report.files += 1;
        let stem = path.strip_suffix(".rs").unwrap_or(path);
        let mut module: Vec<&str> = stem.split('/').collect();
        if module.last() == Some(&"mod") {
            module.pop();
        }
        let Some(&own) = module.first() else {
            continue;
        };
        let Some(&own_item) = layers.item_of.get(own) else {
            report.violations.push(format!(
                "{path} belongs to `{own}`, which is not in the layer order"
            ));
            continue;
        };
        let (code, docs) = split_source(text);
        let refs = code_refs(&code, &module)
            .into_iter()
            .map(|r| (r, "imports"))
            .chain(
                doc_refs(&docs)
                    .into_iter()
                    .map(|r| (r, "mentions in its docs")),
            );
        for (r, how) in refs {
            let target = match layers.item_of.get(&r.target) {
                Some(_) => r.target.clone(),
                None => match reexports.get(&r.target) {
                    Some(m) => m.clone(),
                    None => {
                        report.violations.push(format!(
                            "core module `{own}` ({path}:{}) uses `crate::{}`, which is \
                             neither a module in the layer order nor a root re-export",
                            r.line, r.target
                        ));
                        continue;
                    }
                },
            };
            if target == own {
                continue;
            }
            report.edges += 1;
            let item = layers.item_of.get(&target).copied().unwrap_or(usize::MAX);
            if item > own_item {
                report.violations.push(format!(
                    "core module `{own}` ({path}:{}) {how} higher layer `{target}` \
                     (layer {item} > {own_item})",
                    r.line
                ));
            } else if item == own_item {
                report.violations.push(format!(
                    "core module `{own}` ({path}:{}) {how} `{target}`, a peer in its own \
                     layer {own_item}: peers must be independent (move one to a later item)",
                    r.line
                ));
            }
        }
    }
    report
}

/// The module graph of a crate, for crates without a written layer order (the host
/// crates): every edge `from → to` between top-level modules found in code (not
/// docs), with where it was found. Names the root re-exports resolve to their module.
pub fn module_edges(lib_rs: &str, files: &[(String, String)]) -> Vec<(String, String, String)> {
    let (mods, reexports) = parse_root(lib_rs);
    let mut out = Vec::new();
    for (path, text) in files {
        if path == "lib.rs" || path == "main.rs" {
            continue;
        }
        let stem = path.strip_suffix(".rs").unwrap_or(path);
        let mut module: Vec<&str> = stem.split('/').collect();
        if module.last() == Some(&"mod") {
            module.pop();
        }
        let Some(&own) = module.first() else {
            continue;
        };
        let (code, _) = split_source(text);
        for r in code_refs(&code, &module) {
            let target = if mods.contains(&r.target) {
                r.target.clone()
            } else if let Some(m) = reexports.get(&r.target) {
                m.clone()
            } else {
                continue; // an item defined in lib.rs itself
            };
            if target != own {
                out.push((own.to_string(), target, format!("{path}:{}", r.line)));
            }
        }
    }
    out
}

/// A cycle in a module graph, as the list of modules around it, if there is one.
pub fn find_cycle(edges: &[(String, String, String)]) -> Option<Vec<String>> {
    let nodes: BTreeSet<&str> = edges
        .iter()
        .flat_map(|(a, b, _)| [a.as_str(), b.as_str()])
        .collect();
    // Depth-first search with colours: 0 unvisited, 1 on the stack, 2 done.
    let mut colour: BTreeMap<&str, u8> = nodes.iter().map(|n| (*n, 0)).collect();
    fn visit<'a>(
        n: &'a str,
        edges: &'a [(String, String, String)],
        colour: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        colour.insert(n, 1);
        stack.push(n);
        for (_, to, _) in edges.iter().filter(|(a, _, _)| a == n) {
            match colour.get(to.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| *s == to).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(to.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(to, edges, colour, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(n, 2);
        None
    }
    for n in nodes {
        if colour.get(n) == Some(&0) {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, edges, &mut colour, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}
