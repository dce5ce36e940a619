//! Benchmark: each function's release binary under a small Lambda runtime
//! API emulator on loopback (the official emulator is not in the package
//! registries), against the local stack, beside a hello-world function on
//! the same runtime and profile (the floor). Per function: init (process
//! start to its first `GET /runtime/invocation/next`), its first and a warm
//! invocation of its sample event (`events/<function>.json`), and peak RSS
//! (`VmHWM`). Each binary is started `BENCH_COLD_RUNS` times (default 11),
//! a new process each time, and each figure is the median of its runs: one
//! cold start on a 2-core machine spreads by a millisecond or more.
//!
//! The floor is the hello-world function as `lambda_runtime`'s own examples
//! write it (`#[tokio::main]`, a worker thread per core); the product's
//! functions run on the current-thread runtime (`custom_domains::run_function`
//! says why), so the same hello-world on that runtime is measured too, and
//! the ratios to it printed beside, so that choice does not hide in them.
//!
//! Last, one whole issuance through the release binaries of
//! start-certificate and complete-certificate, the latter with 1 MiB of
//! main-thread stack (`deep_issuance`): it fails the benchmark if the
//! deepest invocation overflows.
//!
//! Run with `make bench-cold` (builds the release binaries and starts the
//! test stack). The emulator answers with TCP_NODELAY and writes headers and
//! body in one write, as Lambda's own runtime API does (otherwise every warm
//! call would gain a delayed ACK).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One HTTP request from the function: method, path, body.
async fn read_request(stream: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((method, path, body))
}

async fn answer(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    // Headers and body in one write.
    stream.write_all(&bytes).await.unwrap();
}

/// The function's next request, on its connection or a new one (the
/// runtime client may reconnect).
async fn next_request(listener: &TcpListener, stream: &mut TcpStream) -> (String, String, Vec<u8>) {
    loop {
        if let Some(r) = read_request(stream).await {
            return r;
        }
        let (s, _) = listener.accept().await.unwrap();
        *stream = s;
        stream.set_nodelay(true).unwrap();
    }
}

struct Figures {
    init: Duration,
    first: Duration,
    warm: Duration,
    /// Peak resident memory (`VmHWM`).
    rss_kib: u64,
    /// Of the memory resident at the end, how much is pages of files (the
    /// binary's code and read-only data, the shared libraries: clean, shared
    /// with the page cache) and how much the process's own (heap, stacks).
    file_kib: u64,
    anon_kib: u64,
}

/// A `/proc/<pid>/status` field, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts `command` as the function `name`, with the runtime API at `api`
/// and the environment Lambda gives a function.
fn spawn_function(
    mut command: std::process::Command,
    name: &str,
    api: &str,
    env: &[(String, String)],
) -> std::process::Child {
    command
        .envs(env.iter().cloned())
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e} (run `make bench-cold`, which builds it)"))
}

/// Runs `binary` under the emulator: init, then `event` twice.
async fn measure(binary: &str, name: &str, event: &[u8], env: &[(String, String)]) -> Figures {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = spawn_function(std::process::Command::new(binary), name, &api, env);
    let pid = child.id();
    let (mut stream, _) = listener.accept().await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut init = None;
    let mut times = Vec::new();
    for invocation in 0..2 {
        // Waits for GET next (a new connection if the client opens one).
        let (method, path, _) = next_request(&listener, &mut stream).await;
        assert_eq!(method, "GET", "{name}: {path}");
        if invocation == 0 {
            init = Some(started.elapsed());
        }
        let id = format!("req-{invocation}");
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 30_000;
        let sent = Instant::now();
        answer(
            &mut stream,
            "200 OK",
            &[
                ("content-type", "application/json".into()),
                ("lambda-runtime-aws-request-id", id.clone()),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    format!("arn:aws:lambda:eu-west-1:123456789012:function:{name}"),
                ),
            ],
            event,
        )
        .await;
        let (method, path, _) = next_request(&listener, &mut stream).await;
        times.push(sent.elapsed());
        assert_eq!(method, "POST", "{name}");
        assert!(
            path.ends_with(&format!("{id}/response")),
            "{name} answered {path}"
        );
        answer(&mut stream, "202 Accepted", &[], b"").await;
    }
    // Its next GET: done; the peak is read before it goes.
    let _ = tokio::time::timeout(Duration::from_secs(2), read_request(&mut stream)).await;
    let rss_kib = status_kib(pid, "VmHWM:");
    let file_kib = status_kib(pid, "RssFile:");
    let anon_kib = status_kib(pid, "RssAnon:");
    let _ = child.kill();
    let _ = child.wait();
    Figures {
        init: init.unwrap(),
        first: times[0],
        warm: times[1],
        rss_kib,
        file_kib,
        anon_kib,
    }
}

/// `measure`, `runs` times, each figure the median of its runs.
async fn median_of(
    runs: usize,
    binary: &str,
    name: &str,
    event: &[u8],
    env: &[(String, String)],
) -> Figures {
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        all.push(measure(binary, name, event, env).await);
    }
    fn median<T: Copy + Ord>(mut v: Vec<T>) -> T {
        v.sort();
        v[v.len() / 2]
    }
    Figures {
        init: median(all.iter().map(|f| f.init).collect()),
        first: median(all.iter().map(|f| f.first).collect()),
        warm: median(all.iter().map(|f| f.warm).collect()),
        rss_kib: median(all.iter().map(|f| f.rss_kib).collect()),
        file_kib: median(all.iter().map(|f| f.file_kib).collect()),
        anon_kib: median(all.iter().map(|f| f.anon_kib).collect()),
    }
}

/// Invokes `binary` once with `event`, its main thread's stack limited to
/// `stack_kib` (the shell's `ulimit -s`); answers its response, or `None`
/// if it died first.
async fn invoke_once(
    binary: &str,
    name: &str,
    event: &serde_json::Value,
    env: &[(String, String)],
    stack_kib: u32,
) -> Option<serde_json::Value> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let mut shell = std::process::Command::new("sh");
    shell.args([
        "-c",
        &format!("ulimit -s {stack_kib} && exec \"$0\""),
        binary,
    ]);
    let mut child = spawn_function(shell, name, &api, env);
    let (mut stream, _) = listener.accept().await.unwrap();
    stream.set_nodelay(true).unwrap();
    if read_request(&mut stream).await.is_none() {
        let _ = child.wait();
        return None;
    }
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 30_000;
    answer(
        &mut stream,
        "200 OK",
        &[
            ("content-type", "application/json".into()),
            ("lambda-runtime-aws-request-id", "deep".into()),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                format!("arn:aws:lambda:eu-west-1:123456789012:function:{name}"),
            ),
        ],
        event.to_string().as_bytes(),
    )
    .await;
    let response = tokio::time::timeout(Duration::from_secs(30), read_request(&mut stream))
        .await
        .ok()
        .flatten();
    let _ = child.kill();
    let _ = child.wait();
    let (_, _, body) = response?;
    serde_json::from_slice(&body).ok()
}

/// A POST of `body` to the test DNS server's management API.
async fn challtestsrv(url: &str, path: &str, body: serde_json::Value) {
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).await.unwrap();
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "challtestsrv {path}: {answer}"
    );
}

/// The release binaries of start-certificate and complete-certificate
/// drive one whole issuance (start, the TXT record, complete until
/// `SSL_VALIDATED`), complete-certificate's main thread limited to
/// `stack_kib` of stack: the functions' futures run on that thread (the
/// current-thread runtime), and an issuance's are the deepest.
async fn deep_issuance(root: &str, target: &str, env: &[(String, String)], stack_kib: u32) {
    let var = |key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    let (org, host) = (format!("org-deep{tag}"), format!("deep{tag}.example.com"));
    let event = |route: &str| {
        let text = std::fs::read_to_string(format!("{root}/events/{route}.json")).unwrap();
        let mut event: serde_json::Value =
            serde_json::from_str(&text.replace("org-1", &org)).unwrap();
        let body = serde_json::json!({ "domain": host }).to_string();
        event["headers"]["content-length"] = body.len().to_string().into();
        event["body"] = body.into();
        event
    };
    let call = |route: &'static str, stack_kib: u32| {
        let (binary, event) = (format!("{target}/release/{route}"), event(route));
        async move {
            let answer = invoke_once(&binary, route, &event, env, stack_kib)
                .await
                .unwrap_or_else(|| panic!("{route} died with a {stack_kib} KiB stack"));
            let body: serde_json::Value =
                serde_json::from_str(answer["body"].as_str().unwrap_or("{}")).unwrap();
            (answer["statusCode"].as_u64().unwrap_or(0), body)
        }
    };
    let (status, start) = call("start-certificate", 8192).await;
    assert_eq!(status, 200, "start-certificate: {start}");
    let name = format!("{}.", start["txt_record_name"].as_str().unwrap());
    let value = start["txt_record_value"].as_str().unwrap();
    let url = var("CHALLTESTSRV_URL");
    challtestsrv(&url, "/clear-txt", serde_json::json!({ "host": name })).await;
    challtestsrv(
        &url,
        "/set-txt",
        serde_json::json!({ "host": name, "value": value }),
    )
    .await;
    let mut done = serde_json::Value::Null;
    for _ in 0..10 {
        let (status, body) = call("complete-certificate", stack_kib).await;
        assert!(
            status == 200 || status == 202,
            "complete-certificate {status}: {body}"
        );
        done = body;
        if status == 200 {
            break;
        }
    }
    assert_eq!(done["proxy_status"], "SSL_VALIDATED", "{done}");
    println!(
        "deep invocation: the release binaries drove one whole issuance to SSL_VALIDATED, \
         complete-certificate on a {stack_kib} KiB main-thread stack"
    );
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn rss_ratio(a: &Figures, b: &Figures) -> f64 {
    a.rss_kib as f64 / b.rss_kib.max(1) as f64
}

#[tokio::main]
async fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let target = std::env::var("BENCH_TARGET_DIR").unwrap_or_else(|_| format!("{root}/target"));
    let runs: usize = std::env::var("BENCH_COLD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(11);
    let stack_env: Vec<(String, String)> =
        std::fs::read_to_string(format!("{root}/.local/test/env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let mut functions: Vec<String> = std::fs::read_dir(format!("{root}/functions"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    functions.sort();
    println!("medians of {runs} cold starts each");
    let hello = format!("{target}/release/examples/hello_lambda");
    let floor_event = br#"{"hello": "world"}"#;
    let floor = median_of(runs, &hello, "hello", floor_event, &[]).await;
    let single = median_of(
        runs,
        &hello,
        "hello",
        floor_event,
        &[("HELLO_RUNTIME".into(), "current_thread".into())],
    )
    .await;
    let size_mb = |path: &str| std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6);
    let memory = |f: &Figures, binary: &str| {
        format!(
            "peak RSS {:>5.1} MB (at the end: files {:>4.1} MB, own {:>3.1} MB; binary {:>4.1} MB)",
            f.rss_kib as f64 / 1024.0,
            f.file_kib as f64 / 1024.0,
            f.anon_kib as f64 / 1024.0,
            size_mb(binary),
        )
    };
    for (label, f) in [
        ("hello-world (floor)", &floor),
        ("hello, current-thread", &single),
    ] {
        println!(
            "{:<22} init {:>7}  first {:>8}  warm {:>8}  {}",
            label,
            ms(f.init),
            ms(f.first),
            ms(f.warm),
            memory(f, &hello),
        );
    }
    for function in functions {
        let binary = format!("{target}/release/{function}");
        let event = std::fs::read(format!("{root}/events/{function}.json")).unwrap();
        let f = median_of(runs, &binary, &function, &event, &stack_env).await;
        println!(
            "{:<22} init {:>7}  first {:>8}  warm {:>8}  {}  \
             {:.1}× init, {:.1}× RSS (to the current-thread hello {:.1}×, {:.1}×)",
            function,
            ms(f.init),
            ms(f.first),
            ms(f.warm),
            memory(&f, &binary),
            ratio(f.init, floor.init),
            rss_ratio(&f, &floor),
            ratio(f.init, single.init),
            rss_ratio(&f, &single),
        );
    }
    // An eighth of the usual default stack limit (8 MiB).
    deep_issuance(root, &target, &stack_env, 1024).await;
}
