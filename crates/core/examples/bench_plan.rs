//! Benchmark of the pure prune planner (`ami_builder_core::retention::plan`), run
//! by `scripts/bench-prune`. Not a test: it reports timings and judges none of
//! them; it exits 1 only when a plan is wrong (a protected or newest image
//! planned for deletion, an item missing, or two runs disagreeing).
//!
//!   cargo run --release --example bench_plan -- [--runs R] [N ...]
//!
//! For each N (default: 100000 1000000) it builds a synthetic inventory of N
//! images, each with one snapshot, plus N/50 orphaned snapshots of ours: six
//! families, builds of two images (one in us-east-1 and its copy in
//! us-west-2, joined by the run-UUID and source-image tags), creation times
//! spread over 500 days, and mixed retention tags (7, 30 and 90 days, the
//! default, `none`, a malformed value), pinned, shared, deregistration-protected
//! and in-use images (instances in every state, launch template versions).
//! Resources are listed in a scrambled order, as EC2 pages them.
//!
//! Timed with `std::time::Instant`, best and median of R runs (default 3):
//! * `plan`: the call to `plan_on()` on the machine's cores, as prune runs
//!   it, only (building the inventory and dropping the plan are outside the
//!   timer); also the process's CPU time over the call (all threads), which
//!   tells a slow planner from a machine busy with something else;
//! * `clone`: a deep copy of the inventory, the cost of touching every byte
//!   of it once, as a baseline from the same run;
//! * `sort`: sorting the (region, id) pairs of all images and snapshots, the
//!   ordering that any planner producing an ordered plan must do at least;
//! * `items`: building one `PlanItem` per resource with the strings a plan
//!   item owns (region, id, family, the retention tag's reference), deciding
//!   nothing: what the output types alone cost.
//!
//! It also times `plan_on()` on the same images without any snapshot (best of R).
//!
//! Prints one `RESULT key=value ...` line per N for the script, after a
//! readable line on stderr.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_builder_core::retention::{
    plan_on, Action, Image, Instance, Inventory, ItemKind, Plan, PlanItem, PlanRules, Reason,
    RetentionSource, Sharing, Snapshot, Summary, TagRef, Usage, UsedBy,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// The binary's allocator (src/main.rs), so that the planner is timed as
/// prune runs it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ACCOUNT: &str = "123456789012";
const FAMILIES: [&str; 6] = ["web", "db", "api", "batch", "edge", "win"];
const REGIONS: [&str; 2] = ["us-east-1", "us-west-2"];
const RETENTION_TAG: &str = "scheduler:ebs-snapshot";
const KEEP: usize = 3;

/// What the generator made one image: the planner must never delete it when
/// `protected`.
#[derive(Clone, Copy, Default)]
struct Truth {
    protected: bool,
}

fn ami(k: usize) -> String {
    format!(
        "ami-{:017x}",
        (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 4
    )
}

fn snap(k: usize) -> String {
    format!(
        "snap-{:017x}",
        (k as u64).wrapping_mul(0x2545_F491_4F6C_DD1D) >> 4
    )
}

/// The generator only makes well-formed ids; a malformed one is its bug.
#[allow(clippy::expect_used)]
fn valid<T: std::str::FromStr>(s: &str) -> T {
    s.parse().ok().expect("the generator makes well-formed ids")
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// A stride coprime with `n`, so that `(step * stride + 13) % n` visits every
/// index once: the scrambled listing order.
fn stride(n: usize) -> usize {
    let mut s = 7919;
    while n > 1 && gcd(s, n) != 1 {
        s += 2;
    }
    s
}

/// The retention tag of a build (by `build % 20`), `None` for untagged.
fn retention_value(build: usize) -> Option<&'static str> {
    match build % 20 {
        0..=5 => Some("0900;7"),
        6..=9 => Some("0900;30"),
        10..=11 => Some("0900;90;UTC"),
        12 => Some("none"),                 // the scheduler's exclude: protected
        13 => Some("0900;2;Europe/Pariss"), // malformed (no such zone): protected
        _ => None,                          // the default (15 days)
    }
}

struct Generated {
    inv: Inventory,
    truth: HashMap<String, Truth>,
}

fn generate(n: usize, now: DateTime<Utc>) -> Generated {
    let orphans = n / 50;
    let mut images = Vec::with_capacity(n);
    let mut snapshots = Vec::with_capacity(n + orphans);
    let mut usage = Vec::new();
    let mut instances = Vec::new();
    let mut truth = HashMap::with_capacity(n);
    let step = stride(n);
    for s in 0..n {
        let k = (s.wrapping_mul(step) + 13) % n;
        let build = k / 2;
        let copy = k % 2 == 1;
        let region = REGIONS[k % 2];
        let family = FAMILIES[build % FAMILIES.len()];
        let id = ami(k);
        let snap_id = snap(k);
        let mut created = now
            - TimeDelta::days((build % 500) as i64)
            - TimeDelta::seconds((build % 86_400) as i64);
        if copy {
            created += TimeDelta::minutes(12);
        }
        let retention = retention_value(build);
        let mut tags = BTreeMap::new();
        tags.insert("ami-builder:family".to_string(), family.to_string());
        tags.insert(
            "ami-builder:packer-run-uuid".to_string(),
            format!("{:08x}-4a1b-4c2d-8e3f-{:012x}", build, build * 7),
        );
        tags.insert("Name".to_string(), format!("{family}-{build}"));
        if copy {
            tags.insert(
                "ami-builder:source-image".to_string(),
                format!("{}:{}", REGIONS[0], ami(k - 1)),
            );
        }
        if let Some(v) = retention {
            tags.insert(RETENTION_TAG.to_string(), v.to_string());
        }
        let pinned = build % 997 == 0;
        if pinned {
            tags.insert("ami-builder:keep".to_string(), "true".to_string());
        }
        let shared = k % 1009 == 0;
        let dereg = k % 2003 == 0;
        let mut in_use = false;
        if k % 101 == 0 {
            let state = ["running", "stopped", "terminated", "stopping"][(k / 101) % 4];
            in_use |= state != "terminated";
            let iid = format!("i-{:017x}", k);
            usage.push(Usage {
                region: region.to_string(),
                image_id: id.clone(),
                by: UsedBy::Instance {
                    id: iid.clone(),
                    state: state.to_string(),
                },
            });
            let mut itags = BTreeMap::new();
            itags.insert(RETENTION_TAG.to_string(), "0900;7".to_string());
            instances.push(Instance {
                region: region.to_string(),
                id: iid,
                state: state.to_string(),
                tags: itags,
            });
        }
        if k % 499 == 0 {
            in_use = true;
            usage.push(Usage {
                region: region.to_string(),
                image_id: id.clone(),
                by: UsedBy::LaunchTemplate {
                    id: format!("lt-{:017x}", k),
                    version: (k % 5) as i64 + 1,
                },
            });
        }
        let excluded = matches!(retention, Some("none") | Some("0900;2;Europe/Pariss"));
        truth.insert(
            id.clone(),
            Truth {
                protected: pinned || shared || dereg || in_use || excluded,
            },
        );
        images.push(Image {
            region: valid(region),
            id: valid(&id),
            name: format!("{family}-{build}-{}", if copy { "copy" } else { "src" }),
            owner_id: ACCOUNT.to_string(),
            creation_date: created,
            tags,
            snapshot_ids: vec![valid(&snap_id)],
            deregistration_protection: dereg,
            deregistration_protection_until: None,
            last_launched: None,
            deprecation_time: None,
            disabled: false,
            sharing: Sharing {
                accounts: if shared {
                    vec!["210987654321".to_string()]
                } else {
                    Vec::new()
                },
                ..Sharing::default()
            },
        });
        // Packer copies the image's tags to its snapshots (snapshot_tags).
        let mut st = BTreeMap::new();
        st.insert("ami-builder:family".to_string(), family.to_string());
        if let Some(v) = retention {
            st.insert(RETENTION_TAG.to_string(), v.to_string());
        }
        snapshots.push(Snapshot {
            region: valid(region),
            id: valid(&snap_id),
            volume_id: Some(format!("vol-{:017x}", k)),
            volume_size_gib: 8 + (k % 4) as i64 * 8,
            start_time: created,
            tags: st,
            description: format!("Created by CreateImage for {} from vol", ami(k)),
            sharing: Sharing::default(),
        });
        // Orphans: ours, their AMI gone.
        if k % 50 == 7 {
            let o = n + k;
            let mut ot = BTreeMap::new();
            ot.insert("ami-builder:family".to_string(), family.to_string());
            if build % 3 == 0 {
                ot.insert(RETENTION_TAG.to_string(), "0900;1".to_string());
            }
            snapshots.push(Snapshot {
                region: valid(region),
                id: valid(&snap(o)),
                volume_id: None,
                volume_size_gib: 8,
                start_time: created,
                tags: ot,
                description: String::new(),
                sharing: Sharing::default(),
            });
        }
    }
    Generated {
        inv: Inventory {
            account_id: Some(valid(ACCOUNT)),
            images,
            snapshots,
            instances,
            usage,
            regions: Vec::new(),
            recycle_bin: Default::default(),
        },
        truth,
    }
}

/// The plan's correctness, as far as the generator knows it.
fn check(n: usize, g: &Generated, p: &Plan) -> Result<(), String> {
    let images = p.items.iter().filter(|i| i.kind == ItemKind::Image).count();
    let snapshots = p.items.len() - images;
    if images != n {
        return Err(format!("{images} image items for {n} images"));
    }
    if snapshots != g.inv.snapshots.len() {
        return Err(format!(
            "{snapshots} snapshot items for {} snapshots (all in scope)",
            g.inv.snapshots.len()
        ));
    }
    let mut newest = 0;
    for item in p.items.iter().filter(|i| i.kind == ItemKind::Image) {
        if matches!(item.reason, Reason::Newest { .. }) {
            newest += 1;
        }
        if item.action != Action::Delete {
            continue;
        }
        let t = g
            .truth
            .get(&*item.id)
            .ok_or_else(|| format!("unknown image {}", item.id))?;
        if t.protected {
            return Err(format!(
                "protected image {} planned for deletion ({})",
                item.id, item.reason
            ));
        }
    }
    // Each family's KEEP newest builds (two images each) that are not
    // protected: at most 2 * KEEP * families, and some must be there.
    if newest == 0 || newest > 2 * KEEP * FAMILIES.len() {
        return Err(format!("{newest} images kept as newest"));
    }
    if p.summary.images_to_delete == 0 || p.summary.snapshots_to_delete == 0 {
        return Err(format!("nothing to delete: {}", p.summary));
    }
    Ok(())
}

/// The `items` baseline: one plan item per resource, on one thread, holding
/// its strings the way a real plan's items do (its own id, shared region,
/// family and tag names), with no decision made.
fn materialize(inv: &Inventory) -> Vec<PlanItem> {
    let mut shared: HashMap<String, Arc<str>> = HashMap::new();
    let mut share = |s: &str| -> Arc<str> {
        if let Some(a) = shared.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        shared.insert(s.to_string(), Arc::clone(&a));
        a
    };
    let mut items = Vec::with_capacity(inv.images.len() + inv.snapshots.len());
    let mut push = |kind,
                    region: &str,
                    id: &str,
                    name: Option<&str>,
                    tags: &BTreeMap<String, String>,
                    at,
                    size| {
        let id: Arc<str> = Arc::from(id);
        let retention = match tags.get(RETENTION_TAG) {
            Some(v) => RetentionSource::Tag(Box::new(TagRef {
                on: Arc::clone(&id),
                key: share(RETENTION_TAG),
                value: share(v),
            })),
            None => RetentionSource::Default,
        };
        items.push(PlanItem {
            kind,
            region: share(region),
            family: tags.get("ami-builder:family").map(|f| share(f)),
            id,
            name: name.map(Arc::from),
            created: Some(at),
            action: Action::Delete,
            reason: Reason::Expired {
                retention_days: 7,
                retention,
            },
            expires_at: Some(at),
            size_gib: size,
            depends_on: Vec::new(),
            recoverable_until: None,
        });
    };
    for i in &inv.images {
        push(
            ItemKind::Image,
            &i.region,
            &i.id,
            Some(&i.name),
            &i.tags,
            i.creation_date,
            None,
        );
    }
    for s in &inv.snapshots {
        push(
            ItemKind::Snapshot,
            &s.region,
            &s.id,
            None,
            &s.tags,
            s.start_time,
            Some(s.volume_size_gib),
        );
    }
    items
}

fn best_median(mut d: Vec<Duration>) -> (f64, f64) {
    d.sort();
    let best = d.first().map_or(0.0, Duration::as_secs_f64);
    let median = d.get(d.len() / 2).map_or(0.0, Duration::as_secs_f64);
    (best, median)
}

/// Time this thread has spent on a CPU (`/proc/thread-self/schedstat`):
/// tells a slow plan from a busy machine. Zero where unavailable.
/// CPU time of the whole process, all threads (the planner runs its passes
/// on scoped threads), user and system, from `/proc/self/stat` (in clock
/// ticks, taken as the usual 100 per second).
fn process_cpu() -> Duration {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<u64> = after
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 2).then(|| Duration::from_millis((f[0] + f[1]) * 10))
        })
        .unwrap_or(Duration::ZERO)
}

/// Peak resident set (VmHWM) of this process, MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn run(n: usize, runs: usize) -> Result<(), String> {
    let now = Utc
        .with_ymd_and_hms(2025, 6, 1, 0, 0, 0)
        .single()
        .ok_or("bad date")?;
    let rules = PlanRules {
        keep: KEEP,
        ..PlanRules::default()
    };
    // As `ami-builder prune` runs it: on the machine's cores.
    // BENCH_PLAN_THREADS=1 measures the planner on one thread (is the
    // threading worth its code?); the default is the machine's cores, as prune runs it.
    let threads = std::env::var("BENCH_PLAN_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
    let t = Instant::now();
    let mut g = generate(n, now);
    let gen_s = t.elapsed().as_secs_f64();

    let mut plan_t = Vec::with_capacity(runs);
    let mut plan_cpu = Vec::with_capacity(runs);
    let mut clone_t = Vec::with_capacity(runs);
    let mut sort_t = Vec::with_capacity(runs);
    let mut items_t = Vec::with_capacity(runs);
    let mut first: Option<Summary> = None;
    for run in 0..runs {
        let (t, c) = (Instant::now(), process_cpu());
        let p = plan_on(&g.inv, &rules, now, threads);
        plan_t.push(t.elapsed());
        plan_cpu.push(process_cpu().saturating_sub(c));
        if run == 0 {
            check(n, &g, &p)?;
        }
        match &first {
            None => first = Some(p.summary.clone()),
            Some(s) if *s != p.summary => {
                return Err(format!("run {run} differs: {} vs {s}", p.summary))
            }
            Some(_) => {}
        }
        drop(p);

        let t = Instant::now();
        let copy = g.inv.clone();
        clone_t.push(t.elapsed());
        drop(std::hint::black_box(copy));

        let t = Instant::now();
        let mut keys: Vec<(&str, &str)> = g
            .inv
            .images
            .iter()
            .map(|i| (i.region.as_str(), i.id.as_str()))
            .chain(
                g.inv
                    .snapshots
                    .iter()
                    .map(|s| (s.region.as_str(), s.id.as_str())),
            )
            .collect();
        keys.sort_unstable();
        sort_t.push(t.elapsed());
        drop(std::hint::black_box(keys));

        let t = Instant::now();
        let items = materialize(&g.inv);
        items_t.push(t.elapsed());
        drop(std::hint::black_box(items));
    }
    // The same images without their snapshots: the "1,000,000 images"
    // read literally.
    let snapshots = std::mem::take(&mut g.inv.snapshots);
    let mut images_only_t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let p = plan_on(&g.inv, &rules, now, threads);
        images_only_t.push(t.elapsed());
        drop(std::hint::black_box(p));
    }
    g.inv.snapshots = snapshots;
    let (ob, _) = best_median(images_only_t);
    let s = first.unwrap_or_default();
    let (pb, pm) = best_median(plan_t);
    let (pcb, _) = best_median(plan_cpu);
    let (cb, cm) = best_median(clone_t);
    let (sb, sm) = best_median(sort_t);
    let (ib, im) = best_median(items_t);
    eprintln!(
        "bench_plan: N={n}: plan best {pb:.3} s (median {pm:.3}, CPU best {pcb:.3}; images alone {ob:.3}), clone {cb:.3} s, sort {sb:.3} s, items {ib:.3} s; \
         {} image(s) and {} snapshot(s) to delete; generated in {gen_s:.1} s",
        s.images_to_delete, s.snapshots_to_delete
    );
    println!(
        "RESULT n={n} threads={threads} snapshots={} usage={} runs={runs} plan_best={pb:.4} plan_median={pm:.4} plan_cpu_best={pcb:.4} plan_images_only_best={ob:.4} \
         clone_best={cb:.4} clone_median={cm:.4} sort_best={sb:.4} sort_median={sm:.4} items_best={ib:.4} items_median={im:.4} \
         images_delete={} images_keep={} snapshots_delete={} snapshots_keep={} gen={gen_s:.2} \
         peak_rss_mib={:.0}",
        g.inv.snapshots.len(),
        g.inv.usage.len(),
        s.images_to_delete,
        s.images_to_keep,
        s.snapshots_to_delete,
        s.snapshots_to_keep,
        peak_rss_mib()
    );
    Ok(())
}

fn main() -> ExitCode {
    let mut runs = 3usize;
    let mut sizes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let parsed = if a == "--runs" {
            args.next().and_then(|v| v.parse().ok()).map(|r| runs = r)
        } else {
            a.replace('_', "").parse().ok().map(|n| sizes.push(n))
        };
        if parsed.is_none() || runs == 0 {
            eprintln!("usage: bench_plan [--runs R] [N ...] (got `{a}`)");
            return ExitCode::from(2);
        }
    }
    if sizes.is_empty() {
        sizes = vec![100_000, 1_000_000];
    }
    for n in sizes {
        if n < 2 {
            eprintln!("bench_plan: N must be at least 2");
            return ExitCode::from(2);
        }
        if let Err(e) = run(n, runs) {
            eprintln!("FAIL: bench_plan N={n}: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
