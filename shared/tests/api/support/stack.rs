//! The local stack: its addresses (from the environment or
//! `.local/test/env`), the product's configuration against it, the product's
//! captured logs, and names no other test uses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use custom_domains::config::Config;

pub struct Stack {
    pub vars: HashMap<String, String>,
}

impl Stack {
    pub fn var(&self, name: &str) -> String {
        self.vars.get(name).cloned().unwrap_or_else(|| {
            panic!(
                "{name} is not set: start the stack with `make test` (or infra/stack.sh up test)"
            )
        })
    }
}

static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// Everything the product has logged in this test process so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

struct LogCapture;

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        print!("{}", String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        // The product's logs (its own at debug): shown with a failing test's
        // output, and kept, so a test can check they hold no secret.
        let _ = tracing_subscriber::fmt()
            .with_writer(|| LogCapture)
            .with_ansi(false)
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info,custom_domains=debug".into()),
            )
            .try_init();
        // The product's metric lines (EMF) are kept with its logs.
        custom_domains::metrics::write_to(|lines| {
            use std::io::Write;
            let _ = LogCapture.write(lines);
        });
        let mut vars = HashMap::new();
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../.local/test/env");
        if let Ok(text) = std::fs::read_to_string(file) {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    vars.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        for key in ["ACME_DIRECTORY_URL", "AWS_ENDPOINT_URL", "CHALLTESTSRV_URL"] {
            if let Ok(v) = std::env::var(key) {
                vars.insert(key.to_owned(), v);
            }
        }
        assert!(
            vars.contains_key("ACME_DIRECTORY_URL"),
            "the local stack is not running: start it with `make test` (or infra/stack.sh up test)"
        );
        // The local AWS reads public DNS (ACM's validation records) through
        // the stack's resolver, as the local server does under `make dev`
        // from its environment.
        if let Some(addr) = vars.get("RECURSIVE_RESOLVER").and_then(|v| v.parse().ok()) {
            local_server::aws_rules::resolve_through(addr);
        }
        Stack { vars }
    })
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{}x{nanos:x}", N.fetch_add(1, Ordering::Relaxed))
}

pub fn config(overrides: &[(&str, &str)]) -> Config {
    let s = stack();
    let mut vars = s.vars.clone();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
}
