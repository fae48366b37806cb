//! The import graph of the loader's modules (`ld-so/src`), for the restructuring's rule that
//! ld-so has no module cycle (docs/loader.md, "Layers"). A module is a top-level file or directory
//! of `ld-so/src` (`load.rs` and `load/` are `load`); it depends on another when its source names
//! `crate::<other>` outside a comment. The graph's strongly connected components of more than one
//! module are its cycles, and the suite holds that there are none.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

/// Each module of `src` and the modules it names.
pub fn graph(src: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    collect(src, src, &mut sources)?;
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, text) in &sources {
        let uses: BTreeSet<String> = crate_paths(text).filter(|m| m != module && modules.contains(m)).collect();
        graph.insert(module.clone(), uses);
    }
    Ok(graph)
}

/// The source of every `.rs` file under `dir`, concatenated per top-level module.
fn collect(root: &Path, dir: &Path, sources: &mut BTreeMap<String, String>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, sources)?;
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(root).expect("under the root");
        let first = relative.components().next().expect("a file name");
        let module = Path::new(first.as_os_str()).with_extension("");
        let module = module.to_string_lossy().into_owned();
        if module == "lib" {
            continue;
        }
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        sources.entry(module).or_default().push_str(&text);
    }
    Ok(())
}

/// The `x` of every `crate::x` outside `//` comments.
fn crate_paths(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).flat_map(|code| {
        code.match_indices("crate::").filter_map(move |(at, _)| {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let before = code[..at].chars().last();
            // `$crate::` in macros names the same crate.
            let whole_word = before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            (whole_word && !name.is_empty()).then_some(name)
        })
    })
}

/// The strongly connected components of more than one module (Tarjan's algorithm).
pub fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<BTreeSet<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in &self.graph[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.insert(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_of(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges.iter().map(|(m, uses)| (m.to_string(), uses.iter().map(|u| u.to_string()).collect())).collect()
    }

    #[test]
    fn finds_cycles_and_only_cycles() {
        let g = graph_of(&[("a", &["b"]), ("b", &["c"]), ("c", &["a", "d"]), ("d", &["e"]), ("e", &[])]);
        let found = cycles(&g);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0], ["a", "b", "c"].iter().map(|s| s.to_string()).collect());
        assert!(cycles(&graph_of(&[("a", &["b"]), ("b", &[])])).is_empty());
    }

    #[test]
    fn crate_paths_skip_comments_and_other_words() {
        let text = "use crate::dso::Dso; // crate::state\nlet x = $crate::ld_debug::pid(); mycrate::no\n";
        let found: Vec<String> = crate_paths(text).collect();
        assert_eq!(found, ["dso", "ld_debug"]);
    }

    /// The rule on ld-so itself: its modules import each other without a cycle.
    #[test]
    fn ld_so_has_no_module_cycle() {
        let src = stormless_trees::workspace_root().join("ld-so/src");
        let graph = graph(&src).unwrap();
        assert!(graph.len() > 20, "read {} modules from {}", graph.len(), src.display());
        let found = cycles(&graph);
        assert!(found.is_empty(), "ld-so modules import each other in a cycle: {found:?}");
    }
}
