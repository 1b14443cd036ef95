//! The control loop closed over a simulated cluster, a real store as the metric source and
//! a manual clock stepped one period (1 s) at a time:
//!
//! - a load step up is acted on at the first tick after it (rate-limited by the default
//!   scale-up policies, then reaching the target), a step down only once the scale-down
//!   stabilization window has passed;
//! - a source that goes stale or fails never causes a scale-down, and the decision log
//!   says so;
//! - the cluster-proportional policy follows the node count;
//! - `dryRun` computes and logs but never writes.

#![allow(clippy::unwrap_used)]

mod support;

use tachyscale_cluster::NodeInfo;
use tachyscale_scaler_service::cpa_runner::CpaRunner;
use tachyscale_scaler_service::decision_log::DecisionKind;
use tachyscale_scaler_service::hpa_runner::{HpaRunner, TickOutcome};

use support::*;

const QUEUE_POLICY: &str = r#"
metrics_source:
  query_url: STORE_URL
  max_age: 10s
policies:
  - name: web
    namespace: shop
    hpa:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      minReplicas: 2
      maxReplicas: 20
      metrics:
        - type: External
          external:
            metric: {name: jobs_waiting}
            target: {type: AverageValue, averageValue: "10"}
      behavior:
        scaleDown:
          stabilizationWindowSeconds: 60
"#;

/// One simulated second: write the load, tick, return the replicas.
async fn second(rig: &Rig, runner: &mut HpaRunner, load: Option<f64>) -> (i32, TickOutcome) {
    rig.clock.advance_ms(1_000);
    if let Some(load) = load {
        rig.write("jobs_waiting", &[(&[("namespace", "shop")], load)])
            .await;
    }
    let outcome = runner.tick(&rig.ctx).await;
    (rig.cluster.replicas(&workload("web")).unwrap(), outcome)
}

#[tokio::test]
async fn load_steps_scale_up_at_once_and_down_after_the_stabilization_window() {
    let mut rig = Rig::start(QUEUE_POLICY).await;
    rig.cluster
        .add_running_workload(workload("web"), template("web", 500), 2);
    let mut runner = HpaRunner::new(rig.policy(0));

    for _ in 0..10 {
        let (replicas, outcome) = second(&rig, &mut runner, Some(20.0)).await;
        assert_eq!((replicas, outcome), (2, TickOutcome::Ok { changed: false }));
    }
    // Load steps to 100 jobs: 10 per replica wanted. The first tick acts, limited by the
    // default scale-up policies (max of +4 pods and +100 % per 15 s): 2 → 6.
    let (replicas, _) = second(&rig, &mut runner, Some(100.0)).await;
    assert_eq!(replicas, 6, "scaled up within one period");
    let mut seconds_to_target = 1;
    while rig.cluster.replicas(&workload("web")).unwrap() < 10 {
        second(&rig, &mut runner, Some(100.0)).await;
        seconds_to_target += 1;
        assert!(
            seconds_to_target <= 16,
            "the next 15 s period allows the rest"
        );
    }
    assert_eq!(rig.cluster.replicas(&workload("web")), Some(10));

    // Load drops back: nothing happens until the 60 s window of recommendations of 10 has
    // passed, then the workload goes straight down to 2 (Percent 100 / 15 s allows it).
    let mut seconds_after_drop = 0;
    loop {
        let (replicas, _) = second(&rig, &mut runner, Some(20.0)).await;
        seconds_after_drop += 1;
        if replicas < 10 {
            assert_eq!(replicas, 2);
            break;
        }
        assert!(seconds_after_drop < 70, "never scaled down");
    }
    assert!(
        (60..=62).contains(&seconds_after_drop),
        "scaled down {seconds_after_drop} s after the drop"
    );
    let history = rig.cluster.history(&workload("web"));
    assert_eq!(
        history.iter().map(|change| change.to).collect::<Vec<_>>(),
        [6, 10, 2]
    );
    let logged = rig.ctx.decisions.entries(0, 100, Some("web"));
    assert_eq!(logged.len(), 3);
    assert!(logged
        .iter()
        .all(|entry| entry.kind == DecisionKind::Scale && entry.applied));
    assert!(
        logged[0].explanation["decision"]["metrics"].is_array(),
        "{}",
        logged[0].explanation
    );
}

#[tokio::test]
async fn a_stale_or_failing_source_never_causes_a_scale_down() {
    let mut rig = Rig::start(QUEUE_POLICY).await;
    rig.cluster
        .add_running_workload(workload("web"), template("web", 500), 10);
    let mut runner = HpaRunner::new(rig.policy(0));
    for _ in 0..5 {
        let (replicas, _) = second(&rig, &mut runner, Some(100.0)).await;
        assert_eq!(replicas, 10);
    }
    // The source stops: after max_age (10 s) the metric is stale. Two minutes pass —
    // twice the stabilization window — and the replicas hold.
    let mut held = 0;
    for _ in 0..120 {
        let (replicas, outcome) = second(&rig, &mut runner, None).await;
        assert_eq!(replicas, 10);
        if outcome == TickOutcome::Held {
            held += 1;
        }
    }
    assert!(held >= 100, "held on {held} ticks");
    let logged = rig.ctx.decisions.entries(0, 100, Some("web"));
    assert_eq!(
        logged.len(),
        1,
        "logged once when the hold starts: {logged:?}"
    );
    assert_eq!(logged[0].kind, DecisionKind::HeldBySourceFailure);
    assert!(
        logged[0]
            .reason
            .contains("held by a failing or stale source"),
        "{}",
        logged[0].reason
    );

    // A source that errors (the query API unreachable) holds the same way.
    let dead = format!("http://127.0.0.1:{}", tachyscale_testkit::free_port());
    rig.ctx.sources.query = Some(std::sync::Arc::new(
        tachyscale_scaler_service::fetch::PrometheusApi::new(&dead, reqwest::Client::new())
            .unwrap(),
    ));
    let (replicas, outcome) = second(&rig, &mut runner, None).await;
    assert_eq!((replicas, outcome), (10, TickOutcome::Held));
    let errors = rig.ctx.metrics.render();
    assert!(
        errors.contains("tachyscale_scaler_source_errors_total{reason=\"query\",source=\"store\"}"),
        "{errors}"
    );
    assert!(errors.contains("tachyscale_scaler_scale_down_held_total{policy=\"web\"}"));
}

#[tokio::test]
async fn dry_run_computes_and_logs_but_never_writes() {
    let yaml = QUEUE_POLICY.replace(
        "    namespace: shop\n    hpa:",
        "    namespace: shop\n    dryRun: true\n    hpa:",
    );
    let mut rig = Rig::start(&yaml).await;
    rig.cluster
        .add_running_workload(workload("web"), template("web", 500), 2);
    let mut runner = HpaRunner::new(rig.policy(0));
    for _ in 0..5 {
        let (replicas, outcome) = second(&rig, &mut runner, Some(100.0)).await;
        assert_eq!((replicas, outcome), (2, TickOutcome::Ok { changed: true }));
    }
    // Logged once, not every tick: the change it would make has not changed.
    let logged = rig.ctx.decisions.entries(0, 10, None);
    assert_eq!(logged.len(), 1);
    assert!(logged[0].dry_run && !logged[0].applied);
    assert_eq!(logged[0].desired_replicas, Some(6));
    assert!(rig.cluster.history(&workload("web")).is_empty());
}

fn node(name: &str, cpu_milli: i64) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        labels: Default::default(),
        allocatable: [("cpu".to_owned(), cpu_milli)].into_iter().collect(),
        ready: true,
        unschedulable: false,
        created_ms: None,
        provider_id: None,
    }
}

#[tokio::test]
async fn the_proportional_policy_follows_the_node_count() {
    let yaml = r#"
metrics_source: {query_url: STORE_URL}
policies:
  - name: dns
    namespace: shop
    cpa:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: dns}
      params: {linear: {coresPerReplica: 256, nodesPerReplica: 2, min: 1, max: 20, preventSinglePointFailure: true}}
"#;
    let mut rig = Rig::start(yaml).await;
    rig.cluster
        .add_running_workload(workload("dns"), template("dns", 100), 1);
    let mut runner = CpaRunner::new(rig.policy(0));
    let replicas = |rig: &Rig| rig.cluster.replicas(&workload("dns")).unwrap();

    rig.cluster.add_node(node("n1", 4_000));
    runner.tick(&rig.ctx).await;
    assert_eq!(replicas(&rig), 1, "one node: no single-point-failure floor");
    for i in 2..=7 {
        rig.cluster.add_node(node(&format!("n{i}"), 4_000));
    }
    runner.tick(&rig.ctx).await;
    assert_eq!(replicas(&rig), 4, "7 nodes / 2 per replica");
    rig.cluster.set_node_unschedulable("n7", true);
    rig.cluster.remove_node("n6");
    runner.tick(&rig.ctx).await;
    assert_eq!(replicas(&rig), 3, "5 schedulable nodes");
    assert_eq!(
        rig.cluster
            .history(&workload("dns"))
            .iter()
            .map(|change| change.to)
            .collect::<Vec<_>>(),
        [4, 3]
    );
}

/// Writes each running pod's cumulative CPU counter and working set; the load is shared by
/// the ready pods, as a Service sends traffic only to those.
async fn write_usage(
    rig: &Rig,
    app: &str,
    total_cores: f64,
    counters: &mut std::collections::BTreeMap<String, f64>,
) {
    use tachyscale_cluster::Cluster as _;
    let pods = rig
        .cluster
        .pods("shop", &format!("app={app}"))
        .await
        .unwrap();
    let running: Vec<_> = pods
        .iter()
        .filter(|pod| pod.phase == tachyscale_cluster::PodPhase::Running)
        .collect();
    let ready = running
        .iter()
        .filter(|pod| pod.is_running_and_ready())
        .count();
    let share = total_cores / ready.max(1) as f64;
    let mut cpu = Vec::new();
    for pod in &running {
        let counter = counters.entry(pod.name.clone()).or_insert(0.0);
        if pod.is_running_and_ready() {
            *counter += share;
        }
        cpu.push((pod.name.clone(), *counter));
    }
    let cpu_series: Vec<(Vec<(&str, &str)>, f64)> = cpu
        .iter()
        .map(|(pod, value)| {
            (
                vec![
                    ("namespace", "shop"),
                    ("pod", pod.as_str()),
                    ("container", "app"),
                ],
                *value,
            )
        })
        .collect();
    let refs: Vec<(&[(&str, &str)], f64)> = cpu_series
        .iter()
        .map(|(labels, value)| (labels.as_slice(), *value))
        .collect();
    rig.write("container_cpu_usage_seconds_total", &refs).await;
    let memory: Vec<(&[(&str, &str)], f64)> = cpu_series
        .iter()
        .map(|(labels, _)| (labels.as_slice(), 200.0 * 1048576.0))
        .collect();
    rig.write("container_memory_working_set_bytes", &memory)
        .await;
}

#[tokio::test]
async fn cpu_utilization_from_the_stores_counters_scales_up_at_the_first_tick() {
    let yaml = r#"
metrics_source: {query_url: STORE_URL, max_age: 10s, rate_window: 5s}
policies:
  - name: web
    namespace: shop
    hpa:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      minReplicas: 2
      maxReplicas: 20
      metrics:
        - type: Resource
          resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"#;
    let mut rig = Rig::start(yaml).await;
    rig.cluster
        .add_running_workload(workload("web"), template("web", 500), 2);
    let mut runner = HpaRunner::new(rig.policy(0));
    let mut counters = std::collections::BTreeMap::new();
    // 0.5 cores over two pods requesting 500m each: 50 %, on target. The first tick has
    // one counter sample, no rate yet: the metric is invalid and the replicas hold.
    for second in 0..10 {
        rig.clock.advance_ms(1_000);
        write_usage(&rig, "web", 0.5, &mut counters).await;
        let outcome = runner.tick(&rig.ctx).await;
        let expected = if second == 0 {
            TickOutcome::Held
        } else {
            TickOutcome::Ok { changed: false }
        };
        assert_eq!(outcome, expected, "second {second}");
    }
    // The load steps to 2.5 cores: the first tick sees the step inside its 5 s rate
    // window and scales up; within a few ticks the workload is at the 10 replicas the
    // full load needs (2.5 cores / 250m per replica at 50 %), and stays there.
    rig.clock.advance_ms(1_000);
    write_usage(&rig, "web", 2.5, &mut counters).await;
    runner.tick(&rig.ctx).await;
    let first = rig.cluster.replicas(&workload("web")).unwrap();
    assert!(first > 2, "scaled up at the first tick: {first}");
    for _ in 0..30 {
        rig.clock.advance_ms(1_000);
        write_usage(&rig, "web", 2.5, &mut counters).await;
        runner.tick(&rig.ctx).await;
    }
    let settled = rig.cluster.replicas(&workload("web")).unwrap();
    assert_eq!(
        settled,
        10,
        "history: {:?}",
        rig.cluster.history(&workload("web"))
    );
    let logged = rig.ctx.decisions.entries(0, 10, None);
    assert_eq!(
        logged[0].kind,
        DecisionKind::HeldBySourceFailure,
        "the first tick had no rate"
    );
    let first_scale = logged
        .iter()
        .find(|entry| entry.kind == DecisionKind::Scale)
        .unwrap();
    let calculation = &first_scale.explanation["decision"]["metrics"][0]["calculation"];
    assert!(
        calculation["utilization"].as_i64().unwrap() > 50,
        "{calculation}"
    );
}

const VPA_POLICY: &str = r#"
metrics_source: {query_url: STORE_URL, max_age: 10s}
policies:
  - name: web-vpa
    namespace: shop
    vpa:
      targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      resourcePolicy:
        containerPolicies:
          - {containerName: "*", maxAllowed: {memory: 1Gi}}
"#;

const MIB: i64 = 1 << 20;

/// A web workload whose containers request 500m CPU and 256 MiB of memory.
fn web_with_memory_request() -> tachyscale_cluster::simulated::WorkloadTemplate {
    let mut template = template("web", 500);
    template.containers[0]
        .requests
        .insert("memory".into(), 256 * MIB * 1000);
    template
}

fn target_of(published: &serde_json::Value) -> (i64, i64) {
    let app = &published["recommendation"]["containerRecommendations"][0];
    assert_eq!(app["containerName"], "app");
    let cpu_milli = app["target"]["cpu"]
        .as_str()
        .unwrap()
        .trim_end_matches('m')
        .parse()
        .unwrap();
    let memory = app["target"]["memory"].as_str().unwrap().parse().unwrap();
    (cpu_milli, memory)
}

#[tokio::test]
async fn vpa_recommendations_are_published_from_the_stores_usage_and_oom_kills() {
    let mut rig = Rig::start(VPA_POLICY).await;
    rig.cluster
        .add_running_workload(workload("web"), web_with_memory_request(), 2);
    let mut runner = tachyscale_scaler_service::vpa_runner::VpaRunner::new(rig.policy(0)).unwrap();
    let mut counters = std::collections::BTreeMap::new();
    let oom_labels: &[(&str, &str)] = &[
        ("namespace", "shop"),
        ("pod", "web-00001"),
        ("container", "app"),
    ];
    for _ in 0..120 {
        rig.clock.advance_ms(1_000);
        write_usage(&rig, "web", 0.6, &mut counters).await;
        rig.write("container_oom_events_total", &[(oom_labels, 0.0)])
            .await;
        runner.tick(&rig.ctx).await;
    }
    let published = rig
        .ctx
        .recommendations
        .read()
        .get("web-vpa")
        .cloned()
        .unwrap();
    let (cpu_milli, memory) = target_of(&published);
    // 0.3 cores per pod: the 90th percentile bucket's upper edge plus 15 %; 200 MiB working
    // sets likewise.
    assert!((300..=400).contains(&cpu_milli), "{published}");
    assert!((200 * MIB..=300 * MIB).contains(&memory), "{published}");
    let metrics = rig.ctx.metrics.render();
    assert!(metrics.contains(r#"tachyscale_scaler_vpa_recommendation_cores{bound="target",container="app",policy="web-vpa"}"#), "{metrics}");

    // One OOM kill: the memory sample becomes max(request 256 MiB, peak) bumped to
    // max(+100 MiB, ×1.2) = 356 MiB, and the target follows.
    rig.clock.advance_ms(1_000);
    write_usage(&rig, "web", 0.6, &mut counters).await;
    rig.write("container_oom_events_total", &[(oom_labels, 1.0)])
        .await;
    runner.tick(&rig.ctx).await;
    let published = rig
        .ctx
        .recommendations
        .read()
        .get("web-vpa")
        .cloned()
        .unwrap();
    let (_, memory_after_oom) = target_of(&published);
    assert!(memory_after_oom >= 356 * MIB, "{published}");
    let logged = rig.ctx.decisions.entries(0, 1000, Some("web-vpa"));
    assert!(
        logged.len() >= 2
            && logged
                .iter()
                .all(|entry| entry.kind == DecisionKind::Recommendation)
    );
}

#[tokio::test]
async fn vpa_histories_are_saved_as_checkpoints_and_imported_back() {
    use tachyscale_scaler_service::checkpoints::read_directory;
    use tachyscale_scaler_service::vpa_runner::{CheckpointSettings, VpaRunner};

    let directory = tempfile::tempdir().unwrap();
    let settings = CheckpointSettings {
        directory: directory.path().to_path_buf(),
        interval_ms: 1_000,
    };
    let mut rig = Rig::start(VPA_POLICY).await;
    rig.cluster
        .add_running_workload(workload("web"), web_with_memory_request(), 2);
    let policy = rig.policy(0);
    let (mut runner, loaded, _) = VpaRunner::new(policy.clone()).unwrap().with_checkpoints(
        settings.clone(),
        &[],
        rig.clock_now(),
    );
    assert_eq!(loaded, 0);
    let mut counters = std::collections::BTreeMap::new();
    for _ in 0..90 {
        rig.clock.advance_ms(1_000);
        write_usage(&rig, "web", 0.6, &mut counters).await;
        runner.tick(&rig.ctx).await;
    }
    let file = directory.path().join("shop.web-vpa-app.json");
    assert!(
        file.exists(),
        "{:?}",
        std::fs::read_dir(directory.path())
            .unwrap()
            .collect::<Vec<_>>()
    );

    // A restarted scaler imports the file and recommends the same before any new sample.
    let (checkpoints, errors) = read_directory(directory.path());
    assert!(errors.is_empty(), "{errors:?}");
    let now = rig.clock_now();
    let (restarted, loaded, refused) =
        VpaRunner::new(policy.clone())
            .unwrap()
            .with_checkpoints(settings, &checkpoints, now);
    assert_eq!((loaded, refused.len()), (1, 0));
    let before = runner.recommender().recommend("web-vpa", now).unwrap();
    let after = restarted.recommender().recommend("web-vpa", now).unwrap();
    assert_eq!(
        before.container_recommendations[0].target,
        after.container_recommendations[0].target
    );

    // An upstream checkpoint (as `kubectl get vpacheckpoint -o json` prints it) seeds the
    // policy named like its VPA; a broken file is reported and skipped.
    let imports = tempfile::tempdir().unwrap();
    std::fs::copy(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../scaler/tests/fixtures/vpa-checkpoint-v3.json"),
        imports.path().join("web-app.json"),
    )
    .unwrap();
    std::fs::write(imports.path().join("broken.json"), "{not json").unwrap();
    let (checkpoints, errors) = read_directory(imports.path());
    assert_eq!((checkpoints.len(), errors.len()), (1, 1));
    let yaml = VPA_POLICY.replace("name: web-vpa", "name: web");
    let mut rig = Rig::start(&yaml).await;
    let fixture_now = tachyscale_scaler::time::parse_rfc3339_ms("2026-03-01T12:05:00Z").unwrap();
    let (imported, loaded, _) = VpaRunner::new(rig.policy(0)).unwrap().with_checkpoints(
        CheckpointSettings {
            directory: imports.path().to_path_buf(),
            interval_ms: 60_000,
        },
        &checkpoints,
        fixture_now,
    );
    assert_eq!(loaded, 1);
    let recommendation = imported
        .recommender()
        .recommend("web", fixture_now)
        .unwrap();
    assert_eq!(
        recommendation.container_recommendations[0]
            .target
            .cpu_millicores,
        Some(442)
    );
}

#[tokio::test]
async fn the_in_process_store_gives_the_same_decisions_as_its_query_api() {
    let mut rig = Rig::start(QUEUE_POLICY).await;
    rig.ctx.sources.query = Some(std::sync::Arc::new(
        tachyscale_scaler_service::fetch::InProcessStore::new(rig.store.state.clone()),
    ));
    rig.cluster
        .add_running_workload(workload("web"), template("web", 500), 2);
    let mut runner = HpaRunner::new(rig.policy(0));
    for _ in 0..5 {
        assert_eq!(second(&rig, &mut runner, Some(20.0)).await.0, 2);
    }
    assert_eq!(second(&rig, &mut runner, Some(100.0)).await.0, 6);
    for _ in 0..16 {
        second(&rig, &mut runner, Some(100.0)).await;
    }
    assert_eq!(rig.cluster.replicas(&workload("web")), Some(10));
    // Stale data holds through the in-process path too.
    for _ in 0..120 {
        assert_eq!(second(&rig, &mut runner, None).await.0, 10);
    }
}

#[tokio::test]
async fn a_pre_scaling_window_raises_the_floor_and_releases_it_through_stabilization() {
    let yaml = r#"
metrics_source: {query_url: STORE_URL, max_age: 120s}
policies:
  - name: web
    namespace: shop
    hpa:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      minReplicas: 2
      maxReplicas: 20
      metrics:
        - type: External
          external:
            metric: {name: jobs_waiting}
            target: {type: AverageValue, averageValue: "10"}
      behavior:
        scaleDown: {stabilizationWindowSeconds: 60}
    schedules:
      - {name: morning, timezone: UTC, start: "0 10 * * *", end: "0 11 * * *", desiredReplicas: 6}
"#;
    let mut rig = Rig::start(yaml).await;
    let nine_fifty = tachyscale_scaler::time::parse_rfc3339_ms("2026-11-23T09:59:50Z").unwrap();
    rig.clock.set_ms(nine_fifty);
    rig.cluster
        .add_running_workload(workload("web"), template("web", 500), 2);
    let mut runner = HpaRunner::new(rig.policy(0));
    let replicas_at = |rig: &Rig| rig.cluster.replicas(&workload("web")).unwrap();
    // Before 10:00 the load (20 jobs) needs 2 replicas.
    for _ in 0..9 {
        second(&rig, &mut runner, Some(20.0)).await;
        assert_eq!(replicas_at(&rig), 2);
    }
    // At 10:00:00 the window opens: the floor of 6 is acted on at that tick.
    let (replicas, _) = second(&rig, &mut runner, Some(20.0)).await;
    assert_eq!(
        replicas,
        6,
        "at {}",
        tachyscale_scaler::time::format_rfc3339_ms(rig.clock_now())
    );
    // It holds through the window (checked every minute, then every second before 11:00).
    let eleven = nine_fifty + 3_610_000;
    while rig.clock_now() < eleven - 1_000 {
        if rig.clock_now() + 120_000 < eleven {
            rig.clock.advance_ms(59_000);
        }
        let (replicas, outcome) = second(&rig, &mut runner, Some(20.0)).await;
        assert_eq!(
            replicas,
            6,
            "at {}: {outcome:?} {:?}",
            tachyscale_scaler::time::format_rfc3339_ms(rig.clock_now()),
            rig.ctx
                .decisions
                .entries(0, 10, Some("web"))
                .last()
                .map(|e| e.explanation.to_string())
        );
    }
    // At 11:00 it closes; like any other metric's, its recommendations stay in the 60 s
    // scale-down window, so the drop to 2 comes a minute later, not at once.
    let closed_at = eleven;
    let mut dropped_at = None;
    for _ in 0..120 {
        let (replicas, _) = second(&rig, &mut runner, Some(20.0)).await;
        if replicas < 6 {
            assert_eq!(replicas, 2);
            dropped_at = Some(rig.clock_now());
            break;
        }
    }
    let dropped_at = dropped_at.expect("the floor was never released");
    assert!(
        (closed_at + 59_000..=closed_at + 62_000).contains(&dropped_at),
        "released {} ms after the window closed",
        dropped_at - closed_at
    );
    let logged = rig.ctx.decisions.entries(0, 10, Some("web"));
    let sources = &logged[0].explanation["triggersAndSchedules"][0];
    assert_eq!(sources["kind"], "schedule");
    assert_eq!(sources["active"], true);
}
