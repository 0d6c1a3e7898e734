//! Shared test harness: a moto server started once per test binary on a free
//! loopback port (with the repo's small base-AMI fixture), reset before each test
//! that uses it, and stopped when the test binary exits (a Python watchdog
//! terminates moto when our end of its stdin closes).
//!
//! Tests that touch moto hold a [`MotoGuard`]; the guard serialises them, since a
//! reset would wipe a concurrent test's state.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture path.
pub fn fixture(rel: &str) -> PathBuf {
    repo().join("tests/fixtures").join(rel)
}

/// A program in the test venv (`AMI_BUILDER_TEST_VENV`, default `.venv`).
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("AMI_BUILDER_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    venv.join("bin").join(name)
}

struct Moto {
    port: u16,
    _child: Child,
    _stdin: ChildStdin,
}

static MOTO: OnceLock<Moto> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());

const WATCHDOG: &str = "import subprocess, sys
p = subprocess.Popen(sys.argv[1:])
try:
    sys.stdin.read()
finally:
    p.terminate()
    try:
        p.wait(10)
    except Exception:
        p.kill()
";

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn start() -> Moto {
    let python = venv_bin("python");
    assert!(
        venv_bin("moto_server").exists(),
        "moto_server not found in {}: run scripts/test (it creates the venv) or set AMI_BUILDER_TEST_VENV",
        python.display()
    );
    // moto with the EC2 and SSM behaviour it lacks (tests/moto_ext/)
    let server = repo().join("tests/moto_ext/ami_builder_moto.py");
    let port = free_port();
    let log = std::env::temp_dir().join(format!("ami-builder-moto-{port}.log"));
    let logf = std::fs::File::create(&log).expect("moto log file");
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(WATCHDOG)
        .arg(&python)
        .arg(&server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_AMIS_PATH", fixture("moto/moto-amis.json"))
        .stdin(Stdio::piped())
        .stdout(logf.try_clone().expect("dup log"))
        .stderr(logf)
        .spawn()
        .expect("start moto_server");
    let stdin = child.stdin.take().expect("watchdog stdin");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((200, _)) = http(port, "POST", "/moto-api/reset") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not become ready on port {port}; see {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Moto {
        port,
        _child: child,
        _stdin: stdin,
    }
}

/// A tiny HTTP/1.1 client for moto's control API.
pub fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    http_with(port, method, path, "")
}

/// [`http`] with a body.
pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// Exclusive use of a freshly reset moto server.
pub struct MotoGuard {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port.
    pub port: u16,
    _g: MutexGuard<'static, ()>,
}

/// Take the moto server (starting it on first use) and reset its state.
pub fn moto() -> MotoGuard {
    let m = MOTO.get_or_init(start);
    let g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (status, body) = http(m.port, "POST", "/moto-api/reset").expect("reset moto");
    assert_eq!(status, 200, "moto reset failed: {body}");
    MotoGuard {
        url: format!("http://127.0.0.1:{}", m.port),
        port: m.port,
        _g: g,
    }
}

/// Environment that points the binary (and the SDK) at moto with fake credentials,
/// ignoring any AWS config on this machine.
pub fn aws_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", url.into()),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config".into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials".into(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// The binary under test, with a clean AWS environment pointed at `url`.
pub fn ami_builder(url: &str) -> assert_cmd::Command {
    assert_cmd::Command::from_std(std_command(url))
}

/// [`ami_builder`] as a `std::process::Command`, for tests that spawn it
/// and talk to it while it runs: the same environment, so that no test
/// reads the repository's own ami-builder.toml or a developer's variables.
pub fn std_command(url: &str) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("ami-builder"));
    for k in [
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_SESSION_TOKEN",
        "CODEBUILD_BUILD_ID",
        "CODEBUILD_RESOLVED_SOURCE_VERSION",
        "CODEBUILD_INITIATOR",
        "GITHUB_SHA",
        "GITHUB_RUN_ID",
        "CI_COMMIT_SHA",
        "CI_JOB_URL",
    ] {
        c.env_remove(k);
    }
    // nor what a developer's shell sets for ami-builder itself
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AMI_BUILDER_") {
            c.env_remove(k);
        }
    }
    for (k, v) in aws_env(url) {
        c.env(k, v);
    }
    // the repository's own ami-builder.toml is for its pipeline, not for
    // the tests: each test says what it runs with (the config tests remove this)
    c.env("AMI_BUILDER_CONFIG", "/dev/null");
    // prune --apply writes its report into the out dir: never the repo's
    c.env(
        "AMI_BUILDER_OUT_DIR",
        std::env::temp_dir().join("ami-builder-it-out"),
    );
    c
}

/// `ami-builder build` of the fixture template `template`
/// (`tests/fixtures/templates/`) against moto at `url`, its outputs in
/// `out`: the invocation every end-to-end build test starts from.
pub fn build_in_moto(url: &str, template: &str, out: &Path) -> assert_cmd::Command {
    let mut c = ami_builder(url);
    c.arg("build")
        .arg(fixture(&format!("templates/{template}")))
        .args(["--var", &format!("endpoint={url}")])
        .arg("--out-dir")
        .arg(out);
    c
}

/// The binary under test with no AWS endpoint (for offline commands).
pub fn offline() -> assert_cmd::Command {
    ami_builder("http://127.0.0.1:1")
}

/// Run a future to completion.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// An EC2 client against moto, for asserting what really happened.
pub fn ec2(url: &str, region: &str) -> aws_sdk_ec2::Client {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

/// An Auto Scaling client against moto, for setting up groups.
pub fn autoscaling(url: &str, region: &str) -> aws_sdk_autoscaling::Client {
    let conf = aws_sdk_autoscaling::Config::builder()
        .behavior_version(aws_sdk_autoscaling::config::BehaviorVersion::latest())
        .region(aws_sdk_autoscaling::config::Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_autoscaling::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_autoscaling::Client::from_conf(conf)
}

/// Images owned by this (moto) account in a region: (id, name, state).
pub fn own_images(url: &str, region: &str) -> Vec<(String, String, String)> {
    let out = block_on(ec2(url, region).describe_images().owners("self").send())
        .expect("describe images");
    let mut v: Vec<_> = out
        .images()
        .iter()
        .map(|i| {
            (
                i.image_id().unwrap_or_default().to_string(),
                i.name().unwrap_or_default().to_string(),
                i.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Read a JSON file.
pub fn read_json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
}

/// A log fixture with its `#` annotation lines removed (public-logs convention).
pub fn log_fixture(name: &str) -> Vec<u8> {
    let raw = std::fs::read(fixture(&format!("packer-logs/{name}"))).expect("fixture");
    if name.ends_with(".log") {
        let text = String::from_utf8_lossy(&raw);
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .into_bytes()
    } else {
        raw
    }
}

/// An adversarial log (`tests/fixtures/adversarial/logs/`): its leading `#`
/// lines (expectations) and the log itself, byte for byte (a truncated log
/// must stay without its final newline).
pub fn adversarial_log(name: &str) -> (Vec<String>, Vec<u8>) {
    let raw = std::fs::read(fixture(&format!("adversarial/logs/{name}"))).expect("fixture");
    let mut notes = Vec::new();
    let mut rest: &[u8] = &raw;
    while rest.starts_with(b"#") {
        let nl = rest.iter().position(|&b| b == b'\n').expect("note line");
        notes.push(String::from_utf8_lossy(&rest[2..nl]).into_owned());
        rest = &rest[nl + 1..];
    }
    (notes, rest.to_vec())
}

pub fn sdk_conf(url: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
            aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "test"),
        ))
        .build()
}

/// The configuration of a session in `account` (moto serves several
/// accounts: credentials from STS `AssumeRole` into a role ARN of an
/// account act in that account), in `region`. Assume again after every
/// reset: a reset forgets the keys.
pub fn in_account(url: &str, account: &str, region: &str) -> aws_config::SdkConfig {
    let sts = aws_sdk_sts::Client::new(&sdk_conf(url, region));
    let out = block_on(
        sts.assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/ami-builder-test"))
            .role_session_name("it")
            .send(),
    )
    .expect("assume role");
    let c = out.credentials().expect("credentials");
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
            aws_sdk_ec2::config::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "assumed",
            ),
        ))
        .build()
}

/// Create a custom event bus.
pub fn create_event_bus(url: &str, name: &str) {
    let eb = aws_sdk_eventbridge::Client::new(&sdk_conf(url, "us-east-1"));
    block_on(eb.create_event_bus().name(name).send()).expect("create event bus");
}

/// An SQS queue that receives every event matching `pattern` on `bus` (the
/// proof that an event was really delivered). Returns the queue URL.
pub fn queue_for_pattern(url: &str, bus: &str, pattern: &str) -> String {
    queue_for_pattern_in(&sdk_conf(url, "us-east-1"), bus, pattern)
}

/// [`queue_for_pattern`] in the account and region of `conf`.
pub fn queue_for_pattern_in(conf: &aws_config::SdkConfig, bus: &str, pattern: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(conf);
    let eb = aws_sdk_eventbridge::Client::new(conf);
    block_on(async {
        let q = sqs
            .create_queue()
            .queue_name("ami-events")
            .send()
            .await
            .expect("queue");
        let qurl = q.queue_url().expect("url").to_string();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&qurl)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attrs");
        let arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("arn")
            .clone();
        eb.put_rule()
            .name("ami-created")
            .event_bus_name(bus)
            .event_pattern(pattern)
            .send()
            .await
            .expect("rule");
        eb.put_targets()
            .rule("ami-created")
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("q")
                    .arn(arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("targets");
        qurl
    })
}

/// Every message body on the queue (drained).
pub fn drain_queue(url: &str, qurl: &str) -> Vec<serde_json::Value> {
    drain_queue_in(&sdk_conf(url, "us-east-1"), qurl)
}

/// [`drain_queue`] in the account of `conf`.
pub fn drain_queue_in(conf: &aws_config::SdkConfig, qurl: &str) -> Vec<serde_json::Value> {
    let sqs = aws_sdk_sqs::Client::new(conf);
    let mut out = Vec::new();
    block_on(async {
        loop {
            let r = sqs
                .receive_message()
                .queue_url(qurl)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if r.messages().is_empty() {
                break;
            }
            for m in r.messages() {
                out.push(serde_json::from_str(m.body().unwrap_or("null")).expect("json body"));
                sqs.delete_message()
                    .queue_url(qurl)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    });
    out
}

/// Create an S3 bucket.
pub fn create_bucket(url: &str, bucket: &str) {
    let conf = aws_sdk_s3::config::Builder::from(&sdk_conf(url, "us-east-1"))
        .force_path_style(true)
        .build();
    block_on(
        aws_sdk_s3::Client::from_conf(conf)
            .create_bucket()
            .bucket(bucket)
            .send(),
    )
    .expect("bucket");
}

/// Keys in an S3 bucket.
pub fn bucket_keys(url: &str, bucket: &str) -> Vec<String> {
    let conf = aws_sdk_s3::config::Builder::from(&sdk_conf(url, "us-east-1"))
        .force_path_style(true)
        .build();
    let out = block_on(
        aws_sdk_s3::Client::from_conf(conf)
            .list_objects_v2()
            .bucket(bucket)
            .send(),
    )
    .expect("list");
    let mut keys: Vec<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    keys.sort();
    keys
}

/// Tags of a resource (AMI or snapshot) in a region.
pub fn tags_of(url: &str, region: &str, id: &str) -> std::collections::BTreeMap<String, String> {
    let out = block_on(
        ec2(url, region)
            .describe_tags()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("resource-id")
                    .values(id)
                    .build(),
            )
            .send(),
    )
    .expect("describe tags");
    out.tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The sample's rule pattern.
pub const SAMPLE_PATTERN: &str = r#"{"source":["com.ami.builder"],"detail-type":["AmiBuilder"],"detail":{"AmiStatus":["Created"]}}"#;

/// A one-purpose HTTP server on loopback that answers every request with
/// `body` (status 200, JSON 1.1 content type): a replay of a recorded AWS
/// response, for API paths moto cannot produce. Returns its URL; it serves
/// `max` requests, then stops.
pub fn replay_server(body: &'static str, max: usize) -> String {
    let (url, _) = loopback_server(Some(max), move |_| {
        (200, "application/x-amz-json-1.1", body.to_string())
    });
    url
}

/// A loopback HTTP server answering the `n`th request (0-based) with
/// `answer(n)` = (status, content type, body), for at most `max` requests;
/// returns its URL and the number of requests it has read. For faults no
/// emulator produces on demand (throttling), and replayed responses.
pub fn loopback_server(
    max: Option<usize>,
    answer: impl Fn(usize) -> (u16, &'static str, String) + Send + 'static,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in l.incoming().take(max.unwrap_or(usize::MAX)) {
            let Ok(mut s) = stream else { continue };
            let _ = read_request(&mut s);
            let (status, content_type, body) = answer(count.fetch_add(1, Ordering::SeqCst));
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

/// Read one HTTP request (headers, then the body by Content-Length).
fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let len = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_string())
            })
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            return Some((head, buf[end + 4..end + 4 + len].to_vec()));
        }
    }
}

/// What a [`holding_proxy`] saw.
#[derive(Debug, Default)]
pub struct Held {
    /// A held request was let through because a releasing one came.
    pub released: bool,
    /// A held request was let through because `HOLD_AT_MOST` passed.
    pub timed_out: bool,
}

/// How long a [`holding_proxy`] holds a request when nothing releases it.
pub const HOLD_AT_MOST: Duration = Duration::from_secs(20);

/// A loopback proxy to `upstream` (moto) that holds each request whose body
/// `hold` matches until a request whose body `release` matches has been
/// forwarded (or [`HOLD_AT_MOST`] passed): it shows which calls a client
/// makes while another is still unanswered, by order and not by timing.
pub fn holding_proxy(
    upstream: &str,
    hold: impl Fn(&str) -> bool + Send + Sync + 'static,
    release: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> (String, std::sync::Arc<(Mutex<Held>, std::sync::Condvar)>) {
    use std::sync::Arc;
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let state = Arc::new((Mutex::new(Held::default()), std::sync::Condvar::new()));
    let (hold, release) = (Arc::new(hold), Arc::new(release));
    let seen = Arc::clone(&state);
    // released once: every request after the first releasing one goes at once
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            let (state, hold, release, upstream, open) = (
                Arc::clone(&seen),
                Arc::clone(&hold),
                Arc::clone(&release),
                upstream.clone(),
                Arc::clone(&open),
            );
            std::thread::spawn(move || {
                // one request per connection: the answer closes it
                if let Some((head, body)) = read_request(&mut s) {
                    let text = String::from_utf8_lossy(&body).to_string();
                    let (lock, cv) = &*state;
                    if hold(&text) && !open.load(std::sync::atomic::Ordering::SeqCst) {
                        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                        let (mut held, wait) = cv
                            .wait_timeout_while(guard, HOLD_AT_MOST, |_| {
                                !open.load(std::sync::atomic::Ordering::SeqCst)
                            })
                            .unwrap_or_else(|e| e.into_inner());
                        if wait.timed_out() {
                            held.timed_out = true;
                        } else {
                            held.released = true;
                        }
                    }
                    // one request per upstream connection, closed after it
                    let head: String = head
                        .lines()
                        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                        .map(|l| format!("{l}\r\n"))
                        .collect();
                    let Ok(mut up) = TcpStream::connect(&upstream) else {
                        return;
                    };
                    let _ = up.write_all(head.as_bytes());
                    let _ = up.write_all(b"Connection: close\r\n\r\n");
                    let _ = up.write_all(&body);
                    if release(&text) {
                        open.store(true, std::sync::atomic::Ordering::SeqCst);
                        cv.notify_all();
                    }
                    let mut answer = Vec::new();
                    let _ = up.read_to_end(&mut answer);
                    let _ = s.write_all(&answer);
                }
            });
        }
    });
    (format!("http://127.0.0.1:{port}"), state)
}

/// Register an image, tagged, with its snapshot (moto makes the snapshot itself
/// and ignores RegisterImage's block device mappings, so a snapshot shared by two
/// AMIs cannot be built here: the planner's unit tests cover that case).
pub async fn register_image(
    c: &aws_sdk_ec2::Client,
    name: &str,
    tags: &[(&str, &str)],
) -> (String, String) {
    let img = c
        .register_image()
        .name(name)
        .root_device_name("/dev/xvda")
        .send()
        .await
        .expect("register");
    let id = img.image_id().expect("id").to_string();
    let d = c
        .describe_images()
        .image_ids(&id)
        .send()
        .await
        .expect("describe");
    let snap = d.images()[0]
        .block_device_mappings()
        .iter()
        .find_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
        .expect("moto gives every image a snapshot")
        .to_string();
    if !tags.is_empty() {
        c.create_tags()
            .resources(&id)
            .resources(&snap)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build())
                    .collect(),
            ))
            .send()
            .await
            .expect("tags");
    }
    (id, snap)
}

/// Grant `account` launch permission on `image` (as its owner).
pub async fn share_image(c: &aws_sdk_ec2::Client, image: &str, account: &str) {
    use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications};
    c.modify_image_attribute()
        .image_id(image)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(LaunchPermission::builder().user_id(account).build())
                .build(),
        )
        .send()
        .await
        .expect("share");
}

/// Member accounts made with moto's Organizations (at once, each with
/// `OrganizationAccountAccessRole`), one per name: their ids.
pub async fn create_accounts(org: &aws_sdk_organizations::Client, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let made = org
            .create_account()
            .email(format!("{name}@example.com"))
            .account_name(*name)
            .send()
            .await
            .expect("account");
        ids.push(
            made.create_account_status()
                .and_then(|s| s.account_id())
                .expect("moto creates the account at once")
                .to_string(),
        );
    }
    ids
}
