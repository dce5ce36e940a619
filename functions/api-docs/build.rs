//! The Swagger UI and ReDoc assets are embedded from `.local/docs-assets`,
//! which `infra/setup.sh` fills from their npm packages (pinned versions).

fn main() {
    // Read when the script runs, not when it is compiled: a build script
    // binary can be reused by another checkout sharing the target dir.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = format!("{manifest}/../../.local/docs-assets");
    for file in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-ui-standalone-preset.js",
        "redoc.standalone.js",
        "VERSIONS",
    ] {
        let path = format!("{dir}/{file}");
        if !std::path::Path::new(&path).exists() {
            panic!("{path} is missing: run `bash infra/setup.sh` (it fetches Swagger UI and ReDoc from npm)");
        }
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=../../openapi.json");
}
