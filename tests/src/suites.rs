//! The store's own test suites, compared per test id (issue 18 point 4):
//! CPython's regression tests (`python -m test`, as upstream runs it),
//! numpy's (`pytest --pyargs numpy…`) and a Pillow smoke script (the wheel
//! ships no tests). Each suite runs under the reference entry point, ours,
//! and ours in the copy with tables; every test id gets one outcome per run
//! ([`Outcomes`]), and [`differences`] lists each id whose outcomes differ,
//! with all of them.
//!
//! Outcomes are read from the suites' JUnit XML (`--junit-xml`, `--junitxml`)
//! by the host's Python (`/usr/bin/python3`, not the store's: the reader
//! must not depend on the loader under test), and from regrtest's summary,
//! which also names a test module that crashed or never ran — those leave
//! no test case in the XML.
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use stormless_trees::Arch;

/// A test id and its outcome: `passed`, `failed`, `error`, `skipped`,
/// `xfailed`, `xpassed`, or for regrtest's modules also `env-changed`,
/// `no-tests`, `omitted`.
pub type Outcomes = BTreeMap<String, String>;

/// Which of the suites' selections to run (`STORMLESS_STORE_SUITES`):
/// the default suite's, sized for `cargo xtask test`, or `full`, for
/// `cargo xtask store --full`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Selection {
    Default,
    Full,
}

impl Selection {
    pub fn from_env() -> Result<Selection> {
        match std::env::var("STORMLESS_STORE_SUITES").as_deref() {
            Err(_) | Ok("") | Ok("default") => Ok(Selection::Default),
            Ok("full") => Ok(Selection::Full),
            Ok(other) => bail!("STORMLESS_STORE_SUITES={other}: expected `default` or `full`"),
        }
    }
}

/// CPython's regression tests the issue names: the ones that exercise
/// loading (ctypes, extension modules and their libraries, subprocesses,
/// threads, signals). test_capi needs the test modules the store builds.
pub const CPYTHON_FULL: &[&str] = &[
    "test_ctypes",
    "test_threading",
    "test_thread",
    "test_capi",
    "test_import",
    "test_importlib",
    "test_sqlite3",
    "test_ssl",
    "test_hashlib",
    "test_zlib",
    "test_bz2",
    "test_lzma",
    "test_decimal",
    "test_subprocess",
    "test_signal",
    "test_os",
    "test_faulthandler",
    "test_readline",
    "test_curses",
];

/// The default suite's share (x86_64, newest musl): every module that
/// loads one of the store's libraries or the test modules, within the
/// suite's time budget. Left to `--full`: test_ssl (43 s alone; the import
/// check loads libssl and libcrypto already), test_faulthandler,
/// test_subprocess, test_signal, test_threading, test_os, test_decimal and
/// test_importlib, which take minutes between them and load nothing the
/// others do not.
pub const CPYTHON_DEFAULT: &[&str] = &[
    "test_ctypes",
    "test_thread",
    "test_capi",
    "test_import",
    "test_sqlite3",
    "test_hashlib",
    "test_zlib",
    "test_bz2",
    "test_lzma",
    "test_readline",
    "test_curses",
];

/// numpy's packages under pytest. Default and under qemu: linear algebra
/// (OpenBLAS and libgfortran from `numpy.libs`, threads and subprocesses in
/// test_regression) and the FFT (`_pocketfft_umath`, libstdc++); `--full`
/// on x86_64: the whole of numpy.
pub fn numpy_packages(selection: Selection, arch: Arch) -> &'static [&'static str] {
    match (selection, arch.qemu_user()) {
        (Selection::Full, None) => &["numpy"],
        (Selection::Full, Some(_)) => &["numpy.linalg", "numpy.fft", "numpy.polynomial", "numpy.random"],
        (Selection::Default, _) => &["numpy.linalg", "numpy.fft"],
    }
}

/// The arguments after the interpreter for CPython's regression tests.
pub fn cpython_args(tests: &[&str], junit: &Path, jobs: u32) -> Vec<String> {
    let mut args: Vec<String> = ["-m", "test", "--timeout", "1200", "-j"].map(String::from).to_vec();
    args.push(jobs.to_string());
    args.push("--junit-xml".into());
    args.push(junit.display().to_string());
    args.extend(tests.iter().map(|t| t.to_string()));
    args
}

/// The arguments after the interpreter for numpy's tests: no cache
/// directory written, hypothesis derandomised (its examples would otherwise
/// differ between runs, and so could the outcomes). The default selection
/// leaves out what numpy marks slow, as `numpy.test()` does by default
/// (its label "fast"); `--full` runs them too (`numpy.test("full")`).
/// `site_packages` is pytest's root directory, so that test ids are paths
/// below it (`numpy.linalg.tests.test_regression.Class::test`), the same in the
/// store and its copy, and distinct between numpy's packages.
pub fn numpy_args(selection: Selection, packages: &[&str], junit: &Path, site_packages: &Path) -> Vec<String> {
    let mut args: Vec<String> =
        ["-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN", "--hypothesis-seed=0"].map(String::from).to_vec();
    if selection == Selection::Default {
        args.extend(["-m".to_string(), "not slow".to_string()]);
    }
    args.push(format!("--junitxml={}", junit.display()));
    args.push(format!("--rootdir={}", site_packages.display()));
    args.push("--pyargs".into());
    args.extend(packages.iter().map(|p| p.to_string()));
    args
}

/// Pillow's wheel has no tests: this script opens, converts and saves
/// images through each bundled codec library and prints `<id>\t<outcome>`
/// per case (a failure's reason on stderr, so it does not enter the
/// comparison: it may hold addresses).
pub const PILLOW_SMOKE: &str = include_str!("pillow_smoke.py");

/// The host's Python reads a JUnit XML file (regrtest's or pytest's) into
/// `<id>\t<outcome>` lines.
const JUNIT_READER: &str = r#"
import sys, xml.etree.ElementTree as ET
seen = {}
for case in ET.parse(sys.argv[1]).iter("testcase"):
    cls, name = case.get("classname"), case.get("name")
    test = f"{cls}::{name}" if cls else name
    kinds = {child.tag: child for child in case}
    if "failure" in kinds:
        outcome = "failed"
    elif "error" in kinds:
        outcome = "error"
    elif "skipped" in kinds:
        outcome = "xfailed" if kinds["skipped"].get("type") == "pytest.xfail" else "skipped"
    elif "output" in kinds:
        outcome = "xfailed"
    elif case.get("outcome") == "UNEXPECTED_SUCCESS":
        outcome = "xpassed"
    else:
        outcome = "passed"
    seen[test] = seen.get(test, 0) + 1
    if seen[test] > 1:
        test = f"{test}#{seen[test]}"
    print(test, outcome, sep="\t")
"#;

/// The outcome of each test case in a JUnit XML file.
pub fn junit_outcomes(xml: &Path) -> Result<Outcomes> {
    let out = Command::new("/usr/bin/python3")
        .args(["-c", JUNIT_READER])
        .arg(xml)
        .output()
        .context("cannot run /usr/bin/python3 (install Debian's python3)")?;
    if !out.status.success() {
        bail!("cannot read {}: {}", xml.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    tab_lines(&String::from_utf8_lossy(&out.stdout))
}

/// `<id>\t<outcome>` lines (the Pillow script's and the JUnit reader's).
pub fn tab_lines(text: &str) -> Result<Outcomes> {
    let mut outcomes = Outcomes::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((test, outcome)) = line.split_once('\t') else { bail!("not `<id>\\t<outcome>`: {line:?}") };
        if outcomes.insert(test.to_string(), outcome.trim().to_string()).is_some() {
            bail!("test id {test} reported twice");
        }
    }
    Ok(outcomes)
}

/// One outcome per test module from regrtest's summary (`regrtest::<module>`):
/// the modules it lists as failed, altered the environment, skipped, ran no
/// tests or omitted; every other module asked for passed — provided the
/// summary is there at all (a regrtest that died prints none: then every
/// module's outcome is `no-summary`).
pub fn regrtest_modules(stdout: &str, asked: &[&str]) -> Outcomes {
    let mut listed: BTreeMap<String, &str> = BTreeMap::new();
    let summary = stdout.rfind("== Tests result:").map(|at| &stdout[at..]);
    let mut current: Option<&str> = None;
    for line in summary.unwrap_or("").lines() {
        if let Some(names) = line.strip_prefix("    ") {
            if let Some(outcome) = current {
                for name in names.split_whitespace() {
                    // A module listed twice (failed, then re-run) keeps the first.
                    listed.entry(name.to_string()).or_insert(outcome);
                }
            }
            continue;
        }
        current = [
            ("failed:", "failed"),
            ("altered the execution environment:", "env-changed"),
            ("skipped:", "skipped"),
            ("run no tests:", "no-tests"),
            ("omitted:", "omitted"),
        ]
        .iter()
        .find(|(end, _)| line.trim_end().ends_with(end) && !line.contains("re-run"))
        .map(|(_, outcome)| *outcome);
    }
    asked
        .iter()
        .map(|m| {
            let outcome = match (summary, listed.get(*m)) {
                (None, _) => "no-summary",
                (Some(_), Some(o)) => o,
                (Some(_), None) => "passed",
            };
            (format!("regrtest::{m}"), outcome.to_string())
        })
        .collect()
}

/// How many test ids had each outcome: `passed 1200, skipped 3, …`.
/// The suite's own exit status is an id too (`<suite>::exit`), shown apart.
pub fn tally(outcomes: &Outcomes) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut exit = None;
    for (id, outcome) in outcomes {
        match id.ends_with("::exit") {
            true => exit = Some(outcome.as_str()),
            false => *counts.entry(outcome.as_str()).or_default() += 1,
        }
    }
    let parts: Vec<String> = counts.iter().map(|(o, n)| format!("{o} {n}")).collect();
    let ids: usize = counts.values().sum();
    let exit = exit.map(|e| format!(" (exit status {e})")).unwrap_or_default();
    format!("{ids} ids: {}{exit}", parts.join(", "))
}

/// Tests whose outcome follows the process's memory layout rather than what
/// the loader resolves (issue 18 point 7; the evidence is in docs/store.md,
/// *Layout-sensitive tests*): numpy.linalg's float32 tolerance tests, whose
/// OpenBLAS kernels sum in an order that depends on the alignment of their
/// heap buffers. A difference in one of them is reported as such, with all
/// outcomes, and does not fail the comparison; any other difference does.
/// Each entry: the id's start, and a part the rest must contain.
const LAYOUT_SENSITIVE: &[(&str, &str)] = &[
    ("numpy.linalg.tests.test_linalg.TestCholesky::test_basic_property[", "-float32-"),
    ("numpy.linalg.tests.test_linalg.TestQR::test_stacked_inputs[float32-", ""),
];

/// Whether a line of [`differences`] is about a layout-sensitive test.
pub fn is_layout_sensitive(difference: &str) -> bool {
    LAYOUT_SENSITIVE.iter().any(|(start, part)| {
        difference.strip_prefix(start).is_some_and(|rest| rest.split(": ").next().is_some_and(|id| id.contains(part)))
    })
}

/// [`differences`] split into the layout-sensitive ones and the rest. A
/// layout-sensitive failure also changes the suite's exit status
/// (`<suite>::exit`): when nothing else differs, that difference goes with it.
pub fn split_layout_sensitive(differences: Vec<String>, suite: &str) -> (Vec<String>, Vec<String>) {
    let (mut layout, mut rest): (Vec<String>, Vec<String>) =
        differences.into_iter().partition(|d| is_layout_sensitive(d));
    if !layout.is_empty() && rest.len() == 1 && rest[0].starts_with(&format!("{suite}::exit: ")) {
        layout.append(&mut rest);
    }
    (layout, rest)
}

/// Every id whose outcome is not the same in all `runs` (an id missing from
/// a run counts as `absent`), as `<id>: <who> <outcome>, <who> <outcome>…`.
pub fn differences(runs: &[(&str, &Outcomes)]) -> Vec<String> {
    let mut ids: Vec<&String> = runs.iter().flat_map(|(_, o)| o.keys()).collect();
    ids.sort();
    ids.dedup();
    let mut lines = Vec::new();
    for id in ids {
        let seen: Vec<&str> = runs.iter().map(|(_, o)| o.get(id).map_or("absent", String::as_str)).collect();
        if seen.iter().any(|s| *s != seen[0]) {
            let each: Vec<String> = runs.iter().zip(&seen).map(|((who, _), s)| format!("{who} {s}")).collect();
            lines.push(format!("{id}: {}", each.join(", ")));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regrtest_summary_gives_each_module_an_outcome() {
        let out = "\
0:00:01 [1/4] test_zlib
== Tests result: FAILURE ==

1 test OK.

1 test failed:
    test_ctypes

1 test altered the execution environment:
    test_os

1 test skipped:
    test_curses

1 re-run test:
    test_ctypes
";
        let got = regrtest_modules(out, &["test_zlib", "test_ctypes", "test_os", "test_curses"]);
        let want: Outcomes = [
            ("regrtest::test_ctypes", "failed"),
            ("regrtest::test_curses", "skipped"),
            ("regrtest::test_os", "env-changed"),
            ("regrtest::test_zlib", "passed"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .into();
        assert_eq!(got, want);
        // A regrtest killed before its summary: nothing passed.
        assert_eq!(regrtest_modules("[1/4] test_zlib\n", &["test_zlib"])["regrtest::test_zlib"], "no-summary");
    }

    #[test]
    fn differences_name_the_id_and_every_outcome() {
        let a = tab_lines("t1\tpassed\nt2\tpassed\n").unwrap();
        let b = tab_lines("t1\tpassed\nt2\tfailed\nt3\tskipped\n").unwrap();
        assert_eq!(
            differences(&[("reference", &a), ("ours", &b)]),
            ["t2: reference passed, ours failed", "t3: reference absent, ours skipped"]
        );
        assert!(differences(&[("reference", &a), ("ours", &a)]).is_empty());
        assert_eq!(tally(&b), "3 ids: failed 1, passed 1, skipped 1");
        let with_exit = tab_lines("t1\tpassed\nnumpy::exit\t1\n").unwrap();
        assert_eq!(tally(&with_exit), "1 ids: passed 1 (exit status 1)");
        assert!(is_layout_sensitive(
            "numpy.linalg.tests.test_linalg.TestCholesky::test_basic_property[True-float32-shape3]: reference failed, ours passed"
        ));
        assert!(is_layout_sensitive(
            "numpy.linalg.tests.test_linalg.TestQR::test_stacked_inputs[float32-outer_size0-size0]: reference failed"
        ));
        assert!(!is_layout_sensitive(
            "numpy.linalg.tests.test_linalg.TestCholesky::test_basic_property[True-float64-shape3]: reference failed"
        ));
        assert!(!is_layout_sensitive("numpy.linalg.tests.test_linalg.TestQR::test_qr_empty: reference failed"));
        let cholesky = "numpy.linalg.tests.test_linalg.TestCholesky::test_basic_property[True-float32-shape3]: \
                        reference failed, ours passed";
        let exit = "numpy::exit: reference 1, ours 0";
        let other = "numpy.fft.tests.test_helper.T::t: reference passed, ours failed";
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(split_layout_sensitive(lines(&[cholesky, exit]), "numpy"), (lines(&[cholesky, exit]), vec![]));
        assert_eq!(split_layout_sensitive(lines(&[exit]), "numpy"), (vec![], lines(&[exit])));
        assert_eq!(
            split_layout_sensitive(lines(&[cholesky, exit, other]), "numpy"),
            (lines(&[cholesky]), lines(&[exit, other]))
        );
        assert!(tab_lines("t1 passed\n").is_err() && tab_lines("t\tpassed\nt\tfailed\n").is_err());
    }

    #[test]
    fn junit_of_pytest_and_regrtest() {
        let dir = std::env::temp_dir().join(format!("stormless-junit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let xml = dir.join("j.xml");
        std::fs::write(
            &xml,
            r#"<testsuites><testsuite>
<testcase classname="numpy.linalg.tests.test_linalg.TestQR" name="test_a[float32]" time="0.1"/>
<testcase classname="m.C" name="b"><failure message="x">tb</failure></testcase>
<testcase classname="m.C" name="c"><skipped type="pytest.xfail" message="x"/></testcase>
<testcase classname="m.C" name="d"><skipped type="pytest.skip" message="x"/></testcase>
<testcase name="test.test_zlib.T.test_e" status="run" result="completed"><error type="E">tb</error></testcase>
<testcase name="test.test_zlib.T.test_f" status="run" result="completed"><output>tb</output></testcase>
</testsuite></testsuites>"#,
        )
        .unwrap();
        let got = junit_outcomes(&xml).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let want: Outcomes = [
            ("numpy.linalg.tests.test_linalg.TestQR::test_a[float32]", "passed"),
            ("m.C::b", "failed"),
            ("m.C::c", "xfailed"),
            ("m.C::d", "skipped"),
            ("test.test_zlib.T.test_e", "error"),
            ("test.test_zlib.T.test_f", "xfailed"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .into();
        assert_eq!(got, want);
    }
}
