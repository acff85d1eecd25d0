//! The client generators and validators the suite runs (installed by `scripts/test` into
//! `.venv` and `tests/tools`), each step asserting what it must: success, and no warning.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool at `default` (relative to the repository), or where the environment's `env` says.
pub fn tool(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(default));
    assert!(
        path.exists(),
        "{} is missing: run the test suite with `scripts/test`, which installs it (or set {env})",
        path.display()
    );
    path
}

/// Runs `cmd`, asserts it succeeded, and answers its stdout and stderr.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the tool starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// PATH with the virtualenv first (openapi-python-client runs `ruff` from it).
fn venv_path() -> String {
    format!(
        "{}:{}",
        repo().join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// openapi-python-client generates a client from `spec` into `out` without a warning.
pub fn python_client(spec: &Path, out: &Path) {
    let text = run(Command::new(tool(
        "VELLUM_OPENAPI_PYTHON_CLIENT",
        ".venv/bin/openapi-python-client",
    ))
    .env("PATH", venv_path())
    .args([
        "generate",
        "--meta",
        "none",
        "--overwrite",
        "--fail-on-warning",
        "--path",
    ])
    .arg(spec)
    .arg("--output-path")
    .arg(out));
    assert!(
        !text.contains("Warning"),
        "openapi-python-client warns:\n{text}"
    );
}

/// datamodel-code-generator (default mode, its warnings made errors) writes the models of
/// `spec` to `out`.
pub fn python_models(spec: &Path, out: &Path) {
    let text = run(Command::new(tool(
        "VELLUM_DATAMODEL_CODEGEN",
        ".venv/bin/datamodel-codegen",
    ))
    .env("PYTHONWARNINGS", "error::UserWarning")
    .args([
        "--input-file-type",
        "openapi",
        "--formatters",
        "builtin",
        "--input",
    ])
    .arg(spec)
    .arg("--output")
    .arg(out));
    assert!(
        !text.contains("Warning"),
        "datamodel-codegen warns:\n{text}"
    );
}

/// openapi-generator finds no issue in `spec` and generates a Kotlin client into `out`
/// without a `WARN` line.
pub fn kotlin_client(spec: &Path, out: &Path) {
    let generator = tool(
        "VELLUM_OPENAPI_GENERATOR",
        ".venv/bin/openapi-generator-cli",
    );
    let text = run(Command::new(&generator)
        .args(["validate", "--recommend", "-i"])
        .arg(spec));
    assert!(text.contains("No validation issues detected"), "{text}");
    let text = run(Command::new(&generator)
        .args(["generate", "-g", "kotlin", "-i"])
        .arg(spec)
        .arg("-o")
        .arg(out));
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
    assert!(
        warnings.is_empty(),
        "openapi-generator kotlin warns:\n{}",
        warnings.join("\n")
    );
}
