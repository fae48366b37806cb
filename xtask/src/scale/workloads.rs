//! The generated workloads: `store-n` and `pynamic` (the third,
//! `python-imports`, is the real store's, `python.rs`).
use super::build::{Object, Workload};
use std::fmt::Write as _;

/// The synthetic store: N libraries, each in its own directory, a program
/// NEEDing all of them in order and a RUNPATH listing all N directories, so
/// library k is found in the k-th: Σ(k−1) = N(N−1)/2 failed opens by stock musl.
pub fn store_n(n: usize) -> Workload {
    let objects = (1..=n)
        .map(|k| Object {
            file: format!("libsn{k}.so"),
            package: format!("sn{k}"),
            source: format!("int sn_value_{k}(void) {{ return {k}; }}\n"),
            needs: Vec::new(),
            module: false,
        })
        .collect();
    let mut main = String::from("#include <stdio.h>\n");
    for k in 1..=n {
        let _ = writeln!(main, "int sn_value_{k}(void);");
    }
    main.push_str("int main(void)\n{\n\tlong sum = 0;\n");
    for k in 1..=n {
        let _ = writeln!(main, "\tsum += sn_value_{k}();");
    }
    let _ = writeln!(main, "\tprintf(\"sum of {n} store libraries: %ld\\n\", sum);\n\treturn 0;\n}}");
    Workload { objects, program: Some(main), cflags: Vec::new() }
}

/// What `store_n(n)`'s program prints.
pub fn store_n_expected(n: usize) -> String {
    format!("sum of {n} store libraries: {}\n", n * (n + 1) / 2)
}

/// The size of a Pynamic-style load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PynamicSize {
    pub modules: usize,
    pub utilities: usize,
    /// Functions in each module and each utility library.
    pub functions: usize,
    /// Utility libraries each module NEEDs.
    pub needs_per_module: usize,
}

impl PynamicSize {
    /// Runs in well under 2 minutes here (the suggestion).
    pub const DEFAULT: PynamicSize = PynamicSize { modules: 200, utilities: 200, functions: 100, needs_per_module: 4 };
    /// NERSC-8's Pynamic configuration: 495 modules of 1850 functions; 215
    /// utility libraries of 1850 functions, the utility count of the
    /// published NERSC-8/Trinity configure line as we read it.
    pub const NERSC8: PynamicSize = PynamicSize { modules: 495, utilities: 215, functions: 1850, needs_per_module: 4 };
    /// The suite's check: seconds to build and run.
    pub const TINY: PynamicSize = PynamicSize { modules: 6, utilities: 5, functions: 3, needs_per_module: 2 };

    pub fn label(&self) -> String {
        format!("{}m-{}u-{}f", self.modules, self.utilities, self.functions)
    }

    /// The utility libraries module `i` NEEDs: spread over all of them, so
    /// every utility library is loaded by some module.
    fn needs_of(&self, i: usize) -> Vec<usize> {
        let d = self.needs_per_module.clamp(1, self.utilities);
        let mut needs: Vec<usize> = (0..d).map(|j| (i + j * self.utilities / d) % self.utilities).collect();
        needs.sort_unstable();
        needs.dedup();
        needs
    }
}

/// A Pynamic-style load, written from Pynamic's published description
/// (LLNL's benchmark of Python-based codes): utility libraries of plain C
/// functions, and Python extension modules whose functions call into the
/// utility libraries they NEED, each in a store directory of its own, every
/// module's RUNPATH listing every utility directory as Spack or Nix would;
/// a driver imports every module and calls into each. Every function
/// returns 1 through one call into a utility library, so a module's `run()`
/// returns its function count and the driver's total is checkable.
pub fn pynamic(size: PynamicSize, python_include: &str) -> Workload {
    let f = size.functions.max(1);
    let mut objects = Vec::new();
    for u in 0..size.utilities {
        let mut src = String::new();
        for k in 0..f {
            // A little arithmetic that folds to x + 1, so nothing is elided.
            let _ = writeln!(src, "int pyutil{u}_f{k}(int x) {{ return (x ^ {k}) - {k} + (({u} & 0) | 1); }}");
        }
        objects.push(Object {
            file: format!("libpyutil{u}.so"),
            package: format!("pyutil{u}"),
            source: src,
            needs: Vec::new(),
            module: false,
        });
    }
    for i in 0..size.modules {
        let needs = size.needs_of(i);
        let mut src = String::from("#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n");
        for k in 0..f {
            let u = needs[k % needs.len()];
            let _ = writeln!(src, "int pyutil{u}_f{k}(int);\nint pymod{i}_f{k}(int x) {{ return pyutil{u}_f{k}(x); }}");
        }
        src.push_str("static PyObject *run(PyObject *self, PyObject *args)\n{\n\tlong calls = 0;\n");
        for k in 0..f {
            let _ = writeln!(src, "\tcalls += pymod{i}_f{k}(0);");
        }
        let _ = writeln!(
            src,
            "\treturn PyLong_FromLong(calls);\n}}\n\
             static PyMethodDef methods[] = {{{{\"run\", run, METH_NOARGS, 0}}, {{0}}}};\n\
             static struct PyModuleDef def = {{PyModuleDef_HEAD_INIT, \"pymod{i}\", 0, -1, methods}};\n\
             PyMODINIT_FUNC PyInit_pymod{i}(void) {{ return PyModule_Create(&def); }}"
        );
        objects.push(Object {
            file: format!("pymod{i}.so"),
            package: format!("pymod{i}"),
            source: src,
            needs: needs.iter().map(|u| format!("libpyutil{u}.so")).collect(),
            module: true,
        });
    }
    Workload { objects, program: None, cflags: vec![format!("-I{python_include}")] }
}

/// The driver: imports every module by its path (not through `sys.path`:
/// N store directories on `sys.path` would add Python's own N² directory
/// scans, which no loader change touches) and calls each one's `run()`.
pub fn pynamic_driver(modules: &[(String, std::path::PathBuf)]) -> String {
    let mut s = String::from("import importlib.util\nMODULES = [\n");
    for (name, path) in modules {
        let _ = writeln!(s, "    ({name:?}, {:?}),", path.display().to_string());
    }
    s.push_str(
        "]\ncalls = 0\nfor name, path in MODULES:\n\
         \x20   spec = importlib.util.spec_from_file_location(name, path)\n\
         \x20   module = importlib.util.module_from_spec(spec)\n\
         \x20   spec.loader.exec_module(module)\n\
         \x20   calls += module.run()\n\
         print(f\"pynamic: {len(MODULES)} modules, {calls} calls\")\n",
    );
    s
}

pub fn pynamic_expected(size: PynamicSize) -> String {
    format!("pynamic: {} modules, {} calls\n", size.modules, size.modules * size.functions.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_utility_is_needed_and_needs_come_first() {
        let size = PynamicSize { modules: 10, utilities: 7, functions: 3, needs_per_module: 3 };
        let w = pynamic(size, "/inc");
        let needed: std::collections::BTreeSet<&String> = w.objects.iter().flat_map(|o| &o.needs).collect();
        assert_eq!(needed.len(), 7, "{needed:?}");
        for (i, o) in w.objects.iter().enumerate() {
            for n in &o.needs {
                assert!(w.objects[..i].iter().any(|p| &p.file == n && !p.module), "{} needs {n}", o.file);
            }
        }
        assert_eq!(w.objects.iter().filter(|o| o.module).count(), 10);
    }

    #[test]
    fn store_n_sums() {
        let w = store_n(3);
        assert_eq!(w.objects.len(), 3);
        assert!(w.program.as_deref().unwrap().contains("sum += sn_value_3();"));
        assert_eq!(store_n_expected(40), "sum of 40 store libraries: 820\n");
    }
}
