//! Marks whether the PostgreSQL half of the integration suite can run: with
//! `VELLUM_TEST_POSTGRES_URL` unset at build time those tests are compiled as ignored, so
//! the run reports them as skipped instead of passing them silently.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(vellum_pg)");
    println!("cargo::rerun-if-env-changed=VELLUM_TEST_POSTGRES_URL");
    if std::env::var("VELLUM_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=vellum_pg");
    }
}
